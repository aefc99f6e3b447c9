# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/table/: reading the table ovs-vswitchd publishes
# (lib/rdma-bond-table.h): the seqlock reader, bond snapshots, bond
# discovery (which bond and member hold an address), the change notifier
# (waiting for a change without polling) and the table's text and JSON
# renderings.

noinst_LIBRARIES += rdma-bond/table/libtable.a
rdma_bond_table_libtable_a_SOURCES = \
	lib/rdma-bond-table.h \
	rdma-bond/include/rdma_bond/bond.h \
	rdma-bond/include/rdma_bond/change_notifier.h \
	rdma-bond/include/rdma_bond/table_reader.h \
	rdma-bond/table/bond.cc \
	rdma-bond/table/bond_discovery.cc \
	rdma-bond/table/bond_discovery.h \
	rdma-bond/table/change_notifier.cc \
	rdma-bond/table/fault_guard.cc \
	rdma-bond/table/fault_guard.h \
	rdma-bond/table/table_format.cc \
	rdma-bond/table/table_format.h \
	rdma-bond/table/table_reader.cc

if HAVE_GTEST
check_PROGRAMS += rdma-bond/table/table-tests
TESTS += rdma-bond/table/table-tests
endif
rdma_bond_table_table_tests_SOURCES = \
	rdma-bond/table/change_notifier_test.cc \
	rdma-bond/table/fault_guard_test.cc \
	rdma-bond/table/member_location_test.cc \
	rdma-bond/table/seqlock_test.cc \
	rdma-bond/table/table_format_test.cc \
	rdma-bond/table/table_reader_test.cc \
	rdma-bond/table/table_reader_wait_test.cc
rdma_bond_table_table_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_TABLE_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
