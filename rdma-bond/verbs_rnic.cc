// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/verbs_rnic.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef RDMA_BOND_HAVE_MLX5DV
#include <infiniband/mlx5dv.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <utility>

#include "rdma_bond/roce.h"

namespace rdma_bond {

static_assert(IBV_MTU_256 == kIbMtuCodeMin && IBV_MTU_4096 == kIbMtuCodeMax,
              "the MTU codes are enum ibv_mtu");
static_assert(IBV_MTU_1024 == IbMtuCodeFromBytes(1024) &&
                  IBV_MTU_2048 == IbMtuCodeFromBytes(2048),
              "the MTU codes are enum ibv_mtu");

namespace {

// Bit 63 of the wr_id given to verbs marks a receive; the other bits are
// the RNIC's request sequence number.
constexpr uint64_t kRecvWrBit = uint64_t{1} << 63;

// Completions taken from the CQ per ibv_poll_cq() call.
constexpr int kPollBatch = 32;

// RoCEv2 carries the GRH as an IPv6-like header: a TTL of 64 as for IP.
constexpr uint8_t kHopLimit = 64;

// RDMA reads and atomics are not used; one outstanding is the minimum
// every device accepts.
constexpr uint8_t kMaxRdAtomic = 1;

// Minimum RNR NAK timer: code 12 = 0.64 ms, the usual default (perftest).
constexpr uint8_t kMinRnrTimer = 12;

// Verbs retry counts are 3 bits.
constexpr uint8_t kMaxRetryCount = 7;

// QP numbers and PSNs are 24 bits.
constexpr uint32_t kQpnMask = 0xffffff;
constexpr uint32_t kPsnMask = 0xffffff;

// CAP_IPC_LOCK (linux/capability.h): RLIMIT_MEMLOCK does not apply.
constexpr int kCapIpcLock = 14;

constexpr uint64_t kMiB = uint64_t{1} << 20;

std::string Hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%" PRIx32, value);
  return text;
}

// "64 MiB" or "12345 bytes", for memory sizes in messages.
std::string Bytes(uint64_t n) {
  if (n >= kMiB && n % kMiB == 0) return std::to_string(n / kMiB) + " MiB";
  return std::to_string(n) + " bytes";
}

Status SetNonBlocking(int fd, std::string_view what) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Status::FromErrno("fcntl O_NONBLOCK on " + std::string(what),
                             errno);
  }
  return Status::OK();
}

// True if this process has CAP_IPC_LOCK (from /proc/self/status CapEff).
bool HasCapIpcLock() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("CapEff:")) {
      const uint64_t caps = std::strtoull(line.c_str() + 7, nullptr, 16);
      return (caps >> kCapIpcLock) & 1;
    }
  }
  return false;
}

// Bytes of the pages covering [addr, addr + length): what the kernel pins.
uint64_t PinnedSpan(const void* addr, size_t length) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t start = reinterpret_cast<uintptr_t>(addr) & ~(page - 1);
  const uint64_t end =
      (reinterpret_cast<uintptr_t>(addr) + length + page - 1) & ~(page - 1);
  return end - start;
}

Gid ToGid(const ibv_gid& gid) {
  Gid out;
  std::memcpy(out.data(), gid.raw, out.size());
  return out;
}

bool IsZero(const Gid& gid) {
  return std::all_of(gid.begin(), gid.end(), [](uint8_t b) { return b == 0; });
}

// Errors of a call the device or kernel does not offer or permit.
bool IsRefusal(int err) {
  return err == EOPNOTSUPP || err == ENOTSUP || err == EPROTONOSUPPORT ||
         err == EPERM || err == EACCES || err == ENOSYS;
}

struct QpDestroyer {
  void operator()(ibv_qp* qp) const { ibv_destroy_qp(qp); }
};

}  // namespace

// ---------------------------------------------------------------------
// Free functions.

Status CheckMemlockLimit(uint64_t length, uint64_t pinned_bytes,
                         uint64_t limit_bytes, bool unlimited,
                         bool cap_ipc_lock) {
  if (unlimited || cap_ipc_lock || pinned_bytes + length <= limit_bytes) {
    return Status::OK();
  }
  return Status::Unavailable(
      "registering " + Bytes(length) + " of RDMA memory with " +
      Bytes(pinned_bytes) + " already registered exceeds RLIMIT_MEMLOCK (" +
      Bytes(limit_bytes) +
      "): raise it (ulimit -l unlimited, or LimitMEMLOCK=infinity in the "
      "systemd unit)");
}

WcStatus WcStatusFromIbv(int ibv_wc_status) {
  switch (ibv_wc_status) {
    case IBV_WC_SUCCESS: return WcStatus::kSuccess;
    case IBV_WC_RETRY_EXC_ERR: return WcStatus::kRetryExceeded;
    case IBV_WC_RNR_RETRY_EXC_ERR: return WcStatus::kRnrRetryExceeded;
    case IBV_WC_WR_FLUSH_ERR: return WcStatus::kFlushed;
    case IBV_WC_REM_INV_REQ_ERR:
    case IBV_WC_REM_ACCESS_ERR:
    case IBV_WC_REM_OP_ERR:
    case IBV_WC_REM_ABORT_ERR:
    case IBV_WC_REM_INV_RD_REQ_ERR:
      return WcStatus::kRemoteError;
    default:
      return WcStatus::kLocalError;
  }
}

namespace {

// The device list of libibverbs, freed on scope exit.
class DeviceList {
 public:
  DeviceList() {
    errno = 0;
    list_ = ibv_get_device_list(&count_);
    errno_ = list_ == nullptr && errno == 0 ? EIO : errno;
  }
  ~DeviceList() {
    if (list_ != nullptr) ibv_free_device_list(list_);
  }
  DeviceList(const DeviceList&) = delete;
  DeviceList& operator=(const DeviceList&) = delete;

  // OK, or why the list could not be read or is empty.
  Status status() const {
    if (list_ == nullptr && errno_ == ENOSYS) {
      // No /sys/class/infiniband_verbs: the kernel has no RDMA userspace
      // support loaded, so there is no device either.
      return Status::NotFound(
          "no RDMA devices (ibv_get_device_list: ib_uverbs is not loaded): "
          "load rdma_rxe or use --backend emulated");
    }
    if (list_ == nullptr) {
      return Status::FromErrno("ibv_get_device_list", errno_);
    }
    if (count_ == 0) {
      return Status::NotFound(
          "no RDMA devices (ibv_get_device_list found none): load rdma_rxe "
          "or use --backend emulated");
    }
    return Status::OK();
  }
  std::span<ibv_device*> devices() const {
    return list_ == nullptr
               ? std::span<ibv_device*>()
               : std::span<ibv_device*>(list_, static_cast<size_t>(count_));
  }

 private:
  ibv_device** list_ = nullptr;
  int count_ = 0;
  int errno_ = 0;                   // Of a failed ibv_get_device_list().
};

}  // namespace

Status CheckVerbsAvailable() { return DeviceList().status(); }

Result<std::vector<std::string>> ListVerbsDevices() {
  DeviceList list;
  if (!list.status().ok()) return list.status();
  std::vector<std::string> names;
  for (ibv_device* device : list.devices()) {
    names.push_back(ibv_get_device_name(device));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------
// VerbsQp.

struct VerbsRnic::Pending {
  uint64_t seq = 0;                 // The wr_id given to verbs, less bit 63.
  uint64_t wr_id = 0;               // The caller's.
  WcOpcode opcode = WcOpcode::kSend;
};

class VerbsQp final : public QueuePair {
 public:
  VerbsQp(VerbsRnic* rnic, ibv_qp* qp, const QpOptions& options,
          uint32_t psn)
      : rnic_(rnic), qp_(qp), options_(options), qpn_(qp->qp_num),
        psn_(psn) {}

  ~VerbsQp() override {
    if (rnic_ != nullptr) {
      rnic_->qps_.erase(qpn_);
      rnic_->cq_reserved_ -= options_.max_send_wr + options_.max_recv_wr;
    }
  }

  QpEndpoint local() const override {
    QpEndpoint endpoint;
    endpoint.qpn = qpn_;
    endpoint.psn = psn_;
    if (rnic_ != nullptr) {
      endpoint.ip = rnic_->local_ip_;
      endpoint.gid = rnic_->gid_;
      endpoint.mac = rnic_->mac_;
      endpoint.mtu = rnic_->mtu_;
    }
    return endpoint;
  }

  QpState state() const override { return state_; }
  uint16_t source_port() const override { return sport_; }

  Status Connect(const QpEndpoint& remote, uint16_t sport) override;
  Status SetSourcePort(uint16_t sport) override;
  Status PostSend(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<const uint8_t> data) override;
  Status PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                  std::span<uint8_t> buffer) override;
  Status PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                   std::span<const uint8_t> data, uint64_t remote_addr,
                   uint32_t rkey, const uint32_t* imm) override;
  void SetError() override;

 private:
  friend class VerbsRnic;

  // "QP 0x11 on rxe0:1", for messages.
  std::string Name() const {
    return "QP " + Hex(qpn_) + " on " +
           (rnic_ != nullptr ? rnic_->name_ : std::string("a closed RNIC"));
  }

  // The RNIC was destroyed first: drop the verbs QP with it.
  void Detach() {
    qp_.reset();
    rnic_ = nullptr;
    state_ = QpState::kError;
    send_pending_.clear();
    recv_pending_.clear();
  }

  Status Usable() const {
    if (rnic_ == nullptr) {
      return Status::Unavailable(Name() + ": its RDMA device was closed");
    }
    if (rnic_->fatal_) return rnic_->fatal_status_.WithPrefix(Name());
    return Status::OK();
  }

  Status Modify(ibv_qp_attr* attr, int mask, std::string_view transition) {
    const int err = ibv_modify_qp(qp_.get(), attr, mask);
    if (err != 0) {
      return Status::FromErrno(
          "ibv_modify_qp " + std::string(transition) + " of " + Name(), err);
    }
    return Status::OK();
  }

  Status Reset() {
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_RESET;
    Status status = Modify(&attr, IBV_QP_STATE, "to RESET");
    if (!status.ok()) return status;
    // Verbs drops the WQEs of a reset QP without completions: report
    // them flushed ourselves.
    rnic_->FlushPending(this);
    state_ = QpState::kReset;
    return Status::OK();
  }

  Status ToInit() {
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_INIT;
    attr.pkey_index = 0;
    attr.port_num = static_cast<uint8_t>(rnic_->port_.port);
    attr.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
    return Modify(&attr,
                  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                      IBV_QP_ACCESS_FLAGS,
                  "RESET->INIT");
  }

  Status ToRtr(const QpEndpoint& remote, const Gid& dgid, int mtu_code,
               uint16_t sport) {
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_RTR;
    attr.path_mtu = static_cast<ibv_mtu>(mtu_code);
    attr.dest_qp_num = remote.qpn;
    attr.rq_psn = remote.psn;
    attr.max_dest_rd_atomic = kMaxRdAtomic;
    attr.min_rnr_timer = kMinRnrTimer;
    attr.ah_attr.is_global = 1;
    attr.ah_attr.port_num = static_cast<uint8_t>(rnic_->port_.port);
    std::memcpy(attr.ah_attr.grh.dgid.raw, dgid.data(), dgid.size());
    attr.ah_attr.grh.sgid_index = static_cast<uint8_t>(rnic_->gid_index_);
    attr.ah_attr.grh.hop_limit = kHopLimit;
    // rdma_get_udp_sport() turns this label into 'sport' (roce.h).
    attr.ah_attr.grh.flow_label = UdpSportToFlowLabel(sport);
    Status status = Modify(&attr,
                           IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
                               IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                               IBV_QP_MAX_DEST_RD_ATOMIC |
                               IBV_QP_MIN_RNR_TIMER,
                           "INIT->RTR");
    const int err = status.errno_value();
    if (err == EHOSTUNREACH || err == ENETUNREACH || err == ETIMEDOUT ||
        err == ENODATA) {
      // The kernel resolves the peer's MAC address here (ARP/ND).
      status = status.WithHint("(resolving " + ToString(remote.ip) +
                               ": is it reachable from " + rnic_->member_ +
                               "?)");
    }
    return status;
  }

  Status ToRts() {
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_RTS;
    attr.sq_psn = psn_;
    attr.timeout = AckTimeoutExponent(options_.ack_timeout_us);
    attr.retry_cnt = options_.retry_count;
    attr.rnr_retry = options_.rnr_retry;
    attr.max_rd_atomic = kMaxRdAtomic;
    return Modify(&attr,
                  IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
                      IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                      IBV_QP_MAX_QP_RD_ATOMIC,
                  "RTR->RTS");
  }

  // mlx5dv_modify_qp_udp_sport(); the QP must be in RTS.
  Status SetMlx5Sport(uint16_t sport) {
#ifdef RDMA_BOND_HAVE_MLX5DV
    const int err = mlx5dv_modify_qp_udp_sport(qp_.get(), sport);
    if (err != 0) {
      return Status::FromErrno("mlx5dv_modify_qp_udp_sport " +
                                   std::to_string(sport) + " of " + Name(),
                               err);
    }
    return Status::OK();
#else
    (void)sport;
    return Status::NotSupported(Name() + ": built without mlx5dv");
#endif
  }

  // The checks of a send or write of 'data' from 'mr', and its SGE.
  Status PrepareSend(const MemoryRegion& mr, std::span<const uint8_t> data,
                     ibv_sge* sge) const {
    if (Status status = CheckCanSend(); !status.ok()) return status;
    if (Status status = CheckInRegion(mr, data.data(), data.size());
        !status.ok()) {
      return status;
    }
    sge->addr = reinterpret_cast<uintptr_t>(data.data());
    sge->length = static_cast<uint32_t>(data.size());
    sge->lkey = mr.lkey;
    return Status::OK();
  }

  // Checks that [data, data + size) lies in 'mr', one of this RNIC's.
  Status CheckInRegion(const MemoryRegion& mr, const uint8_t* data,
                       size_t size) const {
    if (rnic_->mrs_.find(mr.lkey) == rnic_->mrs_.end()) {
      return Status::InvalidArgument("memory region lkey " + Hex(mr.lkey) +
                                     " is not registered with " +
                                     rnic_->name_);
    }
    const uintptr_t begin = reinterpret_cast<uintptr_t>(mr.addr);
    const uintptr_t p = reinterpret_cast<uintptr_t>(data);
    if (size > UINT32_MAX ||
        (size > 0 && (p < begin || p - begin > mr.length ||
                      size > mr.length - (p - begin)))) {
      return Status::InvalidArgument(
          std::to_string(size) +
          " bytes at the given address do not lie inside the memory "
          "region (lkey " + Hex(mr.lkey) + ", " +
          std::to_string(mr.length) + " bytes)");
    }
    return Status::OK();
  }

  Status CheckCanSend() const {
    if (Status usable = Usable(); !usable.ok()) return usable;
    if (state_ != QpState::kRts) {
      return Status::Unavailable(Name() + " is in state " +
                                 std::string(ToString(state_)) +
                                 ", not rts: connect it first");
    }
    if (send_pending_.size() >= options_.max_send_wr) {
      return Status::Unavailable(
          "send queue of " + Name() + " is full (" +
          std::to_string(options_.max_send_wr) +
          " outstanding): poll completions first");
    }
    return Status::OK();
  }

  Status PostSendWr(ibv_send_wr* wr, ibv_sge* sge, uint64_t wr_id,
                    WcOpcode opcode) {
    const uint64_t seq = rnic_->next_wr_seq_++;
    wr->wr_id = seq;
    wr->sg_list = sge->length > 0 ? sge : nullptr;
    wr->num_sge = sge->length > 0 ? 1 : 0;
    wr->send_flags = IBV_SEND_SIGNALED;
    if (options_.max_inline > 0 && sge->length <= options_.max_inline) {
      wr->send_flags |= IBV_SEND_INLINE;
    }
    ibv_send_wr* bad = nullptr;
    const int err = ibv_post_send(qp_.get(), wr, &bad);
    if (err != 0) {
      return Status::FromErrno("ibv_post_send on " + Name(), err);
    }
    send_pending_.push_back({seq, wr_id, opcode});
    return Status::OK();
  }

  VerbsRnic* rnic_;                 // Not owned; null once detached.
  std::unique_ptr<ibv_qp, QpDestroyer> qp_;
  const QpOptions options_;
  const uint32_t qpn_;
  const uint32_t psn_;
  QpState state_ = QpState::kReset;
  uint16_t sport_ = 0;
  // Outstanding requests in posting order (RC completes each queue in
  // order).
  std::deque<VerbsRnic::Pending> send_pending_;
  std::deque<VerbsRnic::Pending> recv_pending_;
};

Status VerbsQp::Connect(const QpEndpoint& remote, uint16_t sport) {
  if (Status usable = Usable(); !usable.ok()) return usable;
  if (Status health = rnic_->health(); !health.ok()) {
    return health.WithPrefix("cannot connect " + Name());
  }
  if (!IsRoceSport(sport)) {
    return Status::InvalidArgument(
        "UDP source port " + std::to_string(sport) +
        " is not a RoCEv2 source port (49152..65535)");
  }
  if (remote.qpn > kQpnMask || remote.qpn == 0 || remote.psn > kPsnMask) {
    return Status::InvalidArgument(
        "remote QP " + Hex(remote.qpn) + " psn " + Hex(remote.psn) +
        ": the QP number and PSN are 24 bits, the QP number not 0");
  }
  if (remote.ip.version != rnic_->local_ip_.version) {
    return Status::InvalidArgument(
        "remote " + ToString(remote.ip) + " and local " +
        ToString(rnic_->local_ip_) + " are of different IP versions");
  }
  const int mtu_code =
      IbMtuCodeFromBytes(std::min(remote.mtu, rnic_->mtu_));
  if (mtu_code == 0) {
    return Status::InvalidArgument("remote path MTU " +
                                   std::to_string(remote.mtu) +
                                   " is below 256 bytes");
  }
  // A peer that sent only its IP: the GID is the IP's (IPv4-mapped).
  Gid dgid = remote.gid;
  if (IsZero(dgid)) dgid = IpAddressToGid(remote.ip);

  if (state_ != QpState::kReset) {
    if (Status status = Reset(); !status.ok()) return status;
  }
  if (Status status = ToInit(); !status.ok()) return status;
  state_ = QpState::kInit;
  if (Status status = ToRtr(remote, dgid, mtu_code, sport); !status.ok()) {
    return status;
  }
  state_ = QpState::kRtr;
  if (Status status = ToRts(); !status.ok()) return status;
  state_ = QpState::kRts;
  sport_ = sport;
  if (rnic_->can_move_sport_) {
    // The flow label already gives 'sport' on kernels >= 5.8; older mlx5
    // kernels used a per-device port unless it is set explicitly.
    Status status = SetMlx5Sport(sport);
    if (IsRefusal(status.errno_value())) {
      // The device does not let us (no DEVX): the label governs, and a
      // connected QP can no longer be moved in place.
      rnic_->can_move_sport_ = false;
    } else if (!status.ok()) {
      SetError();
      return status;
    }
  }
  return Status::OK();
}

Status VerbsQp::SetSourcePort(uint16_t sport) {
  if (Status usable = Usable(); !usable.ok()) return usable;
  if (!IsRoceSport(sport)) {
    return Status::InvalidArgument(
        "UDP source port " + std::to_string(sport) +
        " is not a RoCEv2 source port (49152..65535)");
  }
  if (state_ == QpState::kRts && sport == sport_) return Status::OK();
  if (!rnic_->can_move_sport_) {
    return Status::NotSupported(
        Name() + ": the UDP source port is fixed by the flow label at "
        "INIT->RTR and " + rnic_->port_.device +
        (rnic_->is_mlx5_ ? " refused mlx5dv_modify_qp_udp_sport"
                         : " is not an mlx5 device") +
        ": replace the QP to move it to port " + std::to_string(sport));
  }
  if (state_ != QpState::kRts) {
    return Status::Unavailable(Name() + " is in state " +
                               std::string(ToString(state_)) +
                               ", not rts: connect it with the new port");
  }
  Status status = SetMlx5Sport(sport);
  if (IsRefusal(status.errno_value())) {
    rnic_->can_move_sport_ = false;
    return Status::NotSupported(status.message() +
                                ": replace the QP to move it to port " +
                                std::to_string(sport));
  }
  if (!status.ok()) return status;
  sport_ = sport;
  return Status::OK();
}

Status VerbsQp::PostSend(uint64_t wr_id, const MemoryRegion& mr,
                         std::span<const uint8_t> data) {
  ibv_sge sge{};
  if (Status status = PrepareSend(mr, data, &sge); !status.ok()) {
    return status;
  }
  ibv_send_wr wr{};
  wr.opcode = IBV_WR_SEND;
  return PostSendWr(&wr, &sge, wr_id, WcOpcode::kSend);
}

Status VerbsQp::PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                          std::span<const uint8_t> data,
                          uint64_t remote_addr, uint32_t rkey,
                          const uint32_t* imm) {
  ibv_sge sge{};
  if (Status status = PrepareSend(mr, data, &sge); !status.ok()) {
    return status;
  }
  ibv_send_wr wr{};
  wr.opcode = imm != nullptr ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE;
  if (imm != nullptr) wr.imm_data = htonl(*imm);
  wr.wr.rdma.remote_addr = remote_addr;
  wr.wr.rdma.rkey = rkey;
  return PostSendWr(&wr, &sge, wr_id, WcOpcode::kWrite);
}

Status VerbsQp::PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                         std::span<uint8_t> buffer) {
  if (Status usable = Usable(); !usable.ok()) return usable;
  if (state_ == QpState::kReset) {
    return Status::Unavailable(Name() +
                               " is in state reset: connect it first");
  }
  if (recv_pending_.size() >= options_.max_recv_wr) {
    return Status::Unavailable("receive queue of " + Name() +
                               " is full (" +
                               std::to_string(options_.max_recv_wr) +
                               " outstanding): poll completions first");
  }
  if (Status status = CheckInRegion(mr, buffer.data(), buffer.size());
      !status.ok()) {
    return status;
  }
  ibv_sge sge{};
  sge.addr = reinterpret_cast<uintptr_t>(buffer.data());
  sge.length = static_cast<uint32_t>(buffer.size());
  sge.lkey = mr.lkey;
  const uint64_t seq = rnic_->next_wr_seq_++;
  ibv_recv_wr wr{};
  wr.wr_id = seq | kRecvWrBit;
  wr.sg_list = sge.length > 0 ? &sge : nullptr;
  wr.num_sge = sge.length > 0 ? 1 : 0;
  ibv_recv_wr* bad = nullptr;
  const int err = ibv_post_recv(qp_.get(), &wr, &bad);
  if (err != 0) return Status::FromErrno("ibv_post_recv on " + Name(), err);
  recv_pending_.push_back({seq, wr_id, WcOpcode::kRecv});
  return Status::OK();
}

void VerbsQp::SetError() {
  if (qp_ == nullptr) return;
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_ERR;
  // A failure (the device is gone) leaves nothing to flush through the
  // CQ; the RNIC then flushes the requests itself (SetFatal()).
  (void)Modify(&attr, IBV_QP_STATE, "to ERR");
  state_ = QpState::kError;
}

// ---------------------------------------------------------------------
// VerbsRnic.

void VerbsRnic::ContextCloser::operator()(ibv_context* p) const {
  ibv_close_device(p);
}
void VerbsRnic::PdDeallocator::operator()(ibv_pd* p) const {
  ibv_dealloc_pd(p);
}
void VerbsRnic::ChannelDestroyer::operator()(ibv_comp_channel* p) const {
  ibv_destroy_comp_channel(p);
}
void VerbsRnic::CqDestroyer::operator()(ibv_cq* p) const {
  ibv_destroy_cq(p);
}
void VerbsRnic::MrDeregisterer::operator()(ibv_mr* p) const {
  ibv_dereg_mr(p);
}

Result<std::unique_ptr<VerbsRnic>> VerbsRnic::Open(
    const VerbsRnicOptions& options) {
  std::unique_ptr<VerbsRnic> rnic(new VerbsRnic());
  Status status = rnic->OpenDevice(options);
  if (!status.ok()) return status;
  return rnic;
}

VerbsRnic::~VerbsRnic() {
  // QPs still alive lose their verbs QP now: the CQ cannot be destroyed
  // while a QP uses it.
  for (auto& [qpn, qp] : qps_) qp->Detach();
  qps_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status VerbsRnic::OpenDevice(const VerbsRnicOptions& options) {
  if (options.member.empty()) {
    return Status::InvalidArgument("no bond member given for the verbs RNIC");
  }
  if (options.local_ip.version != 4 && options.local_ip.version != 6) {
    return Status::InvalidArgument("local IP of member \"" + options.member +
                                   "\" is not set");
  }
  if (options.max_mtu < kIbMtuBytesMin || options.cq_size == 0) {
    return Status::InvalidArgument(
        "VerbsRnicOptions: max_mtu " + std::to_string(options.max_mtu) +
        " (at least 256) or cq_size " + std::to_string(options.cq_size) +
        " (at least 1) out of range");
  }
  member_ = options.member;
  local_ip_ = options.local_ip;

  // Device, port and GID from sysfs.
  const RdmaSysfs sysfs(options.sysfs_root);
  if (options.device.empty()) {
    Result<RdmaPortRef> found = sysfs.FindRdmaPort(options.member);
    if (!found.ok()) return found.status();
    port_ = *found;
  } else {
    port_.device = options.device;
    port_.port = 1;
  }
  if (options.port != 0) port_.port = options.port;
  name_ = ToString(port_);
  Result<RoceGid> gid = sysfs.FindRoceV2Gid(port_, member_, local_ip_);
  if (!gid.ok()) return gid.status();
  gid_index_ = gid->index;
  gid_ = gid->gid;
  Result<MacAddress> mac = sysfs.ReadNetdevMac(member_);
  if (!mac.ok()) return mac.status();
  mac_ = *mac;

  // Open the device.
  {
    DeviceList list;
    if (Status status = list.status(); !status.ok()) return status;
    ibv_device* device = nullptr;
    std::string seen;
    for (ibv_device* d : list.devices()) {
      if (port_.device == ibv_get_device_name(d)) device = d;
      seen += (seen.empty() ? "" : ", ") + std::string(ibv_get_device_name(d));
    }
    if (device == nullptr) {
      return Status::NotFound(
          "RDMA device " + port_.device + " (behind member \"" + member_ +
          "\" in sysfs) is not among the devices libibverbs sees (" + seen +
          "): is its provider installed (ibverbs-providers) and "
          "/dev/infiniband readable?");
    }
#ifdef RDMA_BOND_HAVE_MLX5DV
    is_mlx5_ = mlx5dv_is_supported(device);
    can_move_sport_ = is_mlx5_;
#endif
    context_.reset(ibv_open_device(device));
    if (context_ == nullptr) {
      return Status::FromErrno("ibv_open_device " + port_.device, errno);
    }
  }

  // The port: up, Ethernet.
  ibv_port_attr port_attr{};
  if (int err = ibv_query_port(context_.get(),
                               static_cast<uint8_t>(port_.port), &port_attr);
      err != 0) {
    return Status::FromErrno("ibv_query_port " + name_, err);
  }
  if (port_attr.link_layer != IBV_LINK_LAYER_ETHERNET) {
    return Status::NotSupported("port " + name_ +
                                " is not Ethernet (link layer " +
                                std::to_string(port_attr.link_layer) +
                                "): RoCEv2 needs an Ethernet port");
  }
  if (port_attr.state != IBV_PORT_ACTIVE) {
    return Status::Unavailable(
        "port " + name_ + " is " + ibv_port_state_str(port_attr.state) +
        ", not ACTIVE (bring up member " + member_ + ": ip link set " +
        member_ + " up)");
  }
  mtu_ = std::min(IbMtuBytes(port_attr.active_mtu),
                  IbMtuBytes(IbMtuCodeFromBytes(options.max_mtu)));

  // Cross-check the GID sysfs gave with the device's table.
  ibv_gid_entry entry{};
  if (ibv_query_gid_ex(context_.get(), port_.port, gid_index_, &entry, 0) ==
      0) {
    if (entry.gid_type != IBV_GID_TYPE_ROCE_V2 || ToGid(entry.gid) != gid_) {
      return Status::Unavailable(
          "GID index " + std::to_string(gid_index_) + " of " + name_ +
          " changed while opening (now " + FormatSysfsGid(ToGid(entry.gid)) +
          "): retry");
    }
  } else {
    ibv_gid raw{};
    if (int err = ibv_query_gid(context_.get(),
                                static_cast<uint8_t>(port_.port),
                                static_cast<int>(gid_index_), &raw);
        err != 0) {
      return Status::FromErrno("ibv_query_gid " + name_ + " index " +
                                   std::to_string(gid_index_),
                               errno != 0 ? errno : EIO);
    }
    if (ToGid(raw) != gid_) {
      return Status::Unavailable("GID index " + std::to_string(gid_index_) +
                                 " of " + name_ +
                                 " changed while opening: retry");
    }
  }

  pd_.reset(ibv_alloc_pd(context_.get()));
  if (pd_ == nullptr) {
    return Status::FromErrno("ibv_alloc_pd on " + name_, errno);
  }
  channel_.reset(ibv_create_comp_channel(context_.get()));
  if (channel_ == nullptr) {
    return Status::FromErrno("ibv_create_comp_channel on " + name_, errno);
  }
  if (Status status = SetNonBlocking(channel_->fd, "completion channel");
      !status.ok()) {
    return status;
  }
  cq_.reset(ibv_create_cq(context_.get(), static_cast<int>(options.cq_size),
                          nullptr, channel_.get(), 0));
  if (cq_ == nullptr) {
    return Status::FromErrno("ibv_create_cq of " +
                                 std::to_string(options.cq_size) +
                                 " entries on " + name_,
                             errno);
  }
  cq_capacity_ = static_cast<uint32_t>(cq_->cqe);
  if (int err = ibv_req_notify_cq(cq_.get(), 0); err != 0) {
    return Status::FromErrno("ibv_req_notify_cq on " + name_, err);
  }
  if (Status status =
          SetNonBlocking(context_->async_fd, "async event descriptor");
      !status.ok()) {
    return status;
  }

  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Status::FromErrno("epoll_create1", errno);
  for (int fd : {channel_->fd, context_->async_fd}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) < 0) {
      return Status::FromErrno("epoll_ctl ADD", errno);
    }
  }
  async_fd_watched_ = true;
  return Status::OK();
}

Result<std::unique_ptr<QueuePair>> VerbsRnic::CreateQp(
    const QpOptions& options) {
  if (Status health_status = health(); !health_status.ok()) {
    return health_status.WithPrefix("cannot create a QP");
  }
  if (options.max_send_wr == 0 || options.retry_count > kMaxRetryCount ||
      options.rnr_retry > kMaxRetryCount) {
    return Status::InvalidArgument(
        "QpOptions: max_send_wr " + std::to_string(options.max_send_wr) +
        " (at least 1), retry_count " + std::to_string(options.retry_count) +
        " and rnr_retry " + std::to_string(options.rnr_retry) +
        " (0..7) out of range");
  }
  const uint64_t depth =
      uint64_t{options.max_send_wr} + uint64_t{options.max_recv_wr};
  if (cq_reserved_ + depth > cq_capacity_) {
    return Status::InvalidArgument(
        "a QP with " + std::to_string(options.max_send_wr) + " send + " +
        std::to_string(options.max_recv_wr) +
        " receive entries could overflow the completion queue of " + name_ +
        " (" + std::to_string(cq_capacity_) + " entries, " +
        std::to_string(cq_reserved_) + " used by " +
        std::to_string(qps_.size()) +
        " QPs): raise VerbsRnicOptions::cq_size or use shallower queues");
  }
  ibv_qp_init_attr init{};
  init.send_cq = cq_.get();
  init.recv_cq = cq_.get();
  init.cap.max_send_wr = options.max_send_wr;
  init.cap.max_recv_wr = options.max_recv_wr;
  init.cap.max_send_sge = 1;
  init.cap.max_recv_sge = 1;
  init.cap.max_inline_data = options.max_inline;
  init.qp_type = IBV_QPT_RC;
  init.sq_sig_all = 1;
  ibv_qp* qp = ibv_create_qp(pd_.get(), &init);
  if (qp == nullptr) {
    return Status::FromErrno("ibv_create_qp on " + name_ + " (" +
                                 std::to_string(options.max_send_wr) +
                                 " send, " +
                                 std::to_string(options.max_recv_wr) +
                                 " receive entries)",
                             errno);
  }
  std::random_device random;
  const uint32_t psn = random() & kPsnMask;
  auto verbs_qp = std::make_unique<VerbsQp>(this, qp, options, psn);
  qps_[verbs_qp->qpn_] = verbs_qp.get();
  cq_reserved_ += static_cast<uint32_t>(depth);
  return std::unique_ptr<QueuePair>(std::move(verbs_qp));
}

Result<MemoryRegion> VerbsRnic::Register(void* addr, size_t length) {
  if (addr == nullptr || length == 0) {
    return Status::InvalidArgument("cannot register an empty memory region");
  }
  if (fatal_) return fatal_status_;
  const uint64_t span = PinnedSpan(addr, length);
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) < 0) {
    return Status::FromErrno("getrlimit RLIMIT_MEMLOCK", errno);
  }
  if (Status status = CheckMemlockLimit(
          span, pinned_bytes_, limit.rlim_cur,
          limit.rlim_cur == RLIM_INFINITY, HasCapIpcLock());
      !status.ok()) {
    return status.WithPrefix(name_);
  }
  ibv_mr* mr = ibv_reg_mr(pd_.get(), addr, length,
                          IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
  if (mr == nullptr) {
    Status status = Status::FromErrno(
        "ibv_reg_mr of " + Bytes(length) + " on " + name_, errno);
    if (status.errno_value() == ENOMEM) {
      status = status.WithHint(
          "(memory locked by others in this process counts too: raise "
          "RLIMIT_MEMLOCK)");
    }
    return status;
  }
  MemoryRegion region;
  region.addr = static_cast<uint8_t*>(addr);
  region.length = length;
  region.lkey = mr->lkey;
  region.rkey = mr->rkey;
  mrs_[mr->lkey].reset(mr);
  pinned_bytes_ += span;
  return region;
}

Status VerbsRnic::Deregister(const MemoryRegion& mr) {
  auto it = mrs_.find(mr.lkey);
  if (it == mrs_.end() || it->second->addr != mr.addr) {
    return Status::NotFound("memory region lkey " + Hex(mr.lkey) +
                            " is not registered with " + name_);
  }
  ibv_mr* raw = it->second.release();
  mrs_.erase(it);
  pinned_bytes_ -= PinnedSpan(mr.addr, mr.length);
  if (int err = ibv_dereg_mr(raw); err != 0) {
    return Status::FromErrno("ibv_dereg_mr on " + name_, err);
  }
  return Status::OK();
}

Status VerbsRnic::health() const {
  if (fatal_) return fatal_status_;
  if (!port_status_.ok()) return port_status_;
  return gid_status_;
}

int64_t VerbsRnic::NextDeadlineUs() const {
  return cq_maybe_nonempty_ || !flushed_.empty() ? 0 : -1;
}

void VerbsRnic::FlushPending(VerbsQp* qp) {
  for (auto* queue : {&qp->send_pending_, &qp->recv_pending_}) {
    for (const Pending& pending : *queue) {
      Completion c;
      c.wr_id = pending.wr_id;
      c.qpn = qp->qpn_;
      c.status = WcStatus::kFlushed;
      c.opcode = pending.opcode;
      flushed_.push_back(c);
    }
    queue->clear();
  }
}

void VerbsRnic::ErrorAllQps() {
  for (auto& [qpn, qp] : qps_) {
    if (qp->state_ != QpState::kReset) qp->SetError();
  }
}

void VerbsRnic::SetFatal(Status status) {
  if (fatal_) return;
  fatal_ = true;
  fatal_status_ = std::move(status);
  for (auto& [qpn, qp] : qps_) {
    qp->SetError();
    FlushPending(qp);
  }
  // The descriptors of a dead device may stay readable: stop watching
  // them, or an event loop would spin.  NextDeadlineUs() covers the
  // flushed completions still to report.
  if (async_fd_watched_) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, context_->async_fd, nullptr);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, channel_->fd, nullptr);
    async_fd_watched_ = false;
  }
}

void VerbsRnic::ReadAsyncEvents() {
  while (async_fd_watched_) {
    ibv_async_event event{};
    if (ibv_get_async_event(context_.get(), &event) != 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        SetFatal(Status::FromErrno("RDMA device " + port_.device +
                                       " was removed or failed (reading its "
                                       "events)",
                                   errno));
      }
      return;
    }
    switch (event.event_type) {
      case IBV_EVENT_DEVICE_FATAL:
        SetFatal(Status::Unavailable(
            "RDMA device " + port_.device + " (member " + member_ +
            ") was removed or failed (IBV_EVENT_DEVICE_FATAL): destroy its "
            "QPs and this RNIC, reopen when it is back"));
        break;
      case IBV_EVENT_PORT_ERR:
        if (event.element.port_num == static_cast<int>(port_.port)) {
          port_status_ = Status::Unavailable(
              "port " + name_ + " (member " + member_ +
              ") went down (IBV_EVENT_PORT_ERR): its QPs were flushed");
          ErrorAllQps();
        }
        break;
      case IBV_EVENT_PORT_ACTIVE:
        if (event.element.port_num == static_cast<int>(port_.port)) {
          port_status_ = Status::OK();
        }
        break;
      case IBV_EVENT_GID_CHANGE:
        if (event.element.port_num == static_cast<int>(port_.port)) {
          ibv_gid raw{};
          const bool same =
              ibv_query_gid(context_.get(), static_cast<uint8_t>(port_.port),
                            static_cast<int>(gid_index_), &raw) == 0 &&
              ToGid(raw) == gid_;
          gid_status_ =
              same ? Status::OK()
                   : Status::Unavailable(
                         "GID index " + std::to_string(gid_index_) + " of " +
                         name_ + " no longer holds " + ToString(local_ip_) +
                         " (was the address removed from " + member_ + "?)");
        }
        break;
      case IBV_EVENT_CQ_ERR:
        SetFatal(Status::Unavailable(
            "the completion queue of " + name_ +
            " overflowed (IBV_EVENT_CQ_ERR): raise VerbsRnicOptions::"
            "cq_size"));
        break;
      case IBV_EVENT_QP_FATAL:
      case IBV_EVENT_QP_REQ_ERR:
      case IBV_EVENT_QP_ACCESS_ERR:
        if (auto it = qps_.find(event.element.qp->qp_num); it != qps_.end()) {
          it->second->state_ = QpState::kError;
        }
        break;
      default:
        break;
    }
    ibv_ack_async_event(&event);
  }
}

bool VerbsRnic::TranslateCompletion(const ibv_wc& wc, Completion* out) {
  auto qp_it = qps_.find(wc.qp_num);
  if (qp_it == qps_.end()) return false;
  VerbsQp* qp = qp_it->second;
  const bool recv = (wc.wr_id & kRecvWrBit) != 0;
  const uint64_t seq = wc.wr_id & ~kRecvWrBit;
  std::deque<Pending>& queue = recv ? qp->recv_pending_ : qp->send_pending_;
  auto it = queue.begin();
  if (it == queue.end() || it->seq != seq) {
    it = std::find_if(queue.begin(), queue.end(),
                      [seq](const Pending& p) { return p.seq == seq; });
    if (it == queue.end()) return false;
  }
  Completion c;
  c.wr_id = it->wr_id;
  c.qpn = qp->qpn_;
  c.status = WcStatusFromIbv(wc.status);
  c.opcode = it->opcode;
  queue.erase(it);
  if (recv && c.status == WcStatus::kSuccess) {
    if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
      c.opcode = WcOpcode::kRecvWriteImm;
    }
    c.byte_len = wc.byte_len;
    if (wc.wc_flags & IBV_WC_WITH_IMM) {
      c.has_imm = true;
      c.imm = ntohl(wc.imm_data);
    }
  }
  // RC: a failed completion means the QP is in the error state.
  if (c.status != WcStatus::kSuccess) qp->state_ = QpState::kError;
  *out = c;
  return true;
}

size_t VerbsRnic::PollCompletions(std::span<Completion> out) {
  ReadAsyncEvents();
  if (!fatal_) {
    // Consume and acknowledge completion events, then re-arm before
    // polling so that a completion arriving after the poll raises a new
    // event.
    unsigned events = 0;
    ibv_cq* event_cq = nullptr;
    void* event_context = nullptr;
    while (ibv_get_cq_event(channel_.get(), &event_cq, &event_context) == 0) {
      events++;
    }
    if (events > 0) {
      ibv_ack_cq_events(cq_.get(), events);
      ibv_req_notify_cq(cq_.get(), 0);
    }
  }

  size_t n = 0;
  while (n < out.size() && !flushed_.empty()) {
    out[n++] = flushed_.front();
    flushed_.pop_front();
  }
  bool cq_drained = true;
  if (!fatal_) {
    ibv_wc wcs[kPollBatch];
    while (n < out.size()) {
      const int want =
          static_cast<int>(std::min<size_t>(kPollBatch, out.size() - n));
      const int got = ibv_poll_cq(cq_.get(), want, wcs);
      if (got < 0) {
        SetFatal(Status::Unavailable("ibv_poll_cq on " + name_ +
                                     " failed (" + std::to_string(got) +
                                     "): the RDMA device is unusable"));
        break;
      }
      for (int i = 0; i < got && n < out.size(); i++) {
        if (TranslateCompletion(wcs[i], &out[n])) n++;
      }
      if (got < want) break;
    }
    cq_drained = n < out.size();
  }
  // Flushes from SetFatal() above go out on the next call.
  cq_maybe_nonempty_ = !cq_drained || !flushed_.empty();
  return n;
}

}  // namespace rdma_bond
