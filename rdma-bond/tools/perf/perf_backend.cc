// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/perf/perf_backend.h"

#include "rnic/emulated/emulated_rnic.h"
#if RDMA_BOND_HAVE_VERBS
#include "rnic/verbs/verbs_rnic.h"
#endif

namespace rdma_bond {

Result<std::vector<std::unique_ptr<Rnic>>> OpenBackend(
    const std::string& backend, const DiscoveredBond& found,
    const IpAddress& local) {
  std::vector<std::unique_ptr<Rnic>> rnics;
  if (backend == "none") {
    return rnics;   // No RDMA here: the connections run over TCP only.
  }
  if (backend == "verbs") {
#if RDMA_BOND_HAVE_VERBS
    if (Status s = CheckVerbsAvailable(); !s.ok()) {
      return s;
    }
    for (const Member& member : found.bond.members) {
      VerbsRnicOptions options;
      options.member = member.name;
      if (member.location.kind == RDMA_BOND_KIND_DPDK) {
        options.netdev = member.Netdev();
        options.pci = member.location.pci;
      }
      options.local_ip = local;
      Result<std::unique_ptr<VerbsRnic>> rnic = VerbsRnic::Open(options);
      if (!rnic.ok()) {
        return rnic.status().WithPrefix("bond " + found.bond.name +
                                        ", member " + member.name);
      }
      rnics.push_back(std::move(*rnic));
    }
    return rnics;
#else
    return Status::NotSupported(
        "this build has no verbs backend (configure did not find "
        "libibverbs-dev): use --backend emulated or rebuild");
#endif
  }
  for (const Member& member : found.bond.members) {
    EmulatedRnicOptions options;
    options.member = member.name;
    options.local_ip = local;
    // The host's frames carry the MAC of the interface that holds its
    // address, as the bond's own frames do.
    options.source_mac = found.mac;
    Result<std::unique_ptr<EmulatedRnic>> rnic = EmulatedRnic::Open(options);
    if (!rnic.ok()) {
      return rnic.status().WithPrefix("bond " + found.bond.name +
                                      ", member " + member.name);
    }
    rnics.push_back(std::move(*rnic));
  }
  return rnics;
}

}  // namespace rdma_bond
