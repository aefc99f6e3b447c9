# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/predict.mk: which member OVS sends a flow on (included by
# Makefile.am after rdma-bond/automake.mk).
#
# OVS's hash functions reproduced bit for bit (ovs_hash), the predictor and
# source-port chooser built on them, "rdma-bondctl predict" and
# "rdma-bondctl pick-sport", their unit tests against golden values printed
# by Open vSwitch's own compiled code, and their benchmarks.

# Golden hash values printed by OVS's own code (see the end of this file).
# Defined first: the rules below name them as prerequisites, which make
# expands when it reads the rule.
RDMA_BOND_GOLDEN = \
	rdma-bond/ovs-hash-golden-native.txt \
	rdma-bond/ovs-hash-golden-mhash.txt \
	rdma-bond/ovs-hash-golden-crc32.txt

rdma_bond_librdmabond_a_SOURCES += \
	rdma-bond/include/rdma_bond/five_tuple.h \
	rdma-bond/include/rdma_bond/ovs_hash.h \
	rdma-bond/include/rdma_bond/predictor.h \
	rdma-bond/include/rdma_bond/roce.h \
	rdma-bond/five_tuple.cc \
	rdma-bond/ovs_hash.cc \
	rdma-bond/predict_command.cc \
	rdma-bond/predict_command.h \
	rdma-bond/predictor.cc

RDMA_BOND_PREDICT_TEST_SRCS = \
	rdma-bond/five_tuple_test.cc \
	rdma-bond/golden_vectors.cc \
	rdma-bond/ovs_hash_test.cc \
	rdma-bond/predict_command_test.cc \
	rdma-bond/predictor_sport_test.cc \
	rdma-bond/predictor_test.cc \
	rdma-bond/predictor_test_util.cc \
	rdma-bond/roce_test.cc

RDMA_BOND_PREDICT_TEST_HDRS = \
	rdma-bond/golden_vectors.h \
	rdma-bond/predictor_test_util.h

rdma_bond_rdma_bond_unit_tests_SOURCES += \
	$(RDMA_BOND_PREDICT_TEST_SRCS) \
	$(RDMA_BOND_PREDICT_TEST_HDRS)
rdma_bond_rdma_bond_unit_tests_DEPENDENCIES += $(RDMA_BOND_GOLDEN)

# The ASan/UBSan build ("make check-asan") compiles every source itself.
RDMA_BOND_ASAN_CXX_SRCS += \
	rdma-bond/five_tuple.cc \
	rdma-bond/ovs_hash.cc \
	rdma-bond/predict_command.cc \
	rdma-bond/predictor.cc \
	$(RDMA_BOND_PREDICT_TEST_SRCS)
RDMA_BOND_HDRS += \
	rdma-bond/include/rdma_bond/five_tuple.h \
	rdma-bond/include/rdma_bond/ovs_hash.h \
	rdma-bond/include/rdma_bond/predictor.h \
	rdma-bond/include/rdma_bond/roce.h \
	rdma-bond/predict_command.h \
	$(RDMA_BOND_PREDICT_TEST_HDRS)
rdma-bond/rdma-bond-unit-tests-asan: $(RDMA_BOND_GOLDEN)

# Benchmarks ("make bench").
rdma_bond_rdma_bond_bench_SOURCES += \
	rdma-bond/predictor_bench.cc \
	rdma-bond/predictor_test_util.cc \
	rdma-bond/predictor_test_util.h

# ---------------------------------------------------------------------------
# Golden hash values from Open vSwitch's own code.
#
# rdma-bond/tools/ovs-hash-golden.c is linked against the patched tree's
# libopenvswitch.a and prints the values that ovs_hash_test.cc and
# predictor_test.cc compare with (see that file and golden_vectors.h):
#
#   -native  the library exactly as OVS compiled it;
#   -mhash   with OVS's lib/flow.c recompiled for mhash;
#   -crc32   with OVS's lib/flow.c recompiled for this machine's crc32
#            implementation (-msse4.2 on x86-64), "unavailable" elsewhere.
#
# The generator is OVS code (OVS's config.h and headers), compiled like
# rdma-bond-table-writer.o in automake.mk.  OVS's headers compare signed
# and unsigned values, and OVS itself builds with -Wno-sign-compare, so
# this code does too; every other warning stays an error.  It links the
# libraries that libopenvswitch.la records (dependency_libs), as libtool
# would, so that it follows OVS's configure options (SSL, libcap-ng,
# unbound, unwind...).

RDMA_BOND_OVS_LIB = $(OVS_BUILDDIR)/lib/.libs/libopenvswitch.a
RDMA_BOND_GOLDEN_SRC = $(srcdir)/rdma-bond/tools/ovs-hash-golden.c
RDMA_BOND_GOLDEN_CFLAGS = $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
	$(AM_CFLAGS) -Wno-sign-compare $(CFLAGS)

# Shell command: the libraries libopenvswitch.a needs, from
# libopenvswitch.la, with each libtool archive "DIR/libX.la" replaced by
# its static library "DIR/.libs/libX.a".
RDMA_BOND_OVS_LIBS = `sed -n "s/^dependency_libs='\(.*\)'$$/\1/p" \
	$(OVS_BUILDDIR)/lib/libopenvswitch.la | \
	sed 's|\([^ ]*\)/\(lib[^/ ]*\)\.la|\1/.libs/\2.a|g'`

# Shell command: the compiler flags that select implementation $(1)
# ("mhash" or "crc32") of lib/hash.h on this machine, or "none".  They
# come last on the command line, so they override any in $(CFLAGS).
RDMA_BOND_IMPL_FLAGS = case $$(uname -m):$(1) in \
	x86_64:mhash) echo -mno-sse4.2 ;; \
	x86_64:crc32) echo -msse4.2 ;; \
	aarch64:mhash) echo -march=armv8-a+nocrc ;; \
	aarch64:crc32) echo -march=armv8-a+crc ;; \
	*:mhash) echo ;; \
	*) echo none ;; \
	esac

# Builds OVS's library if it does not exist yet (normally "make" has).
$(RDMA_BOND_OVS_LIB):
	@$(MAKE) $(AM_MAKEFLAGS) $(OVS_STAMP)
	@$(MAKE) -C $(OVS_BUILDDIR) lib/libopenvswitch.la

rdma-bond/ovs-hash-golden-native.txt: $(RDMA_BOND_GOLDEN_SRC) \
		$(RDMA_BOND_OVS_LIB)
	@$(MKDIR_P) rdma-bond
	$(AM_V_CC)$(CC) $(RDMA_BOND_GOLDEN_CFLAGS) $(RDMA_BOND_GOLDEN_SRC) \
		$(RDMA_BOND_OVS_LIB) $(RDMA_BOND_OVS_LIBS) \
		-o rdma-bond/ovs-hash-golden-native
	$(AM_V_GEN)./rdma-bond/ovs-hash-golden-native > $@.tmp && mv $@.tmp $@

rdma-bond/ovs-hash-golden-%.txt: $(RDMA_BOND_GOLDEN_SRC) \
		$(RDMA_BOND_OVS_LIB) $(OVS_BUILDDIR)/lib/flow.c
	@$(MKDIR_P) rdma-bond
	$(AM_V_GEN)flags=$$($(call RDMA_BOND_IMPL_FLAGS,$*)) || exit 1; \
	if test "$$flags" = none; then \
	  echo "unavailable $* (lib/hash.h has no $* implementation on" \
	    "$$(uname -m))" > $@; \
	else \
	  $(CC) $(RDMA_BOND_GOLDEN_CFLAGS) $$flags \
	    -c $(OVS_BUILDDIR)/lib/flow.c -o rdma-bond/ovs-hash-golden-$*-flow.o \
	  && $(CC) $(RDMA_BOND_GOLDEN_CFLAGS) $$flags $(RDMA_BOND_GOLDEN_SRC) \
	    rdma-bond/ovs-hash-golden-$*-flow.o $(RDMA_BOND_OVS_LIB) \
	    $(RDMA_BOND_OVS_LIBS) -o rdma-bond/ovs-hash-golden-$* \
	  && ./rdma-bond/ovs-hash-golden-$* > $@.tmp \
	  && if head -n 1 $@.tmp | grep -q '^\(impl .*$*\|unavailable\)'; then \
	    mv $@.tmp $@; \
	  else \
	    echo "$@: the generator did not build $* code:" \
	      "$$(head -n 1 $@.tmp)" >&2; exit 1; \
	  fi; \
	fi

EXTRA_DIST += rdma-bond/tools/ovs-hash-golden.c
CLEANFILES += \
	$(RDMA_BOND_GOLDEN) \
	rdma-bond/ovs-hash-golden-native \
	rdma-bond/ovs-hash-golden-mhash \
	rdma-bond/ovs-hash-golden-mhash-flow.o \
	rdma-bond/ovs-hash-golden-crc32 \
	rdma-bond/ovs-hash-golden-crc32-flow.o
