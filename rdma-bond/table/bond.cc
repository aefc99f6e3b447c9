// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/bond.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "common/hex.h"

namespace rdma_bond {

namespace {

// Text of an unsigned number, for messages.
std::string Num(uint64_t value) { return std::to_string(value); }

// Returns the string in 'field' if it is null-terminated within its array,
// nullopt otherwise.  Never reads past the array.
template <size_t N>
std::optional<std::string> TerminatedString(const char (&field)[N]) {
  const void* nul = std::memchr(field, '\0', N);
  if (nul == nullptr) {
    return std::nullopt;
  }
  return std::string(field, static_cast<const char*>(nul));
}

// Builds a Corruption status "slot N: WHAT".
Status SlotError(size_t slot, const std::string& what) {
  return Status::Corruption("slot " + Num(slot) + ": " + what);
}

// " (bond "NAME")": context for field errors once the name is known.
std::string OfBond(const std::string& name) {
  return " (bond \"" + name + "\")";
}

// Message for an enum value this reader does not know.
Status UnknownValue(size_t slot, const char* field, unsigned value,
                    const std::string& bond_name) {
  return SlotError(slot, std::string(field) + " " + Num(value) +
                             " is unknown to this reader" + OfBond(bond_name) +
                             ": upgrade ovs-rdma-bond");
}

// A name the kernel would accept for a netdev (dev_valid_name()): at most
// 15 bytes, not "." or "..", no '/', ':' or white space.  It becomes a
// path under /sys/class/net.
bool IsNetdevName(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) return false;
  }
  return true;
}

// Decodes location 'i' of 'bond_name''s members.
Result<MemberLocation> DecodeLocation(size_t slot, size_t i,
                                      const rdma_bond_member_location& raw,
                                      const std::string& bond_name) {
  const std::string field = "locations[" + Num(i) + "].";
  std::optional<std::string> type = TerminatedString(raw.netdev_type);
  std::optional<std::string> pci = TerminatedString(raw.pci);
  std::optional<std::string> netdev = TerminatedString(raw.kernel_netdev);
  std::optional<std::string> devargs = TerminatedString(raw.devargs);
  const char* unterminated = !type ? "netdev_type" : !pci ? "pci"
                             : !netdev ? "kernel_netdev"
                             : !devargs ? "devargs" : nullptr;
  if (unterminated) {
    return SlotError(slot, field + unterminated +
                               " is not null-terminated" + OfBond(bond_name));
  }
  // Both become sysfs paths in readers: nothing else is accepted.
  if (!pci->empty() && !IsPciAddress(*pci)) {
    return SlotError(slot, field + "pci \"" + EscapeControl(*pci) +
                               "\" is not a PCI address" + OfBond(bond_name));
  }
  if (!netdev->empty() && !IsNetdevName(*netdev)) {
    return SlotError(slot, field + "kernel_netdev \"" +
                               EscapeControl(*netdev) +
                               "\" is not a netdev name" + OfBond(bond_name));
  }
  MemberLocation location;
  // A kind from a later minor version reads as unknown.
  location.kind = raw.kind <= uint32_t{RDMA_BOND_KIND_DPDK}
                      ? raw.kind
                      : uint32_t{RDMA_BOND_KIND_UNKNOWN};
  location.flags = raw.flags;
  location.netdev_type = std::move(*type);
  location.pci = std::move(*pci);
  location.kernel_netdev = std::move(*netdev);
  if (raw.dpdk_port != UINT32_MAX && location.kind == RDMA_BOND_KIND_DPDK) {
    location.dpdk_port = raw.dpdk_port;
  }
  location.devargs = std::move(*devargs);
  return location;
}

Result<std::vector<Member>> DecodeMembers(
    size_t slot, const rdma_bond_record& record, const std::string& bond_name,
    const rdma_bond_member_location* locations) {
  std::vector<Member> members;
  members.reserve(record.n_members);
  for (size_t i = 0; i < record.n_members; i++) {
    const rdma_bond_member& raw = record.members[i];
    const std::string field = "members[" + Num(i) + "].name";
    std::optional<std::string> name = TerminatedString(raw.name);
    if (!name) {
      return SlotError(slot, field + " is not null-terminated within its " +
                                 Num(sizeof raw.name) + " bytes" +
                                 OfBond(bond_name));
    }
    if (name->empty()) {
      return SlotError(slot, field + " is empty" + OfBond(bond_name));
    }
    Member member;
    member.name = std::move(*name);
    member.ifindex = raw.ifindex;
    member.ofport = raw.ofport;
    std::memcpy(member.mac.data(), raw.mac, sizeof raw.mac);
    member.flags = raw.flags;
    if (locations) {
      Result<MemberLocation> location =
          DecodeLocation(slot, i, locations[i], bond_name);
      if (!location.ok()) return location.status();
      member.location = std::move(*location);
    }
    members.push_back(std::move(member));
  }
  return members;
}

Result<std::vector<HashVector>> DecodeVectors(size_t slot,
                                              const rdma_bond_record& record,
                                              const std::string& bond_name) {
  std::vector<HashVector> vectors;
  vectors.reserve(record.n_vectors);
  for (size_t i = 0; i < record.n_vectors; i++) {
    const rdma_bond_hash_vector& raw = record.vectors[i];
    if (raw.ip_version != 4 && raw.ip_version != 6) {
      return SlotError(slot, "vectors[" + Num(i) + "].ip_version " +
                                 Num(raw.ip_version) + " is not 4 or 6" +
                                 OfBond(bond_name));
    }
    HashVector vector;
    vector.ip_version = raw.ip_version;
    std::memcpy(vector.src.data(), raw.src, sizeof raw.src);
    std::memcpy(vector.dst.data(), raw.dst, sizeof raw.dst);
    vector.sport = ntohs(raw.sport_be);
    vector.dport = ntohs(raw.dport_be);
    vector.nw_proto = raw.nw_proto;
    vector.hash_basis0 = raw.hash_basis0;
    vector.hash_basis = raw.hash_basis;
    vector.hash_regime = raw.hash_regime;
    vectors.push_back(vector);
  }
  return vectors;
}

}  // namespace

std::optional<BondMode> ParseBondMode(uint8_t raw) {
  switch (raw) {
    case RDMA_BOND_MODE_ACTIVE_BACKUP:
    case RDMA_BOND_MODE_BALANCE_TCP:
    case RDMA_BOND_MODE_BALANCE_SLB:
      return static_cast<BondMode>(raw);
  }
  return std::nullopt;
}

std::optional<LacpStatus> ParseLacpStatus(uint8_t raw) {
  switch (raw) {
    case RDMA_BOND_LACP_OFF:
    case RDMA_BOND_LACP_NEGOTIATED:
    case RDMA_BOND_LACP_FAILED:
      return static_cast<LacpStatus>(raw);
  }
  return std::nullopt;
}

std::optional<HashRegime> ParseHashRegime(uint8_t raw) {
  switch (raw) {
    case RDMA_BOND_REGIME_NONE:
    case RDMA_BOND_REGIME_RECIRC:
    case RDMA_BOND_REGIME_LB_OUTPUT:
    case RDMA_BOND_REGIME_XLATE:
    case RDMA_BOND_REGIME_KERNEL:
    case RDMA_BOND_REGIME_SLB:
      return static_cast<HashRegime>(raw);
  }
  return std::nullopt;
}

std::string_view ToString(BondMode mode) {
  switch (mode) {
    case BondMode::kActiveBackup: return "active-backup";
    case BondMode::kBalanceTcp: return "balance-tcp";
    case BondMode::kBalanceSlb: return "balance-slb";
  }
  return "unknown";
}

std::string_view ToString(LacpStatus lacp) {
  switch (lacp) {
    case LacpStatus::kOff: return "off";
    case LacpStatus::kNegotiated: return "negotiated";
    case LacpStatus::kFailed: return "failed";
  }
  return "unknown";
}

std::string_view ToString(HashRegime regime) {
  switch (regime) {
    case HashRegime::kNone: return "none";
    case HashRegime::kRecirc: return "recirc";
    case HashRegime::kLbOutput: return "lb-output";
    case HashRegime::kXlate: return "xlate";
    case HashRegime::kKernel: return "kernel";
    case HashRegime::kSlb: return "slb";
  }
  return "unknown";
}

std::string HashImplName(uint32_t hash_impl) {
  switch (hash_impl) {
    case RDMA_BOND_HASH_MHASH: return "mhash";
    case RDMA_BOND_HASH_X86_CRC32: return "x86-crc32";
    case RDMA_BOND_HASH_ARM64_CRC32: return "arm64-crc32";
  }
  return "unknown-" + Num(hash_impl);
}

std::vector<std::string> ReasonNames(uint32_t reasons) {
  static constexpr struct {
    uint32_t bit;
    const char* name;
  } kReasons[] = {
      {RDMA_BOND_REASON_ADDED, "added"},
      {RDMA_BOND_REASON_ACTIVE_MEMBER, "active-member"},
      {RDMA_BOND_REASON_MEMBER_STATE, "member-state"},
      {RDMA_BOND_REASON_LACP, "lacp"},
      {RDMA_BOND_REASON_REBALANCE, "rebalance"},
      {RDMA_BOND_REASON_RECONFIGURE, "reconfigure"},
      {RDMA_BOND_REASON_DELETED, "deleted"},
      {RDMA_BOND_REASON_KEY_OFF, "key-off"},
  };
  std::vector<std::string> names;
  for (int i = 0; i < 32; i++) {
    const uint32_t bit = UINT32_C(1) << i;
    if (!(reasons & bit)) {
      continue;
    }
    const char* name = nullptr;
    for (const auto& reason : kReasons) {
      if (reason.bit == bit) {
        name = reason.name;
      }
    }
    if (name != nullptr) {
      names.emplace_back(name);
    } else {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(bit));
      names.emplace_back(hex);
    }
  }
  return names;
}

std::string FormatMac(const std::array<uint8_t, 6>& mac) {
  return FormatHexGroups(mac, 1);
}

std::vector<size_t> Bond::BucketCounts() const {
  std::vector<size_t> counts(members.size(), 0);
  for (uint8_t bucket : buckets) {
    if (bucket != RDMA_BOND_NO_MEMBER && bucket < counts.size()) {
      counts[bucket]++;
    }
  }
  return counts;
}

size_t Bond::UnassignedBuckets() const {
  size_t n = 0;
  for (uint8_t bucket : buckets) {
    n += bucket == RDMA_BOND_NO_MEMBER;
  }
  return n;
}

Result<Bond> DecodeBondRecord(size_t slot, const rdma_bond_record& record,
                              const rdma_bond_member_location* locations) {
  if (record.in_use != 1) {
    return SlotError(slot, "in_use " + Num(record.in_use) + " is not 0 or 1");
  }

  // The name first, so that the messages below can name the bond.
  std::optional<std::string> name = TerminatedString(record.name);
  if (!name) {
    return SlotError(slot, "name is not null-terminated within its " +
                               Num(sizeof record.name) + " bytes");
  }
  if (name->empty()) {
    return SlotError(slot, "name is empty");
  }
  std::optional<std::string> dp_type = TerminatedString(record.dp_type);
  if (!dp_type) {
    return SlotError(slot, "dp_type is not null-terminated within its " +
                               Num(sizeof record.dp_type) + " bytes" +
                               OfBond(*name));
  }

  std::optional<BondMode> mode = ParseBondMode(record.mode);
  if (!mode) {
    return UnknownValue(slot, "mode", record.mode, *name);
  }
  std::optional<LacpStatus> lacp = ParseLacpStatus(record.lacp_status);
  if (!lacp) {
    return UnknownValue(slot, "lacp_status", record.lacp_status, *name);
  }
  std::optional<HashRegime> regime = ParseHashRegime(record.regime);
  if (!regime) {
    return UnknownValue(slot, "regime", record.regime, *name);
  }
  if (record.lacp_fallback_ab > 1) {
    return SlotError(slot, "lacp_fallback_ab " +
                               Num(record.lacp_fallback_ab) +
                               " is not 0 or 1" + OfBond(*name));
  }

  const size_t n_members = record.n_members;
  if (n_members > RDMA_BOND_MAX_MEMBERS) {
    return SlotError(slot, "n_members " + Num(n_members) +
                               " is above the maximum " +
                               Num(RDMA_BOND_MAX_MEMBERS) + OfBond(*name));
  }
  const std::string has_members =
      " (bond \"" + *name + "\" has " + Num(n_members) + " members)";
  if (record.active_member != RDMA_BOND_NO_MEMBER &&
      record.active_member >= n_members) {
    return SlotError(slot, "active_member " + Num(record.active_member) +
                               " is out of range" + has_members);
  }
  for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
    const uint8_t bucket = record.buckets[i];
    if (bucket != RDMA_BOND_NO_MEMBER && bucket >= n_members) {
      return SlotError(slot, "buckets[" + Num(i) + "] " + Num(bucket) +
                                 " is out of range" + has_members);
    }
  }
  if (record.n_vectors > RDMA_BOND_N_VECTORS) {
    return SlotError(slot, "n_vectors " + Num(record.n_vectors) +
                               " is above the maximum " +
                               Num(RDMA_BOND_N_VECTORS) + OfBond(*name));
  }

  Result<std::vector<Member>> members =
      DecodeMembers(slot, record, *name, locations);
  if (!members.ok()) {
    return members.status();
  }
  Result<std::vector<HashVector>> vectors = DecodeVectors(slot, record, *name);
  if (!vectors.ok()) {
    return vectors.status();
  }

  Bond bond;
  bond.slot = slot;
  bond.seq = record.seq;
  bond.generation = record.generation;
  bond.change_ns = record.change_ns;
  bond.reasons = record.reasons;
  bond.name = std::move(*name);
  bond.dp_type = std::move(*dp_type);
  bond.mode = *mode;
  bond.lacp = *lacp;
  bond.lacp_fallback_ab = record.lacp_fallback_ab != 0;
  bond.regime = *regime;
  bond.basis = record.basis;
  bond.flags = record.flags;
  bond.recirc_id = record.recirc_id;
  if (record.active_member != RDMA_BOND_NO_MEMBER) {
    bond.active_member = record.active_member;
  }
  bond.members = std::move(*members);
  std::memcpy(bond.buckets.data(), record.buckets, sizeof record.buckets);
  bond.vectors = std::move(*vectors);
  return bond;
}

}  // namespace rdma_bond
