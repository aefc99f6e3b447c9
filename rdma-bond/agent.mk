# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/agent.mk: ovs-rdma-bond-agent, the per-host daemon (docs/agent.md),
# and its tests.  Included by Makefile.am after rdma-bond/probe.mk.

# The agent's core, C++: registry, table following, probing, reports.
noinst_LIBRARIES += rdma-bond/librdmabond-agent.a
rdma_bond_librdmabond_agent_a_SOURCES = \
	rdma-bond/agent/agent.h \
	rdma-bond/agent/agent_c.cc \
	rdma-bond/agent/agent_core.cc \
	rdma-bond/agent/agent_core.h \
	rdma-bond/agent/agent_report.cc \
	rdma-bond/agent/probe_service.cc \
	rdma-bond/agent/probe_service.h \
	rdma-bond/agent/registry.cc \
	rdma-bond/agent/registry.h
rdma_bond_librdmabond_agent_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/rdma-bond

RDMA_BOND_AGENT_LIBS = \
	rdma-bond/librdmabond-agent.a \
	rdma-bond/librdmabond-probe.a \
	rdma-bond/librdmabond-emu.a \
	rdma-bond/librdmabond.a

# The daemon's shell is C on OVS's own libraries (daemon, vlog, unixctl):
# compiled by its own rule for the reason given at
# rdma-bond-table-writer.o in rdma-bond/automake.mk, and linked with the
# static libopenvswitch of $(OVS_BUILDDIR) and what that needs
# ($(RDMA_BOND_OVS_LIB) and $(RDMA_BOND_OVS_LIBS), rdma-bond/predict.mk).
rdma-bond/agent/agent_main.o: $(srcdir)/rdma-bond/agent/agent_main.c \
		$(srcdir)/rdma-bond/agent/agent.h $(OVS_STAMP)
	@$(MKDIR_P) rdma-bond/agent
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) \
		-I$(srcdir)/rdma-bond $(CPPFLAGS) $(AM_CFLAGS) -Wno-sign-compare \
		$(CFLAGS) -c $(srcdir)/rdma-bond/agent/agent_main.c -o $@
CLEANFILES += rdma-bond/agent/agent_main.o

rdma-bond/ovs-rdma-bond-agent: rdma-bond/agent/agent_main.o \
		$(RDMA_BOND_AGENT_LIBS) $(RDMA_BOND_OVS_LIB)
	$(AM_V_CXXLD)$(CXX) $(AM_CXXFLAGS) $(CXXFLAGS) $(LDFLAGS) -o $@ \
		rdma-bond/agent/agent_main.o $(RDMA_BOND_AGENT_LIBS) \
		$(RDMA_BOND_OVS_LIB) $(RDMA_BOND_OVS_LIBS) $(LIBS) -lpthread
CLEANFILES += rdma-bond/ovs-rdma-bond-agent

install-exec-local: install-rdma-bond-agent
install-rdma-bond-agent: rdma-bond/ovs-rdma-bond-agent
	$(MKDIR_P) $(DESTDIR)$(sbindir)
	$(INSTALL_PROGRAM) rdma-bond/ovs-rdma-bond-agent $(DESTDIR)$(sbindir)
uninstall-local: uninstall-rdma-bond-agent
uninstall-rdma-bond-agent:
	rm -f $(DESTDIR)$(sbindir)/ovs-rdma-bond-agent
.PHONY: install-rdma-bond-agent uninstall-rdma-bond-agent

dist_man_MANS += rdma-bond/ovs-rdma-bond-agent.8
EXTRA_DIST += rdma-bond/agent/agent_main.c docs/agent.md

# ---------------------------------------------------------------------------
# Tests.

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rdma-bond-agent-tests
TESTS += rdma-bond/rdma-bond-agent-tests
endif
rdma_bond_rdma_bond_agent_tests_SOURCES = \
	rdma-bond/agent/registry_test.cc \
	rdma-bond/agent/agent_core_test.cc \
	rdma-bond/predictor_test_util.cc \
	rdma-bond/predictor_test_util.h \
	rdma-bond/table_test_util.cc \
	rdma-bond/table_test_util.h
rdma_bond_rdma_bond_agent_tests_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(srcdir)/rdma-bond
rdma_bond_rdma_bond_agent_tests_LDADD = \
	rdma-bond/rdma-bond-table-writer.o \
	$(RDMA_BOND_AGENT_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
