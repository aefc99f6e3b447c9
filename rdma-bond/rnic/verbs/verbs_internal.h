// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Internals of VerbsRnic shared by verbs_rnic.cc (the device, its CQ and
// memory regions) and verbs_qp.cc (the queue pairs): the VerbsQp class, the
// record of an outstanding work request, and the constants and helpers
// both use.  Not part of the API.
#ifndef RDMA_BOND_VERBS_INTERNAL_H_
#define RDMA_BOND_VERBS_INTERNAL_H_

#include <infiniband/verbs.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/hex.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"
#include "rnic/verbs/verbs_rnic.h"

namespace rdma_bond {
namespace verbs_detail {

// Bit 63 of the wr_id given to verbs marks a receive; the other bits are
// the RNIC's request sequence number.
constexpr uint64_t kRecvWrBit = uint64_t{1} << 63;

// QP numbers and PSNs are 24 bits.
constexpr uint32_t kQpnMask = 0xffffff;
constexpr uint32_t kPsnMask = 0xffffff;

// "0x11": a QP number, PSN or key, for messages.
inline std::string Hex(uint32_t value) { return HexPrefixed(value); }

// The deleter of a verbs QP.
struct QpDestroyer {
  void operator()(ibv_qp* qp) const { ibv_destroy_qp(qp); }
};

}  // namespace verbs_detail

struct VerbsRnic::Pending {
  uint64_t seq = 0;                 // The wr_id given to verbs, less bit 63.
  uint64_t wr_id = 0;               // The caller's.
  WcOpcode opcode = WcOpcode::kSend;
};

// A reliable-connected QP of a VerbsRnic (defined in verbs_qp.cc).
class VerbsQp final : public QueuePair {
 public:
  VerbsQp(VerbsRnic* rnic, ibv_qp* qp, const QpOptions& options,
          uint32_t psn)
      : rnic_(rnic), qp_(qp), options_(options), qpn_(qp->qp_num),
        psn_(psn) {}

  ~VerbsQp() override;

  QpEndpoint local() const override;
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
  std::string Name() const;

  // The RNIC was destroyed first: drop the verbs QP with it.
  void Detach();

  Status Usable() const;
  Status Modify(ibv_qp_attr* attr, int mask, std::string_view transition);
  Status Reset();
  Status ToInit();
  Status ToRtr(const QpEndpoint& remote, const Gid& dgid, int mtu_code,
               uint16_t sport);
  Status ToRts();

  // mlx5dv_modify_qp_udp_sport(); the QP must be in RTS.
  Status SetMlx5Sport(uint16_t sport);

  // The checks of a send or write of 'data' from 'mr', and its SGE.
  Status PrepareSend(const MemoryRegion& mr, std::span<const uint8_t> data,
                     ibv_sge* sge) const;

  // Checks that [data, data + size) lies in 'mr', one of this RNIC's.
  Status CheckInRegion(const MemoryRegion& mr, const uint8_t* data,
                       size_t size) const;

  Status CheckCanSend() const;
  Status PostSendWr(ibv_send_wr* wr, ibv_sge* sge, uint64_t wr_id,
                    WcOpcode opcode);

  VerbsRnic* rnic_;                 // Not owned; null once detached.
  std::unique_ptr<ibv_qp, verbs_detail::QpDestroyer> qp_;
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

}  // namespace rdma_bond

#endif  // RDMA_BOND_VERBS_INTERNAL_H_
