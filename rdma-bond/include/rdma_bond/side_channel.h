// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// SideChannel: the TCP connection two ends of a multipath RDMA connection
// use to set it up and to steer it.
//
// A multipath connection (connection.h) is a full mesh of queue pairs
// between the RNICs of two bonded hosts.  Before any QP can carry a byte,
// the two ends must exchange QP numbers, PSNs and addresses; afterwards
// they must tell each other which bond member is active, ask for a new
// source port on a path the switch does not deliver, and reconnect a path
// that died.  All of that travels here, over an ordinary TCP socket that
// goes through OVS like any other TCP traffic.
//
// A frame is an 8-byte header followed by a body:
//
//   offset 0  u16  magic 0x5242 ("RB")
//          2  u8   type (SideMessageType)
//          3  u8   flags, 0
//          4  u32  body length (at most kMaxSideBody)
//
// every integer big-endian.  A frame with another magic, unknown flags,
// an unknown type or an oversized body is malformed: the channel reports
// Corruption and is unusable afterwards (a byte stream that lost framing
// cannot be resynchronized).  The bodies of the typed messages (HELLO
// with the protocol version, ENDPOINTS, ...) are the connection's business
// (Connection encodes and decodes them); this header is the framing and
// the TCP transport.
//
// The socket is non-blocking.  Send() appends the frame to an output
// buffer and writes what the kernel accepts; Flush() (called by Send() and
// Poll()) writes the rest later, so a full socket buffer never blocks the
// caller's event loop.  Poll() reads what is available and returns the
// complete frames; a frame split over many reads is reassembled.
//
// Authentication (optional, docs/security.md).  With a shared key on both
// ends (Authenticate(), right after the channel is made), each end first
// sends an AUTH frame (type 8, body: u8 version 1, u8 role 1 initiator or
// 2 responder, 16 random bytes).  Both derive the session key
//   K = HMAC-SHA256(key, "rdma-bond side channel 1" || nonce of the
//                        initiator || nonce of the responder)
// and every later frame has flags 0x01 and is followed by a 32-byte tag
//   HMAC-SHA256(K, u8 direction (0: from the initiator, 1: to it) ||
//                  u64 sequence number of the frame in that direction ||
//                  the 8-byte header || the body)
// (not counted in the length).  A frame with a wrong tag, out of order,
// replayed from another connection or unauthenticated fails the channel
// with Corruption, as does an AUTH frame at a channel without a key, with
// a message that says which side lacks the key.
//
// Usage:
//   Result<int> listener = ListenTcp(ip, 0);
//   ... peer: Result<std::unique_ptr<SideChannel>> c = ConnectTcp(ip, port,
//   ...                                                          timeout);
//   Result<std::unique_ptr<SideChannel>> s = AcceptTcp(*listener, timeout);
//   (*s)->Send(SideMessageType::kBye, {});
//   for (SideMessage& m : *(*c)->Poll()) Handle(m);
//
// Thread-safety: none; one thread at a time.

#ifndef RDMA_BOND_SIDE_CHANNEL_H_
#define RDMA_BOND_SIDE_CHANNEL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// The side-channel protocol this library speaks (HELLO's version).
// 2: DATA (TCP fallback).  3: HELLO says the write region's size and may
// list no member (a side without RDMA, over TCP only).  4: ACTIVE is
// numbered, and the paths carry it too (a receiver takes only a newer one).
inline constexpr uint16_t kSideChannelVersion = 4;

// The floor of a TCP side channel's retransmission timeout, which Adopt()
// sets where the kernel lets a socket set it (TCP_RTO_MIN_US, Linux 6.15
// and later), with linear timeouts for a thin stream
// (TCP_THIN_LINEAR_TIMEOUTS).  A segment lost at a cable cut, or while a
// returning member's LACP settles, is sent again after a few
// milliseconds, not after 200 ms and then 400 ms: the failover's control
// messages (PATH_RESET, REPICK) and the TCP fallback's data travel here.
// On older kernels the route's rto_min applies ("ip route change ...
// rto_min 5ms"), 200 ms by default; RtoMin() says which.
inline constexpr std::chrono::microseconds kSideRtoMin{5000};

// Frame header: magic, type, flags, body length.
inline constexpr uint16_t kSideFrameMagic = 0x5242;
inline constexpr size_t kSideFrameHeaderSize = 8;
// Largest body accepted: far above any real message (ENDPOINTS of a full
// mesh of 16 x 16 paths is under 30 KiB), small enough that a corrupt
// length cannot make the reader allocate much.
inline constexpr uint32_t kMaxSideBody = 1 << 20;
// Output queued for a peer that does not read, at most (several of the
// largest messages): beyond, Send() fails the channel rather than grow.
inline constexpr size_t kMaxSideQueued = 4 * (kMaxSideBody + 8);
// Frames one Poll() returns at most: a fast peer cannot make one call
// hold (or its caller handle) an unbounded batch; the rest wait, and
// HasReady() says so.
inline constexpr size_t kMaxSideFramesPerPoll = 256;

enum class SideMessageType : uint8_t {
  kHello = 1,         // HelloMessage: the first frame of each side.
  kEndpoints = 2,     // EndpointsMessage: the second frame of each side.
  kActive = 3,        // ActiveMessage: the sender's bond changed.
  kRepick = 4,        // RepickMessage: move your source port on a path.
  kPathReset = 5,     // PathResetMessage: reconnect a path to my new QP.
  kPathResetAck = 6,  // PathResetMessage: done, here is my new QP.
  kBye = 7,           // No body: everything I sent was acknowledged.
  kAuth = 8,          // Authentication (above); never returned by Poll().
  kData = 9,          // DataMessage: a message or write carried here while
                      // no path can (TCP fallback; version 2).
};
inline constexpr uint8_t kMaxSideMessageType = 9;

// Frame flags: the frame carries a tag (authenticated channels).
inline constexpr uint8_t kSideFrameAuthenticated = 0x01;
// The tag after an authenticated frame's body (HMAC-SHA256).
inline constexpr size_t kSideTagBytes = 32;
// The shortest key accepted.
inline constexpr size_t kMinSideKeyBytes = 16;

// Reads a side-channel key file: its bytes, a trailing newline removed,
// at least kMinSideKeyBytes of them (for example 32 random bytes in
// base64: "head -c 32 /dev/urandom | base64 > FILE").  Refuses, with a
// one-line error naming the file, a file that group or others may read
// or write.
Result<std::vector<uint8_t>> ReadSideChannelKey(const std::string& path);

// "hello", "endpoints", "active", "repick", "path-reset", "path-reset-ack",
// "bye".
std::string_view ToString(SideMessageType type);

// One complete frame.
struct SideMessage {
  SideMessageType type = SideMessageType::kBye;
  std::vector<uint8_t> body;
};

class SideChannel {
 public:
  // Takes ownership of 'fd', a connected stream socket (TCP or a
  // socketpair), and makes it non-blocking (and, for TCP, TCP_NODELAY and
  // the retransmission floor kSideRtoMin where the kernel supports it).
  // Owns it also when it fails: 'fd' is closed then (unless negative).
  static Result<std::unique_ptr<SideChannel>> Adopt(int fd);

  SideChannel(const SideChannel&) = delete;
  SideChannel& operator=(const SideChannel&) = delete;
  // Closes the socket; unsent output is dropped.
  ~SideChannel();

  // The socket, for poll(): readable when Poll() may return messages,
  // writable (when WantsWrite()) when Flush() can make progress.
  int Fd() const { return fd_; }

  // The floor of the socket's retransmission timeout as the kernel
  // reports it (TCP_RTO_MIN_US), or 0 when it cannot say: not TCP, or a
  // kernel before 6.15 (the route's rto_min or 200 ms applies then).
  std::chrono::microseconds RtoMin() const;
  // Sets that floor.  InvalidArgument outside the kernel's bounds (2
  // jiffies to 200 ms); NotSupported on a socketpair or a kernel without
  // TCP_RTO_MIN_US.
  Status SetRtoMin(std::chrono::microseconds floor);

  // Queues one frame and writes as much as the socket takes.  Fails if the
  // channel failed before (the same status again), the body is larger than
  // kMaxSideBody, or the write fails (peer reset).  Fails the channel with
  // Unavailable when more than kMaxSideQueued bytes would be waiting for a
  // peer that does not read.
  Status Send(SideMessageType type, std::span<const uint8_t> body);

  // Writes buffered output; OK when some remains (the socket is full).
  Status Flush();
  // True while output is buffered.
  bool WantsWrite() const { return out_offset_ < out_.size(); }
  // Bytes queued here that the socket did not take yet.
  size_t BufferedBytes() const { return out_.size() - out_offset_; }
  // Bytes sent that the peer has not acknowledged yet: those buffered
  // here, plus, in the socket, a TCP connection's unacknowledged and unsent
  // bytes (a socketpair's: not yet read by the peer).  0 when the socket
  // cannot say (SIOCOUTQ failed).
  size_t UnacknowledgedBytes() const;
  // Bytes of the stream framed so far (the offset just past the last frame
  // Send() put in the stream; frames held for authentication count once
  // they are framed).
  uint64_t StreamOffset() const { return framed_bytes_; }
  // The offset up to which the peer has acknowledged the stream
  // (StreamOffset() less UnacknowledgedBytes()).
  uint64_t AcknowledgedOffset() const;
  // True when complete frames wait for the next Poll() (it returned
  // kMaxSideFramesPerPoll): call it again without waiting for the socket.
  bool HasReady() const { return !ready_.empty(); }
  // Not OK once the channel failed (peer closed, malformed frame, I/O
  // error): every later call fails with it.  A Receive() timeout is not a
  // failure of the channel.
  const Status& failure() const { return failed_; }

  // Flushes, reads what is available and returns the complete frames
  // received, oldest first (none if nothing complete arrived), at most
  // kMaxSideFramesPerPoll of them.  Fails with
  // Unavailable "peer closed" at end of stream (after the frames that
  // arrived complete before it were returned by earlier calls), Corruption
  // on a malformed frame or a stream that ends inside a frame.
  Result<std::vector<SideMessage>> Poll();

  // Waits up to 'timeout' for the next frame (the oldest not yet
  // returned).  Unavailable on timeout, naming 'what' ("HELLO").
  Result<SideMessage> Receive(std::chrono::milliseconds timeout,
                              std::string_view what);

  // Waits up to 'timeout' until the output buffer is written.
  Status FlushFor(std::chrono::milliseconds timeout);

  // Authenticates this channel with the shared 'key' (at least
  // kMinSideKeyBytes): sends the AUTH frame now, holds the frames Send()
  // queues until the peer's AUTH arrives, and from then on tags every
  // frame and checks every tag.  'initiator': the end that connected (the
  // two ends must differ).  Call once, before anything is sent.
  Status Authenticate(std::span<const uint8_t> key, bool initiator);
  // Whether Authenticate() was called.
  bool authenticating() const { return auth_ != nullptr; }

  // Bytes and frames moved, for statistics and tests.
  uint64_t frames_sent() const { return frames_sent_; }
  uint64_t frames_received() const { return frames_received_; }

 private:
  explicit SideChannel(int fd) : fd_(fd) {}
  // Parses complete frames out of in_ into ready_.
  Status Parse();
  Status Fail(Status status);
  // Appends one frame to out_ (tagged when the session key is known).
  void Frame(SideMessageType type, std::span<const uint8_t> body);
  // The peer's AUTH frame: derives the session key, sends what waited.
  Status HandleAuth(std::span<const uint8_t> body);

  struct Auth;                       // side_channel.cc.
  struct AuthDeleter {
    void operator()(Auth* auth) const;
  };
  std::unique_ptr<Auth, AuthDeleter> auth_;

  int fd_ = -1;
  bool tcp_ = false;                 // TCP (not a socketpair).
  Status failed_;                    // Sticky once not OK.
  std::vector<uint8_t> out_;
  size_t out_offset_ = 0;            // Bytes of out_ already written.
  uint64_t framed_bytes_ = 0;        // Every byte ever appended to out_.
  std::vector<uint8_t> in_;
  std::deque<SideMessage> ready_;
  uint64_t frames_sent_ = 0;
  uint64_t frames_received_ = 0;
};

// A listening TCP socket on ip:port (port 0: any), blocking, SO_REUSEADDR.
// The caller owns the descriptor.
Result<int> ListenTcp(const IpAddress& ip, uint16_t port);
// The local port of a bound socket.
Result<uint16_t> LocalPort(int fd);
// Accepts one connection on 'listen_fd' within 'timeout'.
Result<std::unique_ptr<SideChannel>> AcceptTcp(
    int listen_fd, std::chrono::milliseconds timeout);
// Connects to ip:port within 'timeout'.  The message names the address and
// the reason ("connect 10.0.0.2:18515: Connection refused").
Result<std::unique_ptr<SideChannel>> ConnectTcp(
    const IpAddress& ip, uint16_t port, std::chrono::milliseconds timeout);

}  // namespace rdma_bond

#endif  // RDMA_BOND_SIDE_CHANNEL_H_
