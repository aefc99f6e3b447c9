// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "predict/path_planner.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "rdma_bond/predictor.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond {
namespace {

using testing::AbBond;
using testing::BondSpec;
using testing::FillVectors;
using testing::MakeBond;
using testing::TcpBond;

constexpr uint32_t kImpl = static_cast<uint32_t>(HashImpl::kMhash);

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

PathPlanner Plan(const Bond* bond, std::vector<std::string> members = {
                                       "p1", "p2"}) {
  Result<PathPlanner> plan = PathPlanner::Create(
      bond, kImpl, std::move(members), Ip("10.0.0.1"), Ip("10.0.0.2"));
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return std::move(*plan);
}

TEST(PathPlannerTest, NoSnapshotEveryMemberCarriesWithSpreadPorts) {
  PathPlanner plan = Plan(nullptr);
  EXPECT_EQ(plan.policy(), PathPolicy::kFree);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_TRUE(plan.member(0).carries);
  EXPECT_TRUE(plan.member(1).carries);
  EXPECT_EQ(plan.usable_mask(), 3u);
  EXPECT_FALSE(plan.active());
  Result<std::vector<uint16_t>> a = plan.Candidates(0, 1, 64);
  Result<std::vector<uint16_t>> b = plan.Candidates(0, 2, 64);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 64u);
  EXPECT_EQ(std::set<uint16_t>(a->begin(), a->end()).size(), 64u);
  EXPECT_NE(*a, *b) << "different keys must spread";
  for (uint16_t port : *a) EXPECT_TRUE(IsRoceSport(port));
  EXPECT_TRUE(plan.StillMaps(1, (*a)[0]));
}

TEST(PathPlannerTest, ActiveBackupCarriesOnlyOnTheActiveMember) {
  Bond bond = AbBond(1);
  PathPlanner plan = Plan(&bond);
  EXPECT_EQ(plan.policy(), PathPolicy::kActiveOnly);
  EXPECT_TRUE(plan.member(0).usable);
  EXPECT_FALSE(plan.member(0).carries);
  EXPECT_NE(plan.member(0).reason.find("not the active member"),
            std::string::npos);
  EXPECT_TRUE(plan.member(1).carries);
  ASSERT_TRUE(plan.active());
  EXPECT_EQ(*plan.active(), 1u);
  // Any port: nothing hashes.
  Result<std::vector<uint16_t>> ports = plan.Candidates(1, 5, 4);
  ASSERT_TRUE(ports.ok());
  EXPECT_EQ(ports->size(), 4u);
  EXPECT_TRUE(plan.StillMaps(1, (*ports)[0]));
  EXPECT_FALSE(plan.StillMaps(0, (*ports)[0]));
}

TEST(PathPlannerTest, PathOrderFollowsTheRnicsNotTheBond) {
  Bond bond = AbBond(0);  // p1 active.
  PathPlanner plan = Plan(&bond, {"p2", "p1"});
  ASSERT_TRUE(plan.active());
  EXPECT_EQ(*plan.active(), 1u);
  EXPECT_EQ(plan.member(1).bond_index, 0u);
  EXPECT_FALSE(plan.member(0).carries);
}

TEST(PathPlannerTest, DisabledAndUnknownMembersAreUnusable) {
  Bond bond = AbBond(0);
  bond.members[1].flags &= ~RDMA_BOND_M_ENABLED;
  PathPlanner plan = Plan(&bond, {"p1", "p2", "eth9"});
  EXPECT_TRUE(plan.member(0).carries);
  EXPECT_FALSE(plan.member(1).usable);
  EXPECT_NE(plan.member(1).reason.find("disabled"), std::string::npos);
  EXPECT_FALSE(plan.member(2).usable);
  EXPECT_NE(plan.member(2).reason.find("not a member"), std::string::npos);
  EXPECT_EQ(plan.usable_mask(), 1u);
  Result<std::vector<uint16_t>> none = plan.Candidates(1, 0, 4);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());
}

TEST(PathPlannerTest, BalanceTcpPortsMapToTheirMember) {
  Bond bond = TcpBond();
  PathPlanner plan = Plan(&bond);
  EXPECT_EQ(plan.policy(), PathPolicy::kHashed);
  Predictor predictor = *Predictor::Create(bond, kImpl);
  for (size_t m = 0; m < 2; m++) {
    ASSERT_TRUE(plan.member(m).carries);
    Result<std::vector<uint16_t>> ports = plan.Candidates(m, 42, 64);
    ASSERT_TRUE(ports.ok()) << ports.status().ToString();
    ASSERT_EQ(ports->size(), 64u);
    EXPECT_EQ(std::set<uint16_t>(ports->begin(), ports->end()).size(), 64u);
    for (uint16_t port : *ports) {
      Prediction p = predictor.Predict(FlowKey(
          *MakeUdpTuple(Ip("10.0.0.1"), Ip("10.0.0.2"), port)));
      ASSERT_TRUE(p.has_member());
      EXPECT_EQ(p.member, m) << "port " << port;
      EXPECT_TRUE(plan.StillMaps(m, port));
      EXPECT_FALSE(plan.StillMaps(1 - m, port));
    }
  }
}

// MapsTo(): the path-order member a port's flow leaves on, by the RNICs'
// order, not the bond's; only where the bond hashes.
TEST(PathPlannerTest, MapsToNamesTheMemberOfAPort) {
  Bond bond = TcpBond();
  PathPlanner plan = Plan(&bond, {"p2", "p1"});
  EXPECT_FALSE(plan.rdma_rebalance());
  for (size_t m = 0; m < 2; m++) {
    Result<std::vector<uint16_t>> ports = plan.Candidates(m, 7, 16);
    ASSERT_TRUE(ports.ok());
    for (uint16_t port : *ports) {
      ASSERT_TRUE(plan.MapsTo(port).has_value());
      EXPECT_EQ(*plan.MapsTo(port), m) << "port " << port;
    }
  }
  EXPECT_FALSE(plan.MapsTo(4791).has_value()) << "not a RoCE port";
  bond.flags |= RDMA_BOND_F_RDMA_REBALANCE;
  EXPECT_TRUE(Plan(&bond).rdma_rebalance());
  Bond ab = AbBond(0);
  EXPECT_FALSE(Plan(&ab).MapsTo(0xc000).has_value());
}

TEST(PathPlannerTest, BucketMoveBreaksTheMapping) {
  Bond bond = TcpBond();
  PathPlanner before = Plan(&bond);
  const uint16_t port = (*before.Candidates(0, 7, 1))[0];
  // Every bucket of p1 moves to p2, except one.
  Bond moved = bond;
  bool kept = false;
  for (uint8_t& owner : moved.buckets) {
    if (owner == 0 && kept) owner = 1;
    if (owner == 0) kept = true;
  }
  PathPlanner after = Plan(&moved);
  ASSERT_TRUE(after.member(0).usable) << "p1 still owns one bucket";
  EXPECT_FALSE(after.StillMaps(0, port));
  EXPECT_TRUE(after.StillMaps(1, port));
  // Fewer ports than asked reach p1 now: all of them, each mapping there.
  Result<std::vector<uint16_t>> few = after.Candidates(0, 7, 200);
  ASSERT_TRUE(few.ok()) << few.status().ToString();
  EXPECT_GT(few->size(), 0u);
  for (uint16_t p : *few) EXPECT_TRUE(after.StillMaps(0, p));
}

TEST(PathPlannerTest, MemberWithoutBucketsIsUnusableInBalanceTcp) {
  Bond bond = TcpBond();
  for (uint8_t& owner : bond.buckets) owner = 1;
  PathPlanner plan = Plan(&bond);
  EXPECT_FALSE(plan.member(0).usable);
  EXPECT_FALSE(plan.member(0).reason.empty());
  EXPECT_TRUE(plan.member(1).carries);
  EXPECT_EQ(plan.usable_mask(), 2u);
}

TEST(PathPlannerTest, LacpFailureDropsOrFallsBack) {
  BondSpec spec;
  spec.lacp = LacpStatus::kFailed;
  Bond dropped = MakeBond(spec);
  FillVectors(HashImpl::kMhash, &dropped);
  PathPlanner plan = Plan(&dropped);
  EXPECT_EQ(plan.policy(), PathPolicy::kNone);
  EXPECT_FALSE(plan.member(0).usable);
  EXPECT_NE(plan.member(0).reason.find("drops every flow"),
            std::string::npos);
  EXPECT_FALSE(plan.StillMaps(0, 0xc000));

  spec.lacp_fallback_ab = true;
  spec.active_member = 1;
  Bond fallback = MakeBond(spec);
  FillVectors(HashImpl::kMhash, &fallback);
  PathPlanner fb = Plan(&fallback);
  EXPECT_EQ(fb.policy(), PathPolicy::kActiveOnly);
  EXPECT_FALSE(fb.member(0).carries);
  EXPECT_TRUE(fb.member(1).carries);
}

TEST(PathPlannerTest, RejectsBadInput) {
  // No members is a side without RDMA: nothing usable, nothing carries.
  Result<PathPlanner> none = PathPlanner::Create(
      nullptr, kImpl, {}, Ip("10.0.0.1"), Ip("10.0.0.2"));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->usable_mask(), 0u);
  std::vector<std::string> many(33, "p");   // More than 32 members.
  for (size_t i = 0; i < many.size(); i++) many[i] += std::to_string(i);
  EXPECT_FALSE(PathPlanner::Create(nullptr, kImpl, many, Ip("10.0.0.1"),
                                   Ip("10.0.0.2"))
                   .ok());
  Result<PathPlanner> mixed = PathPlanner::Create(
      nullptr, kImpl, {"p1"}, Ip("10.0.0.1"), Ip("fd00::2"));
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("mix IP versions"),
            std::string::npos);
  // balance-tcp without vectors: the predictor refuses, so does the plan.
  Bond bare = MakeBond(BondSpec{});
  EXPECT_FALSE(PathPlanner::Create(&bare, kImpl, {"p1"}, Ip("10.0.0.1"),
                                   Ip("10.0.0.2"))
                   .ok());
}

}  // namespace
}  // namespace rdma_bond
