// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "testing/predictor_test_util.h"

#include <cstdlib>

#include "rdma-bond-table.h"

namespace rdma_bond::testing {

Bond MakeBond(const BondSpec& spec) {
  Bond bond;
  bond.name = spec.name;
  bond.dp_type = "netdev";
  bond.generation = 1;
  bond.reasons = RDMA_BOND_REASON_ADDED;
  bond.mode = spec.mode;
  bond.lacp = spec.lacp;
  bond.lacp_fallback_ab = spec.lacp_fallback_ab;
  bond.regime = spec.regime;
  bond.basis = spec.basis;
  bond.active_member = spec.active_member;
  for (size_t i = 0; i < spec.n_members; i++) {
    Member member;
    member.name = "p" + std::to_string(i + 1);
    member.ofport = static_cast<uint32_t>(i + 1);
    member.mac = {0xaa, 0x55, 0xaa, 0x55, 0x00, static_cast<uint8_t>(i + 1)};
    member.flags =
        RDMA_BOND_M_ENABLED | RDMA_BOND_M_MAY_ENABLE | RDMA_BOND_M_CARRIER;
    bond.members.push_back(member);
  }
  for (size_t i = 0; i < bond.buckets.size(); i++) {
    bond.buckets[i] = spec.n_members == 0
                          ? RDMA_BOND_NO_MEMBER
                          : static_cast<uint8_t>(i % spec.n_members);
  }
  return bond;
}

std::vector<FiveTuple> PublisherTuples() {
  static const rdma_bond_self_test_tuple kTuples[] =
      RDMA_BOND_SELF_TEST_TUPLES;
  std::vector<FiveTuple> tuples;
  for (const auto& t : kTuples) {
    Result<IpAddress> src = ParseIpAddress(t.src);
    Result<IpAddress> dst = ParseIpAddress(t.dst);
    if (!src.ok() || !dst.ok()) {
      std::abort();  // The literals above are valid.
    }
    Result<FiveTuple> tuple = MakeUdpTuple(*src, *dst, t.sport);
    if (!tuple.ok()) {
      std::abort();
    }
    tuples.push_back(*tuple);
  }
  return tuples;
}

HashVector ComputeVector(HashImpl impl, const Bond& bond,
                         const FiveTuple& tuple) {
  HashVector v;
  v.ip_version = tuple.src.version;
  v.src = tuple.src.bytes;
  v.dst = tuple.dst.bytes;
  v.sport = tuple.sport;
  v.dport = tuple.dport;
  v.nw_proto = tuple.proto;
  const FlowKey key(tuple);
  v.hash_basis0 = FlowHash5Tuple(impl, key, 0);
  v.hash_basis = FlowHash5Tuple(impl, key, bond.basis);
  switch (bond.regime) {
    case HashRegime::kRecirc:
      v.hash_regime = HashInt(impl, v.hash_basis0, bond.basis);
      break;
    case HashRegime::kLbOutput:
      v.hash_regime = v.hash_basis0;
      break;
    case HashRegime::kXlate:
      v.hash_regime = v.hash_basis;
      break;
    case HashRegime::kNone:
      // regime_hash() returns 0 for none; kernel and slb publish 0.
    case HashRegime::kKernel:
    case HashRegime::kSlb:
      v.hash_regime = 0;
      break;
  }
  return v;
}

void FillVectors(HashImpl impl, Bond* bond) {
  bond->vectors.clear();
  for (const FiveTuple& tuple : PublisherTuples()) {
    bond->vectors.push_back(ComputeVector(impl, *bond, tuple));
  }
}

Bond TcpBond(uint32_t basis, size_t n_members) {
  BondSpec spec;
  spec.basis = basis;
  spec.n_members = n_members;
  Bond bond = MakeBond(spec);
  FillVectors(HashImpl::kMhash, &bond);
  return bond;
}

Bond AbBond(size_t active) {
  BondSpec spec;
  spec.mode = BondMode::kActiveBackup;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kNone;
  spec.active_member = active;
  Bond bond = MakeBond(spec);
  FillVectors(HashImpl::kMhash, &bond);
  return bond;
}

Bond WithDpdkMembers(Bond bond) {
  for (size_t i = 0; i < bond.members.size(); i++) {
    Member& m = bond.members[i];
    m.location.kind = RDMA_BOND_KIND_DPDK;
    m.location.netdev_type = "dpdk";
    m.location.kernel_netdev = m.name;
    m.name = "dpdk" + std::to_string(i);
  }
  return bond;
}

}  // namespace rdma_bond::testing
