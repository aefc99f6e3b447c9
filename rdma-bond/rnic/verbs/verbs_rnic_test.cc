// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// What of the verbs backend can be tested without an RDMA device: the flow
// label that pins a source port, the MTU and ACK timeout encodings, and
// (with libibverbs) the error paths of VerbsRnic::Open(), the memlock
// check and the completion status mapping.  QP state transitions, posting
// and completions need a device (rdma_rxe in the lab VMs).

#include "rnic/verbs/verbs_rnic.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "rdma_bond/roce.h"

#ifdef RDMA_BOND_HAVE_VERBS
#include <infiniband/verbs.h>
#endif

namespace rdma_bond {
namespace {

// rdma_flow_label_to_udp_sport() as written in the kernel's
// include/rdma/ib_verbs.h, kept apart from roce.h so that a change there
// is caught here.
uint16_t KernelFlowLabelToUdpSport(uint32_t fl) {
  uint32_t fl_low = fl & 0x03fff;
  const uint32_t fl_high = fl & 0xfc000;
  fl_low ^= fl_high >> 14;
  return static_cast<uint16_t>(fl_low | 0xc000);
}

TEST(VerbsFlowLabelTest, SamplePortsComeBackFromTheirFlowLabel) {
  for (uint16_t sport : {0xc000, 0xc001, 0xd5a3, 0xe000, 0xfffe, 0xffff}) {
    const uint32_t label = UdpSportToFlowLabel(sport);
    EXPECT_NE(label, 0u) << sport;  // 0 would mean "derive from the QPNs".
    EXPECT_EQ(label & ~kFlowLabelMask, 0u) << sport;
    EXPECT_EQ(KernelFlowLabelToUdpSport(label), sport) << sport;
  }
  EXPECT_EQ(UdpSportToFlowLabel(0xc000), 0x4001u);
  EXPECT_EQ(UdpSportToFlowLabel(0xd5a3), 0x15a3u);
}

TEST(VerbsFlowLabelTest, EveryRoceSourcePortRoundTrips) {
  for (uint32_t port = kRoceSportMin; port <= 0xffff; port++) {
    const uint16_t sport = static_cast<uint16_t>(port);
    const uint32_t label = UdpSportToFlowLabel(sport);
    ASSERT_NE(label, 0u) << port;
    ASSERT_LE(label, kFlowLabelMask) << port;
    ASSERT_EQ(KernelFlowLabelToUdpSport(label), sport) << port;
    // rdma_get_udp_sport() (rxe, mlx5) uses the label whatever the QPNs.
    ASSERT_EQ(QpUdpSport(label, 0x11, 0x12), sport) << port;
  }
}

TEST(VerbsMappingTest, MtuBytesMapToIbMtuCodes) {
  EXPECT_EQ(IbMtuCodeFromBytes(0), 0);
  EXPECT_EQ(IbMtuCodeFromBytes(255), 0);
  EXPECT_EQ(IbMtuCodeFromBytes(256), 1);
  EXPECT_EQ(IbMtuCodeFromBytes(511), 1);
  EXPECT_EQ(IbMtuCodeFromBytes(512), 2);
  EXPECT_EQ(IbMtuCodeFromBytes(1024), 3);
  EXPECT_EQ(IbMtuCodeFromBytes(1500), 3);
  EXPECT_EQ(IbMtuCodeFromBytes(2048), 4);
  EXPECT_EQ(IbMtuCodeFromBytes(4095), 4);
  EXPECT_EQ(IbMtuCodeFromBytes(4096), 5);
  EXPECT_EQ(IbMtuCodeFromBytes(9000), 5);
  for (int code = kIbMtuCodeMin; code <= kIbMtuCodeMax; code++) {
    EXPECT_EQ(IbMtuCodeFromBytes(IbMtuBytes(code)), code);
  }
  EXPECT_EQ(IbMtuBytes(0), 0u);
  EXPECT_EQ(IbMtuBytes(6), 0u);
  EXPECT_EQ(IbMtuBytes(3), 1024u);
#ifdef RDMA_BOND_HAVE_VERBS
  EXPECT_EQ(IbMtuCodeFromBytes(256), IBV_MTU_256);
  EXPECT_EQ(IbMtuCodeFromBytes(4096), IBV_MTU_4096);
#endif
}

TEST(VerbsMappingTest, AckTimeoutIsTheSmallestExponentNotShorter) {
  EXPECT_EQ(AckTimeoutExponent(0), 1);         // Never 0 (infinite).
  EXPECT_EQ(AckTimeoutExponent(8), 1);         // 8.192 us.
  EXPECT_EQ(AckTimeoutExponent(9), 2);         // 16.384 us.
  EXPECT_EQ(AckTimeoutExponent(4096), 10);     // 4194.304 us.
  EXPECT_EQ(AckTimeoutExponent(4195), 11);
  EXPECT_EQ(AckTimeoutExponent(1000000), 18);  // 1.07 s.
  EXPECT_EQ(AckTimeoutExponent(UINT32_MAX), 30);  // 4398 s >= 4295 s.
  EXPECT_EQ(AckTimeoutUs(10), 4194u);
  for (uint32_t us = 1; us < 100000000; us = us * 3 + 1) {
    const uint8_t t = AckTimeoutExponent(us);
    ASSERT_GE(t, kAckTimeoutExponentMin) << us;
    ASSERT_LE(t, kAckTimeoutExponentMax) << us;
    ASSERT_GE((kAckTimeoutUnitNs << t), uint64_t{us} * 1000) << us;
    if (t > kAckTimeoutExponentMin) {
      ASSERT_LT((kAckTimeoutUnitNs << (t - 1)), uint64_t{us} * 1000) << us;
    }
  }
}

#ifdef RDMA_BOND_HAVE_VERBS

namespace fs = std::filesystem;

// Relative path -> contents.
using Files = std::map<std::string, std::string>;

// A temporary directory holding the files given, removed at the end.
class TempTree {
 public:
  explicit TempTree(const Files& files) {
    std::string pattern =
        (fs::temp_directory_path() / "verbs-rnic-test-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
    EXPECT_FALSE(root_.empty());
    for (const auto& [relative, contents] : files) {
      const fs::path path = fs::path(root_) / relative;
      fs::create_directories(path.parent_path());
      std::ofstream(path) << contents;
    }
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

constexpr const char* kIpv4Gid = "0000:0000:0000:0000:0000:ffff:0a00:0001\n";

VerbsRnicOptions Options(const std::string& root, const char* member) {
  VerbsRnicOptions options;
  options.member = member;
  options.local_ip = *ParseIpAddress("10.0.0.1");
  options.sysfs_root = root;
  return options;
}

TEST(VerbsRnicTest, OpenOnMemberWithoutDeviceSaysHowToCreateOne) {
  TempTree sysfs(Files{{"class/net/eth1/address", "52:54:00:00:00:01\n"}});
  Result<std::unique_ptr<VerbsRnic>> rnic =
      VerbsRnic::Open(Options(sysfs.root(), "eth1"));
  ASSERT_FALSE(rnic.ok());
  EXPECT_TRUE(rnic.status().IsNotFound());
  EXPECT_EQ(rnic.status().ToString(),
            "no RDMA device behind member \"eth1\" (load rdma_rxe: `rdma "
            "link add rxe_eth1 type rxe netdev eth1`, or check the NIC "
            "driver)");
}

TEST(VerbsRnicTest, OpenWithTheIpOnlyAsRoceV1Fails) {
  const std::string port = "class/infiniband/rxe0/ports/1/";
  TempTree sysfs({{"class/net/veth1/address", "52:54:00:00:00:01\n"},
                  {port + "gids/0", kIpv4Gid},
                  {port + "gid_attrs/types/0", "IB/RoCE v1\n"},
                  {port + "gid_attrs/ndevs/0", "veth1\n"}});
  Result<std::unique_ptr<VerbsRnic>> rnic =
      VerbsRnic::Open(Options(sysfs.root(), "veth1"));
  ASSERT_FALSE(rnic.ok());
  EXPECT_EQ(rnic.status().message().rfind(
                "no RoCEv2 GID for 10.0.0.1 on rxe0 port 1 (index 0 has it "
                "only as IB/RoCE v1",
                0),
            0u)
      << rnic.status().ToString();
}

TEST(VerbsRnicTest, OpenOfADeviceLibibverbsDoesNotSeeFails) {
  // sysfs says rxe_fake9 is behind veth1 with the right GID, but no such
  // verbs device exists (on this machine none at all).
  const std::string port = "class/infiniband/rxe_fake9/ports/1/";
  TempTree sysfs({{"class/net/veth1/address", "52:54:00:00:00:01\n"},
                  {port + "gids/0", kIpv4Gid},
                  {port + "gid_attrs/types/0", "RoCE v2\n"},
                  {port + "gid_attrs/ndevs/0", "veth1\n"}});
  Result<std::unique_ptr<VerbsRnic>> rnic =
      VerbsRnic::Open(Options(sysfs.root(), "veth1"));
  ASSERT_FALSE(rnic.ok());
  const std::string message = rnic.status().ToString();
  const bool no_devices =
      message.starts_with("no RDMA devices (ibv_get_device_list") &&
      message.ends_with("): load rdma_rxe or use --backend emulated");
  const bool not_seen =
      message.find("RDMA device rxe_fake9 (behind member \"veth1\" in "
                   "sysfs) is not among the devices libibverbs sees") == 0;
  EXPECT_TRUE(no_devices || not_seen) << message;
}

TEST(VerbsRnicTest, OpenRefusesIncompleteOptions) {
  TempTree sysfs(Files{{"class/net/eth1/address", "52:54:00:00:00:01\n"}});
  VerbsRnicOptions options = Options(sysfs.root(), "");
  Result<std::unique_ptr<VerbsRnic>> rnic = VerbsRnic::Open(options);
  ASSERT_FALSE(rnic.ok());
  EXPECT_EQ(rnic.status().code(), Status::Code::kInvalidArgument);

  options = Options(sysfs.root(), "eth1");
  options.local_ip = IpAddress{0, {}};
  rnic = VerbsRnic::Open(options);
  ASSERT_FALSE(rnic.ok());
  EXPECT_EQ(rnic.status().ToString(),
            "local IP of member \"eth1\" is not set");

  options = Options(sysfs.root(), "eth1");
  options.max_mtu = 100;
  rnic = VerbsRnic::Open(options);
  ASSERT_FALSE(rnic.ok());
  EXPECT_EQ(rnic.status().code(), Status::Code::kInvalidArgument);
}

TEST(VerbsRnicTest, CheckVerbsAvailableAgreesWithTheDeviceList) {
  Status available = CheckVerbsAvailable();
  Result<std::vector<std::string>> devices = ListVerbsDevices();
  EXPECT_EQ(available.ok(), devices.ok());
  if (devices.ok()) {
    EXPECT_FALSE(devices->empty());
  } else if (available.IsNotFound()) {
    // No device, or no RDMA support in the kernel at all (ENOSYS).
    EXPECT_TRUE(available.ToString() ==
                    "no RDMA devices (ibv_get_device_list found none): load "
                    "rdma_rxe or use --backend emulated" ||
                available.ToString() ==
                    "no RDMA devices (ibv_get_device_list: ib_uverbs is not "
                    "loaded): load rdma_rxe or use --backend emulated")
        << available.ToString();
  } else {
    EXPECT_NE(available.message().find("ibv_get_device_list"),
              std::string::npos)
        << available.ToString();
  }
}

TEST(VerbsRnicTest, MemlockCheckNamesTheLimitAndTheWayOut) {
  constexpr uint64_t kKiB = 1024;
  constexpr uint64_t kMiB = 1024 * kKiB;
  EXPECT_TRUE(CheckMemlockLimit(64 * kKiB, 0, 8 * kMiB, false, false).ok());
  EXPECT_TRUE(CheckMemlockLimit(4 * kMiB, 4 * kMiB, 8 * kMiB, false, false)
                  .ok());  // Exactly at the limit.
  EXPECT_TRUE(CheckMemlockLimit(1 << 30, 0, 8 * kMiB, true, false).ok());
  EXPECT_TRUE(CheckMemlockLimit(1 << 30, 0, 8 * kMiB, false, true).ok());

  Status over = CheckMemlockLimit(64 * kMiB, 0, 8 * kMiB, false, false);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), Status::Code::kUnavailable);
  EXPECT_EQ(over.ToString(),
            "registering 64 MiB of RDMA memory with 0 bytes already "
            "registered exceeds RLIMIT_MEMLOCK (8 MiB): raise it (ulimit -l "
            "unlimited, or LimitMEMLOCK=infinity in the systemd unit)");

  // What is registered already counts.
  Status together = CheckMemlockLimit(4 * kMiB, 4 * kMiB + 4096, 8 * kMiB,
                                      false, false);
  ASSERT_FALSE(together.ok());
  EXPECT_NE(together.message().find("with 4198400 bytes already registered"),
            std::string::npos)
      << together.ToString();

  // A zero limit (a container's default) refuses any registration.
  EXPECT_FALSE(CheckMemlockLimit(4096, 0, 0, false, false).ok());
}

TEST(VerbsRnicTest, CompletionStatusesMap) {
  EXPECT_EQ(WcStatusFromIbv(IBV_WC_SUCCESS), WcStatus::kSuccess);
  EXPECT_EQ(WcStatusFromIbv(IBV_WC_RETRY_EXC_ERR), WcStatus::kRetryExceeded);
  EXPECT_EQ(WcStatusFromIbv(IBV_WC_RNR_RETRY_EXC_ERR),
            WcStatus::kRnrRetryExceeded);
  EXPECT_EQ(WcStatusFromIbv(IBV_WC_WR_FLUSH_ERR), WcStatus::kFlushed);
  for (int remote : {IBV_WC_REM_INV_REQ_ERR, IBV_WC_REM_ACCESS_ERR,
                     IBV_WC_REM_OP_ERR, IBV_WC_REM_ABORT_ERR,
                     IBV_WC_REM_INV_RD_REQ_ERR}) {
    EXPECT_EQ(WcStatusFromIbv(remote), WcStatus::kRemoteError) << remote;
  }
  for (int local : {IBV_WC_LOC_LEN_ERR, IBV_WC_LOC_QP_OP_ERR,
                    IBV_WC_LOC_PROT_ERR, IBV_WC_MW_BIND_ERR,
                    IBV_WC_BAD_RESP_ERR, IBV_WC_LOC_ACCESS_ERR,
                    IBV_WC_FATAL_ERR, IBV_WC_GENERAL_ERR}) {
    EXPECT_EQ(WcStatusFromIbv(local), WcStatus::kLocalError) << local;
  }
}

#endif  // RDMA_BOND_HAVE_VERBS

}  // namespace
}  // namespace rdma_bond
