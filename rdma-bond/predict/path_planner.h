// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// PathPlanner: which of a host's bond members a multipath connection may
// send from, and with which RoCEv2 UDP source ports.
//
// A multipath connection (connection.h) has one RNIC per bond member and a
// full mesh of QP pairs to the peer's RNICs.  Whether the QP of local
// member i may send at all, and with which source port, depends on the
// local bond as ovs-vswitchd published it:
//
//   - active-backup (and balance-tcp's LACP fallback): only the active
//     member carries.  The switch is a learning switch: frames from the
//     standby member would move the host's MAC there (MAC flapping).  The
//     source port is free: nothing hashes it.
//   - balance-tcp with negotiated LACP: every enabled member that owns a
//     bucket reachable by this flow carries, and a QP on member i must use
//     a source port whose bucket OVS maps to member i (Predictor), or the
//     host's other traffic of that 5-tuple would leave elsewhere.
//   - balance-slb, or no snapshot at all: every enabled member (every
//     member without a snapshot) carries, ports free.
//   - a bond that drops every flow (LACP failed or not negotiated without
//     fallback): nothing carries.
//
// A planner is a snapshot, like the Predictor it wraps: on a table change,
// build a new one and ask StillMaps() about each current pin.
//
// Usage:
//   Result<PathPlanner> plan = PathPlanner::Create(&bond, hash_impl,
//                                                  {"eth1", "eth2"},
//                                                  local_ip, remote_ip);
//   if (plan->member(0).carries) {
//     Result<std::vector<uint16_t>> ports = plan->Candidates(0, key, 64);
//   }
//
// Thread-safety: immutable after Create(); const methods may be called
// concurrently.

#ifndef RDMA_BOND_PATH_PLANNER_H_
#define RDMA_BOND_PATH_PLANNER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/bond.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// How the bond decides which member sends.
enum class PathPolicy : uint8_t {
  kFree,          // No snapshot or balance-slb: enabled members, any port.
  kActiveOnly,    // Active-backup or LACP fallback: the active member.
  kHashed,        // balance-tcp: members by bucket, ports must map.
  kNone,          // The bond drops every flow.
};
// "free", "active-only", "hashed", "none".
std::string_view ToString(PathPolicy policy);

// The plan for one local member (one RNIC).
struct MemberPlan {
  std::string name;
  // Index into the bond's members, nullopt without a snapshot or when the
  // bond has no member of that name.
  std::optional<size_t> bond_index;
  // The member is enabled in the bond (its link is up and, with LACP, in
  // sync), whether or not it owns buckets or is active: its paths are
  // kept connected, ready to carry when it becomes usable.
  bool alive = false;
  // The member may have a connected, ready path: enabled (and in
  // balance-tcp it owns a bucket this flow can reach).
  bool usable = false;
  // The member may send traffic now (active-backup: usable and active).
  bool carries = false;
  // Why it is not usable or does not carry ("" when it carries).
  std::string reason;
};

class PathPlanner {
 public:
  // Plans 'members' (the local RNICs' members, in path order) for the flow
  // from 'local' to 'remote' under 'bond' (nullptr: no snapshot, every
  // member carries).  'table_hash_impl' is the table header's, as for
  // Predictor::Create().  Fails as Predictor::Create() does for a
  // balance-tcp bond (vectors, hash implementation), or if 'members' is
  // empty, longer than 32, or the addresses mix IP versions.
  static Result<PathPlanner> Create(const Bond* bond,
                                    uint32_t table_hash_impl,
                                    std::vector<std::string> members,
                                    const IpAddress& local,
                                    const IpAddress& remote);

  PathPolicy policy() const { return policy_; }
  size_t size() const { return members_.size(); }
  // REQUIRES: i < size().
  const MemberPlan& member(size_t i) const { return members_[i]; }
  // The path-order index of the active member, if it is one of ours.
  std::optional<size_t> active() const { return active_; }
  // Bit i: member(i).usable.
  uint32_t usable_mask() const;
  // Bit i: member i is alive.
  uint32_t alive_mask() const;
  // The bond's name ("" without a snapshot), for messages.
  const std::string& bond_name() const { return bond_name_; }

  // Up to 'count' different source ports for member i, chosen by
  // 'spread_key' (different keys give different sequences).  kHashed: each
  // port's flow maps to member i (fewer than 'count' if fewer exist);
  // otherwise ports are free and spread over the whole range.  Fails with
  // NotFound when member i is not usable (the reason says why).
  // REQUIRES: i < size(), count >= 1.
  Result<std::vector<uint16_t>> Candidates(size_t i, uint64_t spread_key,
                                           size_t count) const;

  // Whether a QP of member i with source port 'sport' is still correctly
  // pinned: kHashed: the flow maps to member i; kActiveOnly: member i
  // carries; kFree: member i is usable; kNone: false.
  bool StillMaps(size_t i, uint16_t sport) const;

  // kHashed: the path-order index of the local member that the bond sends
  // the flow of 'sport' out of now; nullopt when it is none of ours or the
  // bond does not hash.
  std::optional<size_t> MapsTo(uint16_t sport) const;

  // The bond counts the RDMA load when it rebalances
  // (Bond::rdma_rebalance()): a connection's traffic follows a bucket that
  // OVS moves.
  bool rdma_rebalance() const { return rdma_rebalance_; }

 private:
  PathPlanner() = default;

  PathPolicy policy_ = PathPolicy::kFree;
  std::vector<MemberPlan> members_;
  std::optional<size_t> active_;
  std::optional<Predictor> predictor_;   // kHashed only.
  IpAddress local_;
  IpAddress remote_;
  std::string bond_name_;
  bool rdma_rebalance_ = false;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PATH_PLANNER_H_
