// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rnic/rnic_mux.h"

#include <algorithm>
#include <array>
#include <utility>

namespace rdma_bond {

namespace {
constexpr size_t kPumpBatch = 64;   // Completions read per base poll.
}  // namespace

// A QP created through a view: forwards to the base QP, and tells the mux
// when it is gone.
class RnicMux::ViewQp final : public QueuePair {
 public:
  ViewQp(RnicMux* mux, std::unique_ptr<QueuePair> qp)
      : mux_(mux), qp_(std::move(qp)), qpn_(qp_->local().qpn) {}
  ~ViewQp() override { mux_->owners_.erase(qpn_); }

  QpEndpoint local() const override { return qp_->local(); }
  QpState state() const override { return qp_->state(); }
  Status Connect(const QpEndpoint& remote, uint16_t sport) override {
    return qp_->Connect(remote, sport);
  }
  Status SetSourcePort(uint16_t sport) override {
    return qp_->SetSourcePort(sport);
  }
  uint16_t source_port() const override { return qp_->source_port(); }
  Status PostSend(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<const uint8_t> data) override {
    return qp_->PostSend(wr_id, mr, data);
  }
  Status PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<uint8_t> buffer) override {
    return qp_->PostRecv(wr_id, mr, buffer);
  }
  Status PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                   std::span<const uint8_t> data, uint64_t remote_addr,
                   uint32_t rkey, const uint32_t* imm) override {
    return qp_->PostWrite(wr_id, mr, data, remote_addr, rkey, imm);
  }
  void SetError() override { qp_->SetError(); }

 private:
  RnicMux* const mux_;
  const std::unique_ptr<QueuePair> qp_;
  const uint32_t qpn_;
};

class RnicMux::View final : public Rnic {
 public:
  explicit View(RnicMux* mux) : mux_(mux) {}
  ~View() override {
    for (auto it = mux_->owners_.begin(); it != mux_->owners_.end();) {
      it = it->second == this ? mux_->owners_.erase(it) : std::next(it);
    }
  }

  const std::string& name() const override { return mux_->base_->name(); }
  const std::string& member() const override {
    return mux_->base_->member();
  }
  bool is_emulation() const override { return mux_->base_->is_emulation(); }

  Result<std::unique_ptr<QueuePair>> CreateQp(
      const QpOptions& options) override {
    Result<std::unique_ptr<QueuePair>> qp = mux_->base_->CreateQp(options);
    if (!qp.ok()) {
      return qp.status();
    }
    auto view_qp = std::make_unique<ViewQp>(mux_, std::move(*qp));
    mux_->owners_[view_qp->local().qpn] = this;
    return std::unique_ptr<QueuePair>(std::move(view_qp));
  }
  Result<MemoryRegion> Register(void* addr, size_t length,
                                MemoryAccess access) override {
    return mux_->base_->Register(addr, length, access);
  }
  Status Deregister(const MemoryRegion& mr) override {
    return mux_->base_->Deregister(mr);
  }

  size_t PollCompletions(std::span<Completion> out) override {
    if (queue_.size() < out.size()) {
      mux_->Pump();
    }
    const size_t n = std::min(out.size(), queue_.size());
    std::copy_n(queue_.begin(), n, out.begin());
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    return n;
  }
  int EventFd() const override { return mux_->base_->EventFd(); }
  int64_t NextDeadlineUs() const override {
    // Completions already sorted here do not make the base fd readable.
    return queue_.empty() ? mux_->base_->NextDeadlineUs() : 0;
  }

  void Queue(const Completion& c) { queue_.push_back(c); }

 private:
  RnicMux* const mux_;
  std::deque<Completion> queue_;
};

RnicMux::~RnicMux() = default;

std::unique_ptr<Rnic> RnicMux::NewView() {
  return std::make_unique<View>(this);
}

void RnicMux::Pump() {
  std::array<Completion, kPumpBatch> batch;
  size_t n;
  do {
    n = base_->PollCompletions(batch);
    for (size_t i = 0; i < n; i++) {
      auto it = owners_.find(batch[i].qpn);
      if (it == owners_.end()) {
        orphaned_++;
      } else {
        it->second->Queue(batch[i]);
      }
    }
  } while (n == batch.size());
}

}  // namespace rdma_bond
