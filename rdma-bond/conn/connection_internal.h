// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Internals of Connection shared by connection.cc (setup, messages,
// completions, event loop) and connection_paths.cc (the side channel and
// the life of each path): the on-path message header, work request ids and
// the Path record.  Not part of the API.
#ifndef RDMA_BOND_CONNECTION_INTERNAL_H_
#define RDMA_BOND_CONNECTION_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/connection.h"

#include "common/hex.h"
#include "conn/side_messages.h"
#include "predict/path_planner.h"

namespace rdma_bond {
namespace conn_detail {

// The header every message carries on a path, little-endian:
//   offset 0  u64 connection sequence (probes: the path's incarnation)
//          8  u8  MessageType
//          9  3 bytes zero
//         12  u32 payload length (write notices: bytes written)
//         16  u64 write notices: offset in the receiver's write region
// An ACTIVE (side_messages.h: the body of the side channel's ACTIVE
// frame, length bytes) follows the header of a kView message; its seq is
// 0 (views are ordered by their own number).
enum MessageType : uint8_t {
  kData = 1,
  kProbe = 2,
  kWriteNotice = 3,
  kView = 4,
};
constexpr size_t kHeaderSize = 24;
// A path's control messages (its probe, its ACTIVE) in the control pool:
// two slots of kControlSlot bytes per path.
constexpr size_t kControlSlot = 64;
// Work request values of WrKind::kProbe.
constexpr uint32_t kProbeWr = 0;
constexpr uint32_t kViewWr = 1;

// How far ahead of ours a peer's PATH_RESET incarnation may be (see
// HandleSide(): a reset of ours that timed out after the peer completed
// it puts the peer one ahead).  A bound, so that no peer can take the
// incarnation to its end.
constexpr uint64_t kMaxIncarnationLead = 16;

// Side-channel loss recovery.  The side channel is a TCP connection
// through the bond: a cut member loses the segments on its cable, and a
// control message that was the last one sent (a PATH_RESET_ACK, an ACTIVE)
// then waits for TCP's retransmission timeout, at least 200 ms on Linux
// and doubling with each loss: the longest stalls under flapping.  A
// segment sent after the lost one makes the receiver's SACK show the hole,
// and TCP retransmits it within about a round trip (RACK).  So while bytes
// sent stay unacknowledged for kNudgeAfter (the receiver acknowledges at
// once: SideChannel sets TCP_QUICKACK after each read), the connection
// repeats its last ACTIVE, which changes nothing at the peer, every
// kNudgeInterval, at most kMaxNudges times until all is acknowledged.
constexpr std::chrono::milliseconds kNudgeAfter{5};
constexpr std::chrono::milliseconds kNudgeInterval{5};
constexpr uint32_t kMaxNudges = 40;

// Item::path of a message or write sent over the side channel (DATA).
constexpr int kOverTcp = -2;
// A DATA frame the peer's TCP has not acknowledged this long after it was
// sent is sent on a path too once one carries again (the receiver drops
// the second copy): a TCP connection that lost segments while no path
// carried may wait for its retransmission timer, hundreds of ms, and the
// messages behind it would wait too.
constexpr std::chrono::milliseconds kTcpResendAfter{5};

struct Header {
  uint64_t seq = 0;
  uint8_t type = 0;
  uint32_t length = 0;
  uint64_t offset = 0;
};

inline void PutLe(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline uint64_t GetLe(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

inline void WriteHeader(uint8_t* p, const Header& h) {
  std::memset(p, 0, kHeaderSize);
  PutLe(p, h.seq, 8);
  p[8] = h.type;
  PutLe(p + 12, h.length, 4);
  PutLe(p + 16, h.offset, 8);
}

inline Header ReadHeader(const uint8_t* p) {
  Header h;
  h.seq = GetLe(p, 8);
  h.type = p[8];
  h.length = static_cast<uint32_t>(GetLe(p + 12, 4));
  h.offset = GetLe(p + 16, 8);
  return h;
}

// Work request ids: kind (2 bits) | path (6 bits) | path epoch (24 bits) |
// value (32 bits: a send slot or a receive buffer).  The epoch changes
// whenever the path fails or gets a new QP, so that completions of an old
// QP are recognized and ignored (except received data, which is valid).
enum class WrKind : uint64_t { kItem = 0, kWrite = 1, kRecv = 2, kProbe = 3 };
constexpr int kKindShift = 62;
constexpr int kPathShift = 56;
constexpr int kEpochShift = 32;
constexpr uint64_t kPathMask = 0x3f;
constexpr uint32_t kEpochMask = 0xffffff;
constexpr size_t kMaxPaths = kPathMask + 1;
static_assert(kPathShift + 6 == kKindShift, "path bits end at the kind");
static_assert(kEpochShift + 24 == kPathShift, "epoch bits end at the path");

inline uint64_t MakeWrId(WrKind kind, size_t path, uint32_t epoch,
                         uint32_t value) {
  return static_cast<uint64_t>(kind) << kKindShift |
         static_cast<uint64_t>(path & kPathMask) << kPathShift |
         static_cast<uint64_t>(epoch & kEpochMask) << kEpochShift | value;
}

struct WrId {
  WrKind kind;
  size_t path;
  uint32_t epoch;
  uint32_t value;
};

inline WrId DecodeWrId(uint64_t id) {
  return WrId{static_cast<WrKind>(id >> kKindShift),
              static_cast<size_t>((id >> kPathShift) & kPathMask),
              static_cast<uint32_t>((id >> kEpochShift) & kEpochMask),
              static_cast<uint32_t>(id)};
}

// Completions fetched per PollCompletions() call, and the most batches
// taken from one RNIC per Progress() (so that a busy RNIC cannot starve
// the side channel and the timers).
constexpr size_t kPollBatch = 64;
constexpr size_t kMaxBatchesPerPoll = 16;

inline std::string Hex16(uint16_t v) { return HexPrefixed(v, 4); }


enum class PathState : uint8_t {
  kIdle,        // QP created, not connected yet (setup).
  kResetting,   // New QP, PATH_RESET sent, waiting for the ACK.
  kReady,       // Connected; does not carry (or waits to be probed).
  kProbing,     // Connected; our probe is outstanding.
  kUp,          // Our probe was acknowledged: may carry.
  kDown,        // Failed; reconnected at retry_at when both ends usable.
};

inline std::string_view ToString(PathState state) {
  switch (state) {
    case PathState::kIdle: return "idle";
    case PathState::kResetting: return "resetting";
    case PathState::kReady: return "ready";
    case PathState::kProbing: return "probing";
    case PathState::kUp: return "up";
    case PathState::kDown: return "down";
  }
  return "unknown";
}

}  // namespace conn_detail

struct Connection::PathView {
  size_t path = 0;
  uint64_t seq = 0;
  BondView view;
};

struct Connection::Path {
  size_t index = 0;                 // In paths_: local * n_remote + remote.
  size_t local = 0, remote = 0;     // Member indexes on each side.
  Rnic* rnic = nullptr;
  std::unique_ptr<QueuePair> qp;
  uint32_t qpn = 0;                 // qp->local().qpn.
  conn_detail::PathState state = conn_detail::PathState::kIdle;
  uint32_t epoch = 0;               // Of our QP (see WrId).
  uint32_t incarnation = 0;         // Connections agreed with the peer.
  // The peer's QP at setup: a reset may bring a new QP number and PSN,
  // never another address, GID, MAC or MTU.
  QpEndpoint peer;
  // The peer's write region as registered on its RNIC of this path.
  uint64_t region_addr = 0, region_length = 0;
  uint32_t region_rkey = 0;
  // Source ports: the current one, the candidates and which one it is.
  uint16_t sport = 0;
  std::vector<uint16_t> candidates;
  size_t candidate = 0;
  size_t agent_hints = 0;           // candidates[0, agent_hints): the agent's.
  uint32_t attempts = 0;            // Ports tried in this round.
  uint32_t round = 0;               // Candidate lists used (new key each).
  bool exhausted = false;           // Failed after max_probe_attempts.
  bool parked = false;              // Down because a member is unusable.
  bool peer_probe_seen = false;     // Something arrived on this QP.
  // The last ACTIVE number posted on this QP, and whether it is in flight.
  uint64_t view_posted = 0;
  bool view_inflight = false;
  Clock::time_point probe_deadline{};
  Clock::time_point retry_at{};
  Clock::time_point reset_deadline{};
  size_t wrs_inflight = 0;          // Our send-queue work requests.
  // Shares (ConnectionOptions::member_shares): this path's, and the bytes
  // it posted divided by it since the shares last changed (the path with
  // the least carries next).
  double share = 1;
  double vbytes = 0;
  std::unique_ptr<uint8_t[]> recv_mem;
  MemoryRegion recv_mr;
  size_t recv_count = 0;
  // What the agent was last told about this path's QP (registered: a QP
  // line was sent for agent_qpn and no DEL since).
  bool agent_registered = false;
  uint32_t agent_qpn = 0;
  uint16_t agent_sport = 0;
  AgentQpRole agent_role = AgentQpRole::kDown;
  // The last LOAD sent: for which QP, and the count it said.
  uint32_t load_qpn = 0;
  uint64_t load_bytes = 0;
  bool load_sent = false;
  PathStats stats;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_CONNECTION_INTERNAL_H_
