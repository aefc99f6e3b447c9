// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Bond: one bond as ovs-vswitchd published it, decoded and validated.
//
// The rdma-bond table (lib/rdma-bond-table.h) holds one fixed-size C record
// per published bond.  TableReader copies a record out of shared memory
// under its seqlock, checks every field that could index out of bounds or
// carry an unknown value, and returns it as a Bond: plain C++ values with
// strong enum types, host byte order everywhere, and no pointers into the
// shared mapping.  Code that has a Bond therefore never has to re-check it.
//
// This header also names every enum value of the table for people and for
// JSON ("active-backup", "lb-output", "member-state"...).  These strings
// are part of rdma-bondctl's documented output: do not change them.
//
// Thread-safety: all types here are plain values; the free functions are
// pure and may be called from any thread.

#ifndef RDMA_BOND_BOND_H_
#define RDMA_BOND_BOND_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdma-bond-table.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// enum rdma_bond_mode.
enum class BondMode : uint8_t {
  kActiveBackup = RDMA_BOND_MODE_ACTIVE_BACKUP,
  kBalanceTcp = RDMA_BOND_MODE_BALANCE_TCP,
  kBalanceSlb = RDMA_BOND_MODE_BALANCE_SLB,
};

// enum rdma_bond_lacp_status.
enum class LacpStatus : uint8_t {
  kOff = RDMA_BOND_LACP_OFF,
  kNegotiated = RDMA_BOND_LACP_NEGOTIATED,
  kFailed = RDMA_BOND_LACP_FAILED,
};

// enum rdma_bond_hash_regime: how the datapath computes a flow's bucket.
enum class HashRegime : uint8_t {
  kNone = RDMA_BOND_REGIME_NONE,
  kRecirc = RDMA_BOND_REGIME_RECIRC,
  kLbOutput = RDMA_BOND_REGIME_LB_OUTPUT,
  kXlate = RDMA_BOND_REGIME_XLATE,
  kKernel = RDMA_BOND_REGIME_KERNEL,
  kSlb = RDMA_BOND_REGIME_SLB,
};

// Returns the value of 'raw' as an enum, or nullopt if this reader does not
// know it.
std::optional<BondMode> ParseBondMode(uint8_t raw);
std::optional<LacpStatus> ParseLacpStatus(uint8_t raw);
std::optional<HashRegime> ParseHashRegime(uint8_t raw);

// "active-backup", "balance-tcp", "balance-slb" (OVS's own bond_mode names).
std::string_view ToString(BondMode mode);
// "off", "negotiated", "failed".
std::string_view ToString(LacpStatus lacp);
// "none", "recirc", "lb-output", "xlate", "kernel", "slb".
std::string_view ToString(HashRegime regime);

// Name of an enum rdma_bond_hash_impl value: "mhash", "x86-crc32",
// "arm64-crc32", or "unknown-N" for a value this reader does not know (the
// header field is not validated: a newer writer may use a new
// implementation, which only matters to code that predicts hashes).
std::string HashImplName(uint32_t hash_impl);

// Names of the enum rdma_bond_reason bits set in 'reasons', lowest bit
// first: "added", "active-member", "member-state", "lacp", "rebalance",
// "reconfigure", "deleted", "key-off".  A bit this reader does not know is
// named by its value in hex, "0x100".
std::vector<std::string> ReasonNames(uint32_t reasons);

// The sentence shown wherever a kernel-regime bond is described.
inline constexpr std::string_view kKernelRegimeNote =
    "the kernel datapath hashes the skb hash: this regime cannot be "
    "reproduced outside the datapath";

// One member of a bond (struct rdma_bond_member).
// Where a member's device is (struct rdma_bond_member_location), from a
// writer of ABI v1.1; from an older one 'kind' is RDMA_BOND_KIND_UNKNOWN
// and the strings are empty.  Validated: 'pci' is empty or a PCI address
// "0000:03:00.0", 'kernel_netdev' empty or a usable netdev name.
struct MemberLocation {
  uint32_t kind = RDMA_BOND_KIND_UNKNOWN;  // enum rdma_bond_member_kind.
  uint32_t flags = 0;             // enum rdma_bond_location_flag.
  std::string netdev_type;        // OVS interface type ("system", "dpdk").
  std::string pci;
  std::string kernel_netdev;
  std::optional<uint32_t> dpdk_port;
  std::string devargs;

  bool dpdk() const { return kind == RDMA_BOND_KIND_DPDK; }
  // Packets received on it carry the NIC's RSS hash (not reproducible).
  bool rx_rss() const { return flags & RDMA_BOND_L_RX_RSS; }

  friend bool operator==(const MemberLocation&,
                         const MemberLocation&) = default;
};

struct Member {
  std::string name;
  uint32_t ifindex = 0;           // 0 if none (dummy interfaces).
  uint32_t ofport = 0;
  std::array<uint8_t, 6> mac{};
  uint16_t flags = 0;             // enum rdma_bond_member_flag.
  MemberLocation location;

  // The kernel netdev that carries the member's traffic, whose RDMA device
  // is the member's: the published one, else the member's own name unless
  // the writer says it is not a kernel netdev (a DPDK port without one).
  std::string Netdev() const {
    if (!location.kernel_netdev.empty()) return location.kernel_netdev;
    return location.kind == RDMA_BOND_KIND_DPDK ? std::string() : name;
  }
  // The netdev to act on: Netdev(), or the member's name for a DPDK port
  // without one, so that acting on it fails and names the member.
  std::string NetdevOrName() const {
    std::string netdev = Netdev();
    return netdev.empty() ? name : netdev;
  }

  bool enabled() const { return flags & RDMA_BOND_M_ENABLED; }
  bool may_enable() const { return flags & RDMA_BOND_M_MAY_ENABLE; }
  bool carrier() const { return flags & RDMA_BOND_M_CARRIER; }
  bool primary() const { return flags & RDMA_BOND_M_PRIMARY; }

  friend bool operator==(const Member&, const Member&) = default;
};

// One hash self-test vector (struct rdma_bond_hash_vector), ports in host
// byte order.
struct HashVector {
  uint8_t ip_version = 4;         // 4 or 6 (validated).
  // Addresses in network byte order; IPv4 uses the first 4 bytes.
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t nw_proto = 0;
  uint32_t hash_basis0 = 0;       // flow_hash_5tuple(t, 0).
  uint32_t hash_basis = 0;        // flow_hash_5tuple(t, basis).
  uint32_t hash_regime = 0;       // H(t) for the bond's regime, or 0.

  friend bool operator==(const HashVector&, const HashVector&) = default;
};

// "aa:55:aa:55:00:01".
std::string FormatMac(const std::array<uint8_t, 6>& mac);


// One published bond (struct rdma_bond_record), validated: every index in
// it is in range and every enum is known.
struct Bond {
  size_t slot = 0;                // Record slot in the table.
  uint64_t seq = 0;               // Even sequence count of this copy.
  uint64_t generation = 0;
  uint64_t change_ns = 0;         // CLOCK_MONOTONIC of the last change.
  uint32_t reasons = 0;           // enum rdma_bond_reason bits.
  std::string name;
  std::string dp_type;
  BondMode mode = BondMode::kActiveBackup;
  LacpStatus lacp = LacpStatus::kOff;
  bool lacp_fallback_ab = false;
  HashRegime regime = HashRegime::kNone;
  uint32_t basis = 0;
  uint32_t flags = 0;             // enum rdma_bond_record_flag.
  uint32_t recirc_id = 0;
  // Index into 'members', or nullopt for RDMA_BOND_NO_MEMBER.
  std::optional<size_t> active_member;
  std::vector<Member> members;    // At most RDMA_BOND_MAX_MEMBERS.
  // Member index per bucket, or RDMA_BOND_NO_MEMBER; every other value is
  // < members.size().
  std::array<uint8_t, RDMA_BOND_BUCKETS> buckets{};
  std::vector<HashVector> vectors;  // At most RDMA_BOND_N_VECTORS.

  // The active member, or nullptr if there is none.
  const Member* active() const {
    return active_member ? &members[*active_member] : nullptr;
  }
  // False only for the kernel regime, whose hash depends on the skb hash.
  bool reproducible() const { return regime != HashRegime::kKernel; }
  bool lb_output_active() const {
    return flags & RDMA_BOND_F_LB_OUTPUT_ACTIVE;
  }
  bool may_recirc() const { return flags & RDMA_BOND_F_MAY_RECIRC; }
  // The bond counts the RDMA load when it rebalances: connections move a
  // bucket's traffic with the bucket (ABI v1.2).
  bool rdma_rebalance() const { return flags & RDMA_BOND_F_RDMA_REBALANCE; }

  // Number of buckets assigned to each member (indexed like 'members').
  std::vector<size_t> BucketCounts() const;
  // Number of buckets with no member assigned.
  size_t UnassignedBuckets() const;

  // Field-by-field equality, 'seq' and 'slot' included.
  friend bool operator==(const Bond&, const Bond&) = default;
};

// Validates 'record', a private copy of slot 'slot' taken under its
// seqlock, and decodes it.  Every check that guards an array index or an
// enum is made before the value is used, so a corrupt record is never read
// out of bounds.  A failure names the slot and the field, for example
//   slot 3: active_member 7 is out of range (bond "bond0" has 2 members)
// 'locations', when not null, are the record's RDMA_BOND_MAX_MEMBERS
// member locations (ABI v1.1), copied under the same seqlock.
// REQUIRES: record.in_use != 0 (free slots are skipped, not decoded).
Result<Bond> DecodeBondRecord(
    size_t slot, const rdma_bond_record& record,
    const rdma_bond_member_location* locations = nullptr);

}  // namespace rdma_bond

#endif  // RDMA_BOND_BOND_H_
