# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/common/: what every other folder uses: Status and Result, the
# JSON writer, five-tuples and IP addresses, hex formatting, file
# descriptor helpers, poll deadlines, running helper programs
# (run_program.h) and the checks on files other
# programs wrote (trusted_file.h).

noinst_LIBRARIES += rdma-bond/common/libcommon.a
rdma_bond_common_libcommon_a_SOURCES = \
	rdma-bond/include/rdma_bond/five_tuple.h \
	rdma-bond/include/rdma_bond/roce.h \
	rdma-bond/include/rdma_bond/status.h \
	rdma-bond/common/fd_util.cc \
	rdma-bond/common/fd_util.h \
	rdma-bond/common/five_tuple.cc \
	rdma-bond/common/hex.cc \
	rdma-bond/common/hex.h \
	rdma-bond/common/join.h \
	rdma-bond/common/json_writer.cc \
	rdma-bond/common/json_writer.h \
	rdma-bond/common/poll_deadline.h \
	rdma-bond/common/run_program.cc \
	rdma-bond/common/run_program.h \
	rdma-bond/common/status.cc \
	rdma-bond/common/trusted_file.cc \
	rdma-bond/common/trusted_file.h

if HAVE_GTEST
check_PROGRAMS += rdma-bond/common/common-tests
TESTS += rdma-bond/common/common-tests
endif
rdma_bond_common_common_tests_SOURCES = \
	rdma-bond/common/five_tuple_test.cc \
	rdma-bond/common/hex_test.cc \
	rdma-bond/common/json_writer_test.cc \
	rdma-bond/common/roce_test.cc \
	rdma-bond/common/run_program_test.cc \
	rdma-bond/common/status_test.cc \
	rdma-bond/common/trusted_file_test.cc
rdma_bond_common_common_tests_LDADD = \
	$(RDMA_BOND_COMMON_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
