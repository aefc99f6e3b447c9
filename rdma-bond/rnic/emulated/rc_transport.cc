// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rnic/emulated/rc_transport.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace rdma_bond {

namespace {

constexpr uint32_t kMinPathMtu = 256;          // IB MTU 256.
constexpr uint8_t kRnrRetryForever = 7;        // verbs: rnr_retry 7.
// Largest message (verbs' max_msg_sz on RoCE NICs).
constexpr uint64_t kMaxMessageBytes = uint64_t{1} << 31;
// PSNs posted but not acknowledged stay under 2^22, well inside the 2^23
// that PsnDiff() can order.
constexpr uint32_t kMaxOutstandingPsns = 1u << 22;
static_assert(kMaxOutstandingPsns < (1u << 23), "PsnDiff must order them");

uint32_t PacketsFor(size_t length, uint32_t mtu) {
  return length == 0 ? 1 : static_cast<uint32_t>((length + mtu - 1) / mtu);
}

BthOpcode RequestOpcode(bool is_write, bool has_imm, uint32_t index,
                        uint32_t packets) {
  const bool first = index == 0;
  const bool last = index + 1 == packets;
  if (is_write) {
    if (first && last) {
      return has_imm ? BthOpcode::kRdmaWriteOnlyWithImmediate
                     : BthOpcode::kRdmaWriteOnly;
    }
    if (first) return BthOpcode::kRdmaWriteFirst;
    if (last) {
      return has_imm ? BthOpcode::kRdmaWriteLastWithImmediate
                     : BthOpcode::kRdmaWriteLast;
    }
    return BthOpcode::kRdmaWriteMiddle;
  }
  if (first && last) {
    return has_imm ? BthOpcode::kSendOnlyWithImmediate : BthOpcode::kSendOnly;
  }
  if (first) return BthOpcode::kSendFirst;
  if (last) {
    return has_imm ? BthOpcode::kSendLastWithImmediate : BthOpcode::kSendLast;
  }
  return BthOpcode::kSendMiddle;
}

}  // namespace

RcTransport::RcTransport(uint32_t local_qpn, const QpOptions& options,
                         RemoteAccess* memory, const RcTuning& tuning)
    : local_qpn_(local_qpn & kQpnMask),
      options_(options),
      memory_(memory),
      tuning_(tuning),
      send_queue_(options.max_send_wr),
      recv_queue_(options.max_recv_wr),
      completions_(size_t{options.max_send_wr} + options.max_recv_wr + 1) {}

Status RcTransport::Connect(const RcConnection& connection) {
  if (state_ == QpState::kRts || state_ == QpState::kRtr) {
    return Status::InvalidArgument(
        "QP " + std::to_string(local_qpn_) +
        " is already connected (move it to the error state first)");
  }
  if (connection.mtu < kMinPathMtu || connection.mtu > kMaxRoceMtu ||
      (connection.mtu & (connection.mtu - 1)) != 0) {
    return Status::InvalidArgument("path MTU " +
                                   std::to_string(connection.mtu) +
                                   " is not one of 256, 512, 1024, 2048, "
                                   "4096");
  }
  if (connection.remote_qpn > kQpnMask || connection.local_psn > kPsnMask ||
      connection.remote_psn > kPsnMask) {
    return Status::InvalidArgument("QPN or PSN has more than 24 bits");
  }
  if (state_ == QpState::kError) ResetQueues();
  remote_qpn_ = connection.remote_qpn;
  mtu_ = connection.mtu;
  next_post_psn_ = una_psn_ = tx_psn_ = high_psn_ = connection.local_psn;
  tx_index_ = 0;
  ack_deadline_ = rnr_until_ = -1;
  retries_left_ = options_.retry_count;
  rnr_retries_left_ = options_.rnr_retry;
  epsn_ = connection.remote_psn;
  msn_ = 0;
  nak_outstanding_ = false;
  inbound_ = Inbound::kNone;
  response_pending_ = false;
  state_ = QpState::kRts;
  return Status::OK();
}

Status RcTransport::CheckPostable(size_t length) const {
  if (state_ != QpState::kRts) {
    return Status::InvalidArgument("QP " + std::to_string(local_qpn_) +
                                   " is in state " +
                                   std::string(ToString(state_)) +
                                   ", not rts: connect it first");
  }
  if (send_queue_.size() >= options_.max_send_wr) {
    return Status::Unavailable("send queue of QP " +
                               std::to_string(local_qpn_) + " is full (" +
                               std::to_string(options_.max_send_wr) +
                               " outstanding requests): poll completions");
  }
  if (length > kMaxMessageBytes) {
    return Status::InvalidArgument("message of " + std::to_string(length) +
                                   " bytes exceeds the 2 GiB limit");
  }
  const uint32_t packets = PacketsFor(length, mtu_);
  if (static_cast<uint32_t>(PsnDiff(next_post_psn_, una_psn_)) + packets >=
      kMaxOutstandingPsns) {
    return Status::Unavailable("QP " + std::to_string(local_qpn_) +
                               " has too many packets outstanding: poll "
                               "completions");
  }
  return Status::OK();
}

Status RcTransport::PostSendWqe(const SendWqe& posted) {
  if (Status s = CheckPostable(posted.data.size()); !s.ok()) return s;
  SendWqe wqe = posted;
  wqe.first_psn = next_post_psn_;
  wqe.packets = PacketsFor(wqe.data.size(), mtu_);
  next_post_psn_ = PsnAdd(next_post_psn_, wqe.packets);
  send_queue_.push_back(wqe);
  return Status::OK();
}

Status RcTransport::PostSend(uint64_t wr_id, std::span<const uint8_t> data,
                             const uint32_t* imm) {
  SendWqe wqe;
  wqe.wr_id = wr_id;
  wqe.data = data;
  wqe.has_imm = imm != nullptr;
  wqe.imm = imm ? *imm : 0;
  return PostSendWqe(wqe);
}

Status RcTransport::PostWrite(uint64_t wr_id, std::span<const uint8_t> data,
                              uint64_t remote_addr, uint32_t rkey,
                              const uint32_t* imm) {
  SendWqe wqe;
  wqe.wr_id = wr_id;
  wqe.is_write = true;
  wqe.data = data;
  wqe.remote_addr = remote_addr;
  wqe.rkey = rkey;
  wqe.has_imm = imm != nullptr;
  wqe.imm = imm ? *imm : 0;
  return PostSendWqe(wqe);
}

Status RcTransport::PostRecv(uint64_t wr_id, std::span<uint8_t> buffer) {
  if (state_ == QpState::kReset) {
    return Status::InvalidArgument("QP " + std::to_string(local_qpn_) +
                                   " is in state reset: no receives yet");
  }
  if (recv_queue_.size() >= options_.max_recv_wr) {
    return Status::Unavailable("receive queue of QP " +
                               std::to_string(local_qpn_) + " is full (" +
                               std::to_string(options_.max_recv_wr) + ")");
  }
  if (state_ == QpState::kError) {
    Complete(wr_id, WcStatus::kFlushed, WcOpcode::kRecv);
    return Status::OK();
  }
  recv_queue_.push_back({wr_id, buffer});
  return Status::OK();
}

void RcTransport::Complete(uint64_t wr_id, WcStatus status, WcOpcode opcode,
                           uint32_t byte_len, const uint32_t* imm) {
  Completion c;
  c.wr_id = wr_id;
  c.qpn = local_qpn_;
  c.status = status;
  c.opcode = opcode;
  c.byte_len = byte_len;
  c.has_imm = imm != nullptr;
  c.imm = imm ? *imm : 0;
  completions_.push_back(c);
}

void RcTransport::ResetQueues() {
  send_queue_.clear();
  recv_queue_.clear();
  inbound_ = Inbound::kNone;
  response_pending_ = false;
  ack_deadline_ = rnr_until_ = -1;
  tx_index_ = 0;
}

void RcTransport::SetError() {
  if (state_ == QpState::kError) return;
  state_ = QpState::kError;
  for (size_t i = 0; i < send_queue_.size(); i++) {
    const SendWqe& w = send_queue_[i];
    Complete(w.wr_id, WcStatus::kFlushed,
             w.is_write ? WcOpcode::kWrite : WcOpcode::kSend);
  }
  if (inbound_ == Inbound::kSend) {
    Complete(inbound_recv_.wr_id, WcStatus::kFlushed, WcOpcode::kRecv);
  }
  for (size_t i = 0; i < recv_queue_.size(); i++) {
    Complete(recv_queue_[i].wr_id, WcStatus::kFlushed, WcOpcode::kRecv);
  }
  ResetQueues();
}

void RcTransport::FailHead(WcStatus status) {
  if (!send_queue_.empty()) {
    const SendWqe& w = send_queue_.front();
    Complete(w.wr_id, status, w.is_write ? WcOpcode::kWrite : WcOpcode::kSend);
    send_queue_.pop_front();
  }
  SetError();
}

uint32_t RcTransport::AckTimeoutUs() const {
  return std::max(options_.ack_timeout_us, tuning_.min_ack_timeout_us);
}

size_t RcTransport::TakeCompletions(std::span<Completion> out) {
  size_t n = 0;
  while (n < out.size() && !completions_.empty()) {
    out[n++] = completions_.front();
    completions_.pop_front();
  }
  return n;
}

// ---------------------------------------------------------------------------
// Timers and output.

int64_t RcTransport::NextDeadline() const {
  if (state_ != QpState::kRts) return -1;
  if (rnr_until_ >= 0) return rnr_until_;
  return ack_deadline_;
}

void RcTransport::OnTimer(int64_t now_us) {
  if (state_ != QpState::kRts) return;
  if (rnr_until_ >= 0) {
    if (now_us >= rnr_until_) rnr_until_ = -1;  // Resend from tx_psn_.
    return;
  }
  if (ack_deadline_ < 0 || now_us < ack_deadline_) return;
  stats_.timeouts++;
  if (retries_left_ == 0) {
    FailHead(WcStatus::kRetryExceeded);
    return;
  }
  retries_left_--;
  GoBack();
  ack_deadline_ = now_us + AckTimeoutUs();
}

void RcTransport::GoBack() {
  tx_psn_ = una_psn_;
  tx_index_ = 0;
}

bool RcTransport::HasOutput() const {
  if (response_pending_) return true;
  return state_ == QpState::kRts && rnr_until_ < 0 &&
         tx_index_ < send_queue_.size() &&
         static_cast<uint32_t>(PsnDiff(tx_psn_, una_psn_)) <
             tuning_.window_packets;
}

bool RcTransport::NextPacket(int64_t now_us, RocePacket* packet) {
  if (response_pending_) {
    response_pending_ = false;
    packet->bth = Bth{};
    packet->bth.opcode = BthOpcode::kAcknowledge;
    packet->bth.dest_qpn = remote_qpn_;
    packet->bth.psn = response_psn_;
    packet->aeth = response_aeth_;
    packet->payload = {};
    if (response_aeth_.type() == kAethTypeAck) {
      stats_.acks_sent++;
    } else if (response_aeth_.type() == kAethTypeRnrNak) {
      stats_.rnr_naks_sent++;
    } else {
      stats_.naks_sent++;
    }
    return true;
  }
  if (!HasOutput()) return false;
  BuildDataPacket(packet);
  if (ack_deadline_ < 0) ack_deadline_ = now_us + AckTimeoutUs();
  return true;
}

void RcTransport::BuildDataPacket(RocePacket* packet) {
  const SendWqe& w = send_queue_[tx_index_];
  const uint32_t index = static_cast<uint32_t>(PsnDiff(tx_psn_, w.first_psn));
  const size_t offset = size_t{index} * mtu_;
  const size_t length = std::min<size_t>(mtu_, w.data.size() - offset);
  const uint32_t psn = tx_psn_;
  const bool last = index + 1 == w.packets;

  packet->bth = Bth{};
  packet->bth.opcode = RequestOpcode(w.is_write, w.has_imm, index, w.packets);
  packet->bth.dest_qpn = remote_qpn_;
  packet->bth.psn = psn;
  const uint32_t in_flight =
      static_cast<uint32_t>(PsnDiff(psn, una_psn_)) + 1;
  packet->bth.ack_req = last || (index + 1) % tuning_.ack_req_every == 0 ||
                        in_flight >= tuning_.window_packets;
  if (OpcodeHasReth(packet->bth.opcode)) {
    packet->reth.va = w.remote_addr;
    packet->reth.rkey = w.rkey;
    packet->reth.dma_length = static_cast<uint32_t>(w.data.size());
  }
  packet->imm = w.imm;
  packet->payload = w.data.subspan(offset, length);

  stats_.packets_sent++;
  if (PsnDiff(psn, high_psn_) < 0) {
    stats_.retransmits++;
  } else {
    high_psn_ = PsnAdd(psn, 1);
  }
  tx_psn_ = PsnAdd(psn, 1);
  if (last) tx_index_++;
}

// ---------------------------------------------------------------------------
// Inbound packets.

void RcTransport::OnPacket(const RocePacket& packet, int64_t now_us) {
  if (state_ != QpState::kRts) return;
  if (packet.bth.opcode == BthOpcode::kAcknowledge) {
    OnAcknowledge(packet, now_us);
  } else {
    OnRequest(packet);
  }
}

// Everything before 'psn' is acknowledged: complete the requests it covers
// and restart the ACK timer if packets stay outstanding.
void RcTransport::AckBefore(uint32_t psn, int64_t now_us) {
  if (PsnDiff(psn, una_psn_) <= 0) return;
  una_psn_ = psn;
  retries_left_ = options_.retry_count;   // Progress: a fresh budget.
  rnr_retries_left_ = options_.rnr_retry;
  size_t popped = 0;
  while (!send_queue_.empty()) {
    const SendWqe& w = send_queue_.front();
    if (PsnDiff(PsnAdd(w.first_psn, w.packets), una_psn_) > 0) break;
    Complete(w.wr_id, WcStatus::kSuccess,
             w.is_write ? WcOpcode::kWrite : WcOpcode::kSend);
    send_queue_.pop_front();
    popped++;
  }
  if (PsnDiff(tx_psn_, una_psn_) < 0) {
    // A late ACK overtook a go-back-N: skip what it acknowledged.
    tx_psn_ = una_psn_;
    tx_index_ = 0;
  } else {
    tx_index_ -= std::min(tx_index_, popped);
  }
  ack_deadline_ =
      PsnDiff(high_psn_, una_psn_) > 0 ? now_us + AckTimeoutUs() : -1;
}

void RcTransport::OnAcknowledge(const RocePacket& packet, int64_t now_us) {
  const uint32_t psn = packet.bth.psn;
  const Aeth& aeth = packet.aeth;
  // Only PSNs we sent can be acknowledged: [una, high).
  const int32_t ahead = PsnDiff(psn, una_psn_);
  const int32_t sent = PsnDiff(high_psn_, una_psn_);
  switch (aeth.type()) {
    case kAethTypeAck:
      stats_.acks_received++;
      if (ahead < 0 || ahead >= sent) return;  // Stale or bogus.
      AckBefore(PsnAdd(psn, 1), now_us);
      return;
    case kAethTypeRnrNak:
      stats_.rnr_naks_received++;
      if (ahead < 0 || ahead >= sent) return;
      AckBefore(psn, now_us);
      if (options_.rnr_retry != kRnrRetryForever) {
        if (rnr_retries_left_ == 0) {
          FailHead(WcStatus::kRnrRetryExceeded);
          return;
        }
        rnr_retries_left_--;
      }
      GoBack();
      ack_deadline_ = -1;
      rnr_until_ = now_us + RnrTimerMicros(aeth.value());
      return;
    case kAethTypeNak:
      stats_.naks_received++;
      if (ahead < 0 || ahead > sent) return;
      if (aeth.value() == kAethNakPsnSequenceError) {
        const bool progress = ahead > 0;
        AckBefore(psn, now_us);
        if (rnr_until_ >= 0) return;  // The RNR wait resends anyway.
        if (!progress) {
          if (retries_left_ == 0) {
            FailHead(WcStatus::kRetryExceeded);
            return;
          }
          retries_left_--;
        }
        GoBack();
        ack_deadline_ = now_us + AckTimeoutUs();
        return;
      }
      if (ahead == sent) return;
      // Remote access, invalid request, remote operational error: the
      // request at 'psn' failed; the QP goes to the error state.
      AckBefore(psn, now_us);
      FailHead(WcStatus::kRemoteError);
      return;
    default:
      return;  // Reserved syndrome.
  }
}

void RcTransport::Respond(uint32_t psn, Aeth aeth) {
  response_pending_ = true;
  response_psn_ = psn;
  response_aeth_ = aeth;
}

void RcTransport::NakOnce(Aeth aeth) {
  if (nak_outstanding_) return;
  NakExpected(aeth);
}

void RcTransport::NakExpected(Aeth aeth) {
  nak_outstanding_ = true;
  Respond(epsn_, aeth);
}

void RcTransport::OnRequest(const RocePacket& packet) {
  const Bth& bth = packet.bth;
  const int32_t distance = PsnDiff(bth.psn, epsn_);
  if (distance < 0) {
    // Duplicate: the ACK was lost or is late.  Re-ACK what we have.
    stats_.duplicates++;
    if (!nak_outstanding_) Respond(PsnAdd(epsn_, kPsnMask), Aeth::Ack(msn_));
    return;
  }
  if (distance > 0) {
    stats_.out_of_order++;
    NakOnce(Aeth::Nak(msn_, kAethNakPsnSequenceError));
    return;
  }

  const BthOpcode op = bth.opcode;
  const bool starts = OpcodeStartsMessage(op);
  const bool ends = OpcodeEndsMessage(op);
  const size_t length = packet.payload.size();
  // Opcode sequence and packet size (IBA 9.7.3.1.3): FIRST and MIDDLE
  // packets carry exactly one MTU, the others at most one.
  const bool in_sequence =
      starts ? inbound_ == Inbound::kNone
             : inbound_ == (OpcodeIsSend(op) ? Inbound::kSend
                                             : Inbound::kWrite);
  if (!in_sequence || length > mtu_ || (!ends && length != mtu_)) {
    NakExpected(Aeth::Nak(msn_, kAethNakInvalidRequest));
    return;
  }
  const bool imm = OpcodeHasImmDt(op);
  const bool needs_recv = OpcodeIsSend(op) ? starts : imm;
  if (needs_recv && recv_queue_.empty()) {
    NakExpected(Aeth::RnrNak(msn_, tuning_.rnr_timer));
    return;
  }

  if (OpcodeIsSend(op)) {
    if (starts) {
      inbound_recv_ = recv_queue_.front();
      recv_queue_.pop_front();
      inbound_ = Inbound::kSend;
      inbound_offset_ = 0;
    }
    if (inbound_offset_ + length > inbound_recv_.buffer.size()) {
      // verbs: IBV_WC_LOC_LEN_ERR here, IBV_WC_REM_INV_REQ_ERR there.
      Complete(inbound_recv_.wr_id, WcStatus::kLocalError, WcOpcode::kRecv);
      inbound_ = Inbound::kNone;
      NakExpected(Aeth::Nak(msn_, kAethNakInvalidRequest));
      return;
    }
    if (length > 0) {
      std::memcpy(inbound_recv_.buffer.data() + inbound_offset_,
                  packet.payload.data(), length);
    }
    inbound_offset_ += length;
  } else {
    if (starts) {
      const Reth& reth = packet.reth;
      uint8_t* target = nullptr;
      if (reth.dma_length > 0) {
        target = memory_ ? memory_->ResolveRemoteWrite(reth.rkey, reth.va,
                                                       reth.dma_length)
                         : nullptr;
        if (target == nullptr) {
          NakExpected(Aeth::Nak(msn_, kAethNakRemoteAccessError));
          return;
        }
      }
      inbound_ = Inbound::kWrite;
      write_ptr_ = target;
      write_remaining_ = write_length_ = reth.dma_length;
    }
    if (length > write_remaining_ || (ends && length != write_remaining_)) {
      inbound_ = Inbound::kNone;
      NakExpected(Aeth::Nak(msn_, kAethNakInvalidRequest));
      return;
    }
    if (length > 0) {
      std::memcpy(write_ptr_, packet.payload.data(), length);
      write_ptr_ += length;
    }
    write_remaining_ -= static_cast<uint32_t>(length);
  }

  if (ends) {
    if (OpcodeIsSend(op)) {
      Complete(inbound_recv_.wr_id, WcStatus::kSuccess, WcOpcode::kRecv,
               static_cast<uint32_t>(inbound_offset_),
               imm ? &packet.imm : nullptr);
    } else if (imm) {
      const RecvWqe recv = recv_queue_.front();
      recv_queue_.pop_front();
      Complete(recv.wr_id, WcStatus::kSuccess, WcOpcode::kRecvWriteImm,
               write_length_, &packet.imm);
    }
    inbound_ = Inbound::kNone;
    msn_ = (msn_ + 1) & kMsnMask;
  }
  stats_.packets_received++;
  epsn_ = PsnAdd(epsn_, 1);
  nak_outstanding_ = false;
  if (bth.ack_req) Respond(bth.psn, Aeth::Ack(msn_));
}

}  // namespace rdma_bond
