// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/migrate/linux_bond.h"

#include <gtest/gtest.h>

#include <string>

namespace rdma_bond::migrate {
namespace {

LinuxBond Bond() {
  LinuxBond b;
  b.name = "bond0";
  b.ifindex = 7;
  b.mtu = 9000;
  b.mac = "02:79:00:00:00:01";
  b.up = true;
  b.options.mode = kMode8023ad;
  b.options.miimon = 100;
  b.options.arp_ip_targets = {"10.0.0.1", "10.0.0.2"};
  b.options.lacp_rate = 1;
  b.options.ad_actor_system = "02:00:00:00:00:99";
  b.members = {{"eth1", 4, 9000, true}, {"eth0", 3, 9000, false}};
  b.addresses = {{4, "10.79.0.1", 24, "10.79.0.255", 0, "bond0:1", false},
                 {6, "fd00::1", 64, "", 0, "", true}};
  b.routes = {{4, 100, "default", "10.79.0.254", "10.79.0.1", 20, 0, 4, 1, ""},
              {6, 254, "fd01::/64", "fd00::fe", "", 1024, 0, 3, 1,
               "metrics,encap"}};
  b.neighbours = {{4, "10.79.0.250", "02:79:00:00:00:fa", 0x80},
                  {4, "10.79.0.2", "02:79:00:00:00:02", 0x02}};
  b.uppers = {{"bond0.100", "vlan", 100, false}};
  return b;
}

TEST(LinuxBondTest, SerializeReadsBackEqual) {
  const LinuxBond b = Bond();
  Result<LinuxBond> back = Deserialize(Serialize(b));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, b);
  EXPECT_EQ(Serialize(*back), Serialize(b));

  // Empty values survive too.
  LinuxBond bare;
  bare.name = "b";
  back = Deserialize(Serialize(bare));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, bare);
}

TEST(LinuxBondTest, DeserializeSaysWhatIsWrong) {
  std::string text = Serialize(Bond());
  std::string bad = text;
  bad.replace(bad.find("mtu=9000"), 8, "mtu=9x00");
  Result<LinuxBond> r = Deserialize(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(),
            "line 1: mtu=9x00 is not a number of its range");

  bad = text;
  bad.replace(bad.find("lacp_rate=1"), 11, "lacp_rate=300");
  r = Deserialize(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(),
            "line 2: lacp_rate=300 is not a number of its range");

  r = Deserialize(text + "tunnel name=x\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("unknown record \"tunnel\""),
            std::string::npos);

  r = Deserialize("member name=eth0 ifindex=3 mtu=1500 active=1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(), "no \"bond\" record");

  r = Deserialize("bond name=bond0 mtu=1500 mac=- up=1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(), "line 1: no ifindex");
}

TEST(LinuxBondTest, SnapshotLeavesOutWhatTheKernelChooses) {
  const LinuxBond b = Bond();
  LinuxBond again = b;
  again.ifindex = 12;                       // Made again: a new ifindex.
  again.members = {{"eth0", 3, 9000, true}, {"eth1", 4, 9000, false}};
  again.neighbours.pop_back();              // A dynamic neighbour gone.
  EXPECT_EQ(Snapshot(again), Snapshot(b));

  // What a restore must bring back.
  LinuxBond other = b;
  other.options.lacp_rate = 0;
  EXPECT_NE(Snapshot(other), Snapshot(b));
  other = b;
  other.addresses.pop_back();
  EXPECT_NE(Snapshot(other), Snapshot(b));
  other = b;
  other.neighbours.erase(other.neighbours.begin());  // The permanent one.
  EXPECT_NE(Snapshot(other), Snapshot(b));
  other = b;
  other.routes[0].metric = 0;
  EXPECT_NE(Snapshot(other), Snapshot(b));
  other = b;
  other.members.pop_back();
  EXPECT_NE(Snapshot(other), Snapshot(b));
  other = b;
  other.up = false;
  EXPECT_NE(Snapshot(other), Snapshot(b));
}

TEST(LinuxBondTest, NamesTheKernelsValues) {
  EXPECT_EQ(BondModeName(kModeActiveBackup), "active-backup");
  EXPECT_EQ(BondModeName(kMode8023ad), "802.3ad");
  EXPECT_EQ(BondModeName(9), "9");
  EXPECT_EQ(XmitHashPolicyName(1), "layer3+4");
  EXPECT_EQ(XmitHashPolicyName(5), "vlan+srcmac");
  EXPECT_EQ(LacpRateName(1), "fast");
  EXPECT_EQ(AdSelectName(2), "count");
  EXPECT_EQ(PrimaryReselectName(2), "failure");
  EXPECT_EQ(FailOverMacName(1), "active");
  EXPECT_EQ(ArpValidateName(6), "filter_backup");
  EXPECT_EQ(ArpAllTargetsName(1), "all");
}

}  // namespace
}  // namespace rdma_bond::migrate
