// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Bond discovery: from a local IP address to the OVS bond whose members
// carry it.
//
// An RDMA application knows its IP address; the bond behind it is found
// the way an operator would: the interface that holds the address (an OVS
// internal port such as br0), its bridge (ovs-vsctl iface-to-br), the
// bridge's ports (ovs-vsctl list-ports) and, among them, the bond that
// ovs-vswitchd publishes in its table ($OVS_RUNDIR/rdma-bond.shm).  Either
// step can be overridden (--bond, --shm).
//
// Thread-safety: DiscoverBond() runs ovs-vsctl and reads the table; call
// it from one thread.
#ifndef RDMA_BOND_BOND_DISCOVERY_H_
#define RDMA_BOND_BOND_DISCOVERY_H_

#include <string>

#include "rdma_bond/bond.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond {

struct BondDiscoveryOptions {
  std::string bond;       // Use this bond ("" = find it from the address).
  std::string shm_path;   // The table ("" = DefaultTablePath()).
  std::string ovs_vsctl = "ovs-vsctl";  // Found in PATH.
};

struct DiscoveredBond {
  // The interface that holds the address and its MAC (the source of the
  // host's frames); "" and zero if none does and the bond was given.
  std::string interface;
  MacAddress mac{};
  std::string bridge;     // "" if not asked (--bond given) or unknown.
  std::string shm_path;
  Bond bond;              // The bond as published when discovered.
  uint32_t hash_impl = 0; // The table's hash implementation.
};

// The interface that holds 'address' and its MAC address; NotFound naming
// the address if no interface holds it.
Result<std::pair<std::string, MacAddress>> FindInterfaceOf(
    const IpAddress& address);

Result<DiscoveredBond> DiscoverBond(const IpAddress& local,
                                    const BondDiscoveryOptions& options);

}  // namespace rdma_bond

#endif  // RDMA_BOND_BOND_DISCOVERY_H_
