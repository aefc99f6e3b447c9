# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/predict/: which member OVS sends a flow on.  OVS's hash
# functions reproduced bit for bit (ovs_hash), the predictor and
# source-port chooser built on them, the pinner (which source port puts a
# QP on a member, and re-pinning when the bond changes) and the path
# planner (source ports for a multipath connection's paths).  The tests
# compare with golden values printed by OVS's own compiled code
# (rdma-bond/tools/golden/).

noinst_LIBRARIES += rdma-bond/predict/libpredict.a
rdma_bond_predict_libpredict_a_SOURCES = \
	rdma-bond/include/rdma_bond/ovs_hash.h \
	rdma-bond/include/rdma_bond/pinner.h \
	rdma-bond/include/rdma_bond/predictor.h \
	rdma-bond/predict/ovs_hash.cc \
	rdma-bond/predict/path_planner.cc \
	rdma-bond/predict/path_planner.h \
	rdma-bond/predict/pinner.cc \
	rdma-bond/predict/predictor.cc

if HAVE_GTEST
check_PROGRAMS += rdma-bond/predict/predict-tests
TESTS += rdma-bond/predict/predict-tests
endif
rdma_bond_predict_predict_tests_SOURCES = \
	rdma-bond/predict/golden_vectors.cc \
	rdma-bond/predict/golden_vectors.h \
	rdma-bond/predict/ovs_hash_test.cc \
	rdma-bond/predict/path_planner_test.cc \
	rdma-bond/predict/pinner_test.cc \
	rdma-bond/predict/predictor_sport_test.cc \
	rdma-bond/predict/predictor_test.cc
rdma_bond_predict_predict_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_PREDICT_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
# The golden values (rdma-bond/tools/golden/automake.mk, included before).
rdma_bond_predict_predict_tests_DEPENDENCIES = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_PREDICT_LIBS) \
	$(RDMA_BOND_GOLDEN)
