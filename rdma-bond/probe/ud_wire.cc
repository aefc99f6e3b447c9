// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "probe/ud_wire.h"

#include <openssl/crypto.h>

#include <cstring>
#include <string>

#include "probe/wire_bytes.h"

namespace rdma_bond {

namespace {

using wire::Get32;
using wire::Get64;
using wire::Put32;
using wire::Put64;

// The directory message, big-endian.
constexpr size_t kOffMagic = 0;           // u32 kDirectoryMagic.
constexpr size_t kOffVersion = 4;         // u8.
constexpr size_t kOffKind = 5;            // u8 DirectoryKind.
constexpr size_t kOffCount = 6;           // u8 QPs listed; byte 7 is 0.
constexpr size_t kOffAgentId = 8;         // u64.
constexpr size_t kOffNonce = 16;          // u64.
constexpr size_t kOffKeyId = 24;          // u32; bytes 28-31 are 0.
constexpr size_t kOffQpns = 32;           // u32 x kMaxProbeMembers.
constexpr size_t kOffPad = kOffQpns + 4 * kMaxProbeMembers;  // 0 to kOffTag.
constexpr size_t kOffTag = kDirectoryBytes - kProbeTagBytes;
static_assert(kOffPad <= kOffTag, "the QPs fit before the tag");
constexpr char kTagLabel[] = "rdma-bond probe directory 2";

constexpr uint32_t kVendorRxe = 0xffffff;
constexpr uint32_t kVendorMellanox = 0x02c9;
constexpr uint32_t kFirstMlx5Part = 4115;   // ConnectX-4.

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i]) return false;
  }
  return true;
}

Status Refuse(ProbeDefect* defect, ProbeDefect why, const std::string& text) {
  if (defect) *defect = why;
  return Status::Corruption("probe directory: " + text);
}

}  // namespace

std::string_view ToString(UdSportControl control) {
  switch (control) {
    case UdSportControl::kFlowLabel: return "flow label";
    case UdSportControl::kPerQp: return "per QP";
    case UdSportControl::kUnknown: break;
  }
  return "unknown";
}

UdSportControl UdSportControlFor(uint32_t vendor_id, uint32_t vendor_part_id) {
  if (vendor_id == kVendorRxe) return UdSportControl::kPerQp;
  if (vendor_id == kVendorMellanox && vendor_part_id >= kFirstMlx5Part) {
    return UdSportControl::kFlowLabel;
  }
  return UdSportControl::kUnknown;
}

Status ParseUdGrh(std::span<const uint8_t> grh, IpAddress* src,
                  IpAddress* dst) {
  if (grh.size() < kGrhBytes) {
    return Status::InvalidArgument("a GRH has " + std::to_string(kGrhBytes) +
                                   " bytes, got " +
                                   std::to_string(grh.size()));
  }
  if (grh[20] == 0x45) {            // IPv4, IHL 5: the header at 20.
    src->version = dst->version = 4;
    src->bytes = {};
    dst->bytes = {};
    std::memcpy(src->bytes.data(), grh.data() + 20 + 12, 4);
    std::memcpy(dst->bytes.data(), grh.data() + 20 + 16, 4);
    return Status::OK();
  }
  if ((grh[0] >> 4) == 6) {
    src->version = dst->version = 6;
    std::memcpy(src->bytes.data(), grh.data() + 8, 16);
    std::memcpy(dst->bytes.data(), grh.data() + 24, 16);
    return Status::OK();
  }
  return Status::InvalidArgument("the GRH holds neither an IPv4 nor an IPv6 "
                                 "header");
}

Result<size_t> BuildDirectoryMessage(const IpAddress& src,
                                     const IpAddress& dst,
                                     const DirectoryMessage& m,
                                     const ProbeKey* key,
                                     std::span<uint8_t> out) {
  if (out.size() < kDirectoryBytes) {
    return Status::InvalidArgument("a directory message needs " +
                                   std::to_string(kDirectoryBytes) +
                                   " bytes");
  }
  if (src.version != dst.version ||
      (src.version != 4 && src.version != 6)) {
    return Status::InvalidArgument("the addresses differ in IP version");
  }
  if (m.agent_id == 0 || m.nonce == 0) {
    return Status::InvalidArgument("a directory message needs an agent id "
                                   "and a nonce");
  }
  if (m.kind != DirectoryKind::kQuery && m.kind != DirectoryKind::kAnswer) {
    return Status::InvalidArgument("unknown directory message kind");
  }
  if (m.kind == DirectoryKind::kQuery && !m.qpns.empty()) {
    return Status::InvalidArgument("a directory query lists no QP");
  }
  if (m.qpns.size() > kMaxProbeMembers) {
    return Status::InvalidArgument("a directory answer lists at most " +
                                   std::to_string(kMaxProbeMembers) + " QPs");
  }
  uint8_t* p = out.data();
  std::memset(p, 0, kDirectoryBytes);
  Put32(p + kOffMagic, kDirectoryMagic);
  p[kOffVersion] = kDirectoryVersion;
  p[kOffKind] = static_cast<uint8_t>(m.kind);
  p[kOffCount] = static_cast<uint8_t>(m.qpns.size());
  Put64(p + kOffAgentId, m.agent_id);
  Put64(p + kOffNonce, m.nonce);
  for (size_t i = 0; i < m.qpns.size(); i++) {
    if (m.qpns[i] == 0 || m.qpns[i] > 0xffffff) {
      return Status::InvalidArgument("QP number " +
                                     std::to_string(m.qpns[i]) +
                                     " is not a UD QP's");
    }
    Put32(p + kOffQpns + 4 * i, m.qpns[i]);
  }
  if (key) {
    Put32(p + kOffKeyId, key->id);
    const auto tag = ProbeHmac(*key, kTagLabel, src, dst,
                               std::span<const uint8_t>(p, kOffTag));
    std::memcpy(p + kOffTag, tag.data(), tag.size());
  }
  return kDirectoryBytes;
}

Status ParseDirectoryMessage(const IpAddress& src, const IpAddress& dst,
                             std::span<const uint8_t> bytes,
                             std::span<const ProbeKey> keys,
                             DirectoryMessage* message, ProbeDefect* defect) {
  if (defect) *defect = ProbeDefect::kNone;
  const uint8_t* p = bytes.data();
  if (bytes.size() < kOffKind || Get32(p + kOffMagic) != kDirectoryMagic) {
    return Refuse(defect, ProbeDefect::kNotProbe, "not a directory message");
  }
  if (p[kOffVersion] != kDirectoryVersion) {
    return Refuse(defect, ProbeDefect::kUnsupportedVersion,
                  "directory version " + std::to_string(p[kOffVersion]) +
                      " (this agent speaks " +
                      std::to_string(kDirectoryVersion) + ")");
  }
  if (bytes.size() != kDirectoryBytes) {
    return Refuse(defect, ProbeDefect::kMalformed,
                  "a directory message of " + std::to_string(bytes.size()) +
                      " bytes");
  }
  DirectoryMessage m;
  const uint8_t kind = p[kOffKind];
  if (kind != static_cast<uint8_t>(DirectoryKind::kQuery) &&
      kind != static_cast<uint8_t>(DirectoryKind::kAnswer)) {
    return Refuse(defect, ProbeDefect::kMalformed,
                  "unknown directory kind " + std::to_string(kind));
  }
  m.kind = static_cast<DirectoryKind>(kind);
  m.agent_id = Get64(p + kOffAgentId);
  m.nonce = Get64(p + kOffNonce);
  m.key_id = Get32(p + kOffKeyId);
  const size_t count = p[kOffCount];
  if (m.agent_id == 0 || m.nonce == 0 || count > kMaxProbeMembers ||
      (m.kind == DirectoryKind::kQuery && count != 0) || p[kOffCount + 1] ||
      !AllZero(p + kOffKeyId + 4, 4) ||
      !AllZero(p + kOffQpns + 4 * count, kOffTag - kOffQpns - 4 * count) ||
      (m.key_id == 0 && !AllZero(p + kOffTag, kProbeTagBytes))) {
    return Refuse(defect, ProbeDefect::kMalformed,
                  "inconsistent directory message");
  }
  for (size_t i = 0; i < count; i++) {
    const uint32_t qpn = Get32(p + kOffQpns + 4 * i);
    if (qpn == 0 || qpn > 0xffffff) {
      return Refuse(defect, ProbeDefect::kMalformed,
                    "QP number " + std::to_string(qpn) + " in a directory");
    }
    m.qpns.push_back(qpn);
  }
  if (!keys.empty()) {
    const ProbeKey* key = nullptr;
    for (const ProbeKey& k : keys) {
      if (m.key_id != 0 && k.id == m.key_id) key = &k;
    }
    if (!key) {
      return Refuse(defect, ProbeDefect::kUnauthenticated,
                    m.key_id ? "a directory message signed by another key"
                             : "an unsigned directory message");
    }
    const auto tag = ProbeHmac(*key, kTagLabel, src, dst,
                               std::span<const uint8_t>(p, kOffTag));
    if (CRYPTO_memcmp(tag.data(), p + kOffTag, tag.size()) != 0) {
      return Refuse(defect, ProbeDefect::kUnauthenticated,
                    "a directory message with a wrong tag");
    }
  }
  *message = std::move(m);
  return Status::OK();
}

}  // namespace rdma_bond
