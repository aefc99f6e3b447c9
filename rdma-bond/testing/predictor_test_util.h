// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Test and benchmark helpers: published bonds built in memory, as
// DecodeBondRecord() would return them, for the predictor.
//
// MakeBond() gives a valid Bond (members "p1".."pN", enabled, bucket i on
// member i % N) in any mode, LACP status and regime.  FillVectors() adds
// the self-test vectors the way ofproto/bond-publish.c's fill_vectors()
// does, for its eight tuples, but hashed by this reader (ovs_hash.cc): for
// benchmarks and for tests whose subject is not the hash.  Tests of the
// hash itself take vectors from OVS's golden values instead
// (predictor_test.cc).
//
// Thread-safety: pure functions.

#ifndef RDMA_BOND_PREDICTOR_TEST_UTIL_H_
#define RDMA_BOND_PREDICTOR_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rdma_bond/bond.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/ovs_hash.h"

namespace rdma_bond::testing {

struct BondSpec {
  std::string name = "bond0";
  BondMode mode = BondMode::kBalanceTcp;
  LacpStatus lacp = LacpStatus::kNegotiated;
  bool lacp_fallback_ab = false;
  HashRegime regime = HashRegime::kRecirc;
  uint32_t basis = 7;
  size_t n_members = 2;
  std::optional<size_t> active_member = 0;
};

// A bond as described by 'spec', without vectors.
Bond MakeBond(const BondSpec& spec);

// The eight self-test tuples of ofproto/bond-publish.c.
std::vector<FiveTuple> PublisherTuples();

// The vector of 'tuple' for 'bond' as fill_vectors() computes it, hashed
// with 'impl'.
// REQUIRES: HashImplAvailable(impl).ok().
HashVector ComputeVector(HashImpl impl, const Bond& bond,
                         const FiveTuple& tuple);

// Sets bond->vectors to the vectors of PublisherTuples().
void FillVectors(HashImpl impl, Bond* bond);

// A balance-tcp bond with negotiated LACP (recirculation regime) of
// 'n_members' members, with its mhash vectors.
Bond TcpBond(uint32_t basis = 7, size_t n_members = 2);

// An active-backup bond (LACP off, no hash) whose active member is
// 'active', with its mhash vectors.
Bond AbBond(size_t active);

// 'bond' with its members made DPDK ports "dpdk0", "dpdk1"...: each
// located (ABI v1.1) at the netdev that was its name.
Bond WithDpdkMembers(Bond bond);

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_PREDICTOR_TEST_UTIL_H_
