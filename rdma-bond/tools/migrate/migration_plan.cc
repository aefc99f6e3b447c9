// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/migrate/migration_plan.h"

#include <linux/neighbour.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/join.h"

namespace rdma_bond::migrate {
namespace {

// IFNAMSIZ - 1: the longest name a network device may have.
constexpr size_t kMaxIfName = 15;
// The kernel's default priority of an LACP actor system (ad_actor_sys_prio).
constexpr uint16_t kDefaultLacpSystemPriority = 65535;

// What an `ip -batch` line does: the rollback replaces, so that it can
// run again over whatever a failed step left.
enum class Verb { kAdd, kDel, kReplace };

const char* VerbName(Verb verb) {
  return verb == Verb::kAdd ? "add " : verb == Verb::kDel ? "del " : "replace ";
}

// An `ip -batch` line (without "ip") for a route through 'dev'.
std::string RouteLine(const BondRoute& r, const std::string& dev, Verb verb) {
  const bool add = verb != Verb::kDel;
  std::string line = std::string("route ") + VerbName(verb) + RouteDestination(r);
  if (!r.gateway.empty()) line += " via " + r.gateway;
  line += " dev " + dev;
  if (add && !r.prefsrc.empty()) line += " src " + r.prefsrc;
  line += " table " + std::to_string(r.table);
  line += " metric " + std::to_string(r.metric);
  if (add) {
    line += " proto " + std::to_string(r.protocol) + " scope " +
            std::to_string(r.scope);
  }
  return line;
}

std::string AddressLine(const BondAddress& a, const std::string& bond_name,
                        const std::string& dev, Verb verb) {
  const bool add = verb != Verb::kDel;
  std::string line = std::string("address ") + VerbName(verb) + a.ip + "/" +
                     std::to_string(a.prefix_len);
  if (add) {
    if (!a.broadcast.empty()) line += " broadcast " + a.broadcast;
    line += " scope " + std::to_string(a.scope);
    // A label starts with its device's name: bond0:1 becomes br0:1.
    if (!a.label.empty()) {
      line += " label " + (a.label.rfind(bond_name, 0) == 0
                               ? dev + a.label.substr(bond_name.size())
                               : a.label);
    }
    if (a.noprefixroute) line += " noprefixroute";
    // The host held the address on this link a moment ago: duplicate
    // address detection would only keep it tentative for a second, and
    // routes with it as their source fail meanwhile.
    if (a.family == 6) line += " nodad";
  }
  return line + " dev " + dev;
}

std::string NeighbourLine(const BondNeighbour& n, const std::string& dev) {
  return "neigh replace " + n.ip +
         (n.mac.empty() ? std::string() : " lladdr " + n.mac) +
         " nud permanent dev " + dev;
}

// One `ip -batch -`: it stops at the first line that fails.  With
// 'force' (the rollback) it goes on and fails at the end.
Command Batch(const std::vector<std::string>& lines, bool force = false) {
  Command c{force ? std::vector<std::string>{"ip", "-force", "-batch", "-"}
                  : std::vector<std::string>{"ip", "-batch", "-"},
            ""};
  for (const std::string& l : lines) c.input += l + "\n";
  return c;
}

// The `ip link add` words that make 'bond' again with its options (only
// those its mode takes: the kernel refuses the others).
std::vector<std::string> BondCreateArgs(const LinuxBond& bond) {
  const BondOptions& o = bond.options;
  std::vector<std::string> a = {"ip", "link", "add", bond.name};
  if (!bond.mac.empty()) a.insert(a.end(), {"address", bond.mac});
  a.insert(a.end(), {"mtu", std::to_string(bond.mtu), "type", "bond", "mode",
                     BondModeName(o.mode)});
  auto add = [&a](const char* key, const std::string& value) {
    a.push_back(key);
    a.push_back(value);
  };
  add("miimon", std::to_string(o.miimon));
  // The kernel refuses delays while MII monitoring is off.
  if (o.miimon) {
    add("updelay", std::to_string(o.updelay));
    add("downdelay", std::to_string(o.downdelay));
    add("peer_notify_delay", std::to_string(o.peer_notify_delay));
  }
  add("use_carrier", std::to_string(o.use_carrier));
  if (o.mode == kModeActiveBackup) {
    // ARP monitoring turns MII monitoring off: only when it was on.
    if (o.arp_interval && !o.miimon) {
      add("arp_interval", std::to_string(o.arp_interval));
      if (!o.arp_ip_targets.empty()) {
        add("arp_ip_target", JoinWords(o.arp_ip_targets, ","));
      }
      add("arp_validate", ArpValidateName(o.arp_validate));
      add("arp_all_targets", ArpAllTargetsName(o.arp_all_targets));
    }
    add("primary_reselect", PrimaryReselectName(o.primary_reselect));
    add("fail_over_mac", FailOverMacName(o.fail_over_mac));
  }
  if (o.mode == kMode8023ad) {
    add("xmit_hash_policy", XmitHashPolicyName(o.xmit_hash_policy));
    add("lacp_rate", LacpRateName(o.lacp_rate));
    add("ad_select", AdSelectName(o.ad_select));
    add("ad_actor_sys_prio", std::to_string(o.ad_actor_sys_prio));
    add("ad_user_port_key", std::to_string(o.ad_user_port_key));
    if (!o.ad_actor_system.empty()) add("ad_actor_system", o.ad_actor_system);
  }
  add("num_grat_arp", std::to_string(o.num_peer_notif));
  add("resend_igmp", std::to_string(o.resend_igmp));
  add("all_slaves_active", std::to_string(o.all_slaves_active));
  add("min_links", std::to_string(o.min_links));
  add("lp_interval", std::to_string(o.lp_interval));
  return a;
}

// Why OVS cannot carry 'mode', and what comes nearest.
std::string Refusal(const LinuxBond& bond) {
  const std::string name = BondModeName(bond.options.mode);
  std::string why;
  switch (bond.options.mode) {
    case kModeRoundRobin:
      why = "OVS never spreads one flow over several members (balance-rr "
            "does, packet by packet); nearest: 802.3ad on the Linux bond "
            "and the switch (then balance-tcp), or active-backup";
      break;
    case kModeXor:
      why = "OVS has no static hash without LACP; nearest: balance-slb "
            "(by source MAC, no switch configuration) or 802.3ad on the "
            "switch (then balance-tcp)";
      break;
    case kModeBroadcast:
      why = "OVS has no mode that sends every frame on every member; "
            "nearest: active-backup";
      break;
    case kModeTlb:
    case kModeAlb:
      why = "OVS balances by source MAC (balance-slb) but does not take "
            "over peers' ARP caches to balance what it receives; nearest: "
            "balance-slb, or active-backup";
      break;
    default:
      why = "an unknown bond mode";
  }
  return "bond \"" + bond.name + "\" is in mode " + name +
         ", which OVS cannot carry: " + why +
         ". Change the Linux bond's mode first (ip link set dev " + bond.name +
         " type bond mode ...; it must be down and without members), then "
         "migrate.";
}

// The ports of one NIC: PCI functions that differ in the function only.
std::string PciSlot(const std::string& pci) {
  size_t dot = pci.rfind('.');
  return dot == std::string::npos ? pci : pci.substr(0, dot);
}

}  // namespace

std::string RouteDestination(const BondRoute& route) {
  return route.dst == "default" && route.family == 6 ? "::/0" : route.dst;
}

std::string BridgeName(const LinuxBond& bond, const MigrateOptions& options) {
  return options.bridge.empty() ? "br-" + bond.name : options.bridge;
}

Result<MigrationPlan> PlanMigration(const LinuxBond& bond,
                                    const std::vector<MemberHardware>& hw,
                                    const MigrateOptions& options) {
  const BondOptions& o = bond.options;
  if (o.mode != kModeActiveBackup && o.mode != kMode8023ad) {
    return Status::NotSupported(Refusal(bond));
  }
  if (options.slb && o.mode != kMode8023ad) {
    return Status::InvalidArgument(
        "--slb applies to an 802.3ad bond only (\"" + bond.name + "\" is " +
        BondModeName(o.mode) + ")");
  }
  if (bond.members.size() < 2) {
    return Status::NotSupported(
        "bond \"" + bond.name + "\" has " +
        std::to_string(bond.members.size()) +
        (bond.members.size() == 1 ? " member" : " members") +
        ": an OVS bond needs two (enslave the other NIC's port first)");
  }
  std::vector<std::string> uppers;
  for (const BondUpper& u : bond.uppers) {
    uppers.push_back(u.name + " (" + (u.kind.empty() ? "?" : u.kind) +
                     (u.master ? ", which the bond is a port of" : "") +
                     (u.vlan_id ? ", VLAN " + std::to_string(u.vlan_id) : "") +
                     ")");
  }
  if (!uppers.empty()) {
    return Status::NotSupported(
        "bond \"" + bond.name + "\" has devices stacked on it or above it: " +
        JoinWords(uppers, ", ") +
        ". ovs-rdma-bond-migrate moves the bond's own addresses only: move "
        "them first (a VLAN becomes an OVS internal port with a tag: "
        "ovs-vsctl add-port BRIDGE NAME tag=ID -- set interface NAME "
        "type=internal) or delete them, then migrate.");
  }
  std::vector<std::string> unmovable;
  for (const BondRoute& r : bond.routes) {
    if (!r.unmovable.empty()) {
      unmovable.push_back(RouteDestination(r) + " (" + r.unmovable + ")");
    }
  }
  if (!unmovable.empty()) {
    return Status::NotSupported(
        "bond \"" + bond.name + "\" carries routes that ovs-rdma-bond-migrate "
        "cannot move as they are: " + JoinWords(unmovable, ", ") +
        ". Move them by hand (ip route) after the migration, or remove them "
        "and add them again afterwards.");
  }
  MigrationPlan plan;
  plan.bridge = BridgeName(bond, options);
  plan.datapath_type = options.datapath_type;
  plan.no_agent = options.no_agent;
  if (plan.bridge.size() > kMaxIfName) {
    return Status::InvalidArgument("the bridge's name \"" + plan.bridge +
                                   "\" is longer than " +
                                   std::to_string(kMaxIfName) +
                                   " characters: name it with --bridge");
  }
  if (plan.bridge == bond.name) {
    return Status::InvalidArgument("the bridge cannot take the bond's name \"" +
                                   bond.name + "\": the Linux bond has it "
                                   "until the migration is done");
  }

  // --- the OVS bond and what changes ---
  std::vector<std::string>& s = plan.port_settings;
  std::vector<std::string>& c = plan.changes;
  if (o.mode == kModeActiveBackup) {
    plan.ovs_mode = "active-backup";
    s.push_back("bond_mode=active-backup");
    if (!o.primary.empty()) s.push_back("other_config:bond-primary=" + o.primary);
    if (o.primary_reselect != 0) {
      c.push_back("primary_reselect " + PrimaryReselectName(o.primary_reselect) +
                  ": OVS returns to the primary whenever it is usable "
                  "(primary_reselect always)");
    }
    if (o.fail_over_mac != 0) {
      c.push_back("fail_over_mac " + FailOverMacName(o.fail_over_mac) +
                  ": OVS leaves the members' MACs alone; the bridge has the "
                  "bond's MAC");
    }
  } else {
    plan.lacp = true;
    plan.ovs_mode = options.slb ? "balance-slb" : "balance-tcp";
    s.push_back("bond_mode=" + plan.ovs_mode);
    s.push_back("lacp=active");
    s.push_back("other_config:lacp-time=" + LacpRateName(o.lacp_rate));
    // The switch sees the same LACP system as before.
    s.push_back("other_config:lacp-system-id=" +
                (o.ad_actor_system.empty() ? bond.mac : o.ad_actor_system));
    s.push_back("other_config:lacp-system-priority=" +
                std::to_string(o.ad_actor_sys_prio));
    if (options.slb) {
      c.push_back("xmit_hash_policy " + XmitHashPolicyName(o.xmit_hash_policy) +
                  " becomes balance-slb: flows are spread by source MAC and "
                  "VLAN, and rebalanced by load");
    } else if (o.xmit_hash_policy != 1 && o.xmit_hash_policy != 4) {
      c.push_back("xmit_hash_policy " + XmitHashPolicyName(o.xmit_hash_policy) +
                  " becomes balance-tcp: flows are spread by their L3 and L4 "
                  "headers (as layer3+4), and rebalanced by load");
    }
    if (o.min_links > 1) {
      c.push_back("min_links " + std::to_string(o.min_links) +
                  ": OVS has no minimum; the bond carries traffic while one "
                  "member is usable");
    }
    if (o.ad_select != 0) {
      c.push_back("ad_select " + AdSelectName(o.ad_select) +
                  ": OVS uses the members its LACP partner agrees on");
    }
  }
  s.push_back("bond_updelay=" + std::to_string(o.miimon ? o.updelay : 0));
  s.push_back("bond_downdelay=" + std::to_string(o.miimon ? o.downdelay : 0));
  s.push_back("other_config:bond-detect-mode=carrier");
  s.push_back("other_config:rdma-bond=true");
  if (o.miimon) {
    c.push_back("miimon " + std::to_string(o.miimon) +
                " ms: OVS follows the members' carrier as the kernel "
                "reports it (bond-detect-mode=carrier), with no polling");
  }
  if (!o.use_carrier) {
    c.push_back("use_carrier 0 (MII ioctls): OVS uses the carrier the "
                "driver reports");
  }
  if (o.arp_interval) {
    c.push_back("arp_interval " + std::to_string(o.arp_interval) +
                " ms (targets " + JoinWords(o.arp_ip_targets, ",") +
                "): OVS has no ARP monitoring; a member fails on carrier "
                "loss" + std::string(plan.lacp ? " or LACP" : "") + " only");
  }
  c.push_back("the bridge " + plan.bridge + " takes the bond's MAC " +
              bond.mac + ", MTU " + std::to_string(bond.mtu) +
              " and addresses; the members keep their own MACs");

  // --- RDMA ---
  std::map<std::string, std::vector<std::string>> by_device, by_slot;
  for (const BondMember& m : bond.members) {
    auto it = std::find_if(hw.begin(), hw.end(), [&](const MemberHardware& h) {
      return h.member == m.name;
    });
    std::string dev = it == hw.end() ? "" : it->rdma_device;
    std::string pci = it == hw.end() ? "" : it->pci;
    plan.rdma.push_back(m.name + ": " +
                        (dev.empty() ? std::string("no RDMA device found")
                                     : "RDMA device " + dev) +
                        (pci.empty() ? "" : ", PCI " + pci));
    if (!dev.empty()) by_device[dev].push_back(m.name);
    if (!pci.empty()) by_slot[PciSlot(pci)].push_back(m.name);
  }
  for (const auto& [dev, members] : by_device) {
    if (members.size() > 1) {
      plan.rdma.push_back(
          JoinWords(members, " and ") + " share RDMA device " + dev +
          " (RoCE LAG): it goes with the Linux bond, and each port gets an "
          "RDMA device of its own; the agent then keeps RDMA on the member "
          "OVS uses");
    }
  }
  for (const auto& [slot, members] : by_slot) {
    if (members.size() > 1) {
      plan.rdma.push_back(
          JoinWords(members, " and ") + " are ports of one NIC (" + slot +
          "): a failure of that NIC still stops RDMA; bond ports of two "
          "NICs for RDMA to survive one");
    }
  }
  plan.rdma.push_back(
      "RDMA connections over " + bond.name +
      "'s addresses break during the migration (the RNICs' GIDs go and "
      "come back with the addresses): their programs must reconnect");
  if (options.no_agent) {
    plan.rdma.push_back(
        "--no-agent: without ovs-rdma-bond-agent's RoCE plumbing no RNIC "
        "has a GID for the bridge's addresses, and RDMA does not follow "
        "the OVS bond");
  }

  // --- what must answer ---
  std::vector<std::string> checks = options.checks;
  for (const BondRoute& r : bond.routes) {
    if (!r.gateway.empty()) checks.push_back(r.gateway);
  }
  for (const BondNeighbour& n : bond.neighbours) {
    if (n.state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE)) {
      checks.push_back(n.ip);
    }
  }
  std::set<std::string> seen;
  for (const std::string& a : checks) {
    if (seen.insert(a).second) plan.checks.push_back(a);
  }

  // --- the steps ---
  const std::string& br = plan.bridge;
  plan.steps.push_back(
      {"create the bridge " + br + " (nothing moves yet)",
       StepKind::kRun,
       {{{"ovs-vsctl", "add-br", br, "--", "set", "bridge", br,
          "datapath_type=" + options.datapath_type,
          "other_config:hwaddr=" + bond.mac, "--", "set", "interface", br,
          "mtu_request=" + std::to_string(bond.mtu)},
         ""}}});
  plan.first_disruptive_step = plan.steps.size();
  std::vector<std::string> move;
  for (const BondRoute& r : bond.routes) {
    move.push_back(RouteLine(r, bond.name, Verb::kDel));
  }
  for (const BondAddress& a : bond.addresses) {
    move.push_back(AddressLine(a, bond.name, bond.name, Verb::kDel));
  }
  move.push_back("link set dev " + bond.name + " down");
  move.push_back("link set dev " + br + " up");
  for (const BondAddress& a : bond.addresses) {
    move.push_back(AddressLine(a, bond.name, br, Verb::kAdd));
  }
  for (const BondRoute& r : bond.routes) {
    move.push_back(RouteLine(r, br, Verb::kAdd));
  }
  for (const BondNeighbour& n : bond.PermanentNeighbours()) {
    move.push_back(NeighbourLine(n, br));
  }
  plan.steps.push_back({"move the addresses, routes and permanent "
                        "neighbours to " + br + " (one ip -batch)",
                        StepKind::kRun,
                        {Batch(move)}});
  std::vector<std::string> release;
  for (const BondMember& m : bond.members) {
    release.push_back("link set dev " + m.name + " nomaster");
  }
  for (const BondMember& m : bond.members) {
    release.push_back("link set dev " + m.name + " mtu " +
                      std::to_string(bond.mtu) + " up");
  }
  std::vector<std::string> add_bond = {"ovs-vsctl", "add-bond", br,
                                       bond.name};
  for (const BondMember& m : bond.members) add_bond.push_back(m.name);
  add_bond.insert(add_bond.end(), s.begin(), s.end());
  plan.steps.push_back({"release the members from " + bond.name +
                            " and make them OVS's bond " + bond.name,
                        StepKind::kRun,
                        {Batch(release), {add_bond, ""}}});
  plan.steps.push_back({plan.lacp ? "wait until LACP is negotiated and a "
                                    "member is enabled"
                                  : "wait until OVS makes a member active",
                        StepKind::kWaitBond,
                        {{{"ovs-appctl", "bond/show", bond.name}, ""}}});
  if (!options.no_agent) {
    plan.steps.push_back(
        {"wait until ovs-rdma-bond-agent's RoCE plumbing of " + bond.name +
             " is complete",
         StepKind::kWaitPlumbing,
         {{{"ovs-appctl", "-t", "rdma-bond-agent/ovs-rdma-bond-agent",
            "rdma-bond/show"},
           ""}}});
  }
  Step check{"check that " +
                 (plan.checks.empty() ? std::string("(no address)")
                                      : JoinWords(plan.checks, ", ")) +
                 (plan.checks.size() == 1 ? " answers" : " answer"),
             StepKind::kCheck,
             {}};
  for (const std::string& a : plan.checks) {
    check.commands.push_back({{"ping", "-c", "1", "-W", "1", a}, ""});
  }
  plan.steps.push_back(check);
  plan.steps.push_back({"remove the Linux bond " + bond.name,
                        StepKind::kRun,
                        {{{"ip", "link", "del", bond.name}, ""}}});
  return plan;
}

std::vector<Step> PlanRestore(const LinuxBond& saved,
                              const std::string& bridge, bool remove_bridge,
                              bool bond_exists, bool agent) {
  std::vector<Step> steps;
  if (remove_bridge) {
    steps.push_back({"remove the OVS bridge " + bridge + " (and its bond)",
                     StepKind::kRun,
                     {{{"ovs-vsctl", "--if-exists", "del-br", bridge}, ""}}});
  }
  if (!bond_exists) {
    steps.push_back({"make the Linux bond " + saved.name + " again",
                     StepKind::kRun,
                     {{BondCreateArgs(saved), ""}}});
  }
  // Members still enslaved (a failure before they were released) are
  // released too: a member set down under its bond stays down.
  std::vector<std::string> lines;
  for (const BondMember& m : saved.members) {
    lines.push_back("link set dev " + m.name + " nomaster");
    lines.push_back("link set dev " + m.name + " down");
  }
  // The active member first: the bond makes the first one active.
  for (const BondMember& m : saved.members) {
    lines.push_back("link set dev " + m.name + " master " + saved.name);
  }
  if (!saved.options.primary.empty()) {
    lines.push_back("link set dev " + saved.name + " type bond primary " +
                    saved.options.primary);
  }
  if (saved.up) lines.push_back("link set dev " + saved.name + " up");
  for (const BondAddress& a : saved.addresses) {
    lines.push_back(AddressLine(a, saved.name, saved.name, Verb::kReplace));
  }
  for (const BondRoute& r : saved.routes) {
    lines.push_back(RouteLine(r, saved.name, Verb::kReplace));
  }
  for (const BondNeighbour& n : saved.PermanentNeighbours()) {
    lines.push_back(NeighbourLine(n, saved.name));
  }
  steps.push_back({"enslave the members to " + saved.name +
                       " and put its addresses, routes and permanent "
                       "neighbours back (one ip -batch)",
                   StepKind::kRun,
                   {Batch(lines, /*force=*/true)}});
  // The agent undoes its plumbing of the members 5 s after the bond
  // left its table: the Linux bond carries traffic meanwhile.
  if (agent) {
    std::vector<std::string> members;
    for (const BondMember& m : saved.members) members.push_back(m.name);
    steps.push_back({"wait until ovs-rdma-bond-agent has undone its RoCE "
                     "plumbing of " + JoinWords(members, ", ") +
                         " (no address of protocol 82 left)",
                     StepKind::kWaitUnplumbed,
                     {}});
  }
  return steps;
}

std::string FormatSteps(const std::vector<Step>& steps, int first) {
  std::string out;
  int n = first;
  for (const Step& step : steps) {
    out += "  " + std::to_string(n++) + ". " + step.title + "\n";
    for (const Command& c : step.commands) {
      if (!c.input.empty()) {
        size_t start = 0;
        while (start < c.input.size()) {
          size_t end = c.input.find('\n', start);
          out += "       ip " + c.input.substr(start, end - start) + "\n";
          start = end + 1;
        }
      } else {
        out += "       " + JoinWords(c.argv, " ") + "\n";
      }
    }
  }
  return out;
}

std::string FormatPlan(const LinuxBond& bond, const MigrationPlan& plan) {
  const BondOptions& o = bond.options;
  std::string out = "Linux bond " + bond.name + " (from the kernel)\n";
  out += "  mode " + BondModeName(o.mode) + ", miimon " +
         std::to_string(o.miimon) + ", updelay " + std::to_string(o.updelay) +
         ", downdelay " + std::to_string(o.downdelay);
  if (o.mode == kModeActiveBackup) {
    out += ", primary " + (o.primary.empty() ? std::string("none") : o.primary);
  } else {
    out += ", lacp_rate " + LacpRateName(o.lacp_rate) + ", xmit_hash_policy " +
           XmitHashPolicyName(o.xmit_hash_policy);
  }
  out += "\n";
  std::vector<std::string> members;
  for (const BondMember& m : bond.members) {
    members.push_back(m.name + (m.active ? " (active)" : ""));
  }
  out += "  members " + JoinWords(members, ", ") + "\n";
  out += "  mtu " + std::to_string(bond.mtu) + ", mac " + bond.mac + ", " +
         (bond.up ? "up" : "down") + "\n";
  for (const BondAddress& a : bond.addresses) {
    out += "  address " + a.ip + "/" + std::to_string(a.prefix_len) + "\n";
  }
  for (const BondRoute& r : bond.routes) {
    out += "  route " + RouteDestination(r) +
           (r.gateway.empty() ? "" : " via " + r.gateway) + " table " +
           std::to_string(r.table) + " metric " + std::to_string(r.metric) +
           "\n";
  }
  for (const BondNeighbour& n : bond.PermanentNeighbours()) {
    out += "  permanent neighbour " + n.ip + " lladdr " + n.mac + "\n";
  }
  out += "\nOVS bond " + bond.name + " on bridge " + plan.bridge + "\n";
  out += "  " + plan.ovs_mode + (plan.lacp ? " with LACP" : "") + "\n";
  for (const std::string& s : plan.port_settings) out += "  " + s + "\n";
  out += "\nWhat changes\n";
  for (const std::string& s : plan.changes) out += "  - " + s + "\n";
  out += "\nRDMA\n";
  for (const std::string& s : plan.rdma) out += "  - " + s + "\n";
  out += "\nConnectivity checks\n";
  if (plan.checks.empty()) {
    out += "  none found (no gateway, no known peer): apply needs --check "
           "ADDR\n";
  } else {
    for (const std::string& a : plan.checks) out += "  " + a + "\n";
  }
  out += "\nSteps (apply)\n" + FormatSteps(plan.steps);
  out += "\nRollback (if a step from " +
         std::to_string(plan.first_disruptive_step + 1) + " on fails)\n";
  out += FormatSteps(PlanRestore(bond, plan.bridge, true, true,
                                 !plan.no_agent));
  return out;
}

}  // namespace rdma_bond::migrate
