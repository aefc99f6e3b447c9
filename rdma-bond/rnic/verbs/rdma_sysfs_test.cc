// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rnic/verbs/rdma_sysfs.h"
#include "testing/fake_sysfs.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace rdma_bond {
namespace {

namespace fs = std::filesystem;

using testing::FakeSysfs;

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

// GIDs as the kernel prints them.
constexpr const char* kLinkLocalGid =
    "fe80:0000:0000:0000:5054:00ff:fe12:3456";
constexpr const char* kIpv4Gid = "0000:0000:0000:0000:0000:ffff:0a00:0001";
constexpr const char* kIpv6Gid = "fd00:0000:0000:0000:0000:0000:0000:0001";

TEST(RdmaSysfsTest, ParsesSysfsGidText) {
  Result<Gid> gid = ParseSysfsGid(std::string(kIpv4Gid) + "\n");
  ASSERT_TRUE(gid.ok()) << gid.status().ToString();
  const Gid expected = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  EXPECT_EQ(*gid, expected);
  EXPECT_EQ(GidToIpAddress(*gid), Ip("10.0.0.1"));
  EXPECT_EQ(FormatSysfsGid(*gid), kIpv4Gid);

  Result<Gid> link_local = ParseSysfsGid(kLinkLocalGid);
  ASSERT_TRUE(link_local.ok());
  EXPECT_EQ((*link_local)[0], 0xfe);
  EXPECT_EQ((*link_local)[1], 0x80);
  EXPECT_EQ((*link_local)[15], 0x56);
  EXPECT_EQ(ToString(GidToIpAddress(*link_local)),
            "fe80::5054:ff:fe12:3456");
  EXPECT_EQ(FormatSysfsGid(*link_local), kLinkLocalGid);
  // Upper-case digits are accepted, printed in lower case.
  EXPECT_EQ(FormatSysfsGid(*ParseSysfsGid(
                "FE80:0000:0000:0000:5054:00FF:FE12:3456")),
            kLinkLocalGid);
}

TEST(RdmaSysfsTest, RefusesMalformedGidText) {
  for (const char* bad :
       {"", "0000:0000:0000:0000:0000:ffff:0a00:001",
        "0000:0000:0000:0000:0000:ffff:0a00:00011",
        "0000-0000:0000:0000:0000:ffff:0a00:0001",
        "0000:0000:0000:0000:0000:ffff:0a00:000g", "::ffff:10.0.0.1",
        "0000:0000:0000:0000:0000:ffff:0a00:0001\n\n"}) {
    Result<Gid> gid = ParseSysfsGid(bad);
    EXPECT_FALSE(gid.ok()) << bad;
    if (!gid.ok()) {
      EXPECT_EQ(gid.status().code(), Status::Code::kInvalidArgument);
      EXPECT_NE(gid.status().message().find("is not a GID"),
                std::string::npos);
    }
  }
}

TEST(RdmaSysfsTest, MapsIpv4ToAnIpv4MappedGid) {
  EXPECT_EQ(FormatSysfsGid(IpAddressToGid(Ip("10.0.0.1"))), kIpv4Gid);
  EXPECT_EQ(FormatSysfsGid(IpAddressToGid(Ip("fd00::1"))), kIpv6Gid);
  EXPECT_EQ(GidToIpAddress(IpAddressToGid(Ip("192.168.7.9"))),
            Ip("192.168.7.9"));
  EXPECT_EQ(GidToIpAddress(IpAddressToGid(Ip("fd00::1"))), Ip("fd00::1"));
}

TEST(RdmaSysfsTest, FindsMlx5DeviceThroughDeviceLinkOnSecondPort) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth1", "52:54:00:00:00:01");
  sysfs.AddNetdev("eth2", "52:54:00:00:00:02");
  sysfs.AddRdmaDevice("mlx5_0", 2);
  sysfs.LinkHardware("eth1", "mlx5_0");
  sysfs.LinkHardware("eth2", "mlx5_0");
  sysfs.SetGid("mlx5_0", 1, 0, kLinkLocalGid, "IB/RoCE v1", "eth1");
  sysfs.SetGid("mlx5_0", 2, 0, kLinkLocalGid, "IB/RoCE v1", "eth2");
  sysfs.SetGid("mlx5_0", 2, 1, kLinkLocalGid, "RoCE v2", "eth2");

  RdmaSysfs reader(sysfs.root());
  Result<RdmaPortRef> eth2 = reader.FindRdmaPort("eth2");
  ASSERT_TRUE(eth2.ok()) << eth2.status().ToString();
  EXPECT_EQ(*eth2, (RdmaPortRef{"mlx5_0", 2}));
  EXPECT_EQ(ToString(*eth2), "mlx5_0:2");
  Result<RdmaPortRef> eth1 = reader.FindRdmaPort("eth1");
  ASSERT_TRUE(eth1.ok()) << eth1.status().ToString();
  EXPECT_EQ(*eth1, (RdmaPortRef{"mlx5_0", 1}));
}

// PortXmitData is in 4-octet words; rxe has no counters directory; the
// 32-bit counter saturates.
TEST(RdmaSysfsTest, ReadsThePortsSentBytesFromItsCounter) {
  FakeSysfs sysfs;
  sysfs.AddRdmaDevice("mlx5_0", 2);
  sysfs.AddRdmaDevice("rxe0", 1);
  sysfs.SetPortXmitData("mlx5_0", 2, "123456789012");
  RdmaSysfs reader(sysfs.root());
  Result<uint64_t> bytes = reader.ReadPortXmitBytes({"mlx5_0", 2});
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, 493827156048u);

  Result<uint64_t> rxe = reader.ReadPortXmitBytes({"rxe0", 1});
  EXPECT_TRUE(rxe.status().IsNotFound()) << rxe.status().ToString();
  EXPECT_NE(rxe.status().message().find("rxe0/ports/1/counters"),
            std::string::npos);

  sysfs.SetPortXmitData("mlx5_0", 2, "4294967295");
  bytes = reader.ReadPortXmitBytes({"mlx5_0", 2});
  EXPECT_EQ(bytes.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(bytes.status().message().find("saturated"), std::string::npos);
  for (const char* bad : {"", "12x", "-1", "99999999999999999999"}) {
    sysfs.SetPortXmitData("mlx5_0", 2, bad);
    bytes = reader.ReadPortXmitBytes({"mlx5_0", 2});
    EXPECT_EQ(bytes.status().code(), Status::Code::kCorruption) << bad;
  }
  sysfs.SetPortXmitData("mlx5_0", 2, "4611686018427387904");   // 2^62.
  EXPECT_EQ(reader.ReadPortXmitBytes({"mlx5_0", 2}).status().code(),
            Status::Code::kCorruption);
}

TEST(RdmaSysfsTest, ReadsTheDriverOfADevice) {
  FakeSysfs sysfs;
  sysfs.AddRdmaDevice("mlx5_0", 1);
  sysfs.AddRdmaDevice("rxe0", 1);
  sysfs.SetDriver("mlx5_0", "mlx5_core");
  RdmaSysfs reader(sysfs.root());
  Result<std::string> driver = reader.ReadDeviceDriver("mlx5_0");
  ASSERT_TRUE(driver.ok()) << driver.status().ToString();
  EXPECT_EQ(*driver, "mlx5_core");
  EXPECT_TRUE(reader.ReadDeviceDriver("rxe0").status().IsNotFound());
}

// A DPDK member ("dpdk0", no netdev of that name) whose devargs name a
// ConnectX function: the table publishes its PCI address, which finds the
// RDMA device; the port is the one whose GID table names the function's
// netdev (mlx5's bifurcated driver keeps it).
TEST(RdmaSysfsTest, FindsDpdkMemberThroughItsPciAddress) {
  FakeSysfs sysfs;
  sysfs.AddRdmaDevice("mlx5_0", 1);
  sysfs.AddRdmaDevice("mlx5_1", 1);
  sysfs.AddPciFunction("0000:03:00.0", "mlx5_0", "ens1f0np0");
  sysfs.AddPciFunction("0000:03:00.1", "mlx5_1", "ens1f1np1");
  sysfs.SetGid("mlx5_1", 1, 0, kLinkLocalGid, "RoCE v2", "ens1f1np1");
  RdmaSysfs reader(sysfs.root());

  Result<RdmaPortRef> p = reader.FindRdmaPortByPci("0000:03:00.1");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, (RdmaPortRef{"mlx5_1", 1}));
  // As a member: no netdev published (a name such as "dpdk0" is none).
  p = reader.FindMemberRdmaPort("dpdk1", "", "0000:03:00.1");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, (RdmaPortRef{"mlx5_1", 1}));
  p = reader.FindMemberRdmaPort("dpdk0", "", "0000:03:00.0");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, (RdmaPortRef{"mlx5_0", 1}));
  // A published netdev that sysfs does not show (another namespace) falls
  // back to the PCI function.
  p = reader.FindMemberRdmaPort("dpdk0", "ens1f0np0", "0000:03:00.0");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, (RdmaPortRef{"mlx5_0", 1}));
}

TEST(RdmaSysfsTest, PciFunctionsWithoutRdmaAreNamed) {
  FakeSysfs sysfs;
  sysfs.MakeDirectory("bus/pci/devices/0000:81:00.0/net/enp129s0");
  RdmaSysfs reader(sysfs.root());
  Result<RdmaPortRef> p = reader.FindRdmaPortByPci("0000:81:00.0");
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.status().IsNotFound());
  EXPECT_NE(p.status().ToString().find(
                "no RDMA device at PCI function 0000:81:00.0"),
            std::string::npos)
      << p.status().ToString();
  p = reader.FindRdmaPortByPci("0000:82:00.0");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().ToString().find(
                "PCI function 0000:82:00.0 does not exist"),
            std::string::npos)
      << p.status().ToString();
  // Never a path outside the PCI devices.
  p = reader.FindRdmaPortByPci("../../class/net");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Status::Code::kInvalidArgument)
      << p.status().ToString();
  // A DPDK vdev: neither a netdev nor a PCI function.
  p = reader.FindMemberRdmaPort("dpdk0", "", "");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().ToString().find(
                "member \"dpdk0\" is neither a kernel netdev nor at a PCI "
                "function"),
            std::string::npos)
      << p.status().ToString();
}

TEST(RdmaSysfsTest, UsesDevPortWhenTheGidTableDoesNotNameTheNetdev) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth2", "52:54:00:00:00:02");
  sysfs.WriteNet("eth2", "dev_port", "1");
  sysfs.AddRdmaDevice("mlx4_0", 2);
  sysfs.LinkHardware("eth2", "mlx4_0");
  Result<RdmaPortRef> port = RdmaSysfs(sysfs.root()).FindRdmaPort("eth2");
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  EXPECT_EQ(*port, (RdmaPortRef{"mlx4_0", 2}));

  // A dev_port beyond the device's ports falls back to port 1.
  sysfs.WriteNet("eth2", "dev_port", "5");
  EXPECT_EQ(*RdmaSysfs(sysfs.root()).FindRdmaPort("eth2"),
            (RdmaPortRef{"mlx4_0", 1}));
}

TEST(RdmaSysfsTest, FindsRxeDeviceByNdev) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("veth1", "52:54:00:00:00:11");
  sysfs.AddNetdev("veth2", "52:54:00:00:00:12");
  sysfs.AddRdmaDevice("rxe0", 1);
  sysfs.AddRdmaDevice("rxe1", 1);
  sysfs.SetGid("rxe0", 1, 0, kLinkLocalGid, "IB/RoCE v1", "veth2");
  sysfs.SetGid("rxe1", 1, 0, kLinkLocalGid, "IB/RoCE v1", "veth1");
  sysfs.SetGid("rxe1", 1, 1, kLinkLocalGid, "RoCE v2", "veth1");
  Result<RdmaPortRef> port = RdmaSysfs(sysfs.root()).FindRdmaPort("veth1");
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  EXPECT_EQ(*port, (RdmaPortRef{"rxe1", 1}));
  EXPECT_EQ(*RdmaSysfs(sysfs.root()).FindRdmaPort("veth2"),
            (RdmaPortRef{"rxe0", 1}));
}

TEST(RdmaSysfsTest, FindsRxeDeviceByParent) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("veth1", "52:54:00:00:00:11");
  sysfs.AddRdmaDevice("rxe_veth1", 1);  // No GIDs yet.
  sysfs.WriteIb("rxe_veth1", "parent", "veth1\n");
  Result<RdmaPortRef> port = RdmaSysfs(sysfs.root()).FindRdmaPort("veth1");
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  EXPECT_EQ(*port, (RdmaPortRef{"rxe_veth1", 1}));
}

TEST(RdmaSysfsTest, PrefersTheHardwareDeviceOverASoftOne) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth1", "52:54:00:00:00:01");
  sysfs.AddRdmaDevice("mlx5_1", 1);
  sysfs.AddRdmaDevice("a_rxe", 1);  // Sorts first.
  sysfs.LinkHardware("eth1", "mlx5_1");
  sysfs.SetGid("a_rxe", 1, 0, kLinkLocalGid, "RoCE v2", "eth1");
  sysfs.SetGid("mlx5_1", 1, 0, kLinkLocalGid, "RoCE v2", "eth1");
  EXPECT_EQ(*RdmaSysfs(sysfs.root()).FindRdmaPort("eth1"),
            (RdmaPortRef{"mlx5_1", 1}));
}

TEST(RdmaSysfsTest, NoDeviceBehindMemberSaysHowToCreateOne) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth1", "52:54:00:00:00:01");
  sysfs.AddNetdev("eth2", "52:54:00:00:00:02");
  sysfs.AddRdmaDevice("rxe0", 1);
  sysfs.SetGid("rxe0", 1, 0, kLinkLocalGid, "RoCE v2", "eth2");
  Result<RdmaPortRef> port = RdmaSysfs(sysfs.root()).FindRdmaPort("eth1");
  ASSERT_FALSE(port.ok());
  EXPECT_TRUE(port.status().IsNotFound());
  EXPECT_EQ(port.status().ToString(),
            "no RDMA device behind member \"eth1\" (load rdma_rxe: `rdma "
            "link add rxe_eth1 type rxe netdev eth1`, or check the NIC "
            "driver)");

  // Without the RDMA core at all (no /sys/class/infiniband): the same.
  FakeSysfs bare;
  bare.AddNetdev("eth1", "52:54:00:00:00:01");
  Result<RdmaPortRef> none = RdmaSysfs(bare.root()).FindRdmaPort("eth1");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().ToString(), port.status().ToString());
}

TEST(RdmaSysfsTest, UnknownMemberIsNamed) {
  FakeSysfs sysfs;
  Result<RdmaPortRef> port = RdmaSysfs(sysfs.root()).FindRdmaPort("eth9");
  ASSERT_FALSE(port.ok());
  EXPECT_TRUE(port.status().IsNotFound());
  EXPECT_EQ(port.status().ToString(),
            "member \"eth9\" does not exist (no " + sysfs.root() +
                "/class/net/eth9)");
  // Names that would escape the tree are refused the same way.
  EXPECT_FALSE(RdmaSysfs(sysfs.root()).FindRdmaPort("../net").ok());
  EXPECT_FALSE(RdmaSysfs(sysfs.root()).FindRdmaPort("").ok());
}

TEST(RdmaSysfsTest, UnreadableSysfsIsAnIoError) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth1", "52:54:00:00:00:01");
  // class/infiniband is a file: listing it fails with ENOTDIR.
  sysfs.WriteFile("class/infiniband", "garbage");
  Result<RdmaPortRef> port = RdmaSysfs(sysfs.root()).FindRdmaPort("eth1");
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), Status::Code::kIOError);
  EXPECT_NE(port.status().message().find("cannot list " + sysfs.root() +
                                         "/class/infiniband"),
            std::string::npos)
      << port.status().ToString();
  EXPECT_NE(port.status().message().find("is sysfs mounted"),
            std::string::npos);
}

// The GID table of an rxe device over veth1, as the kernel fills it: a
// RoCE v1 and a RoCE v2 entry per address, link-local first.
void AddRxeGidTable(FakeSysfs* sysfs) {
  sysfs->AddNetdev("veth1", "52:54:00:12:34:56");
  sysfs->AddRdmaDevice("rxe0", 1);
  sysfs->SetGid("rxe0", 1, 0, kLinkLocalGid, "IB/RoCE v1", "veth1");
  sysfs->SetGid("rxe0", 1, 1, kLinkLocalGid, "RoCE v2", "veth1");
  sysfs->SetGid("rxe0", 1, 2, kIpv4Gid, "IB/RoCE v1", "veth1");
  sysfs->SetGid("rxe0", 1, 3, kIpv4Gid, "RoCE v2", "veth1");
  sysfs->SetGid("rxe0", 1, 4, kIpv6Gid, "IB/RoCE v1", "veth1");
  sysfs->SetGid("rxe0", 1, 5, kIpv6Gid, "RoCE v2", "veth1");
  sysfs->AddEmptyGids("rxe0", 1, 6, 16);
}

TEST(RdmaSysfsTest, ReadsPopulatedGidsOnly) {
  FakeSysfs sysfs;
  AddRxeGidTable(&sysfs);
  Result<std::vector<SysfsGid>> gids =
      RdmaSysfs(sysfs.root()).ReadGids({"rxe0", 1});
  ASSERT_TRUE(gids.ok()) << gids.status().ToString();
  ASSERT_EQ(gids->size(), 6u);
  EXPECT_EQ((*gids)[3].index, 3u);
  EXPECT_EQ((*gids)[3].type, "RoCE v2");
  EXPECT_EQ((*gids)[3].ndev, "veth1");
  EXPECT_EQ(FormatSysfsGid((*gids)[3].gid), kIpv4Gid);

  Result<std::vector<SysfsGid>> missing =
      RdmaSysfs(sysfs.root()).ReadGids({"rxe0", 2});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_NE(missing.status().message().find("rxe0:2 does not exist"),
            std::string::npos);
}

TEST(RdmaSysfsTest, FindsTheRoceV2GidAmongV1AndLinkLocalOnes) {
  FakeSysfs sysfs;
  AddRxeGidTable(&sysfs);
  RdmaSysfs reader(sysfs.root());
  Result<RoceGid> v4 = reader.FindRoceV2Gid({"rxe0", 1}, "veth1",
                                            Ip("10.0.0.1"));
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->index, 3u);
  EXPECT_EQ(v4->ndev, "veth1");
  EXPECT_EQ(v4->gid, IpAddressToGid(Ip("10.0.0.1")));
  Result<RoceGid> v6 = reader.FindRoceV2Gid({"rxe0", 1}, "veth1",
                                            Ip("fd00::1"));
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->index, 5u);
  Result<RoceGid> link_local = reader.FindRoceV2Gid(
      {"rxe0", 1}, "veth1", Ip("fe80::5054:ff:fe12:3456"));
  ASSERT_TRUE(link_local.ok());
  EXPECT_EQ(link_local->index, 1u);
}

TEST(RdmaSysfsTest, Ipv4OnlyAsRoceV1IsAnError) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("veth1", "52:54:00:12:34:56");
  sysfs.AddRdmaDevice("rxe0", 1);
  sysfs.SetGid("rxe0", 1, 0, kLinkLocalGid, "IB/RoCE v1", "veth1");
  sysfs.SetGid("rxe0", 1, 1, kIpv4Gid, "IB/RoCE v1", "veth1");
  Result<RoceGid> gid = RdmaSysfs(sysfs.root()).FindRoceV2Gid(
      {"rxe0", 1}, "veth1", Ip("10.0.0.1"));
  ASSERT_FALSE(gid.ok());
  EXPECT_TRUE(gid.status().IsNotFound());
  EXPECT_EQ(gid.status().ToString(),
            "no RoCEv2 GID for 10.0.0.1 on rxe0 port 1 (index 1 has it only "
            "as IB/RoCE v1, which sends no UDP; GIDs seen: 0 "
            "fe80::5054:ff:fe12:3456 IB/RoCE v1 veth1, 1 10.0.0.1 IB/RoCE v1 "
            "veth1)");
}

TEST(RdmaSysfsTest, IpNotOnTheNetdevListsTheGidsSeen) {
  FakeSysfs sysfs;
  AddRxeGidTable(&sysfs);
  Result<RoceGid> gid = RdmaSysfs(sysfs.root()).FindRoceV2Gid(
      {"rxe0", 1}, "veth1", Ip("10.0.0.2"));
  ASSERT_FALSE(gid.ok());
  const std::string& message = gid.status().message();
  EXPECT_EQ(message.rfind("no RoCEv2 GID for 10.0.0.2 on rxe0 port 1 (the "
                          "IP must be on the netdev the RNIC uses, veth1 or "
                          "an upper device of it; GIDs seen: 0 ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("3 10.0.0.1 RoCE v2 veth1"), std::string::npos);
  EXPECT_NE(message.find("5 fd00::1 RoCE v2 veth1)"), std::string::npos);

  FakeSysfs empty;
  empty.AddNetdev("veth1", "52:54:00:12:34:56");
  empty.AddRdmaDevice("rxe0", 1);
  empty.AddEmptyGids("rxe0", 1, 0, 4);
  Result<RoceGid> none = RdmaSysfs(empty.root()).FindRoceV2Gid(
      {"rxe0", 1}, "veth1", Ip("10.0.0.1"));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("GIDs seen: none)"),
            std::string::npos)
      << none.status().ToString();
}

TEST(RdmaSysfsTest, PrefersTheMemberThenAnUpperDeviceThenAnyNdev) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth1", "52:54:00:00:00:01");
  sysfs.AddNetdev("bond0", "52:54:00:00:00:01");
  sysfs.AddNetdev("other0", "52:54:00:00:00:09");
  sysfs.AddUpper("eth1", "bond0");
  sysfs.AddRdmaDevice("mlx5_0", 1);
  sysfs.SetGid("mlx5_0", 1, 1, kIpv4Gid, "RoCE v2", "other0");
  sysfs.SetGid("mlx5_0", 1, 2, kIpv4Gid, "RoCE v2", "bond0");
  sysfs.SetGid("mlx5_0", 1, 3, kIpv4Gid, "RoCE v2", "eth1");
  const RdmaPortRef port{"mlx5_0", 1};
  const IpAddress ip = Ip("10.0.0.1");

  Result<RoceGid> gid = RdmaSysfs(sysfs.root()).FindRoceV2Gid(port, "eth1",
                                                              ip);
  ASSERT_TRUE(gid.ok()) << gid.status().ToString();
  EXPECT_EQ(gid->index, 3u);
  EXPECT_EQ(gid->ndev, "eth1");

  sysfs.ClearGid("mlx5_0", 1, 3);
  gid = RdmaSysfs(sysfs.root()).FindRoceV2Gid(port, "eth1", ip);
  ASSERT_TRUE(gid.ok()) << gid.status().ToString();
  EXPECT_EQ(gid->index, 2u);
  EXPECT_EQ(gid->ndev, "bond0");

  sysfs.ClearGid("mlx5_0", 1, 2);
  gid = RdmaSysfs(sysfs.root()).FindRoceV2Gid(port, "eth1", ip);
  ASSERT_TRUE(gid.ok()) << gid.status().ToString();
  EXPECT_EQ(gid->index, 1u);
  EXPECT_EQ(gid->ndev, "other0");
}

TEST(RdmaSysfsTest, UpperDevicesAreTransitive) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth1", "52:54:00:00:00:01");
  sysfs.AddNetdev("bond0", "52:54:00:00:00:01");
  sysfs.AddNetdev("bond0.100", "52:54:00:00:00:01");
  sysfs.AddUpper("eth1", "bond0");
  sysfs.AddUpper("bond0", "bond0.100");
  // A loop in a corrupt tree terminates.
  sysfs.AddUpper("bond0.100", "eth1");
  EXPECT_EQ(RdmaSysfs(sysfs.root()).UpperDevices("eth1"),
            (std::vector<std::string>{"bond0", "bond0.100"}));
  EXPECT_TRUE(RdmaSysfs(sysfs.root()).UpperDevices("eth7").empty());
}

TEST(RdmaSysfsTest, ReadsTheNetdevMac) {
  FakeSysfs sysfs;
  sysfs.AddNetdev("eth1", "52:54:00:ab:cd:ef");
  Result<MacAddress> mac = RdmaSysfs(sysfs.root()).ReadNetdevMac("eth1");
  ASSERT_TRUE(mac.ok()) << mac.status().ToString();
  EXPECT_EQ(ToString(*mac), "52:54:00:ab:cd:ef");
  EXPECT_FALSE(RdmaSysfs(sysfs.root()).ReadNetdevMac("eth2").ok());
}

TEST(RdmaSysfsTest, TrailingSlashesOfTheRootAreIgnored) {
  FakeSysfs sysfs;
  AddRxeGidTable(&sysfs);
  RdmaSysfs reader(sysfs.root() + "//");
  EXPECT_EQ(reader.root(), sysfs.root());
  EXPECT_EQ(*reader.FindRdmaPort("veth1"), (RdmaPortRef{"rxe0", 1}));
}

}  // namespace
}  // namespace rdma_bond
