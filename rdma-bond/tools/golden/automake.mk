# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/tools/golden/: golden hash values from Open vSwitch's own code.
#
# ovs-hash-golden.c is linked against the patched tree's libopenvswitch.a
# and prints the values that the predict/ tests compare with (see that file
# and rdma-bond/predict/golden_vectors.h):
#
#   -native  the library exactly as OVS compiled it;
#   -mhash   with OVS's lib/flow.c recompiled for mhash;
#   -crc32   with OVS's lib/flow.c recompiled for this machine's crc32
#            implementation (-msse4.2 on x86-64), "unavailable" elsewhere.
#
# The generator is OVS code (RDMA_BOND_OVS_CPPFLAGS in
# rdma-bond/automake.mk).  OVS's headers compare signed and unsigned
# values, and OVS itself builds with -Wno-sign-compare, so this code does
# too; every other warning stays an error.

# Defined before the predict/ fragment: its tests name them as
# prerequisites.
RDMA_BOND_GOLDEN = \
	rdma-bond/tools/golden/ovs-hash-golden-native.txt \
	rdma-bond/tools/golden/ovs-hash-golden-mhash.txt \
	rdma-bond/tools/golden/ovs-hash-golden-crc32.txt

RDMA_BOND_GOLDEN_SRC = $(srcdir)/rdma-bond/tools/golden/ovs-hash-golden.c
RDMA_BOND_GOLDEN_CFLAGS = $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
	$(AM_CFLAGS) -Wno-sign-compare $(CFLAGS)

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

rdma-bond/tools/golden/ovs-hash-golden-native.txt: $(RDMA_BOND_GOLDEN_SRC) \
		$(RDMA_BOND_OVS_LIB)
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(CC) $(RDMA_BOND_GOLDEN_CFLAGS) $(RDMA_BOND_GOLDEN_SRC) \
		$(RDMA_BOND_OVS_LIB) $(RDMA_BOND_OVS_LIBS) \
		-o rdma-bond/tools/golden/ovs-hash-golden-native
	$(AM_V_GEN)./rdma-bond/tools/golden/ovs-hash-golden-native > $@.tmp \
		&& mv $@.tmp $@

rdma-bond/tools/golden/ovs-hash-golden-%.txt: $(RDMA_BOND_GOLDEN_SRC) \
		$(RDMA_BOND_OVS_LIB) $(OVS_BUILDDIR)/lib/flow.c
	@$(MKDIR_P) $(@D)
	$(AM_V_GEN)flags=$$($(call RDMA_BOND_IMPL_FLAGS,$*)) || exit 1; \
	if test "$$flags" = none; then \
	  echo "unavailable $* (lib/hash.h has no $* implementation on" \
	    "$$(uname -m))" > $@; \
	else \
	  $(CC) $(RDMA_BOND_GOLDEN_CFLAGS) $$flags \
	    -c $(OVS_BUILDDIR)/lib/flow.c \
	    -o rdma-bond/tools/golden/ovs-hash-golden-$*-flow.o \
	  && $(CC) $(RDMA_BOND_GOLDEN_CFLAGS) $$flags $(RDMA_BOND_GOLDEN_SRC) \
	    rdma-bond/tools/golden/ovs-hash-golden-$*-flow.o \
	    $(RDMA_BOND_OVS_LIB) $(RDMA_BOND_OVS_LIBS) \
	    -o rdma-bond/tools/golden/ovs-hash-golden-$* \
	  && ./rdma-bond/tools/golden/ovs-hash-golden-$* > $@.tmp \
	  && if head -n 1 $@.tmp | grep -q '^\(impl .*$*\|unavailable\)'; then \
	    mv $@.tmp $@; \
	  else \
	    echo "$@: the generator did not build $* code:" \
	      "$$(head -n 1 $@.tmp)" >&2; exit 1; \
	  fi; \
	fi

EXTRA_DIST += \
	rdma-bond/tools/golden/ovs-hash-golden.c
CLEANFILES += \
	$(RDMA_BOND_GOLDEN) \
	rdma-bond/tools/golden/ovs-hash-golden-native \
	rdma-bond/tools/golden/ovs-hash-golden-mhash \
	rdma-bond/tools/golden/ovs-hash-golden-mhash-flow.o \
	rdma-bond/tools/golden/ovs-hash-golden-crc32 \
	rdma-bond/tools/golden/ovs-hash-golden-crc32-flow.o
