# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/rnic/emulated/: the emulated RNIC.  RoCEv2 frames (parsing and
# building), the reliable-connected transport, the frame links (AF_PACKET on
# a bond member; in memory, for tests) and the RNIC with its queue pairs.
# An emulation: it lets the system run without RDMA hardware and is named
# as such wherever it shows.

noinst_LIBRARIES += rdma-bond/rnic/emulated/libemulated.a
rdma_bond_rnic_emulated_libemulated_a_SOURCES = \
	rdma-bond/include/rdma_bond/emulated_rnic.h \
	rdma-bond/rnic/emulated/emulated_rnic.h \
	rdma-bond/rnic/emulated/c_api_emulated.cc \
	rdma-bond/rnic/emulated/emulated_internal.h \
	rdma-bond/rnic/emulated/emulated_qp.cc \
	rdma-bond/rnic/emulated/emulated_rnic.cc \
	rdma-bond/rnic/emulated/memory_frame_link.cc \
	rdma-bond/rnic/emulated/packet_socket_link.cc \
	rdma-bond/rnic/emulated/rc_transport.cc \
	rdma-bond/rnic/emulated/rc_transport.h \
	rdma-bond/rnic/emulated/roce_frame.cc \
	rdma-bond/rnic/emulated/roce_frame.h

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rnic/emulated/emulated-tests
TESTS += rdma-bond/rnic/emulated/emulated-tests
endif
rdma_bond_rnic_emulated_emulated_tests_SOURCES = \
	rdma-bond/rnic/emulated/c_api_emulated_test.cc \
	rdma-bond/rnic/emulated/emulated_rnic_test.cc \
	rdma-bond/rnic/emulated/rc_transport_test.cc \
	rdma-bond/rnic/emulated/roce_frame_test.cc
rdma_bond_rnic_emulated_emulated_tests_LDADD = \
	$(RDMA_BOND_EMULATED_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
