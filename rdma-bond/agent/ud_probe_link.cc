// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/ud_probe_link.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <array>
#include <cstdio>
#include <map>
#include <tuple>
#include <utility>

#include "rnic/verbs/rdma_sysfs.h"

#if RDMA_BOND_HAVE_VERBS
#include <infiniband/verbs.h>

#include "rdma_bond/roce.h"
#endif

namespace rdma_bond::agent {

#if RDMA_BOND_HAVE_VERBS

namespace {

constexpr int kReceiveSlots = 64;
constexpr int kSendSlots = 128;
constexpr size_t kSlotBytes = 512;          // GRH + a payload, rounded.
static_assert(kGrhBytes + kProbePayloadBytes <= kSlotBytes, "a slot holds one");
constexpr uint64_t kRecvBit = uint64_t{1} << 63;
// Address handles kept, at most (a peer's ports at a time).
constexpr size_t kMaxAddressHandles = 1024;

Status VerbsError(const std::string& what, int error) {
  return Status::FromErrno(what, error ? error : EIO);
}

}  // namespace

struct UdProbeLink::Impl {
  std::string device;
  UdSportControl control = UdSportControl::kUnknown;
  uint32_t port = 1;
  uint32_t gid_index = 0;
  Stats stats;
  std::vector<uint16_t> ports;

  ibv_context* ctx = nullptr;
  ibv_pd* pd = nullptr;
  ibv_comp_channel* channel = nullptr;
  ibv_cq* cq = nullptr;
  ibv_qp* receive_qp = nullptr;
  std::vector<ibv_qp*> pool;                // kPerQp: send QPs.
  std::map<uint16_t, ibv_qp*> by_port;      // kPerQp: one QP per port.
  std::vector<uint8_t> buffer;              // Receive then send slots.
  ibv_mr* mr = nullptr;
  int next_send = 0;
  int sends_outstanding = 0;
  // Address handles by (IP version, address, port or 0).
  using AhKey = std::tuple<int, std::array<uint8_t, 16>, uint16_t>;
  std::map<AhKey, ibv_ah*> ahs;

  ~Impl() {
    for (auto& [key, ah] : ahs) ibv_destroy_ah(ah);
    for (ibv_qp* qp : pool) ibv_destroy_qp(qp);
    if (receive_qp) ibv_destroy_qp(receive_qp);
    if (mr) ibv_dereg_mr(mr);
    if (cq) ibv_destroy_cq(cq);
    if (channel) ibv_destroy_comp_channel(channel);
    if (pd) ibv_dealloc_pd(pd);
    if (ctx) ibv_close_device(ctx);
  }

  uint8_t* Slot(uint64_t i) { return buffer.data() + i * kSlotBytes; }

  Result<ibv_qp*> MakeQp(bool receives) {
    ibv_qp_init_attr init = {};
    init.send_cq = cq;
    init.recv_cq = cq;
    init.qp_type = IBV_QPT_UD;
    init.cap.max_send_wr = kSendSlots;
    init.cap.max_recv_wr = receives ? kReceiveSlots : 1;
    init.cap.max_send_sge = 1;
    init.cap.max_recv_sge = 1;
    ibv_qp* qp = ibv_create_qp(pd, &init);
    if (!qp) return VerbsError("ibv_create_qp (UD) on " + device, errno);
    ibv_qp_attr attr = {};
    attr.qp_state = IBV_QPS_INIT;
    attr.pkey_index = 0;
    attr.port_num = static_cast<uint8_t>(port);
    attr.qkey = kProbeQkey;
    int err = ibv_modify_qp(qp, &attr,
                            IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                                IBV_QP_QKEY);
    if (!err) {
      attr = {};
      attr.qp_state = IBV_QPS_RTR;
      err = ibv_modify_qp(qp, &attr, IBV_QP_STATE);
    }
    if (!err) {
      attr = {};
      attr.qp_state = IBV_QPS_RTS;
      attr.sq_psn = 0;
      err = ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_SQ_PSN);
    }
    if (err) {
      ibv_destroy_qp(qp);
      return VerbsError("a UD QP on " + device + " to RTS", err);
    }
    return qp;
  }

  bool PostReceive(uint64_t i) {
    ibv_sge sge = {};
    sge.addr = reinterpret_cast<uintptr_t>(Slot(i));
    sge.length = kSlotBytes;
    sge.lkey = mr->lkey;
    ibv_recv_wr wr = {};
    ibv_recv_wr* bad = nullptr;
    wr.wr_id = kRecvBit | i;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    return ibv_post_recv(receive_qp, &wr, &bad) == 0;
  }

  ibv_ah* AddressHandle(const IpAddress& dst, uint16_t sport) {
    // With kPerQp the label is not used: one handle per peer.
    const uint16_t key = control == UdSportControl::kFlowLabel ? sport : 0;
    const AhKey ah_key{dst.version, dst.bytes, key};
    auto it = ahs.find(ah_key);
    if (it != ahs.end()) return it->second;
    if (ahs.size() >= kMaxAddressHandles) {
      for (auto& [k, ah] : ahs) ibv_destroy_ah(ah);
      ahs.clear();
    }
    ibv_ah_attr attr = {};
    attr.is_global = 1;
    attr.port_num = static_cast<uint8_t>(port);
    const Gid gid = IpAddressToGid(dst);
    std::memcpy(attr.grh.dgid.raw, gid.data(), gid.size());
    attr.grh.sgid_index = static_cast<uint8_t>(gid_index);
    attr.grh.hop_limit = 64;
    if (control == UdSportControl::kFlowLabel) {
      attr.grh.flow_label = UdpSportToFlowLabel(sport);
    }
    ibv_ah* ah = ibv_create_ah(pd, &attr);
    if (ah) ahs[ah_key] = ah;
    return ah;
  }
};

Result<std::unique_ptr<UdProbeLink>> UdProbeLink::Open(const Options& o) {
  RdmaSysfs sysfs(o.sysfs_root);
  Result<RdmaPortRef> where = sysfs.FindRdmaPort(o.netdev);
  if (!where.ok()) return where.status();
  Result<RoceGid> gid = sysfs.FindRoceV2Gid(*where, o.netdev, o.local_ip);
  if (!gid.ok()) return gid.status();
  auto impl = std::make_unique<Impl>();
  impl->device = ToString(*where);
  impl->port = where->port;
  impl->gid_index = gid->index;

  int count = 0;
  ibv_device** list = ibv_get_device_list(&count);
  if (!list) return VerbsError("ibv_get_device_list", errno);
  for (int i = 0; i < count && !impl->ctx; i++) {
    if (where->device == ibv_get_device_name(list[i])) {
      impl->ctx = ibv_open_device(list[i]);
    }
  }
  ibv_free_device_list(list);
  if (!impl->ctx) {
    return Status::NotFound("cannot open RDMA device " + where->device +
                            " of " + o.netdev + " through libibverbs (is "
                            "its provider, ibverbs-providers, installed?)");
  }
  ibv_device_attr attr = {};
  if (int err = ibv_query_device(impl->ctx, &attr)) {
    return VerbsError("ibv_query_device " + impl->device, err);
  }
  impl->control = UdSportControlFor(attr.vendor_id, attr.vendor_part_id);
  if (impl->control == UdSportControl::kUnknown) {
    char ids[64];
    std::snprintf(ids, sizeof ids, "vendor 0x%x, part %u", attr.vendor_id,
                  attr.vendor_part_id);
    return Status::NotSupported(
        "RDMA device " + impl->device + " (" + ids + ") of " + o.netdev +
        ": how it sets the UDP source port of UD frames is not known (mlx5 "
        "and rxe are)");
  }
  if (o.require_any_port && impl->control == UdSportControl::kPerQp) {
    return Status::NotSupported(
        "RDMA device " + impl->device + " of " + o.netdev +
        " sets a UD frame's source port per QP (rxe): UD probes would reach "
        "only the ports of the agent's QPs, while AF_PACKET sees this "
        "software device's frames (--probe-transport=ud to use UD anyway)");
  }
  impl->pd = ibv_alloc_pd(impl->ctx);
  if (!impl->pd) return VerbsError("ibv_alloc_pd " + impl->device, errno);
  impl->channel = ibv_create_comp_channel(impl->ctx);
  if (!impl->channel) {
    return VerbsError("ibv_create_comp_channel " + impl->device, errno);
  }
  const int flags = fcntl(impl->channel->fd, F_GETFL);
  if (flags < 0 ||
      fcntl(impl->channel->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return VerbsError("a non-blocking completion channel", errno);
  }
  impl->cq = ibv_create_cq(impl->ctx, kReceiveSlots + kSendSlots, nullptr,
                           impl->channel, 0);
  if (!impl->cq) return VerbsError("ibv_create_cq " + impl->device, errno);
  impl->buffer.assign((kReceiveSlots + kSendSlots) * kSlotBytes, 0);
  impl->mr = ibv_reg_mr(impl->pd, impl->buffer.data(), impl->buffer.size(),
                        IBV_ACCESS_LOCAL_WRITE);
  if (!impl->mr) return VerbsError("ibv_reg_mr " + impl->device, errno);
  Result<ibv_qp*> receive = impl->MakeQp(true);
  if (!receive.ok()) return receive.status();
  impl->receive_qp = *receive;
  if (impl->control == UdSportControl::kPerQp) {
    impl->by_port[RxeUdSport(impl->receive_qp->qp_num)] = impl->receive_qp;
    for (size_t i = 0; i < o.rxe_pool; i++) {
      Result<ibv_qp*> qp = impl->MakeQp(false);
      if (!qp.ok()) return qp.status();
      impl->pool.push_back(*qp);
      impl->by_port.emplace(RxeUdSport((*qp)->qp_num), *qp);
    }
    for (const auto& [p, qp] : impl->by_port) impl->ports.push_back(p);
  }
  for (int i = 0; i < kReceiveSlots; i++) {
    if (!impl->PostReceive(static_cast<uint64_t>(i))) {
      return VerbsError("ibv_post_recv " + impl->device, errno);
    }
  }
  if (int err = ibv_req_notify_cq(impl->cq, 0)) {
    return VerbsError("ibv_req_notify_cq " + impl->device, err);
  }
  return std::unique_ptr<UdProbeLink>(new UdProbeLink(std::move(impl)));
}

int UdProbeLink::fd() const { return impl_->channel->fd; }
uint32_t UdProbeLink::receive_qpn() const { return impl_->receive_qp->qp_num; }

std::vector<uint32_t> UdProbeLink::qpns() const {
  std::vector<uint32_t> out = {impl_->receive_qp->qp_num};
  for (ibv_qp* qp : impl_->pool) out.push_back(qp->qp_num);
  return out;
}

bool UdProbeLink::Send(const IpAddress& dst, uint16_t sport,
                       std::span<const uint32_t> qpns,
                       std::span<const uint8_t> payload) {
  Impl& s = *impl_;
  ibv_qp* qp = s.receive_qp;
  if (s.control == UdSportControl::kPerQp) {
    auto it = s.by_port.find(sport);
    if (it == s.by_port.end()) {
      s.stats.no_port++;
      return false;
    }
    qp = it->second;
  } else if (!IsRoceSport(sport)) {
    s.stats.no_port++;
    return false;
  }
  if (payload.size() > kSlotBytes) {
    s.stats.send_errors++;
    return false;
  }
  ibv_ah* ah = s.AddressHandle(dst, sport);
  if (!ah) {
    s.stats.send_errors++;
    return false;
  }
  bool ok = true;
  for (uint32_t remote : qpns) {
    if (s.sends_outstanding >= kSendSlots) {
      s.stats.send_errors++;
      ok = false;
      continue;
    }
    const uint64_t slot = kReceiveSlots + s.next_send;
    s.next_send = (s.next_send + 1) % kSendSlots;
    std::memcpy(s.Slot(slot), payload.data(), payload.size());
    ibv_sge sge = {};
    sge.addr = reinterpret_cast<uintptr_t>(s.Slot(slot));
    sge.length = static_cast<uint32_t>(payload.size());
    sge.lkey = s.mr->lkey;
    ibv_send_wr wr = {};
    ibv_send_wr* bad = nullptr;
    wr.wr_id = slot;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.wr.ud.ah = ah;
    wr.wr.ud.remote_qpn = remote;
    wr.wr.ud.remote_qkey = kProbeQkey;
    if (ibv_post_send(qp, &wr, &bad) != 0) {
      s.stats.send_errors++;
      ok = false;
      continue;
    }
    s.sends_outstanding++;
    s.stats.sent++;
  }
  return ok;
}

void UdProbeLink::Poll(const ReceiveFn& fn) {
  Impl& s = *impl_;
  ibv_cq* ev_cq = nullptr;
  void* ev_ctx = nullptr;
  while (ibv_get_cq_event(s.channel, &ev_cq, &ev_ctx) == 0) {
    ibv_ack_cq_events(ev_cq, 1);
  }
  // Armed before draining: a completion after the last poll wakes us.
  (void) ibv_req_notify_cq(s.cq, 0);
  ibv_wc wc[16];
  for (;;) {
    const int n = ibv_poll_cq(s.cq, 16, wc);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      if (!(wc[i].wr_id & kRecvBit)) {
        if (s.sends_outstanding > 0) s.sends_outstanding--;
        if (wc[i].status != IBV_WC_SUCCESS) s.stats.send_errors++;
        continue;
      }
      const uint64_t slot = wc[i].wr_id & ~kRecvBit;
      IpAddress src, dst;
      if (wc[i].status != IBV_WC_SUCCESS || !(wc[i].wc_flags & IBV_WC_GRH) ||
          wc[i].byte_len < kGrhBytes ||
          !ParseUdGrh(std::span<const uint8_t>(s.Slot(slot), kGrhBytes), &src,
                      &dst)
               .ok()) {
        s.stats.receive_errors++;
      } else {
        s.stats.received++;
        fn(src, dst,
           std::span<const uint8_t>(s.Slot(slot) + kGrhBytes,
                                    wc[i].byte_len - kGrhBytes));
      }
      if (wc[i].status != IBV_WC_WR_FLUSH_ERR && !s.PostReceive(slot)) {
        s.stats.receive_errors++;
      }
    }
  }
}

#else  // !RDMA_BOND_HAVE_VERBS

struct UdProbeLink::Impl {
  std::string device;
  UdSportControl control = UdSportControl::kUnknown;
  uint32_t gid_index = 0;
  Stats stats;
  std::vector<uint16_t> ports;
};

Result<std::unique_ptr<UdProbeLink>> UdProbeLink::Open(const Options& o) {
  return Status::NotSupported("UD probing of " + o.netdev +
                              ": built without libibverbs");
}
int UdProbeLink::fd() const { return -1; }
uint32_t UdProbeLink::receive_qpn() const { return 0; }
std::vector<uint32_t> UdProbeLink::qpns() const { return {}; }
bool UdProbeLink::Send(const IpAddress&, uint16_t, std::span<const uint32_t>,
                       std::span<const uint8_t>) {
  return false;
}
void UdProbeLink::Poll(const ReceiveFn&) {}

#endif  // RDMA_BOND_HAVE_VERBS

UdProbeLink::UdProbeLink(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
UdProbeLink::~UdProbeLink() = default;
const std::string& UdProbeLink::device() const { return impl_->device; }
UdSportControl UdProbeLink::control() const { return impl_->control; }
uint32_t UdProbeLink::gid_index() const { return impl_->gid_index; }
bool UdProbeLink::any_port() const {
  return impl_->control == UdSportControl::kFlowLabel;
}
const std::vector<uint16_t>& UdProbeLink::ports() const {
  return impl_->ports;
}
const UdProbeLink::Stats& UdProbeLink::stats() const { return impl_->stats; }

}  // namespace rdma_bond::agent
