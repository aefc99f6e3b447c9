// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/roce_plan.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace rdma_bond::agent {
namespace {

// Neighbour states whose link-layer address is worth mirroring.
constexpr uint16_t kNudUsable =
    kNudReachable | kNudStale | kNudDelay | kNudProbe | kNudPermanent;
// A resolution started (or failed) on a member.
constexpr uint16_t kNudResolving = kNudIncomplete | kNudFailed;

std::string SysctlText(const std::string& path, const std::string& value) {
  std::string dotted = path;
  std::replace(dotted.begin(), dotted.end(), '/', '.');
  return "sysctl -w " + dotted + "=" + value;
}

HostRule RoceRule(const std::string& member) {
  HostRule r;
  r.priority = kRoceRulePref;
  r.table = kTableLocal;
  r.action = kRuleToTable;
  r.iif = member;
  r.ip_proto = kIpProtoUdp;
  r.dport = kRoceV2Port;
  r.proto = kPlumbingProto;
  return r;
}

HostRule BlackholeRule(const std::string& member) {
  HostRule r;
  r.priority = kBlackholeRulePref;
  r.action = kRuleBlackhole;
  r.iif = member;
  r.proto = kPlumbingProto;
  return r;
}

// Lookups whose output device is 'member' go to the plumbing's table.
HostRule MemberRoutesRule(const std::string& member) {
  HostRule r;
  r.priority = kMemberRoutesRulePref;
  r.table = kPlumbingTable;
  r.action = kRuleToTable;
  r.oif = member;
  r.proto = kPlumbingProto;
  return r;
}

// The subnet of an address ("10.79.0.1/24" -> 10.79.0.0, 24).
IpAddress SubnetOf(const IpAddress& ip, uint8_t len) {
  IpAddress net = ip;
  for (size_t i = 0; i < 4; i++) {
    const int bits = std::clamp<int>(len - 8 * static_cast<int>(i), 0, 8);
    net.bytes[i] &= static_cast<uint8_t>(0xff00 >> bits);
  }
  return net;
}

HostRule LocalRule(uint32_t priority, uint8_t proto) {
  HostRule r;
  r.priority = priority;
  r.table = kTableLocal;
  r.action = kRuleToTable;
  r.proto = proto;
  return r;
}

// The same rule, whoever added it (the table of a blackhole rule is
// whatever the kernel says).
bool SameRule(const HostRule& a, const HostRule& b) {
  return a.priority == b.priority && a.action == b.action &&
         (a.action != kRuleToTable || a.table == b.table) && a.iif == b.iif &&
         a.oif == b.oif &&
         a.ip_proto == b.ip_proto && a.dport == b.dport && !a.other &&
         !b.other;
}

bool IsPlainLocal(const HostRule& r) {
  return r.action == kRuleToTable && r.table == kTableLocal && r.iif.empty() &&
         r.oif.empty() && !r.ip_proto && !r.dport && !r.other;
}

PlumbingAction Action(PlumbingAction::Kind kind, const std::string& bond) {
  PlumbingAction a;
  a.kind = kind;
  a.bond = bond;
  return a;
}

// The host-wide part: the kernel's "lookup local" moved from preference 0
// to kLocalRulePref (our own copy, then the kernel's removed, so that
// there is never a moment without one).  False, with 'why', when the
// rules are not as expected.
bool PlanLocalRule(const HostState& host, std::vector<PlumbingAction>* out,
                   bool* in_place, std::string* why) {
  bool kernel_at_0 = false, ours = false, later = false;
  for (const HostRule& r : host.rules) {
    if (!IsPlainLocal(r)) continue;
    if (r.priority == 0) kernel_at_0 = true;
    else if (r.priority == kLocalRulePref && r.proto == kPlumbingProto) ours = true;
    else if (r.priority > kLocalRulePref) later = true;
  }
  *in_place = !kernel_at_0 && (ours || later);
  if (*in_place) return true;
  if (!kernel_at_0 && !ours) {
    *why = "the host has no \"lookup local\" rule";
    return false;
  }
  if (!ours) {
    PlumbingAction add = Action(PlumbingAction::Kind::kAddRule, "");
    add.rule = LocalRule(kLocalRulePref, kPlumbingProto);
    add.text = DescribeRule(add.rule, true);
    out->push_back(add);
  }
  PlumbingAction del = Action(PlumbingAction::Kind::kDeleteRule, "");
  del.rule = LocalRule(0, kProtoKernel);
  del.text = DescribeRule(del.rule, false);
  out->push_back(del);
  return true;
}

std::string Join(const std::vector<std::string>& words, const char* sep) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

// Plans one bond; returns false (and sets status.refused) if something
// not ours is in the way.
bool PlanBond(const PlumbingBond& bond, const HostState& host,
              std::vector<PlumbingAction>* out,
              BondPlumbingStatus* status) {
  std::vector<std::string> members;
  for (size_t i = 0; i < bond.members.size(); i++) {
    if (i < bond.rnics.size() && !bond.rnics[i].empty()) {
      members.push_back(bond.members[i]);
    } else {
      status->missing.push_back(bond.members[i] +
                                ": no RDMA device (nothing to plumb)");
    }
  }
  status->active = !members.empty();
  if (!status->active) return true;
  // The active member last: its addresses are added last, so that the
  // kernel's address lookup (__ip_dev_find(): the newest holder of an
  // address) names it and rdma_cm binds the bond's address to its RNIC.
  std::stable_partition(members.begin(), members.end(),
                        [&](const std::string& m) { return m != bond.active; });
  if (bond.bridge.empty()) {
    status->missing.push_back("bridge unknown" +
                              (bond.bridge_error.empty()
                                   ? std::string()
                                   : " (" + bond.bridge_error + ")"));
    return true;
  }
  const int bridge_ifindex = host.IfIndex(bond.bridge);
  if (!bridge_ifindex) {
    status->missing.push_back("bridge " + bond.bridge +
                              " has no interface (is it up?)");
    return true;
  }

  auto rp = host.sysctls.find(kAllRpFilter);
  if (rp != host.sysctls.end() && rp->second == "1") {
    status->refused =
        "net.ipv4.conf.all.rp_filter is 1 (strict): RoCEv2 that arrives on "
        "a member would be dropped; set it to 0 or 2";
    return false;
  }
  for (const HostRule& r : host.rules) {
    if (r.priority < kRoceRulePref || r.priority > kMemberRoutesRulePref ||
        r.proto == kPlumbingProto) {
      continue;
    }
    status->refused = "rule \"" + DescribeRule(r, false).substr(12) +
                      "\" is in the way (ovs-rdma-bond uses preferences " +
                      std::to_string(kRoceRulePref) + "-" +
                      std::to_string(kMemberRoutesRulePref) + ")";
    return false;
  }

  std::vector<IpAddress> bridge_ips;
  std::vector<std::pair<IpAddress, uint8_t>> bridge_subnets;
  for (const HostAddress& a : host.addresses) {
    if (a.ifindex != bridge_ifindex) continue;
    bridge_ips.push_back(a.ip);
    const auto subnet = std::make_pair(SubnetOf(a.ip, a.prefix_len),
                                       a.prefix_len);
    if (a.prefix_len < 32 && std::find(bridge_subnets.begin(),
                                       bridge_subnets.end(),
                                       subnet) == bridge_subnets.end()) {
      bridge_subnets.push_back(subnet);
    }
  }
  if (bridge_ips.empty()) {
    status->missing.push_back(
        "bridge " + bond.bridge +
        " has no IPv4 address (the members keep theirs: removing them "
        "would remove the RNICs' GIDs and break every QP on them)");
  }
  std::map<std::string, const HostNeighbour*> bridge_neigh;  // By address.
  std::set<std::string> bridge_resolving;
  for (const HostNeighbour& n : host.neighbours) {
    if (n.ifindex != bridge_ifindex) continue;
    if ((n.state & kNudUsable) && n.mac) {
      bridge_neigh[ToString(n.ip)] = &n;
    } else if (n.state & kNudIncomplete) {
      bridge_resolving.insert(ToString(n.ip));
    }
  }
  size_t mirrored_max = std::min(bridge_neigh.size(), kMaxMirroredNeighbours);
  if (bridge_neigh.size() > kMaxMirroredNeighbours) {
    status->missing.push_back(
        std::to_string(bridge_neigh.size() - kMaxMirroredNeighbours) +
        " neighbours of " + bond.bridge + " not mirrored (at most " +
        std::to_string(kMaxMirroredNeighbours) + ")");
  }

  // rdma_cm binds the bond's address to the member that got it last
  // (__ip_dev_find()): that must be the active member.  After a failover
  // it is not; its addresses are then added again, which deletes and
  // remakes its RNIC's GIDs: only while that RNIC holds no QP.
  std::set<std::string> again;    // The active member's IPs to add again.
  const int active_ifindex =
      std::count(members.begin(), members.end(), bond.active)
          ? host.IfIndex(bond.active) : 0;
  for (const IpAddress& ip : active_ifindex ? bridge_ips
                                             : std::vector<IpAddress>{}) {
    const HostAddress* mine = nullptr;
    std::vector<const HostAddress*> others;
    for (const HostAddress& a : host.addresses) {
      if (a.ip != ip || a.prefix_len != 32 || a.proto != kPlumbingProto) {
        continue;
      }
      const std::string name = host.IfName(a.ifindex);
      if (a.ifindex == active_ifindex) {
        mine = &a;
      } else if (std::count(members.begin(), members.end(), name)) {
        others.push_back(&a);
      }
    }
    if (!mine || others.empty()) continue;
    const bool newest =
        !bond.newest.empty()
            ? bond.newest == bond.active
            : std::all_of(others.begin(), others.end(),
                          [&](const HostAddress* o) {
                            return o->created_cs < mine->created_cs;
                          });
    if (newest) continue;
    const std::string rnic = bond.rnics[std::find(bond.members.begin(),
                                                  bond.members.end(),
                                                  bond.active) -
                                        bond.members.begin()];
    const std::string device = rnic.substr(0, rnic.find(':'));
    if (!host.qps_known || host.busy_rnics.count(device)) {
      status->missing.push_back(
          bond.active + ": rdma_cm binds " + ToString(ip) +
          " to another member's RNIC (the one that got it last); " +
          bond.active + "'s is added again once " + device +
          " holds no QP");
      continue;
    }
    again.insert(ToString(ip));
  }

  std::vector<PlumbingAction> actions;
  std::set<std::string> resolve;
  for (const std::string& m : members) {
    const int ifindex = host.IfIndex(m);
    if (!ifindex) {
      status->missing.push_back(m + ": no such interface");
      continue;
    }
    // Addresses: the bridge's as /32s; nothing else of its own.
    size_t addresses_ok = 0;
    for (const HostAddress& a : host.addresses) {
      if (a.ifindex != ifindex) continue;
      bool wanted = a.prefix_len == 32 &&
                    std::count(bridge_ips.begin(), bridge_ips.end(), a.ip);
      if (a.proto != kPlumbingProto) {
        status->refused = "member " + m + " has address " + ToString(a.ip) +
                          "/" + std::to_string(a.prefix_len) +
                          " of its own: remove it, or run the agent with "
                          "--no-manage-roce";
        return false;
      }
      if (wanted && ifindex == active_ifindex && again.count(ToString(a.ip))) {
        // Deleted and added again below: the newest holder.
        PlumbingAction del =
            Action(PlumbingAction::Kind::kDeleteAddress, bond.name);
        del.address = a;
        del.text = DescribeAddress(a, m, false);
        actions.push_back(del);
        continue;
      }
      if (wanted) {
        addresses_ok++;
        continue;
      }
      // A bridge without any address is more likely being set up again
      // (a restarted userspace datapath makes a new internal port) than
      // renumbered: only a bridge that has other addresses takes ours
      // away.
      if (bridge_ips.empty()) continue;
      PlumbingAction del = Action(PlumbingAction::Kind::kDeleteAddress, bond.name);
      del.address = a;
      del.text = DescribeAddress(a, m, false);
      actions.push_back(del);
    }
    for (const IpAddress& ip : bridge_ips) {
      bool have = std::any_of(host.addresses.begin(), host.addresses.end(),
                              [&](const HostAddress& a) {
                                return a.ifindex == ifindex && a.ip == ip &&
                                       a.prefix_len == 32;
                              });
      if (have && !(ifindex == active_ifindex && again.count(ToString(ip)))) {
        continue;
      }
      PlumbingAction add = Action(PlumbingAction::Kind::kAddAddress, bond.name);
      add.address = {ifindex, ip, 32, kPlumbingProto, 0};
      add.text = DescribeAddress(add.address, m, true);
      actions.push_back(add);
    }
    if (addresses_ok) {
      status->in_place.push_back(m + ": " + std::to_string(addresses_ok) +
                                 " address(es) of " + bond.bridge + " as /32");
    }

    // Neighbours.
    size_t neigh_ok = 0, mirrored = 0;
    std::set<std::string> seen;
    for (const HostNeighbour& n : host.neighbours) {
      if (n.ifindex != ifindex) continue;
      const std::string key = ToString(n.ip);
      seen.insert(key);
      auto b = bridge_neigh.find(key);
      const bool ours = n.proto == kPlumbingProto;
      if (b == bridge_neigh.end()) {
        if (ours) {
          PlumbingAction del =
              Action(PlumbingAction::Kind::kDeleteNeighbour, bond.name);
          del.neighbour = n;
          del.text = DescribeNeighbour(n, m, false);
          actions.push_back(del);
        } else if ((n.state & kNudResolving) && !bridge_resolving.count(key)) {
          resolve.insert(key);
        }
        continue;
      }
      if (!ours && (n.state & kNudPermanent)) {
        if (n.mac == b->second->mac) {
          neigh_ok++;
          continue;
        }
        status->refused = "member " + m + " has a static neighbour " + key +
                          " of its own with another address than " +
                          bond.bridge + "'s";
        return false;
      }
      if (ours && n.mac == b->second->mac && (n.state & kNudPermanent)) {
        neigh_ok++;
        continue;
      }
      if (mirrored >= mirrored_max) continue;
      mirrored++;
      PlumbingAction set = Action(PlumbingAction::Kind::kSetNeighbour, bond.name);
      set.neighbour = {ifindex, n.ip, b->second->mac, kNudPermanent,
                       kPlumbingProto};
      set.text = DescribeNeighbour(set.neighbour, m, true);
      actions.push_back(set);
    }
    for (const auto& [key, bn] : bridge_neigh) {
      if (seen.count(key)) continue;
      if (neigh_ok + mirrored >= mirrored_max) break;
      mirrored++;
      PlumbingAction set = Action(PlumbingAction::Kind::kSetNeighbour, bond.name);
      set.neighbour = {ifindex, bn->ip, bn->mac, kNudPermanent, kPlumbingProto};
      set.text = DescribeNeighbour(set.neighbour, m, true);
      actions.push_back(set);
    }
    if (neigh_ok) {
      status->in_place.push_back(m + ": " + std::to_string(neigh_ok) +
                                 " neighbour(s) of " + bond.bridge);
    }

    // Routes: the bridge's subnets through the member, in our table, for
    // lookups that name the member as output device.  rdma_cm's check
    // of an incoming connection (validate_ipv4_net_dev()) is one: it
    // refuses a request whose peer has no route through the RNIC's
    // netdev.
    size_t routes_ok = 0;
    for (const HostRoute& r : host.routes) {
      if (r.oif != ifindex || r.proto != kPlumbingProto) continue;
      const auto subnet = std::make_pair(r.dst, r.dst_len);
      if (!r.other && std::find(bridge_subnets.begin(), bridge_subnets.end(),
                                subnet) != bridge_subnets.end()) {
        routes_ok++;
        continue;
      }
      if (bridge_ips.empty()) continue;   // As for the addresses.
      PlumbingAction del = Action(PlumbingAction::Kind::kDeleteRoute, bond.name);
      del.route = r;
      del.text = DescribeRoute(r, m, false);
      actions.push_back(del);
    }
    for (const auto& [net, len] : bridge_subnets) {
      bool have = std::any_of(host.routes.begin(), host.routes.end(),
                              [&](const HostRoute& r) {
                                return r.oif == ifindex && r.dst == net &&
                                       r.dst_len == len && !r.other &&
                                       r.proto == kPlumbingProto;
                              });
      if (have) continue;
      PlumbingAction add = Action(PlumbingAction::Kind::kAddRoute, bond.name);
      add.route = {kPlumbingTable, net, len, ifindex, kPlumbingProto, false};
      add.text = DescribeRoute(add.route, m, true);
      actions.push_back(add);
    }
    if (routes_ok) {
      status->in_place.push_back(
          m + ": " + std::to_string(routes_ok) + " route(s) of " +
          bond.bridge + "'s subnets in table " +
          std::to_string(kPlumbingTable) + " (rule " +
          std::to_string(kMemberRoutesRulePref) + " oif " + m + ")");
    }

    // Rules.
    size_t rules_ok = 0;
    for (const HostRule& want :
         {RoceRule(m), BlackholeRule(m), MemberRoutesRule(m)}) {
      bool have = std::any_of(host.rules.begin(), host.rules.end(),
                              [&](const HostRule& r) {
                                return r.proto == kPlumbingProto &&
                                       SameRule(r, want);
                              });
      if (have) {
        rules_ok++;
        continue;
      }
      PlumbingAction add = Action(PlumbingAction::Kind::kAddRule, bond.name);
      add.rule = want;
      add.text = DescribeRule(want, true);
      actions.push_back(add);
    }
    if (rules_ok == 3) {
      status->in_place.push_back(m + ": IP input is RoCEv2 only (rules " +
                                 std::to_string(kRoceRulePref) + ", " +
                                 std::to_string(kBlackholeRulePref) + ")");
    }

    // Sysctls.
    std::vector<std::string> sysctls_ok;
    for (const auto& [path, value] : PlumbingSysctls(m)) {
      auto cur = host.sysctls.find(path);
      if (cur == host.sysctls.end()) {
        status->missing.push_back(m + ": cannot read " + path);
        continue;
      }
      if (cur->second == value) {
        sysctls_ok.push_back(path.substr(path.rfind('/') + 1) + "=" + value);
        continue;
      }
      PlumbingAction set = Action(PlumbingAction::Kind::kSetSysctl, bond.name);
      set.sysctl = path;
      set.value = value;
      set.text = SysctlText(path, value);
      actions.push_back(set);
    }
    if (!sysctls_ok.empty()) {
      std::sort(sysctls_ok.begin(), sysctls_ok.end());
      status->in_place.push_back(m + ": " + Join(sysctls_ok, " "));
    }
  }
  for (const std::string& key : resolve) {
    PlumbingAction r = Action(PlumbingAction::Kind::kResolve, bond.name);
    r.neighbour.ifindex = bridge_ifindex;
    r.neighbour.ip = *ParseIpAddress(key);
    r.text = "ip neigh replace " + key + " dev " + bond.bridge + " use";
    actions.push_back(r);
  }
  out->insert(out->end(), actions.begin(), actions.end());
  return true;
}

}  // namespace

int HostState::IfIndex(const std::string& name) const {
  for (const HostLink& l : links) {
    if (l.name == name) return l.ifindex;
  }
  return 0;
}

std::string HostState::IfName(int ifindex) const {
  for (const HostLink& l : links) {
    if (l.ifindex == ifindex) return l.name;
  }
  return "";
}

std::map<std::string, std::string> PlumbingSysctls(const std::string& m) {
  return {
      {"net/ipv4/conf/" + m + "/arp_ignore", "8"},
      {"net/ipv4/conf/" + m + "/rp_filter", "2"},
      {"net/ipv4/neigh/" + m + "/mcast_solicit", "0"},
      {"net/ipv4/neigh/" + m + "/ucast_solicit", "0"},
      {"net/ipv4/neigh/" + m + "/app_solicit", "1"},
  };
}

std::string SavedPlumbing::Serialize() const {
  std::ostringstream out;
  for (const auto& [path, value] : original_sysctls) {
    out << "sysctl " << path << " " << value << "\n";
  }
  for (const auto& [bond, members] : bond_members) {
    out << "bond " << bond;
    for (const std::string& m : members) out << " " << m;
    out << "\n";
  }
  return out.str();
}

Result<SavedPlumbing> SavedPlumbing::Parse(const std::string& text) {
  SavedPlumbing saved;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    number++;
    if (line.empty()) continue;
    std::istringstream words(line);
    std::string kind, name, word;
    words >> kind >> name;
    if (kind == "sysctl" && !name.empty() && (words >> word)) {
      saved.original_sysctls[name] = word;
    } else if (kind == "bond" && !name.empty()) {
      std::vector<std::string>& members = saved.bond_members[name];
      while (words >> word) members.push_back(word);
    } else {
      return Status::Corruption("line " + std::to_string(number) + ": \"" +
                                line + "\"");
    }
  }
  return saved;
}

PlumbingPlan PlanPlumbing(const std::vector<PlumbingBond>& bonds,
                          const HostState& host) {
  PlumbingPlan plan;
  std::vector<PlumbingAction> per_bond;
  bool any = false;
  for (const PlumbingBond& bond : bonds) {
    BondPlumbingStatus& status = plan.bonds[bond.name];
    status.bond = bond.name;
    status.bridge = bond.bridge;
    std::vector<PlumbingAction> actions;
    if (!PlanBond(bond, host, &actions, &status)) {
      status.in_place.clear();
      continue;
    }
    if (status.active && !bond.bridge.empty() && host.IfIndex(bond.bridge)) {
      any = true;
    }
    per_bond.insert(per_bond.end(), actions.begin(), actions.end());
  }
  if (any) {
    bool in_place = false;
    std::string why;
    if (!PlanLocalRule(host, &plan.actions, &in_place, &why)) {
      for (auto& [name, status] : plan.bonds) {
        if (status.active) status.refused = why;
      }
      return plan;
    }
    for (auto& [name, status] : plan.bonds) {
      if (!status.active || !status.refused.empty()) continue;
      if (in_place) {
        status.in_place.push_back("\"lookup local\" at preference " +
                                  std::to_string(kLocalRulePref) +
                                  " (after the members' rules)");
      }
    }
  }
  // The members' rules before the local rule moves ahead of nothing:
  // apply them first, then the host-wide move.
  plan.actions.insert(plan.actions.begin(), per_bond.begin(), per_bond.end());
  for (auto& [name, status] : plan.bonds) {
    for (const PlumbingAction& a : plan.actions) {
      if (a.bond == name) status.missing.push_back("to do: " + a.text);
    }
    std::sort(status.in_place.begin(), status.in_place.end());
    std::sort(status.missing.begin(), status.missing.end());
  }
  return plan;
}

std::vector<PlumbingAction> PlanCleanup(const std::string& bond,
                                        const std::vector<std::string>& members,
                                        const HostState& host,
                                        const SavedPlumbing& saved,
                                        bool last) {
  std::vector<PlumbingAction> out;
  for (const std::string& m : members) {
    const int ifindex = host.IfIndex(m);
    if (ifindex) {
      // Neighbours first: removing a member's last address flushes its
      // neighbour table (arp_ifdown()), and what is gone cannot be
      // deleted.
      for (const HostNeighbour& n : host.neighbours) {
        if (n.ifindex != ifindex || n.proto != kPlumbingProto) continue;
        PlumbingAction del = Action(PlumbingAction::Kind::kDeleteNeighbour, bond);
        del.neighbour = n;
        del.text = DescribeNeighbour(n, m, false);
        out.push_back(del);
      }
      for (const HostAddress& a : host.addresses) {
        if (a.ifindex != ifindex || a.proto != kPlumbingProto) continue;
        PlumbingAction del = Action(PlumbingAction::Kind::kDeleteAddress, bond);
        del.address = a;
        del.text = DescribeAddress(a, m, false);
        out.push_back(del);
      }
    }
    for (const HostRoute& r : host.routes) {
      if (!ifindex || r.oif != ifindex || r.proto != kPlumbingProto) continue;
      PlumbingAction del = Action(PlumbingAction::Kind::kDeleteRoute, bond);
      del.route = r;
      del.text = DescribeRoute(r, m, false);
      out.push_back(del);
    }
    for (const HostRule& r : host.rules) {
      if ((r.iif != m && r.oif != m) || r.proto != kPlumbingProto) continue;
      PlumbingAction del = Action(PlumbingAction::Kind::kDeleteRule, bond);
      del.rule = r;
      del.text = DescribeRule(r, false);
      out.push_back(del);
    }
    for (const auto& [path, value] : PlumbingSysctls(m)) {
      auto original = saved.original_sysctls.find(path);
      if (original == saved.original_sysctls.end()) continue;
      auto cur = host.sysctls.find(path);
      PlumbingAction set = Action(PlumbingAction::Kind::kSetSysctl, bond);
      set.sysctl = path;
      set.value = original->second;
      set.text = SysctlText(path, original->second);
      set.restore = true;
      if (cur != host.sysctls.end() && cur->second == original->second) {
        set.text.clear();       // Only forgets the saved value.
      }
      out.push_back(set);
    }
  }
  if (last) {
    bool ours = false, kernel_at_0 = false;
    for (const HostRule& r : host.rules) {
      if (!IsPlainLocal(r)) continue;
      if (r.priority == 0) kernel_at_0 = true;
      if (r.priority == kLocalRulePref && r.proto == kPlumbingProto) ours = true;
    }
    if (ours) {
      if (!kernel_at_0) {
        PlumbingAction add = Action(PlumbingAction::Kind::kAddRule, "");
        add.rule = LocalRule(0, kProtoKernel);
        add.text = DescribeRule(add.rule, true);
        out.push_back(add);
      }
      PlumbingAction del = Action(PlumbingAction::Kind::kDeleteRule, "");
      del.rule = LocalRule(kLocalRulePref, kPlumbingProto);
      del.text = DescribeRule(del.rule, false);
      out.push_back(del);
    }
  }
  return out;
}

}  // namespace rdma_bond::agent
