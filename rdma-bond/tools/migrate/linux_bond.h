// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// LinuxBond: a live Linux bond as ovs-rdma-bond-migrate sees it, read from
// the kernel through rtnetlink: its options (mode, monitoring, primary,
// LACP), its members, its MTU and MAC, and what lives on it (addresses,
// routes, permanent neighbours, upper devices).
//
// It is three things at once:
//   - what `plan` shows and maps to an OVS bond (migration_plan.h);
//   - the rollback point: `apply` saves it (Serialize()) before touching
//     anything, and the rollback and `revert` rebuild the bond from it;
//   - the proof that they did: Snapshot() is its text without what the
//     kernel chooses by itself (ifindexes, the active member, dynamic
//     neighbours), compared before and after.
//
// Values are kept as the kernel's numbers and text ("10.79.0.1", MACs in
// lower case): nothing here interprets them beyond naming.
//
// Thread-safety: plain values; ReadLinuxBond() uses its own socket.

#ifndef RDMA_BOND_TOOLS_MIGRATE_LINUX_BOND_H_
#define RDMA_BOND_TOOLS_MIGRATE_LINUX_BOND_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/status.h"

namespace rdma_bond::migrate {

// Bond modes (linux/if_bonding.h BOND_MODE_*).
inline constexpr uint8_t kModeRoundRobin = 0;
inline constexpr uint8_t kModeActiveBackup = 1;
inline constexpr uint8_t kModeXor = 2;
inline constexpr uint8_t kModeBroadcast = 3;
inline constexpr uint8_t kMode8023ad = 4;
inline constexpr uint8_t kModeTlb = 5;
inline constexpr uint8_t kModeAlb = 6;

// The names `ip link` and /sys/class/net/BOND/bonding use; the number
// itself for one it does not know.
std::string BondModeName(uint8_t mode);
std::string XmitHashPolicyName(uint8_t policy);
std::string LacpRateName(uint8_t rate);
std::string AdSelectName(uint8_t select);
std::string PrimaryReselectName(uint8_t reselect);
std::string FailOverMacName(uint8_t fail_over_mac);
std::string ArpValidateName(uint32_t validate);
std::string ArpAllTargetsName(uint32_t all_targets);

// The bond's options (IFLA_BOND_*), with the kernel's defaults.
struct BondOptions {
  uint8_t mode = kModeRoundRobin;
  uint32_t miimon = 0;            // Milliseconds; 0: no MII monitoring.
  uint32_t updelay = 0;           // Milliseconds.
  uint32_t downdelay = 0;         // Milliseconds.
  uint32_t peer_notify_delay = 0; // Milliseconds.
  uint8_t use_carrier = 1;
  uint32_t arp_interval = 0;      // Milliseconds; 0: no ARP monitoring.
  std::vector<std::string> arp_ip_targets;
  uint32_t arp_validate = 0;
  uint32_t arp_all_targets = 0;
  std::string primary;            // Member name; "" none.
  uint8_t primary_reselect = 0;
  uint8_t fail_over_mac = 0;
  uint8_t xmit_hash_policy = 0;
  uint32_t resend_igmp = 1;
  uint8_t num_peer_notif = 1;     // num_grat_arp.
  uint8_t all_slaves_active = 0;
  uint32_t min_links = 0;
  uint32_t lp_interval = 1;
  uint32_t packets_per_slave = 1;
  uint8_t lacp_rate = 0;          // 0 slow, 1 fast.
  uint8_t ad_select = 0;
  uint16_t ad_actor_sys_prio = 65535;
  uint16_t ad_user_port_key = 0;
  std::string ad_actor_system;    // MAC; "" = the bond's own.
  uint8_t tlb_dynamic_lb = 1;
  friend bool operator==(const BondOptions&, const BondOptions&) = default;
};

// A member (slave) of the bond.
struct BondMember {
  std::string name;
  int ifindex = 0;
  uint32_t mtu = 0;
  bool active = false;            // The bond's active slave now.
  friend bool operator==(const BondMember&, const BondMember&) = default;
};

// An address on the bond (IPv4, or a permanent IPv6 address other than a
// link-local one: those and autoconfigured ones come back by themselves).
struct BondAddress {
  int family = 4;                 // 4 or 6.
  std::string ip;
  uint8_t prefix_len = 0;
  std::string broadcast;          // IPv4; "" none.
  uint8_t scope = 0;              // RT_SCOPE_*.
  std::string label;              // IPv4; "" when it is the bond's name.
  bool noprefixroute = false;
  friend bool operator==(const BondAddress&, const BondAddress&) = default;
};

// A route through the bond (one next hop, out of the bond) that the
// kernel did not make from an address.
struct BondRoute {
  int family = 4;
  uint32_t table = 254;           // RT_TABLE_MAIN.
  std::string dst = "default";    // "default" or "A/L".
  std::string gateway;            // "" none.
  std::string prefsrc;            // "" none.
  uint32_t metric = 0;
  uint8_t scope = 0;
  uint8_t protocol = 0;
  uint8_t type = 1;               // RTN_UNICAST.
  // What it has that cannot be moved (several next hops, metrics, an
  // encapsulation ...): the plan refuses the migration while it exists.
  std::string unmovable;
  friend bool operator==(const BondRoute&, const BondRoute&) = default;
};

// A neighbour entry on the bond.
struct BondNeighbour {
  int family = 4;
  std::string ip;
  std::string mac;                // "" none.
  uint16_t state = 0;             // NUD_*.
  friend bool operator==(const BondNeighbour&, const BondNeighbour&) = default;
};

// A device stacked on the bond (a VLAN, a macvlan ...) or one the bond is
// enslaved to (a Linux bridge).
struct BondUpper {
  std::string name;
  std::string kind;               // "vlan", "macvlan", "bridge" ...
  uint16_t vlan_id = 0;
  bool master = false;            // The bond is its port.
  friend bool operator==(const BondUpper&, const BondUpper&) = default;
};

struct LinuxBond {
  std::string name;
  int ifindex = 0;
  uint32_t mtu = 1500;
  std::string mac;
  bool up = false;
  BondOptions options;
  std::vector<BondMember> members;      // Active first, then by ifindex.
  std::vector<BondAddress> addresses;   // In the kernel's order.
  std::vector<BondRoute> routes;
  std::vector<BondNeighbour> neighbours;  // All of them (see Permanent()).
  std::vector<BondUpper> uppers;
  friend bool operator==(const LinuxBond&, const LinuxBond&) = default;

  // The name of the active member ("" none).
  std::string ActiveMember() const;
  // The permanent neighbours (the ones a migration moves).
  std::vector<BondNeighbour> PermanentNeighbours() const;
};

// Reads bond 'name' from the kernel.  NotFound when there is no such
// device, InvalidArgument when it is not a bond.
Result<LinuxBond> ReadLinuxBond(const std::string& name);

// True if a network device 'name' exists.
Result<bool> NetdevExists(const std::string& name);

// The text that must read the same before a migration and after its
// rollback or revert: everything but ifindexes, the active member and
// dynamic neighbours, one fact a line, sorted where the kernel's order
// carries no meaning.
std::string Snapshot(const LinuxBond& bond);

// The rollback point's form on disk: "key value ..." lines, one field a
// line, that Deserialize() reads back to an equal LinuxBond.
std::string Serialize(const LinuxBond& bond);
Result<LinuxBond> Deserialize(std::string_view text);

}  // namespace rdma_bond::migrate

#endif  // RDMA_BOND_TOOLS_MIGRATE_LINUX_BOND_H_
