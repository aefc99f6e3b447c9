// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "preload/preload_core.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "rdma_bond/roce.h"
#include "testing/fake_sysfs.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond {
namespace {

using testing::FakeSysfs;

constexpr const char* kGid1 = "0000:0000:0000:0000:0000:ffff:0a00:0001";
constexpr const char* kGid2 = "0000:0000:0000:0000:0000:ffff:0a00:0002";
constexpr const char* kLinkLocal = "fe80:0000:0000:0000:5054:00ff:fe00:0001";

// Members p1 and p2 of bond0, each with a device: rxe0 behind p1 with
// 10.0.0.1 at GID index 1 (RoCE v2) and 2 (v1), rxe1 behind p2 with
// 10.0.0.1 at index 3 (v2): the tables differ, as they may on a host.
class PreloadCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sysfs_.AddNetdev("p1", "52:54:00:00:00:01");
    sysfs_.AddNetdev("p2", "52:54:00:00:00:02");
    sysfs_.AddNetdev("p3", "52:54:00:00:00:03");
    sysfs_.AddRdmaDevice("rxe0", 1);
    sysfs_.WriteIb("rxe0", "parent", "p1\n");
    sysfs_.SetGid("rxe0", 1, 0, kLinkLocal, "RoCE v2", "p1");
    sysfs_.SetGid("rxe0", 1, 1, kGid1, "RoCE v2", "p1");
    sysfs_.SetGid("rxe0", 1, 2, kGid1, "IB/RoCE v1", "p1");
    sysfs_.AddRdmaDevice("rxe1", 1);
    sysfs_.WriteIb("rxe1", "parent", "p2\n");
    sysfs_.SetGid("rxe1", 1, 0, kLinkLocal, "RoCE v2", "p2");
    sysfs_.AddEmptyGids("rxe1", 1, 1, 3);
    sysfs_.SetGid("rxe1", 1, 3, kGid1, "RoCE v2", "p2");
    sysfs_.AddRdmaDevice("rxe2", 1);
    sysfs_.WriteIb("rxe2", "parent", "p3\n");
    sysfs_.SetGid("rxe2", 1, 1, kGid1, "RoCE v2", "p3");
  }

  PreloadCore Core(const Bond& bond, std::string only_bond = "") {
    PreloadConfig c;
    c.sysfs_root = sysfs_.root();
    c.bond = std::move(only_bond);
    PreloadCore core(c);
    TableSnapshot s;
    s.table.hash_impl = RDMA_BOND_HASH_MHASH;
    s.bonds.push_back(bond);
    core.SetTable(std::move(s));
    return core;
  }

  static QpPinRequest Request(const char* device, uint32_t sgid_index,
                              uint32_t flow_label = 0) {
    QpPinRequest r;
    r.device = device;
    r.port = 1;
    r.sgid_index = sgid_index;
    r.dgid = *ParseSysfsGid(kGid2);
    r.flow_label = flow_label;
    r.qpn = 17;
    r.dest_qpn = 18;
    return r;
  }

  FakeSysfs sysfs_;
};

TEST(PreloadConfigTest, DefaultsAndValues) {
  std::map<std::string, std::string> env;
  auto get = [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  PreloadConfig c = ParsePreloadConfig(get);
  EXPECT_FALSE(c.disabled);
  EXPECT_EQ(c.on_mispin, MispinPolicy::kKeep);
  EXPECT_EQ(c.log, PreloadLog::kInfo);
  EXPECT_TRUE(c.redirect);
  EXPECT_EQ(c.table_path, DefaultTablePath());
  EXPECT_TRUE(c.errors.empty());

  env = {{kPreloadEnvOnMispin, "error"}, {kPreloadEnvBond, "bond1"},
         {kPreloadEnvLog, "debug"}, {kPreloadEnvRedirect, "0"},
         {kPreloadEnvShm, "/run/x.shm"}, {kPreloadEnvDisable, "0"}};
  c = ParsePreloadConfig(get);
  EXPECT_FALSE(c.disabled);
  EXPECT_EQ(c.on_mispin, MispinPolicy::kError);
  EXPECT_EQ(c.bond, "bond1");
  EXPECT_EQ(c.log, PreloadLog::kDebug);
  EXPECT_FALSE(c.redirect);
  EXPECT_EQ(c.table_path, "/run/x.shm");

  env = {{kPreloadEnvDisable, "1"}};
  EXPECT_TRUE(ParsePreloadConfig(get).disabled);
}

TEST(PreloadConfigTest, BadValueDisablesAndSaysWhich) {
  std::map<std::string, std::string> env = {{kPreloadEnvOnMispin, "reset"}};
  auto get = [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  PreloadConfig c = ParsePreloadConfig(get);
  EXPECT_TRUE(c.disabled);
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0],
            "RDMA_BOND_PRELOAD_ON_MISPIN=\"reset\" is not keep or error");
  env = {{kPreloadEnvBond, "a b"}};
  EXPECT_EQ(ParsePreloadConfig(get).errors.size(), 1u);
}

TEST_F(PreloadCoreTest, RedirectsStandbyDeviceToActiveInActiveBackup) {
  PreloadCore core = Core(testing::AbBond(0));
  std::optional<DeviceRedirect> r = core.RedirectFor("rxe1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->bond, "bond0");
  EXPECT_EQ(r->from_member, "p2");
  EXPECT_EQ(r->to_device, "rxe0");
  EXPECT_EQ(r->to_member, "p1");
  EXPECT_FALSE(core.RedirectFor("rxe0"));   // The active member's.
  EXPECT_FALSE(core.RedirectFor("rxe2"));   // Not behind a member.

  PreloadCore other = Core(testing::AbBond(1));
  ASSERT_TRUE(other.RedirectFor("rxe0"));
  EXPECT_EQ(other.RedirectFor("rxe0")->to_device, "rxe1");
}

// OVS-DPDK: the members are DPDK ports; their devices are found through
// the location the table publishes: dpdk0 through its netdev p1, dpdk1
// (no netdev published) through its PCI function.
TEST_F(PreloadCoreTest, DpdkMembersAreFoundThroughTheirLocations) {
  sysfs_.AddPciFunction("0000:03:00.1", "rxe1", "");
  Bond bond = testing::WithDpdkMembers(testing::AbBond(0));
  bond.members[1].location.kernel_netdev.clear();
  bond.members[1].location.pci = "0000:03:00.1";
  PreloadCore core = Core(bond);
  std::optional<DeviceRedirect> r = core.RedirectFor("rxe1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->from_member, "dpdk1");
  EXPECT_EQ(r->to_device, "rxe0");
  EXPECT_EQ(r->to_member, "dpdk0");
  EXPECT_FALSE(core.RedirectFor("rxe0"));
  // Without the locations (a writer before ABI v1.1) the names find
  // nothing: no redirect rather than a wrong one.
  bond.members[0].location = {};
  bond.members[1].location = {};
  EXPECT_FALSE(Core(bond).RedirectFor("rxe1"));
}

TEST_F(PreloadCoreTest, NoRedirectInBalanceTcpOrForAnotherBond) {
  EXPECT_FALSE(Core(testing::TcpBond()).RedirectFor("rxe1"));
  EXPECT_FALSE(Core(testing::AbBond(0), "bond9").RedirectFor("rxe1"));

  testing::BondSpec spec;
  spec.lacp = LacpStatus::kFailed;
  spec.lacp_fallback_ab = true;
  Bond fallback = testing::MakeBond(spec);
  testing::FillVectors(HashImpl::kMhash, &fallback);
  ASSERT_TRUE(Core(fallback).RedirectFor("rxe1"));   // LACP fallback.

  PreloadConfig c;
  c.sysfs_root = sysfs_.root();
  c.redirect = false;
  PreloadCore off(c);
  TableSnapshot s;
  s.table.hash_impl = RDMA_BOND_HASH_MHASH;
  s.bonds.push_back(testing::AbBond(0));
  off.SetTable(s);
  EXPECT_FALSE(off.RedirectFor("rxe1"));
}

TEST_F(PreloadCoreTest, ActiveBackupSetsAFlowLabelOnTheActiveMember) {
  PreloadCore core = Core(testing::AbBond(0));
  Result<QpPinPlan> p = core.PlanQp(Request("rxe0", 1));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->pinned);
  EXPECT_EQ(p->bond, "bond0");
  EXPECT_EQ(p->member, "p1");
  EXPECT_EQ(ToString(p->src), "10.0.0.1");
  EXPECT_EQ(ToString(p->dst), "10.0.0.2");
  EXPECT_EQ(p->sgid_index, 1u);
  EXPECT_NE(p->flow_label, 0u);
  EXPECT_EQ(FlowLabelToUdpSport(p->flow_label), p->sport);
  EXPECT_FALSE(core.Check(*p));

  // A program's own label is kept where it already fits.
  Result<QpPinPlan> own = core.PlanQp(Request("rxe0", 1, 0x12345));
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(own->pinned);
  EXPECT_EQ(own->flow_label, 0x12345u);
  EXPECT_EQ(own->sport, FlowLabelToUdpSport(0x12345));
}

TEST_F(PreloadCoreTest, StandbyQpIsNotPinnedAndSaysWhy) {
  PreloadCore core = Core(testing::AbBond(0));
  Result<QpPinPlan> p = core.PlanQp(Request("rxe1", 3, 0));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->pinned);
  EXPECT_TRUE(p->wrong_member);
  EXPECT_EQ(p->member, "p2");
  EXPECT_EQ(p->flow_label, 0u);           // Left as the program set it.
  EXPECT_EQ(p->sport, QpUdpSport(0, 17, 18));
  EXPECT_NE(p->why.find("p2"), std::string::npos) << p->why;
  ASSERT_TRUE(core.Check(*p));
  EXPECT_NE(core.Check(*p)->find("out of p1, not p2"), std::string::npos)
      << *core.Check(*p);
}

TEST_F(PreloadCoreTest, RedirectedQpGetsTheSameGidOnItsDevice) {
  // The program opened rxe1 and chose 10.0.0.1 there (index 3); it got
  // rxe0, where 10.0.0.1 is index 1.
  PreloadCore core = Core(testing::AbBond(0));
  QpPinRequest r = Request("rxe0", 3);
  r.asked_device = "rxe1";
  Result<QpPinPlan> p = core.PlanQp(r);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->sgid_index, 1u);
  EXPECT_EQ(p->member, "p1");
  EXPECT_TRUE(p->pinned);

  // rxe0's index 2 is the RoCE v1 twin: no UDP port to pin.
  Result<QpPinPlan> v1 = core.PlanQp(Request("rxe0", 2));
  EXPECT_TRUE(v1.status().IsNotFound()) << v1.status().ToString();
  // An empty index.
  EXPECT_TRUE(core.PlanQp(Request("rxe1", 1)).status().IsNotFound());
}

TEST_F(PreloadCoreTest, DeviceOffTheBondIsLeftAlone) {
  PreloadCore core = Core(testing::AbBond(0));
  Result<QpPinPlan> p = core.PlanQp(Request("rxe2", 1));
  EXPECT_TRUE(p.status().IsNotFound()) << p.status().ToString();
  PreloadCore none(PreloadConfig{});
  EXPECT_TRUE(none.PlanQp(Request("rxe0", 1)).status().IsNotFound());
}

TEST_F(PreloadCoreTest, BalanceTcpPicksAPortOfTheQpsOwnMember) {
  Bond bond = testing::TcpBond();
  PreloadCore core = Core(bond);
  Result<Predictor> pred = Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  ASSERT_TRUE(pred.ok());
  for (const char* dev : {"rxe0", "rxe1"}) {
    for (uint32_t qpn = 1; qpn < 40; qpn++) {
      QpPinRequest r = Request(dev, std::string(dev) == "rxe0" ? 1 : 3);
      r.qpn = qpn;
      Result<QpPinPlan> p = core.PlanQp(r);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      ASSERT_TRUE(p->pinned) << p->why;
      EXPECT_EQ(FlowLabelToUdpSport(p->flow_label), p->sport);
      Prediction where = pred->Predict(
          FlowKey(*MakeUdpTuple(p->src, p->dst, p->sport)));
      ASSERT_TRUE(where.has_member());
      EXPECT_EQ(bond.members[where.member].name, p->member) << dev;
      EXPECT_FALSE(core.Check(*p));
    }
  }
}

TEST_F(PreloadCoreTest, BalanceTcpPrefersValidatedPortsThatMap) {
  Bond bond = testing::TcpBond();
  PreloadCore core = Core(bond);
  Result<Predictor> pred = Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  ASSERT_TRUE(pred.ok());
  const IpAddress src = *ParseIpAddress("10.0.0.1");
  const IpAddress dst = *ParseIpAddress("10.0.0.2");
  // One port of p2, then one of p1: the QP is on p1 (rxe0).
  std::vector<uint16_t> ports;
  for (const size_t member : {size_t{1}, size_t{0}}) {
    Result<SportChoice> c = pred->PickSport(member, src, dst, 99);
    ASSERT_TRUE(c.ok());
    ports.push_back(c->sport);
  }
  Result<QpPinPlan> p = core.PlanQp(Request("rxe0", 1), ports);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->pinned);
  EXPECT_EQ(p->sport, ports[1]);
  EXPECT_EQ(p->flow_label, UdpSportToFlowLabel(ports[1]));
}

TEST_F(PreloadCoreTest, CheckSeesABondChange) {
  PreloadCore core = Core(testing::AbBond(0));
  Result<QpPinPlan> p = core.PlanQp(Request("rxe0", 1));
  ASSERT_TRUE(p.ok() && p->pinned);
  EXPECT_FALSE(core.Check(*p));
  TableSnapshot s;
  s.table.hash_impl = RDMA_BOND_HASH_MHASH;
  s.bonds.push_back(testing::AbBond(1));
  core.SetTable(s);
  std::optional<std::string> why = core.Check(*p);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("out of p2, not p1"), std::string::npos) << *why;
  // The bond gone from the table: nothing to say.
  core.SetTable(TableSnapshot{});
  EXPECT_FALSE(core.Check(*p));
}

TEST_F(PreloadCoreTest, BondOfAddressNamesTheMembersThatHoldIt) {
  PreloadCore core = Core(testing::AbBond(0));
  std::optional<AddressOwner> o = core.BondOfAddress(*ParseIpAddress("10.0.0.1"));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->bond, "bond0");
  EXPECT_EQ(o->members, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_FALSE(core.BondOfAddress(*ParseIpAddress("10.0.0.9")));
  EXPECT_FALSE(Core(testing::AbBond(0), "bond9")
                   .BondOfAddress(*ParseIpAddress("10.0.0.1")));
}

TEST_F(PreloadCoreTest, CmPortsGiveUdpPortsOfTheMember) {
  Bond bond = testing::TcpBond();
  PreloadCore core = Core(bond);
  Result<Predictor> pred = Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  ASSERT_TRUE(pred.ok());
  const IpAddress src = *ParseIpAddress("10.0.0.1");
  const IpAddress dst = *ParseIpAddress("10.0.0.2");
  for (const char* member : {"p1", "p2"}) {
    Result<std::vector<uint16_t>> ports =
        core.CmPortsFor("bond0", member, src, dst, 7174, 16, 12345);
    ASSERT_TRUE(ports.ok()) << ports.status().ToString();
    ASSERT_EQ(ports->size(), 16u);
    for (uint16_t p : *ports) {
      EXPECT_GE(p, 1024);
      Prediction where = pred->Predict(
          FlowKey(*MakeUdpTuple(src, dst, RdmaCmUdpSport(p, 7174))));
      ASSERT_TRUE(where.has_member());
      EXPECT_EQ(bond.members[where.member].name, member) << p;
    }
  }
  // Active-backup: every port, from where the seed says.
  PreloadCore ab = Core(testing::AbBond(0));
  Result<std::vector<uint16_t>> all =
      ab.CmPortsFor("bond0", "p1", src, dst, 7174, 3, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<uint16_t>{1024, 1025, 1026}));
  // The standby: no port at all, and why.
  Result<std::vector<uint16_t>> none =
      ab.CmPortsFor("bond0", "p2", src, dst, 7174, 3, 0);
  EXPECT_TRUE(none.status().IsNotFound());
  EXPECT_NE(none.status().message().find("out of p1"), std::string::npos)
      << none.status().ToString();
  EXPECT_TRUE(ab.CmPortsFor("bond9", "p1", src, dst, 7174, 3, 0)
                  .status().IsNotFound());
}

}  // namespace
}  // namespace rdma_bond
