# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/lib.mk: the installed librdmabond: librdmabond.so.0 (libtool),
# its headers in $(includedir)/rdma_bond and rdmabond.pc.  Included by
# Makefile.am after every fragment that adds sources to the libraries it is
# made of: the table reader and the predictor (librdmabond.a), the emulated
# RNIC, the verbs backend and the connections with their C API.
#
# The programs and tests of this tree link the static archives; the shared
# library is for applications (packages librdmabond0 and librdmabond-dev,
# or librdmabond and librdmabond-devel).  The ABI is the C API of
# rdmabond.h and the C++ API of the other headers, at soname 0 while the
# version is below 1.0: any release may change it and bumps the soname
# when it does.

lib_LTLIBRARIES = rdma-bond/librdmabond.la
rdma_bond_librdmabond_la_SOURCES = \
	$(rdma_bond_librdmabond_a_SOURCES) \
	$(rdma_bond_librdmabond_emu_a_SOURCES) \
	$(rdma_bond_librdmabond_verbs_a_SOURCES) \
	$(rdma_bond_librdmabond_conn_a_SOURCES)
# Own flags, so that its (PIC) objects are not the archives' objects.
rdma_bond_librdmabond_la_CXXFLAGS = $(AM_CXXFLAGS)
rdma_bond_librdmabond_la_LDFLAGS = -version-info 0:0:0 -no-undefined
rdma_bond_librdmabond_la_LIBADD = $(IBVERBS_LIBS) -lpthread

rdmabondincludedir = $(includedir)/rdma_bond
rdmabondinclude_HEADERS = \
	lib/rdma-bond-table.h \
	rdma-bond/include/rdma_bond/agent_client.h \
	rdma-bond/include/rdma_bond/bond.h \
	rdma-bond/include/rdma_bond/bond_discovery.h \
	rdma-bond/include/rdma_bond/change_notifier.h \
	rdma-bond/include/rdma_bond/connection.h \
	rdma-bond/include/rdma_bond/emulated_rnic.h \
	rdma-bond/include/rdma_bond/five_tuple.h \
	rdma-bond/include/rdma_bond/ovs_hash.h \
	rdma-bond/include/rdma_bond/path_planner.h \
	rdma-bond/include/rdma_bond/pinner.h \
	rdma-bond/include/rdma_bond/predictor.h \
	rdma-bond/include/rdma_bond/rc_transport.h \
	rdma-bond/include/rdma_bond/rdma_sysfs.h \
	rdma-bond/include/rdma_bond/rdmabond.h \
	rdma-bond/include/rdma_bond/rnic.h \
	rdma-bond/include/rdma_bond/rnic_mux.h \
	rdma-bond/include/rdma_bond/roce.h \
	rdma-bond/include/rdma_bond/roce_frame.h \
	rdma-bond/include/rdma_bond/side_channel.h \
	rdma-bond/include/rdma_bond/status.h \
	rdma-bond/include/rdma_bond/table_reader.h \
	rdma-bond/include/rdma_bond/verbs_rnic.h

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = rdma-bond/rdmabond.pc
EXTRA_DIST += rdma-bond/rdmabond.pc.in
