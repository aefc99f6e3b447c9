// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/pinner.h"

#include <gtest/gtest.h>

#include <set>

#include "testing/predictor_test_util.h"

namespace rdma_bond {
namespace {

using testing::AbBond;
using testing::BondSpec;
using testing::FillVectors;
using testing::MakeBond;
using testing::TcpBond;

constexpr uint32_t kImpl = RDMA_BOND_HASH_MHASH;

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

void Disable(Bond* bond, size_t member) {
  bond->members[member].flags &=
      ~(RDMA_BOND_M_ENABLED | RDMA_BOND_M_MAY_ENABLE | RDMA_BOND_M_CARRIER);
}

// Registers 'n' QPs between two hosts through Choose().
void ChooseMany(Pinner* pinner, size_t n, QpId first = 1) {
  for (QpId id = first; id < first + n; id++) {
    ASSERT_TRUE(pinner->Choose(id, Ip("10.0.0.1"), Ip("10.0.1.1")).ok());
  }
}

TEST(PinnerTest, ChooseSpreadsQpsOverMembersAndPorts) {
  Pinner pinner;
  ASSERT_TRUE(pinner.Update(TcpBond(), kImpl).ok());
  ChooseMany(&pinner, 200);
  std::vector<size_t> loads = pinner.MemberLoads();
  EXPECT_EQ(loads[0], 100u);
  EXPECT_EQ(loads[1], 100u);
  std::set<uint16_t> ports;
  for (QpId id = 1; id <= 200; id++) {
    ports.insert(pinner.Find(id)->pin.sport);
  }
  EXPECT_GE(ports.size(), 190u) << "QPs between two IPs pile on few ports";
  EXPECT_EQ(pinner.CountMispinned(), 0u);
  EXPECT_TRUE(pinner.TakeRepins().empty());
}

TEST(PinnerTest, MovesOnlyQpsInMovedBuckets) {
  Pinner pinner;
  Bond bond = TcpBond();
  ASSERT_TRUE(pinner.Update(bond, kImpl).ok());
  ChooseMany(&pinner, 1000);

  // Rebalance: bucket 5 moves from its owner to the other member.
  std::set<QpId> in_bucket5;
  FlowKey key;
  for (QpId id = 1; id <= 1000; id++) {
    QpView qp = *pinner.Find(id);
    Predictor p = *Predictor::Create(bond, kImpl);
    FiveTuple t = *MakeUdpTuple(qp.local, qp.remote, qp.pin.sport);
    if (p.Predict(FlowKey(t)).bucket == 5) {
      in_bucket5.insert(id);
    }
  }
  ASSERT_FALSE(in_bucket5.empty());
  Bond moved = bond;
  moved.buckets[5] = 1 - moved.buckets[5];
  ASSERT_TRUE(pinner.Update(moved, kImpl).ok());

  std::vector<Repin> repins = pinner.TakeRepins();
  std::set<QpId> repinned;
  for (const Repin& r : repins) {
    repinned.insert(r.qp);
    EXPECT_EQ(r.reason, RepinReason::kBucketMoved);
    EXPECT_EQ(r.from.member, r.to.member) << "member still up: keep RNIC";
    EXPECT_NE(r.from.sport, r.to.sport);
  }
  EXPECT_EQ(repinned, in_bucket5);
  EXPECT_EQ(pinner.CountMispinned(), 0u);
}

TEST(PinnerTest, FailoverMovesQpsOffTheDisabledMember) {
  Pinner pinner;
  Bond bond = TcpBond(7, 3);
  ASSERT_TRUE(pinner.Update(bond, kImpl).ok());
  ChooseMany(&pinner, 300);

  // p2 goes down: OVS gives its buckets to p1 and p3.
  Bond down = bond;
  Disable(&down, 1);
  for (size_t b = 0; b < RDMA_BOND_BUCKETS; b++) {
    if (down.buckets[b] == 1) {
      down.buckets[b] = (b & 1) ? 0 : 2;
    }
  }
  ASSERT_TRUE(pinner.Update(down, kImpl).ok());
  std::vector<Repin> repins = pinner.TakeRepins();
  EXPECT_EQ(repins.size(), 100u);
  for (const Repin& r : repins) {
    EXPECT_EQ(r.from.member, "p2");
    EXPECT_NE(r.to.member, "p2");
    EXPECT_EQ(r.reason, RepinReason::kMemberDown);
    EXPECT_EQ(r.from.sport, r.to.sport) << "follows its bucket's new owner";
  }
  EXPECT_EQ(pinner.MemberLoads()[1], 0u);
  EXPECT_EQ(pinner.CountMispinned(), 0u);
}

TEST(PinnerTest, ActiveBackupFollowsTheActiveMember) {
  Pinner pinner;
  ASSERT_TRUE(pinner.Update(AbBond(0), kImpl).ok());
  ChooseMany(&pinner, 50);
  EXPECT_EQ(pinner.MemberLoads()[0], 50u);

  Bond failed = AbBond(1);
  Disable(&failed, 0);
  ASSERT_TRUE(pinner.Update(failed, kImpl).ok());
  std::vector<Repin> repins = pinner.TakeRepins();
  ASSERT_EQ(repins.size(), 50u);
  for (const Repin& r : repins) {
    EXPECT_EQ(r.to.member, "p2");
    EXPECT_EQ(r.reason, RepinReason::kMemberDown);
    EXPECT_EQ(r.from.sport, r.to.sport);
  }

  // p1 comes back and an operator makes it active again.
  ASSERT_TRUE(pinner.Update(AbBond(0), kImpl).ok());
  repins = pinner.TakeRepins();
  ASSERT_EQ(repins.size(), 50u);
  EXPECT_EQ(repins[0].reason, RepinReason::kActiveMember);
  EXPECT_EQ(pinner.CountMispinned(), 0u);
}

TEST(PinnerTest, BasisChangeRehashesEveryQp) {
  Pinner pinner;
  ASSERT_TRUE(pinner.Update(TcpBond(7), kImpl).ok());
  ChooseMany(&pinner, 400);
  ASSERT_TRUE(pinner.Update(TcpBond(8), kImpl).ok());
  std::vector<Repin> repins = pinner.TakeRepins();
  // About half of the flows change member under a new basis.
  EXPECT_GT(repins.size(), 100u);
  EXPECT_LT(repins.size(), 300u);
  for (const Repin& r : repins) {
    EXPECT_EQ(r.reason, RepinReason::kHashChanged);
  }
  EXPECT_EQ(pinner.CountMispinned(), 0u);
}

TEST(PinnerTest, RegisterRepinsAMispinnedQp) {
  Pinner pinner;
  ASSERT_TRUE(pinner.Update(AbBond(0), kImpl).ok());
  std::vector<Repin> seen;
  pinner.SetCallback([&](const Repin& r) { seen.push_back(r); });
  ASSERT_TRUE(pinner.Register(7, Ip("10.0.0.1"), Ip("10.0.0.2"),
                              Pin{"p2", 0xc123}).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].to, (Pin{"p1", 0xc123}));
  EXPECT_EQ(seen[0].reason, RepinReason::kRegistered);
  EXPECT_EQ(pinner.TakeRepins().size(), 1u);
  EXPECT_FALSE(pinner.Register(7, Ip("10.0.0.1"), Ip("10.0.0.2"),
                               Pin{"p1", 0xc123}).ok());
}

TEST(PinnerTest, NoMemberLeavesQpsUnpinnableNotOnADisabledMember) {
  Pinner pinner;
  Bond bond = TcpBond();
  ASSERT_TRUE(pinner.Update(bond, kImpl).ok());
  ChooseMany(&pinner, 20);
  Bond dropped = bond;
  dropped.lacp = LacpStatus::kFailed;
  dropped.regime = HashRegime::kNone;
  FillVectors(HashImpl::kMhash, &dropped);
  ASSERT_TRUE(pinner.Update(dropped, kImpl).ok());
  EXPECT_EQ(pinner.CountUnpinnable(), 20u);
  EXPECT_TRUE(pinner.TakeRepins().empty());
  EXPECT_FALSE(pinner.Choose(99, Ip("10.0.0.1"), Ip("10.0.1.1")).ok());

  // LACP comes back: every QP is pinnable again.
  ASSERT_TRUE(pinner.Update(bond, kImpl).ok());
  EXPECT_EQ(pinner.CountUnpinnable(), 0u);
  EXPECT_EQ(pinner.CountMispinned(), 0u);
}

TEST(PinnerTest, MemberLeavingTheBondIsAFailover) {
  Pinner pinner;
  Bond bond = TcpBond(7, 3);
  ASSERT_TRUE(pinner.Update(bond, kImpl).ok());
  ChooseMany(&pinner, 90);
  BondSpec spec;
  spec.n_members = 2;
  Bond two = MakeBond(spec);     // p1, p2: p3 was removed.
  FillVectors(HashImpl::kMhash, &two);
  ASSERT_TRUE(pinner.Update(two, kImpl).ok());
  for (const Repin& r : pinner.TakeRepins()) {
    EXPECT_NE(r.to.member, "p3");
  }
  for (QpId id = 1; id <= 90; id++) {
    EXPECT_NE(pinner.Find(id)->pin.member, "p3");
  }
  EXPECT_EQ(pinner.CountMispinned(), 0u);
}

TEST(PinnerTest, RefusedSnapshotKeepsThePreviousOne) {
  Pinner pinner;
  Bond bond = TcpBond();
  ASSERT_TRUE(pinner.Update(bond, kImpl).ok());
  ChooseMany(&pinner, 10);
  Bond corrupt = bond;
  corrupt.vectors[0].hash_basis0 ^= 1;
  EXPECT_FALSE(pinner.Update(corrupt, kImpl).ok());
  EXPECT_TRUE(pinner.TakeRepins().empty());
  EXPECT_EQ(pinner.bond()->vectors[0].hash_basis0,
            bond.vectors[0].hash_basis0);
}

TEST(PinnerTest, UnregisterForgetsTheQp) {
  Pinner pinner;
  ASSERT_TRUE(pinner.Update(AbBond(0), kImpl).ok());
  ChooseMany(&pinner, 3);
  ASSERT_TRUE(pinner.Unregister(2).ok());
  EXPECT_FALSE(pinner.Unregister(2).ok());
  EXPECT_FALSE(pinner.Find(2).has_value());
  EXPECT_TRUE(pinner.Find(3).has_value());
  EXPECT_EQ(pinner.size(), 2u);
  Bond failed = AbBond(1);
  Disable(&failed, 0);
  ASSERT_TRUE(pinner.Update(failed, kImpl).ok());
  EXPECT_EQ(pinner.TakeRepins().size(), 2u);
}

}  // namespace
}  // namespace rdma_bond
