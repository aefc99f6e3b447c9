// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "testing/fake_rnic.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace rdma_bond::testing {

namespace {
// The first octet of a locally administered unicast MAC.
constexpr uint8_t kLocalMacPrefix = 0x02;
}  // namespace

// ---------------------------------------------------------------------------
// FakeFabric.

std::unique_ptr<FakeRnic> FakeFabric::CreateRnic(int side, size_t member,
                                                 std::string member_name,
                                                 const IpAddress& ip) {
  std::unique_ptr<FakeRnic> rnic(
      new FakeRnic(this, side, member, std::move(member_name), ip));
  std::lock_guard<std::mutex> lock(mu_);
  rnics_[{side, member}] = rnic.get();
  return rnic;
}

void FakeFabric::SetRule(std::function<Verdict(const FakeFrame&)> rule) {
  std::lock_guard<std::mutex> lock(mu_);
  rule_ = std::move(rule);
}

void FakeFabric::SetLinkDown(int side, size_t member, bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  link_down_[{side, member}] = down;
}

void FakeFabric::SetSportChangeSupported(bool supported) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.sport_change_supported = supported;
}

uint64_t FakeFabric::frames_from(int side, size_t member) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = frames_.find({side, member});
  return it == frames_.end() ? 0 : it->second;
}

uint64_t FakeFabric::misdelivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misdelivered_;
}

std::vector<FakeWrite> FakeFabric::writes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writes_;
}

std::vector<FakeSend> FakeFabric::sends() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sends_;
}

FakeQp* FakeFabric::FindQp(uint32_t qpn) {
  auto it = qps_.find(qpn);
  return it == qps_.end() ? nullptr : it->second;
}

FakeRnic* FakeFabric::Route(const FakeFrame& frame, int dest_side) {
  frames_[{frame.side, frame.member}]++;
  if (link_down_[{frame.side, frame.member}]) return nullptr;
  Verdict verdict = rule_ ? rule_(frame) : Verdict::kDeliver;
  size_t dest = frame.dest_member;
  if (verdict == Verdict::kDrop) return nullptr;
  if (verdict == Verdict::kOtherMember) {
    // The other member of a two-member bond (the next one of more).
    size_t n = 0;
    while (rnics_.count({dest_side, n})) n++;
    if (n < 2) return nullptr;
    dest = (dest + 1) % n;
  }
  if (link_down_[{dest_side, dest}]) return nullptr;
  auto it = rnics_.find({dest_side, dest});
  if (it == rnics_.end()) return nullptr;
  if (dest != frame.dest_member) {
    // That RNIC has no QP of this number: dropped there.
    misdelivered_++;
    return nullptr;
  }
  return it->second;
}

void FakeFabric::ErrorQp(FakeQp* qp, uint64_t failed_wr,
                         WcStatus failed_status) {
  std::deque<Completion>& cq = qp->rnic_->cq_;
  bool first = true;
  for (const FakeQp::SendWr& wr : qp->sendq_) {
    Completion c;
    c.wr_id = wr.wr_id;
    c.qpn = qp->qpn_;
    c.opcode = wr.write ? WcOpcode::kWrite : WcOpcode::kSend;
    c.status = first && wr.wr_id == failed_wr ? failed_status
                                              : WcStatus::kFlushed;
    first = false;
    cq.push_back(c);
  }
  for (const FakeQp::RecvWr& wr : qp->recvq_) {
    Completion c;
    c.wr_id = wr.wr_id;
    c.qpn = qp->qpn_;
    c.opcode = WcOpcode::kRecv;
    c.status = WcStatus::kFlushed;
    cq.push_back(c);
  }
  qp->sendq_.clear();
  qp->recvq_.clear();
  qp->state_ = QpState::kError;
}

void FakeFabric::Transmit(FakeQp* qp, Clock::time_point now) {
  if (qp->state_ != QpState::kRts || qp->sendq_.empty() ||
      now < qp->next_tx_) {
    return;
  }
  FakeRnic* self = qp->rnic_;
  const int dest_side = qp->remote_side_;
  // Data frames, in order, until one does not get through.
  for (FakeQp::SendWr& wr : qp->sendq_) {
    if (!wr.transmitted) {
      wr.transmitted = true;
      wr.first_tx = now;
    }
    if (wr.delivered) continue;
    FakeFrame frame{self->side_, self->member_, qp->remote_member_,
                    qp->sport_, false};
    FakeRnic* dest = Route(frame, dest_side);
    FakeQp* target = FindQp(qp->remote_qpn_);
    if (!dest || !target || target->rnic_ != dest ||
        (target->state_ != QpState::kRtr &&
         target->state_ != QpState::kRts) ||
        target->remote_qpn_ != qp->qpn_ || target->remote_psn_ != qp->psn_) {
      break;
    }
    if (wr.write) {
      const MemoryRegion* region =
          dest->FindRegion(wr.rkey, true, wr.remote_addr, wr.data.size());
      if (!region) {
        ErrorQp(qp, wr.wr_id, WcStatus::kRemoteError);
        return;
      }
      if (wr.has_imm && target->recvq_.empty()) break;  // RNR.
      std::memcpy(reinterpret_cast<uint8_t*>(wr.remote_addr), wr.data.data(),
                  wr.data.size());
      writes_.push_back(FakeWrite{dest->side_, dest->member_, wr.rkey,
                                  wr.remote_addr, wr.data.size()});
      if (wr.has_imm) {
        FakeQp::RecvWr recv = target->recvq_.front();
        target->recvq_.pop_front();
        Completion c;
        c.wr_id = recv.wr_id;
        c.qpn = target->qpn_;
        c.opcode = WcOpcode::kRecvWriteImm;
        c.byte_len = static_cast<uint32_t>(wr.data.size());
        c.has_imm = true;
        c.imm = wr.imm;
        dest->cq_.push_back(c);
      }
    } else {
      if (target->recvq_.empty()) break;  // RNR: retried.
      FakeQp::RecvWr recv = target->recvq_.front();
      if (recv.length < wr.data.size()) {
        ErrorQp(qp, wr.wr_id, WcStatus::kRemoteError);
        return;
      }
      target->recvq_.pop_front();
      std::memcpy(recv.addr, wr.data.data(), wr.data.size());
      Completion c;
      c.wr_id = recv.wr_id;
      c.qpn = target->qpn_;
      c.opcode = WcOpcode::kRecv;
      c.byte_len = static_cast<uint32_t>(wr.data.size());
      dest->cq_.push_back(c);
    }
    wr.delivered = true;
  }
  // One cumulative acknowledgement for what was delivered.
  if (qp->sendq_.front().delivered) {
    FakeQp* target = FindQp(qp->remote_qpn_);
    if (target && target->state_ != QpState::kError &&
        target->remote_qpn_ == qp->qpn_) {
      FakeFrame ack{target->rnic_->side_, target->rnic_->member_,
                    self->member_, target->sport_, true};
      if (Route(ack, self->side_) == self) {
        while (!qp->sendq_.empty() && qp->sendq_.front().delivered) {
          Completion c;
          c.wr_id = qp->sendq_.front().wr_id;
          c.qpn = qp->qpn_;
          c.opcode = qp->sendq_.front().write ? WcOpcode::kWrite
                                              : WcOpcode::kSend;
          self->cq_.push_back(c);
          qp->sendq_.pop_front();
        }
      }
    }
  }
  if (qp->sendq_.empty()) return;
  if (now - qp->sendq_.front().first_tx > options_.retry_timeout) {
    ErrorQp(qp, qp->sendq_.front().wr_id, WcStatus::kRetryExceeded);
    return;
  }
  qp->next_tx_ = now + options_.retransmit_interval;
}

// ---------------------------------------------------------------------------
// FakeRnic.

FakeRnic::FakeRnic(FakeFabric* fabric, int side, size_t member,
                   std::string name, const IpAddress& ip)
    : fabric_(fabric),
      side_(side),
      member_(member),
      member_name_(std::move(name)),
      ip_(ip) {
  name_ = "fake" + std::to_string(side) + ":" + member_name_;
  // Never readable: callers wake up on NextDeadlineUs() (1 ms) instead,
  // so that two sides polling in two threads do not spin on the mutex.
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

FakeRnic::~FakeRnic() {
  std::lock_guard<std::mutex> lock(fabric_->mu_);
  fabric_->rnics_.erase({side_, member_});
  if (event_fd_ >= 0) close(event_fd_);
}

MacAddress FakeRnic::mac() const {
  return {kLocalMacPrefix, 0, 0, 0, static_cast<uint8_t>(side_),
          static_cast<uint8_t>(member_)};
}

void FakeRnic::SetBroken(bool broken) {
  std::lock_guard<std::mutex> lock(fabric_->mu_);
  broken_ = broken;
  if (!broken) return;
  for (FakeQp* qp : qps_) {
    if (qp->state_ != QpState::kError) {
      fabric_->ErrorQp(qp, 0, WcStatus::kFlushed);
    }
  }
}

Result<std::unique_ptr<QueuePair>> FakeRnic::CreateQp(
    const QpOptions& options) {
  std::lock_guard<std::mutex> lock(fabric_->mu_);
  if (broken_) {
    return Status::Unavailable(name_ + ": device fatal error (fake)");
  }
  std::unique_ptr<FakeQp> qp(new FakeQp(this, fabric_->next_qpn_++,
                                        fabric_->next_psn_++, options));
  fabric_->qps_[qp->qpn_] = qp.get();
  qps_.push_back(qp.get());
  return std::unique_ptr<QueuePair>(std::move(qp));
}

Result<MemoryRegion> FakeRnic::Register(void* addr, size_t length,
                                        MemoryAccess access) {
  std::lock_guard<std::mutex> lock(fabric_->mu_);
  MemoryRegion mr;
  mr.addr = static_cast<uint8_t*>(addr);
  mr.length = length;
  mr.lkey = fabric_->next_key_++;
  mr.rkey = fabric_->next_key_++ | 0x80000000u;
  mr.access = access;
  regions_.push_back(mr);
  return mr;
}

Status FakeRnic::Deregister(const MemoryRegion& mr) {
  std::lock_guard<std::mutex> lock(fabric_->mu_);
  for (auto it = regions_.begin(); it != regions_.end(); ++it) {
    if (it->lkey == mr.lkey) {
      regions_.erase(it);
      return Status::OK();
    }
  }
  return Status::NotFound(name_ + ": no region with lkey " +
                          std::to_string(mr.lkey));
}

const MemoryRegion* FakeRnic::FindRegion(uint32_t key, bool remote,
                                         uint64_t addr, size_t length) const {
  for (const MemoryRegion& r : regions_) {
    if ((remote ? r.rkey : r.lkey) != key) continue;
    if (remote && r.access != MemoryAccess::kRemoteWrite) continue;
    const uint64_t begin = reinterpret_cast<uint64_t>(r.addr);
    if (addr >= begin && addr + length <= begin + r.length) return &r;
  }
  return nullptr;
}

size_t FakeRnic::PollCompletions(std::span<Completion> out) {
  std::lock_guard<std::mutex> lock(fabric_->mu_);
  const auto now = FakeFabric::Clock::now();
  for (FakeQp* qp : qps_) fabric_->Transmit(qp, now);
  size_t n = 0;
  while (n < out.size() && !cq_.empty()) {
    out[n++] = cq_.front();
    cq_.pop_front();
  }
  return n;
}

// ---------------------------------------------------------------------------
// FakeQp.

FakeQp::~FakeQp() {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  rnic_->fabric_->qps_.erase(qpn_);
  auto& list = rnic_->qps_;
  list.erase(std::remove(list.begin(), list.end(), this), list.end());
}

QpEndpoint FakeQp::local() const {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  QpEndpoint ep;
  ep.qpn = qpn_;
  ep.psn = psn_;
  ep.ip = rnic_->ip_;
  ep.mac = rnic_->mac();
  return ep;
}

QpState FakeQp::state() const {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  return state_;
}

Status FakeQp::Connect(const QpEndpoint& remote, uint16_t sport) {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  if (!IsRoceSport(sport)) {
    return Status::InvalidArgument("fake qp: source port " +
                                   std::to_string(sport) + " out of range");
  }
  if (state_ == QpState::kError) {
    psn_ = rnic_->fabric_->next_psn_++;
    sendq_.clear();
    recvq_.clear();
  }
  remote_qpn_ = remote.qpn;
  remote_psn_ = remote.psn;
  remote_side_ = remote.mac[4];
  remote_member_ = remote.mac[5];
  sport_ = sport;
  state_ = QpState::kRts;
  return Status::OK();
}

Status FakeQp::SetSourcePort(uint16_t sport) {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  if (!rnic_->fabric_->options_.sport_change_supported) {
    return Status::NotSupported("fake qp: source port change disabled");
  }
  if (!IsRoceSport(sport)) {
    return Status::InvalidArgument("fake qp: source port out of range");
  }
  sport_ = sport;
  return Status::OK();
}

uint16_t FakeQp::source_port() const {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  return sport_;
}

Status FakeQp::CheckLocal(const MemoryRegion& mr, const uint8_t* addr,
                          size_t length) const {
  if (!rnic_->FindRegion(mr.lkey, false, reinterpret_cast<uint64_t>(addr),
                         length)) {
    return Status::InvalidArgument(
        rnic_->name_ + ": buffer not inside a region of lkey " +
        std::to_string(mr.lkey) + " registered on this RNIC");
  }
  return Status::OK();
}

Status FakeQp::PostSend(uint64_t wr_id, const MemoryRegion& mr,
                        std::span<const uint8_t> data) {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  if (state_ != QpState::kRts) {
    return Status::Unavailable("fake qp: post send in state " +
                               std::string(ToString(state_)));
  }
  if (sendq_.size() >= options_.max_send_wr) {
    return Status::Unavailable("fake qp: send queue full");
  }
  Status s = CheckLocal(mr, data.data(), data.size());
  if (!s.ok()) return s;
  SendWr wr;
  wr.wr_id = wr_id;
  wr.data.assign(data.begin(), data.end());
  rnic_->fabric_->sends_.push_back(FakeSend{
      rnic_->side_, rnic_->member_, qpn_,
      std::vector<uint8_t>(
          data.begin(), data.begin() + std::min(data.size(), kFakeSendHead))});
  sendq_.push_back(std::move(wr));
  next_tx_ = {};
  return Status::OK();
}

Status FakeQp::PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                        std::span<uint8_t> buffer) {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  if (state_ == QpState::kReset || state_ == QpState::kError) {
    return Status::Unavailable("fake qp: post recv in state " +
                               std::string(ToString(state_)));
  }
  if (recvq_.size() >= options_.max_recv_wr) {
    return Status::Unavailable("fake qp: receive queue full");
  }
  Status s = CheckLocal(mr, buffer.data(), buffer.size());
  if (!s.ok()) return s;
  recvq_.push_back(RecvWr{wr_id, buffer.data(), buffer.size()});
  return Status::OK();
}

Status FakeQp::PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                         std::span<const uint8_t> data, uint64_t remote_addr,
                         uint32_t rkey, const uint32_t* imm) {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  if (state_ != QpState::kRts) {
    return Status::Unavailable("fake qp: post write in state " +
                               std::string(ToString(state_)));
  }
  if (sendq_.size() >= options_.max_send_wr) {
    return Status::Unavailable("fake qp: send queue full");
  }
  Status s = CheckLocal(mr, data.data(), data.size());
  if (!s.ok()) return s;
  SendWr wr;
  wr.wr_id = wr_id;
  wr.write = true;
  wr.data.assign(data.begin(), data.end());
  wr.remote_addr = remote_addr;
  wr.rkey = rkey;
  if (imm) {
    wr.has_imm = true;
    wr.imm = *imm;
  }
  sendq_.push_back(std::move(wr));
  next_tx_ = {};
  return Status::OK();
}

void FakeQp::SetError() {
  std::lock_guard<std::mutex> lock(rnic_->fabric_->mu_);
  if (state_ != QpState::kError) rnic_->fabric_->ErrorQp(this, 0,
                                                          WcStatus::kFlushed);
}

}  // namespace rdma_bond::testing
