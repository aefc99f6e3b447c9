// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "probe/probe_frame.h"

#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "common/hex.h"
#include "rdma-bond-table.h"

namespace rdma_bond {

static_assert(kProbeNameBytes >= RDMA_BOND_NAME_LEN,
              "every member name the table publishes fits a probe");
static_assert(kMaxProbeMembers >= RDMA_BOND_MAX_MEMBERS,
              "every member the table publishes fits the usable mask");
static_assert(kMaxProbeMembers <= 32, "the usable mask has 32 bits");

namespace {

// Version 1's payload, big-endian.
constexpr size_t kOffMagic = 0;           // u32 kProbeMagic.
constexpr size_t kOffVersion = 4;         // u8 kProbeVersion.
constexpr size_t kOffKind = 5;            // u8 ProbeKind.
constexpr size_t kOffMember = 6;          // u8 sender member index.
constexpr size_t kOffMemberCount = 7;     // u8 sender member count.
constexpr size_t kOffUsable = 8;          // u32 sender usable mask.
constexpr size_t kOffAgentId = 12;        // u64.
constexpr size_t kOffEpoch = 20;          // u32.
constexpr size_t kOffNonce = 24;          // u32.
constexpr size_t kOffEchoNonce = 28;      // u32.
constexpr size_t kOffEchoEpoch = 32;      // u32.
constexpr size_t kOffReportedSport = 36;  // u16.
constexpr size_t kOffReportedMember = 38;  // u8; byte 39 is reserved (0).
constexpr size_t kOffMemberName = 40;
constexpr size_t kOffReportedName = kOffMemberName + kProbeNameBytes;
static_assert(kOffReportedName + kProbeNameBytes == kProbePayloadBytes,
              "the fields fill the payload");
// The magic and version, which every version starts with.
constexpr size_t kProbeHeaderBytes = kOffKind;

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}
uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(Get16(p)) << 16 | Get16(p + 2);
}

std::string ReadName(const uint8_t* field) {
  return std::string(reinterpret_cast<const char*>(field),
                     strnlen(reinterpret_cast<const char*>(field),
                             kProbeNameBytes));
}

}  // namespace

bool IsProbeName(std::string_view name) {
  if (name.empty() || name.size() >= kProbeNameBytes) return false;
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte >= 0x7f || c == '=' || c == '"' || c == '\\') {
      return false;
    }
  }
  return true;
}

std::string_view ToString(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kRequest: return "REQUEST";
    case ProbeKind::kReply: return "REPLY";
    case ProbeKind::kConfirm: return "CONFIRM";
  }
  return "UNKNOWN";
}

namespace {

// Whether 'm' describes a bond the payload can carry: 1 to kMaxProbeMembers
// members, the sender's (and the reported) member among them, the sender's
// member usable, and no usable bit past the last member.  The builder and
// the parser hold messages to the same rule.
bool DescribesBond(const ProbeMessage& m) {
  const uint32_t all = m.member_count >= 32
                           ? 0xffffffffu
                           : (uint32_t{1} << m.member_count) - 1;
  return m.member_count != 0 && m.member_count <= kMaxProbeMembers &&
         m.member < m.member_count && (m.usable_mask >> m.member & 1) != 0 &&
         (m.usable_mask & ~all) == 0 &&
         (!ProbeKindIsAnswer(m.kind) || m.reported_member < m.member_count);
}

}  // namespace

Result<size_t> BuildProbeFrame(const FrameAddress& address,
                               const ProbeMessage& m, std::span<uint8_t> out) {
  for (const std::string* name : {&m.member_name, &m.reported_member_name}) {
    if (name->size() >= kProbeNameBytes) {
      return Status::InvalidArgument(
          "probe: member name \"" + EscapeControl(*name) +
          "\" is longer than " + std::to_string(kProbeNameBytes - 1) +
          " bytes");
    }
    if (!IsProbeName(*name) &&
        !(name == &m.reported_member_name && name->empty() &&
          !ProbeKindIsAnswer(m.kind))) {
      return Status::InvalidArgument(
          "probe: member name \"" + EscapeControl(*name) +
          "\" cannot be probed (only printable ASCII without space, '=', "
          "'\"' or '\\')");
    }
  }
  if (!DescribesBond(m)) {
    return Status::InvalidArgument(
        "probe: member " + std::to_string(m.member) + " (reported " +
        std::to_string(m.reported_member) + ") of " +
        std::to_string(m.member_count) + " (usable mask " +
        std::to_string(m.usable_mask) + ") does not describe a bond of " +
        "at most " + std::to_string(kMaxProbeMembers) + " members");
  }
  std::array<uint8_t, kProbePayloadBytes> payload{};
  uint8_t* p = payload.data();
  Put32(p + kOffMagic, kProbeMagic);
  p[kOffVersion] = kProbeVersion;
  p[kOffKind] = static_cast<uint8_t>(m.kind);
  p[kOffMember] = m.member;
  p[kOffMemberCount] = m.member_count;
  Put32(p + kOffUsable, m.usable_mask);
  Put32(p + kOffAgentId, static_cast<uint32_t>(m.agent_id >> 32));
  Put32(p + kOffAgentId + 4, static_cast<uint32_t>(m.agent_id));
  Put32(p + kOffEpoch, m.epoch);
  Put32(p + kOffNonce, m.nonce);
  Put32(p + kOffEchoNonce, m.echo_nonce);
  Put32(p + kOffEchoEpoch, m.echo_epoch);
  Put16(p + kOffReportedSport, m.reported_sport);
  p[kOffReportedMember] = m.reported_member;
  std::memcpy(p + kOffMemberName, m.member_name.data(), m.member_name.size());
  std::memcpy(p + kOffReportedName, m.reported_member_name.data(),
              m.reported_member_name.size());

  RocePacket packet;
  packet.bth.opcode = BthOpcode::kUdSendOnly;
  packet.bth.dest_qpn = kProbeQpn;
  packet.bth.psn = m.nonce & kPsnMask;
  packet.deth = {kProbeQkey, kProbeQpn};
  packet.payload = payload;
  return BuildFrame(address, packet, out);
}

Status ParseProbeFrame(std::span<const uint8_t> frame, FrameAddress* address,
                       ProbeMessage* message, ProbeDefect* defect) {
  ProbeDefect ignored;
  ProbeDefect& why = defect ? *defect : ignored;
  const auto Reject = [&why](ProbeDefect kind, std::string what) {
    why = kind;
    return Status::Corruption("probe: " + what);
  };
  RocePacket packet;
  Status parsed = ParseFrame(frame, address, &packet);
  if (!parsed.ok()) {
    why = ProbeDefect::kNotProbe;
    return parsed;
  }
  const Bth& bth = packet.bth;
  if (bth.opcode != BthOpcode::kUdSendOnly || bth.dest_qpn != kProbeQpn ||
      packet.deth.qkey != kProbeQkey || packet.deth.src_qpn != kProbeQpn) {
    return Reject(ProbeDefect::kNotProbe,
                  std::string(ToString(bth.opcode)) + " to QPN " +
                      std::to_string(bth.dest_qpn) + " is not a probe");
  }
  const std::span<const uint8_t> payload = packet.payload;
  if (payload.size() < kProbeHeaderBytes ||
      Get32(payload.data() + kOffMagic) != kProbeMagic) {
    return Reject(ProbeDefect::kNotProbe, "no probe magic");
  }
  const uint8_t* p = payload.data();
  if (p[kOffVersion] != kProbeVersion) {
    return Reject(p[kOffVersion] > kProbeVersion
                      ? ProbeDefect::kUnsupportedVersion
                      : ProbeDefect::kMalformed,
                  "version " + std::to_string(p[kOffVersion]) +
                      ", this prober speaks " + std::to_string(kProbeVersion));
  }
  if (payload.size() != kProbePayloadBytes) {
    return Reject(ProbeDefect::kMalformed,
                  "payload of " + std::to_string(payload.size()) +
                      " bytes, version 1 has " +
                      std::to_string(kProbePayloadBytes));
  }
  const uint8_t kind = p[kOffKind];
  if (kind < static_cast<uint8_t>(ProbeKind::kRequest) ||
      kind > static_cast<uint8_t>(ProbeKind::kConfirm)) {
    return Reject(ProbeDefect::kMalformed, "kind " + std::to_string(kind));
  }
  ProbeMessage m;
  m.kind = static_cast<ProbeKind>(kind);
  m.member = p[kOffMember];
  m.member_count = p[kOffMemberCount];
  m.usable_mask = Get32(p + kOffUsable);
  m.agent_id = static_cast<uint64_t>(Get32(p + kOffAgentId)) << 32 |
               Get32(p + kOffAgentId + 4);
  m.epoch = Get32(p + kOffEpoch);
  m.nonce = Get32(p + kOffNonce);
  m.echo_nonce = Get32(p + kOffEchoNonce);
  m.echo_epoch = Get32(p + kOffEchoEpoch);
  m.reported_sport = Get16(p + kOffReportedSport);
  m.reported_member = p[kOffReportedMember];
  if (!DescribesBond(m)) {
    return Reject(ProbeDefect::kMalformed,
                  "member " + std::to_string(m.member) + " of " +
                      std::to_string(m.member_count) + ", usable mask " +
                      std::to_string(m.usable_mask));
  }
  if (p[kOffMemberName + kProbeNameBytes - 1] != 0 ||
      p[kOffReportedName + kProbeNameBytes - 1] != 0 ||
      p[kOffMemberName] == 0 ||
      (ProbeKindIsAnswer(m.kind) && p[kOffReportedName] == 0)) {
    return Reject(ProbeDefect::kMalformed, "empty or unterminated name");
  }
  m.member_name = ReadName(p + kOffMemberName);
  m.reported_member_name = ReadName(p + kOffReportedName);
  if (!IsProbeName(m.member_name) ||
      (!m.reported_member_name.empty() &&
       !IsProbeName(m.reported_member_name))) {
    return Reject(ProbeDefect::kMalformed,
                  "member name \"" + EscapeControl(m.member_name) + "\" or \"" +
                      EscapeControl(m.reported_member_name) +
                      "\" is not printable ASCII without space, '=', '\"' "
                      "or '\\'");
  }
  *message = std::move(m);
  why = ProbeDefect::kNone;
  return Status::OK();
}

}  // namespace rdma_bond
