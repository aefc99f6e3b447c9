// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// UdProbeLink: the probe transport of one bond member through UD queue
// pairs on the member's own RNIC (probe/ud_wire.h says why and how the
// ports are chosen).  It sends a probe payload to a peer's UD receive QPs
// with a given UDP source port, and hands over the payloads its receive
// QP got, with the addresses of their GRH.
//
// What it holds on the member's RDMA device (found through sysfs, as the
// verbs backend finds it): a protection domain, a completion channel and
// one CQ, a UD receive QP with kReceiveSlots buffers posted, and
//   - on a device whose UD port follows the address handle's flow label
//     (mlx5): nothing more; an address handle per (peer, port);
//   - on rxe, whose UD port is fixed per QP: 'rxe_pool' more UD QPs, send
//     only, each with the port of its number (RxeUdSport()); the member
//     probes from those ports only (Sports()).
// Every QP has Q_Key kProbeQkey and sends from the GID of the local IP on
// the member (a RoCEv2 entry, rdma_sysfs.h).  Nothing needs privilege.
//
// Thread-safety: one thread (the agent's main loop).

#ifndef RDMA_BOND_AGENT_UD_PROBE_LINK_H_
#define RDMA_BOND_AGENT_UD_PROBE_LINK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "probe/ud_wire.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond::agent {

class UdProbeLink {
 public:
  struct Options {
    std::string netdev;             // The bond member.
    IpAddress local_ip;             // Probes go from this address's GID.
    size_t rxe_pool = 32;           // Send QPs on a per-QP-port device.
    // Refuse (NotSupported) a device whose UD port is fixed per QP (rxe):
    // it could probe only the pool's ports, where AF_PACKET sees the
    // frames of such a software device and probes any port.
    bool require_any_port = false;
    std::string sysfs_root = "/sys";
  };
  struct Stats {
    uint64_t sent = 0;              // Datagrams posted (one per QP).
    uint64_t send_errors = 0;       // Refused by verbs, or no free slot.
    uint64_t no_port = 0;           // A port this link cannot send from.
    uint64_t received = 0;
    uint64_t receive_errors = 0;    // Bad completions, GRH or length.
  };
  using ReceiveFn = std::function<void(
      const IpAddress& src, const IpAddress& dst,
      std::span<const uint8_t> payload)>;

  // NotFound when no RDMA device is behind the member (or no RoCEv2 GID
  // of 'local_ip' on it), NotSupported when its UD source port is not
  // known (UdSportControlFor()) or verbs were not built in, IOError when
  // verbs refuse.
  static Result<std::unique_ptr<UdProbeLink>> Open(const Options& options);
  ~UdProbeLink();
  UdProbeLink(const UdProbeLink&) = delete;
  UdProbeLink& operator=(const UdProbeLink&) = delete;

  // The completion channel: readable when a receive or send completed.
  int fd() const;
  // "rxe0:1", and how the device sets the port.
  const std::string& device() const;
  UdSportControl control() const;
  // The GID index sent from.
  uint32_t gid_index() const;
  // The receive QP's number (what the directory publishes).
  uint32_t receive_qpn() const;
  // The ports it can send from, ascending: every RoCEv2 port (empty
  // vector and 'any' true) with kFlowLabel, the pool's with kPerQp.
  bool any_port() const;
  const std::vector<uint16_t>& ports() const;
  // Every QP it holds (for "the agent's own QPs").
  std::vector<uint32_t> qpns() const;

  // Sends 'payload' (at most kProbePayloadBytes) to each of 'qpns' of the
  // peer 'dst', from UDP source port 'sport'.  False (and counted) if the
  // port is not one of ports(), or verbs refused.
  bool Send(const IpAddress& dst, uint16_t sport,
            std::span<const uint32_t> qpns, std::span<const uint8_t> payload);
  // Takes the completions (and the channel's event), calls 'fn' for every
  // payload received, and posts the buffers again.
  void Poll(const ReceiveFn& fn);

  const Stats& stats() const;

 private:
  struct Impl;
  explicit UdProbeLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_UD_PROBE_LINK_H_
