// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// VerbsQp: a reliable-connected queue pair of a VerbsRnic over libibverbs:
// its state transitions, its UDP source port, and the posting of its work
// requests.  The class is declared in verbs_internal.h.

#include <arpa/inet.h>
#include <infiniband/verbs.h>

#ifdef RDMA_BOND_HAVE_MLX5DV
#include <infiniband/mlx5dv.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "rdma_bond/roce.h"
#include "rnic/verbs/verbs_internal.h"
#include "rnic/verbs/verbs_rnic.h"

namespace rdma_bond {

using namespace verbs_detail;  // NOLINT(build/namespaces)

namespace {

// RoCEv2 carries the GRH as an IPv6-like header: a TTL of 64 as for IP.
constexpr uint8_t kHopLimit = 64;

// RDMA reads and atomics are not used; one outstanding is the minimum
// every device accepts.
constexpr uint8_t kMaxRdAtomic = 1;

// Minimum RNR NAK timer: code 12 = 0.64 ms, the usual default (perftest).
constexpr uint8_t kMinRnrTimer = 12;

// True if 'gid' is all zeros (not given).
bool IsZero(const Gid& gid) {
  return std::all_of(gid.begin(), gid.end(), [](uint8_t b) { return b == 0; });
}

// Errors of a call the device or kernel does not offer or permit.
bool IsRefusal(int err) {
  return err == EOPNOTSUPP || err == ENOTSUP || err == EPROTONOSUPPORT ||
         err == EPERM || err == EACCES || err == ENOSYS;
}

}  // namespace

VerbsQp::~VerbsQp() {
  if (rnic_ != nullptr) {
    rnic_->qps_.erase(qpn_);
    rnic_->cq_reserved_ -= options_.max_send_wr + options_.max_recv_wr;
  }
}

QpEndpoint VerbsQp::local() const {
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

std::string VerbsQp::Name() const {
  return "QP " + Hex(qpn_) + " on " +
         (rnic_ != nullptr ? rnic_->name_ : std::string("a closed RNIC"));
}

void VerbsQp::Detach() {
  qp_.reset();
  rnic_ = nullptr;
  state_ = QpState::kError;
  send_pending_.clear();
  recv_pending_.clear();
}

Status VerbsQp::Usable() const {
  if (rnic_ == nullptr) {
    return Status::Unavailable(Name() + ": its RDMA device was closed");
  }
  if (rnic_->fatal_) return rnic_->fatal_status_.WithPrefix(Name());
  return Status::OK();
}

Status VerbsQp::Modify(ibv_qp_attr* attr, int mask,
                       std::string_view transition) {
  const int err = ibv_modify_qp(qp_.get(), attr, mask);
  if (err != 0) {
    return Status::FromErrno(
        "ibv_modify_qp " + std::string(transition) + " of " + Name(), err);
  }
  return Status::OK();
}

Status VerbsQp::Reset() {
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

Status VerbsQp::ToInit() {
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

Status VerbsQp::ToRtr(const QpEndpoint& remote, const Gid& dgid,
                      int mtu_code, uint16_t sport) {
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

Status VerbsQp::ToRts() {
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

Status VerbsQp::SetMlx5Sport(uint16_t sport) {
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

Status VerbsQp::PrepareSend(const MemoryRegion& mr,
                            std::span<const uint8_t> data,
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

Status VerbsQp::CheckInRegion(const MemoryRegion& mr, const uint8_t* data,
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

Status VerbsQp::CheckCanSend() const {
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

Status VerbsQp::PostSendWr(ibv_send_wr* wr, ibv_sge* sge, uint64_t wr_id,
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

}  // namespace rdma_bond
