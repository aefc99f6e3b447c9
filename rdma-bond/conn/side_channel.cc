// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// SideChannel: frames over a non-blocking socket (rdma_bond/side_channel.h).

#include "rdma_bond/side_channel.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/trusted_file.h"
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
    case SideMessageType::kAuth: return "auth";
    case SideMessageType::kData: return "data";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// SideChannel.

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint8_t kAuthVersion = 1;
constexpr uint8_t kRoleInitiator = 1;
constexpr uint8_t kRoleResponder = 2;
constexpr size_t kNonceBytes = 16;
constexpr char kSessionLabel[] = "rdma-bond side channel 1";
constexpr char kNoKeyHere[] =
    "side channel: the peer authenticates the side channel, but no key is "
    "configured here: give both ends the same key file "
    "(ConnectionOptions::side_channel_key, rdma-bond-perf "
    "--side-channel-key)";

using Tag = std::array<uint8_t, kSideTagBytes>;

Tag Hmac(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Tag tag{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(),
       data.size(), tag.data(), &n);
  return tag;
}

}  // namespace

struct SideChannel::Auth {
  std::vector<uint8_t> key;
  bool initiator = false;
  std::array<uint8_t, kNonceBytes> nonce{};
  bool keyed = false;                // The peer's AUTH arrived.
  Tag session{};
  uint64_t send_seq = 0;
  uint64_t recv_seq = 0;
  // Frames sent before the peer's AUTH, sent once it arrives.
  std::deque<SideMessage> held;
  size_t held_bytes = 0;

  // The tag of a frame: direction, sequence number, header, body.
  Tag FrameTag(bool from_initiator, uint64_t seq, const uint8_t* header,
               std::span<const uint8_t> body) const {
    std::vector<uint8_t> data;
    data.reserve(1 + 8 + kSideFrameHeaderSize + body.size());
    data.push_back(from_initiator ? 0 : 1);
    for (int i = 7; i >= 0; i--) data.push_back(static_cast<uint8_t>(seq >> (8 * i)));
    data.insert(data.end(), header, header + kSideFrameHeaderSize);
    data.insert(data.end(), body.begin(), body.end());
    return Hmac(session, data);
  }
};

void SideChannel::AuthDeleter::operator()(Auth* auth) const { delete auth; }

Result<std::vector<uint8_t>> ReadSideChannelKey(const std::string& path) {
  const std::string what = "side-channel key file " + path;
  Result<std::string> text = ReadPrivateFile(path, what, 65536);
  if (!text.ok()) return text.status();
  std::vector<uint8_t> key(text->begin(), text->end());
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
    key.pop_back();
  }
  if (key.size() < kMinSideKeyBytes) {
    return Status::InvalidArgument(
        what + ": " + std::to_string(key.size()) + " bytes, at least " +
        std::to_string(kMinSideKeyBytes) +
        " needed (head -c 32 /dev/urandom | base64 > FILE)");
  }
  return key;
}

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
  channel->tcp_ =
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
  if (channel->tcp_) {
    // Best effort: an older kernel keeps its own timeouts (RtoMin() says
    // 0), and a kernel whose tick is too coarse for kSideRtoMin (2 jiffies
    // at the least) gets the next floor it accepts.
    (void)setsockopt(fd, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, &one,
                     sizeof one);
    for (std::chrono::microseconds floor = kSideRtoMin;
         floor <= std::chrono::milliseconds(40); floor *= 2) {
      if (channel->SetRtoMin(floor).code() != Status::Code::kInvalidArgument) {
        break;
      }
    }
  }
  return channel;
}

// <netinet/tcp.h> of glibc 2.36 predates it (Linux 6.15).
#ifndef TCP_RTO_MIN_US
#define TCP_RTO_MIN_US 45
#endif

std::chrono::microseconds SideChannel::RtoMin() const {
  int us = 0;
  socklen_t len = sizeof us;
  if (!tcp_ || getsockopt(fd_, IPPROTO_TCP, TCP_RTO_MIN_US, &us, &len) < 0) {
    return std::chrono::microseconds(0);
  }
  return std::chrono::microseconds(us);
}

Status SideChannel::SetRtoMin(std::chrono::microseconds floor) {
  const std::string what = "side channel: TCP_RTO_MIN_US " +
                           std::to_string(floor.count()) + " us";
  if (!tcp_) return Status::NotSupported(what + ": not a TCP socket");
  const int us = static_cast<int>(floor.count());
  if (setsockopt(fd_, IPPROTO_TCP, TCP_RTO_MIN_US, &us, sizeof us) == 0) {
    return Status::OK();
  }
  if (errno == ENOPROTOOPT) {
    return Status::NotSupported(
        what + ": this kernel has no per-socket floor (Linux 6.15 and "
               "later); the route's rto_min applies");
  }
  if (errno == EINVAL) {
    return Status::InvalidArgument(
        what + ": outside the kernel's bounds (2 jiffies to 200 ms)");
  }
  return Status::FromErrno(what, errno);
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
  if (type == SideMessageType::kAuth) {
    return Status::InvalidArgument(
        "side channel: AUTH is sent by Authenticate() only");
  }
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
  const size_t held = auth_ ? auth_->held_bytes : 0;
  const size_t tag = auth_ ? kSideTagBytes : 0;
  if (out_.size() - out_offset_ + held + kSideFrameHeaderSize + body.size() +
          tag >
      kMaxSideQueued) {
    return Fail(Status::Unavailable(
        "side channel: the peer does not read: " +
        std::to_string(out_.size() - out_offset_ + held) +
        " bytes are waiting to be sent (limit " +
        std::to_string(kMaxSideQueued) + ")"));
  }
  frames_sent_++;
  if (auth_ && !auth_->keyed) {
    // Tagged once the peer's AUTH gives the session key.
    auth_->held.push_back({type, std::vector<uint8_t>(body.begin(),
                                                      body.end())});
    auth_->held_bytes += kSideFrameHeaderSize + body.size() + tag;
    return Status::OK();
  }
  Frame(type, body);
  return Flush();
}

void SideChannel::Frame(SideMessageType type, std::span<const uint8_t> body) {
  const bool tagged = auth_ && auth_->keyed;
  const uint32_t n = static_cast<uint32_t>(body.size());
  const uint8_t header[kSideFrameHeaderSize] = {
      static_cast<uint8_t>(kSideFrameMagic >> 8),
      static_cast<uint8_t>(kSideFrameMagic & 0xff),
      static_cast<uint8_t>(type),
      static_cast<uint8_t>(tagged ? kSideFrameAuthenticated : 0),
      static_cast<uint8_t>(n >> 24),
      static_cast<uint8_t>(n >> 16),
      static_cast<uint8_t>(n >> 8),
      static_cast<uint8_t>(n)};
  out_.insert(out_.end(), header, header + sizeof header);
  out_.insert(out_.end(), body.begin(), body.end());
  framed_bytes_ += sizeof header + body.size();
  if (tagged) {
    const Tag t = auth_->FrameTag(auth_->initiator, auth_->send_seq++, header,
                                  body);
    out_.insert(out_.end(), t.begin(), t.end());
    framed_bytes_ += t.size();
  }
}

Status SideChannel::Authenticate(std::span<const uint8_t> key,
                                 bool initiator) {
  if (!failed_.ok()) return failed_;
  if (auth_ || frames_sent_ > 0 || frames_received_ > 0) {
    return Status::InvalidArgument(
        "side channel: Authenticate() must come first, and once");
  }
  if (key.size() < kMinSideKeyBytes) {
    return Status::InvalidArgument(
        "side channel: a key of " + std::to_string(key.size()) +
        " bytes is too short (at least " + std::to_string(kMinSideKeyBytes) +
        ")");
  }
  std::unique_ptr<Auth, AuthDeleter> auth(new Auth());
  auth->key.assign(key.begin(), key.end());
  auth->initiator = initiator;
  if (getrandom(auth->nonce.data(), auth->nonce.size(), 0) !=
      static_cast<ssize_t>(auth->nonce.size())) {
    return Status::FromErrno("side channel: getrandom", errno);
  }
  auth_ = std::move(auth);
  std::vector<uint8_t> body = {kAuthVersion,
                               initiator ? kRoleInitiator : kRoleResponder};
  body.insert(body.end(), auth_->nonce.begin(), auth_->nonce.end());
  Frame(SideMessageType::kAuth, body);
  return Flush();
}

Status SideChannel::HandleAuth(std::span<const uint8_t> body) {
  const uint8_t peer_role = auth_->initiator ? kRoleResponder : kRoleInitiator;
  if (body.size() != 2 + kNonceBytes || body[0] != kAuthVersion) {
    return Fail(Status::Corruption(
        "side channel: malformed AUTH from the peer (" +
        std::to_string(body.size()) + " bytes, version " +
        std::to_string(body.empty() ? 0 : body[0]) + ")"));
  }
  if (body[1] != peer_role) {
    return Fail(Status::Corruption(
        "side channel: the peer's AUTH says it is the " +
        std::string(body[1] == kRoleInitiator ? "initiator" : "responder") +
        " too"));
  }
  std::vector<uint8_t> seed(kSessionLabel,
                            kSessionLabel + sizeof kSessionLabel - 1);
  const uint8_t* peer_nonce = body.data() + 2;
  const uint8_t* first = auth_->initiator ? auth_->nonce.data() : peer_nonce;
  const uint8_t* second = auth_->initiator ? peer_nonce : auth_->nonce.data();
  seed.insert(seed.end(), first, first + kNonceBytes);
  seed.insert(seed.end(), second, second + kNonceBytes);
  auth_->session = Hmac(auth_->key, seed);
  auth_->keyed = true;
  while (!auth_->held.empty()) {
    SideMessage& m = auth_->held.front();
    Frame(m.type, m.body);
    auth_->held.pop_front();
  }
  auth_->held_bytes = 0;
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

uint64_t SideChannel::AcknowledgedOffset() const {
  const uint64_t unacknowledged = UnacknowledgedBytes();
  return framed_bytes_ > unacknowledged ? framed_bytes_ - unacknowledged : 0;
}

size_t SideChannel::UnacknowledgedBytes() const {
  int queued = 0;
  const size_t here = out_.size() - out_offset_;
  if (fd_ < 0 || ioctl(fd_, SIOCOUTQ, &queued) != 0 || queued < 0) {
    return here;
  }
  return here + static_cast<size_t>(queued);
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
    if (type == 0 || type > kMaxSideMessageType ||
        (flags & ~kSideFrameAuthenticated) != 0) {
      return Fail(Status::Corruption(
          "side channel: malformed frame: type " + std::to_string(type) +
          ", flags " + std::to_string(flags)));
    }
    if (length > kMaxSideBody) {
      return Fail(Status::Corruption(
          "side channel: malformed frame: body of " + std::to_string(length) +
          " bytes exceeds " + std::to_string(kMaxSideBody)));
    }
    const bool tagged = flags & kSideFrameAuthenticated;
    const size_t tag_size = tagged ? kSideTagBytes : 0;
    if (in_.size() - pos - kSideFrameHeaderSize < length + tag_size) break;
    const SideMessageType kind = static_cast<SideMessageType>(type);
    std::span<const uint8_t> body(h + kSideFrameHeaderSize, length);
    const size_t frame_size = kSideFrameHeaderSize + length + tag_size;
    if (!auth_) {
      if (tagged || kind == SideMessageType::kAuth) {
        return Fail(Status::Corruption(kNoKeyHere));
      }
    } else if (!auth_->keyed) {
      if (tagged || kind != SideMessageType::kAuth) {
        return Fail(Status::Corruption(
            "side channel: the peer sent " + std::string(ToString(kind)) +
            " without authenticating: it has no side-channel key; give "
            "both ends the same key file"));
      }
      Status s = HandleAuth(body);
      if (!s.ok()) return s;
      pos += frame_size;
      continue;
    } else {
      if (!tagged || kind == SideMessageType::kAuth) {
        return Fail(Status::Corruption(
            "side channel: an unauthenticated " +
            std::string(ToString(kind)) + " frame after authentication"));
      }
      const Tag expected = auth_->FrameTag(!auth_->initiator,
                                           auth_->recv_seq, h, body);
      if (CRYPTO_memcmp(expected.data(), body.data() + length,
                        kSideTagBytes) != 0) {
        return Fail(Status::Corruption(
            "side channel: authentication of " +
            std::string(ToString(kind)) + " frame " +
            std::to_string(auth_->recv_seq) +
            " failed: the peer's side-channel key differs from ours, or "
            "the stream was altered or replayed"));
      }
      auth_->recv_seq++;
    }
    SideMessage message;
    message.type = kind;
    message.body.assign(body.begin(), body.end());
    ready_.push_back(std::move(message));
    frames_received_++;
    pos += frame_size;
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
  bool got = false;
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
    got = true;
    in_.insert(in_.end(), buf, buf + n);
    Status parsed = Parse();
    if (!parsed.ok()) {
      s = parsed;
      break;
    }
  }
  if (got && tcp_) {
    // Acknowledge at once, not after the delayed-ACK timer (40 ms and
    // more): the peer takes bytes that stay unacknowledged for a few
    // milliseconds as a sign of loss (see Connection's NudgeSide()).
    // Quick-ACK mode ends by itself, so it is set again after each read.
    const int one = 1;
    (void)setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
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
