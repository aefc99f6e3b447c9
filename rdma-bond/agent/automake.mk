# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/agent/: ovs-rdma-bond-agent, the per-host daemon
# (docs/agent.md): the registry applications talk to, table following,
# the probe service, reports and metrics; and its tests.

# The agent's core, C++.
noinst_LIBRARIES += rdma-bond/agent/libagent.a
rdma_bond_agent_libagent_a_SOURCES = \
	rdma-bond/agent/agent.h \
	rdma-bond/agent/agent_c.cc \
	rdma-bond/agent/agent_core.cc \
	rdma-bond/agent/agent_core.h \
	rdma-bond/agent/agent_report.cc \
	rdma-bond/agent/bridge_lookup.cc \
	rdma-bond/agent/bridge_lookup.h \
	rdma-bond/agent/host_qps.cc \
	rdma-bond/agent/host_qps.h \
	rdma-bond/agent/load_table.cc \
	rdma-bond/agent/load_table.h \
	rdma-bond/agent/netlink_attr.h \
	rdma-bond/agent/probe_service.cc \
	rdma-bond/agent/probe_service.h \
	rdma-bond/agent/rdma_netlink.cc \
	rdma-bond/agent/rdma_netlink.h \
	rdma-bond/agent/registry.cc \
	rdma-bond/agent/registry.h \
	rdma-bond/agent/report_text.cc \
	rdma-bond/agent/report_text.h \
	rdma-bond/agent/roce_plan.cc \
	rdma-bond/agent/roce_plan.h \
	rdma-bond/agent/roce_plumbing.cc \
	rdma-bond/agent/roce_plumbing.h \
	rdma-bond/agent/rtnl.cc \
	rdma-bond/agent/rtnl.h \
	rdma-bond/agent/ud_directory.cc \
	rdma-bond/agent/ud_directory.h \
	rdma-bond/agent/ud_probe_link.cc \
	rdma-bond/agent/ud_probe_link.h

# The daemon's shell is C on OVS's own libraries (daemon, vlog, unixctl):
# compiled by its own rule (RDMA_BOND_OVS_CPPFLAGS, rdma-bond/automake.mk),
# and linked with the static libopenvswitch of $(OVS_BUILDDIR) and what
# that needs.  Makefile.am's all-local makes it after the OVS tree.
rdma-bond/agent/agent_main.o: $(srcdir)/rdma-bond/agent/agent_main.c \
		$(srcdir)/rdma-bond/agent/agent.h $(OVS_STAMP)
	@$(MKDIR_P) rdma-bond/agent
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) -Wno-sign-compare $(CFLAGS) \
		-c $(srcdir)/rdma-bond/agent/agent_main.c -o $@
CLEANFILES += rdma-bond/agent/agent_main.o

rdma-bond/agent/ovs-rdma-bond-agent: rdma-bond/agent/agent_main.o \
		$(RDMA_BOND_AGENT_LIBS) $(RDMA_BOND_OVS_LIB)
	$(AM_V_CXXLD)$(CXX) $(AM_CXXFLAGS) $(CXXFLAGS) $(LDFLAGS) -o $@ \
		rdma-bond/agent/agent_main.o $(RDMA_BOND_AGENT_LIBS) \
		$(RDMA_BOND_OVS_LIB) $(RDMA_BOND_OVS_LIBS) $(IBVERBS_LIBS) \
		$(LIBS) -lpthread
CLEANFILES += rdma-bond/agent/ovs-rdma-bond-agent

install-exec-local: install-rdma-bond-agent
install-rdma-bond-agent: rdma-bond/agent/ovs-rdma-bond-agent
	$(MKDIR_P) $(DESTDIR)$(sbindir)
	$(INSTALL_PROGRAM) rdma-bond/agent/ovs-rdma-bond-agent \
		$(DESTDIR)$(sbindir)
uninstall-local: uninstall-rdma-bond-agent
uninstall-rdma-bond-agent:
	rm -f $(DESTDIR)$(sbindir)/ovs-rdma-bond-agent
.PHONY: install-rdma-bond-agent uninstall-rdma-bond-agent

dist_man_MANS += rdma-bond/agent/ovs-rdma-bond-agent.8
EXTRA_DIST += rdma-bond/agent/agent_main.c docs/agent.md

if HAVE_GTEST
check_PROGRAMS += rdma-bond/agent/agent-tests
TESTS += rdma-bond/agent/agent-tests
endif
rdma_bond_agent_agent_tests_SOURCES = \
	rdma-bond/agent/agent_core_test.cc \
	rdma-bond/agent/host_qps_test.cc \
	rdma-bond/agent/load_table_test.cc \
	rdma-bond/agent/registry_test.cc \
	rdma-bond/agent/roce_plan_test.cc \
	rdma-bond/agent/roce_plumbing_test.cc \
	rdma-bond/agent/ud_directory_test.cc
rdma_bond_agent_agent_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_AGENT_LIBS) \
	$(IBVERBS_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
