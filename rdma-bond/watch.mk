# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/watch.mk: waiting for table changes without polling
# (TableReader::WaitForChange(), ChangeNotifier), "rdma-bondctl watch",
# the table reader fuzzer ("make check-fuzz") and the change-propagation
# benchmark ("make bench-propagation").  Included by Makefile.am after
# rdma-bond/automake.mk, whose variables it extends.

# ---------------------------------------------------------------------------
# librdmabond and rdma-bondctl.

rdma_bond_librdmabond_a_SOURCES += \
	rdma-bond/include/rdma_bond/change_notifier.h \
	rdma-bond/change_notifier.cc

# The watch command (the dispatch is in rdma_bondctl.cc).
RDMA_BOND_WATCH_CTL_SRCS = rdma-bond/ctl_watch.cc
rdma_bond_rdma_bondctl_SOURCES += $(RDMA_BOND_WATCH_CTL_SRCS) \
	rdma-bond/ctl_watch.h

# ---------------------------------------------------------------------------
# Unit tests: in rdma-bond-unit-tests, under ASan/UBSan ("make check-asan")
# and, as they all run threads against the table, under TSan ("make
# check-tsan").

RDMA_BOND_WATCH_TEST_SRCS = \
	rdma-bond/change_notifier_test.cc \
	rdma-bond/ctl_watch_test.cc \
	rdma-bond/table_reader_wait_test.cc \
	rdma-bond/wait_test_util.cc

rdma_bond_rdma_bond_unit_tests_SOURCES += \
	$(RDMA_BOND_WATCH_TEST_SRCS) \
	$(RDMA_BOND_WATCH_CTL_SRCS) \
	rdma-bond/wait_test_util.h

RDMA_BOND_HDRS += \
	rdma-bond/include/rdma_bond/change_notifier.h \
	rdma-bond/ctl_watch.h \
	rdma-bond/wait_test_util.h
RDMA_BOND_ASAN_CXX_SRCS += rdma-bond/change_notifier.cc \
	$(RDMA_BOND_WATCH_CTL_SRCS) $(RDMA_BOND_WATCH_TEST_SRCS)
RDMA_BOND_TSAN_CXX_SRCS += rdma-bond/change_notifier.cc \
	$(RDMA_BOND_WATCH_CTL_SRCS) $(RDMA_BOND_WATCH_TEST_SRCS)

# ---------------------------------------------------------------------------
# Fuzzing: "make check-fuzz".
#
# Builds rdma-bond/fuzz/table-reader-fuzz with clang's libFuzzer, ASan and
# UBSan, writes a seed corpus of valid and invalid tables with
# make-seed-corpus (which uses the test helpers and the writer's own
# record store, so it is built with $(CXX) like the unit tests), and fuzzes
# for FUZZ_SECONDS.  New inputs go to rdma-bond/fuzz/corpus (kept between
# runs), crashes to rdma-bond/fuzz/artifacts/; any crash fails the target.
# FUZZ_FLAGS adds libFuzzer flags (for example -jobs=2 -workers=2).

FUZZ_CXX = clang++-14
FUZZ_SECONDS = 60
FUZZ_FLAGS =

RDMA_BOND_FUZZ_CXXFLAGS = -std=c++20 -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
RDMA_BOND_FUZZ_SRCS = rdma-bond/fuzz/table_reader_fuzz.cc \
	$(RDMA_BOND_LIB_SRCS) $(RDMA_BOND_WATCH_CTL_SRCS) \
	rdma-bond/change_notifier.cc
RDMA_BOND_SEED_SRCS = rdma-bond/fuzz/make_seed_corpus.cc \
	rdma-bond/table_test_util.cc

rdma-bond/fuzz/table-reader-fuzz: $(addprefix $(srcdir)/,\
		$(RDMA_BOND_FUZZ_SRCS) $(RDMA_BOND_HDRS))
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(FUZZ_CXX) $(AM_CPPFLAGS) -I$(srcdir)/rdma-bond \
		$(CPPFLAGS) $(RDMA_BOND_WARNINGS) $(RDMA_BOND_FUZZ_CXXFLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_FUZZ_SRCS)) -o $@

rdma-bond/fuzz/make-seed-corpus: $(addprefix $(srcdir)/,\
		$(RDMA_BOND_SEED_SRCS) $(RDMA_BOND_HDRS)) \
		rdma-bond/rdma-bond-table-writer.o rdma-bond/librdmabond.a
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(CXX) $(AM_CPPFLAGS) -I$(srcdir)/rdma-bond $(CPPFLAGS) \
		$(AM_CXXFLAGS) $(CXXFLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_SEED_SRCS)) \
		rdma-bond/rdma-bond-table-writer.o rdma-bond/librdmabond.a \
		-lgtest -lpthread -o $@

rdma-bond/fuzz/seed-corpus.stamp: rdma-bond/fuzz/make-seed-corpus
	rm -rf rdma-bond/fuzz/seed-corpus
	$(MKDIR_P) rdma-bond/fuzz/seed-corpus
	./rdma-bond/fuzz/make-seed-corpus rdma-bond/fuzz/seed-corpus
	touch $@

check-fuzz: rdma-bond/fuzz/table-reader-fuzz rdma-bond/fuzz/seed-corpus.stamp
	$(MKDIR_P) rdma-bond/fuzz/corpus rdma-bond/fuzz/artifacts
	./rdma-bond/fuzz/table-reader-fuzz \
		-max_total_time=$(FUZZ_SECONDS) \
		-max_len=`./rdma-bond/fuzz/make-seed-corpus --max-len` \
		-artifact_prefix=rdma-bond/fuzz/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) rdma-bond/fuzz/corpus rdma-bond/fuzz/seed-corpus

clean-local: clean-rdma-bond-fuzz
clean-rdma-bond-fuzz:
	rm -rf rdma-bond/fuzz/seed-corpus rdma-bond/fuzz/corpus \
		rdma-bond/fuzz/artifacts

# ---------------------------------------------------------------------------
# Change-propagation benchmark: "make bench-propagation" runs
# rdma-bond/bench/propagation (see its --help and docs/benchmarks.md)
# against the patched OVS in $(OVS_BUILDDIR), which it does not rebuild,
# after futex-wake-latency, the floor under it: the same futex wake between
# two processes with nothing else running.  BENCH_PROPAGATION_FLAGS adds
# flags (for example --flips 50 --json).

BENCH_PROPAGATION_FLAGS =

rdma-bond/bench/futex-wake-latency: \
		$(srcdir)/rdma-bond/bench/futex_wake_latency.cc \
		$(srcdir)/rdma-bond/table_test_util.cc \
		$(addprefix $(srcdir)/,$(RDMA_BOND_HDRS)) \
		rdma-bond/rdma-bond-table-writer.o rdma-bond/librdmabond.a
	@$(MKDIR_P) rdma-bond/bench
	$(AM_V_CXXLD)$(CXX) $(AM_CPPFLAGS) -I$(srcdir)/rdma-bond $(CPPFLAGS) \
		$(AM_CXXFLAGS) $(CXXFLAGS) \
		$(srcdir)/rdma-bond/bench/futex_wake_latency.cc \
		$(srcdir)/rdma-bond/table_test_util.cc \
		rdma-bond/rdma-bond-table-writer.o rdma-bond/librdmabond.a \
		-lgtest -lpthread -o $@

bench-propagation: rdma-bond/rdma-bondctl rdma-bond/bench/futex-wake-latency
	./rdma-bond/bench/futex-wake-latency
	$(PYTHON) $(srcdir)/rdma-bond/bench/propagation \
		--ovs-builddir $(OVS_BUILDDIR) \
		--rdma-bondctl rdma-bond/rdma-bondctl $(BENCH_PROPAGATION_FLAGS)

.PHONY: check-fuzz clean-rdma-bond-fuzz bench-propagation

EXTRA_DIST += \
	rdma-bond/fuzz/make_seed_corpus.cc \
	rdma-bond/fuzz/table_reader_fuzz.cc \
	rdma-bond/bench/futex_wake_latency.cc \
	rdma-bond/bench/propagation \
	docs/benchmarks.md
CLEANFILES += \
	rdma-bond/fuzz/table-reader-fuzz \
	rdma-bond/fuzz/make-seed-corpus \
	rdma-bond/fuzz/seed-corpus.stamp \
	rdma-bond/bench/futex-wake-latency
