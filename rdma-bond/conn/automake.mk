# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/conn/: multipath connections over the Rnic interface (one path
# per bond member, pinned, re-pinned, moved on failure), their TCP side
# channel, the client of the agent's registry (how an application talks to
# ovs-rdma-bond-agent), and the C API (rdma_bond/rdmabond.h).

noinst_LIBRARIES += rdma-bond/conn/libconn.a
rdma_bond_conn_libconn_a_SOURCES = \
	rdma-bond/include/rdma_bond/agent_client.h \
	rdma-bond/include/rdma_bond/connection.h \
	rdma-bond/include/rdma_bond/rdmabond.h \
	rdma-bond/include/rdma_bond/side_channel.h \
	rdma-bond/conn/agent_client.cc \
	rdma-bond/conn/c_api.cc \
	rdma-bond/conn/connection.cc \
	rdma-bond/conn/connection_agent.cc \
	rdma-bond/conn/connection_internal.h \
	rdma-bond/conn/connection_paths.cc \
	rdma-bond/conn/registry_protocol.cc \
	rdma-bond/conn/registry_protocol.h \
	rdma-bond/conn/side_channel.cc \
	rdma-bond/conn/side_channel_tcp.cc \
	rdma-bond/conn/side_messages.cc \
	rdma-bond/conn/side_messages.h

if HAVE_GTEST
check_PROGRAMS += rdma-bond/conn/conn-tests
TESTS += rdma-bond/conn/conn-tests
endif
rdma_bond_conn_conn_tests_SOURCES = \
	rdma-bond/conn/agent_client_test.cc \
	rdma-bond/conn/c_api_bond_test.cc \
	rdma-bond/conn/c_api_test.c \
	rdma-bond/conn/connection_agent_test.cc \
	rdma-bond/conn/connection_test.cc \
	rdma-bond/conn/registry_protocol_test.cc \
	rdma-bond/conn/side_channel_test.cc
rdma_bond_conn_conn_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_CONN_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
