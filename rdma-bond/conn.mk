# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/conn.mk: multipath connections over the Rnic interface, their
# TCP side channel and per-path pinning; the C API.

noinst_LIBRARIES += rdma-bond/librdmabond-conn.a
rdma_bond_librdmabond_conn_a_SOURCES = \
	rdma-bond/include/rdma_bond/connection.h \
	rdma-bond/include/rdma_bond/path_planner.h \
	rdma-bond/include/rdma_bond/side_channel.h \
	rdma-bond/include/rdma_bond/rdmabond.h \
	rdma-bond/connection.cc \
	rdma-bond/path_planner.cc \
	rdma-bond/side_channel.cc \
	rdma-bond/c_api.cc

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rdma-bond-conn-tests
TESTS += rdma-bond/rdma-bond-conn-tests
endif
rdma_bond_rdma_bond_conn_tests_SOURCES = \
	rdma-bond/fake_rnic.cc \
	rdma-bond/fake_rnic.h \
	rdma-bond/predictor_test_util.cc \
	rdma-bond/predictor_test_util.h \
	rdma-bond/connection_test.cc \
	rdma-bond/rnic_mux_test.cc \
	rdma-bond/c_api_bond_test.cc \
	rdma-bond/table_test_util.cc \
	rdma-bond/table_test_util.h \
	rdma-bond/path_planner_test.cc \
	rdma-bond/side_channel_test.cc \
	rdma-bond/c_api_test.c
rdma_bond_rdma_bond_conn_tests_LDADD = \
	rdma-bond/rdma-bond-table-writer.o \
	rdma-bond/librdmabond-conn.a \
	rdma-bond/librdmabond.a \
	$(RDMA_BOND_GTEST_LIBS)
