// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// VerbsRnic: the Rnic backend over rdma-core (libibverbs), for a real RNIC
// or a soft one (rdma_rxe).
//
// VerbsRnic::Open() finds, through sysfs (rdma_sysfs.h), the RDMA device
// and port behind a bond member and the RoCEv2 GID of the local IP on it,
// opens the device, checks that the port is active and Ethernet, and
// creates the protection domain, a completion channel and one completion
// queue shared by all its QPs.
//
// Source ports.  A QP's RoCEv2 UDP source port is set at INIT->RTR through
// the flow label of its address handle: Connect() uses the flow label that
// the kernel's rdma_flow_label_to_udp_sport() maps to the port asked for
// (UdpSportToFlowLabel(), roce.h; rxe and mlx5 derive the port this way
// through rdma_get_udp_sport()).  On an mlx5 device the port is also set
// with mlx5dv_modify_qp_udp_sport() once in RTS (the call needs RTS; it
// makes kernels older than 5.8, which ignored the label, agree), and
// SetSourcePort() can move a connected QP; if the device refuses that call
// (EOPNOTSUPP, EPERM: no DEVX) the flow label alone governs, and, as on
// every other device, SetSourcePort() returns NotSupported: the caller
// replaces the QP.
//
// Work requests.  Every request is signaled.  The QP records what each
// outstanding request was (its wr_id and kind), so that a completion is
// reported with the caller's wr_id and the right opcode even when it
// failed (verbs leaves the opcode of a failed completion undefined), and
// so that requests still outstanding when the device dies, or when an
// errored QP is reset by Connect(), are reported as kFlushed by the next
// PollCompletions() and never lost.
//
// Health.  PollCompletions() also reads the device's asynchronous events:
// IBV_EVENT_DEVICE_FATAL (the device was removed or failed) and
// IBV_EVENT_PORT_ERR (the port went down) make health() non-OK and move
// every QP to the error state, so that outstanding work completes with
// kFlushed; IBV_EVENT_PORT_ACTIVE makes a port error clear again.  After a
// fatal event the owner should destroy its QPs and the VerbsRnic: a soft
// device (rxe) cannot finish unregistering while a process holds it open.
//
// Usage:
//   VerbsRnicOptions options;
//   options.member = "eth1";
//   options.local_ip = *ParseIpAddress("10.0.0.1");
//   Result<std::unique_ptr<VerbsRnic>> rnic = VerbsRnic::Open(options);
//   if (!rnic.ok()) return rnic.status();
//   Result<std::unique_ptr<QueuePair>> qp = (*rnic)->CreateQp({});
//
// Only built when configure found libibverbs (RDMA_BOND_HAVE_VERBS); this
// header needs no rdma-core header, but the functions declared below
// exist only in such a build.  The constexpr helpers are always usable.
//
// Thread-safety: as for every Rnic (rnic.h): one thread at a time.  Every
// QueuePair created by a VerbsRnic must be destroyed before it.

#ifndef RDMA_BOND_RNIC_VERBS_VERBS_RNIC_H_
#define RDMA_BOND_RNIC_VERBS_VERBS_RNIC_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"
#include "rdma_bond/verbs_rnic.h"
#include "rnic/verbs/rdma_sysfs.h"

struct ibv_comp_channel;
struct ibv_context;
struct ibv_cq;
struct ibv_mr;
struct ibv_pd;
struct ibv_wc;

namespace rdma_bond {

// ---------------------------------------------------------------------
// Pure helpers (no device needed).

// IB path MTU codes (enum ibv_mtu: IBV_MTU_256 = 1 ... IBV_MTU_4096 = 5).
inline constexpr int kIbMtuCodeMin = 1;
inline constexpr int kIbMtuCodeMax = 5;
inline constexpr uint32_t kIbMtuBytesMin = 256;
inline constexpr uint32_t kIbMtuBytesMax = 4096;
static_assert(kIbMtuBytesMin << (kIbMtuCodeMax - kIbMtuCodeMin) ==
                  kIbMtuBytesMax,
              "each MTU code doubles the size");

// The largest IB MTU code whose size is at most 'bytes' (1500 -> 1024 ->
// IBV_MTU_1024); 0 when 'bytes' is below 256.
constexpr int IbMtuCodeFromBytes(uint32_t bytes) {
  if (bytes < kIbMtuBytesMin) return 0;
  int code = kIbMtuCodeMin;
  while (code < kIbMtuCodeMax && (kIbMtuBytesMin << (code - kIbMtuCodeMin +
                                                     1)) <= bytes) {
    code++;
  }
  return code;
}

// The size of IB MTU code 'code' in bytes; 0 for a code out of range.
constexpr uint32_t IbMtuBytes(int code) {
  return code < kIbMtuCodeMin || code > kIbMtuCodeMax
             ? 0
             : kIbMtuBytesMin << (code - kIbMtuCodeMin);
}

// The local ACK timeout is 4.096 us * 2^t (t = ibv_qp_attr.timeout, 5 bits;
// 0 means "wait forever").
inline constexpr uint64_t kAckTimeoutUnitNs = 4096;
inline constexpr int kAckTimeoutExponentMin = 1;
inline constexpr int kAckTimeoutExponentMax = 31;

// The smallest exponent t whose timeout is at least 'us' microseconds,
// within 1..31: never 0, because a QP that waits forever never notices a
// dead path.  4096 us -> 10 (4194 us).
constexpr uint8_t AckTimeoutExponent(uint32_t us) {
  const uint64_t ns = static_cast<uint64_t>(us) * 1000;
  int t = kAckTimeoutExponentMin;
  while (t < kAckTimeoutExponentMax && (kAckTimeoutUnitNs << t) < ns) t++;
  return static_cast<uint8_t>(t);
}

// The timeout of exponent 't' in microseconds (rounded down).
constexpr uint64_t AckTimeoutUs(uint8_t t) {
  return (kAckTimeoutUnitNs << t) / 1000;
}

static_assert(IbMtuCodeFromBytes(1500) == 3 && IbMtuBytes(3) == 1024,
              "an Ethernet MTU of 1500 carries a 1024-byte RoCE MTU");
static_assert(AckTimeoutExponent(4096) == 10, "4096 us -> 4.2 ms");


// ---------------------------------------------------------------------
// Defined with the backend (only when libibverbs was found).

// Whether pinning 'length' more bytes (page-rounded by the caller) stays
// within RLIMIT_MEMLOCK 'limit_bytes' when 'pinned_bytes' are pinned
// already.  'unlimited' (RLIM_INFINITY) and 'cap_ipc_lock' (the limit
// does not apply) always pass.  Otherwise Unavailable naming the sizes,
// the limit and the way out (ulimit -l, LimitMEMLOCK= in the systemd
// unit), rather than the driver's bare ENOMEM.
Status CheckMemlockLimit(uint64_t length, uint64_t pinned_bytes,
                         uint64_t limit_bytes, bool unlimited,
                         bool cap_ipc_lock);

// The WcStatus of a verbs completion status (enum ibv_wc_status):
// IBV_WC_SUCCESS, IBV_WC_RETRY_EXC_ERR, IBV_WC_RNR_RETRY_EXC_ERR,
// IBV_WC_WR_FLUSH_ERR map to their namesakes, IBV_WC_REM_* to
// kRemoteError, everything else to kLocalError.
WcStatus WcStatusFromIbv(int ibv_wc_status);

class VerbsQp;

class VerbsRnic final : public Rnic {
 public:
  // Opens the RDMA device behind options.member.  Errors name the member,
  // device, port or IP and the way out.
  static Result<std::unique_ptr<VerbsRnic>> Open(
      const VerbsRnicOptions& options);

  // REQUIRES: every QP of this RNIC was destroyed (a QP still alive is
  // detached: its verbs QP is destroyed here and it fails every call).
  ~VerbsRnic() override;

  VerbsRnic(const VerbsRnic&) = delete;
  VerbsRnic& operator=(const VerbsRnic&) = delete;

  // Rnic.
  const std::string& name() const override { return name_; }
  const std::string& member() const override { return member_; }
  bool is_emulation() const override { return false; }
  Result<std::unique_ptr<QueuePair>> CreateQp(
      const QpOptions& options) override;
  Result<MemoryRegion> Register(void* addr, size_t length,
                                MemoryAccess access) override;
  Status Deregister(const MemoryRegion& mr) override;
  size_t PollCompletions(std::span<Completion> out) override;
  // An epoll descriptor over the completion channel and the device's
  // asynchronous event descriptor: readable on a completion or a device
  // event (port down, device removed).
  int EventFd() const override { return epoll_fd_; }
  // 0 while completions may be left in the CQ (the last PollCompletions()
  // filled its output); -1 otherwise.
  int64_t NextDeadlineUs() const override;

  // OK while the device and port work; otherwise why not ("RDMA device
  // rxe0 was removed or failed ...", "port rxe0:1 went down ...").
  Status health() const;

  const RdmaPortRef& port() const { return port_; }
  uint32_t gid_index() const { return gid_index_; }
  const Gid& gid() const { return gid_; }
  const IpAddress& local_ip() const { return local_ip_; }
  const MacAddress& mac() const { return mac_; }
  // The path MTU announced in local().mtu, in bytes.
  uint32_t mtu() const { return mtu_; }
  // True for an mlx5 device (mlx5dv_modify_qp_udp_sport() is used).
  bool is_mlx5() const { return is_mlx5_; }
  // True while SetSourcePort() can move a connected QP: an mlx5 device
  // whose mlx5dv_modify_qp_udp_sport() has not been refused (DEVX not
  // permitted, old firmware).
  bool can_move_source_port() const { return can_move_sport_; }

 private:
  friend class VerbsQp;

  // Deleters for the verbs objects (defined with the verbs headers).
  struct ContextCloser { void operator()(ibv_context* p) const; };
  struct PdDeallocator { void operator()(ibv_pd* p) const; };
  struct ChannelDestroyer { void operator()(ibv_comp_channel* p) const; };
  struct CqDestroyer { void operator()(ibv_cq* p) const; };
  struct MrDeregisterer { void operator()(ibv_mr* p) const; };

  // What an outstanding work request was, by the wr_id posted to verbs.
  struct Pending;

  VerbsRnic() = default;

  Status OpenDevice(const VerbsRnicOptions& options);
  void ReadAsyncEvents();
  // Moves every QP to the error state (health failed).
  void ErrorAllQps();
  // Reports 'qp's outstanding requests as kFlushed (it was reset, or the
  // device is gone).
  void FlushPending(VerbsQp* qp);
  // Translates one verbs completion; false when it is stale (its
  // request was already reported as flushed, or its QP is gone).
  bool TranslateCompletion(const ibv_wc& wc, Completion* out);
  // The device is gone: reports everything outstanding as flushed and
  // stops polling the CQ and the event descriptors.
  void SetFatal(Status status);

  std::string name_;
  std::string member_;
  RdmaPortRef port_;
  uint32_t gid_index_ = 0;
  Gid gid_{};
  IpAddress local_ip_;
  MacAddress mac_{};
  uint32_t mtu_ = 0;
  bool is_mlx5_ = false;
  bool can_move_sport_ = false;
  // rxe (Linux rxe_comp.c) takes retry_cnt 7 as "retry forever", as the
  // spec does only rnr_retry 7: a path whose peer drops every packet
  // would then neither complete nor fail.  QPs get 6 there instead.
  bool retry_7_is_forever_ = false;

  // Declared in creation order: destroyed in reverse (CQ, channel, MRs,
  // PD, context).  QPs are owned by the caller and go first.
  std::unique_ptr<ibv_context, ContextCloser> context_;
  std::unique_ptr<ibv_pd, PdDeallocator> pd_;
  std::unordered_map<uint32_t, std::unique_ptr<ibv_mr, MrDeregisterer>>
      mrs_;                         // By lkey.
  std::unique_ptr<ibv_comp_channel, ChannelDestroyer> channel_;
  std::unique_ptr<ibv_cq, CqDestroyer> cq_;
  int epoll_fd_ = -1;               // Closed by the destructor.
  bool async_fd_watched_ = false;

  uint32_t cq_capacity_ = 0;        // Entries the CQ really has.
  uint32_t cq_reserved_ = 0;        // Sum of the QPs' queue depths.
  uint64_t pinned_bytes_ = 0;       // Page-rounded bytes of mrs_.
  uint64_t next_wr_seq_ = 1;        // Never reused: stale CQEs never match.
  bool cq_maybe_nonempty_ = false;

  std::unordered_map<uint32_t, VerbsQp*> qps_;  // By QP number.
  std::deque<Completion> flushed_;  // Synthesized kFlushed completions.

  bool fatal_ = false;              // The device is gone: CQ not polled.
  Status fatal_status_;
  Status port_status_;
  Status gid_status_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_RNIC_VERBS_VERBS_RNIC_H_
