// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The emulated RNIC: an EMULATION of a RoCEv2 RNIC on one bond member, in
// userspace, for hosts without RDMA hardware.
//
// It implements Rnic (rnic.h) by sending and receiving RoCEv2 frames on
// the member netdev itself through an AF_PACKET socket, so that its
// traffic bypasses Open vSwitch exactly as an RNIC's does: it leaves by
// that member only, whatever OVS's bond would choose, and it only sees the
// frames that the switch delivers to that member.  It is not RDMA: no
// kernel bypass, no zero copy, no hardware offload.  It says so: name() is
// "emulated:<member>", is_emulation() is true.  Needs CAP_NET_RAW.
//
// Usage:
//   EmulatedRnicOptions options;
//   options.member = "eth1";
//   options.local_ip = *ParseIpAddress("10.0.0.1");
//   options.mac_netdev = "br0";       // The MAC that frames carry.
//   Result<std::unique_ptr<Rnic>> rnic = OpenEmulatedRnic(options);
//
// The C API's opener is rdma_bond_rnic_open_emulated() (rdmabond.h).

#ifndef RDMA_BOND_EMULATED_RNIC_H_
#define RDMA_BOND_EMULATED_RNIC_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

struct EmulatedRnicOptions {
  // The bond member (netdev) whose port this RNIC is.
  std::string member;
  // The RoCEv2 address of this host (on the bond's internal port).
  IpAddress local_ip;
  // The MAC address frames are sent with.  In an OVS bond the frames of
  // the host carry the MAC of its internal port, so that the switch and
  // the peer learn it once: give that MAC here, or name the port in
  // 'mac_netdev'.  Neither: the member's own MAC.
  std::optional<MacAddress> source_mac;
  std::string mac_netdev;
  // Path MTU that local() offers (256..4096); 0: the largest that fits
  // the member's MTU (1024 for 1500, 4096 for 9000).  Create() uses 1024.
  uint32_t mtu = 0;
  // Seeds QPNs, PSNs and memory keys; 0: a random seed.
  uint64_t seed = 0;
};

// Opens the emulated RNIC on options.member: finds the source MAC and the
// MTU, opens the AF_PACKET socket.  NotFound naming the netdev if it (or
// mac_netdev) does not exist; IOError naming CAP_NET_RAW if the socket
// needs it.
Result<std::unique_ptr<Rnic>> OpenEmulatedRnic(
    const EmulatedRnicOptions& options);

}  // namespace rdma_bond

#endif  // RDMA_BOND_EMULATED_RNIC_H_
