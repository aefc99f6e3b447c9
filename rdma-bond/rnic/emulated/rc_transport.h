// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RcTransport: the reliable-connected (RC) transport of one queue pair of
// the emulated RNIC, as a state machine without I/O or clocks.
//
// It is both halves of an RC QP (IBA chapter 9):
//
//   requester   segments posted SENDs and RDMA WRITEs into path-MTU
//               packets (FIRST/MIDDLE/LAST/ONLY opcodes), numbers them
//               with 24-bit PSNs, keeps at most 'window_packets' packets
//               unacknowledged, asks for an ACK (AckReq) on the last
//               packet of each message and every 'ack_req_every' packets,
//               completes a work request when the ACK covering its last
//               packet arrives, and retransmits go-back-N from the first
//               unacknowledged PSN on an ACK timeout or a PSN sequence
//               error NAK.  After 'retry_count' retries without progress
//               the oldest request completes kRetryExceeded, every other
//               one kFlushed, and the QP is in the error state.  An RNR NAK
//               makes it wait the NAK's timer and resend ('rnr_retry' 7:
//               forever).
//   responder   accepts packets in PSN order only; a duplicate is
//               re-ACKed, never delivered twice; a gap is NAKed once
//               (sequence error) until it is filled.  SENDs and *_WITH_
//               IMMEDIATE consume posted receives (RNR NAK when none is
//               posted); RDMA WRITEs land in registered memory after the
//               R_Key and bounds are checked (remote access error NAK
//               otherwise).  ACKs are coalesced: one pending response,
//               sent by the next NextPacket(), covers everything so far.
//
// Time is the caller's: every call that may start or check a timer takes
// 'now_us' (microseconds of any monotonic clock), so tests drive it with a
// fake clock and a fake lossy link.
//
// Emulation notes (where it is simpler than a real RNIC):
//   - the ACK timeout is max(QpOptions.ack_timeout_us,
//     RcTuning.min_ack_timeout_us), without exponential backoff;
//   - a responder that NAKs a remote access error or an invalid request
//     stays in RTS (the requester goes to the error state, as in IB);
//   - no RDMA READ, atomics, or credit-based flow control (ACKs advertise
//     unlimited credits).
//
// Usage (the emulated RNIC's loop):
//   RcTransport qp(qpn, options, &memory_table);
//   qp.Connect({.remote_qpn = r.qpn, .local_psn = psn, .remote_psn = r.psn,
//               .mtu = 1024});
//   qp.PostSend(wr_id, bytes, nullptr);
//   for each received packet for qpn: qp.OnPacket(packet, now);
//   if (qp.NextDeadline() >= 0 && now >= qp.NextDeadline()) qp.OnTimer(now);
//   RocePacket out;  while (qp.NextPacket(now, &out)) Transmit(out);
//   qp.TakeCompletions(completions);
//
// Thread-safety: none; one thread at a time.  The payload of a packet from
// NextPacket() views the posted buffer (valid until its work request
// completes); OnPacket() copies what it keeps.

#ifndef RDMA_BOND_RC_TRANSPORT_H_
#define RDMA_BOND_RC_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"
#include "rnic/emulated/roce_frame.h"

namespace rdma_bond {

// Where the responder lands RDMA WRITEs: the RNIC's table of registered
// memory.
class RemoteAccess {
 public:
  virtual ~RemoteAccess() = default;
  // The local address of [va, va + length) if 'rkey' names a registered
  // region that contains the whole range; nullptr otherwise.
  virtual uint8_t* ResolveRemoteWrite(uint32_t rkey, uint64_t va,
                                      uint64_t length) = 0;
};

// Knobs of the emulation that a verbs QP does not have.
struct RcTuning {
  // Unacknowledged packets at most (the requester's window).
  uint32_t window_packets = 256;
  // AckReq on every N-th packet of a long message, besides its last one.
  uint32_t ack_req_every = 64;
  // Floor of the ACK timeout: a userspace engine on a loaded host is
  // late by a scheduler tick now and then; below 1 ms it retransmits for
  // nothing.
  uint32_t min_ack_timeout_us = 1000;
  // The RNR NAK timer code that this responder sends (IBA table 45;
  // 12 = 0.64 ms).
  uint8_t rnr_timer = 12;
};

// Counters of one QP, cumulative.
struct RcStats {
  uint64_t packets_sent = 0;        // Data packets, retransmissions included.
  uint64_t retransmits = 0;         // Data packets sent again.
  uint64_t timeouts = 0;            // ACK timer expiries.
  uint64_t acks_sent = 0;           // ACKNOWLEDGE packets with ACK syndrome.
  uint64_t naks_sent = 0;           // Sequence, access and invalid NAKs.
  uint64_t rnr_naks_sent = 0;
  uint64_t acks_received = 0;
  uint64_t naks_received = 0;
  uint64_t rnr_naks_received = 0;
  uint64_t packets_received = 0;    // Data packets accepted in order.
  uint64_t duplicates = 0;          // Data packets before the expected PSN.
  uint64_t out_of_order = 0;        // Data packets after the expected PSN.
};

// What Connect() needs from the two QpEndpoints.
struct RcConnection {
  uint32_t remote_qpn = 0;
  uint32_t local_psn = 0;           // First PSN this side sends.
  uint32_t remote_psn = 0;          // First PSN expected from the peer.
  uint32_t mtu = 1024;              // Path MTU: min of the two sides.
};

// Signed distance a - b between two 24-bit PSNs (-2^23 .. 2^23 - 1).
constexpr int32_t PsnDiff(uint32_t a, uint32_t b) {
  return static_cast<int32_t>((a - b) << 8) >> 8;
}
constexpr uint32_t PsnAdd(uint32_t psn, uint32_t n) {
  return (psn + n) & kPsnMask;
}
static_assert(PsnDiff(0, 0xffffff) == 1, "PSNs wrap at 2^24");
static_assert(PsnDiff(0xffffff, 0) == -1, "PSNs wrap at 2^24");
static_assert(PsnAdd(0xffffff, 2) == 1, "PSNs wrap at 2^24");

// A ring of T that grows (doubling) when full; no allocation otherwise.
template <typename T>
class GrowingRing {
 public:
  explicit GrowingRing(size_t capacity) : items_(capacity ? capacity : 1) {}
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { head_ = size_ = 0; }
  // REQUIRES: i < size().
  T& operator[](size_t i) { return items_[(head_ + i) % items_.size()]; }
  const T& operator[](size_t i) const {
    return items_[(head_ + i) % items_.size()];
  }
  T& front() { return (*this)[0]; }
  void push_back(const T& item) {
    if (size_ == items_.size()) Grow();
    items_[(head_ + size_) % items_.size()] = item;
    size_++;
  }
  // REQUIRES: !empty().
  void pop_front() {
    head_ = (head_ + 1) % items_.size();
    size_--;
  }

 private:
  void Grow() {
    std::vector<T> bigger(items_.size() * 2);
    for (size_t i = 0; i < size_; i++) bigger[i] = (*this)[i];
    items_.swap(bigger);
    head_ = 0;
  }
  std::vector<T> items_;
  size_t head_ = 0;
  size_t size_ = 0;
};

class RcTransport {
 public:
  // The QP starts in kInit: receives may be posted, sends may not.
  // 'memory' must outlive the transport (it may be null if the QP never
  // accepts RDMA WRITEs: every WRITE is then NAKed).
  RcTransport(uint32_t local_qpn, const QpOptions& options,
              RemoteAccess* memory, const RcTuning& tuning = {});

  RcTransport(const RcTransport&) = delete;
  RcTransport& operator=(const RcTransport&) = delete;

  uint32_t local_qpn() const { return local_qpn_; }
  QpState state() const { return state_; }
  const RcStats& stats() const { return stats_; }
  uint32_t mtu() const { return mtu_; }
  uint32_t remote_qpn() const { return remote_qpn_; }

  // kInit or kError -> kRts.  From kError the QP is reset first (its
  // queues are empty then: they were flushed).  InvalidArgument if already
  // connected, the MTU is not 256..4096, or a QPN/PSN has more than 24 bits.
  Status Connect(const RcConnection& connection);

  // Work requests; see QueuePair.  Nothing is queued on error.
  // REQUIRES: the memory stays valid until the request completes.
  Status PostSend(uint64_t wr_id, std::span<const uint8_t> data,
                  const uint32_t* imm);
  Status PostWrite(uint64_t wr_id, std::span<const uint8_t> data,
                   uint64_t remote_addr, uint32_t rkey, const uint32_t* imm);
  // In kError the receive completes kFlushed at once (as verbs).
  Status PostRecv(uint64_t wr_id, std::span<uint8_t> buffer);

  // Moves to kError: every outstanding request completes kFlushed.
  void SetError();

  // A received packet whose BTH dest QPN is this QP's.
  void OnPacket(const RocePacket& packet, int64_t now_us);

  // Fires the timers whose deadline is <= now_us.
  void OnTimer(int64_t now_us);

  // The earliest timer deadline (absolute, same clock as now_us), or -1.
  int64_t NextDeadline() const;

  // True if NextPacket() would return a packet.
  bool HasOutput() const;

  // The next packet to transmit (a pending ACK/NAK first, then data within
  // the window), with its BTH dest QPN set.  False when there is nothing
  // to send now.
  bool NextPacket(int64_t now_us, RocePacket* packet);

  bool HasCompletions() const { return !completions_.empty(); }
  // Moves up to out.size() completions into 'out'; returns how many.
  size_t TakeCompletions(std::span<Completion> out);

 private:
  struct SendWqe {
    uint64_t wr_id = 0;
    bool is_write = false;
    bool has_imm = false;
    uint32_t imm = 0;
    std::span<const uint8_t> data;
    uint64_t remote_addr = 0;
    uint32_t rkey = 0;
    uint32_t first_psn = 0;
    uint32_t packets = 0;
  };
  struct RecvWqe {
    uint64_t wr_id = 0;
    std::span<uint8_t> buffer;
  };
  enum class Inbound : uint8_t { kNone, kSend, kWrite };

  Status CheckPostable(size_t length) const;
  Status PostSendWqe(const SendWqe& wqe);
  uint32_t AckTimeoutUs() const;
  void Complete(uint64_t wr_id, WcStatus status, WcOpcode opcode,
                uint32_t byte_len = 0, const uint32_t* imm = nullptr);
  void ResetQueues();
  void FailHead(WcStatus status);

  // Requester.
  void OnAcknowledge(const RocePacket& packet, int64_t now_us);
  void AckBefore(uint32_t psn, int64_t now_us);
  void GoBack();
  void BuildDataPacket(RocePacket* packet);

  // Responder.
  void OnRequest(const RocePacket& packet);
  void Respond(uint32_t psn, Aeth aeth);
  // A NAK for the expected PSN, once per gap (out-of-order packets).
  void NakOnce(Aeth aeth);
  // A NAK for the expected PSN that arrived in order and was refused
  // (RNR, access, invalid): sent on every try, so a lost NAK is repeated.
  void NakExpected(Aeth aeth);

  const uint32_t local_qpn_;
  const QpOptions options_;
  RemoteAccess* const memory_;
  const RcTuning tuning_;

  QpState state_ = QpState::kInit;
  uint32_t remote_qpn_ = 0;
  uint32_t mtu_ = 1024;
  RcStats stats_;

  // Requester.
  GrowingRing<SendWqe> send_queue_;  // Oldest unacknowledged first.
  uint32_t next_post_psn_ = 0;       // First PSN of the next posted WQE.
  uint32_t una_psn_ = 0;             // Oldest unacknowledged PSN.
  uint32_t tx_psn_ = 0;              // Next PSN to transmit.
  uint32_t high_psn_ = 0;            // Highest PSN ever transmitted + 1.
  size_t tx_index_ = 0;              // send_queue_ index holding tx_psn_.
  int64_t ack_deadline_ = -1;        // -1: no timer.
  int64_t rnr_until_ = -1;           // -1: not waiting after an RNR NAK.
  uint8_t retries_left_ = 0;
  uint8_t rnr_retries_left_ = 0;

  // Responder.
  GrowingRing<RecvWqe> recv_queue_;
  uint32_t epsn_ = 0;                // Expected PSN.
  uint32_t msn_ = 0;                 // Messages completed.
  bool nak_outstanding_ = false;     // A NAK for epsn_ was sent.
  Inbound inbound_ = Inbound::kNone;
  RecvWqe inbound_recv_;             // kSend: the consumed receive.
  size_t inbound_offset_ = 0;        // kSend: bytes filled.
  uint8_t* write_ptr_ = nullptr;     // kWrite: where the next byte goes.
  uint32_t write_remaining_ = 0;
  uint32_t write_length_ = 0;
  bool response_pending_ = false;
  uint32_t response_psn_ = 0;
  Aeth response_aeth_;

  GrowingRing<Completion> completions_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_RC_TRANSPORT_H_
