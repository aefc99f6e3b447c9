// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Rtnl: the little of rtnetlink (NETLINK_ROUTE) that the agent's RoCE
// plumbing needs (roce_plumbing.h): read the host's links, IPv4 addresses,
// IPv4 neighbours and IPv4 policy rules; add and delete them; and hear
// when any of them change.
//
// What it reads is plain values (HostLink, HostAddress, HostNeighbour,
// HostRule), so that the plumbing's planning is a pure function that
// tests feed with made-up host states.  Each value knows its `ip`
// command (Describe...()), which is what --dry-run prints and what the
// logs say was done.
//
// Thread-safety: an Rtnl is used by one thread.

#ifndef RDMA_BOND_AGENT_RTNL_H_
#define RDMA_BOND_AGENT_RTNL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"

namespace rdma_bond::agent {

// A network interface.
struct HostLink {
  int ifindex = 0;
  std::string name;
};

// An IPv4 address on an interface.
struct HostAddress {
  int ifindex = 0;
  IpAddress ip;
  uint8_t prefix_len = 32;
  uint8_t proto = 0;              // IFA_PROTO: who added it (0 unknown).
  // IFA_CACHEINFO's cstamp: when it was added, in hundredths of a second
  // since boot (0 if unknown).
  uint32_t created_cs = 0;
  friend bool operator==(const HostAddress&, const HostAddress&) = default;
};

// An IPv4 neighbour (ARP) entry.
struct HostNeighbour {
  int ifindex = 0;
  IpAddress ip;
  std::optional<MacAddress> mac;
  uint16_t state = 0;             // NUD_* bits.
  uint8_t proto = 0;              // NDA_PROTOCOL: who added it.
  friend bool operator==(const HostNeighbour&, const HostNeighbour&) =
      default;
};

// An IPv4 policy routing rule, with the selectors the plumbing uses.  A
// rule with any other selector (from, to, fwmark, ...) has 'other' set:
// the plumbing never takes it for one of its own.
struct HostRule {
  uint32_t priority = 0;
  uint32_t table = 0;             // RT_TABLE_LOCAL (255) = "lookup local".
  uint8_t action = 0;             // FR_ACT_TO_TBL (1), FR_ACT_BLACKHOLE (6).
  std::string iif;                // "" = any.
  std::string oif;                // "" = any.
  uint8_t ip_proto = 0;           // 0 = any.
  uint16_t dport = 0;             // 0 = any (a single port otherwise).
  uint8_t proto = 0;              // FRA_PROTOCOL: who added it.
  bool other = false;             // Has selectors not listed here.
  friend bool operator==(const HostRule&, const HostRule&) = default;
};

// An IPv4 route of one table (the plumbing's own table only: device
// routes to a prefix).
struct HostRoute {
  uint32_t table = 0;
  IpAddress dst;
  uint8_t dst_len = 0;
  int oif = 0;                    // RTA_OIF.
  uint8_t proto = 0;              // rtm_protocol: who added it.
  bool other = false;             // A gateway, several nexthops, a source...
  friend bool operator==(const HostRoute&, const HostRoute&) = default;
};

// NUD states (linux/neighbour.h), named here so that callers need not
// include the kernel's header.
inline constexpr uint16_t kNudIncomplete = 0x01;
inline constexpr uint16_t kNudReachable = 0x02;
inline constexpr uint16_t kNudStale = 0x04;
inline constexpr uint16_t kNudDelay = 0x08;
inline constexpr uint16_t kNudProbe = 0x10;
inline constexpr uint16_t kNudFailed = 0x20;
inline constexpr uint16_t kNudNoarp = 0x40;
inline constexpr uint16_t kNudPermanent = 0x80;

// Rule actions and the local table (linux/fib_rules.h, linux/rtnetlink.h).
inline constexpr uint8_t kRuleToTable = 1;
inline constexpr uint8_t kRuleBlackhole = 6;
inline constexpr uint32_t kTableLocal = 255;
// RTPROT_KERNEL: the protocol of the rules the kernel makes itself.
inline constexpr uint8_t kProtoKernel = 2;

// The `ip` command that makes (add) or removes (!add) the object.
std::string DescribeAddress(const HostAddress& address,
                            const std::string& ifname, bool add);
std::string DescribeNeighbour(const HostNeighbour& neighbour,
                              const std::string& ifname, bool add);
std::string DescribeRule(const HostRule& rule, bool add);
std::string DescribeRoute(const HostRoute& route, const std::string& ifname,
                          bool add);
// "reachable", "permanent", "stale|delay"...
std::string NudStateName(uint16_t state);

class Rtnl {
 public:
  // Opens the request socket, and the notification socket subscribed to
  // links, IPv4 addresses, neighbours and rules.
  static Result<Rtnl> Open();
  Rtnl(Rtnl&&) noexcept;
  Rtnl& operator=(Rtnl&&) noexcept;
  ~Rtnl();

  Result<std::vector<HostLink>> Links();
  Result<std::vector<HostAddress>> Addresses();
  Result<std::vector<HostNeighbour>> Neighbours();
  Result<std::vector<HostRule>> Rules();
  // The IPv4 routes of table 'table'.
  Result<std::vector<HostRoute>> Routes(uint32_t table);

  Status AddAddress(const HostAddress& address);
  Status DeleteAddress(const HostAddress& address);
  // Adds or replaces the entry (NLM_F_REPLACE).
  Status SetNeighbour(const HostNeighbour& neighbour);
  Status DeleteNeighbour(const HostNeighbour& neighbour);
  // Makes the kernel resolve 'ip' on 'ifindex' (NTF_USE: an ARP request
  // from that interface, as if a packet were waiting for it).
  Status ResolveNeighbour(int ifindex, const IpAddress& ip);
  Status AddRule(const HostRule& rule);
  Status DeleteRule(const HostRule& rule);
  // Adds a device route (scope link) next to any of the same prefix in
  // its table (NLM_F_APPEND: one per member); deletes the one of its
  // device.
  Status AddRoute(const HostRoute& route);
  Status DeleteRoute(const HostRoute& route);

  // The descriptor that becomes readable when the kernel announces a
  // change; DrainNotifications() reads them all and says whether any
  // came (or the socket overflowed, which means: look again).
  int notify_fd() const { return notify_fd_; }
  bool DrainNotifications();

  // Every message of a dump (RTM_GETLINK, RTM_GETADDR, ...) of 'family',
  // whole (header included); for readers of what the methods above do
  // not parse (ovs-rdma-bond-migrate's Linux bonds).  An error when the
  // kernel ends the dump with one.
  Result<std::vector<std::vector<uint8_t>>> Dump(uint16_t type,
                                                 uint8_t family);

 private:
  Rtnl(int request_fd, int notify_fd);
  Status Transact(std::vector<uint8_t> message, const std::string& what);

  int request_fd_ = -1;
  int notify_fd_ = -1;
  uint32_t seq_ = 0;
};

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_RTNL_H_
