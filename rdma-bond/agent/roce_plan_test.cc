// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/roce_plan.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace rdma_bond::agent {
namespace {

constexpr int kBridge = 10, kEth0 = 11, kEth1 = 12;

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }
MacAddress Mac(const char* text) { return *ParseMacAddress(text); }

// A host as the VM lab's guests are before any plumbing: br0 with the
// host's address and one resolved peer, two NICs, the kernel's rules.
HostState FreshHost() {
  HostState h;
  h.links = {{1, "lo"}, {kBridge, "br0"}, {kEth0, "eth0"}, {kEth1, "eth1"}};
  h.addresses = {{1, Ip("127.0.0.1"), 8, 0, 0}, {kBridge, Ip("10.79.0.1"), 24, 0, 0}};
  h.neighbours = {{kBridge, Ip("10.79.0.2"), Mac("02:00:00:00:00:02"),
                   kNudReachable, 0}};
  HostRule local{0, kTableLocal, kRuleToTable, "", "", 0, 0, kProtoKernel, false};
  HostRule main{32766, 254, kRuleToTable, "", "", 0, 0, kProtoKernel, false};
  HostRule dflt{32767, 253, kRuleToTable, "", "", 0, 0, kProtoKernel, false};
  h.rules = {local, main, dflt};
  h.sysctls[kAllRpFilter] = "2";
  for (const char* m : {"eth0", "eth1"}) {
    for (const auto& [path, value] : PlumbingSysctls(m)) {
      (void)value;
      h.sysctls[path] = path.find("solicit") != std::string::npos
                            ? (path.find("app_") != std::string::npos ? "0" : "3")
                            : "0";
    }
  }
  return h;
}

std::vector<PlumbingBond> Bond0(bool eth1_has_rdma = true) {
  return {{"bond0", "br0", "", {"eth0", "eth1"},
           {"rxe0:1", eth1_has_rdma ? "rxe1:1" : ""}, "", ""}};
}

// Applies 'actions' to the model as the kernel would (what Rtnl does).
void ApplyToModel(HostState* h, const std::vector<PlumbingAction>& actions) {
  using Kind = PlumbingAction::Kind;
  for (const PlumbingAction& a : actions) {
    switch (a.kind) {
      case Kind::kAddAddress:
        h->addresses.push_back(a.address);
        break;
      case Kind::kDeleteAddress:
        std::erase_if(h->addresses, [&](const HostAddress& x) {
          return x.ifindex == a.address.ifindex && x.ip == a.address.ip;
        });
        break;
      case Kind::kSetNeighbour:
        std::erase_if(h->neighbours, [&](const HostNeighbour& x) {
          return x.ifindex == a.neighbour.ifindex && x.ip == a.neighbour.ip;
        });
        h->neighbours.push_back(a.neighbour);
        break;
      case Kind::kDeleteNeighbour:
        std::erase_if(h->neighbours, [&](const HostNeighbour& x) {
          return x.ifindex == a.neighbour.ifindex && x.ip == a.neighbour.ip;
        });
        break;
      case Kind::kResolve:
        break;
      case Kind::kAddRule: {
        HostRule r = a.rule;
        if (r.action == kRuleBlackhole) r.table = 0;
        h->rules.push_back(r);
        std::stable_sort(h->rules.begin(), h->rules.end(),
                         [](const HostRule& x, const HostRule& y) {
                           return x.priority < y.priority;
                         });
        break;
      }
      case Kind::kDeleteRule: {
        auto it = std::find_if(h->rules.begin(), h->rules.end(),
                               [&](const HostRule& x) {
                                 return x.priority == a.rule.priority &&
                                        x.iif == a.rule.iif &&
                                        x.oif == a.rule.oif &&
                                        x.action == a.rule.action;
                               });
        ASSERT_NE(it, h->rules.end()) << a.text;
        h->rules.erase(it);
        break;
      }
      case Kind::kSetSysctl:
        h->sysctls[a.sysctl] = a.value;
        break;
      case Kind::kAddRoute:
        h->routes.push_back(a.route);
        break;
      case Kind::kDeleteRoute: {
        auto it = std::find_if(h->routes.begin(), h->routes.end(),
                               [&](const HostRoute& x) {
                                 return x.oif == a.route.oif &&
                                        x.dst == a.route.dst &&
                                        x.dst_len == a.route.dst_len;
                               });
        ASSERT_NE(it, h->routes.end()) << a.text;
        h->routes.erase(it);
        break;
      }
    }
  }
}

// The originals a real run would have saved before its sysctl writes.
void SaveOriginals(const HostState& before,
                   const std::vector<PlumbingAction>& actions,
                   SavedPlumbing* saved) {
  for (const PlumbingAction& a : actions) {
    if (a.kind == PlumbingAction::Kind::kSetSysctl) {
      saved->original_sysctls.emplace(a.sysctl, before.sysctls.at(a.sysctl));
    }
  }
}

std::vector<std::string> Texts(const std::vector<PlumbingAction>& actions) {
  std::vector<std::string> out;
  for (const PlumbingAction& a : actions) out.push_back(a.text);
  return out;
}

TEST(RocePlanTest, PlumbsEveryMemberAndMovesTheLocalRuleLast) {
  HostState h = FreshHost();
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  std::vector<std::string> t = Texts(plan.actions);
  for (const char* want : {
           "ip address add 10.79.0.1/32 dev eth0 proto 82",
           "ip address add 10.79.0.1/32 dev eth1 proto 82",
           "ip neigh replace 10.79.0.2 dev eth0 lladdr 02:00:00:00:00:02 nud "
           "permanent proto 82",
           "ip neigh replace 10.79.0.2 dev eth1 lladdr 02:00:00:00:00:02 nud "
           "permanent proto 82",
           "ip rule add pref 1 iif eth0 ipproto 17 dport 4791 lookup local "
           "proto 82",
           "ip rule add pref 2 iif eth1 blackhole proto 82",
           "ip rule add pref 4 oif eth0 lookup 4791 proto 82",
           "ip rule add pref 4 oif eth1 lookup 4791 proto 82",
           "ip route append 10.79.0.0/24 dev eth0 table 4791 proto 82 scope "
           "link",
           "ip route append 10.79.0.0/24 dev eth1 table 4791 proto 82 scope "
           "link",
           "sysctl -w net.ipv4.conf.eth0.arp_ignore=8",
           "sysctl -w net.ipv4.conf.eth1.rp_filter=2",
           "sysctl -w net.ipv4.neigh.eth0.mcast_solicit=0",
           "sysctl -w net.ipv4.neigh.eth1.app_solicit=1",
       }) {
    EXPECT_EQ(std::count(t.begin(), t.end(), want), 1) << want;
  }
  // The local rule moves after every member rule exists, and our copy
  // comes before the kernel's goes.
  ASSERT_GE(t.size(), 2u);
  EXPECT_EQ(t[t.size() - 2], "ip rule add pref 3 lookup local proto 82");
  EXPECT_EQ(t.back(), "ip rule del pref 0 lookup local");
  const BondPlumbingStatus& s = plan.bonds.at("bond0");
  EXPECT_TRUE(s.refused.empty());
  EXPECT_TRUE(s.active);
  EXPECT_FALSE(s.missing.empty());      // Everything is still to do.
}

TEST(RocePlanTest, AddsTheActiveMembersAddressLast) {
  // The kernel binds an address to the device that got it last: the
  // active member's must come after the others'.
  for (const char* active : {"eth0", "eth1"}) {
    std::vector<PlumbingBond> bonds = Bond0();
    bonds[0].active = active;
    std::vector<std::string> adds;
    for (const PlumbingAction& a : PlanPlumbing(bonds, FreshHost()).actions) {
      if (a.kind == PlumbingAction::Kind::kAddAddress) adds.push_back(a.text);
    }
    ASSERT_EQ(adds.size(), 2u);
    EXPECT_EQ(adds.back(), "ip address add 10.79.0.1/32 dev " +
                               std::string(active) + " proto 82");
  }
}

TEST(RocePlanTest, AddsTheActiveMembersAddressAgainAfterAFailover) {
  // Plumbed with eth0 active (its address the newest), then eth1 became
  // active: eth1's address is deleted and added again, so that rdma_cm
  // binds the bond's address to eth1's RNIC, once rxe1 holds no QP.
  std::vector<PlumbingBond> bonds = Bond0();
  bonds[0].active = "eth0";
  HostState h = FreshHost();
  h.qps_known = true;
  ApplyToModel(&h, PlanPlumbing(bonds, h).actions);
  for (HostAddress& a : h.addresses) {
    if (a.ifindex == kEth0) a.created_cs = 200;
    if (a.ifindex == kEth1) a.created_cs = 100;
  }
  EXPECT_TRUE(PlanPlumbing(bonds, h).actions.empty());

  bonds[0].active = "eth1";
  h.busy_rnics = {"rxe1"};
  PlumbingPlan busy = PlanPlumbing(bonds, h);
  EXPECT_TRUE(busy.actions.empty()) << Texts(busy.actions)[0];
  const std::vector<std::string>& missing = busy.bonds.at("bond0").missing;
  EXPECT_EQ(std::count(missing.begin(), missing.end(),
                       "eth1: rdma_cm binds 10.79.0.1 to another member's RNIC "
                       "(the one that got it last); eth1's is added again once "
                       "rxe1 holds no QP"),
            1);
  // QPs unknown: nothing either.
  h.busy_rnics.clear();
  h.qps_known = false;
  EXPECT_TRUE(PlanPlumbing(bonds, h).actions.empty());

  h.qps_known = true;
  EXPECT_EQ(Texts(PlanPlumbing(bonds, h).actions),
            (std::vector<std::string>{
                "ip address del 10.79.0.1/32 dev eth1",
                "ip address add 10.79.0.1/32 dev eth1 proto 82"}));
  // The agent remembers whom it added last; creation times tie within a
  // hundredth of a second.
  for (HostAddress& a : h.addresses) a.created_cs = 300;
  bonds[0].newest = "eth1";
  EXPECT_TRUE(PlanPlumbing(bonds, h).actions.empty());
  bonds[0].newest = "eth0";
  EXPECT_EQ(PlanPlumbing(bonds, h).actions.size(), 2u);
}

TEST(RocePlanTest, NothingToDoOncePlumbed) {
  HostState h = FreshHost();
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  ApplyToModel(&h, plan.actions);
  PlumbingPlan again = PlanPlumbing(Bond0(), h);
  EXPECT_TRUE(again.actions.empty()) << Texts(again.actions).front();
  const BondPlumbingStatus& s = again.bonds.at("bond0");
  EXPECT_TRUE(s.missing.empty()) << s.missing.front();
  EXPECT_TRUE(s.refused.empty());
  std::vector<std::string> want = {
      "\"lookup local\" at preference 3 (after the members' rules)",
      "eth0: 1 address(es) of br0 as /32",
      "eth0: 1 neighbour(s) of br0",
      "eth0: IP input is RoCEv2 only (rules 1, 2)",
      "eth0: app_solicit=1 arp_ignore=8 mcast_solicit=0 rp_filter=2 "
      "ucast_solicit=0",
  };
  for (const std::string& line : want) {
    EXPECT_EQ(std::count(s.in_place.begin(), s.in_place.end(), line), 1)
        << line;
  }
}

TEST(RocePlanTest, RefusesAnAddressOfTheMembersOwn) {
  HostState h = FreshHost();
  h.addresses.push_back({kEth1, Ip("192.0.2.7"), 24, 0, 0});
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_EQ(plan.bonds.at("bond0").refused,
            "member eth1 has address 192.0.2.7/24 of its own: remove it, or "
            "run the agent with --no-manage-roce");
}

TEST(RocePlanTest, RefusesARuleInTheWay) {
  HostState h = FreshHost();
  h.rules.push_back({2, 100, kRuleToTable, "", "", 0, 0, 4, true});
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_EQ(plan.bonds.at("bond0").refused,
            "rule \"pref 2 lookup 100\" is in the way (ovs-rdma-bond uses "
            "preferences 1-4)");
}

TEST(RocePlanTest, RefusesAStrictReversePathFilter) {
  HostState h = FreshHost();
  h.sysctls[kAllRpFilter] = "1";
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_NE(plan.bonds.at("bond0").refused.find("rp_filter is 1 (strict)"),
            std::string::npos);
}

TEST(RocePlanTest, LeavesBondsWithoutRdmaDevicesAlone) {
  HostState h = FreshHost();
  std::vector<PlumbingBond> bonds = {
      {"bond0", "br0", "", {"eth0", "eth1"}, {"", ""}, "", ""}};
  PlumbingPlan plan = PlanPlumbing(bonds, h);
  EXPECT_TRUE(plan.actions.empty());
  EXPECT_FALSE(plan.bonds.at("bond0").active);
  // One member without: plumbed on the other only.
  plan = PlanPlumbing(Bond0(false), h);
  for (const PlumbingAction& a : plan.actions) {
    EXPECT_EQ(a.text.find("eth1"), std::string::npos) << a.text;
  }
  const auto& missing = plan.bonds.at("bond0").missing;
  EXPECT_EQ(std::count(missing.begin(), missing.end(),
                       "eth1: no RDMA device (nothing to plumb)"),
            1);
}

TEST(RocePlanTest, FollowsTheBridgesNeighbours) {
  HostState h = FreshHost();
  ApplyToModel(&h, PlanPlumbing(Bond0(), h).actions);
  // The peer's MAC changes, a new one appears, an old one fails.
  h.neighbours[0].mac = Mac("02:00:00:00:00:22");
  h.neighbours.push_back({kBridge, Ip("10.79.0.3"), Mac("02:00:00:00:00:03"),
                          kNudStale, 0});
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  std::vector<std::string> t = Texts(plan.actions);
  EXPECT_EQ(std::count(t.begin(), t.end(),
                       "ip neigh replace 10.79.0.2 dev eth0 lladdr "
                       "02:00:00:00:00:22 nud permanent proto 82"),
            1);
  EXPECT_EQ(std::count(t.begin(), t.end(),
                       "ip neigh replace 10.79.0.3 dev eth1 lladdr "
                       "02:00:00:00:00:03 nud permanent proto 82"),
            1);
  ApplyToModel(&h, plan.actions);
  h.neighbours.erase(h.neighbours.begin());   // 10.79.0.2 gone from br0.
  // A resolution that started on a member, for an address br0 does not
  // know: resolved on br0 (the member sends no ARP itself).
  h.neighbours.push_back({kEth0, Ip("10.79.0.9"), std::nullopt,
                          kNudIncomplete, 0});
  plan = PlanPlumbing(Bond0(), h);
  t = Texts(plan.actions);
  EXPECT_EQ(std::count(t.begin(), t.end(), "ip neigh del 10.79.0.2 dev eth0"), 1);
  EXPECT_EQ(std::count(t.begin(), t.end(), "ip neigh del 10.79.0.2 dev eth1"), 1);
  EXPECT_EQ(std::count(t.begin(), t.end(),
                       "ip neigh replace 10.79.0.9 dev br0 use"),
            1);
}

TEST(RocePlanTest, KeepsTheGidsWhileTheBridgeHasNoAddress) {
  HostState h = FreshHost();
  ApplyToModel(&h, PlanPlumbing(Bond0(), h).actions);
  // The bridge loses its address (a restarted userspace datapath): the
  // members keep theirs, and the RNICs their GIDs.
  std::erase_if(h.addresses, [](const HostAddress& a) {
    return a.ifindex == kBridge;
  });
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  for (const PlumbingAction& a : plan.actions) {
    EXPECT_NE(a.kind, PlumbingAction::Kind::kDeleteAddress) << a.text;
  }
  // Renumbered: the old address goes, the new one comes.
  h.addresses.push_back({kBridge, Ip("10.79.0.11"), 24, 0, 0});
  std::vector<std::string> t = Texts(PlanPlumbing(Bond0(), h).actions);
  EXPECT_EQ(std::count(t.begin(), t.end(),
                       "ip address del 10.79.0.1/32 dev eth0"),
            1);
  EXPECT_EQ(std::count(t.begin(), t.end(),
                       "ip address add 10.79.0.11/32 dev eth0 proto 82"),
            1);
}

TEST(RocePlanTest, CleanupLeavesTheHostAsItWas) {
  HostState before = FreshHost();
  // Something of the operator's on a member that must survive.
  before.neighbours.push_back({kEth0, Ip("10.79.0.50"),
                               Mac("02:00:00:00:00:50"), kNudStale, 0});
  HostState h = before;
  SavedPlumbing saved;
  PlumbingPlan plan = PlanPlumbing(Bond0(), h);
  SaveOriginals(h, plan.actions, &saved);
  ApplyToModel(&h, plan.actions);
  ASSERT_NE(h.rules.size(), before.rules.size());
  ApplyToModel(&h, PlanCleanup("bond0", {"eth0", "eth1"}, h, saved, true));
  EXPECT_EQ(h.addresses, before.addresses);
  EXPECT_EQ(h.neighbours, before.neighbours);
  EXPECT_EQ(h.rules, before.rules);
  EXPECT_EQ(h.sysctls, before.sysctls);
}

TEST(RocePlanTest, CleanupOfOneBondKeepsTheLocalRuleForTheOthers) {
  HostState h = FreshHost();
  ApplyToModel(&h, PlanPlumbing(Bond0(), h).actions);
  std::vector<std::string> t =
      Texts(PlanCleanup("bond0", {"eth0", "eth1"}, h, {}, false));
  EXPECT_EQ(std::count(t.begin(), t.end(), "ip rule del pref 3 lookup local"),
            0);
  EXPECT_EQ(std::count(t.begin(), t.end(),
                       "ip address del 10.79.0.1/32 dev eth0"),
            1);
}

TEST(RocePlanTest, SavedStateRoundTrips) {
  SavedPlumbing saved;
  saved.original_sysctls["net/ipv4/conf/eth0/arp_ignore"] = "0";
  saved.bond_members["bond0"] = {"eth0", "eth1"};
  Result<SavedPlumbing> parsed = SavedPlumbing::Parse(saved.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, saved);
  Result<SavedPlumbing> bad = SavedPlumbing::Parse("sysctl x 1\nnonsense\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "line 2: \"nonsense\"");
}

}  // namespace
}  // namespace rdma_bond::agent
