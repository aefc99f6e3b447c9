# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/bench/: benchmarks, never built by "make" or "make check"
# (docs/benchmarks.md has the figures and the commands):
#
#   make bench               Google Benchmark micro-benchmarks (predictor,
#                            pinner, the preload's counting per post);
#                            BENCHFLAGS adds flags;
#   make bench-emulated      end-to-end throughput of the emulated RNIC
#                            (root: network namespaces);
#   make bench-propagation   change propagation from ovs-vswitchd to a
#                            reader, after futex-wake-latency, the floor
#                            under it.  BENCH_PROPAGATION_FLAGS adds flags
#                            (for example --flips 50 --json);
#   make bench-storm         the lab's cut, storm and restart scenarios
#                            held to their 50 ms stall target (root;
#                            BENCH_STORM_FLAGS adds flags, for example
#                            --flap-seconds 1800 for the soak).

BENCHFLAGS =
BENCH_PROPAGATION_FLAGS =
BENCH_STORM_FLAGS =

EXTRA_PROGRAMS += rdma-bond/bench/rdma-bond-bench
rdma_bond_bench_rdma_bond_bench_SOURCES = \
	rdma-bond/bench/pinner_bench.cc \
	rdma-bond/bench/predictor_bench.cc
if HAVE_VERBS
rdma_bond_bench_rdma_bond_bench_SOURCES += \
	rdma-bond/bench/post_send_bench.cc
endif
rdma_bond_bench_rdma_bond_bench_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_PREDICT_LIBS) \
	-lbenchmark -lbenchmark_main -lpthread
CLEANFILES += rdma-bond/bench/rdma-bond-bench

bench: rdma-bond/bench/rdma-bond-bench
	./rdma-bond/bench/rdma-bond-bench $(BENCHFLAGS)

bench-emulated: rdma-bond/tools/perf/rdma-bond-perf
	$(srcdir)/rdma-bond/bench/emulated-rnic $(BENCHFLAGS)

rdma-bond/bench/futex-wake-latency: \
		$(srcdir)/rdma-bond/bench/futex_wake_latency.cc \
		$(RDMA_BOND_TESTING_LIBS) $(RDMA_BOND_TABLE_LIBS)
	$(AM_V_CXXLD)$(CXX) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CXXFLAGS) \
		$(CXXFLAGS) $(srcdir)/rdma-bond/bench/futex_wake_latency.cc \
		$(RDMA_BOND_TESTING_LIBS) $(RDMA_BOND_TABLE_LIBS) \
		-lgtest -lpthread -o $@
CLEANFILES += rdma-bond/bench/futex-wake-latency

bench-propagation: rdma-bond/tools/bondctl/rdma-bondctl \
		rdma-bond/bench/futex-wake-latency
	./rdma-bond/bench/futex-wake-latency
	$(PYTHON) $(srcdir)/rdma-bond/bench/propagation \
		--ovs-builddir $(OVS_BUILDDIR) \
		--rdma-bondctl rdma-bond/tools/bondctl/rdma-bondctl \
		$(BENCH_PROPAGATION_FLAGS)

bench-storm: rdma-bond/tools/perf/rdma-bond-perf \
		rdma-bond/agent/ovs-rdma-bond-agent
	$(srcdir)/utilities/ovs-rdma-bond-lab active-backup balance-tcp \
		restart flap --no-build --check $(BENCH_STORM_FLAGS)

.PHONY: bench bench-emulated bench-propagation bench-storm
EXTRA_DIST += \
	docs/benchmarks.md \
	rdma-bond/bench/emulated-rnic \
	rdma-bond/bench/futex_wake_latency.cc \
	rdma-bond/bench/post_send_bench.cc \
	rdma-bond/bench/propagation
