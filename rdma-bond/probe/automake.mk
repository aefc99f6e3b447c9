# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/probe/: L4 path probing between the agents of two hosts
# (path_prober.h): which RoCEv2 5-tuples the switch carries between which
# bond members, learnt with UD probe frames (probe_frame.h).  Sans-IO: the
# agent owns the sockets and the clock.

noinst_LIBRARIES += rdma-bond/probe/libprobe.a
rdma_bond_probe_libprobe_a_SOURCES = \
	rdma-bond/probe/path_prober.cc \
	rdma-bond/probe/path_prober.h \
	rdma-bond/probe/probe_frame.cc \
	rdma-bond/probe/probe_frame.h \
	rdma-bond/probe/probe_keys.cc \
	rdma-bond/probe/probe_keys.h \
	rdma-bond/probe/ud_wire.cc \
	rdma-bond/probe/ud_wire.h \
	rdma-bond/probe/wire_bytes.h

if HAVE_GTEST
check_PROGRAMS += rdma-bond/probe/probe-tests
TESTS += rdma-bond/probe/probe-tests
endif
rdma_bond_probe_probe_tests_SOURCES = \
	rdma-bond/probe/path_prober_test.cc \
	rdma-bond/probe/probe_frame_test.cc \
	rdma-bond/probe/probe_keys_test.cc \
	rdma-bond/probe/ud_wire_test.cc
rdma_bond_probe_probe_tests_LDADD = \
	$(RDMA_BOND_PROBE_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
