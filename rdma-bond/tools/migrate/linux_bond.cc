// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/migrate/linux_bond.h"

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <cstdio>
#include <map>
#include <utility>

#include "agent/netlink_attr.h"
#include "common/join.h"
#include "agent/rtnl.h"
#include "rdma_bond/five_tuple.h"

namespace rdma_bond::migrate {
namespace {

using agent::AttrString;
using agent::AttrValue;
using agent::ParseAttrs;
using agent::ParseNested;

// RTPROT_KERNEL and RTPROT_RA: routes the kernel makes from an address or
// a router advertisement, which come back by themselves.
constexpr uint8_t kProtoKernel = 2;
constexpr uint8_t kProtoRa = 9;
constexpr uint32_t kTableLocal = 255;

std::string Named(const char* const* names, size_t n, uint32_t value) {
  return value < n ? names[value] : std::to_string(value);
}

template <size_t N>
std::string Named(const char* const (&names)[N], uint32_t value) {
  return Named(names, N, value);
}

std::string Mac(const struct rtattr* rta) {
  if (!rta || RTA_PAYLOAD(rta) != 6) return "";
  const auto* b = static_cast<const uint8_t*>(RTA_DATA(rta));
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1],
                b[2], b[3], b[4], b[5]);
  return text;
}

std::string Ip(int family, const struct rtattr* rta) {
  const size_t len = family == AF_INET ? 4 : 16;
  if (!rta || RTA_PAYLOAD(rta) < len) return "";
  std::array<uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), RTA_DATA(rta), len);
  return FormatAddress(family == AF_INET ? 4 : 6, bytes);
}

// One link of the RTM_GETLINK dump, with what a bond reader needs.
struct Link {
  int ifindex = 0;
  std::string name;
  unsigned flags = 0;
  uint32_t mtu = 0;
  std::string mac;
  int master = 0;
  int link = 0;                   // IFLA_LINK: the lower device.
  std::string kind;
  uint16_t vlan_id = 0;
  BondOptions bond;
  int primary = 0;                // IFLA_BOND_PRIMARY (an ifindex).
  int active_slave = 0;
};

void ReadBondData(const struct rtattr* data, Link& l) {
  auto a = ParseNested(data, IFLA_BOND_MAX);
  BondOptions& o = l.bond;
  o.mode = AttrValue<uint8_t>(a[IFLA_BOND_MODE]).value_or(o.mode);
  l.active_slave = AttrValue<uint32_t>(a[IFLA_BOND_ACTIVE_SLAVE]).value_or(0);
  o.miimon = AttrValue<uint32_t>(a[IFLA_BOND_MIIMON]).value_or(o.miimon);
  o.updelay = AttrValue<uint32_t>(a[IFLA_BOND_UPDELAY]).value_or(o.updelay);
  o.downdelay =
      AttrValue<uint32_t>(a[IFLA_BOND_DOWNDELAY]).value_or(o.downdelay);
  o.peer_notify_delay = AttrValue<uint32_t>(a[IFLA_BOND_PEER_NOTIF_DELAY])
                            .value_or(o.peer_notify_delay);
  o.use_carrier =
      AttrValue<uint8_t>(a[IFLA_BOND_USE_CARRIER]).value_or(o.use_carrier);
  o.arp_interval =
      AttrValue<uint32_t>(a[IFLA_BOND_ARP_INTERVAL]).value_or(o.arp_interval);
  for (const struct rtattr* t : agent::ParseNested(a[IFLA_BOND_ARP_IP_TARGET],
                                                   /*max=*/16)) {
    if (!t) continue;
    std::string ip = Ip(AF_INET, t);
    if (!ip.empty()) o.arp_ip_targets.push_back(ip);
  }
  o.arp_validate =
      AttrValue<uint32_t>(a[IFLA_BOND_ARP_VALIDATE]).value_or(o.arp_validate);
  o.arp_all_targets = AttrValue<uint32_t>(a[IFLA_BOND_ARP_ALL_TARGETS])
                          .value_or(o.arp_all_targets);
  l.primary = AttrValue<uint32_t>(a[IFLA_BOND_PRIMARY]).value_or(0);
  o.primary_reselect = AttrValue<uint8_t>(a[IFLA_BOND_PRIMARY_RESELECT])
                           .value_or(o.primary_reselect);
  o.fail_over_mac =
      AttrValue<uint8_t>(a[IFLA_BOND_FAIL_OVER_MAC]).value_or(o.fail_over_mac);
  o.xmit_hash_policy = AttrValue<uint8_t>(a[IFLA_BOND_XMIT_HASH_POLICY])
                           .value_or(o.xmit_hash_policy);
  o.resend_igmp =
      AttrValue<uint32_t>(a[IFLA_BOND_RESEND_IGMP]).value_or(o.resend_igmp);
  o.num_peer_notif = AttrValue<uint8_t>(a[IFLA_BOND_NUM_PEER_NOTIF])
                         .value_or(o.num_peer_notif);
  o.all_slaves_active = AttrValue<uint8_t>(a[IFLA_BOND_ALL_SLAVES_ACTIVE])
                            .value_or(o.all_slaves_active);
  o.min_links =
      AttrValue<uint32_t>(a[IFLA_BOND_MIN_LINKS]).value_or(o.min_links);
  o.lp_interval =
      AttrValue<uint32_t>(a[IFLA_BOND_LP_INTERVAL]).value_or(o.lp_interval);
  o.packets_per_slave = AttrValue<uint32_t>(a[IFLA_BOND_PACKETS_PER_SLAVE])
                            .value_or(o.packets_per_slave);
  o.lacp_rate =
      AttrValue<uint8_t>(a[IFLA_BOND_AD_LACP_RATE]).value_or(o.lacp_rate);
  o.ad_select =
      AttrValue<uint8_t>(a[IFLA_BOND_AD_SELECT]).value_or(o.ad_select);
  o.ad_actor_sys_prio = AttrValue<uint16_t>(a[IFLA_BOND_AD_ACTOR_SYS_PRIO])
                            .value_or(o.ad_actor_sys_prio);
  o.ad_user_port_key = AttrValue<uint16_t>(a[IFLA_BOND_AD_USER_PORT_KEY])
                           .value_or(o.ad_user_port_key);
  o.ad_actor_system = Mac(a[IFLA_BOND_AD_ACTOR_SYSTEM]);
  if (o.ad_actor_system == "00:00:00:00:00:00") o.ad_actor_system.clear();
  o.tlb_dynamic_lb = AttrValue<uint8_t>(a[IFLA_BOND_TLB_DYNAMIC_LB])
                         .value_or(o.tlb_dynamic_lb);
}

Link ReadLink(const struct nlmsghdr* h) {
  Link l;
  auto* ifi = static_cast<const struct ifinfomsg*>(NLMSG_DATA(h));
  auto attrs = ParseAttrs(h, sizeof *ifi, IFLA_MAX);
  l.ifindex = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  l.name = AttrString(attrs[IFLA_IFNAME]);
  l.mtu = AttrValue<uint32_t>(attrs[IFLA_MTU]).value_or(0);
  l.mac = Mac(attrs[IFLA_ADDRESS]);
  l.master = AttrValue<uint32_t>(attrs[IFLA_MASTER]).value_or(0);
  l.link = AttrValue<uint32_t>(attrs[IFLA_LINK]).value_or(l.ifindex);
  auto info = ParseNested(attrs[IFLA_LINKINFO], IFLA_INFO_MAX);
  l.kind = AttrString(info[IFLA_INFO_KIND]);
  if (l.kind == "bond") {
    ReadBondData(info[IFLA_INFO_DATA], l);
  } else if (l.kind == "vlan") {
    auto v = ParseNested(info[IFLA_INFO_DATA], IFLA_VLAN_MAX);
    l.vlan_id = AttrValue<uint16_t>(v[IFLA_VLAN_ID]).value_or(0);
  }
  return l;
}

void ReadAddresses(agent::Rtnl& rtnl, int family, LinuxBond& bond,
                   Status& status) {
  auto msgs = rtnl.Dump(RTM_GETADDR, family);
  if (!msgs.ok()) {
    status = msgs.status();
    return;
  }
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWADDR) continue;
    auto* ifa = static_cast<const struct ifaddrmsg*>(NLMSG_DATA(h));
    if (static_cast<int>(ifa->ifa_index) != bond.ifindex ||
        ifa->ifa_family != family) {
      continue;
    }
    auto a = ParseAttrs(h, sizeof *ifa, IFA_MAX);
    const uint32_t flags =
        AttrValue<uint32_t>(a[IFA_FLAGS]).value_or(ifa->ifa_flags);
    BondAddress out;
    out.family = family == AF_INET ? 4 : 6;
    out.ip = Ip(family, a[IFA_LOCAL] ? a[IFA_LOCAL] : a[IFA_ADDRESS]);
    if (out.ip.empty()) continue;
    if (family == AF_INET6 &&
        (ifa->ifa_scope == RT_SCOPE_LINK || !(flags & IFA_F_PERMANENT))) {
      continue;  // Link-local or autoconfigured: made again on the bridge.
    }
    out.prefix_len = ifa->ifa_prefixlen;
    out.broadcast = Ip(family, a[IFA_BROADCAST]);
    out.scope = ifa->ifa_scope;
    out.label = AttrString(a[IFA_LABEL]);
    if (out.label == bond.name) out.label.clear();
    out.noprefixroute = flags & IFA_F_NOPREFIXROUTE;
    bond.addresses.push_back(out);
  }
}

void ReadRoutes(agent::Rtnl& rtnl, int family, LinuxBond& bond,
                Status& status) {
  auto msgs = rtnl.Dump(RTM_GETROUTE, family);
  if (!msgs.ok()) {
    status = msgs.status();
    return;
  }
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWROUTE) continue;
    auto* rtm = static_cast<const struct rtmsg*>(NLMSG_DATA(h));
    if (rtm->rtm_family != family || (rtm->rtm_flags & RTM_F_CLONED)) continue;
    auto a = ParseAttrs(h, sizeof *rtm, RTA_MAX);
    const uint32_t table =
        AttrValue<uint32_t>(a[RTA_TABLE]).value_or(rtm->rtm_table);
    if (table == kTableLocal) continue;
    bool through_bond =
        AttrValue<uint32_t>(a[RTA_OIF]).value_or(0) ==
        static_cast<uint32_t>(bond.ifindex);
    std::vector<std::string> unmovable;
    if (a[RTA_MULTIPATH]) {
      int len = RTA_PAYLOAD(a[RTA_MULTIPATH]);
      for (auto* nh = static_cast<const struct rtnexthop*>(
               RTA_DATA(a[RTA_MULTIPATH]));
           RTNH_OK(nh, len); len -= NLMSG_ALIGN(nh->rtnh_len),
                            nh = RTNH_NEXT(nh)) {
        if (nh->rtnh_ifindex == bond.ifindex) through_bond = true;
      }
      unmovable.push_back("multipath");
    }
    if (!through_bond) continue;
    if (rtm->rtm_protocol == kProtoKernel ||
        (family == AF_INET6 && rtm->rtm_protocol == kProtoRa)) {
      continue;  // Made again from the addresses on the bridge.
    }
    if (a[RTA_METRICS] && RTA_PAYLOAD(a[RTA_METRICS]) > 0) {
      unmovable.push_back("metrics");
    }
    if (a[RTA_ENCAP]) unmovable.push_back("encap");
    if (a[RTA_VIA]) unmovable.push_back("via");
    if (a[RTA_NH_ID]) unmovable.push_back("nexthop-object");
    if (a[RTA_FLOW]) unmovable.push_back("realm");
    if (rtm->rtm_tos) unmovable.push_back("tos");
    if (rtm->rtm_src_len) unmovable.push_back("from");
    BondRoute r;
    r.family = family == AF_INET ? 4 : 6;
    r.table = table;
    r.dst = a[RTA_DST] ? Ip(family, a[RTA_DST]) + "/" +
                             std::to_string(rtm->rtm_dst_len)
                       : "default";
    if (!a[RTA_DST] && rtm->rtm_dst_len) {
      unmovable.push_back("malformed");
    }
    r.gateway = Ip(family, a[RTA_GATEWAY]);
    r.prefsrc = Ip(family, a[RTA_PREFSRC]);
    r.metric = AttrValue<uint32_t>(a[RTA_PRIORITY]).value_or(0);
    r.scope = rtm->rtm_scope;
    r.protocol = rtm->rtm_protocol;
    r.type = rtm->rtm_type;
    for (size_t i = 0; i < unmovable.size(); i++) {
      r.unmovable += (i ? "," : "") + unmovable[i];
    }
    bond.routes.push_back(r);
  }
}

void ReadNeighbours(agent::Rtnl& rtnl, int family, LinuxBond& bond,
                    Status& status) {
  auto msgs = rtnl.Dump(RTM_GETNEIGH, family);
  if (!msgs.ok()) {
    status = msgs.status();
    return;
  }
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWNEIGH) continue;
    auto* nd = static_cast<const struct ndmsg*>(NLMSG_DATA(h));
    if (nd->ndm_family != family || nd->ndm_ifindex != bond.ifindex ||
        (nd->ndm_state & NUD_NOARP)) {
      continue;
    }
    auto a = ParseAttrs(h, sizeof *nd, NDA_MAX);
    BondNeighbour n;
    n.family = family == AF_INET ? 4 : 6;
    n.ip = Ip(family, a[NDA_DST]);
    if (n.ip.empty()) continue;
    n.mac = Mac(a[NDA_LLADDR]);
    n.state = nd->ndm_state;
    bond.neighbours.push_back(n);
  }
}

// --- text -------------------------------------------------------------------

// "key=value" words of a record line; "-" stands for an empty value.
class Record {
 public:
  explicit Record(std::string kind) : line_(std::move(kind)) {}
  Record& operator()(const std::string& key, const std::string& value) {
    line_ += " " + key + "=" + (value.empty() ? "-" : value);
    return *this;
  }
  Record& operator()(const std::string& key, uint64_t value) {
    return (*this)(key, std::to_string(value));
  }
  std::string line() const { return line_ + "\n"; }

 private:
  std::string line_;
};

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The options as "name=value" words (Serialize's and Snapshot's).
Record OptionRecord(const BondOptions& o) {
  Record r("options");
  r("mode", o.mode)("miimon", o.miimon)("updelay", o.updelay)(
      "downdelay", o.downdelay)("peer_notify_delay", o.peer_notify_delay)(
      "use_carrier", o.use_carrier)("arp_interval", o.arp_interval)(
      "arp_ip_target", JoinWords(o.arp_ip_targets, ","))(
      "arp_validate", o.arp_validate)("arp_all_targets", o.arp_all_targets)(
      "primary", o.primary)("primary_reselect", o.primary_reselect)(
      "fail_over_mac", o.fail_over_mac)("xmit_hash_policy",
                                        o.xmit_hash_policy)(
      "resend_igmp", o.resend_igmp)("num_grat_arp", o.num_peer_notif)(
      "all_slaves_active", o.all_slaves_active)("min_links", o.min_links)(
      "lp_interval", o.lp_interval)("packets_per_slave", o.packets_per_slave)(
      "lacp_rate", o.lacp_rate)("ad_select", o.ad_select)(
      "ad_actor_sys_prio", o.ad_actor_sys_prio)("ad_user_port_key",
                                                o.ad_user_port_key)(
      "ad_actor_system", o.ad_actor_system)("tlb_dynamic_lb",
                                            o.tlb_dynamic_lb);
  return r;
}

std::string AddressLine(const BondAddress& a) {
  return Record("address")("family", a.family)("ip", a.ip)(
             "prefix", a.prefix_len)("broadcast", a.broadcast)(
             "scope", a.scope)("label", a.label)("noprefixroute",
                                                 a.noprefixroute)
      .line();
}

std::string RouteLine(const BondRoute& r) {
  return Record("route")("family", r.family)("table", r.table)("dst", r.dst)(
             "gateway", r.gateway)("prefsrc", r.prefsrc)("metric", r.metric)(
             "scope", r.scope)("protocol", r.protocol)("type", r.type)(
             "unmovable", r.unmovable)
      .line();
}

std::string NeighbourLine(const BondNeighbour& n) {
  return Record("neighbour")("family", n.family)("ip", n.ip)("mac", n.mac)(
             "state", n.state)
      .line();
}

std::string UpperLine(const BondUpper& u) {
  return Record("upper")("name", u.name)("kind", u.kind)("vlan", u.vlan_id)(
             "master", u.master)
      .line();
}

}  // namespace

std::string BondModeName(uint8_t mode) {
  static const char* const kNames[] = {"balance-rr",  "active-backup",
                                       "balance-xor", "broadcast",
                                       "802.3ad",     "balance-tlb",
                                       "balance-alb"};
  return Named(kNames, mode);
}

std::string XmitHashPolicyName(uint8_t policy) {
  static const char* const kNames[] = {"layer2",   "layer3+4", "layer2+3",
                                       "encap2+3", "encap3+4", "vlan+srcmac"};
  return Named(kNames, policy);
}

std::string LacpRateName(uint8_t rate) {
  static const char* const kNames[] = {"slow", "fast"};
  return Named(kNames, rate);
}

std::string AdSelectName(uint8_t select) {
  static const char* const kNames[] = {"stable", "bandwidth", "count"};
  return Named(kNames, select);
}

std::string PrimaryReselectName(uint8_t reselect) {
  static const char* const kNames[] = {"always", "better", "failure"};
  return Named(kNames, reselect);
}

std::string FailOverMacName(uint8_t fail_over_mac) {
  static const char* const kNames[] = {"none", "active", "follow"};
  return Named(kNames, fail_over_mac);
}

std::string ArpValidateName(uint32_t validate) {
  static const char* const kNames[] = {"none",          "active",
                                       "backup",        "all",
                                       "filter",        "filter_active",
                                       "filter_backup"};
  return Named(kNames, validate);
}

std::string ArpAllTargetsName(uint32_t all_targets) {
  static const char* const kNames[] = {"any", "all"};
  return Named(kNames, all_targets);
}

std::string LinuxBond::ActiveMember() const {
  for (const BondMember& m : members) {
    if (m.active) return m.name;
  }
  return "";
}

std::vector<BondNeighbour> LinuxBond::PermanentNeighbours() const {
  std::vector<BondNeighbour> out;
  for (const BondNeighbour& n : neighbours) {
    if (n.state & NUD_PERMANENT) out.push_back(n);
  }
  return out;
}

Result<bool> NetdevExists(const std::string& name) {
  Result<agent::Rtnl> rtnl = agent::Rtnl::Open();
  if (!rtnl.ok()) return rtnl.status();
  auto links = rtnl->Links();
  if (!links.ok()) return links.status();
  for (const agent::HostLink& l : *links) {
    if (l.name == name) return true;
  }
  return false;
}

Result<LinuxBond> ReadLinuxBond(const std::string& name) {
  Result<agent::Rtnl> rtnl = agent::Rtnl::Open();
  if (!rtnl.ok()) return rtnl.status();
  auto msgs = rtnl->Dump(RTM_GETLINK, AF_UNSPEC);
  if (!msgs.ok()) return msgs.status();
  std::vector<Link> links;
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type == RTM_NEWLINK) links.push_back(ReadLink(h));
  }
  auto it = std::find_if(links.begin(), links.end(),
                         [&](const Link& l) { return l.name == name; });
  if (it == links.end()) {
    return Status::NotFound("there is no network device \"" + name + "\"");
  }
  if (it->kind != "bond") {
    return Status::InvalidArgument(
        "\"" + name + "\" is not a Linux bond (" +
        (it->kind.empty() ? std::string("a device of no kind")
                          : "kind " + it->kind) +
        ")");
  }
  const Link& b = *it;
  LinuxBond bond;
  bond.name = b.name;
  bond.ifindex = b.ifindex;
  bond.mtu = b.mtu;
  bond.mac = b.mac;
  bond.up = b.flags & IFF_UP;
  bond.options = b.bond;
  for (const Link& l : links) {
    if (l.ifindex == b.primary) bond.options.primary = l.name;
    if (l.master == b.ifindex) {
      bond.members.push_back(
          {l.name, l.ifindex, l.mtu, l.ifindex == b.active_slave});
    }
    if (l.ifindex == b.master) {
      bond.uppers.push_back({l.name, l.kind, 0, true});
    } else if (l.ifindex != b.ifindex && l.link == b.ifindex &&
               l.master != b.ifindex) {
      bond.uppers.push_back({l.name, l.kind, l.vlan_id, false});
    }
  }
  // The active member first: enslaved first again, it is active again.
  std::stable_sort(bond.members.begin(), bond.members.end(),
                   [](const BondMember& x, const BondMember& y) {
                     return x.active > y.active;
                   });
  Status status = Status::OK();
  for (int family : {AF_INET, AF_INET6}) {
    ReadAddresses(*rtnl, family, bond, status);
    ReadRoutes(*rtnl, family, bond, status);
    ReadNeighbours(*rtnl, family, bond, status);
    if (!status.ok()) return status;
  }
  return bond;
}

std::string Snapshot(const LinuxBond& bond) {
  std::string out = Record("bond")("name", bond.name)("mtu", bond.mtu)(
                        "mac", bond.mac)("up", bond.up)
                        .line();
  out += OptionRecord(bond.options).line();
  std::vector<std::string> lines;
  for (const BondMember& m : bond.members) {
    lines.push_back(Record("member")("name", m.name)("mtu", m.mtu).line());
  }
  std::sort(lines.begin(), lines.end());
  for (const BondAddress& a : bond.addresses) lines.push_back(AddressLine(a));
  std::vector<std::string> sorted;
  for (const BondRoute& r : bond.routes) sorted.push_back(RouteLine(r));
  for (const BondNeighbour& n : bond.PermanentNeighbours()) {
    sorted.push_back(NeighbourLine(n));
  }
  for (const BondUpper& u : bond.uppers) sorted.push_back(UpperLine(u));
  std::sort(sorted.begin(), sorted.end());
  for (const std::string& l : lines) out += l;
  for (const std::string& l : sorted) out += l;
  return out;
}

std::string Serialize(const LinuxBond& bond) {
  std::string out = Record("bond")("name", bond.name)(
                        "ifindex", bond.ifindex)("mtu", bond.mtu)(
                        "mac", bond.mac)("up", bond.up)
                        .line();
  out += OptionRecord(bond.options).line();
  for (const BondMember& m : bond.members) {
    out += Record("member")("name", m.name)("ifindex", m.ifindex)(
               "mtu", m.mtu)("active", m.active)
               .line();
  }
  for (const BondAddress& a : bond.addresses) out += AddressLine(a);
  for (const BondRoute& r : bond.routes) out += RouteLine(r);
  for (const BondNeighbour& n : bond.neighbours) out += NeighbourLine(n);
  for (const BondUpper& u : bond.uppers) out += UpperLine(u);
  return out;
}

namespace {

// The fields of one record line, checked as they are taken.
class Fields {
 public:
  Fields(const std::vector<std::string>& words, int line_no)
      : line_no_(line_no) {
    for (size_t i = 1; i < words.size(); i++) {
      size_t eq = words[i].find('=');
      if (eq == std::string::npos) {
        Fail("\"" + words[i] + "\" is not key=value");
        continue;
      }
      std::string value = words[i].substr(eq + 1);
      values_[words[i].substr(0, eq)] = value == "-" ? "" : value;
    }
  }
  std::string Text(const std::string& key) {
    auto it = values_.find(key);
    if (it == values_.end()) {
      Fail("no " + key);
      return "";
    }
    return it->second;
  }
  template <typename T>
  T Number(const std::string& key) {
    std::string text = Text(key);
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end || errno ||
        v > static_cast<unsigned long long>(std::numeric_limits<T>::max())) {
      Fail(key + "=" + text + " is not a number of its range");
      return T{};
    }
    return static_cast<T>(v);
  }
  const std::string& error() const { return error_; }

 private:
  void Fail(const std::string& what) {
    if (error_.empty()) error_ = "line " + std::to_string(line_no_) + ": " + what;
  }
  std::map<std::string, std::string> values_;
  int line_no_;
  std::string error_;
};

}  // namespace

Result<LinuxBond> Deserialize(std::string_view text) {
  LinuxBond bond;
  bool have_bond = false;
  int line_no = 0;
  for (const std::string& line : Split(text, '\n')) {
    line_no++;
    std::vector<std::string> words = Split(line, ' ');
    if (words.empty() || words[0][0] == '#') continue;
    Fields f(words, line_no);
    const std::string& kind = words[0];
    if (kind == "bond") {
      bond.name = f.Text("name");
      bond.ifindex = f.Number<int>("ifindex");
      bond.mtu = f.Number<uint32_t>("mtu");
      bond.mac = f.Text("mac");
      bond.up = f.Number<uint8_t>("up");
      have_bond = true;
    } else if (kind == "options") {
      BondOptions& o = bond.options;
      o.mode = f.Number<uint8_t>("mode");
      o.miimon = f.Number<uint32_t>("miimon");
      o.updelay = f.Number<uint32_t>("updelay");
      o.downdelay = f.Number<uint32_t>("downdelay");
      o.peer_notify_delay = f.Number<uint32_t>("peer_notify_delay");
      o.use_carrier = f.Number<uint8_t>("use_carrier");
      o.arp_interval = f.Number<uint32_t>("arp_interval");
      o.arp_ip_targets = Split(f.Text("arp_ip_target"), ',');
      o.arp_validate = f.Number<uint32_t>("arp_validate");
      o.arp_all_targets = f.Number<uint32_t>("arp_all_targets");
      o.primary = f.Text("primary");
      o.primary_reselect = f.Number<uint8_t>("primary_reselect");
      o.fail_over_mac = f.Number<uint8_t>("fail_over_mac");
      o.xmit_hash_policy = f.Number<uint8_t>("xmit_hash_policy");
      o.resend_igmp = f.Number<uint32_t>("resend_igmp");
      o.num_peer_notif = f.Number<uint8_t>("num_grat_arp");
      o.all_slaves_active = f.Number<uint8_t>("all_slaves_active");
      o.min_links = f.Number<uint32_t>("min_links");
      o.lp_interval = f.Number<uint32_t>("lp_interval");
      o.packets_per_slave = f.Number<uint32_t>("packets_per_slave");
      o.lacp_rate = f.Number<uint8_t>("lacp_rate");
      o.ad_select = f.Number<uint8_t>("ad_select");
      o.ad_actor_sys_prio = f.Number<uint16_t>("ad_actor_sys_prio");
      o.ad_user_port_key = f.Number<uint16_t>("ad_user_port_key");
      o.ad_actor_system = f.Text("ad_actor_system");
      o.tlb_dynamic_lb = f.Number<uint8_t>("tlb_dynamic_lb");
    } else if (kind == "member") {
      bond.members.push_back({f.Text("name"), f.Number<int>("ifindex"),
                              f.Number<uint32_t>("mtu"),
                              f.Number<uint8_t>("active") != 0});
    } else if (kind == "address") {
      BondAddress a;
      a.family = f.Number<uint8_t>("family");
      a.ip = f.Text("ip");
      a.prefix_len = f.Number<uint8_t>("prefix");
      a.broadcast = f.Text("broadcast");
      a.scope = f.Number<uint8_t>("scope");
      a.label = f.Text("label");
      a.noprefixroute = f.Number<uint8_t>("noprefixroute");
      bond.addresses.push_back(a);
    } else if (kind == "route") {
      BondRoute r;
      r.family = f.Number<uint8_t>("family");
      r.table = f.Number<uint32_t>("table");
      r.dst = f.Text("dst");
      r.gateway = f.Text("gateway");
      r.prefsrc = f.Text("prefsrc");
      r.metric = f.Number<uint32_t>("metric");
      r.scope = f.Number<uint8_t>("scope");
      r.protocol = f.Number<uint8_t>("protocol");
      r.type = f.Number<uint8_t>("type");
      r.unmovable = f.Text("unmovable");
      bond.routes.push_back(r);
    } else if (kind == "neighbour") {
      bond.neighbours.push_back({f.Number<uint8_t>("family"), f.Text("ip"),
                                 f.Text("mac"), f.Number<uint16_t>("state")});
    } else if (kind == "upper") {
      bond.uppers.push_back({f.Text("name"), f.Text("kind"),
                             f.Number<uint16_t>("vlan"),
                             f.Number<uint8_t>("master") != 0});
    } else {
      return Status::InvalidArgument("line " + std::to_string(line_no) +
                                     ": unknown record \"" + kind + "\"");
    }
    if (!f.error().empty()) return Status::InvalidArgument(f.error());
  }
  if (!have_bond || bond.name.empty()) {
    return Status::InvalidArgument("no \"bond\" record");
  }
  return bond;
}

}  // namespace rdma_bond::migrate
