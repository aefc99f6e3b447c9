# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/probe.mk: L4 path probing between the agents of two hosts
# (path_prober.h): which RoCEv2 5-tuples the switch carries between which
# bond members, learnt with UD probe frames (probe_frame.h).  Sans-IO: the
# agent owns the sockets and the clock.

noinst_LIBRARIES += rdma-bond/librdmabond-probe.a
rdma_bond_librdmabond_probe_a_SOURCES = \
	rdma-bond/include/rdma_bond/path_prober.h \
	rdma-bond/include/rdma_bond/probe_frame.h \
	rdma-bond/path_prober.cc \
	rdma-bond/probe_frame.cc

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rdma-bond-probe-tests
TESTS += rdma-bond/rdma-bond-probe-tests
endif
rdma_bond_rdma_bond_probe_tests_SOURCES = \
	rdma-bond/probe_test_util.h \
	rdma-bond/probe_frame_test.cc \
	rdma-bond/path_prober_test.cc
rdma_bond_rdma_bond_probe_tests_LDADD = \
	rdma-bond/librdmabond-probe.a \
	rdma-bond/librdmabond-emu.a \
	rdma-bond/librdmabond.a \
	$(RDMA_BOND_GTEST_LIBS)
