// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// ABI v1.1's member locations: read from a writer that publishes them,
// absent (not an error) from one that does not, and validated before a
// reader makes a sysfs path of them.

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "rdma_bond/bond.h"
#include "rdma_bond/table_reader.h"
#include "common/hex.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::EmptyLocations;
using testing::MakeRecord;
using testing::SetName;
using testing::TableOptions;
using testing::TempDir;
using testing::WritableTable;

class MemberLocationTest : public ::testing::Test {
 protected:
  void Create(bool locations) {
    TableOptions options;
    options.locations = locations;
    path_ = dir_.File(RDMA_BOND_TABLE_NAME);
    table_ = WritableTable::Create(path_, options);
    ASSERT_NE(table_, nullptr);
  }

  Result<TableSnapshot> Snap() {
    Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
    if (!reader.ok()) return reader.status();
    return (*reader)->Snapshot();
  }

  // A DPDK member on a ConnectX function (bifurcated: it has a netdev)
  // and a kernel member.
  static std::array<rdma_bond_member_location, RDMA_BOND_MAX_MEMBERS>
  DpdkAndKernel() {
    auto locs = EmptyLocations();
    locs[0].kind = RDMA_BOND_KIND_DPDK;
    locs[0].flags = RDMA_BOND_L_RX_RSS;
    SetName(locs[0].netdev_type, "dpdk");
    SetName(locs[0].pci, "0000:03:00.0");
    SetName(locs[0].kernel_netdev, "ens1f0np0");
    locs[0].dpdk_port = 0;
    SetName(locs[0].devargs, "0000:03:00.0");
    locs[1].kind = RDMA_BOND_KIND_KERNEL;
    SetName(locs[1].netdev_type, "system");
    SetName(locs[1].pci, "0000:81:00.1");
    SetName(locs[1].kernel_netdev, "p2");
    return locs;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<WritableTable> table_;
};

TEST_F(MemberLocationTest, ReadsLocations) {
  Create(true);
  auto locs = DpdkAndKernel();
  table_->Store(3, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
  Result<TableSnapshot> s = Snap();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->table.locations);
  EXPECT_EQ(s->table.minor_version, uint32_t{RDMA_BOND_ABI_MINOR});
  EXPECT_EQ(s->table.features, uint32_t{RDMA_BOND_FEATURE_LOCATIONS});
  ASSERT_EQ(s->bonds.size(), 1u);
  const Member& dpdk = s->bonds[0].members[0];
  EXPECT_TRUE(dpdk.location.dpdk());
  EXPECT_TRUE(dpdk.location.rx_rss());
  EXPECT_EQ(dpdk.location.netdev_type, "dpdk");
  EXPECT_EQ(dpdk.location.pci, "0000:03:00.0");
  EXPECT_EQ(dpdk.location.kernel_netdev, "ens1f0np0");
  EXPECT_EQ(dpdk.location.dpdk_port, std::optional<uint32_t>(0));
  EXPECT_EQ(dpdk.location.devargs, "0000:03:00.0");
  EXPECT_EQ(dpdk.Netdev(), "ens1f0np0");
  const Member& kernel = s->bonds[0].members[1];
  EXPECT_EQ(kernel.location.kind, uint32_t{RDMA_BOND_KIND_KERNEL});
  EXPECT_FALSE(kernel.location.rx_rss());
  EXPECT_EQ(kernel.location.dpdk_port, std::nullopt);
  EXPECT_EQ(kernel.location.pci, "0000:81:00.1");
  EXPECT_EQ(kernel.Netdev(), "p2");
}

TEST_F(MemberLocationTest, DpdkPortWithoutNetdevHasNone) {
  Create(true);
  auto locs = EmptyLocations();
  locs[0].kind = RDMA_BOND_KIND_DPDK;
  SetName(locs[0].pci, "0000:03:00.1");
  locs[1].kind = RDMA_BOND_KIND_DPDK;
  table_->Store(0, MakeRecord("bond0", {"dpdk0", "dpdk1"}), locs.data());
  Result<TableSnapshot> s = Snap();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  // Not the member's name: "dpdk0" is no kernel netdev.
  EXPECT_EQ(s->bonds[0].members[0].Netdev(), "");
  EXPECT_EQ(s->bonds[0].members[0].location.pci, "0000:03:00.1");
  EXPECT_EQ(s->bonds[0].members[1].Netdev(), "");
}

// New readers tolerate old writers: a v1.0 table reads as before, its
// members' names taken for their netdevs.
TEST_F(MemberLocationTest, OldWriterHasNoLocations) {
  Create(false);
  table_->Store(0, MakeRecord("bond0", {"eth0", "eth1"}));
  Result<TableSnapshot> s = Snap();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->table.locations);
  EXPECT_EQ(s->table.minor_version, 0u);
  const Member& m = s->bonds[0].members[0];
  EXPECT_EQ(m.location, MemberLocation{});
  EXPECT_EQ(m.Netdev(), "eth0");
}

// Old readers are unaffected: the header and records of a v1.1 table are
// those of v1.0 (only reserved zeros took values) and the area lies past
// RDMA_BOND_TABLE_SIZE, which is all an old reader maps.
TEST_F(MemberLocationTest, AreaLiesPastTheV10Table) {
  static_assert(RDMA_BOND_LOCATIONS_OFFSET >= RDMA_BOND_TABLE_SIZE);
  static_assert(sizeof(rdma_bond_table_header) == 160);
  static_assert(sizeof(rdma_bond_record) == 2248);
  Create(true);
  auto locs = DpdkAndKernel();
  table_->Store(0, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
  // A v1.0 reader sees this memory: no location byte in it.
  auto copy = std::make_unique<std::byte[]>(RDMA_BOND_TABLE_SIZE);
  std::memcpy(copy.get(), table_->base(), RDMA_BOND_TABLE_SIZE);
  const std::string text(reinterpret_cast<const char*>(copy.get()),
                         RDMA_BOND_TABLE_SIZE);
  EXPECT_EQ(text.find("ens1f0np0"), std::string::npos);
  EXPECT_EQ(text.find("0000:03:00.0"), std::string::npos);
  Result<std::unique_ptr<TableReader>> r = TableReader::FromMemory(
      copy.get(), RDMA_BOND_TABLE_SIZE, "v1.0 view");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Result<TableSnapshot> s = (*r)->Snapshot();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->table.locations);
  EXPECT_EQ(s->bonds[0].members[0].name, "dpdk0");
}

TEST_F(MemberLocationTest, FileTooShortForTheAreaReadsWithout) {
  Create(true);
  auto locs = DpdkAndKernel();
  table_->Store(0, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
  ASSERT_EQ(truncate(path_.c_str(), RDMA_BOND_TABLE_SIZE), 0);
  Result<TableSnapshot> s = Snap();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->table.locations);
  EXPECT_EQ(s->bonds[0].members[0].location, MemberLocation{});
}

TEST_F(MemberLocationTest, UnknownAreaLayoutReadsWithout) {
  Create(true);
  auto locs = DpdkAndKernel();
  table_->Store(0, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
  table_->header()->location_size = 192;   // A layout this reader lacks.
  Result<TableSnapshot> s = Snap();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->table.locations);
  EXPECT_EQ(s->bonds[0].members[0].location.kind,
            uint32_t{RDMA_BOND_KIND_UNKNOWN});
}

TEST_F(MemberLocationTest, UnknownKindReadsAsUnknown) {
  Create(true);
  auto locs = DpdkAndKernel();
  locs[1].kind = 9;   // From a later minor version.
  table_->Store(0, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
  Result<TableSnapshot> s = Snap();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bonds[0].members[1].location.kind,
            uint32_t{RDMA_BOND_KIND_UNKNOWN});
}

// The strings become sysfs paths: a corrupt or hostile table must not
// lead a reader elsewhere.
TEST_F(MemberLocationTest, RejectsWhatIsNoPciAddress) {
  for (const char* bad : {"../../../etc", "0000:03:00.0/", "0000:3:00.0",
                          "0000:03:00.0x", "0000:03:00:0", "0000:0G:00.0",
                          "0000:03:00.A"}) {
    Create(true);
    auto locs = DpdkAndKernel();
    SetName(locs[0].pci, bad);
    table_->Store(0, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
    Result<TableSnapshot> s = Snap();
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().ToString().find(
                  "slot 0: locations[0].pci \"" + std::string(bad) +
                  "\" is not a PCI address (bond \"bond0\")"),
              std::string::npos)
        << s.status().ToString();
  }
}

TEST_F(MemberLocationTest, RejectsWhatIsNoNetdevName) {
  for (const char* bad : {"..", ".", "a/b", "eth 0", "eth0:1"}) {
    Create(true);
    auto locs = DpdkAndKernel();
    SetName(locs[1].kernel_netdev, bad);
    table_->Store(0, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
    Result<TableSnapshot> s = Snap();
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().ToString().find("locations[1].kernel_netdev"),
              std::string::npos)
        << s.status().ToString();
  }
}

TEST_F(MemberLocationTest, RejectsUnterminatedStrings) {
  Create(true);
  auto locs = DpdkAndKernel();
  std::memset(locs[0].devargs, 'a', sizeof locs[0].devargs);
  table_->Store(0, MakeRecord("bond0", {"dpdk0", "p2"}), locs.data());
  Result<TableSnapshot> s = Snap();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().ToString().find(
                "slot 0: locations[0].devargs is not null-terminated"),
            std::string::npos)
      << s.status().ToString();
}

TEST(IsPciAddressTest, KernelForm) {
  EXPECT_TRUE(IsPciAddress("0000:03:00.0"));
  EXPECT_TRUE(IsPciAddress("abcd:ef:1f.7"));
  EXPECT_FALSE(IsPciAddress(""));
  EXPECT_FALSE(IsPciAddress("03:00.0"));
  EXPECT_FALSE(IsPciAddress("0000:03:00.0 "));
  EXPECT_FALSE(IsPciAddress("0000:03:00-0"));
}

}  // namespace
}  // namespace rdma_bond
