// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/migrate/migration_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/linux_bond_example.h"

namespace rdma_bond::migrate {
namespace {

using testing::LabActiveBackupBond;

LinuxBond ActiveBackupBond() { return LabActiveBackupBond(); }

LinuxBond LacpBond() {
  LinuxBond b = ActiveBackupBond();
  b.options.mode = kMode8023ad;
  b.options.primary.clear();
  b.options.lacp_rate = 1;
  b.options.xmit_hash_policy = 1;  // layer3+4
  return b;
}

std::vector<MemberHardware> TwoRnics() {
  return {{"eth0", "rxe0", "0000:00:03.0"}, {"eth1", "rxe1", "0000:00:04.0"}};
}

MigrateOptions LabOptions() {
  MigrateOptions o;
  o.bridge = "br0";
  o.datapath_type = "netdev";
  return o;
}

TEST(MigrationPlanTest, ActiveBackupPlanReadsExactly) {
  Result<MigrationPlan> plan =
      PlanMigration(ActiveBackupBond(), TwoRnics(), LabOptions());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(FormatPlan(ActiveBackupBond(), *plan),
            R"(Linux bond bond0 (from the kernel)
  mode active-backup, miimon 100, updelay 200, downdelay 100, primary eth0
  members eth0 (active), eth1
  mtu 1500, mac 02:79:00:00:00:01, up
  address 10.79.0.1/24
  route 10.79.9.0/24 via 10.79.0.2 table 254 metric 0
  permanent neighbour 10.79.0.250 lladdr 02:79:00:00:00:fa

OVS bond bond0 on bridge br0
  active-backup
  bond_mode=active-backup
  other_config:bond-primary=eth0
  bond_updelay=200
  bond_downdelay=100
  other_config:bond-detect-mode=carrier
  other_config:rdma-bond=true

What changes
  - miimon 100 ms: OVS follows the members' carrier as the kernel reports it (bond-detect-mode=carrier), with no polling
  - the bridge br0 takes the bond's MAC 02:79:00:00:00:01, MTU 1500 and addresses; the members keep their own MACs

RDMA
  - eth0: RDMA device rxe0, PCI 0000:00:03.0
  - eth1: RDMA device rxe1, PCI 0000:00:04.0
  - RDMA connections over bond0's addresses break during the migration (the RNICs' GIDs go and come back with the addresses): their programs must reconnect

Connectivity checks
  10.79.0.2

Steps (apply)
  1. create the bridge br0 (nothing moves yet)
       ovs-vsctl add-br br0 -- set bridge br0 datapath_type=netdev other_config:hwaddr=02:79:00:00:00:01 -- set interface br0 mtu_request=1500
  2. move the addresses, routes and permanent neighbours to br0 (one ip -batch)
       ip route del 10.79.9.0/24 via 10.79.0.2 dev bond0 table 254 metric 0
       ip address del 10.79.0.1/24 dev bond0
       ip link set dev bond0 down
       ip link set dev br0 up
       ip address add 10.79.0.1/24 broadcast 10.79.0.255 scope 0 dev br0
       ip route add 10.79.9.0/24 via 10.79.0.2 dev br0 table 254 metric 0 proto 3 scope 0
       ip neigh replace 10.79.0.250 lladdr 02:79:00:00:00:fa nud permanent dev br0
  3. release the members from bond0 and make them OVS's bond bond0
       ip link set dev eth0 nomaster
       ip link set dev eth1 nomaster
       ip link set dev eth0 mtu 1500 up
       ip link set dev eth1 mtu 1500 up
       ovs-vsctl add-bond br0 bond0 eth0 eth1 bond_mode=active-backup other_config:bond-primary=eth0 bond_updelay=200 bond_downdelay=100 other_config:bond-detect-mode=carrier other_config:rdma-bond=true
  4. wait until OVS makes a member active
       ovs-appctl bond/show bond0
  5. wait until ovs-rdma-bond-agent's RoCE plumbing of bond0 is complete
       ovs-appctl -t rdma-bond-agent/ovs-rdma-bond-agent rdma-bond/show
  6. check that 10.79.0.2 answers
       ping -c 1 -W 1 10.79.0.2
  7. remove the Linux bond bond0
       ip link del bond0

Rollback (if a step from 2 on fails)
  1. remove the OVS bridge br0 (and its bond)
       ovs-vsctl --if-exists del-br br0
  2. enslave the members to bond0 and put its addresses, routes and permanent neighbours back (one ip -batch)
       ip link set dev eth0 nomaster
       ip link set dev eth0 down
       ip link set dev eth1 nomaster
       ip link set dev eth1 down
       ip link set dev eth0 master bond0
       ip link set dev eth1 master bond0
       ip link set dev bond0 type bond primary eth0
       ip link set dev bond0 up
       ip address replace 10.79.0.1/24 broadcast 10.79.0.255 scope 0 dev bond0
       ip route replace 10.79.9.0/24 via 10.79.0.2 dev bond0 table 254 metric 0 proto 3 scope 0
       ip neigh replace 10.79.0.250 lladdr 02:79:00:00:00:fa nud permanent dev bond0
  3. wait until ovs-rdma-bond-agent has undone its RoCE plumbing of eth0, eth1 (no address of protocol 82 left)
)");
  EXPECT_EQ(plan->first_disruptive_step, 1u);
  // The move is one `ip -batch -`, which stops at its first failure.
  const Step& move = plan->steps.at(1);
  ASSERT_EQ(move.commands.size(), 1u);
  EXPECT_EQ(move.commands[0].argv,
            (std::vector<std::string>{"ip", "-batch", "-"}));
}

TEST(MigrationPlanTest, LacpPlanReadsExactly) {
  // Defaults: bridge br-BOND, the kernel datapath; ports of two NICs.
  LinuxBond b = LacpBond();
  b.options.lacp_rate = 0;
  b.options.xmit_hash_policy = 2;  // layer2+3
  b.members[0].active = false;
  std::vector<MemberHardware> hw = {{"eth0", "mlx5_0", "0000:03:00.0"},
                                    {"eth1", "mlx5_1", "0000:81:00.0"}};
  Result<MigrationPlan> plan = PlanMigration(b, hw, MigrateOptions());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(FormatPlan(b, *plan), R"(Linux bond bond0 (from the kernel)
  mode 802.3ad, miimon 100, updelay 200, downdelay 100, lacp_rate slow, xmit_hash_policy layer2+3
  members eth0, eth1
  mtu 1500, mac 02:79:00:00:00:01, up
  address 10.79.0.1/24
  route 10.79.9.0/24 via 10.79.0.2 table 254 metric 0
  permanent neighbour 10.79.0.250 lladdr 02:79:00:00:00:fa

OVS bond bond0 on bridge br-bond0
  balance-tcp with LACP
  bond_mode=balance-tcp
  lacp=active
  other_config:lacp-time=slow
  other_config:lacp-system-id=02:79:00:00:00:01
  other_config:lacp-system-priority=65535
  bond_updelay=200
  bond_downdelay=100
  other_config:bond-detect-mode=carrier
  other_config:rdma-bond=true

What changes
  - xmit_hash_policy layer2+3 becomes balance-tcp: flows are spread by their L3 and L4 headers (as layer3+4), and rebalanced by load
  - miimon 100 ms: OVS follows the members' carrier as the kernel reports it (bond-detect-mode=carrier), with no polling
  - the bridge br-bond0 takes the bond's MAC 02:79:00:00:00:01, MTU 1500 and addresses; the members keep their own MACs

RDMA
  - eth0: RDMA device mlx5_0, PCI 0000:03:00.0
  - eth1: RDMA device mlx5_1, PCI 0000:81:00.0
  - RDMA connections over bond0's addresses break during the migration (the RNICs' GIDs go and come back with the addresses): their programs must reconnect

Connectivity checks
  10.79.0.2

Steps (apply)
  1. create the bridge br-bond0 (nothing moves yet)
       ovs-vsctl add-br br-bond0 -- set bridge br-bond0 datapath_type=system other_config:hwaddr=02:79:00:00:00:01 -- set interface br-bond0 mtu_request=1500
  2. move the addresses, routes and permanent neighbours to br-bond0 (one ip -batch)
       ip route del 10.79.9.0/24 via 10.79.0.2 dev bond0 table 254 metric 0
       ip address del 10.79.0.1/24 dev bond0
       ip link set dev bond0 down
       ip link set dev br-bond0 up
       ip address add 10.79.0.1/24 broadcast 10.79.0.255 scope 0 dev br-bond0
       ip route add 10.79.9.0/24 via 10.79.0.2 dev br-bond0 table 254 metric 0 proto 3 scope 0
       ip neigh replace 10.79.0.250 lladdr 02:79:00:00:00:fa nud permanent dev br-bond0
  3. release the members from bond0 and make them OVS's bond bond0
       ip link set dev eth0 nomaster
       ip link set dev eth1 nomaster
       ip link set dev eth0 mtu 1500 up
       ip link set dev eth1 mtu 1500 up
       ovs-vsctl add-bond br-bond0 bond0 eth0 eth1 bond_mode=balance-tcp lacp=active other_config:lacp-time=slow other_config:lacp-system-id=02:79:00:00:00:01 other_config:lacp-system-priority=65535 bond_updelay=200 bond_downdelay=100 other_config:bond-detect-mode=carrier other_config:rdma-bond=true
  4. wait until LACP is negotiated and a member is enabled
       ovs-appctl bond/show bond0
  5. wait until ovs-rdma-bond-agent's RoCE plumbing of bond0 is complete
       ovs-appctl -t rdma-bond-agent/ovs-rdma-bond-agent rdma-bond/show
  6. check that 10.79.0.2 answers
       ping -c 1 -W 1 10.79.0.2
  7. remove the Linux bond bond0
       ip link del bond0

Rollback (if a step from 2 on fails)
  1. remove the OVS bridge br-bond0 (and its bond)
       ovs-vsctl --if-exists del-br br-bond0
  2. enslave the members to bond0 and put its addresses, routes and permanent neighbours back (one ip -batch)
       ip link set dev eth0 nomaster
       ip link set dev eth0 down
       ip link set dev eth1 nomaster
       ip link set dev eth1 down
       ip link set dev eth0 master bond0
       ip link set dev eth1 master bond0
       ip link set dev bond0 up
       ip address replace 10.79.0.1/24 broadcast 10.79.0.255 scope 0 dev bond0
       ip route replace 10.79.9.0/24 via 10.79.0.2 dev bond0 table 254 metric 0 proto 3 scope 0
       ip neigh replace 10.79.0.250 lladdr 02:79:00:00:00:fa nud permanent dev bond0
  3. wait until ovs-rdma-bond-agent has undone its RoCE plumbing of eth0, eth1 (no address of protocol 82 left)
)");
}

TEST(MigrationPlanTest, LacpBecomesBalanceTcpWithTheSameRateAndSystem) {
  Result<MigrationPlan> plan = PlanMigration(LacpBond(), TwoRnics(),
                                             LabOptions());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->ovs_mode, "balance-tcp");
  EXPECT_TRUE(plan->lacp);
  EXPECT_EQ(plan->port_settings,
            (std::vector<std::string>{
                "bond_mode=balance-tcp", "lacp=active",
                "other_config:lacp-time=fast",
                "other_config:lacp-system-id=02:79:00:00:00:01",
                "other_config:lacp-system-priority=65535", "bond_updelay=200",
                "bond_downdelay=100", "other_config:bond-detect-mode=carrier",
                "other_config:rdma-bond=true"}));
  // layer3+4 is what balance-tcp hashes: nothing to say about it.
  for (const std::string& c : plan->changes) {
    EXPECT_EQ(c.find("xmit_hash_policy"), std::string::npos) << c;
  }
  EXPECT_EQ(plan->steps.at(3).title,
            "wait until LACP is negotiated and a member is enabled");

  // layer2 changes, and says so; a set actor system is kept.
  LinuxBond l2 = LacpBond();
  l2.options.xmit_hash_policy = 0;
  l2.options.lacp_rate = 0;
  l2.options.ad_actor_system = "02:00:00:00:00:99";
  plan = PlanMigration(l2, TwoRnics(), LabOptions());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->port_settings.at(2), "other_config:lacp-time=slow");
  EXPECT_EQ(plan->port_settings.at(3),
            "other_config:lacp-system-id=02:00:00:00:00:99");
  EXPECT_EQ(plan->changes.at(0),
            "xmit_hash_policy layer2 becomes balance-tcp: flows are spread by "
            "their L3 and L4 headers (as layer3+4), and rebalanced by load");
}

TEST(MigrationPlanTest, Ipv6MovesWithoutWaitingForDad) {
  LinuxBond b = ActiveBackupBond();
  b.addresses.push_back({6, "fd00::1", 64, "", 0, "", false});
  b.routes.push_back({6, 254, "default", "fd00::fe", "fd00::1", 1024, 0, 3, 1,
                      ""});
  Result<MigrationPlan> plan = PlanMigration(b, TwoRnics(), LabOptions());
  ASSERT_TRUE(plan.ok());
  const std::string& move = plan->steps.at(1).commands.at(0).input;
  // The address is usable at once (a tentative one fails the route that
  // names it as its source: seen with iproute2 in a namespace), and
  // IPv6's default route is written so that ip takes it as IPv6.
  EXPECT_NE(move.find("address add fd00::1/64 scope 0 nodad dev br0\n"),
            std::string::npos) << move;
  EXPECT_NE(move.find("route del ::/0 via fd00::fe dev bond0 table 254 "
                      "metric 1024\n"),
            std::string::npos) << move;
  EXPECT_NE(move.find("route add ::/0 via fd00::fe dev br0 src fd00::1 "
                      "table 254 metric 1024 proto 3 scope 0\n"),
            std::string::npos) << move;
  const std::string restore =
      PlanRestore(b, "br0", true, true, false).back().commands.at(0).input;
  EXPECT_NE(restore.find("address replace fd00::1/64 scope 0 nodad dev "
                         "bond0\n"),
            std::string::npos) << restore;
}

TEST(MigrationPlanTest, SlbOnlyWhereAsked) {
  MigrateOptions slb = LabOptions();
  slb.slb = true;
  Result<MigrationPlan> plan = PlanMigration(LacpBond(), TwoRnics(), slb);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->ovs_mode, "balance-slb");
  EXPECT_EQ(plan->port_settings.at(0), "bond_mode=balance-slb");
  EXPECT_EQ(plan->port_settings.at(1), "lacp=active");

  plan = PlanMigration(ActiveBackupBond(), TwoRnics(), slb);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().ToString(),
            "--slb applies to an 802.3ad bond only (\"bond0\" is "
            "active-backup)");
}

TEST(MigrationPlanTest, ModesWithoutAnOvsEquivalentAreRefused) {
  struct Case {
    uint8_t mode;
    const char* text;
  } cases[] = {
      {kModeRoundRobin,
       "bond \"bond0\" is in mode balance-rr, which OVS cannot carry: OVS "
       "never spreads one flow over several members (balance-rr does, packet "
       "by packet); nearest: 802.3ad on the Linux bond and the switch (then "
       "balance-tcp), or active-backup."},
      {kModeXor,
       "bond \"bond0\" is in mode balance-xor, which OVS cannot carry: OVS "
       "has no static hash without LACP; nearest: balance-slb (by source MAC, "
       "no switch configuration) or 802.3ad on the switch (then "
       "balance-tcp)."},
      {kModeBroadcast,
       "bond \"bond0\" is in mode broadcast, which OVS cannot carry: OVS has "
       "no mode that sends every frame on every member; nearest: "
       "active-backup."},
      {kModeTlb,
       "bond \"bond0\" is in mode balance-tlb, which OVS cannot carry: OVS "
       "balances by source MAC (balance-slb) but does not take over peers' "
       "ARP caches to balance what it receives; nearest: balance-slb, or "
       "active-backup."},
      {kModeAlb,
       "bond \"bond0\" is in mode balance-alb, which OVS cannot carry: OVS "
       "balances by source MAC (balance-slb) but does not take over peers' "
       "ARP caches to balance what it receives; nearest: balance-slb, or "
       "active-backup."},
  };
  for (const Case& c : cases) {
    LinuxBond b = ActiveBackupBond();
    b.options.mode = c.mode;
    Result<MigrationPlan> plan = PlanMigration(b, TwoRnics(), LabOptions());
    ASSERT_FALSE(plan.ok()) << BondModeName(c.mode);
    EXPECT_TRUE(plan.status().IsNotSupported());
    EXPECT_EQ(plan.status().ToString(),
              std::string(c.text) +
                  " Change the Linux bond's mode first (ip link set dev bond0 "
                  "type bond mode ...; it must be down and without members), "
                  "then migrate.");
  }
}

TEST(MigrationPlanTest, WhatCannotMoveIsRefused) {
  LinuxBond one = ActiveBackupBond();
  one.members.pop_back();
  Result<MigrationPlan> plan = PlanMigration(one, TwoRnics(), LabOptions());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().ToString(),
            "bond \"bond0\" has 1 member: an OVS bond needs two (enslave the "
            "other NIC's port first)");

  LinuxBond vlan = ActiveBackupBond();
  vlan.uppers = {{"bond0.100", "vlan", 100, false}};
  plan = PlanMigration(vlan, TwoRnics(), LabOptions());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().ToString().find(
                "devices stacked on it or above it: bond0.100 (vlan, VLAN "
                "100)."),
            std::string::npos)
      << plan.status().ToString();

  LinuxBond bridged = ActiveBackupBond();
  bridged.uppers = {{"lxcbr0", "bridge", 0, true}};
  plan = PlanMigration(bridged, TwoRnics(), LabOptions());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().ToString().find(
                "lxcbr0 (bridge, which the bond is a port of)"),
            std::string::npos);

  LinuxBond multipath = ActiveBackupBond();
  multipath.routes[0].unmovable = "multipath";
  plan = PlanMigration(multipath, TwoRnics(), LabOptions());
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().ToString().find(
                "cannot move as they are: 10.79.9.0/24 (multipath)."),
            std::string::npos);

  MigrateOptions long_name;
  LinuxBond b = ActiveBackupBond();
  b.name = "storage-bond0";  // br-storage-bond0 is 16 characters.
  plan = PlanMigration(b, TwoRnics(), long_name);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().ToString(),
            "the bridge's name \"br-storage-bond0\" is longer than 15 "
            "characters: name it with --bridge");
}

TEST(MigrationPlanTest, SaysWhatChangesForRdma) {
  std::vector<MemberHardware> lag = {{"eth0", "mlx5_bond_0", "0000:03:00.0"},
                                     {"eth1", "mlx5_bond_0", "0000:03:00.1"}};
  Result<MigrationPlan> plan =
      PlanMigration(ActiveBackupBond(), lag, LabOptions());
  ASSERT_TRUE(plan.ok());
  const std::vector<std::string>& r = plan->rdma;
  auto has = [&r](const std::string& text) {
    for (const std::string& line : r) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("eth0 and eth1 share RDMA device mlx5_bond_0 (RoCE LAG)"));
  EXPECT_TRUE(has("eth0 and eth1 are ports of one NIC (0000:03:00): a "
                  "failure of that NIC still stops RDMA"));
  EXPECT_FALSE(has("--no-agent"));

  std::vector<MemberHardware> none = {{"eth0", "", ""}, {"eth1", "", ""}};
  MigrateOptions no_agent = LabOptions();
  no_agent.no_agent = true;
  plan = PlanMigration(ActiveBackupBond(), none, no_agent);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->rdma.at(0), "eth0: no RDMA device found");
  EXPECT_NE(plan->rdma.back().find("--no-agent: without"), std::string::npos);
  // Without the agent there is nothing to wait for.
  for (const Step& s : plan->steps) {
    EXPECT_NE(s.kind, StepKind::kWaitPlumbing) << s.title;
  }
}

TEST(MigrationPlanTest, ChecksTheGatewaysAndKnownPeers) {
  MigrateOptions o = LabOptions();
  o.checks = {"10.79.0.9", "10.79.0.2"};
  Result<MigrationPlan> plan = PlanMigration(ActiveBackupBond(), TwoRnics(), o);
  ASSERT_TRUE(plan.ok());
  // Asked for first, then the route's gateway and the reachable
  // neighbour (the same address: once); never the permanent one.
  EXPECT_EQ(plan->checks, (std::vector<std::string>{"10.79.0.9", "10.79.0.2"}));

  LinuxBond quiet = ActiveBackupBond();
  quiet.routes.clear();
  quiet.neighbours.resize(1);
  plan = PlanMigration(quiet, TwoRnics(), LabOptions());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->checks.empty());
  EXPECT_NE(FormatPlan(quiet, *plan)
                .find("none found (no gateway, no known peer): apply needs "
                      "--check ADDR"),
            std::string::npos);
}

TEST(MigrationPlanTest, RestoreMakesTheBondAgainWithItsModesOptionsOnly) {
  std::vector<Step> steps =
      PlanRestore(ActiveBackupBond(), "br0", true, /*bond_exists=*/false,
                  /*agent=*/false);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1].commands.at(0).argv,
            (std::vector<std::string>{
                "ip", "link", "add", "bond0", "address", "02:79:00:00:00:01",
                "mtu", "1500", "type", "bond", "mode", "active-backup",
                "miimon", "100", "updelay", "200", "downdelay", "100",
                "peer_notify_delay", "0", "use_carrier", "1",
                "primary_reselect", "always", "fail_over_mac", "none",
                "num_grat_arp", "1", "resend_igmp", "1", "all_slaves_active",
                "0", "min_links", "0", "lp_interval", "1"}));
  // The rollback goes on past a failed line, and replaces what a failed
  // step may have left.
  EXPECT_EQ(steps[2].commands.at(0).argv,
            (std::vector<std::string>{"ip", "-force", "-batch", "-"}));

  LinuxBond lacp = LacpBond();
  lacp.options.miimon = 0;  // The kernel refuses delays without it.
  steps = PlanRestore(lacp, "br0", false, false, false);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].commands.at(0).argv,
            (std::vector<std::string>{
                "ip", "link", "add", "bond0", "address", "02:79:00:00:00:01",
                "mtu", "1500", "type", "bond", "mode", "802.3ad", "miimon", "0",
                "use_carrier", "1", "xmit_hash_policy", "layer3+4",
                "lacp_rate", "fast", "ad_select", "stable",
                "ad_actor_sys_prio", "65535", "ad_user_port_key", "0",
                "num_grat_arp", "1", "resend_igmp", "1", "all_slaves_active",
                "0", "min_links", "0", "lp_interval", "1"}));
  // No primary in 802.3ad: none set.
  EXPECT_EQ(steps[1].commands[0].input.find("primary"), std::string::npos);
}

}  // namespace
}  // namespace rdma_bond::migrate
