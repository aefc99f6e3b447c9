// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RoCEv2 framing (roce_frame.h).  The expected frames were computed
// independently of this code, with Python's struct and zlib modules,
// following the kernel's rxe_icrc.c:
//
//   crc = zlib.crc32(b'\xff' * 8 + masked_ip_udp_bth + rest)
//
// where masked_ip_udp_bth is the IPv4 header with TOS, TTL and checksum
// set to ones, the UDP header with its checksum set to 0xffff and the BTH
// with byte 4 (before the QPN) set to 0xff; 'rest' is the extension
// headers, the payload and the pad.  The ICRC is appended little-endian.
// The masked bytes are quoted above each vector.  (The script that made
// kUdSendOnlyProbe reproduces kSendOnlyHello's ICRC when given its fields.)

#include "rnic/emulated/roce_frame.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

// The addresses of every vector: 02:00:00:00:00:01 10.0.0.1:0xc123 ->
// 02:00:00:00:00:02 10.0.0.2:4791, IPv4 id 0x1234, DF, TTL 64.
FrameAddress VectorAddress() {
  FrameAddress a;
  a.src_mac = {2, 0, 0, 0, 0, 1};
  a.dst_mac = {2, 0, 0, 0, 0, 2};
  a.src_ip.bytes = {10, 0, 0, 1};
  a.dst_ip.bytes = {10, 0, 0, 2};
  a.udp_sport = 0xc123;
  a.ip_id = 0x1234;
  return a;
}

// SEND_ONLY, dest QPN 0xabc, PSN 0x123456, AckReq, payload "hello" (pad 3):
// ICRC 0x113fd950.  Masked bytes after 8 x 0xff:
// 45ff003412344000ff11ffff0a0000010a000002c12312b70020ffff0430ffffff000abc
// 80123456, then 68656c6c6f000000.
const std::vector<uint8_t> kSendOnlyHello = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x34, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
    0x14, 0x83, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0xc1, 0x23,
    0x12, 0xb7, 0x00, 0x20, 0x00, 0x00, 0x04, 0x30, 0xff, 0xff, 0x00, 0x00,
    0x0a, 0xbc, 0x80, 0x12, 0x34, 0x56, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    0x00, 0x00, 0x50, 0xd9, 0x3f, 0x11,
};

// ACKNOWLEDGE, dest QPN 0x12, PSN 0xfffffe, AETH ACK (credits 0x1f) MSN 7:
// ICRC 0x50f232cb.  Masked bytes after 8 x 0xff:
// 45ff003012344000ff11ffff0a0000010a000002c12312b7001cffff1100ffffff000012
// 00fffffe, then 1f000007.
const std::vector<uint8_t> kAck = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x30, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
    0x14, 0x87, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0xc1, 0x23,
    0x12, 0xb7, 0x00, 0x1c, 0x00, 0x00, 0x11, 0x00, 0xff, 0xff, 0x00, 0x00,
    0x00, 0x12, 0x00, 0xff, 0xff, 0xfe, 0x1f, 0x00, 0x00, 0x07, 0xcb, 0x32,
    0xf2, 0x50,
};

// RDMA_WRITE_ONLY_WITH_IMMEDIATE, dest QPN 0x345678, PSN 1, AckReq, RETH
// (VA 0x7f0011223344, R_Key 0xdeadbeef, length 8), ImmDt 0xcafef00d,
// payload 01..08: ICRC 0x3ac66163.  Masked bytes after 8 x 0xff:
// 45ff004812344000ff11ffff0a0000010a000002c12312b70034ffff0b00ffffff345678
// 80000001, then the RETH, ImmDt and payload as on the wire.
const std::vector<uint8_t> kWriteOnlyImm = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x48, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
    0x14, 0x6f, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0xc1, 0x23,
    0x12, 0xb7, 0x00, 0x34, 0x00, 0x00, 0x0b, 0x00, 0xff, 0xff, 0x00, 0x34,
    0x56, 0x78, 0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x7f, 0x00, 0x11, 0x22,
    0x33, 0x44, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x08, 0xca, 0xfe,
    0xf0, 0x0d, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x63, 0x61,
    0xc6, 0x3a,
};

// UD SEND_ONLY (opcode 0x64), dest QPN 0xfffff0, PSN 0x000102, DETH
// (Q_Key 0x52424e44, source QPN 0xfffff0), payload "probe!" (pad 2):
// ICRC 0x7dedcecd.  Masked bytes after 8 x 0xff:
// 45ff003c12344000ff11ffff0a0000010a000002c12312b70028ffff6420fffffffffff0
// 00000102, then 52424e4400fffff070726f6265210000.
const std::vector<uint8_t> kUdSendOnlyProbe = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
    0x14, 0x7b, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0xc1, 0x23,
    0x12, 0xb7, 0x00, 0x28, 0x00, 0x00, 0x64, 0x20, 0xff, 0xff, 0x00, 0xff,
    0xff, 0xf0, 0x00, 0x00, 0x01, 0x02, 0x52, 0x42, 0x4e, 0x44, 0x00, 0xff,
    0xff, 0xf0, 0x70, 0x72, 0x6f, 0x62, 0x65, 0x21, 0x00, 0x00, 0xcd, 0xce,
    0xed, 0x7d,
};

const uint8_t kHello[] = {'h', 'e', 'l', 'l', 'o'};
const uint8_t kProbeText[] = {'p', 'r', 'o', 'b', 'e', '!'};
const uint8_t kEight[] = {1, 2, 3, 4, 5, 6, 7, 8};

RocePacket SendOnlyHello() {
  RocePacket p;
  p.bth.opcode = BthOpcode::kSendOnly;
  p.bth.dest_qpn = 0xabc;
  p.bth.psn = 0x123456;
  p.bth.ack_req = true;
  p.payload = kHello;
  return p;
}

RocePacket AckPacket() {
  RocePacket p;
  p.bth.opcode = BthOpcode::kAcknowledge;
  p.bth.dest_qpn = 0x12;
  p.bth.psn = 0xfffffe;
  p.aeth = Aeth::Ack(7);
  return p;
}

RocePacket WriteOnlyImm() {
  RocePacket p;
  p.bth.opcode = BthOpcode::kRdmaWriteOnlyWithImmediate;
  p.bth.dest_qpn = 0x345678;
  p.bth.psn = 1;
  p.bth.ack_req = true;
  p.reth = {0x00007f0011223344, 0xdeadbeef, 8};
  p.imm = 0xcafef00d;
  p.payload = kEight;
  return p;
}

RocePacket UdSendOnly() {
  RocePacket p;
  p.bth.opcode = BthOpcode::kUdSendOnly;
  p.bth.dest_qpn = 0xfffff0;
  p.bth.psn = 0x000102;
  p.deth = {0x52424e44, 0xfffff0};
  p.payload = kProbeText;
  return p;
}

std::vector<uint8_t> Build(const FrameAddress& a, const RocePacket& p) {
  std::vector<uint8_t> out(kMaxRoceFrameBytes);
  Result<size_t> n = BuildFrame(a, p, out);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  out.resize(n.ok() ? *n : 0);
  return out;
}

TEST(RoceFrameTest, Crc32MatchesZlib) {
  // zlib.crc32(b"123456789") == 0xcbf43926, the CRC-32 check value.
  const uint8_t digits[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(Crc32(0, digits), 0xcbf43926u);
  // Chaining equals one pass, across the 8-byte slicing boundary.
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); i++) data[i] = uint8_t(i * 7 + 3);
  const std::span<const uint8_t> all(data);
  EXPECT_EQ(Crc32(Crc32(0, all.first(13)), all.subspan(13)), Crc32(0, all));
  // zlib.crc32(bytes(i*7+3 & 0xff for i in range(1000))) == 0x17bc2a46.
  EXPECT_EQ(Crc32(0, all), 0x17bc2a46u);
  // rxe's seed: the CRC state after 8 bytes of ones is 0xdebb20e3 before
  // the final inversion.
  const uint8_t ones[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(~Crc32(0, ones), 0xdebb20e3u);
}

TEST(RoceFrameTest, IcrcMatchesHandComputedVector) {
  EXPECT_EQ(Build(VectorAddress(), SendOnlyHello()), kSendOnlyHello);
  EXPECT_EQ(Build(VectorAddress(), AckPacket()), kAck);
  EXPECT_EQ(Build(VectorAddress(), WriteOnlyImm()), kWriteOnlyImm);
  EXPECT_EQ(Build(VectorAddress(), UdSendOnly()), kUdSendOnlyProbe);
  // ComputeIcrc over the IP packet without its ICRC.
  const std::span<const uint8_t> ip(kSendOnlyHello);
  EXPECT_EQ(ComputeIcrc(ip.subspan(kEthHeaderBytes,
                                   ip.size() - kEthHeaderBytes - kIcrcBytes)),
            0x113fd950u);
}

TEST(RoceFrameTest, ParsesHandComputedVectors) {
  FrameAddress a;
  RocePacket p;
  ASSERT_TRUE(ParseFrame(kWriteOnlyImm, &a, &p).ok());
  const FrameAddress want = VectorAddress();
  EXPECT_EQ(a.src_mac, want.src_mac);
  EXPECT_EQ(a.dst_mac, want.dst_mac);
  EXPECT_EQ(a.src_ip, want.src_ip);
  EXPECT_EQ(a.dst_ip, want.dst_ip);
  EXPECT_EQ(a.udp_sport, 0xc123);
  EXPECT_EQ(a.udp_dport, 4791);
  EXPECT_EQ(a.ip_id, 0x1234);
  EXPECT_EQ(p.bth, WriteOnlyImm().bth);
  EXPECT_EQ(p.reth, WriteOnlyImm().reth);
  EXPECT_EQ(p.imm, 0xcafef00du);
  ASSERT_EQ(p.payload.size(), 8u);
  EXPECT_EQ(std::memcmp(p.payload.data(), kEight, 8), 0);

  ASSERT_TRUE(ParseFrame(kSendOnlyHello, &a, &p).ok());
  EXPECT_EQ(p.bth.pad, 3);
  ASSERT_EQ(p.payload.size(), 5u);
  EXPECT_EQ(std::memcmp(p.payload.data(), "hello", 5), 0);

  ASSERT_TRUE(ParseFrame(kAck, &a, &p).ok());
  EXPECT_EQ(p.bth.opcode, BthOpcode::kAcknowledge);
  EXPECT_EQ(p.bth.psn, 0xfffffeu);
  EXPECT_EQ(p.aeth.type(), kAethTypeAck);
  EXPECT_EQ(p.aeth.value(), kAethCreditsUnlimited);
  EXPECT_EQ(p.aeth.msn, 7u);
  EXPECT_TRUE(p.payload.empty());
}

TEST(RoceFrameTest, ParsesUdSendOnlyWithDeth) {
  FrameAddress a;
  RocePacket p;
  Status s = ParseFrame(kUdSendOnlyProbe, &a, &p);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(p.bth.opcode, BthOpcode::kUdSendOnly);
  EXPECT_EQ(ToString(p.bth.opcode), "UD_SEND_ONLY");
  EXPECT_EQ(p.bth.dest_qpn, 0xfffff0u);
  EXPECT_EQ(p.bth.psn, 0x000102u);
  EXPECT_EQ(p.bth.pad, 2);
  EXPECT_EQ(p.deth.qkey, 0x52424e44u);
  EXPECT_EQ(p.deth.src_qpn, 0xfffff0u);
  ASSERT_EQ(p.payload.size(), 6u);
  EXPECT_EQ(std::memcmp(p.payload.data(), "probe!", 6), 0);
  // A UD opcode has none of the RC transport's roles.
  EXPECT_TRUE(OpcodeIsUd(p.bth.opcode));
  EXPECT_TRUE(OpcodeHasDeth(p.bth.opcode));
  EXPECT_FALSE(OpcodeIsSend(p.bth.opcode));
  EXPECT_FALSE(OpcodeIsWrite(p.bth.opcode));
  EXPECT_FALSE(OpcodeStartsMessage(p.bth.opcode));
  EXPECT_FALSE(OpcodeHasDeth(BthOpcode::kSendOnly));
  // Other UD opcodes (SEND_ONLY_WITH_IMMEDIATE 0x65) stay unsupported.
  std::vector<uint8_t> f = kUdSendOnlyProbe;
  f[42] = 0x65;
  FrameDefect defect;
  EXPECT_FALSE(ParseFrame(f, &a, &p, &defect).ok());
  EXPECT_EQ(defect, FrameDefect::kUnsupported);
}

TEST(RoceFrameTest, BthRethAethRoundTrip) {
  const std::vector<uint8_t> payload(1024, 0x5a);
  const BthOpcode all[] = {
      BthOpcode::kSendFirst, BthOpcode::kSendMiddle, BthOpcode::kSendLast,
      BthOpcode::kSendLastWithImmediate, BthOpcode::kSendOnly,
      BthOpcode::kSendOnlyWithImmediate, BthOpcode::kRdmaWriteFirst,
      BthOpcode::kRdmaWriteMiddle, BthOpcode::kRdmaWriteLast,
      BthOpcode::kRdmaWriteLastWithImmediate, BthOpcode::kRdmaWriteOnly,
      BthOpcode::kRdmaWriteOnlyWithImmediate, BthOpcode::kAcknowledge,
      BthOpcode::kUdSendOnly};
  const Aeth aeths[] = {Aeth::Ack(0xabcdef), Aeth::RnrNak(3, 12),
                        Aeth::Nak(9, kAethNakPsnSequenceError),
                        Aeth::Nak(0, kAethNakRemoteAccessError)};
  for (int version : {4, 6}) {
    FrameAddress a = VectorAddress();
    if (version == 6) {
      a.src_ip = *ParseIpAddress("fd00::1");
      a.dst_ip = *ParseIpAddress("fd00::2");
      a.ip_id = 0;
    }
    for (BthOpcode op : all) {
      for (size_t length : {size_t{0}, size_t{1}, size_t{3}, size_t{1024}}) {
        for (const Aeth& aeth : aeths) {
          RocePacket p;
          p.bth.opcode = op;
          p.bth.dest_qpn = 0xfedcba;
          p.bth.psn = 0xffffff;
          p.bth.ack_req = length == 3;
          p.bth.solicited = length == 1;
          p.reth = {0x0123456789abcdef, 0x89abcdef, 0xfffffff0};
          p.imm = 0x01020304;
          p.aeth = aeth;
          p.deth = {0x80000001, 0xabcdef};
          p.payload = std::span<const uint8_t>(payload).first(length);
          const std::vector<uint8_t> frame = Build(a, p);
          ASSERT_EQ(frame.size(), FrameLength(version, p));
          FrameAddress a2;
          RocePacket p2;
          Status s = ParseFrame(frame, &a2, &p2);
          ASSERT_TRUE(s.ok()) << ToString(op) << ": " << s.ToString();
          EXPECT_EQ(a2.src_ip, a.src_ip);
          EXPECT_EQ(a2.dst_ip, a.dst_ip);
          EXPECT_EQ(a2.udp_sport, a.udp_sport);
          Bth want = p.bth;
          want.pad = static_cast<uint8_t>((4 - length % 4) % 4);
          EXPECT_EQ(p2.bth, want) << ToString(op);
          if (OpcodeHasReth(op)) {
            EXPECT_EQ(p2.reth, p.reth);
          }
          if (OpcodeHasImmDt(op)) {
            EXPECT_EQ(p2.imm, p.imm);
          }
          if (OpcodeHasAeth(op)) {
            EXPECT_EQ(p2.aeth, aeth);
          }
          if (OpcodeHasDeth(op)) {
            EXPECT_EQ(p2.deth, p.deth);
          }
          ASSERT_EQ(p2.payload.size(), length);
          EXPECT_TRUE(std::equal(p2.payload.begin(), p2.payload.end(),
                                 p.payload.begin()));
        }
      }
    }
  }
}

TEST(RoceFrameTest, FlippingAnyByteFailsParse) {
  // Every byte from the ethertype on is covered by the IPv4 checksum, a
  // length or value check, or the ICRC.  Not checked, by design: the MACs
  // (the Ethernet FCS covers them, and the NIC strips it), the UDP
  // checksum and the BTH byte before the QPN (FECN/BECN), which the ICRC
  // masks because the network may change them.
  constexpr size_t kUdpChecksum = 14 + 20 + 6;
  constexpr size_t kBthResv8a = 14 + 20 + 8 + 4;
  for (const std::vector<uint8_t>* vector :
       {&kSendOnlyHello, &kAck, &kWriteOnlyImm, &kUdSendOnlyProbe}) {
    for (size_t i = 12; i < vector->size(); i++) {
      if (i == kUdpChecksum || i == kUdpChecksum + 1 || i == kBthResv8a) {
        continue;
      }
      for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
        std::vector<uint8_t> bad = *vector;
        bad[i] ^= flip;
        FrameAddress a;
        RocePacket p;
        EXPECT_FALSE(ParseFrame(bad, &a, &p).ok())
            << "byte " << i << " ^ " << int(flip);
      }
    }
  }
}

TEST(RoceFrameTest, FlippedPayloadIsBadIcrc) {
  std::vector<uint8_t> bad = kSendOnlyHello;
  bad[kEthHeaderBytes + kIpv4HeaderBytes + kUdpHeaderBytes + kBthBytes] ^= 1;
  FrameAddress a;
  RocePacket p;
  FrameDefect defect = FrameDefect::kNone;
  Status s = ParseFrame(bad, &a, &p, &defect);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(defect, FrameDefect::kBadIcrc);
  EXPECT_NE(s.ToString().find("ICRC"), std::string::npos) << s.ToString();
}

TEST(RoceFrameTest, TruncatedAtEveryLengthIsRejected) {
  for (const std::vector<uint8_t>* vector :
       {&kSendOnlyHello, &kAck, &kWriteOnlyImm, &kUdSendOnlyProbe}) {
    for (size_t n = 0; n < vector->size(); n++) {
      // A copy of exactly n bytes, so that ASan sees any overread.
      std::vector<uint8_t> cut(vector->begin(), vector->begin() + n);
      FrameAddress a;
      RocePacket p;
      EXPECT_FALSE(ParseFrame(cut, &a, &p).ok()) << n << " bytes";
    }
  }
}

TEST(RoceFrameTest, EthernetPaddingIsIgnored) {
  std::vector<uint8_t> padded = kAck;
  padded.resize(64 + 10, 0);
  FrameAddress a;
  RocePacket p;
  EXPECT_TRUE(ParseFrame(padded, &a, &p).ok());
  EXPECT_EQ(p.aeth.msn, 7u);
}

// Rewrites the IPv4 checksum after a change, so that the parser gets past
// it to the check under test.
void FixIpChecksum(std::vector<uint8_t>& f) {
  f[24] = f[25] = 0;
  const uint16_t c = Ipv4HeaderChecksum({f.data() + 14, 20});
  f[24] = uint8_t(c >> 8);
  f[25] = uint8_t(c);
}

TEST(RoceFrameTest, WrongVersionPortAndOpcodeAreRejected) {
  FrameAddress a;
  RocePacket p;
  FrameDefect defect;

  std::vector<uint8_t> f = kSendOnlyHello;
  f[14] = 0x65;                       // Version 6 under ethertype 0x0800.
  FixIpChecksum(f);
  Status s = ParseFrame(f, &a, &p, &defect);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("IP version 6"), std::string::npos);

  f = kSendOnlyHello;
  f[14] = 0x46;                       // IHL 6: options.
  FixIpChecksum(f);
  EXPECT_FALSE(ParseFrame(f, &a, &p, &defect).ok());
  EXPECT_EQ(defect, FrameDefect::kUnsupported);

  f = kSendOnlyHello;
  f[36] = 0x12;                       // UDP dst port 0x12b8 = 4792.
  f[37] = 0xb8;
  s = ParseFrame(f, &a, &p, &defect);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(defect, FrameDefect::kNotRoce);
  EXPECT_NE(s.ToString().find("4792"), std::string::npos) << s.ToString();

  f = kSendOnlyHello;
  f[23] = 6;                          // TCP.
  FixIpChecksum(f);
  EXPECT_FALSE(ParseFrame(f, &a, &p, &defect).ok());
  EXPECT_EQ(defect, FrameDefect::kNotRoce);

  f = kSendOnlyHello;
  f[12] = 0x08;                       // ARP.
  f[13] = 0x06;
  EXPECT_FALSE(ParseFrame(f, &a, &p, &defect).ok());
  EXPECT_EQ(defect, FrameDefect::kNotRoce);

  f = kSendOnlyHello;
  f[42] = 0x0c;                       // RDMA READ request: unsupported.
  s = ParseFrame(f, &a, &p, &defect);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(defect, FrameDefect::kUnsupported);
  EXPECT_NE(s.ToString().find("0x0c"), std::string::npos) << s.ToString();

  f = kSendOnlyHello;
  f[20] = 0x20;                       // More fragments.
  FixIpChecksum(f);
  EXPECT_FALSE(ParseFrame(f, &a, &p, &defect).ok());
}

TEST(RoceFrameTest, BuildRejectsSmallBufferAndMixedVersions) {
  std::vector<uint8_t> small(kSendOnlyHello.size() - 1);
  EXPECT_FALSE(BuildFrame(VectorAddress(), SendOnlyHello(), small).ok());
  FrameAddress mixed = VectorAddress();
  mixed.dst_ip = *ParseIpAddress("fd00::2");
  std::vector<uint8_t> out(kMaxRoceFrameBytes);
  EXPECT_FALSE(BuildFrame(mixed, SendOnlyHello(), out).ok());
}

TEST(RoceFrameTest, RnrTimerTable) {
  EXPECT_EQ(RnrTimerMicros(0), 655360u);
  EXPECT_EQ(RnrTimerMicros(1), 10u);
  EXPECT_EQ(RnrTimerMicros(12), 640u);
  EXPECT_EQ(RnrTimerMicros(31), 491520u);
}

}  // namespace
}  // namespace rdma_bond
