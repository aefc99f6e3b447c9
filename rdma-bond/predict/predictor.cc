// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/predictor.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace rdma_bond {

namespace {

// Flows hashed per call of RegimeHasher::HashBatch() in PredictBatch(): the
// hashes live on the stack (1 KiB).
constexpr size_t kBatchSize = 256;

// The RoCEv2 source port at 'position' (0..kRoceSportCount - 1).
constexpr uint16_t SportAt(uint32_t position) {
  return static_cast<uint16_t>(kRoceSportMin + position);
}
constexpr uint32_t kPositionMask = kRoceSportCount - 1;
static_assert(SportAt(kPositionMask) == 0xffff, "positions cover the ports");

// Bits of the mixed key that give the stride (the start uses the lowest).
constexpr int kStrideShift = 32;

std::string Hex32(uint32_t value) {
  char text[sizeof "0x12345678"];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

std::string Quoted(const std::string& name) { return "\"" + name + "\""; }

// "bond "bond0"".
std::string BondLabel(const Bond& bond) { return "bond " + Quoted(bond.name); }

}  // namespace

std::string_view ToString(Outcome outcome) {
  switch (outcome) {
    case Outcome::kMember: return "member";
    case Outcome::kDropLacpFailed:
    case Outcome::kDropNoActiveMember:
    case Outcome::kDropLacpNotNegotiated: return "drop";
    case Outcome::kBucketUnassigned: return "unassigned";
    case Outcome::kMemberDisabled: return "member-disabled";
    case Outcome::kNeedsSourceMac: return "needs-source-mac";
  }
  return "unknown";
}

Predictor::Predictor(const Bond& bond, HashImpl impl, Decision decision)
    : bond_(bond), impl_(impl), decision_(decision) {
  for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
    const uint8_t member = bond_.buckets[i];
    if (member == RDMA_BOND_NO_MEMBER) {
      routes_[i] = kUnassigned;
    } else if (!bond_.members[member].enabled()) {
      routes_[i] = kDisabledBit | member;
    } else {
      routes_[i] = member;
      owned_buckets_[member]++;
    }
  }
}

Result<Predictor> Predictor::Create(const Bond& bond,
                                    uint32_t table_hash_impl,
                                    const Options& options) {
  const std::optional<HashImpl> impl = ParseHashImpl(table_hash_impl);
  if (!impl) {
    return Status::NotSupported(
        "the table names hash implementation " +
        HashImplName(table_hash_impl) +
        ", which this reader does not know: upgrade ovs-rdma-bond");
  }
  if (Status available = HashImplAvailable(*impl); !available.ok()) {
    return Status::NotSupported(
        "table was written by an " + std::string(ToString(*impl)) +
        " ovs-vswitchd, but " + available.message() +
        ": cannot predict its hashes");
  }

  Decision decision;
  if (bond.lacp == LacpStatus::kFailed) {
    decision = bond.lacp_fallback_ab ? Decision::kActiveMember
                                     : Decision::kDropLacpFailed;
  } else if (bond.mode == BondMode::kActiveBackup) {
    decision = Decision::kActiveMember;
  } else if (bond.mode == BondMode::kBalanceTcp) {
    decision = bond.lacp == LacpStatus::kNegotiated
                   ? Decision::kHash5Tuple
                   : Decision::kDropLacpNotNegotiated;
  } else {
    decision = Decision::kHashSourceMac;
  }
  if (decision == Decision::kActiveMember && !bond.active_member) {
    decision = Decision::kDropNoActiveMember;
  }

  Predictor predictor(bond, *impl, decision);
  if (Status status = predictor.CheckConsistent(); !status.ok()) {
    return status;
  }
  if (decision == Decision::kHash5Tuple) {
    Result<RegimeHasher> hasher =
        RegimeHasher::Create(*impl, bond.regime, bond.basis,
                             options.accept_canonical_hash);
    if (!hasher.ok()) {
      return hasher.status().WithPrefix(BondLabel(bond) + " (hash regime " +
                                        std::string(ToString(bond.regime)) +
                                        ")");
    }
    predictor.hasher_ = *hasher;
  }
  if (Status status = predictor.VerifyVectors(); !status.ok()) {
    return status;
  }
  return predictor;
}

Status Predictor::CheckConsistent() const {
  bool consistent = false;
  switch (decision_) {
    case Decision::kDropLacpFailed:
    case Decision::kDropNoActiveMember:
    case Decision::kDropLacpNotNegotiated:
    case Decision::kActiveMember:
      consistent = bond_.regime == HashRegime::kNone;
      break;
    case Decision::kHash5Tuple:
      consistent = bond_.regime == HashRegime::kRecirc ||
                   bond_.regime == HashRegime::kLbOutput ||
                   bond_.regime == HashRegime::kXlate ||
                   bond_.regime == HashRegime::kKernel;
      break;
    case Decision::kHashSourceMac:
      consistent = bond_.regime == HashRegime::kSlb;
      break;
  }
  if (consistent) {
    return Status::OK();
  }
  return Status::Corruption(
      BondLabel(bond_) + " is " + std::string(ToString(bond_.mode)) +
      " with LACP " + std::string(ToString(bond_.lacp)) +
      " but its hash regime is " + std::string(ToString(bond_.regime)) +
      ": the table contradicts itself (refusing to predict)");
}

Status Predictor::VerifyVectors() const {
  const bool hashes = decision_ == Decision::kHash5Tuple ||
                      decision_ == Decision::kHashSourceMac;
  if (bond_.vectors.empty() && hashes) {
    return Status::Corruption(
        BondLabel(bond_) + " publishes no hash self-test vectors: cannot "
        "check that this reader hashes as ovs-vswitchd does (refusing to "
        "predict)");
  }
  // The regime hash is published for the regimes that reproduce it.
  const bool check_regime = hasher_ && hasher_->verified();
  for (size_t i = 0; i < bond_.vectors.size(); i++) {
    const HashVector& v = bond_.vectors[i];
    FiveTuple tuple;
    tuple.src.version = tuple.dst.version = v.ip_version;
    tuple.src.bytes = v.src;
    tuple.dst.bytes = v.dst;
    tuple.sport = v.sport;
    tuple.dport = v.dport;
    tuple.proto = v.nw_proto;
    const FlowKey key(tuple);

    struct Check {
      const char* field;
      const char* function;
      uint32_t published;
      uint32_t computed;
    };
    const Check checks[] = {
        {"hash_basis0", "flow_hash_5tuple(t, 0)", v.hash_basis0,
         FlowHash5Tuple(impl_, key, 0)},
        {"hash_basis", "flow_hash_5tuple(t, basis)", v.hash_basis,
         FlowHash5Tuple(impl_, key, bond_.basis)},
        {"hash_regime", "the regime hash", v.hash_regime,
         check_regime ? hasher_->Hash(key) : v.hash_regime},
    };
    for (const Check& check : checks) {
      if (check.published == check.computed) {
        continue;
      }
      return Status::Corruption(
          BondLabel(bond_) + ": self-test vector " + std::to_string(i) +
          " (" + ToString(tuple) + ", basis " + std::to_string(bond_.basis) +
          ", regime " + std::string(ToString(bond_.regime)) + "): " +
          check.field + " is " + Hex32(check.published) +
          " in the table but " + std::string(ToString(impl_)) + " " +
          check.function + " gives " + Hex32(check.computed) +
          ": this reader does not hash as the ovs-vswitchd that wrote the "
          "table (refusing to predict)");
    }
  }
  return Status::OK();
}

Prediction Predictor::FromHash(uint32_t hash) const {
  Prediction p;
  p.hashed = true;
  p.hash = hash;
  p.bucket = static_cast<uint8_t>(hash & kBucketMask);
  const uint8_t route = routes_[p.bucket];
  if (route == kUnassigned) {
    p.outcome = Outcome::kBucketUnassigned;
  } else if (route & kDisabledBit) {
    p.outcome = Outcome::kMemberDisabled;
    p.member = route & ~kDisabledBit;
  } else {
    p.outcome = Outcome::kMember;
    p.member = route;
  }
  return p;
}

Prediction Predictor::Predict(const FlowKey& key,
                              const SlbSource* slb) const {
  Prediction p;
  switch (decision_) {
    case Decision::kDropLacpFailed:
      p.outcome = Outcome::kDropLacpFailed;
      return p;
    case Decision::kDropNoActiveMember:
      p.outcome = Outcome::kDropNoActiveMember;
      return p;
    case Decision::kDropLacpNotNegotiated:
      p.outcome = Outcome::kDropLacpNotNegotiated;
      return p;
    case Decision::kActiveMember:
      p.member = static_cast<uint8_t>(*bond_.active_member);
      return p;
    case Decision::kHash5Tuple:
      p = FromHash(hasher_->Hash(key));
      p.verified = hasher_->verified();
      return p;
    case Decision::kHashSourceMac:
      if (slb == nullptr) {
        p.outcome = Outcome::kNeedsSourceMac;
        return p;
      }
      return FromHash(HashMac(impl_, slb->mac, slb->vlan, bond_.basis));
  }
  return p;
}

void Predictor::PredictBatch(std::span<const FlowKey> keys,
                             std::span<Prediction> out) const {
  if (decision_ != Decision::kHash5Tuple) {
    for (size_t i = 0; i < keys.size(); i++) {
      out[i] = Predict(keys[i]);
    }
    return;
  }
  const bool verified = hasher_->verified();
  uint32_t hashes[kBatchSize];
  for (size_t done = 0; done < keys.size(); done += kBatchSize) {
    const size_t n = std::min(kBatchSize, keys.size() - done);
    hasher_->HashBatch(keys.subspan(done, n), std::span(hashes, n));
    for (size_t i = 0; i < n; i++) {
      Prediction& p = out[done + i];
      p = FromHash(hashes[i]);
      p.verified = verified;
    }
  }
}

std::string Predictor::MemberLabel(size_t member) const {
  return "member " + Quoted(bond_.members[member].name) + " of " +
         BondLabel(bond_);
}

Status Predictor::CheckReachable(size_t member, const SlbSource* slb) const {
  if (member >= bond_.members.size()) {
    return Status::InvalidArgument(
        BondLabel(bond_) + " has no member index " + std::to_string(member) +
        " (it has " + std::to_string(bond_.members.size()) + " members)");
  }
  // Built only on failure: a successful check allocates nothing.
  auto none = [&] { return "no source port reaches " + MemberLabel(member); };
  switch (decision_) {
    case Decision::kDropLacpFailed:
    case Decision::kDropNoActiveMember:
    case Decision::kDropLacpNotNegotiated: {
      Prediction drop;
      drop.outcome = Predict(FlowKey()).outcome;
      return Status::NotFound(none() + ": " + Reason(drop));
    }
    case Decision::kActiveMember:
      if (*bond_.active_member == member) {
        return Status::OK();
      }
      return Status::NotFound(
          std::string(bond_.mode == BondMode::kActiveBackup
                          ? "active-backup"
                          : "LACP failed, fallen back to active-backup") +
          ": every source port reaches the active member " +
          Quoted(bond_.members[*bond_.active_member].name) + "; " +
          Quoted(bond_.members[member].name) +
          " is not the active member of " + BondLabel(bond_));
    case Decision::kHash5Tuple:
      if (!bond_.members[member].enabled()) {
        return Status::NotFound(
            none() + ": it is disabled (OVS moves its buckets to enabled "
            "members on first use)");
      }
      if (owned_buckets_[member] == 0) {
        return Status::NotFound(none() + ": it owns no bucket");
      }
      return Status::OK();
    case Decision::kHashSourceMac: {
      if (slb == nullptr) {
        return Status::InvalidArgument(
            BondLabel(bond_) + " is balance-slb: OVS hashes the source MAC "
            "and VLAN, not the 5-tuple; give the source MAC");
      }
      const Prediction p = Predict(FlowKey(), slb);
      if (p.has_member() && p.member == member) {
        return Status::OK();
      }
      return Status::NotFound(
          none() + ": balance-slb hashes the source MAC " +
          FormatMac(slb->mac) + " (VLAN " + std::to_string(slb->vlan) +
          ") to bucket " + std::to_string(p.bucket) + " for every port, " +
          (p.has_member() ? "whose member is " +
                                Quoted(bond_.members[p.member].name)
                          : Reason(p)));
    }
  }
  return Status::OK();
}

Status Predictor::NoPortReaches(size_t member,
                                const std::string& qualifier) const {
  return Status::NotFound(
      "no source port in 0xc000-0xffff reaches " + MemberLabel(member) +
      qualifier + " (it owns " + std::to_string(owned_buckets_[member]) +
      " buckets, and no port of this flow hashes into them)");
}

Result<SportChoice> Predictor::Walk(size_t member, FlowKey key,
                                    uint64_t spread_key,
                                    const std::vector<bool>* taken,
                                    const SlbSource* slb) const {
  const uint64_t mixed = MixSpreadKey(spread_key);
  uint32_t position = static_cast<uint32_t>(mixed) & kPositionMask;
  // Odd, hence coprime with the power-of-two port count: the walk visits
  // every port once.
  const uint32_t stride =
      (static_cast<uint32_t>(mixed >> kStrideShift) & kPositionMask) | 1;
  if (decision_ == Decision::kHash5Tuple) {
    return WalkHashed(member, key, position, stride, taken);
  }
  for (uint32_t step = 0; step < kRoceSportCount;
       step++, position = (position + stride) & kPositionMask) {
    if (taken != nullptr && (*taken)[position]) {
      continue;
    }
    const uint16_t sport = SportAt(position);
    key.SetSourcePort(sport);
    const Prediction p = Predict(key, slb);
    if (p.has_member() && p.member == member) {
      SportChoice choice;
      choice.sport = sport;
      choice.flow_label = UdpSportToFlowLabel(sport);
      choice.prediction = p;
      return choice;
    }
  }
  return NoPortReaches(member, taken != nullptr
                                     ? " that is not already chosen"
                                     : "");
}

// Walk() for the hashing decision: the same ports in the same order, hashed
// a batch at a time by RegimeHasher::HashPorts() (the addresses hashed once,
// no indirect call per port, the independent hashes overlapping in the
// pipeline), so that a member owning a single bucket, ~256 ports away on
// average, is found in about a microsecond.
Result<SportChoice> Predictor::WalkHashed(size_t member, FlowKey key,
                                          uint32_t position, uint32_t stride,
                                          const std::vector<bool>* taken)
    const {
  constexpr uint32_t kMaxBatch = 64;
  uint32_t ports[kMaxBatch];
  uint16_t sports[kMaxBatch];
  uint32_t hashes[kMaxBatch];
  const bool verified = hasher_->verified();
  // Small batches first: a member that owns half the buckets is usually
  // found by the first or second port.
  uint32_t batch = 4;
  uint32_t step = 0;
  while (step < kRoceSportCount) {
    uint32_t n = 0;
    for (; n < batch && step < kRoceSportCount;
         step++, position = (position + stride) & kPositionMask) {
      if (taken != nullptr && (*taken)[position]) {
        continue;
      }
      sports[n] = SportAt(position);
      key.SetSourcePort(sports[n]);
      ports[n++] = key.ports;
    }
    hasher_->HashPorts(key, std::span<const uint32_t>(ports, n),
                       std::span<uint32_t>(hashes, n));
    for (uint32_t i = 0; i < n; i++) {
      if (routes_[hashes[i] & kBucketMask] == member) {
        SportChoice choice;
        choice.sport = sports[i];
        choice.flow_label = UdpSportToFlowLabel(sports[i]);
        choice.prediction = FromHash(hashes[i]);
        choice.prediction.verified = verified;
        return choice;
      }
    }
    batch = std::min(batch * 2, kMaxBatch);
  }
  return NoPortReaches(member, taken != nullptr
                                     ? " that is not already chosen"
                                     : "");
}

Result<SportChoice> Predictor::PickSport(size_t member, const IpAddress& src,
                                         const IpAddress& dst,
                                         uint64_t spread_key, uint16_t dport,
                                         const SlbSource* slb) const {
  if (Status status = CheckReachable(member, slb); !status.ok()) {
    return status;
  }
  Result<FiveTuple> tuple = MakeUdpTuple(src, dst, kRoceSportMin, dport);
  if (!tuple.ok()) {
    return tuple.status();
  }
  return Walk(member, FlowKey(*tuple), spread_key, nullptr, slb);
}

Result<std::vector<SportChoice>> Predictor::PickSports(
    size_t member, const IpAddress& src, const IpAddress& dst, size_t count,
    uint64_t spread_key, uint16_t dport, const SlbSource* slb) const {
  if (count < 1 || count > kMaxSports) {
    return Status::InvalidArgument(
        "cannot pick " + std::to_string(count) +
        " source ports: between 1 and " + std::to_string(kMaxSports) +
        " exist");
  }
  if (Status status = CheckReachable(member, slb); !status.ok()) {
    return status;
  }
  Result<FiveTuple> tuple = MakeUdpTuple(src, dst, kRoceSportMin, dport);
  if (!tuple.ok()) {
    return tuple.status();
  }
  const FlowKey key(*tuple);
  std::vector<bool> taken(kRoceSportCount, false);
  std::vector<SportChoice> choices;
  choices.reserve(count);
  for (size_t i = 0; i < count; i++) {
    Result<SportChoice> choice = Walk(member, key, spread_key + i, &taken,
                                      slb);
    if (!choice.ok()) {
      return Status::NotFound(
          "only " + std::to_string(i) + " source ports reach " +
          MemberLabel(member) + " for " + ToString(src) + " -> " +
          ToString(dst) + ", not " + std::to_string(count));
    }
    taken[choice->sport - kRoceSportMin] = true;
    choices.push_back(*choice);
  }
  return choices;
}

Result<SportMap> Predictor::MapSports(const IpAddress& src,
                                      const IpAddress& dst, uint16_t dport,
                                      const SlbSource* slb) const {
  Result<FiveTuple> tuple = MakeUdpTuple(src, dst, kRoceSportMin, dport);
  if (!tuple.ok()) {
    return tuple.status();
  }
  const size_t n_members = bond_.members.size();
  SportMap map;
  map.bond_label_ = BondLabel(bond_);

  // One prediction per port, then the ports grouped by member.
  std::vector<uint8_t> owner(kRoceSportCount, Prediction::kNoMember);
  std::vector<uint32_t> hash(kRoceSportCount, 0);
  std::vector<uint32_t> counts(n_members, 0);
  FlowKey key(*tuple);
  for (uint32_t position = 0; position < kRoceSportCount; position++) {
    key.SetSourcePort(SportAt(position));
    const Prediction p = Predict(key, slb);
    map.hashed_ = p.hashed;
    map.verified_ = p.verified;
    hash[position] = p.hash;
    if (p.has_member()) {
      owner[position] = p.member;
      counts[p.member]++;
    }
  }
  map.offsets_.assign(n_members + 1, 0);
  for (size_t m = 0; m < n_members; m++) {
    map.offsets_[m + 1] = map.offsets_[m] + counts[m];
  }
  map.ports_.resize(map.offsets_[n_members]);
  map.hashes_.resize(map.offsets_[n_members]);
  std::vector<uint32_t> next(map.offsets_.begin(), map.offsets_.end() - 1);
  for (uint32_t position = 0; position < kRoceSportCount; position++) {
    if (owner[position] != Prediction::kNoMember) {
      const uint32_t i = next[owner[position]]++;
      map.ports_[i] = SportAt(position);
      map.hashes_[i] = hash[position];
    }
  }

  map.reachable_.reserve(n_members);
  for (size_t m = 0; m < n_members; m++) {
    Status status = CheckReachable(m, slb);
    if (status.ok() && counts[m] == 0) {
      status = NoPortReaches(m, " for " + ToString(src) + " -> " +
                                    ToString(dst));
    }
    map.reachable_.push_back(std::move(status));
  }
  return map;
}

std::span<const uint16_t> SportMap::PortsOf(size_t member) const {
  if (member + 1 >= offsets_.size()) {
    return {};
  }
  return std::span(ports_).subspan(offsets_[member],
                                   offsets_[member + 1] - offsets_[member]);
}

Result<SportChoice> SportMap::Pick(size_t member, uint64_t spread_key) const {
  if (member >= reachable_.size()) {
    return Status::InvalidArgument(
        bond_label_ + " has no member index " + std::to_string(member) +
        " (it has " + std::to_string(reachable_.size()) + " members)");
  }
  if (!reachable_[member].ok()) {
    return reachable_[member];
  }
  const uint32_t begin = offsets_[member];
  const uint32_t count = offsets_[member + 1] - begin;
  const uint32_t i =
      begin + static_cast<uint32_t>(MixSpreadKey(spread_key) % count);
  SportChoice choice;
  choice.sport = ports_[i];
  choice.flow_label = UdpSportToFlowLabel(choice.sport);
  Prediction& p = choice.prediction;
  p.outcome = Outcome::kMember;
  p.member = static_cast<uint8_t>(member);
  p.hashed = hashed_;
  p.verified = verified_;
  if (hashed_) {
    p.hash = hashes_[i];
    p.bucket = static_cast<uint8_t>(p.hash & kBucketMask);
  }
  return choice;
}

std::string Predictor::Reason(const Prediction& p) const {
  const std::string bucket = "bucket " + std::to_string(p.bucket);
  switch (p.outcome) {
    case Outcome::kMember:
      return "";
    case Outcome::kDropLacpFailed:
      return "LACP negotiation failed and lacp-fallback-ab is false: OVS "
             "drops every flow";
    case Outcome::kDropNoActiveMember:
      return "no active member: OVS drops every flow";
    case Outcome::kDropLacpNotNegotiated:
      return "balance-tcp without negotiated LACP: OVS drops every flow";
    case Outcome::kBucketUnassigned:
      return bucket + " is unassigned: OVS assigns an enabled member on "
             "first use (not predictable)";
    case Outcome::kMemberDisabled:
      return bucket + " belongs to " +
             Quoted(p.member < bond_.members.size()
                        ? bond_.members[p.member].name
                        : "?") +
             ", which is disabled: OVS reassigns the bucket to an enabled "
             "member on first use (not predictable)";
    case Outcome::kNeedsSourceMac:
      return "balance-slb hashes the source MAC and VLAN, not the "
             "5-tuple: give the source MAC";
  }
  return "unknown outcome";
}

std::optional<size_t> Predictor::FindMember(std::string_view name) const {
  for (size_t i = 0; i < bond_.members.size(); i++) {
    if (bond_.members[i].name == name) {
      return i;
    }
  }
  return std::nullopt;
}

}  // namespace rdma_bond
