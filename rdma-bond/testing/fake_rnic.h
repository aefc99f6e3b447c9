// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// FakeRnic: an in-memory RNIC and switch fabric for testing multipath
// connections without RDMA hardware or network namespaces.
//
// A FakeFabric joins the RNICs of two sides (0 and 1), one RNIC per bond
// member of each side.  It plays the switch between them: every frame (a
// send, a write, or the acknowledgement of either) is shown to a
// programmable rule that sees the sending side and member, the member the
// frame is addressed to and the UDP source port, and answers deliver, drop
// or deliver to the other member (where no QP knows the frame: dropped and
// counted as misdelivered).  A member's link can be cut.  The fabric counts
// the frames each member sends, so a test can assert that a standby member
// never sent one, and records every RDMA write that landed (target, rkey).
//
// Reliable-connected semantics, simplified:
//   - a work request is transmitted when its RNIC is polled, in order, and
//     retransmitted every retransmit_interval until acknowledged;
//   - it is delivered at most once (the receiver keeps PSN state), only to
//     a QP connected to the sender's current QP number and PSN, and (a
//     send, a write with immediate) only if a receive is posted (else RNR:
//     retried);
//   - it completes kSuccess when the acknowledgement, sent from the
//     receiver's member with the receiver QP's source port, gets through;
//   - if the oldest request is not acknowledged within retry_timeout it
//     completes kRetryExceeded, the QP enters the error state and every
//     other request (receives included) completes kFlushed;
//   - a write with a bad rkey or range completes kRemoteError (QP error).
// Work requests copy their data at post time.
//
// Thread-safety: every method of the fabric, its RNICs and QPs locks the
// fabric's mutex, so the two sides may run in two threads.

#ifndef RDMA_BOND_FAKE_RNIC_H_
#define RDMA_BOND_FAKE_RNIC_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rdma_bond/rnic.h"

namespace rdma_bond::testing {

enum class Verdict : uint8_t { kDeliver, kDrop, kOtherMember };

// A frame as the switch sees it.
struct FakeFrame {
  int side = 0;                     // Sending side.
  size_t member = 0;                // Sending member of that side.
  size_t dest_member = 0;           // Member of the other side addressed.
  uint16_t sport = 0;               // UDP source port.
  bool ack = false;                 // An acknowledgement.
};

// A send posted on a QP, in the order posted: where, and its first bytes.
struct FakeSend {
  int side = 0;
  size_t member = 0;
  uint32_t qpn = 0;
  std::vector<uint8_t> head;        // At most kFakeSendHead bytes.
};
inline constexpr size_t kFakeSendHead = 32;

// An RDMA write that landed.
struct FakeWrite {
  int side = 0;                     // Side written to.
  size_t member = 0;                // Its member whose RNIC took it.
  uint32_t rkey = 0;
  uint64_t addr = 0;
  size_t length = 0;
};

class FakeRnic;
class FakeQp;

class FakeFabric {
 public:
  struct Options {
    std::chrono::milliseconds retry_timeout{100};
    std::chrono::microseconds retransmit_interval{1000};
    bool sport_change_supported = true;
  };

  FakeFabric() : FakeFabric(Options()) {}
  explicit FakeFabric(const Options& options) : options_(options) {}

  // An RNIC for 'member' (its index on 'side', its name).
  std::unique_ptr<FakeRnic> CreateRnic(int side, size_t member,
                                       std::string member_name,
                                       const IpAddress& ip);

  // The switch: called for every frame; default: deliver everything.
  void SetRule(std::function<Verdict(const FakeFrame&)> rule);
  // Frames from or to a member whose link is down are lost.
  void SetLinkDown(int side, size_t member, bool down);
  void SetSportChangeSupported(bool supported);

  uint64_t frames_from(int side, size_t member) const;
  uint64_t misdelivered() const;
  std::vector<FakeWrite> writes() const;
  // Every send posted on any QP so far (not writes), oldest first.
  std::vector<FakeSend> sends() const;

 private:
  friend class FakeRnic;
  friend class FakeQp;

  using Clock = std::chrono::steady_clock;

  // Runs the send queue of 'qp' (sender side).  REQUIRES: mu_ held.
  void Transmit(FakeQp* qp, Clock::time_point now);
  // Whether a frame gets through; which RNIC it reaches.  REQUIRES: mu_.
  FakeRnic* Route(const FakeFrame& frame, int dest_side);
  // The QP 'qpn', or nullptr.  REQUIRES: mu_.
  FakeQp* FindQp(uint32_t qpn);
  // Moves 'qp' to the error state, flushing.  REQUIRES: mu_.
  void ErrorQp(FakeQp* qp, uint64_t failed_wr, WcStatus failed_status);

  Options options_;
  mutable std::mutex mu_;
  std::function<Verdict(const FakeFrame&)> rule_;
  std::map<std::pair<int, size_t>, bool> link_down_;
  std::map<std::pair<int, size_t>, uint64_t> frames_;
  std::map<std::pair<int, size_t>, FakeRnic*> rnics_;
  std::map<uint32_t, FakeQp*> qps_;
  std::vector<FakeWrite> writes_;
  std::vector<FakeSend> sends_;
  uint64_t misdelivered_ = 0;
  uint32_t next_qpn_ = 0x100;
  uint32_t next_psn_ = 0x1000;
  uint32_t next_key_ = 0x10;
};

class FakeRnic : public Rnic {
 public:
  ~FakeRnic() override;

  const std::string& name() const override { return name_; }
  const std::string& member() const override { return member_name_; }
  bool is_emulation() const override { return true; }
  Result<std::unique_ptr<QueuePair>> CreateQp(
      const QpOptions& options) override;
  Result<MemoryRegion> Register(void* addr, size_t length,
                                MemoryAccess access) override;
  Status Deregister(const MemoryRegion& mr) override;
  size_t PollCompletions(std::span<Completion> out) override;
  int EventFd() const override { return event_fd_; }
  int64_t NextDeadlineUs() const override { return 1000; }

  int side() const { return side_; }
  size_t member_index() const { return member_; }
  // A device fatal error (true) or its end: while broken, every QP of the
  // RNIC is in the error state (its work flushed) and CreateQp() fails.
  void SetBroken(bool broken);
  // The MAC address of its QPs' endpoints (encodes side and member).
  MacAddress mac() const;

 private:
  friend class FakeFabric;
  friend class FakeQp;

  FakeRnic(FakeFabric* fabric, int side, size_t member, std::string name,
           const IpAddress& ip);
  // The registered region holding [addr, addr + length) under 'key' (an
  // lkey or, if 'remote', an rkey), or nullptr.  REQUIRES: fabric mu_.
  const MemoryRegion* FindRegion(uint32_t key, bool remote, uint64_t addr,
                                 size_t length) const;

  FakeFabric* fabric_;
  int side_;
  size_t member_;
  std::string member_name_;
  std::string name_;
  IpAddress ip_;
  int event_fd_ = -1;
  std::vector<MemoryRegion> regions_;
  std::vector<FakeQp*> qps_;
  std::deque<Completion> cq_;
  bool broken_ = false;
};

class FakeQp : public QueuePair {
 public:
  ~FakeQp() override;

  QpEndpoint local() const override;
  QpState state() const override;
  Status Connect(const QpEndpoint& remote, uint16_t sport) override;
  Status SetSourcePort(uint16_t sport) override;
  uint16_t source_port() const override;
  Status PostSend(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<const uint8_t> data) override;
  Status PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<uint8_t> buffer) override;
  Status PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                   std::span<const uint8_t> data, uint64_t remote_addr,
                   uint32_t rkey, const uint32_t* imm) override;
  void SetError() override;

 private:
  friend class FakeFabric;
  friend class FakeRnic;

  struct SendWr {
    uint64_t wr_id = 0;
    bool write = false;
    std::vector<uint8_t> data;
    uint64_t remote_addr = 0;
    uint32_t rkey = 0;
    bool has_imm = false;
    uint32_t imm = 0;
    bool delivered = false;
    bool transmitted = false;
    std::chrono::steady_clock::time_point first_tx;
  };
  struct RecvWr {
    uint64_t wr_id = 0;
    uint8_t* addr = nullptr;
    size_t length = 0;
  };

  FakeQp(FakeRnic* rnic, uint32_t qpn, uint32_t psn, const QpOptions& options)
      : rnic_(rnic), qpn_(qpn), psn_(psn), options_(options) {}
  Status CheckLocal(const MemoryRegion& mr, const uint8_t* addr,
                    size_t length) const;

  FakeRnic* rnic_;
  uint32_t qpn_;
  uint32_t psn_;
  QpOptions options_;
  QpState state_ = QpState::kReset;
  uint32_t remote_qpn_ = 0;
  uint32_t remote_psn_ = 0;
  int remote_side_ = 0;
  size_t remote_member_ = 0;
  uint16_t sport_ = 0;
  std::deque<SendWr> sendq_;
  std::deque<RecvWr> recvq_;
  std::chrono::steady_clock::time_point next_tx_;
};

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_FAKE_RNIC_H_
