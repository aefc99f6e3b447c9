// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Predictor::PickSport() and PickSports(): every chosen port reaches the
// asked member, spread keys spread, and every way of not reaching a member
// is an error that says why.

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "rdma_bond/predictor.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond {
namespace {

using testing::BondSpec;
using testing::FillVectors;
using testing::MakeBond;

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

Bond HashedBond(const BondSpec& spec) {
  Bond bond = MakeBond(spec);
  FillVectors(HashImpl::kMhash, &bond);
  return bond;
}

Predictor MustCreate(const Bond& bond) {
  Result<Predictor> p = Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  if (!p.ok()) {
    ADD_FAILURE() << p.status().ToString();
    std::abort();
  }
  return *p;
}

// Checks that 'choice' is a RoCEv2 port whose flow 'src' -> 'dst' the
// predictor sends on 'member', with the flow label that gives the port.
void ExpectReaches(const Predictor& p, const SportChoice& choice,
                   size_t member, const IpAddress& src,
                   const IpAddress& dst) {
  EXPECT_TRUE(IsRoceSport(choice.sport)) << choice.sport;
  EXPECT_EQ(FlowLabelToUdpSport(choice.flow_label), choice.sport);
  EXPECT_NE(choice.flow_label, 0u) << "flow label 0 means none set";
  const Prediction again =
      p.Predict(FlowKey(*MakeUdpTuple(src, dst, choice.sport)));
  EXPECT_EQ(again.outcome, Outcome::kMember);
  EXPECT_EQ(again.member, member) << "port " << choice.sport;
  EXPECT_EQ(again.hash, choice.prediction.hash);
  EXPECT_EQ(choice.prediction.member, member);
}

TEST(PickSportTest, ReachesTheAskedMemberForIpv4AndIpv6) {
  for (HashRegime regime : {HashRegime::kRecirc, HashRegime::kLbOutput,
                            HashRegime::kXlate}) {
    BondSpec spec;
    spec.regime = regime;
    spec.n_members = 4;
    const Predictor p = MustCreate(HashedBond(spec));
    for (const auto& [src, dst] :
         {std::pair{"10.0.0.1", "10.0.0.2"}, std::pair{"fd00::1", "fd00::2"}}) {
      for (size_t member = 0; member < 4; member++) {
        for (uint64_t key = 0; key < 50; key++) {
          Result<SportChoice> c =
              p.PickSport(member, Ip(src), Ip(dst), key);
          ASSERT_TRUE(c.ok()) << c.status().ToString();
          ExpectReaches(p, *c, member, Ip(src), Ip(dst));
        }
      }
    }
  }
}

TEST(PickSportTest, IsDeterministicForASpreadKey) {
  const Predictor p = MustCreate(HashedBond(BondSpec()));
  const auto a = p.PickSport(1, Ip("10.0.0.1"), Ip("10.0.0.2"), 42);
  const auto b = p.PickSport(1, Ip("10.0.0.1"), Ip("10.0.0.2"), 42);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->sport, b->sport);
}

TEST(PickSportTest, SpreadKeysSpreadOverThePortsAndBucketsOfTheMember) {
  // Two members, 128 buckets each (about 8192 ports each).
  const Predictor p = MustCreate(HashedBond(BondSpec()));
  constexpr uint64_t kKeys = 1024;
  std::set<uint16_t> ports;
  std::vector<int> per_bucket(RDMA_BOND_BUCKETS, 0);
  std::vector<int> per_port(kRoceSportCount, 0);
  for (uint64_t qpn = 0x100; qpn < 0x100 + kKeys; qpn++) {
    Result<SportChoice> c =
        p.PickSport(0, Ip("10.0.0.1"), Ip("10.0.0.2"), qpn);
    ASSERT_TRUE(c.ok());
    ports.insert(c->sport);
    per_bucket[c->prediction.bucket]++;
    per_port[c->sport - kRoceSportMin]++;
  }
  // Random picks among ~8192 ports: ~64 collisions expected.
  EXPECT_GE(ports.size(), 900u);
  EXPECT_LE(*std::max_element(per_port.begin(), per_port.end()), 4);
  // Every one of the member's 128 buckets (8 picks each on average).
  size_t buckets_used = 0;
  for (size_t b = 0; b < RDMA_BOND_BUCKETS; b++) {
    if (per_bucket[b] > 0) {
      EXPECT_EQ(p.bond().buckets[b], 0) << "bucket " << b;
      buckets_used++;
    }
  }
  EXPECT_GE(buckets_used, 120u);
  EXPECT_LE(*std::max_element(per_bucket.begin(), per_bucket.end()), 30);
}

TEST(PickSportTest, PickSportsReturnsDistinctPorts) {
  BondSpec spec;
  spec.n_members = 3;
  const Predictor p = MustCreate(HashedBond(spec));
  Result<std::vector<SportChoice>> choices =
      p.PickSports(2, Ip("fd00::1"), Ip("fd00::2"), 500, 7);
  ASSERT_TRUE(choices.ok()) << choices.status().ToString();
  ASSERT_EQ(choices->size(), 500u);
  std::set<uint16_t> ports;
  for (const SportChoice& c : *choices) {
    ExpectReaches(p, c, 2, Ip("fd00::1"), Ip("fd00::2"));
    ports.insert(c.sport);
  }
  EXPECT_EQ(ports.size(), 500u);
  // The first is PickSport() of the same key.
  EXPECT_EQ((*choices)[0].sport,
            p.PickSport(2, Ip("fd00::1"), Ip("fd00::2"), 7)->sport);
}

TEST(PickSportTest, FailsWhenFewerPortsThanAskedReachTheMember) {
  // p2 owns one bucket: about 16384 / 256 = 64 ports reach it.
  Bond bond = HashedBond(BondSpec());
  for (size_t i = 0; i < bond.buckets.size(); i++) {
    bond.buckets[i] = i == 17 ? 1 : 0;
  }
  const Predictor p = MustCreate(bond);
  Result<std::vector<SportChoice>> all =
      p.PickSports(1, Ip("10.0.0.1"), Ip("10.0.0.2"), 1000, 0);
  ASSERT_FALSE(all.ok());
  EXPECT_TRUE(all.status().IsNotFound());
  EXPECT_NE(all.status().message().find(
                "source ports reach member \"p2\" of bond \"bond0\" for "
                "10.0.0.1 -> 10.0.0.2, not 1000"),
            std::string::npos)
      << all.status().ToString();
  Result<std::vector<SportChoice>> some =
      p.PickSports(1, Ip("10.0.0.1"), Ip("10.0.0.2"), 20, 0);
  ASSERT_TRUE(some.ok()) << some.status().ToString();
  for (const SportChoice& c : *some) {
    EXPECT_EQ(c.prediction.bucket, 17);
  }
}

TEST(PickSportTest, RefusesAMemberThatOwnsNoBucket) {
  BondSpec spec;
  spec.n_members = 3;
  Bond bond = HashedBond(spec);
  for (uint8_t& bucket : bond.buckets) {
    bucket = bucket == 2 ? 0 : bucket;
  }
  Result<SportChoice> c =
      MustCreate(bond).PickSport(2, Ip("10.0.0.1"), Ip("10.0.0.2"), 0);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().ToString(),
            "no source port reaches member \"p3\" of bond \"bond0\": it owns "
            "no bucket");
}

TEST(PickSportTest, RefusesADisabledMember) {
  Bond bond = HashedBond(BondSpec());
  bond.members[1].flags &= ~RDMA_BOND_M_ENABLED;
  Result<SportChoice> c =
      MustCreate(bond).PickSport(1, Ip("10.0.0.1"), Ip("10.0.0.2"), 0);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().ToString(),
            "no source port reaches member \"p2\" of bond \"bond0\": it is "
            "disabled (OVS moves its buckets to enabled members on first "
            "use)");
}

TEST(PickSportTest, ActiveBackupReachesOnlyTheActiveMember) {
  BondSpec spec;
  spec.mode = BondMode::kActiveBackup;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kNone;
  spec.active_member = 0;
  const Predictor p = MustCreate(HashedBond(spec));
  Result<SportChoice> active =
      p.PickSport(0, Ip("10.0.0.1"), Ip("10.0.0.2"), 5);
  ASSERT_TRUE(active.ok());
  EXPECT_FALSE(active->prediction.hashed);
  ExpectReaches(p, *active, 0, Ip("10.0.0.1"), Ip("10.0.0.2"));
  // Different keys still spread over the ports.
  EXPECT_NE(p.PickSport(0, Ip("10.0.0.1"), Ip("10.0.0.2"), 6)->sport,
            active->sport);

  Result<SportChoice> backup =
      p.PickSport(1, Ip("10.0.0.1"), Ip("10.0.0.2"), 5);
  ASSERT_FALSE(backup.ok());
  EXPECT_EQ(backup.status().ToString(),
            "active-backup: every source port reaches the active member "
            "\"p1\"; \"p2\" is not the active member of bond \"bond0\"");
}

TEST(PickSportTest, NeverGivesFlowLabelZeroEvenForPort0xc000) {
  // On active-backup every port reaches the active member, so the walk
  // returns its first port: try spread keys until that is 0xc000 (1 in
  // 16384), from PickSport() and from a SportMap.
  BondSpec spec;
  spec.mode = BondMode::kActiveBackup;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kNone;
  const Predictor p = MustCreate(HashedBond(spec));
  const SportMap map = *p.MapSports(Ip("10.0.0.1"), Ip("10.0.0.2"));
  bool walked = false, mapped = false;
  for (uint64_t key = 0; key < 1000000 && !(walked && mapped); key++) {
    Result<SportChoice> w = p.PickSport(0, Ip("10.0.0.1"), Ip("10.0.0.2"), key);
    Result<SportChoice> m = map.Pick(0, key);
    ASSERT_TRUE(w.ok() && m.ok());
    if (w->sport == kRoceSportMin) {
      EXPECT_EQ(w->flow_label, 0x4001u);
      walked = true;
    }
    if (m->sport == kRoceSportMin) {
      EXPECT_EQ(m->flow_label, 0x4001u);
      mapped = true;
    }
  }
  EXPECT_TRUE(walked);
  EXPECT_TRUE(mapped);
}

TEST(PickSportTest, RefusesWhenTheBondDropsEveryFlow) {
  BondSpec spec;
  spec.lacp = LacpStatus::kFailed;
  spec.regime = HashRegime::kNone;
  Result<SportChoice> c = MustCreate(HashedBond(spec))
                              .PickSport(0, Ip("10.0.0.1"), Ip("10.0.0.2"), 0);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().ToString(),
            "no source port reaches member \"p1\" of bond \"bond0\": LACP "
            "negotiation failed and lacp-fallback-ab is false: OVS drops "
            "every flow");
}

TEST(PickSportTest, BalanceSlbNeedsTheSourceMacAndDependsOnlyOnIt) {
  BondSpec spec;
  spec.mode = BondMode::kBalanceSlb;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kSlb;
  const Predictor p = MustCreate(HashedBond(spec));
  Result<SportChoice> no_mac =
      p.PickSport(0, Ip("10.0.0.1"), Ip("10.0.0.2"), 0);
  ASSERT_FALSE(no_mac.ok());
  EXPECT_EQ(no_mac.status().code(), Status::Code::kInvalidArgument);

  SlbSource slb;
  slb.mac = {0x02, 0, 0, 0, 0, 1};
  const Prediction where = p.Predict(FlowKey(), &slb);
  ASSERT_TRUE(where.has_member());
  Result<SportChoice> ok = p.PickSport(where.member, Ip("10.0.0.1"),
                                       Ip("10.0.0.2"), 0, 4791, &slb);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  Result<SportChoice> other = p.PickSport(1 - where.member, Ip("10.0.0.1"),
                                          Ip("10.0.0.2"), 0, 4791, &slb);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("balance-slb hashes the source "
                                          "MAC 02:00:00:00:00:01 (VLAN 0)"),
            std::string::npos)
      << other.status().ToString();
}

// A 3-member bond with every kind of bucket: p1 and p2 share most, p3 owns
// one, p2's member is disabled in 'disabled' mode, bucket 0 unassigned.
Bond MixedBond(bool disable_p2) {
  BondSpec spec;
  spec.n_members = 3;
  Bond bond = HashedBond(spec);
  for (size_t b = 0; b < bond.buckets.size(); b++) {
    bond.buckets[b] = b == 0 ? RDMA_BOND_NO_MEMBER : b == 17 ? 2 : b % 2;
  }
  if (disable_p2) {
    bond.members[1].flags &= ~RDMA_BOND_M_ENABLED;
  }
  return bond;
}

TEST(SportMapTest, HoldsExactlyThePortsEachMemberReceives) {
  const Predictor p = MustCreate(MixedBond(/*disable_p2=*/true));
  Result<SportMap> map = p.MapSports(Ip("10.0.0.1"), Ip("10.0.0.2"));
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  std::vector<int> member_of(kRoceSportCount, -1);
  for (size_t m = 0; m < 3; m++) {
    uint16_t previous = 0;
    for (uint16_t port : map->PortsOf(m)) {
      EXPECT_GT(port, previous) << "ascending";
      previous = port;
      member_of[port - kRoceSportMin] = static_cast<int>(m);
    }
  }
  EXPECT_TRUE(map->PortsOf(1).empty()) << "p2 is disabled";
  EXPECT_FALSE(map->PortsOf(2).empty());
  EXPECT_TRUE(map->PortsOf(3).empty());
  for (uint32_t port = kRoceSportMin; port <= 0xffff; port++) {
    const Prediction where = p.Predict(FlowKey(*MakeUdpTuple(
        Ip("10.0.0.1"), Ip("10.0.0.2"), static_cast<uint16_t>(port))));
    ASSERT_EQ(where.has_member() ? where.member : -1,
              member_of[port - kRoceSportMin])
        << "port " << port;
  }
}

TEST(SportMapTest, PickReachesTheMemberAndSpreadsOverItsPorts) {
  const Predictor p = MustCreate(MixedBond(false));
  const SportMap map = *p.MapSports(Ip("fd00::1"), Ip("fd00::2"));
  // p3 owns one bucket: about 64 ports.
  const size_t n = map.PortsOf(2).size();
  ASSERT_GE(n, 30u);
  std::set<uint16_t> seen;
  for (uint64_t key = 0; key < 2000; key++) {
    Result<SportChoice> c = map.Pick(2, key);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ExpectReaches(p, *c, 2, Ip("fd00::1"), Ip("fd00::2"));
    EXPECT_EQ(c->prediction.bucket, 17);
    seen.insert(c->sport);
  }
  EXPECT_EQ(seen.size(), n) << "2000 keys cover every port of p3";
}

TEST(SportMapTest, PickFailsAsPickSportDoes) {
  const Predictor p = MustCreate(MixedBond(/*disable_p2=*/true));
  const SportMap map = *p.MapSports(Ip("10.0.0.1"), Ip("10.0.0.2"));
  for (size_t member : {size_t{1}, size_t{3}}) {
    Result<SportChoice> from_map = map.Pick(member, 0);
    Result<SportChoice> walked =
        p.PickSport(member, Ip("10.0.0.1"), Ip("10.0.0.2"), 0);
    ASSERT_FALSE(from_map.ok());
    ASSERT_FALSE(walked.ok());
    EXPECT_EQ(from_map.status().ToString(), walked.status().ToString());
  }
  EXPECT_FALSE(p.MapSports(Ip("10.0.0.1"), Ip("fd00::2")).ok());
}

TEST(PickSportTest, RefusesBadArguments) {
  const Predictor p = MustCreate(HashedBond(BondSpec()));
  Result<SportChoice> index = p.PickSport(2, Ip("10.0.0.1"), Ip("10.0.0.2"), 0);
  ASSERT_FALSE(index.ok());
  EXPECT_EQ(index.status().ToString(),
            "bond \"bond0\" has no member index 2 (it has 2 members)");
  EXPECT_FALSE(p.PickSport(0, Ip("10.0.0.1"), Ip("fd00::2"), 0).ok());
  EXPECT_FALSE(p.PickSports(0, Ip("10.0.0.1"), Ip("10.0.0.2"), 0, 0).ok());
  EXPECT_FALSE(p.PickSports(0, Ip("10.0.0.1"), Ip("10.0.0.2"),
                            Predictor::kMaxSports + 1, 0)
                   .ok());
}

}  // namespace
}  // namespace rdma_bond
