# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/emu.mk: the emulated RNIC (RoCEv2 framing, the reliable-
# connected transport, the AF_PACKET engine).  An emulation: it lets the
# system run without RDMA hardware and is named as such wherever it shows.

noinst_LIBRARIES += rdma-bond/librdmabond-emu.a
rdma_bond_librdmabond_emu_a_SOURCES = \
	rdma-bond/include/rdma_bond/roce_frame.h \
	rdma-bond/include/rdma_bond/rc_transport.h \
	rdma-bond/include/rdma_bond/emulated_rnic.h \
	rdma-bond/roce_frame.cc \
	rdma-bond/rc_transport.cc \
	rdma-bond/emulated_rnic.cc \
	rdma-bond/c_api_emulated.cc

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rdma-bond-emu-tests
TESTS += rdma-bond/rdma-bond-emu-tests
endif
rdma_bond_rdma_bond_emu_tests_SOURCES = \
	rdma-bond/roce_frame_test.cc \
	rdma-bond/rc_transport_test.cc \
	rdma-bond/emulated_rnic_test.cc \
	rdma-bond/c_api_emulated_test.cc
rdma_bond_rdma_bond_emu_tests_LDADD = \
	rdma-bond/librdmabond-emu.a \
	rdma-bond/librdmabond-conn.a \
	rdma-bond/librdmabond.a \
	$(RDMA_BOND_GTEST_LIBS)
