# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/rnic/verbs/: the verbs backend (rdma-core).  The sysfs part
# (which RDMA device and GID sit behind a member netdev) needs no library
# and is always built; the Rnic over libibverbs only when configure found
# it.

noinst_LIBRARIES += rdma-bond/rnic/verbs/libverbs.a
rdma_bond_rnic_verbs_libverbs_a_SOURCES = \
	rdma-bond/include/rdma_bond/verbs_rnic.h \
	rdma-bond/rnic/verbs/verbs_rnic.h \
	rdma-bond/rnic/verbs/c_api_verbs.cc \
	rdma-bond/rnic/verbs/rdma_sysfs.cc \
	rdma-bond/rnic/verbs/rdma_sysfs.h
if HAVE_VERBS
rdma_bond_rnic_verbs_libverbs_a_SOURCES += \
	rdma-bond/rnic/verbs/verbs_internal.h \
	rdma-bond/rnic/verbs/verbs_qp.cc \
	rdma-bond/rnic/verbs/verbs_rnic.cc
endif

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rnic/verbs/verbs-tests
TESTS += rdma-bond/rnic/verbs/verbs-tests
endif
rdma_bond_rnic_verbs_verbs_tests_SOURCES = \
	rdma-bond/rnic/verbs/c_api_verbs_test.cc \
	rdma-bond/rnic/verbs/rdma_sysfs_test.cc \
	rdma-bond/rnic/verbs/verbs_rnic_test.cc
rdma_bond_rnic_verbs_verbs_tests_LDADD = \
	$(RDMA_BOND_VERBS_LIBS) \
	$(IBVERBS_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
