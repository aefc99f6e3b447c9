// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The verbs backend: the Rnic over rdma-core (libibverbs), for a real RNIC
// or a soft one (rdma_rxe).
//
// OpenVerbsRnic() finds, through sysfs, the RDMA device and port behind a
// bond member and the RoCEv2 GID of the local IP on it, opens the device,
// checks that the port is active and Ethernet, and creates the protection
// domain, a completion channel and one completion queue shared by all its
// QPs.  A QP's RoCEv2 UDP source port is the one Connect() is given (set
// through the flow label, and with mlx5dv_modify_qp_udp_sport() on mlx5).
//
// Usage:
//   VerbsRnicOptions options;
//   options.member = "eth1";
//   options.local_ip = *ParseIpAddress("10.0.0.1");
//   Result<std::unique_ptr<Rnic>> rnic = OpenVerbsRnic(options);
//
// Only built when configure found libibverbs (RDMA_BOND_HAVE_VERBS in
// librdmabond's build); this header needs no rdma-core header, but the
// functions declared below exist only in such a build.  The C API's
// opener is rdma_bond_rnic_open_verbs() (rdmabond.h), which says so at run
// time.
//
// Thread-safety: as for every Rnic (rnic.h): one thread at a time.  Every
// QueuePair created by the RNIC must be destroyed before it.

#ifndef RDMA_BOND_VERBS_RNIC_H_
#define RDMA_BOND_VERBS_RNIC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// OK when ibv_get_device_list() finds at least one RDMA device; otherwise
// NotFound "no RDMA devices (ibv_get_device_list found none): load rdma_rxe
// or use --backend emulated" (or, without ib_uverbs in the kernel, "no
// RDMA devices (ibv_get_device_list: ib_uverbs is not loaded): ..."), or
// the errno of the call.
Status CheckVerbsAvailable();

// The names of the RDMA devices libibverbs sees ("mlx5_0", "rxe0").
Result<std::vector<std::string>> ListVerbsDevices();

struct VerbsRnicOptions {
  std::string member;               // The bond member netdev ("eth1").
  IpAddress local_ip;               // The RoCEv2 address (on the member or
                                    // an upper device of it: the bond).
  // A member whose name is no kernel netdev (a DPDK port, "dpdk0"): the
  // kernel netdev that carries its traffic and its PCI function, as the
  // table publishes them (Member::Netdev(), Member::location.pci).  The
  // RDMA device is found through 'netdev', else through 'pci'; the GID
  // and MAC are the netdev's.  Empty: 'member' is the netdev.
  std::string netdev;
  std::string pci;
  std::string sysfs_root = "/sys";
  // Override sysfs discovery: the RDMA device ("" = find it behind
  // 'member') and its port (0 = the port naming 'member', or 1).
  std::string device;
  uint32_t port = 0;
  // Completion queue entries: at least the sum of max_send_wr +
  // max_recv_wr of all QPs (CreateQp() refuses a QP that would let the CQ
  // overflow).
  uint32_t cq_size = 4096;
  // Upper bound of the path MTU this side announces (local().mtu); the
  // port's active MTU if smaller.
  uint32_t max_mtu = 4096;
};

// Opens the RDMA device behind options.member.  Errors name the member,
// device, port or IP and the way out.
Result<std::unique_ptr<Rnic>> OpenVerbsRnic(const VerbsRnicOptions& options);

}  // namespace rdma_bond

#endif  // RDMA_BOND_VERBS_RNIC_H_
