# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/: the C++20 side of ovs-rdma-bond (included by Makefile.am).

# ---------------------------------------------------------------------------
# librdmabond: the table reader and its renderings.

noinst_LIBRARIES += rdma-bond/librdmabond.a
rdma_bond_librdmabond_a_SOURCES = \
	lib/rdma-bond-table.h \
	rdma-bond/include/rdma_bond/bond.h \
	rdma-bond/include/rdma_bond/status.h \
	rdma-bond/include/rdma_bond/table_reader.h \
	rdma-bond/bond.cc \
	rdma-bond/json_writer.cc \
	rdma-bond/json_writer.h \
	rdma-bond/status.cc \
	rdma-bond/table_format.cc \
	rdma-bond/table_format.h \
	rdma-bond/table_reader.cc \
	rdma-bond/include/rdma_bond/bond_discovery.h \
	rdma-bond/bond_discovery.cc \
	rdma-bond/include/rdma_bond/rnic.h \
	rdma-bond/include/rdma_bond/rnic_mux.h \
	rdma-bond/rnic.cc \
	rdma-bond/rnic_mux.cc

# ---------------------------------------------------------------------------
# rdma-bondctl.

bin_PROGRAMS += rdma-bond/rdma-bondctl
rdma_bond_rdma_bondctl_SOURCES = rdma-bond/rdma_bondctl.cc
rdma_bond_rdma_bondctl_LDADD = rdma-bond/librdmabond.a
dist_man_MANS += rdma-bond/rdma-bondctl.8

# ---------------------------------------------------------------------------
# Unit tests (GoogleTest).
#
# The table and seqlock tests write tables with the writer's own code,
# lib/rdma-bond-table.c.  That is OVS code: it includes OVS's config.h and
# headers from the patched Open vSwitch tree in $(OVS_BUILDDIR).  It is
# compiled by its own rule rather than listed in _SOURCES, because
# automake would add this project's $(DEFS) (-DPACKAGE_VERSION=...,
# -DVERSION=...), which OVS's config.h defines again (a -Werror error), and
# so that the OVS include directories (whose lib/memory.h shadows
# <memory.h>) stay away from the C++ sources.

RDMA_BOND_OVS_CPPFLAGS = -I$(OVS_BUILDDIR) -I$(OVS_BUILDDIR)/include \
	-I$(OVS_BUILDDIR)/lib -I$(top_srcdir)/lib

RDMA_BOND_WRITER_DEPS = \
	$(srcdir)/lib/rdma-bond-table.c \
	$(srcdir)/lib/rdma-bond-table.h \
	$(srcdir)/lib/rdma-bond-table-writer.h

rdma-bond/rdma-bond-table-writer.o: $(RDMA_BOND_WRITER_DEPS)
	@$(MKDIR_P) rdma-bond
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) -c $(srcdir)/lib/rdma-bond-table.c -o $@

EXTRA_DIST += lib/rdma-bond-table.c lib/rdma-bond-table-writer.h
CLEANFILES += rdma-bond/rdma-bond-table-writer.o

RDMA_BOND_UNIT_TEST_SRCS = \
	rdma-bond/json_writer_test.cc \
	rdma-bond/seqlock_test.cc \
	rdma-bond/status_test.cc \
	rdma-bond/table_format_test.cc \
	rdma-bond/table_reader_test.cc

RDMA_BOND_GTEST_LIBS = -lgtest -lgtest_main -lpthread

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rdma-bond-unit-tests
TESTS += rdma-bond/rdma-bond-unit-tests
endif
rdma_bond_rdma_bond_unit_tests_SOURCES = \
	$(RDMA_BOND_UNIT_TEST_SRCS) \
	rdma-bond/table_test_util.cc \
	rdma-bond/table_test_util.h
rdma_bond_rdma_bond_unit_tests_LDADD = \
	rdma-bond/rdma-bond-table-writer.o \
	rdma-bond/librdmabond.a \
	$(RDMA_BOND_GTEST_LIBS)
rdma_bond_rdma_bond_unit_tests_DEPENDENCIES = \
	rdma-bond/rdma-bond-table-writer.o \
	rdma-bond/librdmabond.a

# ---------------------------------------------------------------------------
# Sanitizer runs: "make check-tsan" and "make check-asan".
#
# Plain rules, so that the sanitizer builds never mix with the normal
# objects: each compiles every source it needs into one binary.
#
# check-tsan runs the seqlock test under ThreadSanitizer.  TSan does not
# model std::atomic_thread_fence (GCC says so with -Wtsan, hence
# -Wno-tsan): it cannot prove the fences right, the seqlock test's stamp
# checks do that.  What TSan does check is that every access of the
# writer and the readers to the shared table is atomic (a plain access
# racing with the writer is reported), which the same-mapping test lets it
# see.
#
# check-asan runs every unit test under AddressSanitizer and
# UndefinedBehaviorSanitizer; any report fails the run.

RDMA_BOND_LIB_SRCS = \
	rdma-bond/bond.cc \
	rdma-bond/json_writer.cc \
	rdma-bond/status.cc \
	rdma-bond/table_format.cc \
	rdma-bond/table_reader.cc

RDMA_BOND_HDRS = \
	lib/rdma-bond-table.h \
	lib/rdma-bond-table-writer.h \
	rdma-bond/include/rdma_bond/bond.h \
	rdma-bond/include/rdma_bond/status.h \
	rdma-bond/include/rdma_bond/table_reader.h \
	rdma-bond/json_writer.h \
	rdma-bond/table_format.h \
	rdma-bond/table_test_util.h

RDMA_BOND_TSAN_FLAGS = -fsanitize=thread -O1 -g
RDMA_BOND_ASAN_FLAGS = -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g

RDMA_BOND_TSAN_CXX_SRCS = $(RDMA_BOND_LIB_SRCS) \
	rdma-bond/seqlock_test.cc rdma-bond/table_test_util.cc
RDMA_BOND_ASAN_CXX_SRCS = $(RDMA_BOND_LIB_SRCS) \
	$(RDMA_BOND_UNIT_TEST_SRCS) rdma-bond/table_test_util.cc

RDMA_BOND_TSAN_DEPS = $(addprefix $(srcdir)/,\
	$(RDMA_BOND_TSAN_CXX_SRCS) $(RDMA_BOND_HDRS) lib/rdma-bond-table.c)
RDMA_BOND_ASAN_DEPS = $(addprefix $(srcdir)/,\
	$(RDMA_BOND_ASAN_CXX_SRCS) $(RDMA_BOND_HDRS) lib/rdma-bond-table.c)

rdma-bond/seqlock-test-tsan: $(RDMA_BOND_TSAN_DEPS)
	@$(MKDIR_P) rdma-bond
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(RDMA_BOND_TSAN_FLAGS) \
		-c $(srcdir)/lib/rdma-bond-table.c -o $@-rdma-bond-table.o
	$(AM_V_CXXLD)$(CXX) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CXXFLAGS) \
		$(CXXFLAGS) $(RDMA_BOND_TSAN_FLAGS) -Wno-tsan \
		$(addprefix $(srcdir)/,$(RDMA_BOND_TSAN_CXX_SRCS)) \
		$@-rdma-bond-table.o $(RDMA_BOND_GTEST_LIBS) -o $@

rdma-bond/rdma-bond-unit-tests-asan: $(RDMA_BOND_ASAN_DEPS)
	@$(MKDIR_P) rdma-bond
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(RDMA_BOND_ASAN_FLAGS) \
		-c $(srcdir)/lib/rdma-bond-table.c -o $@-rdma-bond-table.o
	$(AM_V_CXXLD)$(CXX) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CXXFLAGS) \
		$(CXXFLAGS) $(RDMA_BOND_ASAN_FLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_ASAN_CXX_SRCS)) \
		$@-rdma-bond-table.o $(RDMA_BOND_GTEST_LIBS) -o $@

check-tsan: rdma-bond/seqlock-test-tsan
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		./rdma-bond/seqlock-test-tsan

check-asan: rdma-bond/rdma-bond-unit-tests-asan
	ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" \
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
		./rdma-bond/rdma-bond-unit-tests-asan

.PHONY: check-tsan check-asan

CLEANFILES += \
	rdma-bond/seqlock-test-tsan \
	rdma-bond/seqlock-test-tsan-rdma-bond-table.o \
	rdma-bond/rdma-bond-unit-tests-asan \
	rdma-bond/rdma-bond-unit-tests-asan-rdma-bond-table.o
