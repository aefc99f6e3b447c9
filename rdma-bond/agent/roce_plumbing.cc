// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/roce_plumbing.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "agent/agent_core.h"
#include "rdma_bond/status.h"
#include "rnic/verbs/rdma_sysfs.h"

namespace rdma_bond::agent {
namespace {

uint64_t NowMs() { return MonotonicNowNs() / 1000000; }

std::string DefaultRdmaPort(const std::string& netdev,
                            const std::string& pci) {
  RdmaSysfs sysfs;
  Result<RdmaPortRef> port = sysfs.FindMemberRdmaPort(netdev, netdev, pci);
  return port.ok() ? ToString(*port) : "";
}

std::optional<std::string> ReadSysctl(const std::string& root,
                                      const std::string& path) {
  std::ifstream in(root + "/" + path);
  std::string value;
  if (!std::getline(in, value)) return std::nullopt;
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.pop_back();
  }
  return value;
}

}  // namespace

Result<std::unique_ptr<RocePlumbing>> RocePlumbing::Create(Options options) {
  Result<Rtnl> rtnl = Rtnl::Open();
  if (!rtnl.ok()) return rtnl.status();
  SavedPlumbing saved;
  if (!options.state_path.empty()) {
    std::ifstream in(options.state_path);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      Result<SavedPlumbing> parsed = SavedPlumbing::Parse(text.str());
      if (!parsed.ok()) {
        return Status::Corruption(options.state_path + ": " +
                                  parsed.status().message() +
                                  " (the RoCE plumbing's saved state; "
                                  "remove it once the host is as wanted)");
      }
      saved = std::move(*parsed);
    }
  }
  if (!options.rdma_port) options.rdma_port = DefaultRdmaPort;
  return std::unique_ptr<RocePlumbing>(
      new RocePlumbing(std::move(options), std::move(*rtnl), std::move(saved)));
}

RocePlumbing::RocePlumbing(Options options, Rtnl rtnl, SavedPlumbing saved)
    : options_(std::move(options)),
      rtnl_(std::move(rtnl)),
      saved_(std::move(saved)),
      bridges_(options_.bridge_of) {}

RocePlumbing::~RocePlumbing() = default;

void RocePlumbing::Update(const std::optional<TableSnapshot>& snapshot) {
  if (snapshot && snapshot_ &&
      snapshot->table.instance_id != snapshot_->table.instance_id) {
    bridge_of_.clear();         // A restarted ovs-vswitchd: ask again.
  }
  snapshot_ = snapshot;
  next_ms_ = 0;
  rdma_refresh_ms_ = 0;
  // A scan made before a failover may predate the QPs just made on the
  // new active member's RNIC: only a scan after it says it is idle.
  busy_rnics_.reset();
}

void RocePlumbing::AppendFds(std::vector<int>* fds) const {
  if (cleaned_up_) return;
  fds->push_back(rtnl_.notify_fd());
  if (bridges_.wake_fd() >= 0) fds->push_back(bridges_.wake_fd());
}

uint64_t RocePlumbing::SleepMs() const {
  if (cleaned_up_) return kPlumbingRefreshMs;
  uint64_t now = NowMs();
  return next_ms_ > now ? next_ms_ - now : 0;
}

void RocePlumbing::Run() {
  if (cleaned_up_) return;
  const uint64_t now = NowMs();
  bridges_.Drain();
  if (rtnl_.DrainNotifications()) {
    next_ms_ = std::min(next_ms_, now + kPlumbingMinIntervalMs);
  }
  if (now < next_ms_) return;
  Reconcile(now);
  next_ms_ = std::max(now + kPlumbingMinIntervalMs,
                      std::min(next_ms_, now + kPlumbingRefreshMs));
  if (next_ms_ <= now) next_ms_ = now + kPlumbingRefreshMs;
}

std::vector<PlumbingBond> RocePlumbing::Bonds(uint64_t now_ms) {
  std::vector<PlumbingBond> out;
  if (!snapshot_) return out;
  if (now_ms >= rdma_refresh_ms_) {
    rdma_port_of_.clear();
    rdma_refresh_ms_ = now_ms + kPlumbingRdmaRefreshMs;
  }
  for (const Bond& bond : snapshot_->bonds) {
    PlumbingBond b;
    b.name = bond.name;
    if (bond.mode == BondMode::kActiveBackup && bond.active()) {
      b.active = bond.active()->NetdevOrName();
    }
    if (auto n = newest_.find(bond.name); n != newest_.end()) {
      b.newest = n->second;
    }
    for (const Member& m : bond.members) {
      // The kernel netdev that carries the member's traffic: a DPDK
      // port's is the one the table publishes (the NIC's own netdev,
      // which mlx5's bifurcated driver keeps); the addresses and the
      // RDMA device are that netdev's.
      const std::string netdev = m.NetdevOrName();
      b.members.push_back(netdev);
      auto known = rdma_port_of_.find(netdev);
      if (known == rdma_port_of_.end()) {
        known = rdma_port_of_
                    .emplace(netdev,
                             options_.rdma_port(netdev, m.location.pci))
                    .first;
      }
      b.rnics.push_back(known->second);
    }
    auto known = bridge_of_.find(bond.name);
    if (std::all_of(b.rnics.begin(), b.rnics.end(),
                    [](const std::string& r) { return r.empty(); })) {
      // Nothing to plumb: no need to ask ovs-vsctl.
    } else if (known != bridge_of_.end()) {
      b.bridge = known->second;
    } else if (std::optional<std::string> bridge =
                   bridges_.Get(bond.name, now_ms)) {
      if (bridge->empty()) {
        b.bridge_error = "ovs-vsctl port-to-br " + bond.name + " failed";
      } else {
        b.bridge = *bridge;
        bridge_of_[bond.name] = *bridge;
      }
    } else {
      b.bridge_error = "looking it up";
    }
    out.push_back(std::move(b));
  }
  return out;
}

Result<HostState> RocePlumbing::ReadHost(
    const std::vector<PlumbingBond>& bonds,
    const std::vector<std::string>& extra_members) {
  HostState host;
  Result<std::vector<HostLink>> links = rtnl_.Links();
  if (!links.ok()) return links.status();
  host.links = std::move(*links);
  Result<std::vector<HostAddress>> addresses = rtnl_.Addresses();
  if (!addresses.ok()) return addresses.status();
  host.addresses = std::move(*addresses);
  Result<std::vector<HostNeighbour>> neighbours = rtnl_.Neighbours();
  if (!neighbours.ok()) return neighbours.status();
  host.neighbours = std::move(*neighbours);
  Result<std::vector<HostRule>> rules = rtnl_.Rules();
  if (!rules.ok()) return rules.status();
  host.rules = std::move(*rules);
  Result<std::vector<HostRoute>> routes = rtnl_.Routes(kPlumbingTable);
  if (!routes.ok()) return routes.status();
  host.routes = std::move(*routes);
  host.qps_known = busy_rnics_.has_value();
  if (busy_rnics_) host.busy_rnics = *busy_rnics_;
  if (options_.registered_rnics) {
    host.busy_rnics.merge(options_.registered_rnics());
  }
  std::vector<std::string> members = extra_members;
  for (const PlumbingBond& b : bonds) {
    members.insert(members.end(), b.members.begin(), b.members.end());
  }
  std::vector<std::string> paths = {kAllRpFilter};
  for (const std::string& m : members) {
    for (const auto& [path, value] : PlumbingSysctls(m)) paths.push_back(path);
  }
  for (const std::string& path : paths) {
    if (std::optional<std::string> v = ReadSysctl(options_.sysctl_root, path)) {
      host.sysctls[path] = *v;
    }
  }
  return host;
}

Status RocePlumbing::WriteSysctl(const std::string& path,
                                 const std::string& value) {
  const std::string file = options_.sysctl_root + "/" + path;
  int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + file, errno);
  std::string text = value + "\n";
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return Status::FromErrno("write " + file, n < 0 ? err : EIO);
  }
  return Status::OK();
}

void RocePlumbing::SaveState() {
  if (options_.state_path.empty()) return;
  Status status = WriteAtomically(options_.state_path, saved_.Serialize(), 0600);
  if (!status.ok() && options_.log) {
    options_.log(3, "RoCE plumbing: cannot save " + options_.state_path +
                        ": " + status.message());
  }
}

size_t RocePlumbing::Apply(const std::vector<PlumbingAction>& actions,
                           const HostState& host) {
  size_t failed = 0;
  // Per bond, the member whose address was added last in this call, and
  // when.  The kernel stamps an address's creation in hundredths of a
  // second (IFA_CACHEINFO): another member's address added in the same
  // hundredth could not be told apart later (a restarted agent reads the
  // order from those stamps).
  std::map<std::string, std::pair<int, std::chrono::steady_clock::time_point>>
      added;
  for (const PlumbingAction& a : actions) {
    Status status;
    using Kind = PlumbingAction::Kind;
    if (a.kind == Kind::kAddAddress && !a.bond.empty()) {
      auto before = added.find(a.bond);
      if (before != added.end() &&
          before->second.first != a.address.ifindex) {
        const auto gap = std::chrono::milliseconds(20) -
                         (std::chrono::steady_clock::now() -
                          before->second.second);
        if (gap.count() > 0) std::this_thread::sleep_for(gap);
      }
      added[a.bond] = {a.address.ifindex, std::chrono::steady_clock::now()};
    }
    switch (a.kind) {
      case Kind::kAddAddress: status = rtnl_.AddAddress(a.address); break;
      case Kind::kDeleteAddress: status = rtnl_.DeleteAddress(a.address); break;
      case Kind::kSetNeighbour: status = rtnl_.SetNeighbour(a.neighbour); break;
      case Kind::kDeleteNeighbour:
        status = rtnl_.DeleteNeighbour(a.neighbour);
        break;
      case Kind::kResolve:
        status = rtnl_.ResolveNeighbour(a.neighbour.ifindex, a.neighbour.ip);
        break;
      case Kind::kAddRule: status = rtnl_.AddRule(a.rule); break;
      case Kind::kDeleteRule: status = rtnl_.DeleteRule(a.rule); break;
      case Kind::kAddRoute: status = rtnl_.AddRoute(a.route); break;
      case Kind::kDeleteRoute: status = rtnl_.DeleteRoute(a.route); break;
      case Kind::kSetSysctl:
        if (a.restore) {
          if (!a.text.empty()) status = WriteSysctl(a.sysctl, a.value);
          if (status.ok()) {
            saved_.original_sysctls.erase(a.sysctl);
            SaveState();
          }
          if (a.text.empty()) continue;
          break;
        }
        if (!saved_.original_sysctls.count(a.sysctl)) {
          auto cur = host.sysctls.find(a.sysctl);
          if (cur == host.sysctls.end()) {
            status = Status::NotFound("cannot read " + a.sysctl);
            break;
          }
          saved_.original_sysctls[a.sysctl] = cur->second;
          SaveState();              // Before the change, not after.
        }
        status = WriteSysctl(a.sysctl, a.value);
        break;
    }
    const bool deletion = a.kind == PlumbingAction::Kind::kDeleteAddress ||
                          a.kind == PlumbingAction::Kind::kDeleteNeighbour ||
                          a.kind == PlumbingAction::Kind::kDeleteRule ||
                          a.kind == PlumbingAction::Kind::kDeleteRoute;
    if (deletion && (status.errno_value() == ENOENT ||
                     status.errno_value() == EADDRNOTAVAIL ||
                     status.errno_value() == ESRCH)) {
      continue;                 // Gone already: what was wanted.
    }
    if (status.ok()) {
      actions_applied_++;
      if (a.kind == PlumbingAction::Kind::kAddAddress && !a.bond.empty()) {
        newest_[a.bond] = host.IfName(a.address.ifindex);
      }
      if (a.kind != PlumbingAction::Kind::kResolve && options_.log) {
        options_.log(1, "RoCE plumbing" +
                            (a.bond.empty() ? std::string() : ": bond " + a.bond) +
                            ": " + a.text);
      }
      continue;
    }
    failed++;
    actions_failed_++;
    std::string line = a.text + ": " + status.message();
    if (failures_.insert(line).second && options_.log) {
      options_.log(3, "RoCE plumbing" +
                          (a.bond.empty() ? std::string() : ": bond " + a.bond) +
                          ": failed: " + line);
    }
  }
  return failed;
}

void RocePlumbing::Reconcile(uint64_t now_ms) {
  std::vector<PlumbingBond> bonds = Bonds(now_ms);
  // Bonds (and members) plumbed before that the table no longer has.
  std::vector<std::pair<std::string, std::vector<std::string>>> gone;
  if (snapshot_) {
    for (const auto& [name, members] : saved_.bond_members) {
      auto now = std::find_if(bonds.begin(), bonds.end(),
                              [&](const PlumbingBond& b) { return b.name == name; });
      std::vector<std::string> left;
      for (const std::string& m : members) {
        if (now == bonds.end() ||
            std::find(now->members.begin(), now->members.end(), m) ==
                now->members.end()) {
          left.push_back(m);
        }
      }
      if (left.empty()) {
        missing_since_ms_.erase(name);
        continue;
      }
      auto since = missing_since_ms_.try_emplace(name, now_ms).first;
      if (now_ms - since->second >= options_.removal_grace_ms) {
        gone.emplace_back(name, left);
      }
    }
  }
  std::vector<std::string> extra;
  for (const auto& [name, members] : gone) {
    extra.insert(extra.end(), members.begin(), members.end());
  }
  Result<HostState> host = ReadHost(bonds, extra);
  if (!host.ok()) {
    if (error_ != host.status().message() && options_.log) {
      options_.log(3, "RoCE plumbing: cannot read the host: " +
                          host.status().message());
    }
    error_ = host.status().message();
    return;
  }
  error_.clear();
  plan_ = PlanPlumbing(bonds, *host);
  for (const auto& [name, status] : plan_.bonds) {
    if (!status.refused.empty() &&
        logged_refusals_.insert(name + ": " + status.refused).second &&
        options_.log) {
      options_.log(2, "RoCE plumbing: bond " + name + " left alone: " +
                          status.refused);
    }
  }
  if (!options_.apply) return;

  for (const auto& [name, members] : gone) {
    bool last = true;
    for (const auto& [other, status] : plan_.bonds) {
      if (status.active && status.refused.empty()) last = false;
    }
    for (const auto& [other, m] : saved_.bond_members) {
      if (other != name && std::none_of(gone.begin(), gone.end(),
                                        [&](const auto& g) { return g.first == other; })) {
        last = false;
      }
    }
    if (options_.log) {
      options_.log(1, "RoCE plumbing: bond " + name +
                          " is no longer published: undoing its plumbing");
    }
    Apply(PlanCleanup(name, members, *host, saved_, last), *host);
    auto& left = saved_.bond_members[name];
    std::erase_if(left, [&](const std::string& m) {
      return std::count(members.begin(), members.end(), m) > 0;
    });
    if (left.empty()) saved_.bond_members.erase(name);
    missing_since_ms_.erase(name);
    SaveState();
  }
  // Remember what is plumbed before plumbing it.
  bool changed = false;
  for (const PlumbingBond& b : bonds) {
    const BondPlumbingStatus& status = plan_.bonds[b.name];
    if (!status.active || !status.refused.empty() || b.bridge.empty()) {
      continue;
    }
    std::vector<std::string>& members = saved_.bond_members[b.name];
    for (size_t i = 0; i < b.members.size(); i++) {
      if (b.rnics[i].empty()) continue;
      if (std::find(members.begin(), members.end(), b.members[i]) ==
          members.end()) {
        members.push_back(b.members[i]);
        changed = true;
      }
    }
  }
  if (changed) SaveState();
  if (plan_.actions.empty()) return;
  failures_.clear();
  Apply(plan_.actions, *host);
  // What is in place now.
  Result<HostState> after = ReadHost(bonds, {});
  if (after.ok()) plan_ = PlanPlumbing(bonds, *after);
}

Status RocePlumbing::Cleanup() {
  if (cleaned_up_) return Status::OK();
  std::vector<std::string> members;
  for (const auto& [name, m] : saved_.bond_members) {
    members.insert(members.end(), m.begin(), m.end());
  }
  Result<HostState> host = ReadHost({}, members);
  if (!host.ok()) return host.status();
  std::vector<PlumbingAction> actions;
  size_t n = saved_.bond_members.size();
  for (const auto& [name, m] : saved_.bond_members) {
    std::vector<PlumbingAction> more =
        PlanCleanup(name, m, *host, saved_, --n == 0);
    actions.insert(actions.end(), more.begin(), more.end());
  }
  if (saved_.bond_members.empty()) {
    actions = PlanCleanup("", {}, *host, saved_, true);
  }
  size_t failed = Apply(actions, *host);
  cleaned_up_ = true;
  if (failed) {
    return Status::Unavailable(std::to_string(failed) +
                               " cleanup step(s) failed (see the log)");
  }
  saved_.bond_members.clear();
  SaveState();
  if (options_.log) options_.log(1, "RoCE plumbing: cleaned up");
  return Status::OK();
}

PlumbingPlan RocePlumbing::PlanNow(uint64_t bridge_wait_ms) {
  const uint64_t deadline = NowMs() + bridge_wait_ms;
  std::vector<PlumbingBond> bonds = Bonds(NowMs());
  while (NowMs() < deadline &&
         std::any_of(bonds.begin(), bonds.end(), [](const PlumbingBond& b) {
           return b.bridge.empty() && b.bridge_error == "looking it up";
         })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    bonds = Bonds(NowMs());
  }
  Result<HostState> host = ReadHost(bonds, {});
  if (!host.ok()) {
    PlumbingPlan plan;
    for (const PlumbingBond& b : bonds) {
      plan.bonds[b.name].bond = b.name;
      plan.bonds[b.name].refused =
          "cannot read the host: " + host.status().message();
    }
    return plan;
  }
  return PlanPlumbing(bonds, *host);
}

std::string RocePlumbing::ShowText() const {
  std::ostringstream out;
  out << "RoCE plumbing: "
      << (cleaned_up_ ? "cleaned up (exit --cleanup)"
                      : options_.apply ? "managed by the agent"
                                       : "dry run (nothing changed)")
      << "\n";
  if (cleaned_up_) return out.str();
  if (!error_.empty()) out << "  cannot read the host: " << error_ << "\n";
  if (plan_.bonds.empty()) out << "  no published bond\n";
  for (const auto& [name, s] : plan_.bonds) {
    out << "  bond " << name;
    if (!s.bridge.empty()) out << " (bridge " << s.bridge << ")";
    if (!s.refused.empty()) {
      out << ": left alone: " << s.refused << "\n";
      continue;
    }
    if (!s.active) {
      out << ": no member has an RDMA device\n";
      continue;
    }
    out << (s.missing.empty() ? ": complete\n" : ": incomplete\n");
    for (const std::string& line : s.in_place) out << "    in place: " << line << "\n";
    for (const std::string& line : s.missing) out << "    missing: " << line << "\n";
  }
  for (const std::string& line : failures_) out << "  failed: " << line << "\n";
  return out.str();
}

}  // namespace rdma_bond::agent
