// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The C binding of the verbs backend (rdma_bond/rdmabond.h).

#include <cerrno>
#include <memory>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rdmabond.h"
#include "rdma_bond/status.h"
#if RDMA_BOND_HAVE_VERBS
#include "rnic/verbs/verbs_rnic.h"
#endif

extern "C" int rdma_bond_rnic_open_verbs(const char* member, const char* ip,
                                         struct rdma_bond_rnic** rnicp) {
  using namespace rdma_bond;
  if (rnicp != nullptr) *rnicp = nullptr;
  if (member == nullptr || ip == nullptr || rnicp == nullptr) {
    return rdma_bond_c_api_fail(Status::InvalidArgument(
        "rdma_bond_rnic_open_verbs: member, ip and rnicp are required"));
  }
  Result<IpAddress> address = ParseIpAddress(ip);
  if (!address.ok()) {
    return rdma_bond_c_api_fail(address.status());
  }
#if RDMA_BOND_HAVE_VERBS
  VerbsRnicOptions options;
  options.member = member;
  options.local_ip = *address;
  Result<std::unique_ptr<VerbsRnic>> rnic = VerbsRnic::Open(options);
  if (!rnic.ok()) {
    return rdma_bond_c_api_fail(rnic.status());
  }
  *rnicp = rdma_bond_rnic_adopt(std::move(*rnic));
  return 0;
#else
  (void)member;
  rdma_bond_c_api_fail(Status::NotSupported(
      "rdma_bond_rnic_open_verbs: librdmabond was built without libibverbs "
      "(install libibverbs-dev and rebuild), use the emulated RNIC"));
  return -ENOSYS;
#endif
}
