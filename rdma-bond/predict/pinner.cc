// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/pinner.h"

#include <algorithm>
#include <bitset>
#include <utility>

namespace rdma_bond {

std::string_view ToString(RepinReason reason) {
  switch (reason) {
    case RepinReason::kRegistered:
      return "registered";
    case RepinReason::kActiveMember:
      return "active-member";
    case RepinReason::kMemberDown:
      return "member-down";
    case RepinReason::kBucketMoved:
      return "bucket-moved";
    case RepinReason::kHashChanged:
      return "hash-changed";
  }
  return "unknown";
}

namespace {

// Who carries bucket 'b' of 'bond': the owner's name if it is enabled,
// otherwise "".
std::string CarrierOf(const Bond& bond, size_t b) {
  uint8_t m = bond.buckets[b];
  if (m >= bond.members.size() || !bond.members[m].enabled()) {
    return "";
  }
  return bond.members[m].name;
}

std::optional<uint8_t> IndexOf(const Bond& bond, std::string_view name) {
  for (size_t i = 0; i < bond.members.size(); i++) {
    if (bond.members[i].name == name) {
      return static_cast<uint8_t>(i);
    }
  }
  return std::nullopt;
}

}  // namespace

Pinner::HashParams Pinner::ParamsOf(const Bond& bond, uint32_t impl) const {
  HashParams p;
  p.hashed = bond.regime != HashRegime::kNone;
  p.regime = bond.regime;
  p.basis = bond.basis;
  p.impl = impl;
  return p;
}

const std::string& Pinner::MemberName(uint8_t member) const {
  static const std::string kNoName;
  const Bond& b = predictor_->bond();
  return member < b.members.size() ? b.members[member].name : kNoName;
}

Pin Pinner::PinOf(const Qp& qp) const {
  return Pin{MemberName(qp.member), qp.sport};
}

void Pinner::Emit(Qp& qp, uint8_t member, uint16_t sport,
                  RepinReason reason) {
  Repin r;
  r.qp = qp.id;
  r.from = PinOf(qp);
  if (qp.member < loads_.size()) {
    loads_[qp.member]--;
  }
  qp.member = member;
  qp.sport = sport;
  qp.key.SetSourcePort(sport);
  qp.unpinnable = false;
  loads_[member]++;
  r.to = PinOf(qp);
  r.reason = reason;
  if (callback_) {
    callback_(r);
  }
  pending_.push_back(std::move(r));
}

std::optional<SportChoice> Pinner::Relocate(const Qp& qp,
                                            uint8_t* member) const {
  // The usable members, least loaded first; ties by index for determinism.
  std::vector<uint8_t> order;
  for (size_t i = 0; i < loads_.size(); i++) {
    order.push_back(static_cast<uint8_t>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](uint8_t a, uint8_t b) {
    return loads_[a] < loads_[b];
  });
  for (uint8_t m : order) {
    if (m == qp.member && qp.member != kNone) {
      continue;   // Callers try the QP's own member first.
    }
    Result<SportChoice> c =
        predictor_->PickSport(m, qp.local, qp.remote, qp.id);
    if (c.ok()) {
      *member = m;
      return *c;
    }
  }
  return std::nullopt;
}

void Pinner::Check(Qp& qp, RepinReason reason) {
  const Bond& bond = predictor_->bond();
  Prediction p = predictor_->Predict(qp.key);
  if (p.hashed) {
    qp.bucket = p.bucket;
  }
  if (p.has_member() && p.member == qp.member) {
    qp.unpinnable = false;
    return;
  }

  bool own_usable = qp.member < bond.members.size() &&
                    bond.members[qp.member].enabled();
  if (!own_usable && reason != RepinReason::kRegistered) {
    reason = RepinReason::kMemberDown;
  }

  // Active-backup or fallback: the active member carries everything, so
  // the QP moves there with its source port.
  if (!p.hashed) {
    if (p.has_member()) {
      Emit(qp, p.member, qp.sport, reason);
    } else {
      qp.unpinnable = true;
    }
    return;
  }

  // Hashed: keep the RNIC when its member is still usable, with a new
  // source port; otherwise follow the bucket's new owner with the same
  // port; otherwise the least-loaded usable member.
  if (own_usable) {
    Result<SportChoice> c =
        predictor_->PickSport(qp.member, qp.local, qp.remote, qp.id);
    if (c.ok()) {
      Emit(qp, qp.member, c->sport, reason);
      return;
    }
  }
  if (p.has_member()) {
    Emit(qp, p.member, qp.sport, reason);
    return;
  }
  uint8_t member = kNone;
  if (std::optional<SportChoice> c = Relocate(qp, &member)) {
    Emit(qp, member, c->sport, reason);
    return;
  }
  qp.unpinnable = true;
}

Status Pinner::Update(const Bond& bond, uint32_t table_hash_impl) {
  Predictor::Options popts;
  popts.accept_canonical_hash = options_.accept_canonical_hash;
  Result<Predictor> next = Predictor::Create(bond, table_hash_impl, popts);
  if (!next.ok()) {
    return next.status();
  }

  // Remap member indexes by name; QPs whose member left get kNone.
  std::vector<uint8_t> remap;
  if (predictor_) {
    for (const Member& m : predictor_->bond().members) {
      remap.push_back(IndexOf(bond, m.name).value_or(kNone));
    }
  }
  HashParams params = ParamsOf(bond, table_hash_impl);
  bool rehash = !predictor_ || params != params_;
  std::bitset<RDMA_BOND_BUCKETS> moved;
  std::array<std::string, RDMA_BOND_BUCKETS> carriers;
  for (size_t b = 0; b < RDMA_BOND_BUCKETS; b++) {
    carriers[b] = CarrierOf(bond, b);
    moved[b] = carriers[b] != carriers_[b];
  }
  const Member* active = bond.active();
  std::string active_name = active && active->enabled() ? active->name : "";
  bool active_changed = active_name != active_;

  predictor_.emplace(std::move(*next));
  params_ = params;
  carriers_ = std::move(carriers);
  active_ = std::move(active_name);
  loads_.assign(bond.members.size(), 0);
  for (Qp& qp : qps_) {
    qp.member = qp.member < remap.size() ? remap[qp.member] : kNone;
    if (qp.member != kNone) {
      loads_[qp.member]++;
    }
  }

  // The members that are down, by index, for the loop below.
  std::array<bool, RDMA_BOND_NO_MEMBER + 1> down{};
  down[kNone] = true;
  for (size_t i = 0; i < bond.members.size(); i++) {
    down[i] = !bond.members[i].enabled();
  }
  if (rehash || (!params_.hashed && active_changed)) {
    // Most QPs may move: room for their re-pins up front.
    pending_.reserve(pending_.size() + qps_.size());
  }
  for (Qp& qp : qps_) {
    bool member_gone = down[qp.member];
    if (rehash) {
      Check(qp, RepinReason::kHashChanged);
    } else if (!params_.hashed) {
      if (active_changed || member_gone || qp.unpinnable) {
        Check(qp, RepinReason::kActiveMember);
      }
    } else if (moved[qp.bucket] || member_gone || qp.unpinnable) {
      Check(qp, member_gone ? RepinReason::kMemberDown
                            : RepinReason::kBucketMoved);
    }
  }
  return Status::OK();
}

Status Pinner::Register(QpId id, const IpAddress& local,
                        const IpAddress& remote, const Pin& current) {
  if (!predictor_) {
    return Status::Unavailable(
        "no bond snapshot yet: call Update() before registering QPs");
  }
  if (index_.count(id)) {
    return Status::InvalidArgument("QP " + std::to_string(id) +
                                 " is already registered");
  }
  Result<FiveTuple> tuple = MakeUdpTuple(local, remote, current.sport);
  if (!tuple.ok()) {
    return tuple.status();
  }
  if (current.sport < kRoceSportMin) {
    return Status::InvalidArgument(
        "QP " + std::to_string(id) + ": UDP source port " +
        std::to_string(current.sport) + " is outside 0xc000..0xffff");
  }
  Qp qp;
  qp.id = id;
  qp.local = local;
  qp.remote = remote;
  qp.key = FlowKey(*tuple);
  qp.sport = current.sport;
  qp.member = IndexOf(predictor_->bond(), current.member).value_or(kNone);
  if (qp.member != kNone) {
    loads_[qp.member]++;
  }
  index_[id] = qps_.size();
  qps_.push_back(qp);
  Check(qps_.back(), RepinReason::kRegistered);
  return Status::OK();
}

Result<Pin> Pinner::Choose(QpId id, const IpAddress& local,
                           const IpAddress& remote) {
  if (!predictor_) {
    return Status::Unavailable(
        "no bond snapshot yet: call Update() before registering QPs");
  }
  if (index_.count(id)) {
    return Status::InvalidArgument("QP " + std::to_string(id) +
                                 " is already registered");
  }
  Result<FiveTuple> tuple = MakeUdpTuple(local, remote, kRoceSportMin);
  if (!tuple.ok()) {
    return tuple.status();
  }
  Qp qp;
  qp.id = id;
  qp.local = local;
  qp.remote = remote;
  qp.key = FlowKey(*tuple);

  uint8_t member = kNone;
  std::optional<SportChoice> choice = Relocate(qp, &member);
  if (!choice) {
    // Say why, from the prediction of any flow of this pair.
    Prediction p = predictor_->Predict(qp.key);
    std::string why = p.has_member() ? "no member can carry it"
                                     : predictor_->Reason(p);
    return Status::NotFound("no pin for QP " + std::to_string(id) +
                            " on bond \"" + predictor_->bond().name +
                            "\": " + why);
  }
  qp.member = member;
  qp.sport = choice->sport;
  qp.key.SetSourcePort(qp.sport);
  if (choice->prediction.hashed) {
    qp.bucket = choice->prediction.bucket;
  }
  loads_[member]++;
  index_[id] = qps_.size();
  qps_.push_back(qp);
  return PinOf(qps_.back());
}

Status Pinner::Unregister(QpId id) {
  auto it = index_.find(id);
  if (it == index_.end()) {
    return Status::NotFound("QP " + std::to_string(id) +
                            " is not registered");
  }
  size_t pos = it->second;
  if (qps_[pos].member < loads_.size()) {
    loads_[qps_[pos].member]--;
  }
  index_.erase(it);
  if (pos != qps_.size() - 1) {
    qps_[pos] = std::move(qps_.back());
    index_[qps_[pos].id] = pos;
  }
  qps_.pop_back();
  return Status::OK();
}

std::vector<Repin> Pinner::TakeRepins() {
  std::vector<Repin> out;
  out.swap(pending_);
  return out;
}

std::optional<QpView> Pinner::Find(QpId id) const {
  auto it = index_.find(id);
  if (it == index_.end()) {
    return std::nullopt;
  }
  const Qp& qp = qps_[it->second];
  return QpView{qp.id, qp.local, qp.remote, PinOf(qp), qp.unpinnable};
}

size_t Pinner::CountUnpinnable() const {
  return std::count_if(qps_.begin(), qps_.end(),
                       [](const Qp& qp) { return qp.unpinnable; });
}

size_t Pinner::CountMispinned() const {
  size_t n = 0;
  for (const Qp& qp : qps_) {
    Prediction p = predictor_->Predict(qp.key);
    if (!p.has_member() || p.member != qp.member) {
      n++;
    }
  }
  return n;
}

std::vector<size_t> Pinner::MemberLoads() const { return loads_; }

}  // namespace rdma_bond
