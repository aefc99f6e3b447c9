// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Predictor: which member of a bond ovs-vswitchd sends a flow on, and which
// UDP source port makes a RoCEv2 flow take a given member.
//
// A Predictor is built from one published bond (a Bond of a table
// snapshot) and the table's hash implementation.  It answers exactly as
// choose_output_member() in OVS 3.1.0's ofproto/bond.c:
//
//   - LACP configured but failed: drop, or with lacp-fallback-ab the
//     active member (as active-backup);
//   - active-backup: the active member (none: drop);
//   - balance-tcp without negotiated LACP: drop;
//   - balance-tcp: bucket = H(5-tuple) & 0xff with the bond's hash regime
//     (ovs_hash.h), member = the bucket's member.  A bucket without a
//     member, or whose member is disabled, gets an enabled member from OVS
//     when a flow first uses it: that is reported, not guessed;
//   - balance-slb: bucket = hash_mac(source MAC, VLAN, basis) & 0xff.  The
//     5-tuple plays no part, so the caller must give the source MAC (for
//     RoCE, the MAC the frames leave with) and VLAN (SlbSource).
//
// Before it predicts anything, Create() recomputes every hash self-test
// vector that the writer published for the bond with the implementation
// the table names, and refuses (naming the vector and the field) if one
// differs: a reader that hashes differently from ovs-vswitchd must not pin
// anything.  It also refuses a hash implementation this CPU cannot run, and
// the kernel regime unless the caller accepts the canonical hash (whose
// predictions are then marked unverified).
//
// Usage:
//   Result<Predictor> p = Predictor::Create(bond, snapshot.table.hash_impl);
//   if (!p.ok()) return p.status();
//   Prediction where = p->Predict(FlowKey(tuple));
//   Result<SportChoice> port = p->PickSport(member, src, dst, qp_num);
//
// Predict() and PredictBatch() allocate nothing and cost one hash.  A
// Predictor is a snapshot: when the table changes (a newer generation of
// the bond), build a new one.
//
// Thread-safety: immutable after Create(); every method is const and may
// be called concurrently from any number of threads.

#ifndef RDMA_BOND_PREDICTOR_H_
#define RDMA_BOND_PREDICTOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdma-bond-table.h"
#include "rdma_bond/bond.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/ovs_hash.h"
#include "rdma_bond/roce.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// Buckets are chosen by the low bits of the hash (BOND_MASK in bond.c).
inline constexpr uint32_t kBucketMask = RDMA_BOND_BUCKETS - 1;
static_assert((RDMA_BOND_BUCKETS & kBucketMask) == 0,
              "the bucket count must be a power of two");

// What OVS does with a flow.
enum class Outcome : uint8_t {
  kMember,                  // Prediction::member carries the flow.
  kDropLacpFailed,          // LACP failed, lacp-fallback-ab=false: drop.
  kDropNoActiveMember,      // Active-backup without an active member.
  kDropLacpNotNegotiated,   // balance-tcp without negotiated LACP: drop.
  kBucketUnassigned,        // OVS assigns an enabled member on first use.
  kMemberDisabled,          // The bucket's member is disabled: OVS
                            // reassigns the bucket on first use.
  kNeedsSourceMac,          // balance-slb, and no SlbSource was given.
};

// "member", "drop", "unassigned", "member-disabled", "needs-source-mac":
// the "outcome" of rdma-bondctl predict --json.
std::string_view ToString(Outcome outcome);

// The answer for one flow.
struct Prediction {
  // Member index when outcome is kMember, and for kMemberDisabled the
  // disabled member; otherwise kNoMember.
  static constexpr uint8_t kNoMember = RDMA_BOND_NO_MEMBER;

  Outcome outcome = Outcome::kMember;
  uint8_t member = kNoMember;
  // The bond hashes the flow ('hash' and 'bucket' are set): balance-tcp
  // with negotiated LACP, or balance-slb with a source MAC.
  bool hashed = false;
  // False when 'hash' is the kernel regime's canonical hash, which the
  // kernel datapath does not use: the member must be confirmed by probing.
  bool verified = true;
  uint8_t bucket = 0;
  uint32_t hash = 0;

  bool has_member() const { return outcome == Outcome::kMember; }
};

// The source of a frame on a balance-slb bond: hash_mac() hashes it.
struct SlbSource {
  std::array<uint8_t, 6> mac{};
  uint16_t vlan = 0;                // VLAN ID the bond outputs in, 0 if none.
};

// A UDP source port whose flow takes the asked member.
// SplitMix64's finalizer: spreads consecutive spread keys (QP numbers,
// counters) over unrelated values.  Public so that every caller that
// derives keys (per path, per probe round) mixes them the same way.
constexpr uint64_t MixSpreadKey(uint64_t x) {
  x += UINT64_C(0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
  return x ^ (x >> 31);
}

struct SportChoice {
  uint16_t sport = 0;               // In 0xc000..0xffff.
  uint32_t flow_label = 0;          // UdpSportToFlowLabel(sport), never 0.
  Prediction prediction;            // The flow's prediction (kMember).
};

class Predictor;

// Where every RoCEv2 source port of one flow goes: for a source, a
// destination and a destination port, the ports (0xc000..0xffff) that
// each member of the bond receives, computed once by Predictor::MapSports()
// (one prediction per port, about 16384 hashes).  Then Pick() is O(1)
// whatever the member owns, where PickSport() costs 256 / (buckets of the
// member) hashes: build a map for a member with few buckets or for many
// picks between the same two addresses (an agent pinning many QPs).  Holds
// about 96 KiB; a snapshot of the Predictor it was built from.
//
// Thread-safety: immutable; const methods may be called concurrently.
class SportMap {
 public:
  // The ports OVS sends on member 'member', ascending (empty if none, or
  // for an index out of range).
  std::span<const uint16_t> PortsOf(size_t member) const;

  // One of PortsOf(member), chosen by a mix of 'spread_key' (different keys
  // spread evenly over the member's ports, hence over its buckets).  Fails
  // as Predictor::PickSport() does.  No allocation on success.
  Result<SportChoice> Pick(size_t member, uint64_t spread_key) const;

 private:
  friend class Predictor;
  SportMap() = default;

  // Why each member is unreachable (OK if it is reachable), by index.
  std::vector<Status> reachable_;
  // Ports grouped by member: those of member m are
  // [offsets_[m], offsets_[m + 1]).  'hashes_' holds each port's hash.
  std::vector<uint16_t> ports_;
  std::vector<uint32_t> hashes_;
  std::vector<uint32_t> offsets_;
  bool hashed_ = false;             // Prediction::hashed of every port.
  bool verified_ = true;            // Prediction::verified of every port.
  std::string bond_label_;          // "bond "bond0"", for messages.
};

class Predictor {
 public:
  struct Options {
    // For a bond in the kernel regime: predict with the canonical
    // flow_hash_5tuple(t, 0) instead of refusing.  Such predictions have
    // verified == false.
    bool accept_canonical_hash = false;
  };

  // Most spread keys PickSports() tries: every source port once.
  static constexpr size_t kMaxSports = kRoceSportCount;

  // Builds a predictor for 'bond' as published in a table whose header
  // says 'table_hash_impl' (TableInfo::hash_impl).  Fails, with a message
  // that names the bond and the way out, if:
  //   - the hash implementation is unknown or not available on this CPU
  //     ("table was written by an x86-crc32 ovs-vswitchd; this CPU lacks
  //     SSE4.2 ...");
  //   - a self-test vector does not hash as published (which vector, which
  //     field, both values);
  //   - the bond hashes flows but published no vectors;
  //   - the mode, LACP status and regime contradict each other;
  //   - the regime is kernel and !options.accept_canonical_hash.
  static Result<Predictor> Create(const Bond& bond, uint32_t table_hash_impl,
                                  const Options& options);
  static Result<Predictor> Create(const Bond& bond,
                                  uint32_t table_hash_impl) {
    return Create(bond, table_hash_impl, Options());
  }

  // Where OVS sends the flow 'key'.  'slb' is only used by balance-slb
  // bonds (which answer kNeedsSourceMac without it).  No allocation.
  Prediction Predict(const FlowKey& key,
                     const SlbSource* slb = nullptr) const;

  // out[i] = Predict(keys[i]), hashing in batches.
  // REQUIRES: out.size() == keys.size().
  void PredictBatch(std::span<const FlowKey> keys,
                    std::span<Prediction> out) const;

  // A UDP source port in 0xc000..0xffff whose flow from 'src' to
  // 'dst':'dport' OVS sends on member 'member' (an index into
  // bond().members).  'spread_key' (a QP number, a counter...) picks which
  // of the member's ports: the search starts at a port and steps by a
  // stride, both derived from a mix of the key, so that different keys
  // spread over the member's ports and buckets.  Costs on average
  // 256 / (buckets of the member) hashes; no allocation on success.  For
  // a member with few buckets, or many picks between the same addresses,
  // build a SportMap (MapSports()) and pick from it instead.
  // Fails with NotFound when no port can reach the member (naming why:
  // the bond drops, active-backup and the member is not active, the member
  // owns no bucket or is disabled...), InvalidArgument for a bad member
  // index, mixed IP versions or a balance-slb bond without 'slb'.
  Result<SportChoice> PickSport(size_t member, const IpAddress& src,
                                const IpAddress& dst, uint64_t spread_key,
                                uint16_t dport = kRoceV2UdpPort,
                                const SlbSource* slb = nullptr) const;

  // 'count' different ports, for spread keys spread_key, spread_key + 1,
  // ... (a port already chosen is stepped over).  Fails like PickSport(),
  // or if fewer than 'count' ports reach the member.
  // REQUIRES: 1 <= count <= kMaxSports (else InvalidArgument).
  Result<std::vector<SportChoice>> PickSports(
      size_t member, const IpAddress& src, const IpAddress& dst,
      size_t count, uint64_t spread_key, uint16_t dport = kRoceV2UdpPort,
      const SlbSource* slb = nullptr) const;

  // The SportMap of the flows from 'src' to 'dst':'dport' (see SportMap).
  // Fails with InvalidArgument for mixed IP versions.
  Result<SportMap> MapSports(const IpAddress& src, const IpAddress& dst,
                             uint16_t dport = kRoceV2UdpPort,
                             const SlbSource* slb = nullptr) const;

  // Why 'prediction' has no member, in one sentence that names the bucket
  // and member ("bucket 17 is unassigned: OVS assigns an enabled member on
  // first use (not predictable)"); "" for kMember.
  std::string Reason(const Prediction& prediction) const;

  // Index of the member named 'name', or nullopt.
  std::optional<size_t> FindMember(std::string_view name) const;

  const Bond& bond() const { return bond_; }
  HashImpl hash_impl() const { return impl_; }

 private:
  // What choose_output_member() does for every flow of this bond.
  enum class Decision : uint8_t {
    kDropLacpFailed,
    kDropNoActiveMember,
    kDropLacpNotNegotiated,
    kActiveMember,          // Active-backup or the LACP fallback.
    kHash5Tuple,            // balance-tcp: RegimeHasher.
    kHashSourceMac,         // balance-slb: hash_mac().
  };

  // Per-bucket route: a member index below kDisabledBit, kDisabledBit |
  // index for a disabled member, or kUnassigned.
  static constexpr uint8_t kDisabledBit = 0x80;
  static constexpr uint8_t kUnassigned = RDMA_BOND_NO_MEMBER;
  static_assert(RDMA_BOND_MAX_MEMBERS <= kDisabledBit,
                "member indexes must fit below the disabled bit");
  static_assert((kUnassigned & ~kDisabledBit) >= RDMA_BOND_MAX_MEMBERS,
                "kUnassigned must not read as a disabled member");

  Predictor(const Bond& bond, HashImpl impl, Decision decision);

  Status CheckConsistent() const;
  Status VerifyVectors() const;
  // The prediction for bucket hash 'hash'.
  Prediction FromHash(uint32_t hash) const;
  // Why no source port can reach 'member', or OK if some may.
  Status CheckReachable(size_t member, const SlbSource* slb) const;
  // Walks the source ports of 'key' from the position and stride of
  // 'spread_key' to the first port, not in 'taken', that reaches 'member'.
  Result<SportChoice> Walk(size_t member, FlowKey key, uint64_t spread_key,
                           const std::vector<bool>* taken,
                           const SlbSource* slb) const;
  // "no source port ... reaches MEMBER<qualifier> (it owns N buckets...)".
  Status NoPortReaches(size_t member, const std::string& qualifier) const;
  // Walk() of the hashing decision, from 'position' by 'stride', in
  // batches.
  Result<SportChoice> WalkHashed(size_t member, FlowKey key, uint32_t position,
                                 uint32_t stride,
                                 const std::vector<bool>* taken) const;
  // "member p2 of bond "bond0"".
  std::string MemberLabel(size_t member) const;

  Bond bond_;
  HashImpl impl_;
  Decision decision_;
  std::optional<RegimeHasher> hasher_;      // For kHash5Tuple.
  std::array<uint8_t, RDMA_BOND_BUCKETS> routes_{};
  // Buckets whose route is each (enabled) member.
  std::array<uint16_t, RDMA_BOND_MAX_MEMBERS> owned_buckets_{};
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PREDICTOR_H_
