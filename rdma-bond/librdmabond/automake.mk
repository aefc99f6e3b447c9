# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/librdmabond/: the installed librdmabond: librdmabond.so.0
# (libtool) made of the library folders' sources, the API headers of
# rdma-bond/include/rdma_bond/ in $(includedir)/rdma_bond, and rdmabond.pc.
# "make installcheck" builds a program against the installed headers and
# library only (pkg-config rdmabond).
#
# The programs and tests of this tree link the folders' static archives;
# the shared library is for applications (packages librdmabond0 and
# librdmabond-dev, or librdmabond and librdmabond-devel).  The ABI is the
# C API of rdmabond.h and the C++ API of the other headers, at soname 0
# while the version is below 1.0: any release may change it and bumps the
# soname when it does.

lib_LTLIBRARIES = rdma-bond/librdmabond/librdmabond.la
rdma_bond_librdmabond_librdmabond_la_SOURCES = \
	$(rdma_bond_common_libcommon_a_SOURCES) \
	$(rdma_bond_table_libtable_a_SOURCES) \
	$(rdma_bond_predict_libpredict_a_SOURCES) \
	$(rdma_bond_rnic_librnic_a_SOURCES) \
	$(rdma_bond_rnic_emulated_libemulated_a_SOURCES) \
	$(rdma_bond_rnic_verbs_libverbs_a_SOURCES) \
	$(rdma_bond_conn_libconn_a_SOURCES)
# Own flags, so that its (PIC) objects are not the archives' objects.
rdma_bond_librdmabond_librdmabond_la_CXXFLAGS = $(AM_CXXFLAGS)
rdma_bond_librdmabond_librdmabond_la_LDFLAGS = -version-info 0:0:0 \
	-no-undefined
rdma_bond_librdmabond_librdmabond_la_LIBADD = $(IBVERBS_LIBS) \
	$(RDMA_BOND_CRYPTO_LIBS) -lpthread

# The API: every header of rdma-bond/include/rdma_bond/ and the table's ABI.
rdmabondincludedir = $(includedir)/rdma_bond
rdmabondinclude_HEADERS = \
	lib/rdma-bond-table.h \
	rdma-bond/include/rdma_bond/agent_client.h \
	rdma-bond/include/rdma_bond/bond.h \
	rdma-bond/include/rdma_bond/change_notifier.h \
	rdma-bond/include/rdma_bond/connection.h \
	rdma-bond/include/rdma_bond/emulated_rnic.h \
	rdma-bond/include/rdma_bond/five_tuple.h \
	rdma-bond/include/rdma_bond/ovs_hash.h \
	rdma-bond/include/rdma_bond/pinner.h \
	rdma-bond/include/rdma_bond/predictor.h \
	rdma-bond/include/rdma_bond/rdmabond.h \
	rdma-bond/include/rdma_bond/rnic.h \
	rdma-bond/include/rdma_bond/roce.h \
	rdma-bond/include/rdma_bond/side_channel.h \
	rdma-bond/include/rdma_bond/status.h \
	rdma-bond/include/rdma_bond/table_reader.h \
	rdma-bond/include/rdma_bond/verbs_rnic.h

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = rdma-bond/librdmabond/rdmabond.pc
EXTRA_DIST += rdma-bond/librdmabond/rdmabond.pc.in
