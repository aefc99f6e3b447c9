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
//   payload (216 bytes, big-endian, version 2)
//     0  u32  magic "RBPR"          40  u32  echoed epoch
//     4  u8   version (2)           44  u16  sent source port
//     5  u8   kind                  46  u16  reported source port
//     6  u8   sender member         48  u8   reported member
//     7  u8   sender member count   49  3 bytes reserved, 0
//     8  u32  usable mask           52  u32  key id (0: no tag)
//    12  u64  agent id              56  64 bytes  sender member name
//    20  u32  epoch                120  64 bytes  reported member name
//    24  u64  nonce                184  32 bytes  tag
//    32  u64  echoed nonce
//   ICRC
//
// The same payload is what a UD QP sends (the agent's UD transport): the
// RNIC builds the headers, and a receiving UD QP sees the addresses (in
// the GRH) but not the UDP source port, so the sender writes the port it
// sent on into the payload ("sent source port"; a frame read off the wire
// whose UDP port differs is malformed).
//
// Names are NUL-padded (the last byte of each field is NUL).  A frame of
// any other version is refused (kUnsupportedVersion, the version is
// returned): version 1 had 32-bit nonces derived from the public agent
// id and no tag, and a later version's layout may differ.  Every version
// keeps the magic and the version byte where they are.
//
// Nonces are 64-bit random numbers (the kernel's CSPRNG: path_prober.cc).
//
// Keyed probes.  With a shared key (ProbeKey), the tag is
// HMAC-SHA256(key, "rdma-bond probe 2" | source IP | destination IP |
// payload bytes 0-183), each IP as 16 bytes (IPv4 mapped into IPv6), and
// the key id is the key's fingerprint (ProbeKeyId()), so that a receiver
// holding two keys (a rotation) knows which one signed.  A receiver with
// keys refuses a frame without a tag, with a key id it does not hold, or
// with a wrong tag (kUnauthenticated); one without keys ignores tags.
// The tag covers the source port the sender claims, the answered nonce
// and port, and both addresses: a frame cannot be replayed toward another
// host, nor its port rewritten, without the key.  It does not prevent
// replaying a frame unchanged: the nonces do (an answer counts once, for
// the request of this round it echoes).
//
// Where probes are read: a frame to UDP port 4791 still reaches the
// AF_PACKET taps of the member netdev under the emulation and soft-RoCE
// (rxe receives it through a UDP socket, after the taps), so the agent
// reads probes there, and the RNIC drops them (no QP kProbeQpn; the
// emulation counts them in EmulatedRnicStats::dropped_ud).  An RNIC that
// steers port 4791 to its RDMA engine in hardware (mlx5) consumes them
// before the netdev: there the probes go between UD QPs of the agents.
//
// Thread-safety: pure functions over caller-owned buffers.

#ifndef RDMA_BOND_PROBE_FRAME_H_
#define RDMA_BOND_PROBE_FRAME_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// The payload: magic "RBPR" (rdma-bond probe), then version 2's layout.
inline constexpr uint32_t kProbeMagic = 0x52425052;
inline constexpr uint8_t kProbeVersion = 2;
// Member names on the wire, NUL-padded: as RDMA_BOND_NAME_LEN, so that every
// name the table publishes fits (at most 63 bytes).
inline constexpr size_t kProbeNameBytes = 64;
// Members of one bond a probe can describe: the usable set is a 32-bit
// mask.  At least RDMA_BOND_MAX_MEMBERS (probe_frame.cc checks).
inline constexpr size_t kMaxProbeMembers = 32;
// The tag: HMAC-SHA256.
inline constexpr size_t kProbeTagBytes = 32;
// Version 2's payload: 56 bytes of fields, the two names, the tag.
inline constexpr size_t kProbePayloadBytes =
    56 + 2 * kProbeNameBytes + kProbeTagBytes;
static_assert(kProbePayloadBytes % 4 == 0, "the payload needs no pad");
// The largest probe frame: over IPv6.
inline constexpr size_t kMaxProbeFrameBytes =
    kEthHeaderBytes + kIpv6HeaderBytes + kUdpHeaderBytes + kBthBytes +
    kDethBytes + kProbePayloadBytes + kIcrcBytes;
// The shortest shared key accepted.
inline constexpr size_t kMinProbeKeyBytes = 16;

// A shared key: its bytes and its id (ProbeKeyId() of them).
struct ProbeKey {
  uint32_t id = 0;
  std::vector<uint8_t> secret;
};
// The id of a key: the first 4 bytes of SHA-256("rdma-bond probe key" |
// key), never 0.  Public: it names the key, it does not reveal it.
uint32_t ProbeKeyId(std::span<const uint8_t> secret);
// A ProbeKey for 'secret' (InvalidArgument below kMinProbeKeyBytes).
Result<ProbeKey> MakeProbeKey(std::span<const uint8_t> secret);
// 64 bits from the kernel's CSPRNG (getrandom(), read 512 bytes at a time
// per thread): the nonces of probes and of directory questions.  Aborts
// if the kernel has no randomness to give.
uint64_t SecureRandom64();
// HMAC-SHA256(key, label | source IP | destination IP | body), each IP as
// 16 bytes (IPv4 mapped into IPv6): the tag of probes ("rdma-bond probe
// 2") and of directory messages (ud_wire.h).
std::array<uint8_t, kProbeTagBytes> ProbeHmac(const ProbeKey& key,
                                              std::string_view label,
                                              const IpAddress& src,
                                              const IpAddress& dst,
                                              std::span<const uint8_t> body);

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
  uint64_t nonce = 0;               // Random per frame; never 0.
  uint8_t member = 0;               // The sender's member it left by.
  uint8_t member_count = 0;         // Members of the sender's bond.
  uint32_t usable_mask = 0;         // Bit i: the sender's member i usable.
  std::string member_name;
  // The UDP source port the sender sent the frame with.  The builders
  // write it (BuildProbeFrame() from the address); the parsers fill it.
  uint16_t sent_sport = 0;
  // REPLY and CONFIRM: the frame answered (its nonce, its sender's epoch,
  // its source port) and the member of ours it arrived on.  Zero and
  // empty in a REQUEST.
  uint64_t echo_nonce = 0;
  uint32_t echo_epoch = 0;
  uint16_t reported_sport = 0;
  uint8_t reported_member = 0;
  std::string reported_member_name;
  // Parsed only: the id of the key that signed the frame, 0 if none.
  uint32_t key_id = 0;

  friend bool operator==(const ProbeMessage&, const ProbeMessage&) = default;
};

// Whether 'name' may travel in a probe as a member name: 1 to
// kProbeNameBytes - 1 bytes of printable ASCII other than space, '=', '"'
// and '\\'.  A peer's names end up in the agent's reports, its metrics'
// label values and the registry's replies to applications; whatever the
// peer sends, they stay single tokens there.
bool IsProbeName(std::string_view name);

// Writes the payload of 'message' from 'src' to 'dst' into 'out' (at
// least kProbePayloadBytes) and returns its length, with a tag by 'key'
// if not null.  InvalidArgument if a name does not fit kProbeNameBytes - 1
// or is not IsProbeName() (the reported name may be empty in a REQUEST),
// a member index or count exceeds kMaxProbeMembers, the nonce is 0, the
// addresses are of different IP versions, or 'out' is short.
Result<size_t> BuildProbePayload(const IpAddress& src, const IpAddress& dst,
                                 const ProbeMessage& message,
                                 const ProbeKey* key, std::span<uint8_t> out);

// Writes the probe frame for 'message' with 'address' (whose udp_sport is
// the probed port, written as the sent source port) into 'out' and
// returns its length.  As BuildProbePayload(), and InvalidArgument if
// BuildFrame() refuses (small buffer).
Result<size_t> BuildProbeFrame(const FrameAddress& address,
                               const ProbeMessage& message,
                               std::span<uint8_t> out,
                               const ProbeKey* key = nullptr);

// Why a parser refused a frame, for counters.
enum class ProbeDefect : uint8_t {
  kNone,
  kNotProbe,            // Not RoCEv2, or RoCEv2 but not a probe.
  kMalformed,           // A probe's magic, but inconsistent fields.
  kUnsupportedVersion,  // A probe of another version (1, or a later one).
  kUnauthenticated,     // Keys are held, and no tag or a wrong one.
};

// Parses a payload that came from 'src' to 'dst': magic, version 2, the
// size, a known kind, member indexes below the count, the sender's member
// usable, a nonce that is not 0, NUL-terminated names that are
// IsProbeName() (kMalformed otherwise); then, if 'keys' is not empty, the
// tag by the key its key id names (kUnauthenticated).  '*version' gets
// the version byte of anything with the magic.  Never reads outside
// 'payload'.
Status ParseProbePayload(const IpAddress& src, const IpAddress& dst,
                         std::span<const uint8_t> payload,
                         std::span<const ProbeKey> keys, ProbeMessage* message,
                         ProbeDefect* defect = nullptr,
                         uint8_t* version = nullptr);

// Parses a frame: a valid RoCEv2 frame (ParseFrame()), UD SEND_ONLY to
// kProbeQpn with the probe DETH, then its payload as ParseProbePayload(),
// whose sent source port must be the frame's UDP source port
// (kMalformed).  Fills '*address' whenever the frame is RoCEv2 (also for
// a refused probe, so that the caller can say where it came from) and
// '*message' when it is accepted.
Status ParseProbeFrame(std::span<const uint8_t> frame, FrameAddress* address,
                       ProbeMessage* message, ProbeDefect* defect = nullptr,
                       std::span<const ProbeKey> keys = {},
                       uint8_t* version = nullptr);

}  // namespace rdma_bond

#endif  // RDMA_BOND_PROBE_FRAME_H_
