# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/testing/: fakes and test utilities for the tests of every
# folder: tables written with the writer's own code, a fake RNIC, a fake
# agent, prediction and connection helpers.  Never installed, never in
# librdmabond.  Also home of the sanitizer builds' objects
# (rdma-bond/automake.mk).
#
# The tables are written by lib/rdma-bond-table.c, the writer ovs-vswitchd
# runs: OVS code, compiled by its own rule (RDMA_BOND_OVS_CPPFLAGS,
# rdma-bond/automake.mk) and added to the library.

RDMA_BOND_WRITER_DEPS = \
	$(srcdir)/lib/rdma-bond-table.c \
	$(srcdir)/lib/rdma-bond-table.h \
	$(srcdir)/lib/rdma-bond-table-writer.h

rdma-bond/testing/rdma-bond-table-writer.o: $(RDMA_BOND_WRITER_DEPS)
	@$(MKDIR_P) rdma-bond/testing
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) -c $(srcdir)/lib/rdma-bond-table.c -o $@
EXTRA_DIST += lib/rdma-bond-table.c lib/rdma-bond-table-writer.h
CLEANFILES += rdma-bond/testing/rdma-bond-table-writer.o

# The load table's reader (lib/rdma-bond-load.c), ovs-vswitchd's code,
# for the tests of the agent's writer.
RDMA_BOND_LOAD_READER_DEPS = \
	$(srcdir)/lib/rdma-bond-load.c \
	$(srcdir)/lib/rdma-bond-load.h \
	$(srcdir)/lib/rdma-bond-table.h
rdma-bond/testing/rdma-bond-load-reader.o: $(RDMA_BOND_LOAD_READER_DEPS)
	@$(MKDIR_P) rdma-bond/testing
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) -c $(srcdir)/lib/rdma-bond-load.c -o $@
EXTRA_DIST += lib/rdma-bond-load.c lib/rdma-bond-load.h
CLEANFILES += rdma-bond/testing/rdma-bond-load-reader.o

noinst_LIBRARIES += rdma-bond/testing/libtesting.a
rdma_bond_testing_libtesting_a_SOURCES = \
	rdma-bond/testing/connection_test_util.cc \
	rdma-bond/testing/connection_test_util.h \
	rdma-bond/testing/fake_agent.cc \
	rdma-bond/testing/fake_agent.h \
	rdma-bond/testing/fake_rnic.cc \
	rdma-bond/testing/fake_rnic.h \
	rdma-bond/testing/fake_sysfs.h \
	rdma-bond/testing/linux_bond_example.h \
	rdma-bond/testing/predictor_test_util.cc \
	rdma-bond/testing/predictor_test_util.h \
	rdma-bond/testing/probe_test_util.h \
	rdma-bond/testing/table_test_util.cc \
	rdma-bond/testing/table_test_util.h \
	rdma-bond/testing/wait_test_util.cc \
	rdma-bond/testing/wait_test_util.h
rdma_bond_testing_libtesting_a_LIBADD = \
	rdma-bond/testing/rdma-bond-table-writer.o \
	rdma-bond/testing/rdma-bond-load-reader.o

# The lab's attacker (utilities/ovs-rdma-bond-scenarios probe-attack):
# forged probe frames through AF_PACKET.  Built with the tree, never
# installed.
noinst_PROGRAMS += rdma-bond/testing/probe-forge
rdma_bond_testing_probe_forge_SOURCES = rdma-bond/testing/probe_forge.cc
rdma_bond_testing_probe_forge_LDADD = $(RDMA_BOND_PROBE_LIBS)
