// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The RNICs of rdma-bond-perf: one per bond member, from the backend named
// on the command line ("verbs" or "emulated").
#ifndef RDMA_BOND_PERF_BACKEND_H_
#define RDMA_BOND_PERF_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"
#include "table/bond_discovery.h"

namespace rdma_bond {

// Opens backend 'backend' on every member of 'found.bond', in member
// order.  Fails naming the member and the way out.
Result<std::vector<std::unique_ptr<Rnic>>> OpenBackend(
    const std::string& backend, const DiscoveredBond& found,
    const IpAddress& local);

}  // namespace rdma_bond

#endif  // RDMA_BOND_PERF_BACKEND_H_
