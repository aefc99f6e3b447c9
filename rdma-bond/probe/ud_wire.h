// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// UdWire: what the agent's UD-QP probe transport needs besides the probe
// payload (probe_frame.h): which UDP source port a UD QP's frames get, the
// addresses of a received datagram, and the directory of the peers' UD QP
// numbers.
//
// Why a UD transport.  A hardware RNIC (mlx5) steers UDP port 4791 to its
// RDMA engine before the netdev, so the AF_PACKET probes of the agent never
// reach it there.  A UD QP on each member's RNIC sends and receives the
// same payload as a RoCEv2 UD SEND_ONLY frame with the 5-tuple of the data
// (local IP, peer IP, the probed source port, 4791), so the switch hashes
// it as it hashes the data.
//
// The source port of a UD frame.
//   - mlx5 (rdma-core since 2020, "mlx5: Set flow_label and RoCEv2 UDP
//     source port for datagram QP"): the address handle's flow label, as
//     ibv_flow_label_to_udp_sport(); a random port if the label is 0.  So
//     any port is reachable: one QP per member, an address handle per
//     (peer, port) with UdpSportToFlowLabel(port).
//   - rxe (Linux 6.1, rxe_qp.c): every frame of a QP leaves with
//     qp->src_port = 0xc000 + hash_32(qpn, 14), fixed at creation; the
//     address handle's flow label is not used, and a UD QP takes no
//     address vector in modify.  So a member probes only the ports of the
//     QPs it holds: the transport keeps a pool of UD QPs and the ports of
//     their numbers (RxeUdSport()).
//   - Other devices: not known, so not used (AF_PACKET instead).
//
// What a receiver sees.  The completion of a UD receive has the sender's
// QP number and the first 40 bytes of the buffer hold the GRH: for RoCEv2
// over IPv4 the IPv4 header in bytes 20-39, over IPv6 the IPv6 header
// (ParseUdGrh()).  It has neither the UDP source port nor the sender's
// MAC: the payload carries the port the sender sent (probe_frame.h), and
// the MAC is not known (the prober does not pin it for datagrams).
//
// Where to send.  A REQUEST toward a peer arrives on whichever of the
// peer's members the switch picks, and that member's RNIC accepts it only
// for a QP number of its own.  So every probe is sent once to each of the
// peer's UD receive QPs (one per member with an RDMA device): the copies
// have the same 5-tuple, reach the same member, and all but the one for
// that member's QP are dropped by its RNIC ("no such QP", or a Q_Key
// mismatch: every probe QP uses kProbeQkey).  The peer's QP numbers come
// from its directory: a datagram over the ordinary IP stack (UDP to
// kProbeDirectoryPort, through the bridge, whatever member it takes),
// asked with a random nonce and answered with it, and tagged like the
// probes when keys are held.  Query and answer have the same size, so an
// answer to a forged source is no amplification.
//
// Thread-safety: pure functions over caller-owned buffers.

#ifndef RDMA_BOND_UD_WIRE_H_
#define RDMA_BOND_UD_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "probe/probe_frame.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// How a device chooses the UDP source port of a UD QP's frames.
enum class UdSportControl : uint8_t {
  kUnknown,         // Not used for probing.
  kFlowLabel,       // The address handle's flow label (mlx5).
  kPerQp,           // Fixed per QP number (rxe: RxeUdSport()).
};
// "unknown", "flow label", "per QP".
std::string_view ToString(UdSportControl control);

// ibv_device_attr's vendor_id and vendor_part_id: rxe (vendor 0xffffff)
// is kPerQp, Mellanox/NVIDIA ConnectX-4 and later (vendor 0x02c9, part
// 4115 and up: the mlx5 driver) kFlowLabel, anything else kUnknown.
UdSportControl UdSportControlFor(uint32_t vendor_id, uint32_t vendor_part_id);

// rxe's source port of QP 'qpn': 0xc000 + hash_32(qpn, 14), with the
// kernel's generic hash_32() (x86 has no arch hash):
// (qpn * 0x61c88647) >> 18.
constexpr uint16_t RxeUdSport(uint32_t qpn) {
  return static_cast<uint16_t>(0xc000 + (((qpn * 0x61c88647u) >> 18) &
                                         0x3fff));
}

// The GRH area of a UD receive (the first 40 bytes of its buffer).
inline constexpr size_t kGrhBytes = 40;
// The source and destination addresses in it: IPv4 when bytes 20-39 are
// an IPv4 header without options (version 4, IHL 5), else IPv6 when byte
// 0 says version 6.  InvalidArgument otherwise.
Status ParseUdGrh(std::span<const uint8_t> grh, IpAddress* src,
                  IpAddress* dst);

// The directory: UDP port, and the messages.
inline constexpr uint16_t kProbeDirectoryPort = 4792;
inline constexpr uint32_t kDirectoryMagic = 0x52425044;  // "RBPD".
inline constexpr uint8_t kDirectoryVersion = 2;
inline constexpr size_t kDirectoryBytes = 256;

enum class DirectoryKind : uint8_t {
  kQuery = 1,       // "Which are your UD probe QPs?"
  kAnswer = 2,      // "These", echoing the query's nonce.
};

struct DirectoryMessage {
  DirectoryKind kind = DirectoryKind::kQuery;
  uint64_t agent_id = 0;            // The sender's.
  uint64_t nonce = 0;               // Query: random, not 0.  Answer: the
                                    // query's.
  std::vector<uint32_t> qpns;       // Answer: the receive QPs, at most
                                    // kMaxProbeMembers, each 24 bits.
  uint32_t key_id = 0;              // Parsed only.
  friend bool operator==(const DirectoryMessage&,
                         const DirectoryMessage&) = default;
};

// Writes 'message' from 'src' to 'dst' into 'out' (at least
// kDirectoryBytes), tagged by 'key' if not null.  InvalidArgument if the
// nonce or agent id is 0, a query lists QPs, there are more than
// kMaxProbeMembers QPs or one exceeds 24 bits, the addresses differ in
// version, or 'out' is short.
Result<size_t> BuildDirectoryMessage(const IpAddress& src,
                                     const IpAddress& dst,
                                     const DirectoryMessage& message,
                                     const ProbeKey* key,
                                     std::span<uint8_t> out);

// Parses a directory datagram from 'src' to 'dst': the size, magic,
// version (kUnsupportedVersion), kind, a nonce and agent id not 0, the
// count and QP numbers, zero reserved bytes (kMalformed), and with 'keys'
// the tag (kUnauthenticated).  Anything without the magic is kNotProbe.
Status ParseDirectoryMessage(const IpAddress& src, const IpAddress& dst,
                             std::span<const uint8_t> bytes,
                             std::span<const ProbeKey> keys,
                             DirectoryMessage* message,
                             ProbeDefect* defect = nullptr);

}  // namespace rdma_bond

#endif  // RDMA_BOND_UD_WIRE_H_
