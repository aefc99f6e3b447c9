# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/tools/bondctl/: rdma-bondctl, the operator's view of the table
# (show, dump, predict, pick-sport, watch).  Its commands are a library of
# their own, so that the tests, the fuzzer and the sanitizer builds run
# them.

noinst_LIBRARIES += rdma-bond/tools/bondctl/libbondctl.a
rdma_bond_tools_bondctl_libbondctl_a_SOURCES = \
	rdma-bond/tools/bondctl/ctl_watch.cc \
	rdma-bond/tools/bondctl/ctl_watch.h \
	rdma-bond/tools/bondctl/predict_command.cc \
	rdma-bond/tools/bondctl/predict_command.h

bin_PROGRAMS += rdma-bond/tools/bondctl/rdma-bondctl
rdma_bond_tools_bondctl_rdma_bondctl_SOURCES = \
	rdma-bond/tools/bondctl/rdma_bondctl.cc
rdma_bond_tools_bondctl_rdma_bondctl_LDADD = $(RDMA_BOND_BONDCTL_LIBS)
dist_man_MANS += rdma-bond/tools/bondctl/rdma-bondctl.8

if HAVE_GTEST
check_PROGRAMS += rdma-bond/tools/bondctl/bondctl-tests
TESTS += rdma-bond/tools/bondctl/bondctl-tests
endif
rdma_bond_tools_bondctl_bondctl_tests_SOURCES = \
	rdma-bond/tools/bondctl/ctl_watch_test.cc \
	rdma-bond/tools/bondctl/predict_command_test.cc
rdma_bond_tools_bondctl_bondctl_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_BONDCTL_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
