// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/rtnl.h"

#include "agent/netlink_attr.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace rdma_bond::agent {
namespace {

// The largest message the kernel sends us in one datagram (a dump part).
constexpr size_t kReceiveBuffer = 65536;

// Builds one request: header, fixed part, attributes.
class Message {
 public:
  Message(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_HDRLEN);
    auto* h = header();
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
  }
  template <typename T>
  T* Fixed() {
    size_t at = buf_.size();
    buf_.resize(at + NLMSG_ALIGN(sizeof(T)));
    return reinterpret_cast<T*>(buf_.data() + at);
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    size_t at = buf_.size();
    buf_.resize(at + RTA_ALIGN(RTA_LENGTH(len)));
    auto* rta = reinterpret_cast<struct rtattr*>(buf_.data() + at);
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    std::memcpy(RTA_DATA(rta), data, len);
  }
  template <typename T>
  void Attr(uint16_t type, T value) {
    Attr(type, &value, sizeof value);
  }
  void AttrString(uint16_t type, const std::string& s) {
    Attr(type, s.c_str(), s.size() + 1);
  }
  std::vector<uint8_t> Finish(uint32_t seq) {
    header()->nlmsg_len = buf_.size();
    header()->nlmsg_seq = seq;
    return std::move(buf_);
  }

 private:
  struct nlmsghdr* header() {
    return reinterpret_cast<struct nlmsghdr*>(buf_.data());
  }
  std::vector<uint8_t> buf_;
};

IpAddress Ipv4(const struct rtattr* rta) {
  IpAddress ip;
  ip.version = 4;
  if (rta && RTA_PAYLOAD(rta) >= 4) std::memcpy(ip.bytes.data(), RTA_DATA(rta), 4);
  return ip;
}

}  // namespace

std::string NudStateName(uint16_t state) {
  static const struct {
    uint16_t bit;
    const char* name;
  } kNames[] = {{kNudIncomplete, "incomplete"}, {kNudReachable, "reachable"},
                {kNudStale, "stale"},           {kNudDelay, "delay"},
                {kNudProbe, "probe"},           {kNudFailed, "failed"},
                {kNudNoarp, "noarp"},           {kNudPermanent, "permanent"}};
  std::string out;
  for (const auto& n : kNames) {
    if (state & n.bit) out += std::string(out.empty() ? "" : "|") + n.name;
  }
  return out.empty() ? "none" : out;
}

std::string DescribeAddress(const HostAddress& a, const std::string& ifname,
                            bool add) {
  return std::string("ip address ") + (add ? "add " : "del ") + ToString(a.ip) +
         "/" + std::to_string(a.prefix_len) + " dev " + ifname +
         (add && a.proto ? " proto " + std::to_string(a.proto) : "");
}

std::string DescribeNeighbour(const HostNeighbour& n, const std::string& ifname,
                              bool add) {
  std::string out = std::string("ip neigh ") + (add ? "replace " : "del ") +
                    ToString(n.ip) + " dev " + ifname;
  if (add) {
    if (n.mac) out += " lladdr " + ToString(*n.mac);
    out += " nud " + NudStateName(n.state);
    if (n.proto) out += " proto " + std::to_string(n.proto);
  }
  return out;
}

std::string DescribeRule(const HostRule& r, bool add) {
  std::string out = std::string("ip rule ") + (add ? "add" : "del") +
                    " pref " + std::to_string(r.priority);
  if (!r.iif.empty()) out += " iif " + r.iif;
  if (!r.oif.empty()) out += " oif " + r.oif;
  if (r.ip_proto) out += " ipproto " + std::to_string(r.ip_proto);
  if (r.dport) out += " dport " + std::to_string(r.dport);
  if (r.action == kRuleBlackhole) {
    out += " blackhole";
  } else {
    out += r.table == kTableLocal ? std::string(" lookup local")
                                  : " lookup " + std::to_string(r.table);
  }
  if (add && r.proto) {
    out += r.proto == kProtoKernel ? std::string(" proto kernel")
                                   : " proto " + std::to_string(r.proto);
  }
  return out;
}

std::string DescribeRoute(const HostRoute& r, const std::string& ifname,
                          bool add) {
  std::string out = std::string("ip route ") + (add ? "append " : "del ") +
                    ToString(r.dst) + "/" + std::to_string(r.dst_len) +
                    " dev " + ifname + " table " + std::to_string(r.table);
  if (add) {
    if (r.proto) out += " proto " + std::to_string(r.proto);
    out += " scope link";
  }
  return out;
}

Rtnl::Rtnl(int request_fd, int notify_fd)
    : request_fd_(request_fd), notify_fd_(notify_fd) {}

Rtnl::Rtnl(Rtnl&& other) noexcept
    : request_fd_(std::exchange(other.request_fd_, -1)),
      notify_fd_(std::exchange(other.notify_fd_, -1)),
      seq_(other.seq_) {}

Rtnl& Rtnl::operator=(Rtnl&& other) noexcept {
  if (this != &other) {
    if (request_fd_ >= 0) close(request_fd_);
    if (notify_fd_ >= 0) close(notify_fd_);
    request_fd_ = std::exchange(other.request_fd_, -1);
    notify_fd_ = std::exchange(other.notify_fd_, -1);
    seq_ = other.seq_;
  }
  return *this;
}

Rtnl::~Rtnl() {
  if (request_fd_ >= 0) close(request_fd_);
  if (notify_fd_ >= 0) close(notify_fd_);
}

Result<Rtnl> Rtnl::Open() {
  int request = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (request < 0) return Status::FromErrno("socket(NETLINK_ROUTE)", errno);
  int notify = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                      NETLINK_ROUTE);
  if (notify < 0) {
    int err = errno;
    close(request);
    return Status::FromErrno("socket(NETLINK_ROUTE)", err);
  }
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_NEIGH |
                 RTMGRP_IPV4_RULE;
  if (bind(notify, reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0) {
    int err = errno;
    close(request);
    close(notify);
    return Status::FromErrno("bind(NETLINK_ROUTE groups)", err);
  }
  return Rtnl(request, notify);
}

bool Rtnl::DrainNotifications() {
  bool any = false;
  char buf[8192];
  for (;;) {
    ssize_t n = recv(notify_fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // ENOBUFS: notifications were lost; the caller looks again anyway.
    if (n < 0 && errno == ENOBUFS) {
      any = true;
      continue;
    }
    return any;
  }
}

Result<std::vector<std::vector<uint8_t>>> Rtnl::Dump(uint16_t type,
                                                     uint8_t family) {
  Message m(type, NLM_F_DUMP);
  // Every dump request starts with a struct whose first byte is the
  // family (rtgenmsg, ifaddrmsg, ndmsg, fib_rule_hdr).
  struct rtgenmsg* g = m.Fixed<struct rtgenmsg>();
  g->rtgen_family = family;
  const uint32_t seq = ++seq_;
  std::vector<uint8_t> req = m.Finish(seq);
  if (send(request_fd_, req.data(), req.size(), 0) < 0) {
    return Status::FromErrno("rtnetlink dump request", errno);
  }
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> buf(kReceiveBuffer);
  for (;;) {
    ssize_t n = recv(request_fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("rtnetlink dump", errno);
    }
    int len = n;
    for (auto* h = reinterpret_cast<struct nlmsghdr*>(buf.data());
         NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) {
        // A dump that failed part-way ends with the error in NLMSG_DONE.
        int error = 0;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof error)) {
          std::memcpy(&error, NLMSG_DATA(h), sizeof error);
        }
        if (error < 0) return Status::FromErrno("rtnetlink dump", -error);
        return out;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(h));
        return Status::FromErrno("rtnetlink dump", -e->error);
      }
      const auto* p = reinterpret_cast<const uint8_t*>(h);
      out.emplace_back(p, p + h->nlmsg_len);
    }
  }
}

Status Rtnl::Transact(std::vector<uint8_t> message, const std::string& what) {
  auto* h = reinterpret_cast<struct nlmsghdr*>(message.data());
  h->nlmsg_flags |= NLM_F_ACK;
  h->nlmsg_seq = ++seq_;
  if (send(request_fd_, message.data(), message.size(), 0) < 0) {
    return Status::FromErrno(what, errno);
  }
  std::vector<uint8_t> buf(kReceiveBuffer);
  for (;;) {
    ssize_t n = recv(request_fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(what, errno);
    }
    int len = n;
    for (auto* r = reinterpret_cast<struct nlmsghdr*>(buf.data());
         NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_seq != h->nlmsg_seq || r->nlmsg_type != NLMSG_ERROR) {
        continue;
      }
      int error = static_cast<struct nlmsgerr*>(NLMSG_DATA(r))->error;
      return error ? Status::FromErrno(what, -error) : Status::OK();
    }
  }
}

Result<std::vector<HostLink>> Rtnl::Links() {
  Result<std::vector<std::vector<uint8_t>>> msgs = Dump(RTM_GETLINK, AF_UNSPEC);
  if (!msgs.ok()) return msgs.status();
  std::vector<HostLink> links;
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWLINK) continue;
    auto* ifi = static_cast<const struct ifinfomsg*>(NLMSG_DATA(h));
    auto attrs = ParseAttrs(h, sizeof *ifi, IFLA_IFNAME);
    if (!attrs[IFLA_IFNAME]) continue;
    links.push_back({ifi->ifi_index,
                     std::string(static_cast<const char*>(
                         RTA_DATA(attrs[IFLA_IFNAME])))});
  }
  return links;
}

Result<std::vector<HostAddress>> Rtnl::Addresses() {
  Result<std::vector<std::vector<uint8_t>>> msgs = Dump(RTM_GETADDR, AF_INET);
  if (!msgs.ok()) return msgs.status();
  std::vector<HostAddress> out;
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWADDR) continue;
    auto* ifa = static_cast<const struct ifaddrmsg*>(NLMSG_DATA(h));
    if (ifa->ifa_family != AF_INET) continue;
    auto attrs = ParseAttrs(h, sizeof *ifa, IFA_PROTO);
    const struct rtattr* local =
        attrs[IFA_LOCAL] ? attrs[IFA_LOCAL] : attrs[IFA_ADDRESS];
    if (!local) continue;
    HostAddress a;
    a.ifindex = ifa->ifa_index;
    a.ip = Ipv4(local);
    a.prefix_len = ifa->ifa_prefixlen;
    a.proto = AttrValue<uint8_t>(attrs[IFA_PROTO]).value_or(0);
    if (auto ci = AttrValue<struct ifa_cacheinfo>(attrs[IFA_CACHEINFO])) {
      a.created_cs = ci->cstamp;
    }
    out.push_back(a);
  }
  return out;
}

Result<std::vector<HostNeighbour>> Rtnl::Neighbours() {
  Result<std::vector<std::vector<uint8_t>>> msgs = Dump(RTM_GETNEIGH, AF_INET);
  if (!msgs.ok()) return msgs.status();
  std::vector<HostNeighbour> out;
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWNEIGH) continue;
    auto* nd = static_cast<const struct ndmsg*>(NLMSG_DATA(h));
    if (nd->ndm_family != AF_INET) continue;
    auto attrs = ParseAttrs(h, sizeof *nd, NDA_PROTOCOL);
    if (!attrs[NDA_DST]) continue;
    HostNeighbour n;
    n.ifindex = nd->ndm_ifindex;
    n.ip = Ipv4(attrs[NDA_DST]);
    n.state = nd->ndm_state;
    if (attrs[NDA_LLADDR] && RTA_PAYLOAD(attrs[NDA_LLADDR]) == 6) {
      MacAddress mac;
      std::memcpy(mac.data(), RTA_DATA(attrs[NDA_LLADDR]), 6);
      n.mac = mac;
    }
    n.proto = AttrValue<uint8_t>(attrs[NDA_PROTOCOL]).value_or(0);
    out.push_back(n);
  }
  return out;
}

Result<std::vector<HostRule>> Rtnl::Rules() {
  Result<std::vector<std::vector<uint8_t>>> msgs = Dump(RTM_GETRULE, AF_INET);
  if (!msgs.ok()) return msgs.status();
  std::vector<HostRule> out;
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWRULE) continue;
    auto* frh = static_cast<const struct fib_rule_hdr*>(NLMSG_DATA(h));
    if (frh->family != AF_INET) continue;
    auto attrs = ParseAttrs(h, sizeof *frh, FRA_MAX);
    HostRule r;
    r.priority = AttrValue<uint32_t>(attrs[FRA_PRIORITY]).value_or(0);
    r.table = AttrValue<uint32_t>(attrs[FRA_TABLE]).value_or(frh->table);
    r.action = frh->action;
    if (attrs[FRA_IIFNAME]) {
      r.iif = static_cast<const char*>(RTA_DATA(attrs[FRA_IIFNAME]));
    }
    if (attrs[FRA_OIFNAME]) {
      r.oif = static_cast<const char*>(RTA_DATA(attrs[FRA_OIFNAME]));
    }
    r.ip_proto = AttrValue<uint8_t>(attrs[FRA_IP_PROTO]).value_or(0);
    if (auto range = AttrValue<struct fib_rule_port_range>(
            attrs[FRA_DPORT_RANGE])) {
      r.dport = range->start == range->end ? range->start : 0;
      if (range->start != range->end) r.other = true;
    }
    r.proto = AttrValue<uint8_t>(attrs[FRA_PROTOCOL]).value_or(0);
    r.other = r.other || frh->src_len || frh->dst_len || frh->tos ||
              attrs[FRA_FWMARK] ||
              attrs[FRA_SPORT_RANGE] || attrs[FRA_UID_RANGE] ||
              attrs[FRA_L3MDEV] || attrs[FRA_GOTO] ||
              (frh->flags & FIB_RULE_INVERT);
    out.push_back(r);
  }
  return out;
}

namespace {

// An RTM_NEWADDR or RTM_DELADDR request for 'a'.
std::vector<uint8_t> AddressMessage(uint16_t type, uint16_t flags,
                                    const HostAddress& a) {
  Message m(type, flags);
  auto* ifa = m.Fixed<struct ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = a.prefix_len;
  ifa->ifa_index = a.ifindex;
  m.Attr(IFA_LOCAL, a.ip.bytes.data(), 4);
  m.Attr(IFA_ADDRESS, a.ip.bytes.data(), 4);
  if (type == RTM_NEWADDR && a.proto) m.Attr<uint8_t>(IFA_PROTO, a.proto);
  return m.Finish(0);
}

// An RTM_NEWNEIGH or RTM_DELNEIGH request for 'n' (state, address and
// protocol only when it makes an entry).
std::vector<uint8_t> NeighbourMessage(uint16_t type, uint16_t flags,
                                      uint8_t ndm_flags,
                                      const HostNeighbour& n) {
  Message m(type, flags);
  auto* nd = m.Fixed<struct ndmsg>();
  nd->ndm_family = AF_INET;
  nd->ndm_ifindex = n.ifindex;
  nd->ndm_state = n.state;
  nd->ndm_flags = ndm_flags;
  m.Attr(NDA_DST, n.ip.bytes.data(), 4);
  if (type == RTM_NEWNEIGH && n.mac) m.Attr(NDA_LLADDR, n.mac->data(), 6);
  if (type == RTM_NEWNEIGH && n.proto) m.Attr<uint8_t>(NDA_PROTOCOL, n.proto);
  return m.Finish(0);
}

}  // namespace

Status Rtnl::AddAddress(const HostAddress& a) {
  return Transact(AddressMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, a),
                  "adding address " + ToString(a.ip));
}

Status Rtnl::DeleteAddress(const HostAddress& a) {
  return Transact(AddressMessage(RTM_DELADDR, 0, a),
                  "deleting address " + ToString(a.ip));
}

Status Rtnl::SetNeighbour(const HostNeighbour& n) {
  return Transact(
      NeighbourMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, 0, n),
      "setting neighbour " + ToString(n.ip));
}

Status Rtnl::DeleteNeighbour(const HostNeighbour& n) {
  HostNeighbour match = n;
  match.state = 0;
  return Transact(NeighbourMessage(RTM_DELNEIGH, 0, 0, match),
                  "deleting neighbour " + ToString(n.ip));
}

Status Rtnl::ResolveNeighbour(int ifindex, const IpAddress& ip) {
  HostNeighbour n;
  n.ifindex = ifindex;
  n.ip = ip;
  n.state = NUD_NONE;
  return Transact(NeighbourMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE,
                                   NTF_USE, n),
                  "resolving " + ToString(ip));
}

namespace {

void PutRule(Message* m, const HostRule& r) {
  auto* frh = m->Fixed<struct fib_rule_hdr>();
  frh->family = AF_INET;
  frh->action = r.action;
  frh->table = r.table < 256 ? r.table : RT_TABLE_UNSPEC;
  m->Attr<uint32_t>(FRA_PRIORITY, r.priority);
  if (r.action == FR_ACT_TO_TBL) m->Attr<uint32_t>(FRA_TABLE, r.table);
  if (!r.iif.empty()) m->AttrString(FRA_IIFNAME, r.iif);
  if (!r.oif.empty()) m->AttrString(FRA_OIFNAME, r.oif);
  if (r.ip_proto) m->Attr<uint8_t>(FRA_IP_PROTO, r.ip_proto);
  if (r.dport) {
    struct fib_rule_port_range range = {r.dport, r.dport};
    m->Attr(FRA_DPORT_RANGE, range);
  }
  if (r.proto) m->Attr<uint8_t>(FRA_PROTOCOL, r.proto);
}

}  // namespace

Status Rtnl::AddRule(const HostRule& r) {
  Message m(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
  PutRule(&m, r);
  return Transact(m.Finish(0), "adding rule: " + DescribeRule(r, true));
}

Status Rtnl::DeleteRule(const HostRule& r) {
  Message m(RTM_DELRULE, 0);
  HostRule match = r;
  match.proto = 0;            // The kernel matches on what is given.
  PutRule(&m, match);
  return Transact(m.Finish(0), "deleting rule: " + DescribeRule(r, false));
}

Result<std::vector<HostRoute>> Rtnl::Routes(uint32_t table) {
  Result<std::vector<std::vector<uint8_t>>> msgs = Dump(RTM_GETROUTE, AF_INET);
  if (!msgs.ok()) return msgs.status();
  std::vector<HostRoute> out;
  for (const auto& raw : *msgs) {
    auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
    if (h->nlmsg_type != RTM_NEWROUTE) continue;
    auto* rtm = static_cast<const struct rtmsg*>(NLMSG_DATA(h));
    if (rtm->rtm_family != AF_INET) continue;
    auto attrs = ParseAttrs(h, sizeof *rtm, RTA_MAX);
    HostRoute r;
    r.table = AttrValue<uint32_t>(attrs[RTA_TABLE]).value_or(rtm->rtm_table);
    if (r.table != table) continue;
    r.dst = Ipv4(attrs[RTA_DST]);
    r.dst_len = rtm->rtm_dst_len;
    r.oif = AttrValue<uint32_t>(attrs[RTA_OIF]).value_or(0);
    r.proto = rtm->rtm_protocol;
    r.other = attrs[RTA_GATEWAY] || attrs[RTA_MULTIPATH] ||
              attrs[RTA_PREFSRC] || rtm->rtm_type != RTN_UNICAST;
    out.push_back(r);
  }
  return out;
}

namespace {

// An RTM_NEWROUTE or RTM_DELROUTE request for device route 'r'.
std::vector<uint8_t> RouteMessage(uint16_t type, uint16_t flags,
                                  const HostRoute& r) {
  Message m(type, flags);
  auto* rtm = m.Fixed<struct rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = r.dst_len;
  rtm->rtm_table = r.table < 256 ? r.table : RT_TABLE_UNSPEC;
  rtm->rtm_protocol = type == RTM_NEWROUTE ? r.proto : 0;
  rtm->rtm_scope = type == RTM_NEWROUTE ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
  rtm->rtm_type = type == RTM_NEWROUTE ? RTN_UNICAST : 0;
  m.Attr<uint32_t>(RTA_TABLE, r.table);
  m.Attr(RTA_DST, r.dst.bytes.data(), 4);
  m.Attr<uint32_t>(RTA_OIF, static_cast<uint32_t>(r.oif));
  return m.Finish(0);
}

}  // namespace

Status Rtnl::AddRoute(const HostRoute& r) {
  return Transact(RouteMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_APPEND, r),
                  "adding route " + ToString(r.dst) + "/" +
                      std::to_string(r.dst_len));
}

Status Rtnl::DeleteRoute(const HostRoute& r) {
  return Transact(RouteMessage(RTM_DELROUTE, 0, r),
                  "deleting route " + ToString(r.dst) + "/" +
                      std::to_string(r.dst_len));
}

}  // namespace rdma_bond::agent
