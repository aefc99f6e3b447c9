// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/side_channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "poll_deadline.h"

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

namespace {

// Value of "no active member" and "no bond" on the wire.
constexpr uint8_t kWireNone = 0xff;
// Longest member name carried (IFNAMSIZ is 16; leave room for others).
constexpr size_t kMaxWireString = 255;
// Most members per side (the table's limit is far lower).
constexpr size_t kMaxWireMembers = 32;
static_assert(kMaxWireMembers <= 32, "usable_mask has 32 bits");

// Appends big-endian integers and length-prefixed strings.
class WireWriter {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) {
    U8(static_cast<uint8_t>(v >> 8));
    U8(static_cast<uint8_t>(v));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Bytes(std::span<const uint8_t> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
  }
  void String(const std::string& s) {
    const size_t n = std::min(s.size(), kMaxWireString);
    U8(static_cast<uint8_t>(n));
    out_.insert(out_.end(), s.begin(), s.begin() + n);
  }
  std::vector<uint8_t> Take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// Reads what WireWriter wrote; the first overrun makes ok() false and every
// later read return zeros.
class WireReader {
 public:
  explicit WireReader(std::span<const uint8_t> in) : in_(in) {}
  uint8_t U8() {
    if (pos_ + 1 > in_.size()) {
      ok_ = false;
      return 0;
    }
    return in_[pos_++];
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() {
    const uint32_t hi = U16();
    return hi << 16 | U16();
  }
  uint64_t U64() {
    const uint64_t hi = U32();
    return hi << 32 | U32();
  }
  template <size_t N>
  void Bytes(std::array<uint8_t, N>* out) {
    for (size_t i = 0; i < N; i++) (*out)[i] = U8();
  }
  std::string String() {
    const size_t n = U8();
    if (pos_ + n > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  // OK if every read was in bounds and the body was consumed exactly.
  Status Finish(std::string_view what) const {
    if (!ok_) {
      return Status::Corruption("side channel: " + std::string(what) +
                                " message is truncated (" +
                                std::to_string(in_.size()) + " bytes)");
    }
    if (pos_ != in_.size()) {
      return Status::Corruption(
          "side channel: " + std::string(what) + " message has " +
          std::to_string(in_.size() - pos_) + " trailing bytes");
    }
    return Status::OK();
  }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void WriteBondView(const BondView& view, WireWriter* w) {
  w->U8(view.mode ? static_cast<uint8_t>(*view.mode) : kWireNone);
  w->U8(view.active_only ? 1 : 0);
  w->U8(view.active ? *view.active : kWireNone);
  w->U32(view.usable_mask);
}

Status ReadBondView(WireReader* r, std::string_view what, BondView* view) {
  const uint8_t mode = r->U8();
  const uint8_t active_only = r->U8();
  const uint8_t active = r->U8();
  if (active_only > 1) {
    return Status::Corruption("side channel: " + std::string(what) +
                              " has active-only flag " +
                              std::to_string(active_only));
  }
  view->active_only = active_only == 1;
  view->usable_mask = r->U32();
  view->mode.reset();
  if (mode != kWireNone) {
    view->mode = ParseBondMode(mode);
    if (!view->mode) {
      return Status::Corruption("side channel: " + std::string(what) +
                                " names unknown bond mode " +
                                std::to_string(mode));
    }
  }
  view->active.reset();
  if (active != kWireNone) view->active = active;
  return Status::OK();
}

void WriteQpEndpoint(const QpEndpoint& ep, WireWriter* w) {
  w->U32(ep.qpn);
  w->U32(ep.psn);
  w->U8(ep.ip.version);
  w->Bytes(ep.ip.bytes);
  w->Bytes(ep.gid);
  w->Bytes(ep.mac);
  w->U32(ep.mtu);
}

Status ReadQpEndpoint(WireReader* r, std::string_view what, QpEndpoint* ep) {
  ep->qpn = r->U32();
  ep->psn = r->U32();
  ep->ip.version = r->U8();
  r->Bytes(&ep->ip.bytes);
  r->Bytes(&ep->gid);
  r->Bytes(&ep->mac);
  ep->mtu = r->U32();
  if (ep->ip.version != 4 && ep->ip.version != 6) {
    return Status::Corruption("side channel: " + std::string(what) +
                              " carries IP version " +
                              std::to_string(ep->ip.version));
  }
  return Status::OK();
}

void WritePathId(const PathId& path, WireWriter* w) {
  w->U8(path.sender_member);
  w->U8(path.receiver_member);
}

PathId ReadPathId(WireReader* r) {
  PathId path;
  path.sender_member = r->U8();
  path.receiver_member = r->U8();
  return path;
}

}  // namespace

std::vector<uint8_t> EncodeHello(const HelloMessage& message) {
  WireWriter w;
  w.U16(message.version);
  WriteBondView(message.bond, &w);
  w.U8(static_cast<uint8_t>(message.members.size()));
  for (const std::string& name : message.members) w.String(name);
  w.U32(message.max_message_size);
  return w.Take();
}

Result<HelloMessage> DecodeHello(std::span<const uint8_t> body) {
  WireReader r(body);
  HelloMessage m;
  // The version comes first and is checked before anything else, so that a
  // future layout of the rest is reported as a version mismatch.
  m.version = r.U16();
  if (body.size() >= 2 && m.version != kSideChannelVersion) {
    return Status::NotSupported(
        "side channel: the peer speaks protocol version " +
        std::to_string(m.version) + ", this librdmabond speaks " +
        std::to_string(kSideChannelVersion) +
        ": run the same rdma-bond release on both hosts");
  }
  Status s = ReadBondView(&r, "HELLO", &m.bond);
  if (!s.ok()) return s;
  const size_t n = r.U8();
  if (n == 0 || n > kMaxWireMembers) {
    return Status::Corruption("side channel: HELLO lists " +
                              std::to_string(n) + " members (1.." +
                              std::to_string(kMaxWireMembers) + ")");
  }
  for (size_t i = 0; i < n; i++) m.members.push_back(r.String());
  m.max_message_size = r.U32();
  s = r.Finish("HELLO");
  if (!s.ok()) return s;
  if (m.bond.active && *m.bond.active >= n) {
    return Status::Corruption("side channel: HELLO names active member " +
                              std::to_string(*m.bond.active) + " of " +
                              std::to_string(n));
  }
  return m;
}

std::vector<uint8_t> EncodeEndpoints(const EndpointsMessage& message) {
  WireWriter w;
  w.U16(static_cast<uint16_t>(message.paths.size()));
  for (const PathEndpoint& p : message.paths) {
    WritePathId(p.path, &w);
    WriteQpEndpoint(p.qp, &w);
    w.U64(p.region_addr);
    w.U64(p.region_length);
    w.U32(p.region_rkey);
  }
  return w.Take();
}

Result<EndpointsMessage> DecodeEndpoints(std::span<const uint8_t> body) {
  WireReader r(body);
  EndpointsMessage m;
  const size_t n = r.U16();
  for (size_t i = 0; i < n && i <= kMaxWireMembers * kMaxWireMembers; i++) {
    PathEndpoint p;
    p.path = ReadPathId(&r);
    Status s = ReadQpEndpoint(&r, "ENDPOINTS", &p.qp);
    if (!s.ok()) return s;
    p.region_addr = r.U64();
    p.region_length = r.U64();
    p.region_rkey = r.U32();
    m.paths.push_back(p);
  }
  Status s = r.Finish("ENDPOINTS");
  if (!s.ok()) return s;
  return m;
}

std::vector<uint8_t> EncodeActive(const ActiveMessage& message) {
  WireWriter w;
  WriteBondView(message.bond, &w);
  return w.Take();
}

Result<ActiveMessage> DecodeActive(std::span<const uint8_t> body) {
  WireReader r(body);
  ActiveMessage m;
  Status s = ReadBondView(&r, "ACTIVE", &m.bond);
  if (!s.ok()) return s;
  s = r.Finish("ACTIVE");
  if (!s.ok()) return s;
  return m;
}

std::vector<uint8_t> EncodeRepick(const RepickMessage& message) {
  WireWriter w;
  WritePathId(message.path, &w);
  w.U32(message.incarnation);
  return w.Take();
}

Result<RepickMessage> DecodeRepick(std::span<const uint8_t> body) {
  WireReader r(body);
  RepickMessage m;
  m.path = ReadPathId(&r);
  m.incarnation = r.U32();
  Status s = r.Finish("REPICK");
  if (!s.ok()) return s;
  return m;
}

std::vector<uint8_t> EncodePathReset(const PathResetMessage& message) {
  WireWriter w;
  WritePathId(message.path, &w);
  w.U32(message.incarnation);
  WriteQpEndpoint(message.qp, &w);
  return w.Take();
}

Result<PathResetMessage> DecodePathReset(std::span<const uint8_t> body) {
  WireReader r(body);
  PathResetMessage m;
  m.path = ReadPathId(&r);
  m.incarnation = r.U32();
  Status s = ReadQpEndpoint(&r, "PATH_RESET", &m.qp);
  if (!s.ok()) return s;
  s = r.Finish("PATH_RESET");
  if (!s.ok()) return s;
  return m;
}

// ---------------------------------------------------------------------------
// SideChannel.

namespace {

Status SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Status::FromErrno("side channel: fcntl(O_NONBLOCK)", errno);
  }
  return Status::OK();
}

using Clock = std::chrono::steady_clock;

}  // namespace

Result<std::unique_ptr<SideChannel>> SideChannel::Adopt(int fd) {
  if (fd < 0) {
    return Status::InvalidArgument("side channel: invalid socket " +
                                   std::to_string(fd));
  }
  std::unique_ptr<SideChannel> channel(new SideChannel(fd));
  Status s = SetNonBlocking(fd);
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
      char text[8];
      std::snprintf(text, sizeof text, "0x%04x", magic);
      return Fail(Status::Corruption(
          std::string("side channel: malformed frame: magic ") + text +
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
  // Frames parsed earlier (Receive() keeps the ones after the first).
  while (!ready_.empty()) {
    out.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  if (!failed_.ok()) {
    if (!out.empty()) return out;
    return failed_;
  }
  Status s = Flush();
  if (!s.ok()) return s;
  uint8_t buf[16384];
  for (;;) {
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
  while (!ready_.empty()) {
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

// ---------------------------------------------------------------------------
// TCP helpers.

namespace {

// A sockaddr for ip:port; returns its length.
socklen_t MakeSockaddr(const IpAddress& ip, uint16_t port,
                       sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  if (ip.version == 6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, ip.bytes.data(), 16);
    return sizeof *sin6;
  }
  auto* sin = reinterpret_cast<sockaddr_in*>(ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  std::memcpy(&sin->sin_addr, ip.bytes.data(), 4);
  return sizeof *sin;
}

std::string Endpoint(const IpAddress& ip, uint16_t port) {
  return ip.version == 6 ? "[" + ToString(ip) + "]:" + std::to_string(port)
                         : ToString(ip) + ":" + std::to_string(port);
}

}  // namespace

Result<int> ListenTcp(const IpAddress& ip, uint16_t port) {
  sockaddr_storage ss;
  const socklen_t len = MakeSockaddr(ip, port, &ss);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("side channel: socket", errno);
  const int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 ||
      listen(fd, 16) < 0) {
    const int err = errno;
    close(fd);
    return Status::FromErrno("side channel: listen on " + Endpoint(ip, port),
                             err);
  }
  return fd;
}

Result<uint16_t> LocalPort(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) {
    return Status::FromErrno("side channel: getsockname", errno);
  }
  if (ss.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

Result<std::unique_ptr<SideChannel>> AcceptTcp(
    int listen_fd, std::chrono::milliseconds timeout) {
  pollfd pfd = {listen_fd, POLLIN, 0};
  const int n = poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (n < 0) return Status::FromErrno("side channel: poll (accept)", errno);
  if (n == 0) {
    return Status::Unavailable("side channel: no peer connected within " +
                               std::to_string(timeout.count()) + " ms");
  }
  const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return Status::FromErrno("side channel: accept", errno);
  return SideChannel::Adopt(fd);
}

Result<std::unique_ptr<SideChannel>> ConnectTcp(
    const IpAddress& ip, uint16_t port, std::chrono::milliseconds timeout) {
  sockaddr_storage ss;
  const socklen_t len = MakeSockaddr(ip, port, &ss);
  const std::string where = "side channel: connect " + Endpoint(ip, port);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("side channel: socket", errno);
  Result<std::unique_ptr<SideChannel>> channel = SideChannel::Adopt(fd);
  if (!channel.ok()) {
    close(fd);
    return channel.status();
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno != EINPROGRESS) return Status::FromErrno(where, errno);
    pollfd pfd = {fd, POLLOUT, 0};
    const int n = poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (n == 0) {
      return Status::Unavailable(where + ": no answer within " +
                                 std::to_string(timeout.count()) + " ms");
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    if (n < 0) {
      err = errno;
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0) {
      err = errno;
    }
    if (err != 0) return Status::FromErrno(where, err);
  }
  return channel;
}

}  // namespace rdma_bond
