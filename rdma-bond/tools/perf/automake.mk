# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/tools/perf/: rdma-bond-perf, the perftest-style tool over
# librdmabond's connections (verbs or emulated backend).

noinst_LIBRARIES += rdma-bond/tools/perf/libperf.a
rdma_bond_tools_perf_libperf_a_SOURCES = \
	rdma-bond/tools/perf/perf_backend.cc \
	rdma-bond/tools/perf/perf_backend.h \
	rdma-bond/tools/perf/perf_message.cc \
	rdma-bond/tools/perf/perf_message.h \
	rdma-bond/tools/perf/perf_net.cc \
	rdma-bond/tools/perf/perf_net.h \
	rdma-bond/tools/perf/perf_options.cc \
	rdma-bond/tools/perf/perf_options.h \
	rdma-bond/tools/perf/perf_session.h \
	rdma-bond/tools/perf/perf_timeline.h

bin_PROGRAMS += rdma-bond/tools/perf/rdma-bond-perf
rdma_bond_tools_perf_rdma_bond_perf_SOURCES = \
	rdma-bond/tools/perf/rdma_bond_perf.cc
rdma_bond_tools_perf_rdma_bond_perf_LDADD = \
	$(RDMA_BOND_PERF_LIBS) \
	$(IBVERBS_LIBS) -lpthread
dist_man_MANS += rdma-bond/tools/perf/rdma-bond-perf.1

if HAVE_GTEST
check_PROGRAMS += rdma-bond/tools/perf/perf-tests
TESTS += rdma-bond/tools/perf/perf-tests
endif
rdma_bond_tools_perf_perf_tests_SOURCES = \
	rdma-bond/tools/perf/perf_message_test.cc \
	rdma-bond/tools/perf/perf_net_test.cc \
	rdma-bond/tools/perf/perf_timeline_test.cc
rdma_bond_tools_perf_perf_tests_LDADD = \
	$(RDMA_BOND_PERF_LIBS) \
	$(IBVERBS_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
