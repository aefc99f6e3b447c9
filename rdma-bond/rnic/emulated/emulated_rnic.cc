// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// EmulatedRnic: an RNIC emulated in software over a FrameLink: its queue
// pairs' numbers, memory regions, and the frames it receives and sends.
// The queue pairs are in emulated_qp.cc, the links in packet_socket_link.cc
// and memory_frame_link.cc.

#include "rnic/emulated/emulated_rnic.h"

#include <errno.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "rnic/emulated/emulated_internal.h"

namespace rdma_bond {

using namespace emulated_detail;  // NOLINT(build/namespaces)

namespace {

// Per-frame overhead on the IP MTU that the path MTU must leave room for:
// IP, UDP, BTH, RETH + ImmDt (the largest request headers), ICRC.
constexpr uint32_t kRoceOverheadIpv4 = kIpv4HeaderBytes + kUdpHeaderBytes +
                                       kBthBytes + kRethBytes + kImmDtBytes +
                                       kIcrcBytes;
constexpr uint32_t kRoceOverheadIpv6 =
    kRoceOverheadIpv4 - kIpv4HeaderBytes + kIpv6HeaderBytes;
static_assert(kDefaultPathMtu + kRoceOverheadIpv6 <= 1500,
              "the default path MTU fits a standard Ethernet MTU");
constexpr uint32_t kMaxQueueDepth = 1 << 16;

int64_t MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

// The largest IB MTU whose packets fit an IP MTU of 'netdev_mtu'.
uint32_t PathMtuFor(uint32_t netdev_mtu, int ip_version) {
  const uint32_t overhead =
      ip_version == 6 ? kRoceOverheadIpv6 : kRoceOverheadIpv4;
  for (uint32_t mtu = kMaxRoceMtu; mtu > 256; mtu /= 2) {
    if (mtu + overhead <= netdev_mtu) return mtu;
  }
  return 256;
}

Status Netdev(const std::string& name, unsigned long request, ifreq* ifr) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Status::InvalidArgument("\"" + name + "\" is not a netdev name");
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket(AF_INET)", errno);
  std::memset(ifr, 0, sizeof *ifr);
  std::memcpy(ifr->ifr_name, name.data(), name.size());
  const int rc = ioctl(fd, request, ifr);
  const int err = errno;
  close(fd);
  if (rc < 0) {
    if (err == ENODEV) {
      return Status::NotFound("emulated RNIC: netdev \"" + name +
                              "\" does not exist (name a bond member, see "
                              "ovs-appctl bond/show)");
    }
    return Status::FromErrno("ioctl on netdev \"" + name + "\"", err);
  }
  return Status::OK();
}

Result<MacAddress> NetdevMac(const std::string& name) {
  ifreq ifr;
  if (Status s = Netdev(name, SIOCGIFHWADDR, &ifr); !s.ok()) return s;
  MacAddress mac;
  std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, mac.size());
  return mac;
}

Result<uint32_t> NetdevMtu(const std::string& name) {
  ifreq ifr;
  if (Status s = Netdev(name, SIOCGIFMTU, &ifr); !s.ok()) return s;
  return static_cast<uint32_t>(ifr.ifr_mtu);
}

}  // namespace

Result<std::unique_ptr<EmulatedRnic>> EmulatedRnic::Open(
    const EmulatedRnicOptions& options, const RcTuning& tuning) {
  if (options.local_ip.version != 4 && options.local_ip.version != 6) {
    return Status::InvalidArgument("emulated RNIC: local IP is not set");
  }
  Result<uint32_t> netdev_mtu = NetdevMtu(options.member);
  if (!netdev_mtu.ok()) return netdev_mtu.status();
  MacAddress mac{};
  if (options.source_mac) {
    mac = *options.source_mac;
  } else {
    Result<MacAddress> found = NetdevMac(
        options.mac_netdev.empty() ? options.member : options.mac_netdev);
    if (!found.ok()) return found.status();
    mac = *found;
  }
  Result<std::unique_ptr<PacketSocketLink>> link =
      PacketSocketLink::Open(options.member, options.local_ip);
  if (!link.ok()) return link.status();
  EmulatedRnicOptions resolved = options;
  resolved.source_mac = mac;
  if (resolved.mtu == 0) {
    resolved.mtu = PathMtuFor(*netdev_mtu, options.local_ip.version);
  }
  return Create(resolved, std::move(*link), tuning);
}

Result<std::unique_ptr<EmulatedRnic>> EmulatedRnic::Create(
    const EmulatedRnicOptions& options, std::unique_ptr<FrameLink> link,
    const RcTuning& tuning) {
  const uint32_t mtu = options.mtu == 0 ? kDefaultPathMtu : options.mtu;
  if (mtu < 256 || mtu > kMaxRoceMtu || (mtu & (mtu - 1)) != 0) {
    return Status::InvalidArgument("emulated RNIC: path MTU " +
                                   std::to_string(mtu) +
                                   " is not 256, 512, 1024, 2048 or 4096");
  }
  if (tuning.window_packets == 0 || tuning.ack_req_every == 0) {
    return Status::InvalidArgument(
        "emulated RNIC: window and AckReq interval must be positive");
  }
  std::unique_ptr<EmulatedRnic> rnic(new EmulatedRnic(
      options, tuning, options.source_mac.value_or(MacAddress{}), mtu,
      std::move(link)));
  if (Status s = rnic->Init(); !s.ok()) return s;
  return rnic;
}

EmulatedRnic::EmulatedRnic(const EmulatedRnicOptions& options,
                           const RcTuning& tuning, MacAddress mac,
                           uint32_t mtu, std::unique_ptr<FrameLink> link)
    : options_(options),
      tuning_(tuning),
      name_("emulated:" + options.member),
      mac_(mac),
      mtu_(mtu),
      link_(std::move(link)),
      rng_(options.seed != 0 ? options.seed : std::random_device{}()),
      tx_slots_(kBatch * kFrameSlotBytes),
      tx_views_(kBatch),
      rx_views_(kBatch) {
  next_qpn_ = 2 + static_cast<uint32_t>(rng_() % (kQpnMask - 1));
  ip_id_ = static_cast<uint16_t>(rng_());
}

Status EmulatedRnic::Init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Status::FromErrno("epoll_create1", errno);
  kick_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (kick_fd_ < 0) return Status::FromErrno("eventfd", errno);
  for (int fd : {link_->fd(), kick_fd_}) {
    if (fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      return Status::FromErrno("epoll_ctl", errno);
    }
  }
  return Status::OK();
}

EmulatedRnic::~EmulatedRnic() {
  for (EmulatedQueuePair* qp : qp_list_) qp->rnic_ = nullptr;
  link_.reset();
  if (kick_fd_ >= 0) close(kick_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void EmulatedRnic::InjectFatalError() {
  fatal_ = true;
  for (EmulatedQueuePair* qp : qp_list_) qp->SetError();
  Kick();
}

void EmulatedRnic::RecoverFromFatalError() { fatal_ = false; }

Result<std::unique_ptr<QueuePair>> EmulatedRnic::CreateQp(
    const QpOptions& options) {
  if (fatal_) {
    return Status::Unavailable(name_ +
                               ": device fatal error (emulated): no QP can "
                               "be created until it recovers");
  }
  if (options.max_send_wr == 0 || options.max_recv_wr == 0 ||
      options.max_send_wr > kMaxQueueDepth ||
      options.max_recv_wr > kMaxQueueDepth) {
    return Status::InvalidArgument(
        name_ + ": queue depths must be 1.." + std::to_string(kMaxQueueDepth));
  }
  if (options.retry_count > 7 || options.rnr_retry > 7) {
    return Status::InvalidArgument(name_ +
                                   ": retry_count and rnr_retry are 0..7");
  }
  if (qps_.size() >= kQpnMask - 2) {
    return Status::Unavailable(name_ + ": out of QP numbers");
  }
  // QPNs 0 and 1 are the special QPs of IB; skip them and those in use.
  while (next_qpn_ < 2 || qps_.count(next_qpn_) != 0) {
    next_qpn_ = (next_qpn_ + 1) & kQpnMask;
  }
  const uint32_t qpn = next_qpn_;
  next_qpn_ = (next_qpn_ + 1) & kQpnMask;
  std::unique_ptr<EmulatedQueuePair> qp(new EmulatedQueuePair(
      this, qpn, RandomPsn(), options, tuning_));
  qps_[qpn] = qp.get();
  qp_list_.push_back(qp.get());
  return std::unique_ptr<QueuePair>(std::move(qp));
}

uint32_t EmulatedRnic::RandomPsn() {
  return static_cast<uint32_t>(rng_()) & kPsnMask;
}

void EmulatedRnic::Remove(EmulatedQueuePair* qp) {
  const RcStats& s = qp->transport_.stats();
  RcStats& r = retired_transport_;
  r.packets_sent += s.packets_sent;
  r.retransmits += s.retransmits;
  r.timeouts += s.timeouts;
  r.acks_sent += s.acks_sent;
  r.naks_sent += s.naks_sent;
  r.rnr_naks_sent += s.rnr_naks_sent;
  r.acks_received += s.acks_received;
  r.naks_received += s.naks_received;
  r.rnr_naks_received += s.rnr_naks_received;
  r.packets_received += s.packets_received;
  r.duplicates += s.duplicates;
  r.out_of_order += s.out_of_order;
  qps_.erase(qp->qpn_);
  qp_list_.erase(std::find(qp_list_.begin(), qp_list_.end(), qp));
}

Result<MemoryRegion> EmulatedRnic::Register(void* addr, size_t length,
                                            MemoryAccess access) {
  if (addr == nullptr && length != 0) {
    return Status::InvalidArgument(name_ + ": cannot register a null buffer");
  }
  if (reinterpret_cast<uintptr_t>(addr) + length <
      reinterpret_cast<uintptr_t>(addr)) {
    return Status::InvalidArgument(name_ + ": buffer wraps around memory");
  }
  uint32_t lkey;
  uint32_t rkey;
  do {
    lkey = static_cast<uint32_t>(rng_());
  } while (lkey == 0 || rkey_by_lkey_.count(lkey) != 0);
  do {
    rkey = static_cast<uint32_t>(rng_());
  } while (rkey == 0 || regions_by_rkey_.count(rkey) != 0);
  regions_by_rkey_[rkey] = {static_cast<uint8_t*>(addr), length, lkey,
                            access};
  rkey_by_lkey_[lkey] = rkey;
  return MemoryRegion{static_cast<uint8_t*>(addr), length, lkey, rkey,
                      access};
}

Status EmulatedRnic::Deregister(const MemoryRegion& mr) {
  auto it = regions_by_rkey_.find(mr.rkey);
  if (it == regions_by_rkey_.end() || it->second.lkey != mr.lkey) {
    return Status::NotFound(name_ + ": no memory region with lkey " +
                            std::to_string(mr.lkey) + " and rkey " +
                            std::to_string(mr.rkey));
  }
  rkey_by_lkey_.erase(mr.lkey);
  regions_by_rkey_.erase(it);
  return Status::OK();
}

const EmulatedRnic::Region* EmulatedRnic::FindLocal(uint32_t lkey) const {
  auto key = rkey_by_lkey_.find(lkey);
  if (key == rkey_by_lkey_.end()) return nullptr;
  return &regions_by_rkey_.at(key->second);
}

uint8_t* EmulatedRnic::ResolveRemoteWrite(uint32_t rkey, uint64_t va,
                                          uint64_t length) {
  auto it = regions_by_rkey_.find(rkey);
  if (it == regions_by_rkey_.end()) return nullptr;
  const Region& r = it->second;
  if (r.access != MemoryAccess::kRemoteWrite) return nullptr;
  const uint64_t base = reinterpret_cast<uintptr_t>(r.addr);
  if (va < base || length > r.length || va - base > r.length - length) {
    return nullptr;
  }
  return r.addr + (va - base);
}

void EmulatedRnic::Kick() { SetPending(true); }

void EmulatedRnic::SetPending(bool pending) {
  if (pending == kicked_) return;
  if (pending) {
    const uint64_t one = 1;
    (void)!write(kick_fd_, &one, sizeof one);
  } else {
    uint64_t value;
    (void)!read(kick_fd_, &value, sizeof value);
  }
  kicked_ = pending;
}

int64_t EmulatedRnic::NextDeadlineUs() const {
  int64_t earliest = -1;
  for (const EmulatedQueuePair* qp : qp_list_) {
    const int64_t d = qp->transport_.NextDeadline();
    if (d >= 0 && (earliest < 0 || d < earliest)) earliest = d;
  }
  if (earliest < 0) return -1;
  return std::max<int64_t>(0, earliest - MonotonicMicros());
}

size_t EmulatedRnic::PollCompletions(std::span<Completion> out) {
  const int64_t now = MonotonicMicros();
  ReceiveFrames(now);
  RunTimers(now);
  bool pending = TransmitFrames(now);

  size_t n = 0;
  const size_t count = qp_list_.size();
  for (size_t i = 0; i < count && n < out.size(); i++) {
    EmulatedQueuePair* qp = qp_list_[(next_cq_qp_ + i) % count];
    n += qp->transport_.TakeCompletions(out.subspan(n));
  }
  if (count > 0) next_cq_qp_ = (next_cq_qp_ + 1) % count;
  for (const EmulatedQueuePair* qp : qp_list_) {
    if (pending) break;
    pending = qp->transport_.HasCompletions();
  }
  SetPending(pending);
  return n;
}

void EmulatedRnic::ReceiveFrames(int64_t now_us) {
  for (int batch = 0; batch < kMaxBatchesPerPoll; batch++) {
    const size_t n = link_->Receive(rx_views_);
    for (size_t i = 0; i < n; i++) HandleFrame(rx_views_[i], now_us);
    if (n < rx_views_.size()) break;
  }
}

void EmulatedRnic::HandleFrame(std::span<const uint8_t> frame,
                               int64_t now_us) {
  FrameAddress address;
  RocePacket packet;
  FrameDefect defect;
  if (!ParseFrame(frame, &address, &packet, &defect).ok()) {
    if (defect == FrameDefect::kBadIcrc) {
      stats_.dropped_bad_icrc++;
    } else {
      stats_.dropped_malformed++;
    }
    return;
  }
  if (OpcodeIsUd(packet.bth.opcode)) {
    // The peer agents' path probes cross this port as RoCEv2 frames do;
    // the agent reads them, this RNIC (RC QPs only) does not.
    stats_.dropped_ud++;
    return;
  }
  if (address.dst_ip != options_.local_ip) {
    stats_.dropped_not_local++;
    return;
  }
  auto it = qps_.find(packet.bth.dest_qpn);
  if (it == qps_.end()) {
    // A real port only sees its own frames: one for a QP of the host's
    // other RNIC is lost here.
    stats_.dropped_wrong_qpn++;
    return;
  }
  stats_.frames_received++;
  stats_.bytes_received += frame.size();
  it->second->transport_.OnPacket(packet, now_us);
}

void EmulatedRnic::RunTimers(int64_t now_us) {
  for (EmulatedQueuePair* qp : qp_list_) {
    const int64_t deadline = qp->transport_.NextDeadline();
    if (deadline >= 0 && deadline <= now_us) qp->transport_.OnTimer(now_us);
  }
}

bool EmulatedRnic::TransmitFrames(int64_t now_us) {
  const size_t count = qp_list_.size();
  if (count == 0) return false;
  size_t budget = kBatch * kMaxBatchesPerPoll;
  RocePacket packet;
  bool more = true;
  // Round robin: one packet per QP per turn, so that a long message does
  // not hold back the ACKs and small messages of the others.
  while (budget > 0 && more) {
    more = false;
    for (size_t i = 0; i < count && budget > 0; i++) {
      EmulatedQueuePair* qp = qp_list_[(next_tx_qp_ + i) % count];
      if (!qp->transport_.NextPacket(now_us, &packet)) continue;
      more = true;
      budget--;
      qp->address_.ip_id = NextIpId();
      std::span<uint8_t> slot(tx_slots_.data() + tx_count_ * kFrameSlotBytes,
                              kFrameSlotBytes);
      Result<size_t> length = BuildFrame(qp->address_, packet, slot);
      if (!length.ok()) continue;   // Cannot happen: sizes are checked.
      tx_views_[tx_count_++] = slot.first(*length);
      stats_.bytes_sent += *length;
      if (tx_count_ == kBatch) FlushTx();
    }
  }
  next_tx_qp_ = (next_tx_qp_ + 1) % count;
  FlushTx();
  if (budget > 0) return false;
  for (const EmulatedQueuePair* qp : qp_list_) {
    if (qp->transport_.HasOutput()) return true;
  }
  return false;
}

void EmulatedRnic::FlushTx() {
  if (tx_count_ == 0) return;
  const size_t sent =
      link_->Send(std::span<const std::span<const uint8_t>>(
          tx_views_.data(), tx_count_));
  stats_.frames_sent += sent;
  stats_.send_dropped += tx_count_ - sent;
  tx_count_ = 0;
}

EmulatedRnicStats EmulatedRnic::stats() const {
  EmulatedRnicStats s = stats_;
  s.transport = retired_transport_;
  for (const EmulatedQueuePair* qp : qp_list_) {
    const RcStats& q = qp->transport_.stats();
    RcStats& t = s.transport;
    t.packets_sent += q.packets_sent;
    t.retransmits += q.retransmits;
    t.timeouts += q.timeouts;
    t.acks_sent += q.acks_sent;
    t.naks_sent += q.naks_sent;
    t.rnr_naks_sent += q.rnr_naks_sent;
    t.acks_received += q.acks_received;
    t.naks_received += q.naks_received;
    t.rnr_naks_received += q.rnr_naks_received;
    t.packets_received += q.packets_received;
    t.duplicates += q.duplicates;
    t.out_of_order += q.out_of_order;
  }
  return s;
}

Result<std::unique_ptr<Rnic>> OpenEmulatedRnic(
    const EmulatedRnicOptions& options) {
  Result<std::unique_ptr<EmulatedRnic>> rnic = EmulatedRnic::Open(options);
  if (!rnic.ok()) return rnic.status();
  return std::unique_ptr<Rnic>(std::move(*rnic));
}

}  // namespace rdma_bond
