// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// EmulatedQueuePair: a reliable-connected queue pair of an EmulatedRnic;
// it checks and posts work requests to its RcTransport.

#include "rnic/emulated/emulated_rnic.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "rnic/emulated/emulated_internal.h"

namespace rdma_bond {

using namespace emulated_detail;  // NOLINT(build/namespaces)

namespace {

// The GID of 'ip': IPv6 as is, IPv4 mapped (::ffff:a.b.c.d).
std::array<uint8_t, 16> GidOf(const IpAddress& ip) {
  std::array<uint8_t, 16> gid{};
  if (ip.version == 6) return ip.bytes;
  gid[10] = gid[11] = 0xff;         // ::ffff:a.b.c.d
  std::memcpy(gid.data() + 12, ip.bytes.data(), 4);
  return gid;
}

}  // namespace

EmulatedQueuePair::EmulatedQueuePair(EmulatedRnic* rnic, uint32_t qpn,
                                     uint32_t psn, const QpOptions& options,
                                     const RcTuning& tuning)
    : rnic_(rnic),
      qpn_(qpn),
      psn_(psn),
      transport_(qpn, options, rnic, tuning) {
  address_.src_mac = rnic->mac_;
  address_.src_ip = rnic->options_.local_ip;
  address_.dst_ip = rnic->options_.local_ip;
}

EmulatedQueuePair::~EmulatedQueuePair() {
  if (rnic_ != nullptr) rnic_->Remove(this);
}

Status EmulatedQueuePair::CheckAttached() const {
  if (rnic_ == nullptr) {
    return Status::InvalidArgument("QP " + std::to_string(qpn_) +
                                   ": its emulated RNIC was destroyed");
  }
  return Status::OK();
}

QpEndpoint EmulatedQueuePair::local() const {
  QpEndpoint e;
  e.qpn = qpn_;
  e.psn = psn_;
  e.ip = address_.src_ip;
  e.gid = GidOf(e.ip);
  e.mac = address_.src_mac;
  e.mtu = rnic_ != nullptr ? rnic_->mtu_ : kDefaultPathMtu;
  return e;
}

Status EmulatedQueuePair::Connect(const QpEndpoint& remote, uint16_t sport) {
  if (Status s = CheckAttached(); !s.ok()) return s;
  if (!IsRoceSport(sport)) {
    return Status::InvalidArgument("UDP source port " + std::to_string(sport) +
                                   " is not a RoCEv2 port (49152..65535)");
  }
  if (remote.ip.version != address_.src_ip.version) {
    return Status::InvalidArgument("QP " + std::to_string(qpn_) +
                                   ": remote " + ToString(remote.ip) +
                                   " is not of the local IP version");
  }
  if (remote.qpn < 2 || remote.qpn > kQpnMask) {
    return Status::InvalidArgument("remote QPN " + std::to_string(remote.qpn) +
                                   " is not 2..2^24-1");
  }
  RcConnection c;
  c.remote_qpn = remote.qpn;
  c.local_psn = psn_;
  c.remote_psn = remote.psn;
  c.mtu = std::min(rnic_->mtu_, remote.mtu);
  if (Status s = transport_.Connect(c); !s.ok()) {
    return s.WithPrefix("QP " + std::to_string(qpn_));
  }
  address_.dst_mac = remote.mac;
  address_.dst_ip = remote.ip;
  address_.udp_sport = sport;
  return Status::OK();
}

Status EmulatedQueuePair::SetSourcePort(uint16_t sport) {
  if (!IsRoceSport(sport)) {
    return Status::InvalidArgument("UDP source port " + std::to_string(sport) +
                                   " is not a RoCEv2 port (49152..65535)");
  }
  if (transport_.state() != QpState::kRts) {
    return Status::InvalidArgument("QP " + std::to_string(qpn_) +
                                   " is not connected");
  }
  address_.udp_sport = sport;       // The next frame leaves with it.
  return Status::OK();
}

Status EmulatedQueuePair::CheckLocal(const MemoryRegion& mr,
                                     const uint8_t* data,
                                     size_t length) const {
  if (Status s = CheckAttached(); !s.ok()) return s;
  const EmulatedRnic::Region* r = rnic_->FindLocal(mr.lkey);
  const uintptr_t base = reinterpret_cast<uintptr_t>(r ? r->addr : nullptr);
  const uintptr_t at = reinterpret_cast<uintptr_t>(data);
  if (r == nullptr ||
      (length > 0 && (at < base || length > r->length ||
                      at - base > r->length - length))) {
    return Status::InvalidArgument(
        "QP " + std::to_string(qpn_) + ": buffer of " +
        std::to_string(length) + " bytes is not inside the memory region "
        "with lkey " + std::to_string(mr.lkey));
  }
  return Status::OK();
}

Status EmulatedQueuePair::PostSend(uint64_t wr_id, const MemoryRegion& mr,
                                   std::span<const uint8_t> data) {
  if (Status s = CheckLocal(mr, data.data(), data.size()); !s.ok()) return s;
  Status s = transport_.PostSend(wr_id, data, nullptr);
  if (s.ok()) rnic_->Kick();
  return s;
}

Status EmulatedQueuePair::PostSendWithImm(uint64_t wr_id,
                                          const MemoryRegion& mr,
                                          std::span<const uint8_t> data,
                                          uint32_t imm) {
  if (Status s = CheckLocal(mr, data.data(), data.size()); !s.ok()) return s;
  Status s = transport_.PostSend(wr_id, data, &imm);
  if (s.ok()) rnic_->Kick();
  return s;
}

Status EmulatedQueuePair::PostRecv(uint64_t wr_id, const MemoryRegion& mr,
                                   std::span<uint8_t> buffer) {
  if (Status s = CheckLocal(mr, buffer.data(), buffer.size()); !s.ok()) {
    return s;
  }
  Status s = transport_.PostRecv(wr_id, buffer);
  if (s.ok() && transport_.HasCompletions()) rnic_->Kick();
  return s;
}

Status EmulatedQueuePair::PostWrite(uint64_t wr_id, const MemoryRegion& mr,
                                    std::span<const uint8_t> data,
                                    uint64_t remote_addr, uint32_t rkey,
                                    const uint32_t* imm) {
  if (Status s = CheckLocal(mr, data.data(), data.size()); !s.ok()) return s;
  Status s = transport_.PostWrite(wr_id, data, remote_addr, rkey, imm);
  if (s.ok()) rnic_->Kick();
  return s;
}

void EmulatedQueuePair::SetError() {
  transport_.SetError();
  if (rnic_ != nullptr) rnic_->Kick();
}

}  // namespace rdma_bond
