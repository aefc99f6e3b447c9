// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The Linux bond of the VM lab's migration scenarios, as a value
// (tools/migrate/linux_bond.h), for the tests of ovs-rdma-bond-migrate.

#ifndef RDMA_BOND_TESTING_LINUX_BOND_EXAMPLE_H_
#define RDMA_BOND_TESTING_LINUX_BOND_EXAMPLE_H_

#include "tools/migrate/linux_bond.h"

namespace rdma_bond::testing {

// NUD_PERMANENT and NUD_REACHABLE (linux/neighbour.h).
inline constexpr uint16_t kNudPermanent = 0x80;
inline constexpr uint16_t kNudReachable = 0x02;

// Host 1 on an active-backup bond: eth0 (active, primary) and eth1, its
// address, a static route and a permanent neighbour through it, and its
// peer as a reachable neighbour.
inline migrate::LinuxBond LabActiveBackupBond() {
  migrate::LinuxBond b;
  b.name = "bond0";
  b.ifindex = 7;
  b.mtu = 1500;
  b.mac = "02:79:00:00:00:01";
  b.up = true;
  b.options.mode = migrate::kModeActiveBackup;
  b.options.miimon = 100;
  b.options.updelay = 200;
  b.options.downdelay = 100;
  b.options.primary = "eth0";
  b.members = {{"eth0", 3, 1500, true}, {"eth1", 4, 1500, false}};
  b.addresses = {{4, "10.79.0.1", 24, "10.79.0.255", 0, "", false}};
  b.routes = {{4, 254, "10.79.9.0/24", "10.79.0.2", "", 0, 0, 3, 1, ""}};
  b.neighbours = {{4, "10.79.0.250", "02:79:00:00:00:fa", kNudPermanent},
                  {4, "10.79.0.2", "02:79:00:00:00:02", kNudReachable}};
  return b;
}

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_TESTING_LINUX_BOND_EXAMPLE_H_
