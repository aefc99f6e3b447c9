# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/: the C++20 side of ovs-rdma-bond (included by Makefile.am).
#
# One folder per concern, each with its own automake.mk that builds the
# folder's convenience library and its tests.  Folders depend on each other
# only through LDADD (a program lists the libraries it needs, users before
# what they use); no fragment adds to another fragment's variables.  This
# file holds what they share and the sanitizer builds, whose source lists
# come from the folders' own lists.
#
#   common/          status, JSON writer, five-tuple, hex, fds, deadlines
#   table/           the table reader, its formats, bond snapshots, discovery,
#                    the change notifier
#   predict/         OVS's hash functions, the predictor, the pinner, the
#                    path planner
#   rnic/            the Rnic interface and the per-member multiplexer;
#   rnic/emulated/   the emulated RNIC (RoCEv2 frames, RC transport, links);
#   rnic/verbs/      the verbs backend (rdma-core) and RDMA sysfs
#   conn/            multipath connections, their side channel, the agent
#                    client, the C API
#   probe/           L4 path probing (probe frames, the prober)
#   agent/           ovs-rdma-bond-agent
#   tools/bondctl/   rdma-bondctl;  tools/perf/  rdma-bond-perf;
#   tools/migrate/   ovs-rdma-bond-migrate (Linux bond to OVS bond);
#   tools/golden/    golden hash values from OVS's own code
#   testing/         fakes and test utilities (never installed)
#   librdmabond/     the installed library, its headers and rdmabond.pc
#   include/rdma_bond/  the installed API headers
#   bench/, fuzz/, systemd/

RDMA_BOND_GTEST_LIBS = -lgtest -lgtest_main -lpthread

# Compiler flags for OVS code (the table writer, the agent's daemon shell,
# the golden generator): OVS's config.h and headers from the patched tree.
# Such code is compiled by its own rules rather than listed in _SOURCES,
# because automake would add this project's $(DEFS) (-DPACKAGE_VERSION=...,
# -DVERSION=...), which OVS's config.h defines again (a -Werror error), and
# so that the OVS include directories (whose lib/memory.h shadows
# <memory.h>) stay away from the C++ sources.
RDMA_BOND_OVS_CPPFLAGS = -I$(OVS_BUILDDIR) -I$(OVS_BUILDDIR)/include \
	-I$(OVS_BUILDDIR)/lib -I$(top_srcdir)/lib

# OVS's static library, and (a shell command) the libraries it needs, from
# libopenvswitch.la, with each libtool archive "DIR/libX.la" replaced by its
# static library "DIR/.libs/libX.a": what libtool would link, so that
# programs on it follow OVS's configure options (SSL, libcap-ng, unbound,
# unwind...).
RDMA_BOND_OVS_LIB = $(OVS_BUILDDIR)/lib/.libs/libopenvswitch.a
RDMA_BOND_OVS_LIBS = `sed -n "s/^dependency_libs='\(.*\)'$$/\1/p" \
	$(OVS_BUILDDIR)/lib/libopenvswitch.la | \
	sed 's|\([^ ]*\)/\(lib[^/ ]*\)\.la|\1/.libs/\2.a|g'`

# Builds OVS's library if it does not exist yet (normally "make" has).
$(RDMA_BOND_OVS_LIB):
	@$(MAKE) $(AM_MAKEFLAGS) $(OVS_STAMP)
	@$(MAKE) -C $(OVS_BUILDDIR) lib/libopenvswitch.la

# Every header of the tree: the prerequisites of the objects that are built
# by plain rules (sanitizers, fuzzer).
RDMA_BOND_ALL_HDRS = $(wildcard $(srcdir)/lib/rdma-bond-table*.h \
	$(srcdir)/lib/rdma-bond-load.h \
	$(srcdir)/rdma-bond/include/rdma_bond/*.h \
	$(srcdir)/rdma-bond/*/*.h $(srcdir)/rdma-bond/*/*/*.h)

# The folders' libraries, each followed by what it uses, in link order: a
# program's LDADD names the chain of the folder it needs.  (The archives
# of one chain may repeat in another; a static link takes that.)
# libcrypto (OpenSSL, already a build dependency of Open vSwitch): the
# side channel's HMAC-SHA256 (conn/side_channel.cc).
RDMA_BOND_CRYPTO_LIBS = -lcrypto
RDMA_BOND_COMMON_LIBS = rdma-bond/common/libcommon.a
RDMA_BOND_RNIC_LIBS = rdma-bond/rnic/librnic.a $(RDMA_BOND_COMMON_LIBS)
RDMA_BOND_TABLE_LIBS = rdma-bond/table/libtable.a $(RDMA_BOND_RNIC_LIBS)
RDMA_BOND_PREDICT_LIBS = rdma-bond/predict/libpredict.a \
	$(RDMA_BOND_TABLE_LIBS)
RDMA_BOND_CONN_LIBS = rdma-bond/conn/libconn.a $(RDMA_BOND_PREDICT_LIBS) \
	$(RDMA_BOND_CRYPTO_LIBS)
RDMA_BOND_EMULATED_LIBS = rdma-bond/rnic/emulated/libemulated.a \
	$(RDMA_BOND_CONN_LIBS)
RDMA_BOND_VERBS_LIBS = rdma-bond/rnic/verbs/libverbs.a $(RDMA_BOND_CONN_LIBS)
RDMA_BOND_PROBE_LIBS = rdma-bond/probe/libprobe.a $(RDMA_BOND_EMULATED_LIBS)
# The agent reads which RDMA device is behind a member through the verbs
# backend's sysfs reader (rdma_sysfs.o: no libibverbs).
RDMA_BOND_AGENT_LIBS = rdma-bond/agent/libagent.a \
	rdma-bond/rnic/verbs/libverbs.a $(RDMA_BOND_PROBE_LIBS)
RDMA_BOND_BONDCTL_LIBS = rdma-bond/tools/bondctl/libbondctl.a \
	$(RDMA_BOND_PREDICT_LIBS)
RDMA_BOND_MIGRATE_LIBS = rdma-bond/tools/migrate/libmigrate.a \
	$(RDMA_BOND_AGENT_LIBS)
RDMA_BOND_PERF_LIBS = rdma-bond/tools/perf/libperf.a \
	rdma-bond/rnic/emulated/libemulated.a $(RDMA_BOND_VERBS_LIBS)
# Test utilities (and the table writer): before the chain of the code.
RDMA_BOND_TESTING_LIBS = rdma-bond/testing/libtesting.a

include rdma-bond/common/automake.mk
include rdma-bond/tools/golden/automake.mk
include rdma-bond/table/automake.mk
include rdma-bond/predict/automake.mk
include rdma-bond/rnic/automake.mk
include rdma-bond/rnic/emulated/automake.mk
include rdma-bond/rnic/verbs/automake.mk
include rdma-bond/conn/automake.mk
include rdma-bond/probe/automake.mk
include rdma-bond/agent/automake.mk
include rdma-bond/tools/bondctl/automake.mk
include rdma-bond/tools/perf/automake.mk
include rdma-bond/tools/migrate/automake.mk
include rdma-bond/testing/automake.mk
include rdma-bond/librdmabond/automake.mk
include rdma-bond/preload/automake.mk
include rdma-bond/bench/automake.mk
include rdma-bond/fuzz/automake.mk
include rdma-bond/systemd/automake.mk

# ---------------------------------------------------------------------------
# Sanitizer runs: "make check-asan" and "make check-tsan".
#
# Plain rules, so that the sanitizer builds never mix with the normal
# objects: every source is compiled again, with the sanitizer's flags, into
# rdma-bond/testing/asan/ or rdma-bond/testing/tsan/ (same relative path),
# the library sources into one archive, and the tests linked on it.  The
# source lists are the folders' own _SOURCES.
#
# check-asan runs the tests of the library folders (common, table,
# predict, rnic, emulated RNIC, conn) and of the tools under
# AddressSanitizer and UndefinedBehaviorSanitizer; any report fails the run.
#
# check-tsan runs the table's and rdma-bondctl's tests (the seqlock test,
# the change notifier, "watch") under ThreadSanitizer.  TSan does not model
# std::atomic_thread_fence (GCC says so with -Wtsan, hence -Wno-tsan): it
# cannot prove the fences right, the seqlock test's stamp checks do that.
# What TSan does check is that every access of the writer and the readers
# to the shared table is atomic (a plain access racing with the writer is
# reported), which the same-mapping test lets it see.

RDMA_BOND_ASAN_FLAGS = -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g
RDMA_BOND_TSAN_FLAGS = -fsanitize=thread -Wno-tsan -O1 -g

# Library and test-utility sources, users before what they use.
RDMA_BOND_SAN_TABLE_LIBS = \
	$(rdma_bond_testing_libtesting_a_SOURCES) \
	$(rdma_bond_tools_bondctl_libbondctl_a_SOURCES) \
	$(rdma_bond_predict_libpredict_a_SOURCES) \
	$(rdma_bond_table_libtable_a_SOURCES) \
	$(rdma_bond_rnic_librnic_a_SOURCES) \
	$(rdma_bond_common_libcommon_a_SOURCES)
RDMA_BOND_SAN_ALL_LIBS = \
	$(rdma_bond_probe_libprobe_a_SOURCES) \
	$(rdma_bond_tools_perf_libperf_a_SOURCES) \
	$(rdma_bond_rnic_emulated_libemulated_a_SOURCES) \
	$(rdma_bond_conn_libconn_a_SOURCES) \
	$(RDMA_BOND_SAN_TABLE_LIBS)
RDMA_BOND_ASAN_TESTS = \
	$(rdma_bond_common_common_tests_SOURCES) \
	$(rdma_bond_table_table_tests_SOURCES) \
	$(rdma_bond_predict_predict_tests_SOURCES) \
	$(rdma_bond_rnic_rnic_tests_SOURCES) \
	$(rdma_bond_rnic_emulated_emulated_tests_SOURCES) \
	$(rdma_bond_conn_conn_tests_SOURCES) \
	$(rdma_bond_probe_probe_tests_SOURCES) \
	$(rdma_bond_tools_bondctl_bondctl_tests_SOURCES) \
	$(rdma_bond_tools_perf_perf_tests_SOURCES)
# ThreadSanitizer cannot return from a SIGBUS raised inside its own atomic
# loads, so the fault guard is compiled out under it (table/fault_guard.h)
# and its tests run in the other builds only.
RDMA_BOND_TSAN_TESTS = \
	$(filter-out rdma-bond/table/fault_guard_test.cc,\
		$(rdma_bond_table_table_tests_SOURCES)) \
	$(rdma_bond_tools_bondctl_bondctl_tests_SOURCES)

# $(call RDMA_BOND_SAN_OBJS,DIR,SOURCES): the objects of the C and C++
# sources in SOURCES, under DIR.
RDMA_BOND_SAN_OBJS = $(patsubst %.cc,$(1)/%.o,$(patsubst %.c,$(1)/%.o,\
	$(filter %.cc %.c,$(2))))

rdma-bond/testing/asan/%.o: $(srcdir)/%.cc $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CXX)$(CXX) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CXXFLAGS) \
		$(CXXFLAGS) $(RDMA_BOND_ASAN_FLAGS) -c $< -o $@
rdma-bond/testing/asan/%.o: $(srcdir)/%.c $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) \
		$(CFLAGS) $(RDMA_BOND_ASAN_FLAGS) -c $< -o $@
rdma-bond/testing/tsan/%.o: $(srcdir)/%.cc $(RDMA_BOND_ALL_HDRS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CXX)$(CXX) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CXXFLAGS) \
		$(CXXFLAGS) $(RDMA_BOND_TSAN_FLAGS) -c $< -o $@

# The table writer (OVS code), with the sanitizer's flags.
rdma-bond/testing/asan/rdma-bond-table-writer.o: $(RDMA_BOND_WRITER_DEPS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(RDMA_BOND_ASAN_FLAGS) \
		-c $(srcdir)/lib/rdma-bond-table.c -o $@
rdma-bond/testing/tsan/rdma-bond-table-writer.o: $(RDMA_BOND_WRITER_DEPS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(RDMA_BOND_TSAN_FLAGS) \
		-c $(srcdir)/lib/rdma-bond-table.c -o $@

rdma-bond/testing/asan/rdma-bond-load-reader.o: $(RDMA_BOND_LOAD_READER_DEPS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(RDMA_BOND_ASAN_FLAGS) \
		-c $(srcdir)/lib/rdma-bond-load.c -o $@
rdma-bond/testing/tsan/rdma-bond-load-reader.o: $(RDMA_BOND_LOAD_READER_DEPS)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(RDMA_BOND_TSAN_FLAGS) \
		-c $(srcdir)/lib/rdma-bond-load.c -o $@

RDMA_BOND_ASAN_LIB_OBJS = \
	$(call RDMA_BOND_SAN_OBJS,rdma-bond/testing/asan,$(RDMA_BOND_SAN_ALL_LIBS))
RDMA_BOND_TSAN_LIB_OBJS = \
	$(call RDMA_BOND_SAN_OBJS,rdma-bond/testing/tsan,$(RDMA_BOND_SAN_TABLE_LIBS))

rdma-bond/testing/asan/libasan.a: $(RDMA_BOND_ASAN_LIB_OBJS) \
		rdma-bond/testing/asan/rdma-bond-table-writer.o \
		rdma-bond/testing/asan/rdma-bond-load-reader.o
	$(AM_V_AR)rm -f $@ && $(AR) rcs $@ $^
rdma-bond/testing/tsan/libtsan.a: $(RDMA_BOND_TSAN_LIB_OBJS) \
		rdma-bond/testing/tsan/rdma-bond-table-writer.o \
		rdma-bond/testing/tsan/rdma-bond-load-reader.o
	$(AM_V_AR)rm -f $@ && $(AR) rcs $@ $^

rdma-bond/testing/tests-asan: rdma-bond/testing/asan/libasan.a \
		$(call RDMA_BOND_SAN_OBJS,rdma-bond/testing/asan,$(RDMA_BOND_ASAN_TESTS)) \
		$(RDMA_BOND_GOLDEN)
	$(AM_V_CXXLD)$(CXX) $(AM_CXXFLAGS) $(CXXFLAGS) $(RDMA_BOND_ASAN_FLAGS) \
		$(call RDMA_BOND_SAN_OBJS,rdma-bond/testing/asan,$(RDMA_BOND_ASAN_TESTS)) \
		rdma-bond/testing/asan/libasan.a $(RDMA_BOND_GTEST_LIBS) \
		$(RDMA_BOND_CRYPTO_LIBS) -o $@

rdma-bond/testing/tests-tsan: rdma-bond/testing/tsan/libtsan.a \
		$(call RDMA_BOND_SAN_OBJS,rdma-bond/testing/tsan,$(RDMA_BOND_TSAN_TESTS))
	$(AM_V_CXXLD)$(CXX) $(AM_CXXFLAGS) $(CXXFLAGS) $(RDMA_BOND_TSAN_FLAGS) \
		$(call RDMA_BOND_SAN_OBJS,rdma-bond/testing/tsan,$(RDMA_BOND_TSAN_TESTS)) \
		rdma-bond/testing/tsan/libtsan.a $(RDMA_BOND_GTEST_LIBS) \
		$(RDMA_BOND_CRYPTO_LIBS) -o $@

check-asan: rdma-bond/testing/tests-asan
	ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" \
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		./rdma-bond/testing/tests-asan
check-tsan: rdma-bond/testing/tests-tsan
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		./rdma-bond/testing/tests-tsan
.PHONY: check-asan check-tsan

clean-local: clean-rdma-bond-sanitizers
clean-rdma-bond-sanitizers:
	rm -rf rdma-bond/testing/asan rdma-bond/testing/tsan
.PHONY: clean-rdma-bond-sanitizers
CLEANFILES += rdma-bond/testing/tests-asan rdma-bond/testing/tests-tsan
