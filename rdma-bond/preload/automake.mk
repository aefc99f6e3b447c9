# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/preload/: librdmabond-preload.so, the LD_PRELOAD library that
# pins the QPs of unmodified libibverbs and librdmacm programs
# (docs/preload.md), and ovs-rdma-bond-run, which runs a program with it.
#
# The library is its own build of the sources it needs (position
# independent, every symbol but the interposed ones local through
# preload.map), so that it pulls neither librdmabond.so nor libibverbs
# into a program: it finds libibverbs's functions with dlvsym() in the
# program's own lookup order.
#
# Its tests: preload-core-tests (the decisions, on fake sysfs trees and
# tables) and preload-tests, a program linked against a fake libibverbs
# and librdmacm (libfakeverbs.so: the same symbols and versions, recording
# every call) that runs itself with LD_PRELOAD=librdmabond-preload.so of
# the build tree, so that the real interposition is what is tested.

if HAVE_VERBS
# In $(libdir)/ovs-rdma-bond/: a module nothing links against, so not in
# the linker's path (nor ldconfig's).
pkglib_LTLIBRARIES = rdma-bond/preload/librdmabond-preload.la
bin_SCRIPTS += rdma-bond/preload/ovs-rdma-bond-run
dist_man_MANS += rdma-bond/preload/librdmabond-preload.8
endif
rdma_bond_preload_librdmabond_preload_la_SOURCES = \
	rdma-bond/preload/preload.cc \
	rdma-bond/preload/preload_core.cc \
	rdma-bond/preload/preload_core.h \
	rdma-bond/preload/send_counters.h \
	rdma-bond/conn/agent_client.cc \
	rdma-bond/conn/registry_protocol.cc \
	rdma-bond/rnic/verbs/rdma_sysfs.cc \
	$(rdma_bond_common_libcommon_a_SOURCES) \
	$(rdma_bond_table_libtable_a_SOURCES) \
	$(rdma_bond_predict_libpredict_a_SOURCES) \
	$(rdma_bond_rnic_librnic_a_SOURCES)
rdma_bond_preload_librdmabond_preload_la_CXXFLAGS = $(AM_CXXFLAGS)
rdma_bond_preload_librdmabond_preload_la_LDFLAGS = -module -avoid-version \
	-shared -no-undefined \
	-Wl,--version-script=$(srcdir)/rdma-bond/preload/preload.map
rdma_bond_preload_librdmabond_preload_la_LIBADD = -ldl -lpthread
EXTRA_rdma_bond_preload_librdmabond_preload_la_DEPENDENCIES = \
	rdma-bond/preload/preload.map
EXTRA_DIST += \
	rdma-bond/preload/preload.map \
	rdma-bond/preload/fake_verbs.c \
	rdma-bond/preload/fake_verbs.h \
	rdma-bond/preload/fake_verbs.map \
	rdma-bond/preload/ovs-rdma-bond-run.in

rdma-bond/preload/ovs-rdma-bond-run: rdma-bond/preload/ovs-rdma-bond-run.in
	@$(MKDIR_P) rdma-bond/preload
	$(AM_V_GEN)sed -e 's|@pkglibdir[@]|$(pkglibdir)|g' \
		-e 's|@VERSION[@]|$(VERSION)|g' $< > $@.tmp && \
		chmod +x $@.tmp && mv $@.tmp $@
CLEANFILES += rdma-bond/preload/ovs-rdma-bond-run

# The fake libibverbs: a plain shared object, never installed.
rdma-bond/preload/libfakeverbs.so: $(srcdir)/rdma-bond/preload/fake_verbs.c \
		$(srcdir)/rdma-bond/preload/fake_verbs.h \
		$(srcdir)/rdma-bond/preload/fake_verbs.map
	@$(MKDIR_P) rdma-bond/preload
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -fPIC -shared \
		-Wl,--version-script=$(srcdir)/rdma-bond/preload/fake_verbs.map \
		-Wl,-soname,libfakeverbs.so \
		-o $@ $(srcdir)/rdma-bond/preload/fake_verbs.c
CLEANFILES += rdma-bond/preload/libfakeverbs.so

if HAVE_VERBS
if HAVE_GTEST
check_PROGRAMS += rdma-bond/preload/preload-core-tests \
	rdma-bond/preload/preload-tests
TESTS += rdma-bond/preload/preload-core-tests rdma-bond/preload/preload-tests
endif
endif
rdma_bond_preload_preload_core_tests_SOURCES = \
	rdma-bond/preload/preload_core.cc \
	rdma-bond/preload/preload_core_test.cc \
	rdma-bond/preload/send_counters_test.cc
rdma_bond_preload_preload_core_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	rdma-bond/rnic/verbs/libverbs.a \
	$(RDMA_BOND_CONN_LIBS) \
	$(IBVERBS_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)

rdma_bond_preload_preload_tests_SOURCES = \
	rdma-bond/preload/preload_test.cc
rdma_bond_preload_preload_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	rdma-bond/rnic/verbs/libverbs.a \
	$(RDMA_BOND_CONN_LIBS) \
	-lfakeverbs $(RDMA_BOND_GTEST_LIBS) -ldl
rdma_bond_preload_preload_tests_LDFLAGS = -Lrdma-bond/preload \
	-Wl,-rpath,$(abs_builddir)/rdma-bond/preload
EXTRA_rdma_bond_preload_preload_tests_DEPENDENCIES = \
	rdma-bond/preload/libfakeverbs.so
