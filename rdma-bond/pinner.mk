# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/pinner.mk: the pinning engine (included by Makefile.am after
# rdma-bond/predict.mk, whose predictor it builds on).

rdma_bond_librdmabond_a_SOURCES += \
	rdma-bond/include/rdma_bond/pinner.h \
	rdma-bond/pinner.cc

rdma_bond_rdma_bond_unit_tests_SOURCES += rdma-bond/pinner_test.cc

RDMA_BOND_ASAN_CXX_SRCS += rdma-bond/pinner.cc rdma-bond/pinner_test.cc
RDMA_BOND_HDRS += rdma-bond/include/rdma_bond/pinner.h

rdma_bond_rdma_bond_bench_SOURCES += rdma-bond/pinner_bench.cc
