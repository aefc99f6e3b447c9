// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The host's RoCE plumbing for OVS bonds, planned (docs/agent.md, "RoCE
// plumbing").
//
// Motivation
// ==========
//
// An RNIC sends RoCEv2 from the GIDs of its own netdev and resolves the
// peer's MAC through that netdev.  A member of an OVS bond is not a lower
// device of the bridge in the kernel's eyes, so no RNIC ever gets a GID
// for the bridge's address, and the members know no neighbours.  For each
// published bond whose members have RDMA devices, the plumbing therefore
// keeps, on every such member:
//
//   - the bridge's IPv4 addresses as /32s (the RNIC's RoCEv2 GIDs);
//   - the bridge's resolved neighbours as permanent entries (what the
//     RNIC's address resolution finds); a resolution that starts on a
//     member anyway is answered by resolving on the bridge (the member
//     sends no ARP itself: mcast/ucast_solicit 0, app_solicit 1);
//   - an IP input that is RoCEv2 only: "iif M udp dport 4791 lookup
//     local" (pref 1), "iif M blackhole" (pref 2), with the kernel's
//     "lookup local" moved from pref 0 to pref 3 so that those come first;
//     arp_ignore 8 (the member never answers ARP: the bridge does) and
//     rp_filter 2 (a strict filter drops RoCEv2 from peers that the
//     bridge's routes reach).
//
// Everything the plumbing adds carries protocol kPlumbingProto (IFA_PROTO,
// NDA_PROTOCOL, FRA_PROTOCOL): that, not a file, is how it recognises its
// own objects after a restart, and nothing else is ever removed.  Only
// the sysctls' original values need to be remembered (SavedPlumbing).
//
// PlanPlumbing() and PlanCleanup() are pure: host state in, actions out.
// A bond whose plumbing would fight configuration that is not ours (an
// address of its own on a member, a rule at preferences 1-3, a strict
// rp_filter for all interfaces) is refused as a whole, with one line
// saying what is in the way, and nothing is done for it.
//
// Thread-safety: values and pure functions.

#ifndef RDMA_BOND_AGENT_ROCE_PLAN_H_
#define RDMA_BOND_AGENT_ROCE_PLAN_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/rtnl.h"

namespace rdma_bond::agent {

// The protocol number that marks what the plumbing added ('R').  Name it
// in /etc/iproute2/rt_protos.d/ to see "ovs-rdma-bond" in `ip rule`.
inline constexpr uint8_t kPlumbingProto = 82;
// Rule preferences: RoCEv2 accepted, the rest dropped, then the local
// table (moved from preference 0).
inline constexpr uint32_t kRoceRulePref = 1;
inline constexpr uint32_t kBlackholeRulePref = 2;
inline constexpr uint32_t kLocalRulePref = 3;
// Lookups that name a member as their output device (oif: rdma_cm's
// address checks, rxe's own route lookups) use the plumbing's table,
// which routes the bridge's subnets through each member.
inline constexpr uint32_t kMemberRoutesRulePref = 4;
inline constexpr uint32_t kPlumbingTable = 4791;
static_assert(kRoceRulePref < kBlackholeRulePref &&
                  kBlackholeRulePref < kLocalRulePref,
              "RoCEv2 is let in before the rest is dropped, and both come "
              "before the local table");
static_assert(kLocalRulePref < kMemberRoutesRulePref,
              "local addresses stay local for lookups through a member");
// The RoCEv2 UDP destination port (IANA).
inline constexpr uint16_t kRoceV2Port = 4791;
// Neighbours mirrored per bond at most; more are reported as missing.
inline constexpr size_t kMaxMirroredNeighbours = 4096;

// One published bond, as the plumbing needs it.
struct PlumbingBond {
  std::string name;
  std::string bridge;                 // "" while unknown.
  std::string bridge_error;           // Why unknown, if it is.
  std::vector<std::string> members;
  // Per member (same order): its RDMA port ("rxe0:1"), or "" if none.
  std::vector<std::string> rnics;
  // The member OVS sends everything out of (active-backup), "" if none.
  // Its addresses are added after the others': the kernel's rdma_cm
  // binds an address to the device that got it last (__ip_dev_find()).
  std::string active;
  // The member the plumbing added the bond's addresses to last, "" if it
  // does not know (then the addresses' creation times decide).
  std::string newest;
};

// The host, as read (Rtnl, /proc/sys).
struct HostState {
  std::vector<HostLink> links;
  std::vector<HostAddress> addresses;
  std::vector<HostNeighbour> neighbours;
  std::vector<HostRule> rules;
  std::vector<HostRoute> routes;      // Of table kPlumbingTable.
  // RDMA devices that hold QPs (RC, UC, UD, XRC: not the kernel's QP0/1),
  // when the host's QPs could be listed ('qps_known').
  std::set<std::string> busy_rnics;
  bool qps_known = false;
  // Values of the sysctls that PlumbingSysctls() names and of
  // "net/ipv4/conf/all/rp_filter", by path below /proc/sys; a missing key
  // could not be read.
  std::map<std::string, std::string> sysctls;

  int IfIndex(const std::string& name) const;       // 0 if none.
  std::string IfName(int ifindex) const;            // "" if none.
};

// The sysctls the plumbing sets on 'member', path below /proc/sys ->
// value.
std::map<std::string, std::string> PlumbingSysctls(const std::string& member);
inline constexpr const char* kAllRpFilter = "net/ipv4/conf/all/rp_filter";

// What the plumbing remembers across its own restarts: the sysctls'
// values before it first changed them, and the members of each bond it
// plumbed (to undo a bond that left the table).
struct SavedPlumbing {
  std::map<std::string, std::string> original_sysctls;
  std::map<std::string, std::vector<std::string>> bond_members;

  // One "sysctl PATH VALUE" or "bond NAME MEMBER..." per line.
  std::string Serialize() const;
  static Result<SavedPlumbing> Parse(const std::string& text);
  friend bool operator==(const SavedPlumbing&, const SavedPlumbing&) =
      default;
};

// One change to the host.
struct PlumbingAction {
  enum class Kind {
    kAddAddress,
    kDeleteAddress,
    kSetNeighbour,
    kDeleteNeighbour,
    kResolve,           // NTF_USE on the bridge for 'neighbour.ip'.
    kAddRule,
    kDeleteRule,
    kAddRoute,
    kDeleteRoute,
    kSetSysctl,
  };
  Kind kind = Kind::kAddAddress;
  std::string bond;                   // "" for the host-wide local rule.
  HostAddress address;
  HostNeighbour neighbour;
  HostRule rule;
  HostRoute route;
  std::string sysctl;                 // Path below /proc/sys.
  std::string value;
  // A sysctl set back to its original value (PlanCleanup()): the saved
  // original is forgotten once written ('text' is "" when the value is
  // back already and only that is left to do).
  bool restore = false;
  std::string text;                   // The `ip` or `sysctl` command.
};

// What "rdma-bond/show" says about one bond.
struct BondPlumbingStatus {
  std::string bond;
  std::string bridge;
  std::string refused;                // One line; "" if not refused.
  std::vector<std::string> in_place;  // Sorted lines.
  std::vector<std::string> missing;   // Sorted lines: what, and why.
  bool active = false;                // Some member has an RDMA device.
};

struct PlumbingPlan {
  std::vector<PlumbingAction> actions;    // In the order to apply them.
  std::map<std::string, BondPlumbingStatus> bonds;
};

// Plans what makes 'bonds' plumbed on 'host' (nothing when it already is).
PlumbingPlan PlanPlumbing(const std::vector<PlumbingBond>& bonds,
                          const HostState& host);

// Plans undoing the plumbing of 'members' (bond 'bond'): our addresses,
// neighbours and rules on them, their sysctls back to 'saved''s originals;
// and, when 'last' (no plumbed bond remains), the local rule back at
// preference 0.
std::vector<PlumbingAction> PlanCleanup(const std::string& bond,
                                        const std::vector<std::string>& members,
                                        const HostState& host,
                                        const SavedPlumbing& saved, bool last);

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_ROCE_PLAN_H_
