// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Rnic: the interface between librdmabond's connections and an RDMA NIC
// backend.
//
// One Rnic is the RDMA device (and port) behind one member of an OVS bond:
// the RNIC whose Ethernet port is that member.  It creates reliable-
// connected queue pairs, registers memory, and reports completions.  Two
// backends implement it:
//
//   - verbs (rdma_bond/verbs.h): real rdma-core (libibverbs), the device
//     found through sysfs behind the member netdev;
//   - emulated (rdma_bond/emulated_rnic.h): a userspace engine that sends
//     and receives RoCEv2 frames on the member netdev through AF_PACKET,
//     bypassing OVS as an RNIC does.  It is an emulation, and says so
//     (is_emulation(), name() starts with "emulated:").
//
// The model is the verbs one, reduced to what connections use:
//
//   Rnic            one device port; owns one completion queue shared by
//                   its QPs (PollCompletions()), and a file descriptor
//                   that an event loop can wait on (EventFd()).
//   QueuePair       RC QP: Connect() = INIT -> RTR -> RTS towards a remote
//                   QpEndpoint with a RoCEv2 UDP source port (the flow
//                   label that produces it, for verbs); SetSourcePort()
//                   re-pins a connected QP; PostSend/PostRecv/PostWrite.
//   MemoryRegion    registered memory: lkey for local use, rkey for the
//                   peer's RDMA writes.
//
// Completion semantics (as RC in verbs): a send or write completes with
// kSuccess once the remote RNIC acknowledged it; with kRetryExceeded when
// the transport gave up (the path is dead); every other outstanding work
// request of that QP then completes with kFlushed, and the QP is in the
// error state (state() == kError) until it is connected again.
//
// Thread-safety: an Rnic and its QPs are used from one thread at a time
// (the connection's event loop).  Progress is made inside
// PollCompletions() (the emulated backend does its protocol work there;
// verbs polls its CQ): call it often or when EventFd() is readable.
#ifndef RDMA_BOND_RNIC_H_
#define RDMA_BOND_RNIC_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

using MacAddress = std::array<uint8_t, 6>;

// "aa:bb:cc:dd:ee:ff".
std::string ToString(const MacAddress& mac);
// Parses "aa:bb:cc:dd:ee:ff"; InvalidArgument naming the text otherwise.
Result<MacAddress> ParseMacAddress(std::string_view text);

// What one side tells the other to connect a QP pair (over the side
// channel).  Both backends fill what they know: verbs the GID, the
// emulated backend the MAC address its frames must be sent to.
struct QpEndpoint {
  uint32_t qpn = 0;                 // 24 bits.
  uint32_t psn = 0;                 // Initial packet sequence number, 24 bits.
  IpAddress ip;                     // The RoCEv2 address (IPv4 or IPv6).
  std::array<uint8_t, 16> gid{};    // The GID of 'ip' (IPv4-mapped for v4).
  MacAddress mac{};                 // Where frames to this QP are sent.
  uint32_t mtu = 1024;              // Path MTU in bytes (256..4096).
  friend bool operator==(const QpEndpoint&, const QpEndpoint&) = default;
};

// What a memory region allows besides local access: least privilege, so
// that only the memory whose rkey is advertised can be written by a peer.
enum class MemoryAccess : uint8_t {
  kLocal,        // Sends, receives and the RNIC's local writes only.
  kRemoteWrite,  // Also RDMA WRITEs from a peer that holds its rkey.
};

struct MemoryRegion {
  uint8_t* addr = nullptr;
  size_t length = 0;
  uint32_t lkey = 0;
  uint32_t rkey = 0;
  MemoryAccess access = MemoryAccess::kLocal;
};

enum class WcStatus : uint8_t {
  kSuccess,
  kRetryExceeded,   // The transport gave up: no ACK after all retries.
  kRnrRetryExceeded,  // The peer had no receive posted for too long.
  kFlushed,         // The QP went to the error state before this ran.
  kRemoteError,     // The peer NAKed (access error, invalid request).
  kLocalError,      // Bad work request (length, key) or device failure.
};
std::string_view ToString(WcStatus status);

enum class WcOpcode : uint8_t {
  kSend,            // A PostSend() completed.
  kWrite,           // A PostWrite() completed.
  kRecv,            // A PostRecv() buffer was filled by a SEND.
  kRecvWriteImm,    // An RDMA write with immediate landed; consumed a recv.
};

struct Completion {
  uint64_t wr_id = 0;
  uint32_t qpn = 0;                 // Local QP number.
  WcStatus status = WcStatus::kSuccess;
  WcOpcode opcode = WcOpcode::kSend;
  uint32_t byte_len = 0;            // kRecv*: bytes received.
  bool has_imm = false;
  uint32_t imm = 0;                 // Host order.
};

enum class QpState : uint8_t { kReset, kInit, kRtr, kRts, kError };
std::string_view ToString(QpState state);

struct QpOptions {
  uint32_t max_send_wr = 256;       // Outstanding sends + writes.
  uint32_t max_recv_wr = 256;
  uint32_t max_inline = 0;
  // Transport retries before kRetryExceeded (verbs retry_cnt, 0..7) and
  // the ACK timeout per try.  The verbs backend gives rxe 6 for 7: rxe
  // (Linux rxe_comp.c) takes retry_cnt 7 as "retry forever", so a path
  // whose frames are dropped would neither complete nor fail.
  uint8_t retry_count = 7;
  uint32_t ack_timeout_us = 4096;
  uint8_t rnr_retry = 7;            // 7 = retry forever (verbs semantics).
};

class QueuePair {
 public:
  virtual ~QueuePair() = default;

  // The local side to send to the peer (qpn, initial psn, ip, gid, mac).
  virtual QpEndpoint local() const = 0;
  virtual QpState state() const = 0;

  // Connects to 'remote' (INIT -> RTR -> RTS); frames leave with UDP
  // source port 'sport' (0xc000..0xffff).  A QP in the error state may be
  // connected again with a new endpoint (it is reset first).
  virtual Status Connect(const QpEndpoint& remote, uint16_t sport) = 0;

  // Changes the UDP source port of a connected QP.  NotSupported if the
  // backend cannot do it in place (verbs without mlx5dv): the caller then
  // replaces the QP.
  virtual Status SetSourcePort(uint16_t sport) = 0;
  virtual uint16_t source_port() const = 0;

  // Work requests.  'data' must lie inside 'mr'.  Fails at once (nothing
  // queued) if the QP is not in RTS (recv: not in RESET) or the queue is
  // full.
  virtual Status PostSend(uint64_t wr_id, const MemoryRegion& mr,
                          std::span<const uint8_t> data) = 0;
  virtual Status PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                          std::span<uint8_t> buffer) = 0;
  // RDMA write of 'data' to the peer's 'remote_addr' under 'rkey'; with an
  // immediate, the peer consumes a receive and sees kRecvWriteImm.
  virtual Status PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                           std::span<const uint8_t> data,
                           uint64_t remote_addr, uint32_t rkey,
                           const uint32_t* imm) = 0;

  // Moves the QP to the error state: outstanding requests complete with
  // kFlushed.
  virtual void SetError() = 0;
};

class Rnic {
 public:
  virtual ~Rnic() = default;

  // "emulated:eth1" for the emulation, "rxe0:1" (device:port) for verbs.
  virtual const std::string& name() const = 0;
  // The bond member (netdev) this RNIC's port is.
  virtual const std::string& member() const = 0;
  // True for the emulated backend: never present it as RDMA hardware.
  virtual bool is_emulation() const = 0;

  virtual Result<std::unique_ptr<QueuePair>> CreateQp(
      const QpOptions& options) = 0;

  // Registers [addr, addr + length) for local access and, with
  // MemoryAccess::kRemoteWrite, remote writes.  A peer's write that names
  // the rkey of a kLocal region fails (remote access error, the writer's
  // QP errors) and leaves the region untouched.
  virtual Result<MemoryRegion> Register(void* addr, size_t length,
                                        MemoryAccess access) = 0;
  virtual Status Deregister(const MemoryRegion& mr) = 0;

  // Makes progress and returns up to out.size() completions (all QPs of
  // this RNIC).  Never blocks.
  virtual size_t PollCompletions(std::span<Completion> out) = 0;

  // Readable when PollCompletions() may have work: a completion, a frame
  // or a timer.  Level-triggered; owned by the RNIC.
  virtual int EventFd() const = 0;

  // How long the caller may sleep before PollCompletions() must run again
  // even if EventFd() stays unreadable (retransmission timers), in
  // microseconds; -1: no deadline.
  virtual int64_t NextDeadlineUs() const { return -1; }
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_RNIC_H_
