// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "predict/path_planner.h"

#include <algorithm>
#include <utility>

#include "rdma_bond/ovs_hash.h"
#include "rdma_bond/roce.h"

namespace rdma_bond {

std::string_view ToString(PathPolicy policy) {
  switch (policy) {
    case PathPolicy::kFree: return "free";
    case PathPolicy::kActiveOnly: return "active-only";
    case PathPolicy::kHashed: return "hashed";
    case PathPolicy::kNone: return "none";
  }
  return "unknown";
}

namespace {

// Most members a connection plans for (the side channel's mask width).
constexpr size_t kMaxMembers = 32;

// What OVS's choose_output_member() does with every flow of 'bond', as the
// Predictor decides it (predictor.h), reduced to what a path needs.
PathPolicy PolicyOf(const Bond& bond) {
  if (bond.lacp == LacpStatus::kFailed) {
    return bond.lacp_fallback_ab ? PathPolicy::kActiveOnly : PathPolicy::kNone;
  }
  switch (bond.mode) {
    case BondMode::kActiveBackup:
      return PathPolicy::kActiveOnly;
    case BondMode::kBalanceTcp:
      return bond.lacp == LacpStatus::kNegotiated ? PathPolicy::kHashed
                                                  : PathPolicy::kNone;
    case BondMode::kBalanceSlb:
      return PathPolicy::kFree;
  }
  return PathPolicy::kNone;
}

}  // namespace

Result<PathPlanner> PathPlanner::Create(const Bond* bond,
                                        uint32_t table_hash_impl,
                                        std::vector<std::string> members,
                                        const IpAddress& local,
                                        const IpAddress& remote) {
  // No members: a side without RDMA (a connection over TCP only).
  if (members.size() > kMaxMembers) {
    return Status::InvalidArgument(
        "path planner: " + std::to_string(members.size()) +
        " local members (0.." + std::to_string(kMaxMembers) + ")");
  }
  if (local.version != remote.version) {
    return Status::InvalidArgument("path planner: local address " +
                                   ToString(local) + " and remote address " +
                                   ToString(remote) + " mix IP versions");
  }
  PathPlanner plan;
  plan.local_ = local;
  plan.remote_ = remote;
  plan.policy_ = bond ? PolicyOf(*bond) : PathPolicy::kFree;
  if (bond) plan.bond_name_ = bond->name;
  plan.rdma_rebalance_ = bond && bond->rdma_rebalance();
  if (plan.policy_ == PathPolicy::kHashed) {
    Result<Predictor> predictor = Predictor::Create(*bond, table_hash_impl);
    if (!predictor.ok()) return predictor.status();
    plan.predictor_ = std::move(*predictor);
  }
  const std::string bond_label = bond ? "bond \"" + bond->name + "\"" : "";
  for (std::string& name : members) {
    MemberPlan m;
    m.name = std::move(name);
    if (!bond) {
      m.alive = m.usable = m.carries = true;
      plan.members_.push_back(std::move(m));
      continue;
    }
    for (size_t b = 0; b < bond->members.size(); b++) {
      if (bond->members[b].name == m.name) m.bond_index = b;
    }
    if (!m.bond_index) {
      m.reason = "\"" + m.name + "\" is not a member of " + bond_label;
    } else if (!bond->members[*m.bond_index].enabled()) {
      m.reason = "member " + m.name + " of " + bond_label + " is disabled";
    } else {
      m.alive = true;
    }
    if (!m.alive) {
      // Nothing more to plan.
    } else if (plan.policy_ == PathPolicy::kNone) {
      m.reason = bond_label + " drops every flow (LACP " +
                 std::string(ToString(bond->lacp)) + ", lacp-fallback-ab " +
                 (bond->lacp_fallback_ab ? "true" : "false") + ")";
    } else if (plan.policy_ == PathPolicy::kHashed) {
      Result<SportChoice> any =
          plan.predictor_->PickSport(*m.bond_index, local, remote, 0);
      if (any.ok()) {
        m.usable = m.carries = true;
      } else {
        m.reason = any.status().message();
      }
    } else {
      m.usable = true;
      if (plan.policy_ == PathPolicy::kFree) {
        m.carries = true;
      } else if (bond->active_member == m.bond_index) {
        m.carries = true;
      } else {
        m.reason = "member " + m.name + " of " + bond_label +
                   " is not the active member";
      }
    }
    if (m.carries && plan.policy_ == PathPolicy::kActiveOnly) {
      plan.active_ = plan.members_.size();
    }
    plan.members_.push_back(std::move(m));
  }
  return plan;
}

uint32_t PathPlanner::alive_mask() const {
  uint32_t mask = 0;
  for (size_t i = 0; i < members_.size(); i++) {
    if (members_[i].alive) mask |= 1u << i;
  }
  return mask;
}

uint32_t PathPlanner::usable_mask() const {
  uint32_t mask = 0;
  for (size_t i = 0; i < members_.size(); i++) {
    if (members_[i].usable) mask |= 1u << i;
  }
  return mask;
}

Result<std::vector<uint16_t>> PathPlanner::Candidates(size_t i,
                                                      uint64_t spread_key,
                                                      size_t count) const {
  const MemberPlan& m = members_[i];
  if (!m.usable) {
    return Status::NotFound("path planner: no source port for member " +
                            m.name + ": " + m.reason);
  }
  std::vector<uint16_t> ports;
  if (policy_ == PathPolicy::kHashed) {
    const size_t want = std::min<size_t>(count, Predictor::kMaxSports);
    Result<std::vector<SportChoice>> picks =
        predictor_->PickSports(*m.bond_index, local_, remote_, want,
                               spread_key);
    if (picks.ok()) {
      for (const SportChoice& c : *picks) ports.push_back(c.sport);
      return ports;
    }
    // Fewer ports than asked reach the member: take all of them, starting
    // at a place chosen by the key.
    Result<SportMap> map = predictor_->MapSports(local_, remote_);
    if (!map.ok()) return map.status();
    std::span<const uint16_t> all = map->PortsOf(*m.bond_index);
    if (all.empty()) return picks.status();
    const size_t start = MixSpreadKey(spread_key) % all.size();
    for (size_t k = 0; k < all.size() && ports.size() < want; k++) {
      ports.push_back(all[(start + k) % all.size()]);
    }
    return ports;
  }
  // Free ports: an odd stride visits every one of the 2^14 ports once.
  const uint64_t mixed = MixSpreadKey(spread_key);
  const uint32_t start = static_cast<uint32_t>(mixed) & kFlowLabelLowMask;
  const uint32_t stride =
      (static_cast<uint32_t>(mixed >> 32) | 1u) & kFlowLabelLowMask;
  const size_t want = std::min<size_t>(count, kRoceSportCount);
  for (size_t k = 0; k < want; k++) {
    ports.push_back(static_cast<uint16_t>(
        kRoceSportMin |
        ((start + static_cast<uint32_t>(k) * stride) & kFlowLabelLowMask)));
  }
  return ports;
}

std::optional<size_t> PathPlanner::MapsTo(uint16_t sport) const {
  if (policy_ != PathPolicy::kHashed || !IsRoceSport(sport)) {
    return std::nullopt;
  }
  Result<FiveTuple> tuple = MakeUdpTuple(local_, remote_, sport);
  if (!tuple.ok()) return std::nullopt;
  const Prediction p = predictor_->Predict(FlowKey(*tuple));
  if (!p.has_member()) return std::nullopt;
  for (size_t i = 0; i < members_.size(); i++) {
    if (members_[i].bond_index == p.member) return i;
  }
  return std::nullopt;
}

bool PathPlanner::StillMaps(size_t i, uint16_t sport) const {
  if (i >= members_.size()) return false;
  const MemberPlan& m = members_[i];
  switch (policy_) {
    case PathPolicy::kNone:
      return false;
    case PathPolicy::kFree:
      return m.usable;
    case PathPolicy::kActiveOnly:
      return m.carries;
    case PathPolicy::kHashed: {
      if (!m.usable || !IsRoceSport(sport)) return false;
      Result<FiveTuple> tuple = MakeUdpTuple(local_, remote_, sport);
      if (!tuple.ok()) return false;
      const Prediction p = predictor_->Predict(FlowKey(*tuple));
      return p.has_member() && p.member == *m.bond_index;
    }
  }
  return false;
}

}  // namespace rdma_bond
