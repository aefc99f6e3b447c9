// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The probe frame format (probe_frame.h).  The RoCEv2 layers and the ICRC
// are roce_frame.h's, tested against independent vectors in
// roce_frame_test.cc (UD SEND_ONLY with its DETH included); here, the
// payload's fields at their documented offsets and the defects.

#include "probe/probe_frame.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/hex.h"
#include "rnic/emulated/emulated_rnic.h"
#include "testing/probe_test_util.h"

namespace rdma_bond {
namespace {

TEST(ProbeFrameTest, RoundTripAndWireLayout) {
  for (int version : {4, 6}) {
    FrameAddress a = ProbeAddress();
    if (version == 6) {
      a.src_ip = *ParseIpAddress("fd00::1");
      a.dst_ip = *ParseIpAddress("fd00::2");
    }
    for (ProbeKind kind :
         {ProbeKind::kRequest, ProbeKind::kReply, ProbeKind::kConfirm}) {
      ProbeMessage m = SampleReply();
      m.kind = kind;
      const std::vector<uint8_t> frame = BuildProbe(a, m);
      FrameAddress a2;
      ProbeMessage m2;
      Status s = ParseProbeFrame(frame, &a2, &m2);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ProbeMessage want = m;
      want.sent_sport = a.udp_sport;  // The builder writes the frame's.
      EXPECT_EQ(m2, want) << ToString(kind);
      EXPECT_EQ(a2.udp_sport, 0xc456);
      EXPECT_EQ(a2.src_ip, a.src_ip);
      // A RoCEv2 UD SEND_ONLY to the probe QPN, as ParseFrame sees it.
      RocePacket packet;
      ASSERT_TRUE(ParseFrame(frame, &a2, &packet).ok());
      EXPECT_EQ(packet.bth.opcode, BthOpcode::kUdSendOnly);
      EXPECT_EQ(packet.bth.dest_qpn, kProbeQpn);
      EXPECT_EQ(packet.bth.psn, m.nonce & kPsnMask);
      EXPECT_EQ(packet.deth, (Deth{kProbeQkey, kProbeQpn}));
      EXPECT_EQ(packet.payload.size(), kProbePayloadBytes);
    }
  }
  // Big-endian fields at their documented offsets.
  const std::vector<uint8_t> p =
      PayloadOf(BuildProbe(ProbeAddress(), SampleReply()));
  ASSERT_EQ(p.size(), kProbePayloadBytes);
  const std::vector<uint8_t> head = {
      0x52, 0x42, 0x50, 0x52,                          // "RBPR".
      2, 2, 1, 3,                                      // Version, kind...
      0x00, 0x00, 0x00, 0x03,                          // Usable mask.
      0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,  // Agent id.
      0x01, 0x02, 0x03, 0x04,                          // Epoch.
      0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18,  // Nonce.
      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // Echoed nonce.
      0x55, 0x66, 0x77, 0x88,                          // Echoed epoch.
      0xc4, 0x56, 0xc0, 0xde,                          // Sent, reported.
      1, 0, 0, 0,                                      // Reported member.
      0, 0, 0, 0,                                      // No key.
      'n', 'i', 'c', '1', 0};
  EXPECT_EQ(std::vector<uint8_t>(p.begin(), p.begin() + head.size()), head);
  EXPECT_EQ(p[56 + kProbeNameBytes], 'n');
  // No key: no tag.
  EXPECT_EQ(std::vector<uint8_t>(p.end() - kProbeTagBytes, p.end()),
            std::vector<uint8_t>(kProbeTagBytes, 0));
}

std::vector<uint8_t> KeyBytes(char fill) {
  return std::vector<uint8_t>(kMinProbeKeyBytes + 4,
                              static_cast<uint8_t>(fill));
}

TEST(ProbeFrameTest, KeysAreAtLeast16BytesAndNamedByAFingerprint) {
  EXPECT_FALSE(MakeProbeKey(std::vector<uint8_t>(kMinProbeKeyBytes - 1)).ok());
  Result<ProbeKey> a = MakeProbeKey(KeyBytes('a'));
  Result<ProbeKey> b = MakeProbeKey(KeyBytes('b'));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, 0u);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(a->id, ProbeKeyId(KeyBytes('a')));
}

TEST(ProbeFrameTest, KeyedFramesVerifyAndAnyChangeIsRefused) {
  const ProbeKey key = *MakeProbeKey(KeyBytes('k'));
  const ProbeKey other = *MakeProbeKey(KeyBytes('o'));
  std::vector<uint8_t> frame(kMaxProbeFrameBytes);
  frame.resize(*BuildProbeFrame(ProbeAddress(), SampleReply(), frame, &key));
  const std::vector<ProbeKey> mine = {key};
  FrameAddress a;
  ProbeMessage m;
  ProbeDefect d = ProbeDefect::kNone;
  ASSERT_TRUE(ParseProbeFrame(frame, &a, &m, &d, mine).ok());
  EXPECT_EQ(m.key_id, key.id);
  // A rotation: either key of two is accepted.
  const std::vector<ProbeKey> both = {other, key};
  EXPECT_TRUE(ParseProbeFrame(frame, &a, &m, &d, both).ok());
  // Another key only: refused, and so is an unsigned frame.
  const std::vector<ProbeKey> theirs = {other};
  EXPECT_FALSE(ParseProbeFrame(frame, &a, &m, &d, theirs).ok());
  EXPECT_EQ(d, ProbeDefect::kUnauthenticated);
  const std::vector<uint8_t> plain = BuildProbe(ProbeAddress(), SampleReply());
  EXPECT_FALSE(ParseProbeFrame(plain, &a, &m, &d, mine).ok());
  EXPECT_EQ(d, ProbeDefect::kUnauthenticated);
  // Without keys, tags are not checked.
  EXPECT_TRUE(ParseProbeFrame(plain, &a, &m, &d).ok());
  EXPECT_TRUE(ParseProbeFrame(frame, &a, &m, &d).ok());
  // Every bit of the payload, tag included, counts: each flip is refused
  // (as unauthenticated, or earlier as not a probe or malformed).
  const std::vector<uint8_t> payload = PayloadOf(frame);
  for (size_t i = 0; i < payload.size(); i++) {
    std::vector<uint8_t> p = payload;
    p[i] ^= 0x01;
    std::vector<uint8_t> f = RawUd(p);
    EXPECT_FALSE(ParseProbeFrame(f, &a, &m, &d, mine).ok()) << "byte " << i;
    EXPECT_NE(d, ProbeDefect::kNone) << "byte " << i;
  }
  // The addresses count too: the same payload toward another host, or
  // from another, is refused.
  for (bool source : {false, true}) {
    FrameAddress moved = ProbeAddress();
    (source ? moved.src_ip : moved.dst_ip) = *ParseIpAddress("10.0.0.3");
    EXPECT_FALSE(ParseProbeFrame(RawUd(payload, kProbeQpn, kProbeQkey, moved),
                                 &a, &m, &d, mine)
                     .ok());
    EXPECT_EQ(d, ProbeDefect::kUnauthenticated) << source;
  }
}

TEST(ProbeFrameTest, PayloadForAUdQpCarriesItsPort) {
  const ProbeKey key = *MakeProbeKey(KeyBytes('k'));
  const IpAddress src = *ParseIpAddress("10.0.0.1");
  const IpAddress dst = *ParseIpAddress("10.0.0.2");
  ProbeMessage m = SampleReply();
  m.sent_sport = 0xd00d;
  std::vector<uint8_t> payload(kProbePayloadBytes);
  ASSERT_EQ(*BuildProbePayload(src, dst, m, &key, payload),
            kProbePayloadBytes);
  ProbeMessage back;
  const std::vector<ProbeKey> keys = {key};
  ASSERT_TRUE(ParseProbePayload(src, dst, payload, keys, &back).ok());
  m.key_id = key.id;
  EXPECT_EQ(back, m);
  // A short buffer, mixed IP versions, nonce 0: refused.
  std::vector<uint8_t> small(kProbePayloadBytes - 1);
  EXPECT_FALSE(BuildProbePayload(src, dst, m, &key, small).ok());
  EXPECT_FALSE(BuildProbePayload(src, *ParseIpAddress("fd00::2"), m, &key,
                                 payload)
                   .ok());
  m.nonce = 0;
  EXPECT_FALSE(BuildProbePayload(src, dst, m, &key, payload).ok());
}

// A version 1 frame (168 bytes, 32-bit nonces, no tag) is refused, with
// its version and its addresses, so that the agent can name the peer.
TEST(ProbeFrameTest, VersionOneIsRefusedAndNamed) {
  std::vector<uint8_t> v1(168, 0);
  const uint8_t head[] = {0x52, 0x42, 0x50, 0x52, 1, 1, 0, 2,
                          0,    0,    0,    3};
  std::copy(std::begin(head), std::end(head), v1.begin());
  v1[40] = 'a';
  FrameAddress a;
  ProbeMessage m;
  ProbeDefect d = ProbeDefect::kNone;
  uint8_t version = 0;
  EXPECT_FALSE(ParseProbeFrame(RawUd(v1), &a, &m, &d, {}, &version).ok());
  EXPECT_EQ(d, ProbeDefect::kUnsupportedVersion);
  EXPECT_EQ(version, 1);
  EXPECT_EQ(a.src_ip, ProbeAddress().src_ip);
}

TEST(ProbeFrameTest, BuildRefusesWhatParseWouldReject) {
  std::vector<uint8_t> out(kMaxProbeFrameBytes);
  ProbeMessage m = SampleReply();
  m.member_name = std::string(kProbeNameBytes, 'x');
  EXPECT_FALSE(BuildProbeFrame(ProbeAddress(), m, out).ok());
  m = SampleReply();
  m.member = 3;                     // Of 3 members.
  EXPECT_FALSE(BuildProbeFrame(ProbeAddress(), m, out).ok());
  m = SampleReply();
  m.usable_mask = 0x1;              // Sent from member 1, not usable.
  EXPECT_FALSE(BuildProbeFrame(ProbeAddress(), m, out).ok());
  m = SampleReply();
  m.member_count = kMaxProbeMembers + 1;
  EXPECT_FALSE(BuildProbeFrame(ProbeAddress(), m, out).ok());
  m = SampleReply();
  m.usable_mask |= uint32_t{1} << m.member_count;  // Past the last member.
  EXPECT_FALSE(BuildProbeFrame(ProbeAddress(), m, out).ok());
}

TEST(ProbeFrameTest, ParseNamesEachDefect) {
  for (const auto& [frame, defect] : BrokenProbes()) {
    FrameAddress a;
    ProbeMessage m;
    ProbeDefect d = ProbeDefect::kNone;
    EXPECT_FALSE(ParseProbeFrame(frame, &a, &m, &d).ok());
    EXPECT_EQ(d, defect);
  }
  // Every truncation of a good probe (a copy of exactly n bytes, so that
  // ASan sees any overread), garbage of every size.
  const std::vector<uint8_t> probe = BuildProbe(ProbeAddress(), SampleReply());
  for (size_t n = 0; n < probe.size(); n++) {
    std::vector<uint8_t> cut(probe.begin(), probe.begin() + n);
    FrameAddress a;
    ProbeMessage m;
    ProbeDefect d = ProbeDefect::kNone;
    EXPECT_FALSE(ParseProbeFrame(cut, &a, &m, &d).ok()) << n;
    EXPECT_EQ(d, ProbeDefect::kNotProbe) << n;
  }
  std::mt19937_64 rng(3);
  for (size_t n = 0; n < 400; n++) {
    std::vector<uint8_t> junk(n);
    for (uint8_t& byte : junk) byte = static_cast<uint8_t>(rng());
    FrameAddress a;
    ProbeMessage m;
    EXPECT_FALSE(ParseProbeFrame(junk, &a, &m).ok());
  }
}

// A peer (or anyone on the L2 segment) chooses the member names in its
// probes; they reach the agent's reports, metrics and registry replies.
// Names that are not single printable tokens are refused at the wire.
TEST(ProbeFrameTest, ForgedMemberNamesAreRefused) {
  const std::vector<uint8_t> good =
      PayloadOf(BuildProbe(ProbeAddress(), SampleReply()));
  const std::vector<std::string> evil = {
      "eth\n1", "a b", "x=y", "q\"", "b\\s", "\x1b[2Jx", "\r", "\xc3\xa9",
      "ok\x7f"};
  for (size_t field : {size_t{56}, size_t{56} + kProbeNameBytes}) {
    for (const std::string& name : evil) {
      std::vector<uint8_t> p = good;
      std::fill(p.begin() + field, p.begin() + field + kProbeNameBytes, 0);
      std::copy(name.begin(), name.end(), p.begin() + field);
      FrameAddress a;
      ProbeMessage m;
      ProbeDefect d = ProbeDefect::kNone;
      Status s = ParseProbeFrame(RawUd(p), &a, &m, &d);
      ASSERT_FALSE(s.ok()) << field << " " << EscapeControl(name);
      EXPECT_EQ(d, ProbeDefect::kMalformed);
      for (char c : s.message()) {
        EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << s.message();
      }
      ProbeMessage out = SampleReply();
      (field == 56 ? out.member_name : out.reported_member_name) = name;
      std::vector<uint8_t> frame(kMaxRoceFrameBytes);
      EXPECT_FALSE(BuildProbeFrame(ProbeAddress(), out, frame).ok());
    }
  }
  for (const char* name : {"eth0", "ens1f0np0", "bond0.100", "p1@x", "nic1"}) {
    EXPECT_TRUE(IsProbeName(name)) << name;
  }
  EXPECT_FALSE(IsProbeName(""));
  EXPECT_FALSE(IsProbeName(std::string(kProbeNameBytes, 'x')));
}

TEST(ProbeFrameTest, EmulatedRnicCountsProbesAsUd) {
  auto links = MemoryFrameLink::CreatePair();
  MemoryFrameLink* wire = links.second.get();
  EmulatedRnicOptions o;
  o.member = "eth-b";
  o.local_ip = *ParseIpAddress("10.0.0.2");
  Result<std::unique_ptr<EmulatedRnic>> rnic =
      EmulatedRnic::Create(o, std::move(links.first));
  ASSERT_TRUE(rnic.ok()) << rnic.status().ToString();
  ProbeMessage m = SampleReply();
  m.kind = ProbeKind::kRequest;
  const std::vector<uint8_t> probe = BuildProbe(ProbeAddress(), m);
  // What one end sends, the other receives.
  const std::span<const uint8_t> frames[] = {probe};
  ASSERT_EQ(wire->Send(frames), 1u);
  Completion c[4];
  (*rnic)->PollCompletions(c);
  const EmulatedRnicStats stats = (*rnic)->stats();
  EXPECT_EQ(stats.dropped_ud, 1u);
  EXPECT_EQ(stats.dropped_malformed, 0u);
  EXPECT_EQ(stats.dropped_wrong_qpn, 0u);
}

}  // namespace
}  // namespace rdma_bond
