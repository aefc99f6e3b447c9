# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/verbs.mk: the verbs backend (rdma-core).  The sysfs part (which
# RDMA device and GID sit behind a member netdev) needs no library and is
# always built; the Rnic over libibverbs only when configure found it.

noinst_LIBRARIES += rdma-bond/librdmabond-verbs.a
rdma_bond_librdmabond_verbs_a_SOURCES = \
	rdma-bond/include/rdma_bond/rdma_sysfs.h \
	rdma-bond/include/rdma_bond/verbs_rnic.h \
	rdma-bond/rdma_sysfs.cc \
	rdma-bond/c_api_verbs.cc
if HAVE_VERBS
rdma_bond_librdmabond_verbs_a_SOURCES += rdma-bond/verbs_rnic.cc
endif

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rdma-bond-verbs-tests
TESTS += rdma-bond/rdma-bond-verbs-tests
endif
rdma_bond_rdma_bond_verbs_tests_SOURCES = \
	rdma-bond/rdma_sysfs_test.cc \
	rdma-bond/verbs_rnic_test.cc \
	rdma-bond/c_api_verbs_test.cc
rdma_bond_rdma_bond_verbs_tests_LDADD = \
	rdma-bond/librdmabond-verbs.a \
	rdma-bond/librdmabond-conn.a \
	rdma-bond/librdmabond.a \
	$(IBVERBS_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
