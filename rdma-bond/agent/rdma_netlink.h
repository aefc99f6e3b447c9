// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RdmaNetlink: every RDMA queue pair and rdma_cm ID on the host, read
// from the kernel's RDMA netlink interface (NETLINK_RDMA, the "nldev"
// client): what `rdma res show qp` and `rdma res show cm_id` print.
//
// The kernel lists resources per device (RDMA_NLDEV_CMD_RES_*_GET dumps
// need RDMA_NLDEV_ATTR_DEV_INDEX), so a read is one dump of the devices,
// one of each device's ports (for the netdev behind each port), and one of
// its QPs and cm_ids.  Processes in another PID namespace, and kernel
// consumers when the reader is not in the initial PID namespace, are not
// shown by the kernel.  RDMA netlink does not show a QP's address vector:
// the addresses of a QP that was not made through rdma_cm are not there.
//
// Thread-safety: an RdmaNetlink is used by one thread.

#ifndef RDMA_BOND_AGENT_RDMA_NETLINK_H_
#define RDMA_BOND_AGENT_RDMA_NETLINK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond::agent {

// ib_qp_type and ib_qp_state values (include/rdma/ib_verbs.h).
inline constexpr uint8_t kQpTypeRc = 2;
inline constexpr uint8_t kQpTypeUc = 3;
inline constexpr uint8_t kQpTypeUd = 4;
inline constexpr uint8_t kQpStateRtr = 2;
inline constexpr uint8_t kQpStateRts = 3;
inline constexpr uint8_t kQpStateSqd = 4;
// rdma_cm_state (drivers/infiniband/core/cma_priv.h).
inline constexpr uint8_t kCmStateConnect = 5;
inline constexpr uint8_t kCmStateListen = 8;

// "RC", "UD", ... ("type N" otherwise).
std::string QpTypeName(uint8_t type);
// "RTS", "ERR", ... ("state N" otherwise).
std::string QpStateName(uint8_t state);

// One port of an RDMA device and the netdev behind it.
struct RdmaPort {
  std::string device;
  uint32_t port = 0;
  std::string netdev;             // "" if none.
};

// One QP (RDMA_NLDEV_ATTR_RES_QP_ENTRY).
struct HostQp {
  std::string device;
  uint32_t port = 0;              // 0 if not bound to a port yet.
  uint32_t lqpn = 0;
  std::optional<uint32_t> rqpn;   // RC and UC QPs past INIT.
  uint8_t type = 0;
  uint8_t state = 0;
  uint32_t pid = 0;               // 0 for a kernel consumer.
  std::string comm;               // The process's comm, or the kernel
                                  // consumer's name ("nvme_rdma").
};

// One rdma_cm ID (RDMA_NLDEV_ATTR_RES_CM_ID_ENTRY).
struct HostCmId {
  std::string device;             // "" while not bound to a device.
  uint32_t port = 0;
  std::optional<uint32_t> lqpn;   // The QP it connects, if any.
  uint32_t port_space = 0;        // RDMA_PS_TCP (0x106), RDMA_PS_UDP...
  uint8_t state = 0;
  std::optional<IpAddress> src, dst;
  uint16_t src_port = 0, dst_port = 0;   // The rdma_cm port-space ports.
  uint32_t pid = 0;
  std::string comm;
};

struct HostRdmaResources {
  std::vector<RdmaPort> ports;
  std::vector<HostQp> qps;
  std::vector<HostCmId> cm_ids;
};

class RdmaNetlink {
 public:
  // NotFound-free: a host without RDMA (no ib_core) opens fine and lists
  // nothing.
  static Result<RdmaNetlink> Open();
  RdmaNetlink(RdmaNetlink&&) noexcept;
  RdmaNetlink& operator=(RdmaNetlink&&) noexcept;
  ~RdmaNetlink();

  // Everything, device by device.
  Result<HostRdmaResources> Read();

 private:
  explicit RdmaNetlink(int fd);
  // Sends a dump request of 'command' (with the device's index if
  // 'device' is set) and returns each reply message's attributes.
  Result<std::vector<std::vector<uint8_t>>> Dump(
      uint16_t command, std::optional<uint32_t> device);

  int fd_ = -1;
  uint32_t seq_ = 0;
  // The ports of each device, by device index and name: read once per
  // device (a port query makes rxe on a NIC without a link speed log
  // "speed is unknown" every time).
  std::map<std::pair<uint32_t, std::string>, std::vector<RdmaPort>> ports_;
};

// The comm of process 'pid' (/proc/PID/comm), "" if gone.
std::string ProcessComm(uint32_t pid);

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_RDMA_NETLINK_H_
