// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// MemoryFrameLink: a pair of frame links joined in memory, for tests: what
// one side sends, the other receives.

#include "rnic/emulated/emulated_rnic.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <utility>
#include <vector>

namespace rdma_bond {

struct MemoryFrameLink::Channel {
  std::deque<std::vector<uint8_t>> queue[2];  // Frames for side 0 and 1.
  int event_fd[2] = {-1, -1};
};

std::pair<std::unique_ptr<MemoryFrameLink>, std::unique_ptr<MemoryFrameLink>>
MemoryFrameLink::CreatePair() {
  auto channel = std::make_shared<Channel>();
  for (int& fd : channel->event_fd) {
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  return {std::unique_ptr<MemoryFrameLink>(new MemoryFrameLink(channel, 0)),
          std::unique_ptr<MemoryFrameLink>(new MemoryFrameLink(channel, 1))};
}

MemoryFrameLink::MemoryFrameLink(std::shared_ptr<Channel> channel, int side)
    : channel_(std::move(channel)), side_(side) {}

MemoryFrameLink::~MemoryFrameLink() {
  close(channel_->event_fd[side_]);
  channel_->event_fd[side_] = -1;
}

int MemoryFrameLink::fd() const { return channel_->event_fd[side_]; }

size_t MemoryFrameLink::queued() const {
  return channel_->queue[side_].size();
}

void MemoryFrameLink::Inject(std::span<const uint8_t> frame) {
  channel_->queue[side_].emplace_back(frame.begin(), frame.end());
  const uint64_t one = 1;
  if (channel_->event_fd[side_] >= 0) {
    (void)!write(channel_->event_fd[side_], &one, sizeof one);
  }
}

size_t MemoryFrameLink::Send(std::span<const std::span<const uint8_t>> frames) {
  const int peer = 1 - side_;
  bool any = false;
  for (std::span<const uint8_t> f : frames) {
    std::vector<uint8_t> frame(f.begin(), f.end());
    if (tap_ && !tap_(frame)) continue;
    channel_->queue[peer].push_back(std::move(frame));
    any = true;
  }
  if (any && channel_->event_fd[peer] >= 0) {
    const uint64_t one = 1;
    (void)!write(channel_->event_fd[peer], &one, sizeof one);
  }
  return frames.size();
}

size_t MemoryFrameLink::Receive(std::span<std::span<const uint8_t>> frames) {
  auto& queue = channel_->queue[side_];
  received_.clear();
  while (received_.size() < frames.size() && !queue.empty()) {
    received_.push_back(std::move(queue.front()));
    queue.pop_front();
  }
  for (size_t i = 0; i < received_.size(); i++) frames[i] = received_[i];
  if (queue.empty()) {
    uint64_t value;
    (void)!read(channel_->event_fd[side_], &value, sizeof value);
  }
  return received_.size();
}

}  // namespace rdma_bond
