// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// SideChannel: frames over a non-blocking socket (rdma_bond/side_channel.h).

#include "rdma_bond/side_channel.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "common/fd_util.h"
#include "common/hex.h"
#include "common/poll_deadline.h"

namespace rdma_bond {

std::string_view ToString(SideMessageType type) {
  switch (type) {
    case SideMessageType::kHello: return "hello";
    case SideMessageType::kEndpoints: return "endpoints";
    case SideMessageType::kActive: return "active";
    case SideMessageType::kRepick: return "repick";
    case SideMessageType::kPathReset: return "path-reset";
    case SideMessageType::kPathResetAck: return "path-reset-ack";
    case SideMessageType::kBye: return "bye";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// SideChannel.

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Result<std::unique_ptr<SideChannel>> SideChannel::Adopt(int fd) {
  if (fd < 0) {
    return Status::InvalidArgument("side channel: invalid socket " +
                                   std::to_string(fd));
  }
  std::unique_ptr<SideChannel> channel(new SideChannel(fd));
  Status s = SetNonBlocking(fd, "side channel");
  if (!s.ok()) return s;
  // Control messages are small and latency matters (a REPICK or a reset
  // during failover); errors just mean "not TCP" (a socketpair).
  const int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return channel;
}

SideChannel::~SideChannel() {
  if (fd_ >= 0) close(fd_);
}

Status SideChannel::Fail(Status status) {
  if (failed_.ok()) failed_ = status;
  return status;
}

Status SideChannel::Send(SideMessageType type, std::span<const uint8_t> body) {
  if (!failed_.ok()) return failed_;
  if (body.size() > kMaxSideBody) {
    return Status::InvalidArgument(
        "side channel: " + std::string(ToString(type)) + " body of " +
        std::to_string(body.size()) + " bytes exceeds " +
        std::to_string(kMaxSideBody));
  }
  // Compact the buffer when everything before out_offset_ was written.
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
  }
  if (out_.size() - out_offset_ + kSideFrameHeaderSize + body.size() >
      kMaxSideQueued) {
    return Fail(Status::Unavailable(
        "side channel: the peer does not read: " +
        std::to_string(out_.size() - out_offset_) +
        " bytes are waiting to be sent (limit " +
        std::to_string(kMaxSideQueued) + ")"));
  }
  const uint32_t n = static_cast<uint32_t>(body.size());
  const uint8_t header[kSideFrameHeaderSize] = {
      static_cast<uint8_t>(kSideFrameMagic >> 8),
      static_cast<uint8_t>(kSideFrameMagic & 0xff),
      static_cast<uint8_t>(type),
      0,
      static_cast<uint8_t>(n >> 24),
      static_cast<uint8_t>(n >> 16),
      static_cast<uint8_t>(n >> 8),
      static_cast<uint8_t>(n)};
  out_.insert(out_.end(), header, header + sizeof header);
  out_.insert(out_.end(), body.begin(), body.end());
  frames_sent_++;
  return Flush();
}

Status SideChannel::Flush() {
  if (!failed_.ok()) return failed_;
  while (out_offset_ < out_.size()) {
    const ssize_t n = send(fd_, out_.data() + out_offset_,
                           out_.size() - out_offset_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::OK();
      return Fail(Status::FromErrno("side channel: send", errno));
    }
    out_offset_ += static_cast<size_t>(n);
  }
  out_.clear();
  out_offset_ = 0;
  return Status::OK();
}

Status SideChannel::Parse() {
  size_t pos = 0;
  while (in_.size() - pos >= kSideFrameHeaderSize) {
    const uint8_t* h = in_.data() + pos;
    const uint16_t magic = static_cast<uint16_t>(h[0] << 8 | h[1]);
    const uint8_t type = h[2];
    const uint8_t flags = h[3];
    const uint32_t length = static_cast<uint32_t>(h[4]) << 24 |
                            static_cast<uint32_t>(h[5]) << 16 |
                            static_cast<uint32_t>(h[6]) << 8 | h[7];
    if (magic != kSideFrameMagic) {
      return Fail(Status::Corruption(
          "side channel: malformed frame: magic " + HexPrefixed(magic, 4) +
          " (expected 0x5242): is the peer an rdma-bond connection?"));
    }
    if (type == 0 || type > kMaxSideMessageType || flags != 0) {
      return Fail(Status::Corruption(
          "side channel: malformed frame: type " + std::to_string(type) +
          ", flags " + std::to_string(flags)));
    }
    if (length > kMaxSideBody) {
      return Fail(Status::Corruption(
          "side channel: malformed frame: body of " + std::to_string(length) +
          " bytes exceeds " + std::to_string(kMaxSideBody)));
    }
    if (in_.size() - pos - kSideFrameHeaderSize < length) break;
    SideMessage message;
    message.type = static_cast<SideMessageType>(type);
    message.body.assign(h + kSideFrameHeaderSize,
                        h + kSideFrameHeaderSize + length);
    ready_.push_back(std::move(message));
    frames_received_++;
    pos += kSideFrameHeaderSize + length;
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(pos));
  return Status::OK();
}

Result<std::vector<SideMessage>> SideChannel::Poll() {
  std::vector<SideMessage> out;
  // Frames parsed earlier (Receive() keeps the ones after the first, a
  // full Poll() the ones beyond its batch).
  while (!ready_.empty() && out.size() < kMaxSideFramesPerPoll) {
    out.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  if (out.size() == kMaxSideFramesPerPoll) return out;
  if (!failed_.ok()) {
    if (!out.empty()) return out;
    return failed_;
  }
  Status s = Flush();
  if (!s.ok()) return s;
  uint8_t buf[16384];
  // Reads until the socket is empty or a batch of frames is parsed.
  while (out.size() + ready_.size() < kMaxSideFramesPerPoll) {
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      s = Fail(Status::FromErrno("side channel: recv", errno));
      break;
    }
    if (n == 0) {
      s = Fail(in_.empty()
                   ? Status::Unavailable("side channel: the peer closed the "
                                         "connection")
                   : Status::Corruption(
                         "side channel: the peer closed the connection "
                         "inside a frame (" +
                         std::to_string(in_.size()) + " bytes pending)"));
      break;
    }
    in_.insert(in_.end(), buf, buf + n);
    Status parsed = Parse();
    if (!parsed.ok()) {
      s = parsed;
      break;
    }
  }
  while (!ready_.empty() && out.size() < kMaxSideFramesPerPoll) {
    out.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  // Deliver the complete frames first; the failure shows on the next call.
  if (!s.ok() && out.empty()) return s;
  return out;
}

Result<SideMessage> SideChannel::Receive(std::chrono::milliseconds timeout,
                                         std::string_view what) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    Result<std::vector<SideMessage>> got = Poll();
    if (!got.ok()) return got.status();
    if (!got->empty()) {
      // Keep the frames after the first, in order, for the next call.
      for (size_t i = got->size(); i-- > 1;) {
        ready_.push_front(std::move((*got)[i]));
      }
      return std::move((*got)[0]);
    }
    const int left = MillisLeft(deadline);
    if (left == 0) {
      return Status::Unavailable(
          "side channel: no " + std::string(what) + " from the peer within " +
          std::to_string(timeout.count()) + " ms");
    }
    pollfd pfd = {fd_, static_cast<short>(POLLIN | (WantsWrite() ? POLLOUT
                                                                 : 0)),
                  0};
    (void)poll(&pfd, 1, left);
  }
}

Status SideChannel::FlushFor(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    Status s = Flush();
    if (!s.ok() || !WantsWrite()) return s;
    const int left = MillisLeft(deadline);
    if (left == 0) {
      return Status::Unavailable("side channel: " +
                                 std::to_string(out_.size() - out_offset_) +
                                 " bytes still unsent after " +
                                 std::to_string(timeout.count()) + " ms");
    }
    pollfd pfd = {fd_, POLLOUT, 0};
    (void)poll(&pfd, 1, left);
  }
}

}  // namespace rdma_bond
