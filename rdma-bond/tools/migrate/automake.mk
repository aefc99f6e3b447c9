# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# rdma-bond/tools/migrate/: ovs-rdma-bond-migrate, a live Linux bond to an
# OVS bond that RDMA follows and back (docs/migration.md).  Reading the
# bond, planning and the state file are a library of their own, so that
# the tests run them.

noinst_LIBRARIES += rdma-bond/tools/migrate/libmigrate.a
rdma_bond_tools_migrate_libmigrate_a_SOURCES = \
	rdma-bond/tools/migrate/linux_bond.cc \
	rdma-bond/tools/migrate/linux_bond.h \
	rdma-bond/tools/migrate/migration_plan.cc \
	rdma-bond/tools/migrate/migration_plan.h \
	rdma-bond/tools/migrate/migration_state.cc \
	rdma-bond/tools/migrate/migration_state.h

sbin_PROGRAMS += rdma-bond/tools/migrate/ovs-rdma-bond-migrate
rdma_bond_tools_migrate_ovs_rdma_bond_migrate_SOURCES = \
	rdma-bond/tools/migrate/ovs_rdma_bond_migrate.cc
rdma_bond_tools_migrate_ovs_rdma_bond_migrate_LDADD = $(RDMA_BOND_MIGRATE_LIBS)
dist_man_MANS += rdma-bond/tools/migrate/ovs-rdma-bond-migrate.8

if HAVE_GTEST
check_PROGRAMS += rdma-bond/tools/migrate/migrate-tests
TESTS += rdma-bond/tools/migrate/migrate-tests
endif
rdma_bond_tools_migrate_migrate_tests_SOURCES = \
	rdma-bond/tools/migrate/linux_bond_test.cc \
	rdma-bond/tools/migrate/migration_plan_test.cc \
	rdma-bond/tools/migrate/migration_state_test.cc
rdma_bond_tools_migrate_migrate_tests_LDADD = \
	$(RDMA_BOND_TESTING_LIBS) \
	$(RDMA_BOND_MIGRATE_LIBS) \
	$(RDMA_BOND_GTEST_LIBS)
EXTRA_DIST += docs/migration.md
