# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/rnic/: the Rnic interface every backend implements (the
# emulated RNIC in rnic/emulated/, verbs in rnic/verbs/), MAC addresses, and
# RnicMux, which gives a connection one Rnic per bond member.

noinst_LIBRARIES += rdma-bond/rnic/librnic.a
rdma_bond_rnic_librnic_a_SOURCES = \
	rdma-bond/include/rdma_bond/rnic.h \
	rdma-bond/rnic/rnic.cc \
	rdma-bond/rnic/rnic_mux.cc \
	rdma-bond/rnic/rnic_mux.h

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rnic/rnic-tests
TESTS += rdma-bond/rnic/rnic-tests
endif
rdma_bond_rnic_rnic_tests_SOURCES = rdma-bond/rnic/rnic_mux_test.cc
rdma_bond_rnic_rnic_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_CONN_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
