// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// EmulatedRnic: an EMULATION of a RoCEv2 RNIC on one bond member, in
// userspace, for hosts without RDMA hardware.
//
// It implements Rnic (rnic.h) by sending and receiving RoCEv2 frames
// (roce_frame.h) on the member netdev itself through an AF_PACKET socket,
// so that its traffic bypasses Open vSwitch exactly as an RNIC's does: it
// leaves by that member only, whatever OVS's bond would choose, and it
// only sees the frames that the switch delivers to that member.  A frame
// for a QP that this RNIC does not host (because the switch sent it to the
// other member of the host) is dropped and counted: that is the failure
// that pinning QPs to the right member avoids, and the emulation keeps it.
// The reliable-connected protocol is RcTransport (rc_transport.h).
//
// It is not RDMA: no kernel bypass, no zero copy, no hardware offload.  It
// says so: name() is "emulated:<member>", is_emulation() is true.
//
// Usage (the real link):
//   EmulatedRnicOptions options;
//   options.member = "eth1";
//   options.local_ip = *ParseIpAddress("10.0.0.1");
//   options.mac_netdev = "br0";       // The MAC that frames carry.
//   Result<std::unique_ptr<EmulatedRnic>> rnic = EmulatedRnic::Open(options);
//   Result<MemoryRegion> mr =
//       (*rnic)->Register(buffer, size, MemoryAccess::kRemoteWrite);
//   Result<std::unique_ptr<QueuePair>> qp = (*rnic)->CreateQp({});
//   ... exchange (*qp)->local() with the peer, then
//   (*qp)->Connect(peer_endpoint, sport);
//   (*qp)->PostSend(wr_id, *mr, bytes);
//   loop: poll(EventFd(), NextDeadlineUs()); PollCompletions(completions);
//
// For tests, EmulatedRnic::Create() takes any FrameLink, for example one
// end of MemoryFrameLink::CreatePair().
//
// The engine runs inside PollCompletions(): it receives up to 4 batches of
// 64 frames (recvmmsg), fires the QPs' timers, transmits up to 4 batches
// of 64 frames (sendmmsg; pending ACKs first, then data within each QP's
// window, one packet per QP in turn), then returns completions.  Posting
// only queues work and makes EventFd() readable.  EventFd() is an epoll
// descriptor over the link's socket and an eventfd for queued work and
// completions; retransmission and RNR timers are not in it: sleep at most
// NextDeadlineUs().  QPNs are 24-bit, never 0 or 1, unique per RNIC; the
// initial PSN and the memory keys are random (seeded by options.seed).
// The ACK timeout is max(QpOptions.ack_timeout_us, tuning.
// min_ack_timeout_us = 1 ms): a busy-polling peer on a loaded host can be
// descheduled for longer than that, and then retransmits for nothing.
//
// Thread-safety: as Rnic: one thread at a time for an RNIC and its QPs.
// QPs must be destroyed before their RNIC (a QP that outlives it fails
// every call).

#ifndef RDMA_BOND_RNIC_EMULATED_EMULATED_RNIC_H_
#define RDMA_BOND_RNIC_EMULATED_EMULATED_RNIC_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rdma_bond/emulated_rnic.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"
#include "rnic/emulated/rc_transport.h"
#include "rnic/emulated/roce_frame.h"

namespace rdma_bond {

// Frames in and out of one port.  Views passed to Send() are only read
// during the call; views returned by Receive() stay valid until the next
// Receive().
class FrameLink {
 public:
  virtual ~FrameLink() = default;
  // Transmits 'frames' in order; returns how many the link took (the rest
  // are dropped, as by a full NIC queue).
  virtual size_t Send(std::span<const std::span<const uint8_t>> frames) = 0;
  // Fills 'frames' with up to frames.size() received frames; returns how
  // many.  Never blocks.
  virtual size_t Receive(std::span<std::span<const uint8_t>> frames) = 0;
  // Readable (level-triggered) while Receive() would return frames; -1 if
  // the link has no descriptor.
  virtual int fd() const = 0;
};

// The real link: an AF_PACKET SOCK_RAW socket bound to one netdev.  It
// keeps only IPv4 (or IPv6, after 'local_ip') UDP frames to port 4791 and
// 'local_ip' (a BPF filter), ignores the frames this host sends, and
// bypasses the qdisc.  Batches with recvmmsg()/sendmmsg().
class PacketSocketLink : public FrameLink {
 public:
  // NotFound if 'netdev' does not exist; IOError naming the netdev and
  // CAP_NET_RAW if the socket cannot be opened.
  static Result<std::unique_ptr<PacketSocketLink>> Open(
      const std::string& netdev, const IpAddress& local_ip);
  ~PacketSocketLink() override;

  size_t Send(std::span<const std::span<const uint8_t>> frames) override;
  size_t Receive(std::span<std::span<const uint8_t>> frames) override;
  int fd() const override { return fd_; }

  // Frames the kernel would not take (sendmmsg() failed: queue full, link
  // down).
  uint64_t send_errors() const { return send_errors_; }

 private:
  explicit PacketSocketLink(int fd);
  struct Batch;

  int fd_;
  std::unique_ptr<Batch> batch_;
  uint64_t send_errors_ = 0;
};

// An in-memory cable between two links, for tests: what one end sends the
// other receives, unless the tap says otherwise.
class MemoryFrameLink : public FrameLink {
 public:
  // Sees every frame that this end sends, may change it, and returns
  // false to lose it.
  using Tap = std::function<bool(std::vector<uint8_t>& frame)>;

  // Two connected ends.
  static std::pair<std::unique_ptr<MemoryFrameLink>,
                   std::unique_ptr<MemoryFrameLink>>
  CreatePair();
  ~MemoryFrameLink() override;

  size_t Send(std::span<const std::span<const uint8_t>> frames) override;
  size_t Receive(std::span<std::span<const uint8_t>> frames) override;
  // An eventfd, readable while frames are queued for this end.
  int fd() const override;

  void set_tap(Tap tap) { tap_ = std::move(tap); }
  // Queues 'frame' for this end, as if the peer had sent it.
  void Inject(std::span<const uint8_t> frame);
  // Frames waiting for this end.
  size_t queued() const;

 private:
  struct Channel;
  MemoryFrameLink(std::shared_ptr<Channel> channel, int side);

  std::shared_ptr<Channel> channel_;
  int side_;
  Tap tap_;
  std::vector<std::vector<uint8_t>> received_;  // Backs Receive()'s views.
};

// Counters of one RNIC, cumulative, over all its QPs (destroyed ones too).
struct EmulatedRnicStats {
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;     // Parsed and handed to a QP.
  uint64_t bytes_sent = 0;          // Frame bytes.
  uint64_t bytes_received = 0;
  uint64_t send_dropped = 0;        // Frames the link did not take.
  uint64_t dropped_wrong_qpn = 0;   // For a QPN this RNIC does not host.
  uint64_t dropped_bad_icrc = 0;
  uint64_t dropped_malformed = 0;   // Not RoCEv2, truncated, unsupported.
  uint64_t dropped_not_local = 0;   // Destination IP is not local_ip.
  uint64_t dropped_ud = 0;          // UD frames (the agents' path probes,
                                    // path_prober.h): no UD QPs here.
  RcStats transport;                // Sum of the QPs' RcStats.
};

class EmulatedQueuePair;

class EmulatedRnic : public Rnic, private RemoteAccess {
 public:
  // Opens the real link on options.member (PacketSocketLink), finds the
  // source MAC and the MTU.  NotFound naming the netdev if it (or
  // mac_netdev) does not exist; IOError naming CAP_NET_RAW if the socket
  // needs it.
  // 'tuning': the transport's knobs (window, ACK request interval,
  // timeout floor).
  static Result<std::unique_ptr<EmulatedRnic>> Open(
      const EmulatedRnicOptions& options, const RcTuning& tuning = {});

  // Over any link (tests).  'options.member' names it; the source MAC is
  // options.source_mac (00:00:00:00:00:00 if unset), the MTU options.mtu
  // (1024 if 0).  IOError if the epoll or eventfd cannot be created.
  static Result<std::unique_ptr<EmulatedRnic>> Create(
      const EmulatedRnicOptions& options, std::unique_ptr<FrameLink> link,
      const RcTuning& tuning = {});

  ~EmulatedRnic() override;
  EmulatedRnic(const EmulatedRnic&) = delete;
  EmulatedRnic& operator=(const EmulatedRnic&) = delete;

  // Rnic.
  const std::string& name() const override { return name_; }
  const std::string& member() const override { return options_.member; }
  bool is_emulation() const override { return true; }
  Result<std::unique_ptr<QueuePair>> CreateQp(
      const QpOptions& options) override;
  Result<MemoryRegion> Register(void* addr, size_t length,
                                MemoryAccess access) override;
  Status Deregister(const MemoryRegion& mr) override;
  size_t PollCompletions(std::span<Completion> out) override;
  int EventFd() const override { return epoll_fd_; }
  int64_t NextDeadlineUs() const override;

  EmulatedRnicStats stats() const;
  // An emulated device failure, as IBV_EVENT_DEVICE_FATAL on hardware:
  // every QP moves to the error state (its work completes flushed) and no
  // QP can be created (Unavailable) until RecoverFromFatalError().  For
  // tests and the lab's tcp-fallback scenario (rdma-bond-perf
  // --inject-fatal).
  void InjectFatalError();
  void RecoverFromFatalError();
  bool fatal() const { return fatal_; }
  const MacAddress& mac() const { return mac_; }
  const IpAddress& local_ip() const { return options_.local_ip; }
  uint32_t mtu() const { return mtu_; }
  // The link (for tests that inspect it).
  FrameLink* link() const { return link_.get(); }

 private:
  friend class EmulatedQueuePair;
  struct Region {
    uint8_t* addr = nullptr;
    size_t length = 0;
    uint32_t lkey = 0;
    MemoryAccess access = MemoryAccess::kLocal;
  };
  // Frames sent or received per system call, and at most this many
  // batches each way per PollCompletions() so that neither starves.
  static constexpr size_t kBatch = 64;
  static constexpr int kMaxBatchesPerPoll = 4;
  static constexpr size_t kFrameSlotBytes = 4352;
  static_assert(kFrameSlotBytes >= kMaxRoceFrameBytes, "a slot fits a frame");

  EmulatedRnic(const EmulatedRnicOptions& options, const RcTuning& tuning,
               MacAddress mac, uint32_t mtu, std::unique_ptr<FrameLink> link);
  Status Init();

  // RemoteAccess.
  uint8_t* ResolveRemoteWrite(uint32_t rkey, uint64_t va,
                              uint64_t length) override;

  // For the QPs.
  const Region* FindLocal(uint32_t lkey) const;
  void Remove(EmulatedQueuePair* qp);
  void Kick();                      // Makes EventFd() readable.
  uint32_t RandomPsn();
  uint16_t NextIpId() { return ip_id_++; }

  void ReceiveFrames(int64_t now_us);
  void HandleFrame(std::span<const uint8_t> frame, int64_t now_us);
  void RunTimers(int64_t now_us);
  bool TransmitFrames(int64_t now_us);  // True if output remains.
  void FlushTx();
  void SetPending(bool pending);

  const EmulatedRnicOptions options_;
  const RcTuning tuning_;
  const std::string name_;
  const MacAddress mac_;
  const uint32_t mtu_;
  std::unique_ptr<FrameLink> link_;
  int epoll_fd_ = -1;
  int kick_fd_ = -1;                // eventfd: work without a frame.
  bool kicked_ = false;             // kick_fd_ is readable.
  bool fatal_ = false;              // InjectFatalError().

  std::mt19937_64 rng_;
  uint32_t next_qpn_ = 2;
  uint16_t ip_id_ = 0;
  std::unordered_map<uint32_t, EmulatedQueuePair*> qps_;  // By QPN.
  std::vector<EmulatedQueuePair*> qp_list_;               // Poll order.
  size_t next_tx_qp_ = 0;           // Round robin start.
  size_t next_cq_qp_ = 0;

  std::unordered_map<uint32_t, Region> regions_by_rkey_;
  std::unordered_map<uint32_t, uint32_t> rkey_by_lkey_;

  // Transmit staging: kBatch slots of kFrameSlotBytes.
  std::vector<uint8_t> tx_slots_;
  std::vector<std::span<const uint8_t>> tx_views_;
  size_t tx_count_ = 0;
  std::vector<std::span<const uint8_t>> rx_views_;

  EmulatedRnicStats stats_;         // Frame counters; transport below.
  RcStats retired_transport_;       // Of destroyed QPs.
};

// The QueuePair of an EmulatedRnic.  Obtained from CreateQp(); the type is
// public so that tests and tools can read its transport counters.
class EmulatedQueuePair : public QueuePair {
 public:
  ~EmulatedQueuePair() override;

  QpEndpoint local() const override;
  QpState state() const override { return transport_.state(); }
  Status Connect(const QpEndpoint& remote, uint16_t sport) override;
  Status SetSourcePort(uint16_t sport) override;
  uint16_t source_port() const override { return address_.udp_sport; }
  Status PostSend(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<const uint8_t> data) override;
  Status PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<uint8_t> buffer) override;
  Status PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                   std::span<const uint8_t> data, uint64_t remote_addr,
                   uint32_t rkey, const uint32_t* imm) override;
  void SetError() override;

  // A SEND with immediate data (the peer's kRecv completion has_imm).
  Status PostSendWithImm(uint64_t wr_id, const MemoryRegion& mr,
                         std::span<const uint8_t> data, uint32_t imm);

  const RcStats& transport_stats() const { return transport_.stats(); }

 private:
  friend class EmulatedRnic;
  EmulatedQueuePair(EmulatedRnic* rnic, uint32_t qpn, uint32_t psn,
                    const QpOptions& options, const RcTuning& tuning);
  Status CheckLocal(const MemoryRegion& mr, const uint8_t* data,
                    size_t length) const;
  Status CheckAttached() const;

  EmulatedRnic* rnic_;              // Null once the RNIC is gone.
  const uint32_t qpn_;
  const uint32_t psn_;
  RcTransport transport_;
  FrameAddress address_;            // Where and how frames are sent.
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_RNIC_EMULATED_EMULATED_RNIC_H_
