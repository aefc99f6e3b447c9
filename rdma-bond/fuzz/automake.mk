# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/fuzz/: fuzzing what other programs and hosts write, "make
# check-fuzz": the table (table-reader-fuzz), the side channel as a peer
# writes it (side-channel-fuzz: framing and every message decoder), the
# registry's request lines as a local client writes them (registry-fuzz),
# the table file truncated under a reader (table-truncation-fuzz), and
# probe frames from the wire with the prober's state machine under
# sequences of them (probe-fuzz).
#
# Each is built with clang's libFuzzer, ASan and UBSan from the sources of
# the folders it needs.  For the table reader it writes a seed corpus of
# valid and invalid tables with make-seed-corpus (which uses the test
# helpers and the writer's own record store, so it is built with $(CXX)
# like the unit tests).  Each target fuzzes for FUZZ_SECONDS.  New inputs go
# to rdma-bond/fuzz/corpus (the table reader's), corpus-side-channel and
# corpus-registry (kept between runs), crashes to rdma-bond/fuzz/artifacts/;
# any crash fails the target.  FUZZ_FLAGS adds libFuzzer flags (for example
# -jobs=2 -workers=2).

FUZZ_CXX = clang++-14
FUZZ_SECONDS = 60
FUZZ_FLAGS =

RDMA_BOND_FUZZ_CXXFLAGS = -std=c++20 -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
RDMA_BOND_FUZZ_SRCS = rdma-bond/fuzz/table_reader_fuzz.cc \
	$(filter %.cc,$(rdma_bond_common_libcommon_a_SOURCES) \
		$(rdma_bond_rnic_librnic_a_SOURCES) \
		$(rdma_bond_table_libtable_a_SOURCES)) \
	rdma-bond/tools/bondctl/ctl_watch.cc

rdma-bond/fuzz/table-reader-fuzz: $(addprefix $(srcdir)/,\
		$(RDMA_BOND_FUZZ_SRCS)) $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(FUZZ_CXX) $(AM_CPPFLAGS) $(CPPFLAGS) \
		$(RDMA_BOND_WARNINGS) $(RDMA_BOND_FUZZ_CXXFLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_FUZZ_SRCS)) -o $@

# The connection's sources (and what they use), for the side channel; the
# registry's as well for the request parser.
RDMA_BOND_FUZZ_CONN_SRCS = \
	$(filter %.cc,$(rdma_bond_common_libcommon_a_SOURCES) \
		$(rdma_bond_rnic_librnic_a_SOURCES) \
		$(rdma_bond_table_libtable_a_SOURCES) \
		$(rdma_bond_predict_libpredict_a_SOURCES) \
		$(rdma_bond_conn_libconn_a_SOURCES))
RDMA_BOND_FUZZ_SIDE_SRCS = rdma-bond/fuzz/side_channel_fuzz.cc \
	$(RDMA_BOND_FUZZ_CONN_SRCS)
RDMA_BOND_FUZZ_REGISTRY_SRCS = rdma-bond/fuzz/registry_fuzz.cc \
	rdma-bond/agent/registry.cc $(RDMA_BOND_FUZZ_CONN_SRCS)

rdma-bond/fuzz/side-channel-fuzz: $(addprefix $(srcdir)/,\
		$(RDMA_BOND_FUZZ_SIDE_SRCS)) $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(FUZZ_CXX) $(AM_CPPFLAGS) $(CPPFLAGS) \
		$(RDMA_BOND_WARNINGS) $(RDMA_BOND_FUZZ_CXXFLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_FUZZ_SIDE_SRCS)) \
		$(RDMA_BOND_CRYPTO_LIBS) -o $@

rdma-bond/fuzz/registry-fuzz: $(addprefix $(srcdir)/,\
		$(RDMA_BOND_FUZZ_REGISTRY_SRCS)) $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(FUZZ_CXX) $(AM_CPPFLAGS) $(CPPFLAGS) \
		$(RDMA_BOND_WARNINGS) $(RDMA_BOND_FUZZ_CXXFLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_FUZZ_REGISTRY_SRCS)) \
		$(RDMA_BOND_CRYPTO_LIBS) -o $@

# Probe frames and the prober's state machine (probe_fuzz.cc).
RDMA_BOND_FUZZ_PROBE_SRCS = rdma-bond/fuzz/probe_fuzz.cc \
	$(filter %.cc,$(rdma_bond_probe_libprobe_a_SOURCES) \
		$(rdma_bond_rnic_emulated_libemulated_a_SOURCES)) \
	$(RDMA_BOND_FUZZ_CONN_SRCS)

rdma-bond/fuzz/probe-fuzz: $(addprefix $(srcdir)/,\
		$(RDMA_BOND_FUZZ_PROBE_SRCS)) $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(FUZZ_CXX) $(AM_CPPFLAGS) $(CPPFLAGS) \
		$(RDMA_BOND_WARNINGS) $(RDMA_BOND_FUZZ_CXXFLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_FUZZ_PROBE_SRCS)) \
		$(RDMA_BOND_CRYPTO_LIBS) -o $@

# The table file truncated under a reader (table_truncation_fuzz.cc).
RDMA_BOND_FUZZ_TRUNCATION_SRCS = rdma-bond/fuzz/table_truncation_fuzz.cc \
	$(filter %.cc,$(rdma_bond_common_libcommon_a_SOURCES) \
		$(rdma_bond_rnic_librnic_a_SOURCES) \
		$(rdma_bond_table_libtable_a_SOURCES))

rdma-bond/fuzz/table-truncation-fuzz: $(addprefix $(srcdir)/,\
		$(RDMA_BOND_FUZZ_TRUNCATION_SRCS)) $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(FUZZ_CXX) $(AM_CPPFLAGS) $(CPPFLAGS) \
		$(RDMA_BOND_WARNINGS) $(RDMA_BOND_FUZZ_CXXFLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_FUZZ_TRUNCATION_SRCS)) -o $@

rdma-bond/fuzz/make-seed-corpus: $(srcdir)/rdma-bond/fuzz/make_seed_corpus.cc \
		$(RDMA_BOND_TESTING_LIBS) $(RDMA_BOND_TABLE_LIBS)
	@$(MKDIR_P) rdma-bond/fuzz
	$(AM_V_CXXLD)$(CXX) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CXXFLAGS) \
		$(CXXFLAGS) $(srcdir)/rdma-bond/fuzz/make_seed_corpus.cc \
		$(RDMA_BOND_TESTING_LIBS) $(RDMA_BOND_TABLE_LIBS) \
		-lgtest -lpthread -o $@

rdma-bond/fuzz/seed-corpus.stamp: rdma-bond/fuzz/make-seed-corpus
	rm -rf rdma-bond/fuzz/seed-corpus
	$(MKDIR_P) rdma-bond/fuzz/seed-corpus
	./rdma-bond/fuzz/make-seed-corpus rdma-bond/fuzz/seed-corpus
	touch $@

check-fuzz: rdma-bond/fuzz/table-reader-fuzz rdma-bond/fuzz/seed-corpus.stamp \
		rdma-bond/fuzz/side-channel-fuzz rdma-bond/fuzz/registry-fuzz \
		rdma-bond/fuzz/table-truncation-fuzz rdma-bond/fuzz/probe-fuzz
	$(MKDIR_P) rdma-bond/fuzz/corpus rdma-bond/fuzz/artifacts \
		rdma-bond/fuzz/corpus-side-channel rdma-bond/fuzz/corpus-registry \
		rdma-bond/fuzz/corpus-truncation rdma-bond/fuzz/corpus-probe
	./rdma-bond/fuzz/table-reader-fuzz \
		-max_total_time=$(FUZZ_SECONDS) \
		-max_len=`./rdma-bond/fuzz/make-seed-corpus --max-len` \
		-artifact_prefix=rdma-bond/fuzz/artifacts/ -print_final_stats=1 \
		$(FUZZ_FLAGS) rdma-bond/fuzz/corpus rdma-bond/fuzz/seed-corpus
	./rdma-bond/fuzz/side-channel-fuzz -max_total_time=$(FUZZ_SECONDS) \
		-max_len=4096 -artifact_prefix=rdma-bond/fuzz/artifacts/ \
		-print_final_stats=1 $(FUZZ_FLAGS) \
		rdma-bond/fuzz/corpus-side-channel
	./rdma-bond/fuzz/registry-fuzz -max_total_time=$(FUZZ_SECONDS) \
		-max_len=1100 -artifact_prefix=rdma-bond/fuzz/artifacts/ \
		-print_final_stats=1 $(FUZZ_FLAGS) rdma-bond/fuzz/corpus-registry
	./rdma-bond/fuzz/table-truncation-fuzz -max_total_time=$(FUZZ_SECONDS) \
		-max_len=256 -artifact_prefix=rdma-bond/fuzz/artifacts/ \
		-print_final_stats=1 $(FUZZ_FLAGS) rdma-bond/fuzz/corpus-truncation
	./rdma-bond/fuzz/probe-fuzz -max_total_time=$(FUZZ_SECONDS) \
		-max_len=2048 -artifact_prefix=rdma-bond/fuzz/artifacts/ \
		-print_final_stats=1 $(FUZZ_FLAGS) rdma-bond/fuzz/corpus-probe

clean-local: clean-rdma-bond-fuzz
clean-rdma-bond-fuzz:
	rm -rf rdma-bond/fuzz/seed-corpus rdma-bond/fuzz/corpus \
		rdma-bond/fuzz/corpus-side-channel rdma-bond/fuzz/corpus-registry \
		rdma-bond/fuzz/corpus-truncation rdma-bond/fuzz/corpus-probe \
		rdma-bond/fuzz/artifacts
.PHONY: check-fuzz clean-rdma-bond-fuzz

EXTRA_DIST += \
	rdma-bond/fuzz/make_seed_corpus.cc \
	rdma-bond/fuzz/probe_fuzz.cc \
	rdma-bond/fuzz/registry_fuzz.cc \
	rdma-bond/fuzz/side_channel_fuzz.cc \
	rdma-bond/fuzz/table_reader_fuzz.cc \
	rdma-bond/fuzz/table_truncation_fuzz.cc
CLEANFILES += \
	rdma-bond/fuzz/probe-fuzz \
	rdma-bond/fuzz/registry-fuzz \
	rdma-bond/fuzz/side-channel-fuzz \
	rdma-bond/fuzz/table-reader-fuzz \
	rdma-bond/fuzz/table-truncation-fuzz \
	rdma-bond/fuzz/make-seed-corpus \
	rdma-bond/fuzz/seed-corpus.stamp
