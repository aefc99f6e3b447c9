// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "probe/probe_frame.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/hex.h"
#include "probe/wire_bytes.h"
#include "rdma-bond-table.h"

namespace rdma_bond {

static_assert(kProbeNameBytes >= RDMA_BOND_NAME_LEN,
              "every member name the table publishes fits a probe");
static_assert(kMaxProbeMembers >= RDMA_BOND_MAX_MEMBERS,
              "every member the table publishes fits the usable mask");
static_assert(kMaxProbeMembers <= 32, "the usable mask has 32 bits");

namespace {

// Version 2's payload, big-endian.
constexpr size_t kOffMagic = 0;           // u32 kProbeMagic.
constexpr size_t kOffVersion = 4;         // u8 kProbeVersion.
constexpr size_t kOffKind = 5;            // u8 ProbeKind.
constexpr size_t kOffMember = 6;          // u8 sender member index.
constexpr size_t kOffMemberCount = 7;     // u8 sender member count.
constexpr size_t kOffUsable = 8;          // u32 sender usable mask.
constexpr size_t kOffAgentId = 12;        // u64.
constexpr size_t kOffEpoch = 20;          // u32.
constexpr size_t kOffNonce = 24;          // u64.
constexpr size_t kOffEchoNonce = 32;      // u64.
constexpr size_t kOffEchoEpoch = 40;      // u32.
constexpr size_t kOffSentSport = 44;      // u16.
constexpr size_t kOffReportedSport = 46;  // u16.
constexpr size_t kOffReportedMember = 48;  // u8; bytes 49-51 reserved (0).
constexpr size_t kOffKeyId = 52;          // u32.
constexpr size_t kOffMemberName = 56;
constexpr size_t kOffReportedName = kOffMemberName + kProbeNameBytes;
constexpr size_t kOffTag = kOffReportedName + kProbeNameBytes;
static_assert(kOffTag + kProbeTagBytes == kProbePayloadBytes,
              "the fields fill the payload");
// The magic and version, which every version starts with.
constexpr size_t kProbeHeaderBytes = kOffKind;
constexpr char kTagLabel[] = "rdma-bond probe 2";
constexpr char kKeyIdLabel[] = "rdma-bond probe key";

using wire::Get16;
using wire::Get32;
using wire::Get64;
using wire::Put16;
using wire::Put32;
using wire::Put64;

// The tag of a payload (its first kOffTag bytes) from 'src' to 'dst'.
std::array<uint8_t, kProbeTagBytes> Tag(const ProbeKey& key,
                                        const IpAddress& src,
                                        const IpAddress& dst,
                                        const uint8_t* payload) {
  return ProbeHmac(key, kTagLabel, src, dst,
                   std::span<const uint8_t>(payload, kOffTag));
}

std::string ReadName(const uint8_t* field) {
  return std::string(reinterpret_cast<const char*>(field),
                     strnlen(reinterpret_cast<const char*>(field),
                             kProbeNameBytes));
}

}  // namespace

// 64 bits from the kernel's CSPRNG, read 512 bytes at a time.
uint64_t SecureRandom64() {
  thread_local std::array<uint64_t, 64> pool;
  thread_local size_t left = 0;
  if (left == 0) {
    size_t got = 0;
    auto* bytes = reinterpret_cast<uint8_t*>(pool.data());
    while (got < sizeof pool) {
      const ssize_t n = getrandom(bytes + got, sizeof pool - got, 0);
      if (n > 0) {
        got += static_cast<size_t>(n);
      } else if (errno != EINTR) {
        std::abort();                 // No kernel randomness: no nonces.
      }
    }
    left = pool.size();
  }
  return pool[--left];
}

std::array<uint8_t, kProbeTagBytes> ProbeHmac(const ProbeKey& key,
                                              std::string_view label,
                                              const IpAddress& src,
                                              const IpAddress& dst,
                                              std::span<const uint8_t> body) {
  std::vector<uint8_t> data(label.begin(), label.end());
  for (const IpAddress* ip : {&src, &dst}) {
    std::array<uint8_t, 16> a{};
    if (ip->version == 4) {
      a[10] = a[11] = 0xff;
      std::memcpy(a.data() + 12, ip->bytes.data(), 4);
    } else {
      std::memcpy(a.data(), ip->bytes.data(), 16);
    }
    data.insert(data.end(), a.begin(), a.end());
  }
  data.insert(data.end(), body.begin(), body.end());
  std::array<uint8_t, kProbeTagBytes> tag{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
       data.data(), data.size(), tag.data(), &n);
  return tag;
}

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

uint32_t ProbeKeyId(std::span<const uint8_t> secret) {
  std::vector<uint8_t> data(kKeyIdLabel, kKeyIdLabel + sizeof kKeyIdLabel - 1);
  data.insert(data.end(), secret.begin(), secret.end());
  std::array<uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(data.data(), data.size(), digest.data());
  const uint32_t id = Get32(digest.data());
  return id != 0 ? id : 1;
}

Result<ProbeKey> MakeProbeKey(std::span<const uint8_t> secret) {
  if (secret.size() < kMinProbeKeyBytes) {
    return Status::InvalidArgument(
        "probe key of " + std::to_string(secret.size()) +
        " bytes, at least " + std::to_string(kMinProbeKeyBytes) + " needed");
  }
  ProbeKey key;
  key.id = ProbeKeyId(secret);
  key.secret.assign(secret.begin(), secret.end());
  return key;
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

Result<size_t> BuildProbePayload(const IpAddress& src, const IpAddress& dst,
                                 const ProbeMessage& m, const ProbeKey* key,
                                 std::span<uint8_t> out) {
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
  if (m.nonce == 0) return Status::InvalidArgument("probe: nonce 0");
  if (src.version != dst.version ||
      (src.version != 4 && src.version != 6)) {
    return Status::InvalidArgument("probe: addresses " + ToString(src) +
                                   " and " + ToString(dst) +
                                   " are not of one IP version");
  }
  if (key && key->secret.size() < kMinProbeKeyBytes) {
    return Status::InvalidArgument("probe: key shorter than " +
                                   std::to_string(kMinProbeKeyBytes) +
                                   " bytes");
  }
  if (out.size() < kProbePayloadBytes) {
    return Status::InvalidArgument("probe: buffer of " +
                                   std::to_string(out.size()) + " bytes");
  }
  uint8_t* p = out.data();
  std::memset(p, 0, kProbePayloadBytes);
  Put32(p + kOffMagic, kProbeMagic);
  p[kOffVersion] = kProbeVersion;
  p[kOffKind] = static_cast<uint8_t>(m.kind);
  p[kOffMember] = m.member;
  p[kOffMemberCount] = m.member_count;
  Put32(p + kOffUsable, m.usable_mask);
  Put64(p + kOffAgentId, m.agent_id);
  Put32(p + kOffEpoch, m.epoch);
  Put64(p + kOffNonce, m.nonce);
  Put64(p + kOffEchoNonce, m.echo_nonce);
  Put32(p + kOffEchoEpoch, m.echo_epoch);
  Put16(p + kOffSentSport, m.sent_sport);
  Put16(p + kOffReportedSport, m.reported_sport);
  p[kOffReportedMember] = m.reported_member;
  std::memcpy(p + kOffMemberName, m.member_name.data(), m.member_name.size());
  std::memcpy(p + kOffReportedName, m.reported_member_name.data(),
              m.reported_member_name.size());
  if (key) {
    Put32(p + kOffKeyId, key->id);
    const std::array<uint8_t, kProbeTagBytes> tag = Tag(*key, src, dst, p);
    std::memcpy(p + kOffTag, tag.data(), tag.size());
  }
  return kProbePayloadBytes;
}

Result<size_t> BuildProbeFrame(const FrameAddress& address,
                               const ProbeMessage& message,
                               std::span<uint8_t> out, const ProbeKey* key) {
  ProbeMessage m = message;
  m.sent_sport = address.udp_sport;
  std::array<uint8_t, kProbePayloadBytes> payload{};
  Result<size_t> length =
      BuildProbePayload(address.src_ip, address.dst_ip, m, key, payload);
  if (!length.ok()) return length.status();
  RocePacket packet;
  packet.bth.opcode = BthOpcode::kUdSendOnly;
  packet.bth.dest_qpn = kProbeQpn;
  packet.bth.psn = static_cast<uint32_t>(m.nonce) & kPsnMask;
  packet.deth = {kProbeQkey, kProbeQpn};
  packet.payload = payload;
  return BuildFrame(address, packet, out);
}

Status ParseProbePayload(const IpAddress& src, const IpAddress& dst,
                         std::span<const uint8_t> payload,
                         std::span<const ProbeKey> keys, ProbeMessage* message,
                         ProbeDefect* defect, uint8_t* version) {
  ProbeDefect ignored;
  ProbeDefect& why = defect ? *defect : ignored;
  const auto Reject = [&why](ProbeDefect kind, std::string what) {
    why = kind;
    return Status::Corruption("probe: " + what);
  };
  if (payload.size() < kProbeHeaderBytes ||
      Get32(payload.data() + kOffMagic) != kProbeMagic) {
    return Reject(ProbeDefect::kNotProbe, "no probe magic");
  }
  const uint8_t* p = payload.data();
  if (version) *version = p[kOffVersion];
  if (p[kOffVersion] != kProbeVersion) {
    return Reject(ProbeDefect::kUnsupportedVersion,
                  "version " + std::to_string(p[kOffVersion]) +
                      ", this prober speaks " + std::to_string(kProbeVersion));
  }
  if (payload.size() != kProbePayloadBytes) {
    return Reject(ProbeDefect::kMalformed,
                  "payload of " + std::to_string(payload.size()) +
                      " bytes, version 2 has " +
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
  m.agent_id = Get64(p + kOffAgentId);
  m.epoch = Get32(p + kOffEpoch);
  m.nonce = Get64(p + kOffNonce);
  m.echo_nonce = Get64(p + kOffEchoNonce);
  m.echo_epoch = Get32(p + kOffEchoEpoch);
  m.sent_sport = Get16(p + kOffSentSport);
  m.reported_sport = Get16(p + kOffReportedSport);
  m.reported_member = p[kOffReportedMember];
  m.key_id = Get32(p + kOffKeyId);
  if (!DescribesBond(m)) {
    return Reject(ProbeDefect::kMalformed,
                  "member " + std::to_string(m.member) + " of " +
                      std::to_string(m.member_count) + ", usable mask " +
                      std::to_string(m.usable_mask));
  }
  if (m.nonce == 0) return Reject(ProbeDefect::kMalformed, "nonce 0");
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
  if (!keys.empty()) {
    if (m.key_id == 0) {
      return Reject(ProbeDefect::kUnauthenticated, "no tag");
    }
    const ProbeKey* key = nullptr;
    for (const ProbeKey& k : keys) {
      if (k.id == m.key_id) key = &k;
    }
    if (!key) {
      return Reject(ProbeDefect::kUnauthenticated,
                    "tag by key " + HexPrefixed(m.key_id, 8) + ", not held here");
    }
    if (src.version != dst.version ||
        (src.version != 4 && src.version != 6)) {
      return Reject(ProbeDefect::kMalformed, "addresses of no IP version");
    }
    const std::array<uint8_t, kProbeTagBytes> tag = Tag(*key, src, dst, p);
    if (CRYPTO_memcmp(tag.data(), p + kOffTag, tag.size()) != 0) {
      return Reject(ProbeDefect::kUnauthenticated,
                    "wrong tag for key " + HexPrefixed(m.key_id, 8));
    }
  }
  *message = std::move(m);
  why = ProbeDefect::kNone;
  return Status::OK();
}

Status ParseProbeFrame(std::span<const uint8_t> frame, FrameAddress* address,
                       ProbeMessage* message, ProbeDefect* defect,
                       std::span<const ProbeKey> keys, uint8_t* version) {
  ProbeDefect ignored;
  ProbeDefect& why = defect ? *defect : ignored;
  if (version) *version = 0;
  RocePacket packet;
  Status parsed = ParseFrame(frame, address, &packet);
  if (!parsed.ok()) {
    why = ProbeDefect::kNotProbe;
    return parsed;
  }
  const Bth& bth = packet.bth;
  if (bth.opcode != BthOpcode::kUdSendOnly || bth.dest_qpn != kProbeQpn ||
      packet.deth.qkey != kProbeQkey || packet.deth.src_qpn != kProbeQpn) {
    why = ProbeDefect::kNotProbe;
    return Status::Corruption("probe: " + std::string(ToString(bth.opcode)) +
                              " to QPN " + std::to_string(bth.dest_qpn) +
                              " is not a probe");
  }
  ProbeMessage m;
  Status s = ParseProbePayload(address->src_ip, address->dst_ip,
                               packet.payload, keys, &m, &why, version);
  if (!s.ok()) return s;
  if (m.sent_sport != address->udp_sport) {
    why = ProbeDefect::kMalformed;
    return Status::Corruption("probe: sent from port " +
                              std::to_string(m.sent_sport) + ", arrived from " +
                              std::to_string(address->udp_sport));
  }
  *message = std::move(m);
  return Status::OK();
}

}  // namespace rdma_bond
