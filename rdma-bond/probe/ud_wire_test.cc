// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The UD transport's wire helpers (ud_wire.h): rxe's port per QP number,
// the device table, the GRH, and the directory messages at their
// documented offsets.

#include "probe/ud_wire.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

ProbeKey Key(char fill) {
  return *MakeProbeKey(std::vector<uint8_t>(32, static_cast<uint8_t>(fill)));
}

TEST(UdWireTest, RxePortIsTheKernelsHash32OfTheQpNumber) {
  // hash_32(qpn, 14) = (qpn * 0x61c88647 mod 2^32) >> 18, computed
  // independently (Python) for these numbers.
  EXPECT_EQ(RxeUdSport(17), 0xdf94);
  EXPECT_EQ(RxeUdSport(18), 0xf806);
  EXPECT_EQ(RxeUdSport(0x1d), 0xc4ed);
  EXPECT_EQ(RxeUdSport(0xffffff), 0xf94d);
  // Always a RoCEv2 port.
  for (uint32_t qpn = 16; qpn < 5000; qpn++) {
    EXPECT_GE(RxeUdSport(qpn), 0xc000);
  }
}

TEST(UdWireTest, SportControlByVendor) {
  EXPECT_EQ(UdSportControlFor(0xffffff, 0), UdSportControl::kPerQp);
  EXPECT_EQ(UdSportControlFor(0x02c9, 4115), UdSportControl::kFlowLabel);
  EXPECT_EQ(UdSportControlFor(0x02c9, 4129), UdSportControl::kFlowLabel);
  // ConnectX-3 (mlx4) and other vendors: not known.
  EXPECT_EQ(UdSportControlFor(0x02c9, 4103), UdSportControl::kUnknown);
  EXPECT_EQ(UdSportControlFor(0x14e4, 5840), UdSportControl::kUnknown);
  EXPECT_EQ(ToString(UdSportControl::kFlowLabel), "flow label");
  EXPECT_EQ(ToString(UdSportControl::kPerQp), "per QP");
  EXPECT_EQ(ToString(UdSportControl::kUnknown), "unknown");
}

TEST(UdWireTest, GrhOfIpv4AndIpv6) {
  std::vector<uint8_t> grh(kGrhBytes, 0);
  // RoCEv2 over IPv4: bytes 0-19 unused, the IPv4 header at 20.
  grh[20] = 0x45;
  const uint8_t src4[] = {10, 79, 0, 2}, dst4[] = {10, 79, 0, 1};
  std::copy(src4, src4 + 4, grh.begin() + 32);
  std::copy(dst4, dst4 + 4, grh.begin() + 36);
  IpAddress src, dst;
  ASSERT_TRUE(ParseUdGrh(grh, &src, &dst).ok());
  EXPECT_EQ(src, Ip("10.79.0.2"));
  EXPECT_EQ(dst, Ip("10.79.0.1"));

  std::vector<uint8_t> grh6(kGrhBytes, 0);
  grh6[0] = 0x60;
  const IpAddress s6 = Ip("fd00::2"), d6 = Ip("fd00::1");
  std::copy(s6.bytes.begin(), s6.bytes.end(), grh6.begin() + 8);
  std::copy(d6.bytes.begin(), d6.bytes.end(), grh6.begin() + 24);
  ASSERT_TRUE(ParseUdGrh(grh6, &src, &dst).ok());
  EXPECT_EQ(src, s6);
  EXPECT_EQ(dst, d6);

  std::vector<uint8_t> neither(kGrhBytes, 0);
  EXPECT_FALSE(ParseUdGrh(neither, &src, &dst).ok());
  EXPECT_FALSE(ParseUdGrh(std::span<const uint8_t>(grh.data(), 39), &src,
                          &dst).ok());
}

TEST(UdWireTest, DirectoryRoundTripAndLayout) {
  const IpAddress a = Ip("10.79.0.1"), b = Ip("10.79.0.2");
  DirectoryMessage q;
  q.kind = DirectoryKind::kQuery;
  q.agent_id = 0x1122334455667788;
  q.nonce = 0x0102030405060708;
  std::vector<uint8_t> out(kDirectoryBytes + 10, 0xee);
  Result<size_t> n = BuildDirectoryMessage(a, b, q, nullptr, out);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_EQ(*n, kDirectoryBytes);
  EXPECT_EQ(std::string(out.begin(), out.begin() + 4), "RBPD");
  EXPECT_EQ(out[4], 2);
  EXPECT_EQ(out[5], 1);
  EXPECT_EQ(out[8], 0x11);
  EXPECT_EQ(out[15], 0x88);
  EXPECT_EQ(out[16], 0x01);
  EXPECT_EQ(out[23], 0x08);
  out.resize(kDirectoryBytes);
  DirectoryMessage parsed;
  ASSERT_TRUE(ParseDirectoryMessage(b, a, out, {}, &parsed).ok());
  EXPECT_EQ(parsed, q);

  DirectoryMessage answer;
  answer.kind = DirectoryKind::kAnswer;
  answer.agent_id = 7;
  answer.nonce = q.nonce;
  answer.qpns = {0x11, 0xabcdef};
  ASSERT_TRUE(BuildDirectoryMessage(b, a, answer, nullptr, out).ok());
  EXPECT_EQ(out[6], 2);
  EXPECT_EQ(out[32 + 3], 0x11);
  EXPECT_EQ(out[36 + 1], 0xab);
  EXPECT_EQ(out[36 + 3], 0xef);
  ASSERT_TRUE(ParseDirectoryMessage(b, a, out, {}, &parsed).ok());
  EXPECT_EQ(parsed, answer);
}

TEST(UdWireTest, DirectoryRefusesWhatItMayNotCarry) {
  const IpAddress a = Ip("10.79.0.1"), b = Ip("10.79.0.2");
  std::vector<uint8_t> out(kDirectoryBytes);
  DirectoryMessage m;
  m.agent_id = 1;
  m.nonce = 2;
  m.qpns = {5};
  EXPECT_FALSE(BuildDirectoryMessage(a, b, m, nullptr, out).ok())
      << "a query lists no QP";
  m.kind = DirectoryKind::kAnswer;
  m.qpns = {0x1000000};
  EXPECT_FALSE(BuildDirectoryMessage(a, b, m, nullptr, out).ok());
  m.qpns.assign(kMaxProbeMembers + 1, 5);
  EXPECT_FALSE(BuildDirectoryMessage(a, b, m, nullptr, out).ok());
  m.qpns = {5};
  m.nonce = 0;
  EXPECT_FALSE(BuildDirectoryMessage(a, b, m, nullptr, out).ok());
  m.nonce = 2;
  EXPECT_FALSE(BuildDirectoryMessage(a, Ip("fd00::1"), m, nullptr, out).ok());
  std::vector<uint8_t> small(kDirectoryBytes - 1);
  EXPECT_FALSE(BuildDirectoryMessage(a, b, m, nullptr, small).ok());
}

TEST(UdWireTest, DirectoryDefects) {
  const IpAddress a = Ip("10.79.0.1"), b = Ip("10.79.0.2");
  DirectoryMessage m;
  m.kind = DirectoryKind::kAnswer;
  m.agent_id = 1;
  m.nonce = 2;
  m.qpns = {17, 18};
  std::vector<uint8_t> good(kDirectoryBytes);
  ASSERT_TRUE(BuildDirectoryMessage(a, b, m, nullptr, good).ok());
  struct Edit {
    const char* what;
    size_t at;                      // Byte set to 'value'; kDirectoryBytes:
    uint8_t value;                  // the last byte dropped instead.
    ProbeDefect defect;
  };
  const Edit edits[] = {
      {"magic", 0, 'X', ProbeDefect::kNotProbe},
      {"version 1", 4, 1, ProbeDefect::kUnsupportedVersion},
      {"short", kDirectoryBytes, 0, ProbeDefect::kMalformed},
      {"kind 3", 5, 3, ProbeDefect::kMalformed},
      {"33 QPs", 6, 33, ProbeDefect::kMalformed},
      {"a third QP of number 0", 6, 3, ProbeDefect::kMalformed},
      {"padding", 100, 1, ProbeDefect::kMalformed},
      {"a tag without a key id", kDirectoryBytes - 1, 1,
       ProbeDefect::kMalformed},
      {"nonce 0", 23, 0, ProbeDefect::kMalformed},   // It was 2.
  };
  for (const Edit& e : edits) {
    SCOPED_TRACE(e.what);
    std::vector<uint8_t> bad = good;
    if (e.at == kDirectoryBytes) {
      bad.pop_back();
    } else {
      bad[e.at] = e.value;
    }
    DirectoryMessage parsed;
    ProbeDefect defect = ProbeDefect::kNone;
    EXPECT_FALSE(ParseDirectoryMessage(a, b, bad, {}, &parsed, &defect).ok());
    EXPECT_EQ(defect, e.defect);
  }
  DirectoryMessage parsed;
  EXPECT_TRUE(ParseDirectoryMessage(a, b, good, {}, &parsed).ok());
}

TEST(UdWireTest, DirectoryTags) {
  const IpAddress a = Ip("10.79.0.1"), b = Ip("10.79.0.2");
  const ProbeKey k1 = Key('1'), k2 = Key('2');
  DirectoryMessage m;
  m.kind = DirectoryKind::kAnswer;
  m.agent_id = 1;
  m.nonce = 2;
  m.qpns = {17};
  std::vector<uint8_t> signed1(kDirectoryBytes), plain(kDirectoryBytes);
  ASSERT_TRUE(BuildDirectoryMessage(a, b, m, &k1, signed1).ok());
  ASSERT_TRUE(BuildDirectoryMessage(a, b, m, nullptr, plain).ok());
  DirectoryMessage parsed;
  ProbeDefect defect;
  const std::vector<ProbeKey> both = {k2, k1}, only2 = {k2};
  ASSERT_TRUE(ParseDirectoryMessage(a, b, signed1, both, &parsed).ok());
  EXPECT_EQ(parsed.key_id, k1.id);
  // A receiver without keys ignores the tag.
  EXPECT_TRUE(ParseDirectoryMessage(a, b, signed1, {}, &parsed).ok());
  EXPECT_FALSE(
      ParseDirectoryMessage(a, b, signed1, only2, &parsed, &defect).ok());
  EXPECT_EQ(defect, ProbeDefect::kUnauthenticated);
  EXPECT_FALSE(ParseDirectoryMessage(a, b, plain, both, &parsed, &defect).ok());
  EXPECT_EQ(defect, ProbeDefect::kUnauthenticated);
  // The tag covers the addresses and every field.
  EXPECT_FALSE(ParseDirectoryMessage(a, Ip("10.79.0.3"), signed1, both,
                                     &parsed, &defect).ok());
  EXPECT_EQ(defect, ProbeDefect::kUnauthenticated);
  std::vector<uint8_t> moved = signed1;
  moved[35] = 18;
  EXPECT_FALSE(ParseDirectoryMessage(a, b, moved, both, &parsed, &defect).ok());
  EXPECT_EQ(defect, ProbeDefect::kUnauthenticated);
}

}  // namespace
}  // namespace rdma_bond
