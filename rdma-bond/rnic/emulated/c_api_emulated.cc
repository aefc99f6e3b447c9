// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The C binding of the emulated RNIC (rdma_bond/rdmabond.h).

#include <cerrno>
#include <memory>
#include <string>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rdmabond.h"
#include "rdma_bond/status.h"
#include "rnic/emulated/emulated_rnic.h"
#include "table/bond_discovery.h"

extern "C" int rdma_bond_rnic_open_emulated(const char* member,
                                            const char* ip,
                                            struct rdma_bond_rnic** rnicp) {
  using namespace rdma_bond;
  if (rnicp != nullptr) *rnicp = nullptr;
  if (member == nullptr || ip == nullptr || rnicp == nullptr) {
    return rdma_bond_c_api_fail(Status::InvalidArgument(
        "rdma_bond_rnic_open_emulated: member, ip and rnicp are required"));
  }
  Result<IpAddress> address = ParseIpAddress(ip);
  if (!address.ok()) {
    return rdma_bond_c_api_fail(address.status());
  }
  EmulatedRnicOptions options;
  options.member = member;
  options.local_ip = *address;
  // The host's frames carry the MAC of the interface that holds its
  // address (an OVS internal port), as the bond's own frames do.
  Result<std::pair<std::string, MacAddress>> iface = FindInterfaceOf(*address);
  if (!iface.ok()) {
    return rdma_bond_c_api_fail(iface.status());
  }
  options.source_mac = iface->second;
  Result<std::unique_ptr<EmulatedRnic>> rnic = EmulatedRnic::Open(options);
  if (!rnic.ok()) {
    return rdma_bond_c_api_fail(rnic.status());
  }
  *rnicp = rdma_bond_rnic_adopt(std::move(*rnic));
  return 0;
}
