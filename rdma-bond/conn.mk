# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/conn.mk: multipath connections over the Rnic interface, their
# TCP side channel and per-path pinning, the client of the agent's
# registry; the C API.

noinst_LIBRARIES += rdma-bond/librdmabond-conn.a
rdma_bond_librdmabond_conn_a_SOURCES = \
	rdma-bond/include/rdma_bond/agent_client.h \
	rdma-bond/include/rdma_bond/connection.h \
	rdma-bond/include/rdma_bond/path_planner.h \
	rdma-bond/include/rdma_bond/side_channel.h \
	rdma-bond/include/rdma_bond/rdmabond.h \
	rdma-bond/agent_client.cc \
	rdma-bond/connection.cc \
	rdma-bond/connection_agent.cc \
	rdma-bond/connection_internal.h \
	rdma-bond/connection_paths.cc \
	rdma-bond/path_planner.cc \
	rdma-bond/poll_deadline.h \
	rdma-bond/side_channel.cc \
	rdma-bond/c_api.cc

if HAVE_GTEST
check_PROGRAMS += rdma-bond/rdma-bond-conn-tests
TESTS += rdma-bond/rdma-bond-conn-tests
endif
rdma_bond_rdma_bond_conn_tests_SOURCES = \
	rdma-bond/fake_agent.cc \
	rdma-bond/fake_agent.h \
	rdma-bond/fake_rnic.cc \
	rdma-bond/fake_rnic.h \
	rdma-bond/predictor_test_util.cc \
	rdma-bond/predictor_test_util.h \
	rdma-bond/agent_client_test.cc \
	rdma-bond/connection_agent_test.cc \
	rdma-bond/connection_test.cc \
	rdma-bond/connection_test_util.cc \
	rdma-bond/connection_test_util.h \
	rdma-bond/rnic_mux_test.cc \
	rdma-bond/c_api_bond_test.cc \
	rdma-bond/table_test_util.cc \
	rdma-bond/table_test_util.h \
	rdma-bond/path_planner_test.cc \
	rdma-bond/side_channel_test.cc \
	rdma-bond/perf_net.cc \
	rdma-bond/perf_net.h \
	rdma-bond/perf_net_test.cc \
	rdma-bond/c_api_test.c
rdma_bond_rdma_bond_conn_tests_LDADD = \
	rdma-bond/rdma-bond-table-writer.o \
	rdma-bond/librdmabond-conn.a \
	rdma-bond/librdmabond.a \
	$(RDMA_BOND_GTEST_LIBS)

# ---------------------------------------------------------------------------
# AddressSanitizer/UBSan run of the emulated RNIC and connection tests
# ("make check-asan"; a plain rule like rdma-bond-unit-tests-asan's).

RDMA_BOND_RDMA_ASAN_CXX_SRCS = \
	$(filter %.cc,$(rdma_bond_librdmabond_a_SOURCES)) \
	$(filter %.cc,$(rdma_bond_librdmabond_emu_a_SOURCES)) \
	$(filter %.cc,$(rdma_bond_librdmabond_conn_a_SOURCES)) \
	$(filter %.cc,$(rdma_bond_rdma_bond_emu_tests_SOURCES)) \
	$(filter %.cc,$(rdma_bond_rdma_bond_conn_tests_SOURCES))
RDMA_BOND_RDMA_ASAN_DEPS = $(addprefix $(srcdir)/,\
	$(RDMA_BOND_RDMA_ASAN_CXX_SRCS) rdma-bond/c_api_test.c \
	lib/rdma-bond-table.c) \
	$(wildcard $(srcdir)/rdma-bond/include/rdma_bond/*.h)

rdma-bond/rdma-bond-rdma-tests-asan: $(RDMA_BOND_RDMA_ASAN_DEPS)
	@$(MKDIR_P) rdma-bond
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(RDMA_BOND_OVS_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(RDMA_BOND_ASAN_FLAGS) \
		-c $(srcdir)/lib/rdma-bond-table.c -o $@-rdma-bond-table.o
	$(AM_V_CC)$(CC) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS) \
		$(RDMA_BOND_ASAN_FLAGS) \
		-c $(srcdir)/rdma-bond/c_api_test.c -o $@-c_api_test.o
	$(AM_V_CXXLD)$(CXX) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CXXFLAGS) \
		$(CXXFLAGS) $(RDMA_BOND_ASAN_FLAGS) \
		$(addprefix $(srcdir)/,$(RDMA_BOND_RDMA_ASAN_CXX_SRCS)) \
		$@-rdma-bond-table.o $@-c_api_test.o $(RDMA_BOND_GTEST_LIBS) \
		-o $@

check-asan: check-asan-rdma
check-asan-rdma: rdma-bond/rdma-bond-rdma-tests-asan
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		./rdma-bond/rdma-bond-rdma-tests-asan
.PHONY: check-asan-rdma
CLEANFILES += rdma-bond/rdma-bond-rdma-tests-asan \
	rdma-bond/rdma-bond-rdma-tests-asan-rdma-bond-table.o \
	rdma-bond/rdma-bond-rdma-tests-asan-c_api_test.o
