// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "preload/preload_core.h"

#include <algorithm>
#include <utility>

#include "rdma_bond/roce.h"

namespace rdma_bond {

std::string_view ToString(MispinPolicy policy) {
  switch (policy) {
    case MispinPolicy::kKeep: return "keep";
    case MispinPolicy::kError: return "error";
  }
  return "?";
}

namespace {

// "1", "yes", "true", "on" / "0", "no", "false", "off", "".
std::optional<bool> ParseFlag(std::string_view v) {
  for (std::string_view t : {"1", "yes", "true", "on"}) {
    if (v == t) return true;
  }
  for (std::string_view f : {"", "0", "no", "false", "off"}) {
    if (v == f) return false;
  }
  return std::nullopt;
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '=';
  });
}

}  // namespace

PreloadConfig ParsePreloadConfig(
    const std::function<const char*(const char*)>& getenv) {
  PreloadConfig c;
  auto get = [&](const char* name) -> std::optional<std::string_view> {
    const char* v = getenv(name);
    if (!v) return std::nullopt;
    return std::string_view(v);
  };
  auto bad = [&](const char* name, std::string_view value,
                 std::string_view expected) {
    c.errors.push_back(std::string(name) + "=\"" + std::string(value) +
                       "\" is not " + std::string(expected));
  };
  if (auto v = get(kPreloadEnvDisable)) {
    std::optional<bool> f = ParseFlag(*v);
    if (!f) {
      bad(kPreloadEnvDisable, *v, "0 or 1");
    } else {
      c.disabled = *f;
    }
  }
  if (auto v = get(kPreloadEnvBond); v && !v->empty()) {
    if (!ValidName(*v)) {
      bad(kPreloadEnvBond, *v, "a bond name");
    } else {
      c.bond = std::string(*v);
    }
  }
  if (auto v = get(kPreloadEnvOnMispin); v && !v->empty()) {
    if (*v == "keep") {
      c.on_mispin = MispinPolicy::kKeep;
    } else if (*v == "error") {
      c.on_mispin = MispinPolicy::kError;
    } else {
      bad(kPreloadEnvOnMispin, *v, "keep or error");
    }
  }
  if (auto v = get(kPreloadEnvLog); v && !v->empty()) {
    if (*v == "quiet") {
      c.log = PreloadLog::kQuiet;
    } else if (*v == "info") {
      c.log = PreloadLog::kInfo;
    } else if (*v == "debug") {
      c.log = PreloadLog::kDebug;
    } else {
      bad(kPreloadEnvLog, *v, "quiet, info or debug");
    }
  }
  if (auto v = get(kPreloadEnvRedirect)) {
    std::optional<bool> f = ParseFlag(*v);
    if (!f) {
      bad(kPreloadEnvRedirect, *v, "0 or 1");
    } else {
      c.redirect = v->empty() ? true : *f;
    }
  }
  if (auto v = get(kPreloadEnvShm); v && !v->empty()) {
    c.table_path = std::string(*v);
  } else {
    c.table_path = DefaultTablePath();
  }
  if (auto v = get(kPreloadEnvSysfs); v && !v->empty()) {
    c.sysfs_root = std::string(*v);
  }
  if (!c.errors.empty()) c.disabled = true;
  return c;
}

PreloadCore::PreloadCore(PreloadConfig config)
    : config_(std::move(config)), sysfs_(config_.sysfs_root) {}

void PreloadCore::SetTable(std::optional<TableSnapshot> snapshot) {
  table_ = std::move(snapshot);
}

Result<RdmaPortRef> PreloadCore::PortOf(const Member& m) const {
  // A DPDK member's name is no netdev: the table says where it is.
  return sysfs_.FindMemberRdmaPort(m.name, m.Netdev(), m.location.pci);
}

const Bond* PreloadCore::BondOfMember(std::string_view netdev) const {
  if (!table_ || netdev.empty()) return nullptr;
  for (const Bond& b : table_->bonds) {
    if (!config_.bond.empty() && b.name != config_.bond) continue;
    for (const Member& m : b.members) {
      if (m.name == netdev || m.Netdev() == netdev) return &b;
    }
  }
  return nullptr;
}

std::string PreloadCore::MemberOfDevice(std::string_view device,
                                        uint32_t port) const {
  if (!table_) return "";
  for (const Bond& b : table_->bonds) {
    if (!config_.bond.empty() && b.name != config_.bond) continue;
    for (const Member& m : b.members) {
      Result<RdmaPortRef> p = PortOf(m);
      if (p.ok() && p->device == device && (port == 0 || p->port == port)) {
        return m.name;
      }
    }
  }
  return "";
}

std::optional<AddressOwner> PreloadCore::BondOfAddress(
    const IpAddress& ip) const {
  if (!table_) return std::nullopt;
  const Gid want = IpAddressToGid(ip);
  for (const Bond& b : table_->bonds) {
    if (!config_.bond.empty() && b.name != config_.bond) continue;
    AddressOwner owner{b.name, {}};
    for (const Member& m : b.members) {
      Result<RdmaPortRef> p = PortOf(m);
      if (!p.ok()) continue;
      Result<std::vector<SysfsGid>> gids = sysfs_.ReadGids(*p);
      if (!gids.ok()) continue;
      for (const SysfsGid& g : *gids) {
        if (g.gid == want && g.type == kGidTypeRoceV2 &&
            g.ndev == m.Netdev()) {
          owner.members.push_back(m.name);
          break;
        }
      }
    }
    if (!owner.members.empty()) return owner;
  }
  return std::nullopt;
}

Result<std::vector<uint16_t>> PreloadCore::CmPortsFor(
    const std::string& bond_name, const std::string& member,
    const IpAddress& src, const IpAddress& dst, uint16_t dport, size_t count,
    uint32_t seed) const {
  if (!table_) return Status::NotFound("no rdma-bond table");
  const Bond* bond = table_->FindBond(bond_name);
  if (!bond) return Status::NotFound("bond " + bond_name + " is not published");
  Result<Predictor> p = PredictorFor(*bond);
  if (!p.ok()) return p.status();
  std::optional<size_t> mi = p->FindMember(member);
  if (!mi) return Status::NotFound(member + " is not a member of " + bond_name);
  constexpr uint32_t kFirst = 1024, kCount = 65536 - kFirst;
  std::vector<uint16_t> out;
  std::optional<Prediction> last;
  for (uint32_t i = 0; i < kCount && out.size() < count; i++) {
    const uint16_t port = static_cast<uint16_t>(kFirst + (seed + i) % kCount);
    Result<FiveTuple> t = MakeUdpTuple(src, dst, RdmaCmUdpSport(port, dport));
    if (!t.ok()) return t.status();
    Prediction where = p->Predict(FlowKey(*t));
    if (where.has_member() && where.member == *mi) {
      out.push_back(port);
    } else {
      last = where;
    }
  }
  if (out.empty()) {
    return Status::NotFound(
        "no rdma_cm port gives a UDP source port that OVS sends out of " +
        member + (last ? ": " + (last->has_member()
                                     ? "OVS sends them out of " +
                                           bond->members[last->member].name
                                     : p->Reason(*last))
                       : std::string()));
  }
  return out;
}

Result<Predictor> PreloadCore::PredictorFor(const Bond& bond) const {
  return Predictor::Create(bond, table_->table.hash_impl);
}

std::optional<DeviceRedirect> PreloadCore::RedirectFor(
    std::string_view device) const {
  if (!config_.redirect || !table_) return std::nullopt;
  const std::string member = MemberOfDevice(device, 0);
  const Bond* bond = BondOfMember(member);
  if (!bond) return std::nullopt;
  // Only where one member carries everything: active-backup, and
  // balance-tcp in its LACP fallback.  In balance-tcp every enabled
  // member carries some ports: the QP's port is what gets pinned.
  const bool one_member =
      bond->mode == BondMode::kActiveBackup ||
      (bond->mode == BondMode::kBalanceTcp &&
       bond->lacp != LacpStatus::kNegotiated && bond->lacp_fallback_ab);
  if (!one_member) return std::nullopt;
  const Member* active = bond->active();
  if (!active || active->name == member || !active->enabled()) {
    return std::nullopt;
  }
  Result<RdmaPortRef> to = PortOf(*active);
  if (!to.ok()) return std::nullopt;
  return DeviceRedirect{bond->name, member, to->device, active->name};
}

Result<QpPinPlan> PreloadCore::PlanQp(
    const QpPinRequest& r, std::span<const uint16_t> validated) const {
  if (!table_) return Status::NotFound("no rdma-bond table");
  // The GID the QP sends from.  After a redirect, the program's index
  // names an entry of the device it asked for: find the same GID on the
  // device it has.
  uint32_t index = r.sgid_index;
  SysfsGid gid;
  {
    const std::string& dev = r.asked_device.empty() ? r.device
                                                    : r.asked_device;
    Result<std::vector<SysfsGid>> gids = sysfs_.ReadGids({dev, r.port});
    if (!gids.ok()) return gids.status();
    auto it = std::find_if(gids->begin(), gids->end(), [&](const auto& g) {
      return g.index == r.sgid_index;
    });
    if (it == gids->end()) {
      return Status::NotFound("GID index " + std::to_string(r.sgid_index) +
                              " of " + dev + " port " +
                              std::to_string(r.port) + " is empty");
    }
    gid = *it;
  }
  if (!r.asked_device.empty()) {
    Result<std::vector<SysfsGid>> gids = sysfs_.ReadGids({r.device, r.port});
    if (!gids.ok()) return gids.status();
    auto it = std::find_if(gids->begin(), gids->end(), [&](const auto& g) {
      return g.gid == gid.gid && g.type == gid.type;
    });
    if (it == gids->end()) {
      return Status::NotFound(
          "GID " + FormatSysfsGid(gid.gid) + " (" + gid.type + ") of " +
          r.asked_device + " is not on " + r.device + " port " +
          std::to_string(r.port));
    }
    gid = *it;
    index = it->index;
  }
  if (gid.type != kGidTypeRoceV2) {
    return Status::NotFound("GID index " + std::to_string(index) + " of " +
                            r.device + " is " +
                            (gid.type.empty() ? "not RoCE" : gid.type) +
                            ", not RoCE v2: no UDP source port");
  }
  // The member: the GID's netdev, or the netdev behind the device.
  std::string member = gid.ndev;
  const Bond* bond = BondOfMember(member);
  if (!bond) {
    member = MemberOfDevice(r.device, r.port);
    bond = BondOfMember(member);
  }
  if (!bond) {
    return Status::NotFound(r.device + " port " + std::to_string(r.port) +
                            " is behind no member of a published bond");
  }
  QpPinPlan plan;
  plan.bond = bond->name;
  plan.member = member;
  plan.src = GidToIpAddress(gid.gid);
  plan.dst = GidToIpAddress(r.dgid);
  plan.sgid_index = index;
  plan.flow_label = r.flow_label;
  plan.sport = QpUdpSport(r.flow_label, r.qpn, r.dest_qpn);
  if (plan.src.version != plan.dst.version) {
    return Status::InvalidArgument("source " + ToString(plan.src) +
                                   " and destination " + ToString(plan.dst) +
                                   " are of different IP versions");
  }
  Result<Predictor> p = PredictorFor(*bond);
  if (!p.ok()) {
    plan.why = "bond " + bond->name + " cannot be predicted: " +
               p.status().message();
    return plan;
  }
  std::optional<size_t> mi = p->FindMember(member);
  if (!mi) return Status::NotFound(member + " left bond " + bond->name);
  // The program's own label, if OVS already sends it out of the member.
  Result<FiveTuple> t = MakeUdpTuple(plan.src, plan.dst, plan.sport);
  if (!t.ok()) return t.status();
  Prediction now = p->Predict(FlowKey(*t));
  if (r.flow_label != 0 && now.has_member() && now.member == *mi) {
    plan.pinned = true;
    return plan;
  }
  // A port the agent validated toward the peer, then any that maps.
  for (uint16_t sport : validated) {
    Result<FiveTuple> vt = MakeUdpTuple(plan.src, plan.dst, sport);
    if (!vt.ok()) continue;
    Prediction vp = p->Predict(FlowKey(*vt));
    if (vp.has_member() && vp.member == *mi) {
      plan.sport = sport;
      plan.flow_label = UdpSportToFlowLabel(sport);
      plan.pinned = true;
      return plan;
    }
  }
  Result<SportChoice> c = p->PickSport(*mi, plan.src, plan.dst,
                                       r.qpn);
  if (!c.ok()) {
    plan.why = c.status().message();
    plan.wrong_member = c.status().IsNotFound();
    return plan;
  }
  plan.sport = c->sport;
  plan.flow_label = c->flow_label;
  plan.pinned = true;
  return plan;
}

std::optional<std::string> PreloadCore::Check(const QpPinPlan& plan) const {
  if (!table_) return std::nullopt;
  const Bond* bond = table_->FindBond(plan.bond);
  if (!bond) return std::nullopt;
  Result<Predictor> p = PredictorFor(*bond);
  if (!p.ok()) return std::nullopt;
  std::optional<size_t> mi = p->FindMember(plan.member);
  if (!mi) return plan.member + " left bond " + plan.bond;
  Result<FiveTuple> t = MakeUdpTuple(plan.src, plan.dst, plan.sport);
  if (!t.ok()) return std::nullopt;
  Prediction now = p->Predict(FlowKey(*t));
  if (now.has_member() && now.member == *mi) return std::nullopt;
  if (now.has_member()) {
    return "OVS now sends " + ToString(*t) + " out of " +
           bond->members[now.member].name + ", not " + plan.member;
  }
  return "OVS sends " + ToString(*t) + " out of no member: " +
         p->Reason(now);
}

}  // namespace rdma_bond
