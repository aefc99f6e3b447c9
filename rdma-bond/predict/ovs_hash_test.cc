// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// ovs_hash against the values that Open vSwitch's own compiled code
// printed (golden_vectors.h): every primitive, hash_int(), hash_mac(),
// flow_hash_5tuple() for IPv4 and IPv6, every regime, and the datapath's
// miniflow_hash_5tuple() of real packets, for each implementation this
// machine can run.

#include "rdma_bond/ovs_hash.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "predict/golden_vectors.h"

namespace rdma_bond {
namespace {

using testing::GoldenFile;
using testing::GoldenTuple;
using testing::kGoldenVariants;
using testing::kMinGoldenTuples;
using testing::LoadGolden;

// Records of each other kind a golden file must hold (the generator
// prints 1000).
constexpr size_t kMinGoldenOps = 1000;

std::string Hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

// "file:line (udp 10.0.0.1:49152 -> 10.0.0.2:4791, basis 7)".
std::string Where(const GoldenFile& file, const GoldenTuple& t) {
  return file.path + ":" + std::to_string(t.line) + " (" +
         ToString(t.tuple) + ", basis " + Hex(t.basis) + ")";
}

class OvsHashGoldenTest : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override {
    Result<GoldenFile> file = LoadGolden(GetParam());
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    golden_ = std::move(*file);
    if (!golden_.unavailable.empty()) {
      GTEST_SKIP() << golden_.path << ": " << golden_.unavailable;
    }
    if (Status s = HashImplAvailable(golden_.impl); !s.ok()) {
      GTEST_SKIP() << ToString(golden_.impl) << ": " << s.ToString();
    }
  }

  HashImpl impl() const { return golden_.impl; }

  GoldenFile golden_;
};

TEST_P(OvsHashGoldenTest, FileIsCompleteAndOfTheExpectedImplementation) {
  if (GetParam() == "mhash") {
    EXPECT_EQ(impl(), HashImpl::kMhash);
  } else if (GetParam() == "crc32") {
    EXPECT_TRUE(impl() == HashImpl::kX86Crc32 ||
                impl() == HashImpl::kArm64Crc32)
        << ToString(impl());
  }
  EXPECT_GE(golden_.CountTuples(4), kMinGoldenTuples);
  EXPECT_GE(golden_.CountTuples(6), kMinGoldenTuples);
  EXPECT_GE(golden_.adds.size(), kMinGoldenOps);
  EXPECT_GE(golden_.add64s.size(), kMinGoldenOps);
  EXPECT_GE(golden_.finishes.size(), kMinGoldenOps);
  EXPECT_GE(golden_.ints.size(), kMinGoldenOps);
  EXPECT_GE(golden_.macs.size(), kMinGoldenOps);
}

TEST_P(OvsHashGoldenTest, PrimitivesMatchOvs) {
  for (const auto& op : golden_.adds) {
    ASSERT_EQ(Hex(HashAdd(impl(), op.a, static_cast<uint32_t>(op.b))),
              Hex(op.result))
        << "hash_add(" << Hex(op.a) << ", " << op.b << ")";
  }
  for (const auto& op : golden_.add64s) {
    ASSERT_EQ(Hex(HashAdd64(impl(), op.a, op.b)), Hex(op.result))
        << "hash_add64(" << Hex(op.a) << ", " << op.b << ")";
  }
  for (const auto& op : golden_.finishes) {
    ASSERT_EQ(Hex(HashFinish(impl(), op.a, op.b)), Hex(op.result))
        << "hash_finish(" << Hex(op.a) << ", " << op.b << ")";
  }
  for (const auto& op : golden_.ints) {
    ASSERT_EQ(Hex(HashInt(impl(), op.a, static_cast<uint32_t>(op.b))),
              Hex(op.result))
        << "hash_int(" << Hex(op.a) << ", " << op.b << ")";
  }
}

TEST_P(OvsHashGoldenTest, HashMacMatchesOvs) {
  for (const auto& m : golden_.macs) {
    ASSERT_EQ(Hex(HashMac(impl(), m.mac, m.vlan, m.basis)), Hex(m.result))
        << "hash_mac(" << FormatMac(m.mac) << ", " << m.vlan << ", "
        << Hex(m.basis) << ")";
  }
}

TEST_P(OvsHashGoldenTest, FlowHash5TupleMatchesOvsForIpv4AndIpv6) {
  for (const GoldenTuple& t : golden_.tuples) {
    const FlowKey key(t.tuple);
    ASSERT_EQ(Hex(FlowHash5Tuple(impl(), key, 0)), Hex(t.hash_basis0))
        << Where(golden_, t) << ": flow_hash_5tuple(t, 0)";
    ASSERT_EQ(Hex(FlowHash5Tuple(impl(), key, t.basis)), Hex(t.hash_basis))
        << Where(golden_, t) << ": flow_hash_5tuple(t, basis)";
  }
}

TEST_P(OvsHashGoldenTest, EveryRegimeMatchesOvs) {
  struct Case {
    HashRegime regime;
    uint32_t GoldenTuple::*expected;
  };
  const Case cases[] = {
      {HashRegime::kRecirc, &GoldenTuple::hash_int},
      {HashRegime::kLbOutput, &GoldenTuple::hash_basis0},
      {HashRegime::kXlate, &GoldenTuple::hash_basis},
      {HashRegime::kKernel, &GoldenTuple::hash_basis0},  // Canonical.
  };
  for (const Case& c : cases) {
    for (const GoldenTuple& t : golden_.tuples) {
      Result<RegimeHasher> hasher = RegimeHasher::Create(
          impl(), c.regime, t.basis, /*accept_canonical=*/true);
      ASSERT_TRUE(hasher.ok()) << hasher.status().ToString();
      const FlowKey key(t.tuple);
      uint32_t batch = 0;
      hasher->HashBatch(std::span(&key, 1), std::span(&batch, 1));
      ASSERT_EQ(Hex(hasher->Hash(key)), Hex(t.*c.expected))
          << Where(golden_, t) << ", regime " << ToString(c.regime);
      ASSERT_EQ(Hex(batch), Hex(t.*c.expected))
          << Where(golden_, t) << ", regime " << ToString(c.regime)
          << " (batch)";
      // The same port word through HashPorts(), from a key whose ports
      // differ: only the word passed counts.
      FlowKey other = key;
      other.ports = ~key.ports;
      const uint32_t ports[2] = {other.ports, key.ports};
      uint32_t by_ports[2] = {0, 0};
      hasher->HashPorts(other, ports, by_ports);
      ASSERT_EQ(Hex(by_ports[1]), Hex(t.*c.expected))
          << Where(golden_, t) << ", regime " << ToString(c.regime)
          << " (HashPorts)";
    }
  }
}

TEST_P(OvsHashGoldenTest, BatchesOfManyFlowsMatchOvs) {
  // One hasher over every tuple of basis 0, in one batch.
  std::vector<FlowKey> keys;
  std::vector<uint32_t> expected;
  for (const GoldenTuple& t : golden_.tuples) {
    keys.emplace_back(t.tuple);
    expected.push_back(t.hash_basis0);
  }
  Result<RegimeHasher> hasher =
      RegimeHasher::Create(impl(), HashRegime::kLbOutput, 12345, false);
  ASSERT_TRUE(hasher.ok());
  std::vector<uint32_t> hashes(keys.size());
  hasher->HashBatch(keys, hashes);
  EXPECT_EQ(hashes, expected);
}

TEST_P(OvsHashGoldenTest, DatapathMiniflowHashOfPacketsMatches) {
  size_t checked = 0;
  for (const GoldenTuple& t : golden_.tuples) {
    if (!t.miniflow0) {
      continue;
    }
    ASSERT_EQ(Hex(FlowHash5Tuple(impl(), FlowKey(t.tuple), 0)),
              Hex(*t.miniflow0))
        << Where(golden_, t) << ": miniflow_hash_5tuple() of the packet";
    checked++;
  }
  EXPECT_GE(checked, kMinGoldenTuples);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, OvsHashGoldenTest, ::testing::ValuesIn(kGoldenVariants),
    [](const ::testing::TestParamInfo<std::string_view>& info) {
      return std::string(info.param);
    });

// CRC32C (Castagnoli, reflected polynomial 0x82f63b78) of 'n' bytes, one
// bit at a time, without pre- or post-inversion: what the crc32
// instructions compute.
uint32_t SoftwareCrc32c(uint32_t crc, const void* data, size_t n) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; i++) {
    crc ^= bytes[i];
    for (int bit = 0; bit < 8; bit++) {
      crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
    }
  }
  return crc;
}

TEST(OvsHashTest, X86Crc32IsCrc32cOfTheBytesInMemoryOrder) {
  if (!HashImplAvailable(HashImpl::kX86Crc32).ok()) {
    GTEST_SKIP() << HashImplAvailable(HashImpl::kX86Crc32).ToString();
  }
  uint32_t x = 0x12345678;
  for (int i = 0; i < 1000; i++) {
    x = x * 1664525 + 1013904223;
    const uint32_t hash = x ^ 0xdeadbeef;
    const uint64_t data64 = uint64_t{x} << 32 | (x * 7);
    EXPECT_EQ(HashAdd(HashImpl::kX86Crc32, hash, x),
              SoftwareCrc32c(hash, &x, sizeof x));
    EXPECT_EQ(HashAdd64(HashImpl::kX86Crc32, hash, data64),
              SoftwareCrc32c(hash, &data64, sizeof data64));
    const uint64_t final_value = x % 64;
    const uint32_t product =
        SoftwareCrc32c(hash, &final_value, sizeof final_value) * 0x805204f3u;
    EXPECT_EQ(HashFinish(HashImpl::kX86Crc32, hash, final_value),
              product ^ (product >> 16));
  }
}

TEST(OvsHashTest, ImplementationsDifferSoThatTheGoldenTestsCanFail) {
  const FlowKey key(*MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                                  *ParseIpAddress("10.0.0.2"), 0xc000));
  for (HashImpl other : {HashImpl::kX86Crc32, HashImpl::kArm64Crc32}) {
    if (!HashImplAvailable(other).ok()) {
      continue;
    }
    EXPECT_NE(FlowHash5Tuple(HashImpl::kMhash, key, 0),
              FlowHash5Tuple(other, key, 0));
    EXPECT_NE(HashInt(HashImpl::kMhash, 1, 2), HashInt(other, 1, 2));
  }
  // The basis and the regime change the hash too.
  EXPECT_NE(FlowHash5Tuple(HashImpl::kMhash, key, 0),
            FlowHash5Tuple(HashImpl::kMhash, key, 1));
}

TEST(OvsHashTest, FlowKeyHoldsTheWordsAsReadFromMemory) {
  const FlowKey v4(*MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                                 *ParseIpAddress("10.0.0.2"), 0xc000));
  const uint8_t src[] = {10, 0, 0, 1}, dst[] = {10, 0, 0, 2};
  const uint8_t ports[] = {0xc0, 0x00, 0x12, 0xb7};  // 49152, 4791.
  EXPECT_EQ(std::memcmp(&v4.nw_src, src, 4), 0);
  EXPECT_EQ(std::memcmp(&v4.nw_dst, dst, 4), 0);
  EXPECT_EQ(std::memcmp(&v4.ports, ports, 4), 0);
  EXPECT_EQ(v4.ip_version, 4);
  EXPECT_EQ(v4.nw_proto, kIpProtoUdp);

  const IpAddress a6 = *ParseIpAddress("2001:db8::1");
  const IpAddress b6 = *ParseIpAddress("fd00::2");
  const FlowKey v6(*MakeUdpTuple(a6, b6, 0xffff));
  EXPECT_EQ(std::memcmp(&v6.ipv6[0], a6.bytes.data(), 16), 0);
  EXPECT_EQ(std::memcmp(&v6.ipv6[2], b6.bytes.data(), 16), 0);
}

TEST(OvsHashTest, SetSourcePortKeepsTheDestinationPort) {
  FlowKey key(*MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                            *ParseIpAddress("10.0.0.2"), 0xc000, 0x1234));
  key.SetSourcePort(0xfedc);
  const FlowKey expected(*MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                                       *ParseIpAddress("10.0.0.2"), 0xfedc,
                                       0x1234));
  EXPECT_EQ(key.ports, expected.ports);
}

TEST(OvsHashTest, ProtocolsWithoutPortsIgnoreThePorts) {
  FiveTuple t = *MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                              *ParseIpAddress("10.0.0.2"), 1000, 2000);
  FiveTuple u = t;
  u.sport = 3000;
  EXPECT_NE(FlowHash5Tuple(HashImpl::kMhash, FlowKey(t), 0),
            FlowHash5Tuple(HashImpl::kMhash, FlowKey(u), 0));
  t.proto = u.proto = 47;  // GRE.
  EXPECT_EQ(FlowHash5Tuple(HashImpl::kMhash, FlowKey(t), 0),
            FlowHash5Tuple(HashImpl::kMhash, FlowKey(u), 0));
}

TEST(OvsHashTest, KnowsTheTableImplementations) {
  EXPECT_EQ(ParseHashImpl(RDMA_BOND_HASH_MHASH), HashImpl::kMhash);
  EXPECT_EQ(ParseHashImpl(RDMA_BOND_HASH_X86_CRC32), HashImpl::kX86Crc32);
  EXPECT_EQ(ParseHashImpl(RDMA_BOND_HASH_ARM64_CRC32),
            HashImpl::kArm64Crc32);
  EXPECT_EQ(ParseHashImpl(0), std::nullopt);
  EXPECT_EQ(ParseHashImpl(7), std::nullopt);
  for (uint32_t raw = 1; raw <= 3; raw++) {
    EXPECT_EQ(ToString(*ParseHashImpl(raw)), HashImplName(raw));
  }
}

TEST(OvsHashTest, SaysWhichImplementationsThisMachineCanRun) {
  EXPECT_TRUE(HashImplAvailable(HashImpl::kMhash).ok());
#if defined(__x86_64__)
  __builtin_cpu_init();
  EXPECT_EQ(HashImplAvailable(HashImpl::kX86Crc32).ok(),
            static_cast<bool>(__builtin_cpu_supports("sse4.2")));
  const Status arm = HashImplAvailable(HashImpl::kArm64Crc32);
  EXPECT_TRUE(arm.IsNotSupported());
  EXPECT_EQ(arm.ToString(),
            "arm64-crc32 needs an aarch64 CPU; this reader was built for "
            "x86-64");
#elif defined(__aarch64__)
  const Status x86 = HashImplAvailable(HashImpl::kX86Crc32);
  EXPECT_TRUE(x86.IsNotSupported());
  EXPECT_NE(x86.ToString().find("x86-64"), std::string::npos);
#endif
}

TEST(RegimeHasherTest, RefusesTheKernelRegimeWithoutConsent) {
  Result<RegimeHasher> h = RegimeHasher::Create(
      HashImpl::kMhash, HashRegime::kKernel, 7, /*accept_canonical=*/false);
  ASSERT_FALSE(h.ok());
  EXPECT_TRUE(h.status().IsNotSupported());
  EXPECT_NE(h.status().message().find("cannot be reproduced"),
            std::string::npos)
      << h.status().ToString();
}

TEST(RegimeHasherTest, KernelRegimeIsTheCanonicalHashAndUnverified) {
  Result<RegimeHasher> h = RegimeHasher::Create(
      HashImpl::kMhash, HashRegime::kKernel, 7, /*accept_canonical=*/true);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->verified());
  const FlowKey key(*MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                                  *ParseIpAddress("10.0.0.2"), 0xc000));
  EXPECT_EQ(h->Hash(key), FlowHash5Tuple(HashImpl::kMhash, key, 0));
  EXPECT_TRUE(RegimeHasher::Create(HashImpl::kMhash, HashRegime::kRecirc, 7,
                                   false)->verified());
}

TEST(RegimeHasherTest, RefusesRegimesThatDoNotHashTheFiveTuple) {
  for (HashRegime regime : {HashRegime::kNone, HashRegime::kSlb}) {
    Result<RegimeHasher> h =
        RegimeHasher::Create(HashImpl::kMhash, regime, 7, true);
    ASSERT_FALSE(h.ok()) << ToString(regime);
    EXPECT_EQ(h.status().ToString(),
              "hash regime " + std::string(ToString(regime)) +
                  " does not hash the 5-tuple");
  }
}

TEST(RegimeHasherTest, RefusesAnImplementationThisMachineCannotRun) {
  for (HashImpl impl : {HashImpl::kX86Crc32, HashImpl::kArm64Crc32}) {
    const Status available = HashImplAvailable(impl);
    Result<RegimeHasher> h =
        RegimeHasher::Create(impl, HashRegime::kRecirc, 7, false);
    EXPECT_EQ(h.ok(), available.ok()) << ToString(impl);
    if (!h.ok()) {
      EXPECT_EQ(h.status().ToString(), available.ToString());
    }
  }
}

}  // namespace
}  // namespace rdma_bond
