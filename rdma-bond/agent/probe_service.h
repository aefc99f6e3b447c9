// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// ProbeService: the agent's L4 path probing (DESIGN.md section 6) on the
// real links.  It runs a PathProber (rdma_bond/path_prober.h) per
// published balance-tcp bond, sends and receives its RoCEv2-shaped probes
// on the bond's member netdevs through AF_PACKET (bypassing OVS, as the
// RNICs do), resolves the peers' MAC addresses through the kernel's
// neighbour table, and answers the registry's PATHS with the 5-tuples
// that probing validated.  On a member whose RNIC consumes RoCEv2 in
// hardware the probes go through UD QPs instead (ud_probe_link.h, chosen
// per member: ProbeTransport).  Active-backup bonds are not probed: only the
// active member may send (a frame from a standby member would move the
// host's MAC on the switch), so their one path needs no discovery.
//
// Thread-safety: one thread (the agent's main loop).

#ifndef RDMA_BOND_AGENT_PROBE_SERVICE_H_
#define RDMA_BOND_AGENT_PROBE_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/registry.h"
#include "probe/path_prober.h"
#include "probe/probe_keys.h"
#include "probe/ud_wire.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond::agent {

// Peers learned (not configured) at most; more are refused and logged:
// every registered QP and PATHS request names a peer, and each peer costs
// ARP and probes (issue 15, finding 3).
inline constexpr size_t kMaxLearnedPeers = 256;
// A learned peer that no QP and no PATHS request named for this long is
// forgotten (and removed from the probers).
inline constexpr uint64_t kPeerIdleMs = 10 * 60 * 1000;

// How probes travel on a member: through a UD QP on its RNIC, or as raw
// frames on its netdev (AF_PACKET).  kAuto: UD where the member has an
// RDMA device whose UD source port follows the address handle's flow
// label (mlx5, ud_wire.h), AF_PACKET elsewhere (rxe: a software device,
// whose frames AF_PACKET sees, and whose UD port is fixed per QP).
enum class ProbeTransport : uint8_t { kAuto, kUd, kAfPacket };
// "auto", "ud", "af-packet".
std::string_view ToString(ProbeTransport transport);
std::optional<ProbeTransport> ParseProbeTransport(std::string_view text);

class ProbeService {
 public:
  struct Options {
    std::vector<IpAddress> peers;   // Probed from the start, never expire.
    // The shared keys of the probes (probe_keys.h), read by the caller
    // from 'key_file', which is read again whenever it changes; empty:
    // unauthenticated probes.
    std::string key_file;
    std::vector<ProbeKey> keys;
    std::function<void(int level, const std::string&)> log;
    // Whether a registered QP still goes to this peer (keeps it from
    // expiring).
    std::function<bool(const IpAddress&)> in_use;
    uint64_t peer_idle_ms = kPeerIdleMs;
    ProbeTransport transport = ProbeTransport::kAuto;
    // UD send QPs per member on a device whose UD port is fixed per QP
    // (rxe): the member probes from their ports only.
    size_t rxe_pool = 32;
    // The UDP port of the UD QP directory (ud_wire.h), both ends.
    uint16_t directory_port = kProbeDirectoryPort;
    std::string sysfs_root = "/sys";
  };

  explicit ProbeService(Options options);
  ~ProbeService();
  ProbeService(const ProbeService&) = delete;
  ProbeService& operator=(const ProbeService&) = delete;

  // A new table snapshot: bonds, members, and OVS's decisions.
  // 'predictors' (by bond name) is kept by pointer and read whenever ports
  // are picked: it must outlive the service (the agent's own map, which
  // it refills in place before each call).
  void Update(const TableSnapshot& snapshot,
              const std::map<std::string, Predictor>& predictors);
  // Probes 'peer' from now on (idempotent).
  void AddPeer(const IpAddress& peer);
  void Run();
  void AppendFds(std::vector<int>* fds) const;
  uint64_t SleepMs() const;

  // The registry's PATHS reply for 'bond' toward 'dst'.
  std::string PathsReply(const std::string& bond, const IpAddress& dst) const;
  // One line for "rdma-bond/show".
  std::string Summary() const;
  // The peers probed: configured, learned (at most kMaxLearnedPeers), and
  // how many were refused because the limit was reached.
  struct PeerCounts {
    size_t configured = 0;
    size_t learned = 0;
    uint64_t refused = 0;
    uint64_t idle_ms = 0;       // Options::peer_idle_ms.
  };
  PeerCounts Peers() const;
  // What probing says about a registered QP's 5-tuple.
  std::string Explain(const QpRecord& qp) const;
  // "rdma-bond/paths [PEER]".
  std::string Text(const std::optional<IpAddress>& peer) const;
  // Prometheus lines (with HELP and TYPE).
  std::string Metrics() const;
  // The UD QPs the service holds, as "device:qpn" with the device name
  // without its port ("rxe0:17"): the agent's own, not an application's.
  std::set<std::string> OwnQps() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The PATHS reply for 'report': a PATH line per pair with validated ports,
// then one with waiting=1 per pair toward a member of the peer that may not
// carry, with the ports that last; END.  Pairs without a port, or with a
// name the line protocol cannot carry, are left out.
std::string PathLines(const PeerProbeReport& report);

// When a bond that changed at 'change_ns' (CLOCK_MONOTONIC; 0 when unknown,
// taken as now), set up at 'now_us', is probed again while the switch's
// side settles: 1 s and 3 s after the change, those still to come
// (ascending, in microseconds).  Each re-probe starts a new epoch, which
// drops every validated port at both ends until a round validates them
// again: a bond the agent finds that changed long ago (the agent started,
// or a member's transport opened late) is not re-probed for nothing.
std::vector<uint64_t> SettleReprobeTimesUs(uint64_t change_ns,
                                           uint64_t now_us);

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_PROBE_SERVICE_H_
