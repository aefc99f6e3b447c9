// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RdmaSysfs: which RDMA device, port and GID sit behind a bond member, read
// from sysfs.
//
// A bond member is a netdev ("eth1").  The RDMA device whose Ethernet port
// it is shows up in sysfs in one of three ways:
//
//   /sys/class/net/eth1/device/infiniband/mlx5_0
//       a physical RNIC: the netdev's PCI function also carries the RDMA
//       device;
//   /sys/class/infiniband/rxe0/parent              (contents "eth1")
//   /sys/class/infiniband/rxe0/ports/1/gid_attrs/ndevs/0  ("eth1")
//       a soft device (rdma_rxe, siw) layered on the netdev: it has no
//       device/infiniband link, but its GID table names the netdev.
//
// The port is the one whose GID table names the netdev (ndevs/<i>); for a
// device found through device/infiniband without such an entry, the
// netdev's dev_port + 1 if that port exists, else port 1.
//
// A RoCEv2 queue pair sends from one GID table entry: the index whose
//   gids/<i>            equals the local IP as a GID (IPv4-mapped
//                       ::ffff:a.b.c.d for IPv4),
//   gid_attrs/types/<i> is "RoCE v2" (the kernel keeps a RoCE v1 twin of
//                       every address: sending from it gives no UDP at all),
//   gid_attrs/ndevs/<i> is the netdev the address is configured on.
// An IP configured on an upper device of the member (the bond itself, a
// VLAN on it) appears with that upper device as ndev.  Any ndev is
// accepted, in this order of preference: the member itself, an upper
// device of the member (upper_* links, transitively), anything else; ties
// go to the lowest index.
//
// The sysfs root is configurable ("/sys" by default) so that tests can
// build a fake tree in a temporary directory.
//
// Thread-safety: an RdmaSysfs is immutable after construction; its methods
// only read files and may be called concurrently.  The free functions are
// pure.

#ifndef RDMA_BOND_RDMA_SYSFS_H_
#define RDMA_BOND_RDMA_SYSFS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

inline constexpr std::string_view kDefaultSysfsRoot = "/sys";

// gid_attrs/types/<i> of a RoCEv2 entry, and of a RoCE v1 (or IB) one.
inline constexpr std::string_view kGidTypeRoceV2 = "RoCE v2";
inline constexpr std::string_view kGidTypeRoceV1 = "IB/RoCE v1";

// A GID (an IPv6 address in network byte order).
using Gid = std::array<uint8_t, 16>;

// Parses the sysfs text of a GID: eight groups of four hex digits,
// "0000:0000:0000:0000:0000:ffff:0a00:0001" (one trailing newline allowed).
// InvalidArgument naming the text otherwise.
Result<Gid> ParseSysfsGid(std::string_view text);

// The sysfs text of 'gid' (lower-case, as the kernel prints it).
std::string FormatSysfsGid(const Gid& gid);

// The GID of a RoCEv2 address: an IPv6 address as is, an IPv4 address
// IPv4-mapped (::ffff:a.b.c.d).
Gid IpAddressToGid(const IpAddress& ip);

// The inverse: an IPv4-mapped GID gives the IPv4 address.
IpAddress GidToIpAddress(const Gid& gid);

// One RDMA device port: "rxe0" port 1.
struct RdmaPortRef {
  std::string device;
  uint32_t port = 1;
  friend bool operator==(const RdmaPortRef&, const RdmaPortRef&) = default;
};

// "rxe0:1".
std::string ToString(const RdmaPortRef& port);

// One populated entry of a port's GID table.
struct SysfsGid {
  uint32_t index = 0;
  Gid gid{};
  std::string type;                 // "RoCE v2", "IB/RoCE v1"; "" unknown.
  std::string ndev;                 // "" when the entry names no netdev.
};

// The RoCEv2 GID chosen for a local IP.
struct RoceGid {
  uint32_t index = 0;
  Gid gid{};
  std::string ndev;                 // The netdev the address is on.
};

class RdmaSysfs {
 public:
  // 'root' is where sysfs is mounted ("/sys", or a test's fake tree).
  explicit RdmaSysfs(std::string root = std::string(kDefaultSysfsRoot));

  const std::string& root() const { return root_; }

  // The RDMA device and port whose Ethernet port is 'netdev' (see the
  // file comment for the order of preference).  NotFound when the netdev
  // does not exist or no RDMA device is behind it (the message says how
  // to create an rxe device); IOError when sysfs cannot be read.
  Result<RdmaPortRef> FindRdmaPort(std::string_view netdev) const;

  // The RDMA device and port of PCI function 'pci' ("0000:03:00.0"): a
  // DPDK port's, whose name is no netdev (the table publishes its PCI
  // address, lib/rdma-bond-table.h).  The device under
  // /sys/bus/pci/devices/<pci>/infiniband; its port the one whose GID
  // table names the function's netdev when it has one (mlx5's bifurcated
  // driver keeps it), else the function's dev_port + 1, else 1.
  // InvalidArgument for what is no PCI address; NotFound when the function
  // or its RDMA device does not exist.
  Result<RdmaPortRef> FindRdmaPortByPci(std::string_view pci) const;

  // The RDMA port of a bond member: through 'netdev' (the kernel netdev
  // that carries its traffic, Member::Netdev()) when it is not empty, and
  // through 'pci' when that finds nothing or there is no netdev.  'name'
  // is the member's, for messages.
  Result<RdmaPortRef> FindMemberRdmaPort(std::string_view name,
                                         std::string_view netdev,
                                         std::string_view pci) const;

  // The populated (non-zero) GID table entries of 'port', by index.
  Result<std::vector<SysfsGid>> ReadGids(const RdmaPortRef& port) const;

  // The RoCEv2 GID of 'ip' on 'port' for member 'netdev' (see the file
  // comment for the ndev preference).  NotFound listing the GIDs seen
  // when there is none.
  Result<RoceGid> FindRoceV2Gid(const RdmaPortRef& port,
                                std::string_view netdev,
                                const IpAddress& ip) const;

  // The netdevs stacked on 'netdev' (its upper_* links, transitively:
  // the bond, VLANs on the bond), sorted.
  std::vector<std::string> UpperDevices(std::string_view netdev) const;

  // The bytes 'port' has sent, from its port counters:
  // ports/<port>/counters/port_xmit_data, IBTA's PortXmitData in 4-octet
  // words (on mlx5 the RoCE traffic of the function's vport, headers
  // included, from firmware: a command per read).  NotFound when the
  // device has no port counters (rxe has none); NotSupported when the
  // counter is the 32-bit one and has saturated (4294967295 words);
  // Corruption when it is no number.
  Result<uint64_t> ReadPortXmitBytes(const RdmaPortRef& port) const;

  // The kernel driver of 'device''s parent ("mlx5_core"): the last part
  // of the device/driver link.  NotFound when it has none (rxe).
  Result<std::string> ReadDeviceDriver(std::string_view device) const;

  // /sys/class/net/<netdev>/address.
  Result<MacAddress> ReadNetdevMac(std::string_view netdev) const;

  // The names under /sys/class/infiniband, sorted (empty when the RDMA
  // core is not loaded).
  Result<std::vector<std::string>> ListRdmaDevices() const;

 private:
  std::string NetPath(std::string_view netdev) const;
  std::string IbPath(std::string_view device) const;
  std::string PortPath(const RdmaPortRef& port) const;
  // The ports of 'device' whose GID table names 'netdev', ascending.
  std::vector<uint32_t> PortsNaming(const std::string& device,
                                    std::string_view netdev) const;

  std::string root_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_RDMA_SYSFS_H_
