// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Probe frames for the tests of probe_frame.h and path_prober.h: a sample
// REPLY from 10.0.0.1 to 10.0.0.2, and frames that are not probes or are
// broken ones, each with the defect ParseProbeFrame() must name.

#ifndef RDMA_BOND_PROBE_TEST_UTIL_H_
#define RDMA_BOND_PROBE_TEST_UTIL_H_

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "probe/probe_frame.h"

namespace rdma_bond {

// 02:00:00:00:00:01 10.0.0.1:0xc456 -> 02:00:00:00:00:02 10.0.0.2:4791.
inline FrameAddress ProbeAddress() {
  FrameAddress a;
  a.src_mac = {2, 0, 0, 0, 0, 1};
  a.dst_mac = {2, 0, 0, 0, 0, 2};
  a.src_ip = *ParseIpAddress("10.0.0.1");
  a.dst_ip = *ParseIpAddress("10.0.0.2");
  a.udp_sport = 0xc456;
  return a;
}

// A REPLY from member 1 ("nic1") of a bond of 3 whose members 0 and 1
// are usable.
inline ProbeMessage SampleReply() {
  ProbeMessage m;
  m.kind = ProbeKind::kReply;
  m.agent_id = 0x0123456789abcdefULL;
  m.epoch = 0x01020304;
  m.nonce = 0xa1b2c3d4e5f60718ULL;
  m.member = 1;
  m.member_count = 3;
  m.usable_mask = 0x3;
  m.member_name = "nic1";
  m.echo_nonce = 0x1122334455667788ULL;
  m.echo_epoch = 0x55667788;
  m.reported_sport = 0xc0de;
  m.reported_member = 1;
  m.reported_member_name = "nic1";
  return m;
}

inline std::vector<uint8_t> BuildProbe(const FrameAddress& a,
                                       const ProbeMessage& m) {
  std::vector<uint8_t> out(kMaxProbeFrameBytes);
  Result<size_t> n = BuildProbeFrame(a, m, out);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  out.resize(n.ok() ? *n : 0);
  return out;
}

// A UD SEND_ONLY to kProbeQpn carrying 'payload' as is.
inline std::vector<uint8_t> RawUd(std::span<const uint8_t> payload,
                                  uint32_t qpn = kProbeQpn,
                                  uint32_t qkey = kProbeQkey,
                                  const FrameAddress& address = ProbeAddress()) {
  RocePacket p;
  p.bth.opcode = BthOpcode::kUdSendOnly;
  p.bth.dest_qpn = qpn;
  p.deth = {qkey, kProbeQpn};
  p.payload = payload;
  std::vector<uint8_t> out(kMaxRoceFrameBytes);
  out.resize(*BuildFrame(address, p, out));
  return out;
}

// The payload of a probe frame (over IPv4).
inline std::vector<uint8_t> PayloadOf(
    const std::vector<uint8_t>& frame) {
  const size_t at = kEthHeaderBytes + kIpv4HeaderBytes + kUdpHeaderBytes +
                    kBthBytes + kDethBytes;
  return std::vector<uint8_t>(frame.begin() + at, frame.end() - kIcrcBytes);
}

// Frames that are not probes, or broken probes, and their defect: an RC
// SEND_ONLY to a QP, a UD datagram to another QPN, one with another Q_Key;
// a bad magic, version 1, a later version, version 0, a short payload, a
// bad kind, a member index past the count, an empty name, an
// unterminated name, nonce 0, a sent port that is not the frame's.
inline std::vector<std::pair<std::vector<uint8_t>, ProbeDefect>>
BrokenProbes() {
  RocePacket rc;
  rc.bth.opcode = BthOpcode::kSendOnly;
  rc.bth.dest_qpn = 0x123;
  std::vector<uint8_t> send(kMaxRoceFrameBytes);
  send.resize(*BuildFrame(ProbeAddress(), rc, send));
  const std::vector<uint8_t> payload =
      PayloadOf(BuildProbe(ProbeAddress(), SampleReply()));
  const auto Edit = [&payload](size_t at, uint8_t value) {
    std::vector<uint8_t> p = payload;
    p[at] = value;
    return RawUd(p);
  };
  return {
      {send, ProbeDefect::kNotProbe},
      {RawUd(payload, 0x123), ProbeDefect::kNotProbe},
      {RawUd(payload, kProbeQpn, 1), ProbeDefect::kNotProbe},
      {Edit(0, 'X'), ProbeDefect::kNotProbe},
      {Edit(4, 1), ProbeDefect::kUnsupportedVersion},
      {Edit(4, 3), ProbeDefect::kUnsupportedVersion},
      {Edit(4, 0), ProbeDefect::kUnsupportedVersion},
      {RawUd(std::span(payload).first(100)), ProbeDefect::kMalformed},
      {Edit(5, 4), ProbeDefect::kMalformed},
      {Edit(6, 3), ProbeDefect::kMalformed},
      {Edit(56, 0), ProbeDefect::kMalformed},
      {Edit(56 + kProbeNameBytes - 1, 'x'), ProbeDefect::kMalformed},
      {[&payload] {
         std::vector<uint8_t> p = payload;
         std::fill(p.begin() + 24, p.begin() + 32, 0);
         return RawUd(p);
       }(),
       ProbeDefect::kMalformed},
      {Edit(45, static_cast<uint8_t>(payload[45] ^ 1)),
       ProbeDefect::kMalformed},
  };
}

}  // namespace rdma_bond

#endif  // RDMA_BOND_PROBE_TEST_UTIL_H_
