// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// ProbeFrame: the frames of L4 path probing (path_prober.h), built and
// parsed.
//
// A probe must be hashed by the switch exactly as the RDMA traffic it
// stands for, so it is a RoCEv2 frame with the same 5-tuple (roce_frame.h):
//
//   Ethernet / IPv4 or IPv6 / UDP   source port = the probed port, 4791
//   BTH    UD SEND_ONLY (0x64), destination QPN kProbeQpn,
//          PSN = the low 24 bits of the nonce
//   DETH   Q_Key kProbeQkey, source QPN kProbeQpn
//   payload (168 bytes, big-endian, version 1)
//     0  u32  magic "RBPR"         24  u32  nonce
//     4  u8   version (1)          28  u32  echoed nonce
//     5  u8   kind                 32  u32  echoed epoch
//     6  u8   sender member        36  u16  reported source port
//     7  u8   sender member count  38  u8   reported member
//     8  u32  usable mask          39  u8   reserved, 0
//    12  u64  agent id             40  64 bytes  sender member name
//    20  u32  epoch               104  64 bytes  reported member name
//   ICRC
//
// Names are NUL-padded (the last byte of each field is NUL).  A receiver
// of version 1 ignores a frame of a later version (its layout may differ)
// and counts it; a later version keeps the magic and the version byte
// where they are.
//
// Where probes are read: a frame to UDP port 4791 still reaches the
// AF_PACKET taps of the member netdev under the emulation and soft-RoCE
// (rxe receives it through a UDP socket, after the taps), so the agent
// reads probes there, and the RNIC drops them (no QP kProbeQpn; the
// emulation counts them in EmulatedRnicStats::dropped_ud).  An RNIC that
// steers port 4791 to its RDMA engine in hardware (mlx5) consumes them
// before the netdev: there the probes need a UD QP of the agent at the
// destination, which this format leaves room for (kProbeQpn, kProbeQkey)
// but which is not implemented.
//
// Thread-safety: pure functions over caller-owned buffers.

#ifndef RDMA_BOND_PROBE_FRAME_H_
#define RDMA_BOND_PROBE_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "rdma_bond/status.h"
#include "rnic/emulated/roce_frame.h"

namespace rdma_bond {

// The destination and source QPN of every probe.  QPNs are 24 bits; RNICs
// allocate them from the bottom of the space (the emulation from 2) and
// 0xffffff is the multicast QPN, so one just below the top is in practice
// never a real QP's: a probe that reaches an RNIC is dropped as "no such
// QP" (the emulation drops every UD frame, EmulatedRnicStats::dropped_ud).
inline constexpr uint32_t kProbeQpn = 0xfffff0;
// The DETH Q_Key of probes ("RBND").  Its top bit is clear: Q_Keys with the
// top bit set are controlled keys that only privileged consumers may send.
inline constexpr uint32_t kProbeQkey = 0x52424e44;
static_assert((kProbeQpn & ~kQpnMask) == 0, "a QPN has 24 bits");
static_assert((kProbeQkey & 0x80000000u) == 0, "not a controlled Q_Key");

// The payload: magic "RBPR" (rdma-bond probe), then version 1's layout.
inline constexpr uint32_t kProbeMagic = 0x52425052;
inline constexpr uint8_t kProbeVersion = 1;
// Member names on the wire, NUL-padded: as RDMA_BOND_NAME_LEN, so that every
// name the table publishes fits (at most 63 bytes).
inline constexpr size_t kProbeNameBytes = 64;
// Members of one bond a probe can describe: the usable set is a 32-bit
// mask.  At least RDMA_BOND_MAX_MEMBERS (probe_frame.cc checks).
inline constexpr size_t kMaxProbeMembers = 32;
// Version 1's payload: 40 bytes of fields and the two names.
inline constexpr size_t kProbePayloadBytes = 40 + 2 * kProbeNameBytes;
static_assert(kProbePayloadBytes % 4 == 0, "the payload needs no pad");
// The largest probe frame: over IPv6.
inline constexpr size_t kMaxProbeFrameBytes =
    kEthHeaderBytes + kIpv6HeaderBytes + kUdpHeaderBytes + kBthBytes +
    kDethBytes + kProbePayloadBytes + kIcrcBytes;

enum class ProbeKind : uint8_t {
  kRequest = 1,                     // "Where does this arrive?"
  kReply = 2,                       // "Your REQUEST arrived on my member."
  kConfirm = 3,                     // "Your REPLY arrived on my member."
};
// "REQUEST", "REPLY", "CONFIRM".
std::string_view ToString(ProbeKind kind);
// REPLY and CONFIRM answer a frame; a REQUEST does not.
inline bool ProbeKindIsAnswer(ProbeKind kind) {
  return kind != ProbeKind::kRequest;
}

// The payload of a probe, decoded.
struct ProbeMessage {
  ProbeKind kind = ProbeKind::kRequest;
  uint64_t agent_id = 0;            // The sender's, random per start.
  uint32_t epoch = 0;               // The sender's bond epoch.
  uint32_t nonce = 0;               // Unique per sender; never 0.
  uint8_t member = 0;               // The sender's member it left by.
  uint8_t member_count = 0;         // Members of the sender's bond.
  uint32_t usable_mask = 0;         // Bit i: the sender's member i usable.
  std::string member_name;
  // REPLY and CONFIRM: the frame answered (its nonce, its sender's epoch,
  // its source port) and the member of ours it arrived on.  Zero and
  // empty in a REQUEST.
  uint32_t echo_nonce = 0;
  uint32_t echo_epoch = 0;
  uint16_t reported_sport = 0;
  uint8_t reported_member = 0;
  std::string reported_member_name;

  friend bool operator==(const ProbeMessage&, const ProbeMessage&) = default;
};

// Whether 'name' may travel in a probe as a member name: 1 to
// kProbeNameBytes - 1 bytes of printable ASCII other than space, '=', '"'
// and '\\'.  A peer's names end up in the agent's reports, its metrics'
// label values and the registry's replies to applications; whatever the
// peer sends, they stay single tokens there.
bool IsProbeName(std::string_view name);

// Writes the probe frame for 'message' with 'address' (whose udp_sport is
// the probed port) into 'out' and returns its length.  InvalidArgument if
// a name does not fit kProbeNameBytes - 1 or is not IsProbeName() (the
// reported name may be empty in a REQUEST), a member index or count
// exceeds kMaxProbeMembers, or BuildFrame() refuses (small buffer, mixed
// IP versions).
Result<size_t> BuildProbeFrame(const FrameAddress& address,
                               const ProbeMessage& message,
                               std::span<uint8_t> out);

// Why ParseProbeFrame() refused a frame, for counters.
enum class ProbeDefect : uint8_t {
  kNone,
  kNotProbe,            // Not RoCEv2, or RoCEv2 but not a probe.
  kMalformed,           // A probe's magic, but inconsistent fields.
  kUnsupportedVersion,  // A probe of a later version.
};

// Parses a frame: a valid RoCEv2 frame (ParseFrame()), UD SEND_ONLY to
// kProbeQpn with the probe DETH, magic, version 1, a known kind, member
// indexes below the count, the sender's member usable, NUL-terminated
// names that are IsProbeName() (kMalformed otherwise).  Fills '*address' and '*message'; never reads outside 'frame'.
Status ParseProbeFrame(std::span<const uint8_t> frame, FrameAddress* address,
                       ProbeMessage* message, ProbeDefect* defect = nullptr);

}  // namespace rdma_bond

#endif  // RDMA_BOND_PROBE_FRAME_H_
