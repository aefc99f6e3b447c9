// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/connection.h"

#include "conn/connection_internal.h"

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <utility>

#include "rdma_bond/table_reader.h"

namespace rdma_bond {

using namespace conn_detail;  // NOLINT(build/namespaces)

// ---------------------------------------------------------------------------
// Setup.

Connection::Connection(std::unique_ptr<SideChannel> side, bool initiator,
                       std::vector<Rnic*> rnics,
                       const ConnectionOptions& options)
    : options_(options),
      initiator_(initiator),
      rnics_(std::move(rnics)),
      side_(std::move(side)),
      peer_view_(std::make_unique<BondView>()),
      sent_view_(std::make_unique<BondView>()) {
  for (Rnic* rnic : rnics_) local_members_.push_back(rnic->member());
  rnic_broken_.assign(rnics_.size(), false);
}

Connection::~Connection() {
  UnregisterFromAgent();
  // QPs first: nothing may DMA into memory that is deregistered next.
  for (auto& path : paths_) path->qp.reset();
  for (auto& path : paths_) {
    if (path->recv_mr.addr) (void)path->rnic->Deregister(path->recv_mr);
  }
  paths_.clear();
  for (size_t r = 0; r < rnics_.size(); r++) {
    if (r < send_mrs_.size()) (void)rnics_[r]->Deregister(send_mrs_[r]);
    if (r < probe_mrs_.size()) (void)rnics_[r]->Deregister(probe_mrs_[r]);
    if (r < write_mrs_.size()) (void)rnics_[r]->Deregister(write_mrs_[r]);
  }
}

Result<std::unique_ptr<Connection>> Connection::Establish(
    std::unique_ptr<SideChannel> side, bool initiator,
    std::vector<Rnic*> rnics, const Bond* bond, uint32_t table_hash_impl,
    const ConnectionOptions& options) {
  const std::string prefix = "rdma-bond connection";
  if (!side) {
    return Status::InvalidArgument(prefix + ": no side channel");
  }
  if (std::find(rnics.begin(), rnics.end(), nullptr) != rnics.end()) {
    return Status::InvalidArgument(prefix +
                                   ": give one RNIC per bond member");
  }
  if (rnics.empty() && !options.tcp_fallback) {
    return Status::InvalidArgument(
        prefix + ": no RNIC, and TCP fallback is off: give one RNIC per "
                 "bond member, or turn tcp_fallback on for a connection "
                 "over TCP only");
  }
  if (options.max_message_size == 0 || options.send_window == 0 ||
      options.recv_buffers == 0 || options.write_region_size == 0 ||
      options.max_probe_attempts == 0) {
    return Status::InvalidArgument(
        prefix + ": max_message_size, send_window, recv_buffers, "
                 "write_region_size and max_probe_attempts must be positive");
  }
  if (!options.member_shares.empty()) {
    double total = 0;
    for (double share : options.member_shares) {
      if (!(share >= 0) || share > 1e9) {
        return Status::InvalidArgument(
            prefix + ": a member share must be between 0 and 1e9");
      }
      total += share;
    }
    if (options.member_shares.size() != rnics.size() || total <= 0) {
      return Status::InvalidArgument(
          prefix + ": give one member share per RNIC (" +
          std::to_string(rnics.size()) + "), not all 0");
    }
  }
  if (!options.side_channel_key.empty()) {
    Status auth = side->Authenticate(options.side_channel_key, initiator);
    if (!auth.ok()) return auth.WithPrefix(prefix);
  }
  std::unique_ptr<Connection> c(
      new Connection(std::move(side), initiator, std::move(rnics), options));
  Status s = c->Setup(bond, table_hash_impl);
  if (s.ok()) s = c->Handshake();
  if (s.ok()) s = c->WaitEstablished();
  if (!s.ok()) return s.WithPrefix(prefix);
  c->established_ = true;
  return c;
}

Status Connection::Setup(const Bond* bond, uint32_t table_hash_impl) {
  Result<PathPlanner> plan =
      PathPlanner::Create(bond, table_hash_impl, local_members_,
                          options_.local, options_.remote);
  if (!plan.ok()) return plan.status();
  planner_ = std::make_unique<PathPlanner>(std::move(*plan));
  FetchAgentPaths();

  slot_size_ = kHeaderSize + options_.max_message_size;
  // (Without an RNIC, what TCP carries still waits in the slots until
  // TCP acknowledges it.)
  n_slots_ = static_cast<size_t>(options_.send_window) *
             std::max<size_t>(1, rnics_.size());
  send_pool_.reset(new uint8_t[n_slots_ * slot_size_]());
  slot_seq_.assign(n_slots_, 0);
  for (size_t i = n_slots_; i-- > 0;) {
    free_slots_.push_back(static_cast<uint32_t>(i));
  }
  probe_pool_.reset(new uint8_t[kMaxPaths * 2 * kControlSlot]());
  write_region_.reset(new uint8_t[options_.write_region_size]());
  for (Rnic* rnic : rnics_) {
    Result<MemoryRegion> mr = rnic->Register(
        send_pool_.get(), n_slots_ * slot_size_, MemoryAccess::kLocal);
    if (!mr.ok()) return mr.status().WithPrefix(rnic->name());
    send_mrs_.push_back(*mr);
    mr = rnic->Register(probe_pool_.get(), kMaxPaths * 2 * kControlSlot,
                        MemoryAccess::kLocal);
    if (!mr.ok()) return mr.status().WithPrefix(rnic->name());
    probe_mrs_.push_back(*mr);
    mr = rnic->Register(write_region_.get(), options_.write_region_size,
                        MemoryAccess::kRemoteWrite);
    if (!mr.ok()) return mr.status().WithPrefix(rnic->name());
    write_mrs_.push_back(*mr);
  }
  return Status::OK();
}

BondView Connection::LocalView() const {
  BondView view;
  view.active_only = planner_->policy() == PathPolicy::kActiveOnly ||
                     planner_->policy() == PathPolicy::kNone;
  if (planner_->active()) {
    view.active = static_cast<uint8_t>(*planner_->active());
  }
  view.usable_mask = planner_->usable_mask();
  view.alive_mask = planner_->alive_mask();
  // A member whose RNIC cannot create QPs (a device fatal error) can carry
  // nothing: the peer is told at once rather than by its transport's
  // retries running out.
  for (size_t r = 0; r < rnic_broken_.size() && r < 32; r++) {
    if (rnic_broken_[r]) {
      view.usable_mask &= ~(uint32_t{1} << r);
      view.alive_mask &= ~(uint32_t{1} << r);
    }
  }
  return view;
}

Status Connection::Handshake() {
  HelloMessage hello;
  hello.members = local_members_;
  hello.bond = LocalView();
  hello.max_message_size = options_.max_message_size;
  hello.write_region_size = options_.write_region_size;
  Status s = SendSide(SideMessageType::kHello, EncodeHello(hello));
  if (!s.ok()) return s;
  Result<SideMessage> got =
      ReceiveSide("HELLO");
  if (!got.ok()) return got.status();
  if (got->type != SideMessageType::kHello) {
    return Status::Corruption("side channel: expected HELLO, got " +
                              std::string(ToString(got->type)));
  }
  Result<HelloMessage> peer = DecodeHello(got->body);
  if (!peer.ok()) return peer.status();
  if (peer->max_message_size > options_.max_message_size) {
    return Status::InvalidArgument(
        "the peer sends messages of up to " +
        std::to_string(peer->max_message_size) +
        " bytes, this side's max_message_size is " +
        std::to_string(options_.max_message_size) +
        ": configure the same size on both sides");
  }
  remote_members_ = peer->members;
  if (remote_members_.empty() && !options_.tcp_fallback) {
    return Status::InvalidArgument(
        "the peer has no RDMA device, and TCP fallback is off here: turn "
        "tcp_fallback on to carry this connection over TCP");
  }
  // The peer's region as it says; the paths' ENDPOINTS (if any) bound it.
  peer_region_length_ = peer->write_region_size;
  *peer_view_ = peer->bond;
  *sent_view_ = hello.bond;

  const size_t n_local = rnics_.size(), n_remote = remote_members_.size();
  if (n_local * n_remote > kMaxPaths) {
    return Status::InvalidArgument(
        std::to_string(n_local) + " x " + std::to_string(n_remote) +
        " members make more than " + std::to_string(kMaxPaths) + " paths");
  }
  const size_t n_recv =
      std::min<size_t>(options_.recv_buffers, options_.qp.max_recv_wr);
  EndpointsMessage mine;
  for (size_t i = 0; i < n_local; i++) {
    for (size_t j = 0; j < n_remote; j++) {
      auto path = std::make_unique<Path>();
      Path& p = *path;
      p.index = paths_.size();
      p.local = i;
      p.remote = j;
      p.rnic = rnics_[i];
      p.stats.local_index = i;
      p.stats.remote_index = j;
      p.stats.local_member = local_members_[i];
      p.stats.remote_member = remote_members_[j];
      p.stats.rnic = p.rnic->name();
      // A member's share is split over its paths.
      p.share = options_.member_shares.empty()
                    ? 1.0
                    : options_.member_shares[i] / static_cast<double>(n_remote);
      paths_.push_back(std::move(path));
      s = CreatePathQp(p);
      if (!s.ok()) return s.WithPrefix(p.rnic->name());
      p.recv_count = n_recv;
      p.recv_mem.reset(new uint8_t[n_recv * slot_size_]());
      Result<MemoryRegion> mr =
          p.rnic->Register(p.recv_mem.get(), n_recv * slot_size_,
                           MemoryAccess::kLocal);
      if (!mr.ok()) return mr.status().WithPrefix(p.rnic->name());
      p.recv_mr = *mr;
      RefreshCandidates(p);
      PathEndpoint e;
      e.path = PathId{static_cast<uint8_t>(i), static_cast<uint8_t>(j)};
      e.qp = p.qp->local();
      e.region_addr = reinterpret_cast<uint64_t>(write_region_.get());
      e.region_length = options_.write_region_size;
      e.region_rkey = write_mrs_[i].rkey;
      mine.paths.push_back(e);
    }
  }
  s = SendSide(SideMessageType::kEndpoints, EncodeEndpoints(mine));
  if (!s.ok()) return s;
  got = ReceiveSide("ENDPOINTS");
  if (!got.ok()) return got.status();
  if (got->type != SideMessageType::kEndpoints) {
    return Status::Corruption("side channel: expected ENDPOINTS, got " +
                              std::string(ToString(got->type)));
  }
  Result<EndpointsMessage> theirs = DecodeEndpoints(got->body);
  if (!theirs.ok()) return theirs.status();
  if (theirs->paths.size() != paths_.size()) {
    return Status::Corruption(
        "side channel: ENDPOINTS lists " +
        std::to_string(theirs->paths.size()) + " paths, expected " +
        std::to_string(paths_.size()));
  }
  std::vector<std::optional<QpEndpoint>> remote(paths_.size());
  for (const PathEndpoint& e : theirs->paths) {
    Path* p = FindPath(e.path);
    if (!p || remote[p->index]) {
      return Status::Corruption("side channel: ENDPOINTS names path " +
                                std::to_string(e.path.sender_member) + "->" +
                                std::to_string(e.path.receiver_member) +
                                " twice or out of range");
    }
    remote[p->index] = e.qp;
    p->region_addr = e.region_addr;
    p->region_length = e.region_length;
    p->region_rkey = e.region_rkey;
    peer_region_length_ = std::min(peer_region_length_, e.region_length);
  }
  for (auto& p : paths_) {
    p->incarnation = 1;
    p->peer = *remote[p->index];
    ConnectPath(*p, *remote[p->index]);
  }
  SyncAgent();
  return Status::OK();
}

Result<SideMessage> Connection::ReceiveSide(std::string_view what) {
  if (!options_.while_establishing) {
    return side_->Receive(options_.establish_timeout, what);
  }
  const Clock::time_point deadline = Clock::now() + options_.establish_timeout;
  for (;;) {
    Result<SideMessage> got =
        side_->Receive(std::chrono::milliseconds(1), what);
    if (got.ok() || !side_->failure().ok()) {
      return got;
    }
    if (Clock::now() >= deadline) {
      return Status::Unavailable(
          "side channel: no " + std::string(what) + " from the peer within " +
          std::to_string(options_.establish_timeout.count()) + " ms");
    }
    options_.while_establishing();
  }
}

Status Connection::WaitEstablished() {
  const Clock::time_point deadline = Clock::now() + options_.establish_timeout;
  for (;;) {
    Status s = Progress();
    if (!s.ok()) {
      // Say where the paths were: the peer may have given up first.
      return Status::Unavailable(s.message() + " (paths: " + DescribePaths() +
                                 ")");
    }
    if (HasCarryingPath()) return Status::OK();
    if (paths_.empty()) {
      // One side has no RDMA device: TCP only (tcp_fallback, checked in
      // Handshake()).
      if (Tracing()) Trace(nullptr, "no RDMA path possible: TCP only");
      return Status::OK();
    }
    if (Clock::now() >= deadline && options_.tcp_fallback) {
      // The paths keep trying; TCP carries until one is up.
      if (Tracing()) {
        Trace(nullptr, "no path came up within establish_timeout: TCP "
                       "carries meanwhile (" + DescribePaths() + ")");
      }
      return Status::OK();
    }
    if (Clock::now() >= deadline) {
      return Status::Unavailable(
          "no path came up within " +
          std::to_string(options_.establish_timeout.count()) +
          " ms: " + DescribePaths());
    }
    if (options_.while_establishing) {
      options_.while_establishing();
    }
    WaitForEvents(std::chrono::milliseconds(1));
  }
}

std::string Connection::DescribePaths() const {
  std::string text;
  for (const auto& p : paths_) {
    if (!text.empty()) text += "; ";
    text += "path " + local_members_[p->local] + "->" +
            remote_members_[p->remote] + " (" + p->rnic->name() + ", sport " +
            Hex16(p->sport) + ") " + std::string(ToString(p->state));
    if (!Usable(*p)) {
      const MemberPlan& m = planner_->member(p->local);
      text += ", unusable: " +
              (m.usable ? "the peer's member " + remote_members_[p->remote] +
                              " is unusable"
                        : m.reason);
    } else if (!Carries(*p)) {
      text += ", does not carry (standby)";
    }
    if (!p->stats.last_error.empty()) text += ": " + p->stats.last_error;
    if (p->state == PathState::kProbing) {
      text += ": probe not acknowledged (" +
              std::to_string(p->stats.probe_attempts) + " probes, " +
              std::to_string(p->stats.repicks) + " source ports moved)";
    }
  }
  return text;
}

// ---------------------------------------------------------------------------
// Sending and receiving messages.

void Connection::OnMessage(std::function<void(std::span<const uint8_t>)> cb) {
  on_message_ = std::move(cb);
}

void Connection::OnWrite(std::function<void(uint64_t, size_t)> cb) {
  on_write_ = std::move(cb);
}

std::span<uint8_t> Connection::write_region() {
  return {write_region_.get(), options_.write_region_size};
}

Status Connection::Send(std::span<const uint8_t> message) {
  if (message.size() > options_.max_message_size) {
    return Status::InvalidArgument(
        "rdma-bond connection: message of " + std::to_string(message.size()) +
        " bytes exceeds max_message_size " +
        std::to_string(options_.max_message_size));
  }
  return Enqueue(kData, message, 0);
}

Status Connection::Write(std::span<const uint8_t> data,
                         uint64_t remote_offset) {
  if (data.size() > options_.max_message_size) {
    return Status::InvalidArgument(
        "rdma-bond connection: write of " + std::to_string(data.size()) +
        " bytes exceeds max_message_size " +
        std::to_string(options_.max_message_size));
  }
  if (remote_offset > peer_region_length_ ||
      data.size() > peer_region_length_ - remote_offset) {
    return Status::InvalidArgument(
        "rdma-bond connection: write of " + std::to_string(data.size()) +
        " bytes at offset " + std::to_string(remote_offset) +
        " exceeds the peer's write region of " +
        std::to_string(peer_region_length_) + " bytes");
  }
  return Enqueue(kWriteNotice, data, remote_offset);
}

Status Connection::Enqueue(uint8_t type, std::span<const uint8_t> data,
                           uint64_t remote_offset) {
  if (!failed_.ok()) return failed_;
  if (closing_ || bye_sent_) {
    return Status::InvalidArgument("rdma-bond connection: closed");
  }
  if (free_slots_.empty()) {
    return Status::Unavailable(
        "rdma-bond connection: " + std::to_string(items_.size()) +
        " messages unacknowledged, send buffers full: call Progress() and "
        "retry");
  }
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  const uint64_t seq = next_seq_++;
  uint8_t* p = send_pool_.get() + slot * slot_size_;
  Header h;
  h.seq = seq;
  h.type = type;
  h.length = static_cast<uint32_t>(data.size());
  h.offset = remote_offset;
  WriteHeader(p, h);
  if (!data.empty()) std::memcpy(p + kHeaderSize, data.data(), data.size());
  Item item;
  item.type = type;
  item.slot = slot;
  item.length = h.length;
  item.remote_offset = remote_offset;
  items_.emplace(seq, item);
  slot_seq_[slot] = seq;
  unsent_.insert(seq);
  stats_.messages_sent++;
  Schedule();
  return Status::OK();
}

bool Connection::SharesInUse() const {
  return !options_.member_shares.empty() ||
         (planner_->rdma_rebalance() &&
          planner_->policy() == PathPolicy::kHashed);
}

Connection::Path* Connection::PickPath(size_t wrs) {
  const size_t limit =
      std::min<size_t>(options_.send_window, options_.qp.max_send_wr);
  Path* best = nullptr;
  const size_t n = paths_.size();
  if (SharesInUse()) {
    // The path with a share that carried least for its share; without
    // one, any path that can (below).
    for (auto& path : paths_) {
      Path& p = *path;
      if (p.share <= 0 || p.state != PathState::kUp || !Carries(p) ||
          p.wrs_inflight + wrs > limit) {
        continue;
      }
      if (!best || p.vbytes < best->vbytes) best = &p;
    }
    if (best) return best;
  }
  for (size_t k = 0; k < n; k++) {
    Path& p = *paths_[(round_robin_ + k) % n];
    if (p.state != PathState::kUp || !Carries(p)) continue;
    if (p.wrs_inflight + wrs > limit) continue;
    if (!best || p.wrs_inflight < best->wrs_inflight) best = &p;
  }
  if (best) round_robin_ = best->index + 1;
  return best;
}

void Connection::Schedule() {
  ReleaseTcpSent();
  while (!unsent_.empty()) {
    const uint64_t seq = *unsent_.begin();
    Item& item = items_.at(seq);
    Path* p = PickPath(item.type == kWriteNotice ? 2 : 1);
    if (!p) break;
    Status s = PostItem(*p, seq, item);
    if (!s.ok()) {
      FailPath(*p, "post: " + s.message());
      continue;
    }
    unsent_.erase(seq);
  }
  if (!unsent_.empty() && FallbackActive(Clock::now())) ScheduleOverTcp();
  if (unsent_.empty()) {
    stalled_ = false;
  } else if (!HasCarryingPath() && !stalled_) {
    stalled_ = true;
    stats_.stalls++;
  }
  if (over_tcp_ && HasCarryingPath()) {
    over_tcp_ = false;
    if (Tracing()) Trace(nullptr, "TCP fallback ends: a path carries");
  }
}

bool Connection::FallbackActive(Clock::time_point now) const {
  // Without any path (a side has no RDMA device) at once.
  return options_.tcp_fallback && established_ && !side_closed_ &&
         !bye_received_ && failed_.ok() &&
         (paths_.empty() ||
          (no_path_since_ &&
           now - *no_path_since_ >= options_.tcp_fallback_after)) &&
         !HasCarryingPath();
}

void Connection::ScheduleOverTcp() {
  // Far below the side channel's own bound (kMaxSideQueued), so that
  // control messages still fit; the rest waits in unsent_.
  constexpr size_t kMaxTcpQueued = 1 << 20;
  while (!unsent_.empty() && side_->BufferedBytes() < kMaxTcpQueued) {
    const uint64_t seq = *unsent_.begin();
    auto it = items_.find(seq);
    const Item& item = it->second;
    const uint8_t* slot = send_pool_.get() + item.slot * slot_size_;
    DataMessage m;
    m.seq = seq;
    m.type = item.type;
    m.offset = item.remote_offset;
    m.payload = {slot + kHeaderSize, item.length};
    if (!SendSide(SideMessageType::kData, EncodeData(m)).ok()) return;
    if (!over_tcp_) {
      over_tcp_ = true;
      stats_.tcp_fallbacks++;
      if (Tracing()) Trace(nullptr, "TCP fallback: no path carries");
    }
    // Kept until the peer's TCP acknowledges it: if TCP itself lost
    // segments while no path carried, a path may deliver it first.
    it->second.path = kOverTcp;
    last_tcp_send_ = Clock::now();
    tcp_sent_.push_back({side_->StreamOffset(), seq, last_tcp_send_});
    unsent_.erase(unsent_.begin());
    stats_.tcp_messages_sent++;
  }
}

void Connection::ReleaseTcpSent() {
  if (tcp_sent_.empty()) return;
  const uint64_t acknowledged = side_->AcknowledgedOffset();
  auto release = [this](const TcpSent& t, bool resend) {
    auto it = items_.find(t.seq);
    if (it == items_.end() || it->second.path != kOverTcp) return;
    if (resend) {
      it->second.path = -1;
      unsent_.insert(t.seq);
      stats_.tcp_resent++;
    } else {
      free_slots_.push_back(it->second.slot);
      items_.erase(it);
    }
  };
  while (!tcp_sent_.empty() && tcp_sent_.front().end <= acknowledged) {
    release(tcp_sent_.front(), false);
    tcp_sent_.pop_front();
  }
  if (tcp_sent_.empty() || !HasCarryingPath() ||
      Clock::now() - tcp_sent_.front().at < kTcpResendAfter) {
    return;
  }
  if (Tracing()) {
    Trace(nullptr, std::to_string(tcp_sent_.size()) +
                       " messages sent over TCP and not acknowledged by "
                       "it go on the paths too");
  }
  for (const TcpSent& t : tcp_sent_) release(t, true);
  tcp_sent_.clear();
}

Status Connection::PostItem(Path& p, uint64_t seq, Item& item) {
  (void)seq;
  uint8_t* slot = send_pool_.get() + item.slot * slot_size_;
  const MemoryRegion& mr = send_mrs_[p.local];
  Status s;
  if (item.type == kWriteNotice) {
    s = p.qp->PostWrite(MakeWrId(WrKind::kWrite, p.index, p.epoch, item.slot),
                        mr, {slot + kHeaderSize, item.length},
                        p.region_addr + item.remote_offset, p.region_rkey,
                        nullptr);
    if (!s.ok()) return s;
    p.wrs_inflight++;
    // From here the item is on the path: a failure re-queues it.
    item.path = static_cast<int>(p.index);
    item.epoch = p.epoch;
    s = p.qp->PostSend(MakeWrId(WrKind::kItem, p.index, p.epoch, item.slot),
                       mr, {slot, kHeaderSize});
  } else {
    s = p.qp->PostSend(MakeWrId(WrKind::kItem, p.index, p.epoch, item.slot),
                       mr, {slot, kHeaderSize + item.length});
  }
  if (!s.ok()) return s;
  item.path = static_cast<int>(p.index);
  item.epoch = p.epoch;
  p.wrs_inflight++;
  p.stats.messages_sent++;
  p.stats.bytes_sent += item.length;
  if (p.share > 0) p.vbytes += (kHeaderSize + item.length) / p.share;
  return Status::OK();
}

void Connection::Deliver(uint64_t seq, uint8_t type,
                         std::span<const uint8_t> payload, uint64_t offset,
                         uint64_t length) {
  if (seq < next_deliver_ || reorder_.count(seq)) {
    stats_.duplicates_dropped++;
    return;
  }
  // Until Establish() returned, the application had no chance to set its
  // callbacks: hold everything (delivered by the first Progress()).
  // Inside a callback (which may call Progress()), hold it too: the outer
  // delivery loop continues in order once the callback returns.
  // And while the application has not set the callback for it yet: a
  // message is never handed to nobody.
  if (seq != next_deliver_ || !established_ || callback_depth_ > 0 ||
      !HasCallbackFor(type)) {
    Pending pending;
    pending.type = type;
    pending.payload.assign(payload.begin(), payload.end());
    pending.offset = offset;
    pending.length = length;
    reorder_.emplace(seq, std::move(pending));
    return;
  }
  DeliverOne(type, payload, offset, length);
  DeliverReady();
}

bool Connection::HasCallbackFor(uint8_t type) const {
  return type == kData ? static_cast<bool>(on_message_)
                       : static_cast<bool>(on_write_);
}

void Connection::DeliverOne(uint8_t type, std::span<const uint8_t> payload,
                            uint64_t offset, uint64_t length) {
  next_deliver_++;
  stats_.messages_delivered++;
  callback_depth_++;
  if (type == kData) {
    if (on_message_) on_message_(payload);
  } else if (on_write_) {
    on_write_(offset, static_cast<size_t>(length));
  }
  callback_depth_--;
}

void Connection::DeliverReady() {
  while (established_ && callback_depth_ == 0 && !reorder_.empty() &&
         reorder_.begin()->first == next_deliver_ &&
         HasCallbackFor(reorder_.begin()->second.type)) {
    Pending pending = std::move(reorder_.begin()->second);
    reorder_.erase(reorder_.begin());
    DeliverOne(pending.type, pending.payload, pending.offset,
               pending.length);
  }
}

// ---------------------------------------------------------------------------
// Completions.

void Connection::PollRnic(size_t rnic) {
  Completion batch[kPollBatch];
  for (size_t round = 0; round < kMaxBatchesPerPoll; round++) {
    const size_t n = rnics_[rnic]->PollCompletions(batch);
    for (size_t i = 0; i < n; i++) HandleCompletion(batch[i]);
    if (n < kPollBatch) break;
  }
}

void Connection::HandleCompletion(const Completion& c) {
  const WrId id = DecodeWrId(c.wr_id);
  if (id.path >= paths_.size()) return;
  Path& p = *paths_[id.path];
  const bool current = id.epoch == (p.epoch & kEpochMask);
  const bool ok = c.status == WcStatus::kSuccess;
  switch (id.kind) {
    case WrKind::kRecv: {
      if (ok) {
        // Data that arrived is valid whatever happened to the QP since.
        HandleReceive(p, id.value, c.byte_len);
        const bool still_current = id.epoch == (p.epoch & kEpochMask);
        if (still_current && id.value < p.recv_count && p.qp &&
            (p.state == PathState::kReady || p.state == PathState::kProbing ||
             p.state == PathState::kUp)) {
          Status s = p.qp->PostRecv(
              c.wr_id, p.recv_mr,
              {p.recv_mem.get() + id.value * slot_size_, slot_size_});
          if (!s.ok()) FailPath(p, "post receive: " + s.message());
        }
      } else if (current) {
        FailPath(p, "receive completed " + std::string(ToString(c.status)));
      }
      return;
    }
    case WrKind::kItem: {
      if (!current) return;
      if (!ok) {
        FailPath(p, "send completed " + std::string(ToString(c.status)));
        return;
      }
      if (p.wrs_inflight > 0) p.wrs_inflight--;
      if (id.value >= n_slots_) return;
      auto it = items_.find(slot_seq_[id.value]);
      if (it == items_.end() || it->second.slot != id.value ||
          it->second.path != static_cast<int>(p.index) ||
          it->second.epoch != id.epoch) {
        return;
      }
      free_slots_.push_back(it->second.slot);
      items_.erase(it);
      return;
    }
    case WrKind::kWrite: {
      if (!current) return;
      if (!ok) {
        FailPath(p, "RDMA write completed " + std::string(ToString(c.status)));
        return;
      }
      if (p.wrs_inflight > 0) p.wrs_inflight--;
      return;
    }
    case WrKind::kProbe: {
      if (!current) return;
      if (id.value == kViewWr) {
        if (!ok) {
          FailPath(p, "ACTIVE completed " + std::string(ToString(c.status)));
          return;
        }
        if (p.wrs_inflight > 0) p.wrs_inflight--;
        p.view_inflight = false;
        return;
      }
      if (!ok) {
        const bool probing = p.state == PathState::kProbing;
        const std::string reason =
            "probe completed " + std::string(ToString(c.status)) +
            " (source port " + Hex16(p.sport) + ")";
        FailPath(p, reason);
        if (probing && ++p.attempts >= options_.max_probe_attempts) {
          p.exhausted = true;
          p.stats.last_error =
              "no working source port after " +
              std::to_string(options_.max_probe_attempts) +
              " attempts (last " + reason + "); retrying in " +
              std::to_string(options_.failed_retry.count()) + " ms";
          p.retry_at = Clock::now() + options_.failed_retry;
        }
        return;
      }
      if (p.wrs_inflight > 0) p.wrs_inflight--;
      if (p.state == PathState::kProbing) {
        MarkUp(p, p.candidate < p.agent_hints ? "the agent's"
                                              : "found by probing");
      }
      return;
    }
  }
}

void Connection::MarkUp(Path& p, std::string_view how) {
  p.state = PathState::kUp;
  p.attempts = 0;
  p.exhausted = false;
  if (Tracing()) {
    Trace(&p, "up (source port " + Hex16(p.sport) + ", " + std::string(how) +
                  ")");
  }
}

void Connection::HandleReceive(Path& p, uint32_t buffer, uint32_t byte_len) {
  if (buffer >= p.recv_count) return;
  const uint8_t* b = p.recv_mem.get() + buffer * slot_size_;
  std::string malformed;
  Header h;
  if (byte_len < kHeaderSize || byte_len > slot_size_) {
    malformed = std::to_string(byte_len) + " bytes";
  } else {
    h = ReadHeader(b);
    if (h.type == kData && h.length != byte_len - kHeaderSize) {
      malformed = "data length " + std::to_string(h.length) + " in " +
                  std::to_string(byte_len) + " bytes";
    } else if (h.type == kWriteNotice &&
               (h.offset > options_.write_region_size ||
                h.length > options_.write_region_size - h.offset)) {
      malformed = "write notice of " + std::to_string(h.length) +
                  " bytes at offset " + std::to_string(h.offset);
    } else if (h.type == kView && h.length != byte_len - kHeaderSize) {
      malformed = "ACTIVE length " + std::to_string(h.length) + " in " +
                  std::to_string(byte_len) + " bytes";
    } else if (h.type != kData && h.type != kProbe &&
               h.type != kWriteNotice && h.type != kView) {
      malformed = "type " + std::to_string(h.type);
    }
  }
  std::optional<ActiveMessage> view;
  if (malformed.empty() && h.type == kView) {
    Result<ActiveMessage> decoded = DecodeActive({b + kHeaderSize, h.length});
    if (decoded.ok()) {
      view = *decoded;
    } else {
      malformed = decoded.status().message();
    }
  }
  if (!malformed.empty()) {
    if (failed_.ok()) {
      failed_ = Status::Corruption(
          "rdma-bond connection: malformed message from the peer on path " +
          local_members_[p.local] + "->" + remote_members_[p.remote] + ": " +
          malformed);
    }
    return;
  }
  // Anything from the peer on this QP proves its direction works.
  p.peer_probe_seen = true;
  if (h.type == kProbe) return;
  if (h.type == kView) {
    // Taken after the completions (Progress()): it may fail and reset
    // paths, which must not happen in the middle of a batch.
    if (view->seq > peer_view_seq_ &&
        (!path_view_ || view->seq > path_view_->seq)) {
      path_view_ = std::make_unique<PathView>(
          PathView{p.index, view->seq, view->bond});
    }
    return;
  }
  p.stats.messages_received++;
  if (h.type == kData) {
    Deliver(h.seq, kData, {b + kHeaderSize, h.length}, 0, h.length);
  } else {
    Deliver(h.seq, kWriteNotice, {}, h.offset, h.length);
  }
}

// ---------------------------------------------------------------------------
// Event loop.

Status Connection::Progress() {
  if (!failed_.ok()) return failed_;
  DeliverReady();
  for (size_t r = 0; r < rnics_.size(); r++) PollRnic(r);
  if (path_view_) {
    const std::unique_ptr<PathView> v = std::move(path_view_);
    TakePeerView(v->seq, v->view, paths_[v->path].get());
  }
  Status s = PollSide();
  if (!s.ok()) {
    if (failed_.ok()) failed_ = s;
    return failed_;
  }
  RunTimers();
  FollowAgentPaths();
  // A path that came up takes the bond's view before the messages held
  // for it, which fill its send window: the peer may be sending toward a
  // member that died and learn it only from this view.
  SendViewOnPaths();
  Schedule();
  SyncAgent(std::exchange(pending_repin_ns_, std::nullopt));
  if (!side_closed_) (void)side_->Flush();
  NudgeSide();
  return failed_;
}

void Connection::NudgeSide() {
  if (side_closed_ || !established_ || bye_sent_) return;
  // Data on the side channel (TCP fallback) is followed by more: SACK
  // works without help.
  if (Clock::now() - last_tcp_send_ < kNudgeAfter) return;
  if (side_->UnacknowledgedBytes() == 0) {
    side_unacked_since_.reset();
    nudges_ = 0;
    return;
  }
  const Clock::time_point now = Clock::now();
  if (!side_unacked_since_) {
    side_unacked_since_ = now;
    next_nudge_ = now + kNudgeAfter;
    return;
  }
  if (now < next_nudge_ || nudges_ >= kMaxNudges) return;
  ActiveMessage m;
  m.bond = *sent_view_;
  m.seq = view_seq_;
  (void)SendSide(SideMessageType::kActive, EncodeActive(m));
  nudges_++;
  stats_.side_nudges++;
  if (Tracing()) {
    Trace(nullptr, "side channel nudged (" +
                       std::to_string(side_->UnacknowledgedBytes()) +
                       " bytes unacknowledged)");
  }
  next_nudge_ = now + kNudgeInterval;
}

Status Connection::UpdateBond(const Bond& bond, uint32_t table_hash_impl) {
  if (!failed_.ok()) return failed_;
  Result<PathPlanner> plan =
      PathPlanner::Create(&bond, table_hash_impl, local_members_,
                          options_.local, options_.remote);
  if (!plan.ok()) {
    return plan.status().WithPrefix("rdma-bond connection: bond update");
  }
  planner_ = std::make_unique<PathPlanner>(std::move(*plan));
  // The reaction first, the agent after: its requests (PATHS and the
  // registrations) go out from the next Progress(), so that every
  // connection of a program follows the change before any of them talks
  // to the agent, and nothing waits for the agent's answers (a busy agent
  // takes milliseconds).  The re-pins below use the agent's ports of the
  // last answer (it probes a change's ports after it anyway); Progress()
  // asks again, and follows the answer when it comes.
  if (planner_->policy() == PathPolicy::kHashed) {
    next_agent_refresh_ = std::chrono::steady_clock::now();
  } else {
    agent_paths_.clear();
  }
  const BondView view = LocalView();
  if (Tracing() && !(view == *sent_view_)) {
    Trace(nullptr, "bond changed: usable mask " +
                       HexPrefixed(view.usable_mask) + ", active " +
                       (view.active ? std::to_string(*view.active)
                                    : std::string("none")));
  }
  for (auto& p : paths_) Reconcile(*p);
  AnnounceView();
  Schedule();
  // The agent reports the time from the table's change to this re-pin.
  const uint64_t now_ns = MonotonicNowNs();
  if (bond.change_ns != 0 && now_ns >= bond.change_ns) {
    pending_repin_ns_ = now_ns - bond.change_ns;
  }
  return Status::OK();
}

size_t Connection::InFlight() const { return items_.size(); }

std::vector<int> Connection::Fds() const {
  std::vector<int> fds;
  for (Rnic* rnic : rnics_) {
    const int fd = rnic->EventFd();
    if (fd >= 0 && std::find(fds.begin(), fds.end(), fd) == fds.end()) {
      fds.push_back(fd);
    }
  }
  if (side_ && !side_closed_) fds.push_back(side_->Fd());
  return fds;
}

int64_t Connection::NextDeadlineUs() const {
  int64_t best = -1;
  auto consider = [&best](int64_t us) {
    if (us < 0) us = 0;
    if (best < 0 || us < best) best = us;
  };
  for (Rnic* rnic : rnics_) {
    const int64_t us = rnic->NextDeadlineUs();
    if (us >= 0) consider(us);
  }
  // Frames beyond one Poll()'s batch wait without the socket saying so.
  if (side_ && side_->HasReady()) consider(0);
  const Clock::time_point now = Clock::now();
  auto until = [now](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t - now)
        .count();
  };
  if (side_unacked_since_ && nudges_ < kMaxNudges && !side_closed_) {
    consider(until(next_nudge_));
  }
  if (!unsent_.empty() && options_.tcp_fallback && no_path_since_) {
    consider(until(*no_path_since_ + options_.tcp_fallback_after));
  }
  // The peer's TCP acknowledging DATA wakes no descriptor: look again
  // every millisecond while some waits for it.
  if (!tcp_sent_.empty()) {
    consider(std::min<int64_t>(1000, until(tcp_sent_.front().at +
                                           kTcpResendAfter)));
  }
  for (const auto& p : paths_) {
    if (p->state == PathState::kProbing) consider(until(p->probe_deadline));
    if (p->state == PathState::kDown && Alive(*p) && !side_closed_ &&
        !bye_received_) {
      consider(until(p->retry_at));
    }
    if (p->state == PathState::kResetting) {
      consider(until(p->reset_deadline));
    }
  }
  return best;
}

void Connection::WaitForEvents(std::chrono::milliseconds max_wait) const {
  std::vector<pollfd> fds;
  for (int fd : Fds()) fds.push_back(pollfd{fd, POLLIN, 0});
  if (side_ && !side_closed_ && side_->WantsWrite() && !fds.empty()) {
    fds.back().events |= POLLOUT;
  }
  int64_t wait_us = max_wait.count() * 1000;
  const int64_t deadline = NextDeadlineUs();
  if (deadline >= 0) wait_us = std::min(wait_us, deadline);
  (void)poll(fds.data(), fds.size(), static_cast<int>((wait_us + 999) / 1000));
}

ConnectionStats Connection::stats() const {
  ConnectionStats s = stats_;
  s.side_rto_min_us = static_cast<uint64_t>(side_->RtoMin().count());
  for (const auto& p : paths_) {
    PathStats ps = p->stats;
    ps.state = std::string(p->exhausted && p->state == PathState::kDown
                               ? "failed"
                               : ToString(p->state));
    ps.up = p->state == PathState::kUp;
    ps.carries = Carries(*p);
    ps.sport = p->sport;
    ps.qpn = p->qpn;
    ps.agent_hint = p->candidate < p->agent_hints;
    ps.share = SharesInUse() ? p->share : 0;
    s.paths.push_back(std::move(ps));
  }
  return s;
}

bool Connection::HasPeerMessages() const {
  if (!peer_last_seq_) return true;  // A peer that does not say.
  const uint64_t last = *peer_last_seq_;
  if (next_deliver_ > last) return true;
  // The rest must be held (received, waiting for a callback or in order).
  const auto first = reorder_.lower_bound(next_deliver_);
  const auto end = reorder_.upper_bound(last);
  return static_cast<uint64_t>(std::distance(first, end)) ==
         last - next_deliver_ + 1;
}

Status Connection::Close(std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  closing_ = true;
  while (!items_.empty()) {
    Status s = Progress();
    if (!s.ok()) return s;
    if (items_.empty()) break;
    if (Clock::now() >= deadline) {
      return Status::Unavailable(
          "rdma-bond connection: close: " + std::to_string(items_.size()) +
          " messages still unacknowledged after " +
          std::to_string(timeout.count()) + " ms");
    }
    WaitForEvents(std::chrono::milliseconds(1));
  }
  if (!bye_sent_) {
    bye_sent_ = true;
    ByeMessage bye;
    bye.last_seq = next_seq_ - 1;
    (void)SendSide(SideMessageType::kBye, EncodeBye(bye));
  }
  // Keep receiving until the peer is done too and every message it sent
  // before its BYE is here: they travel on the paths, the BYE on the side
  // channel, and either may arrive first.
  while (!(bye_received_ && HasPeerMessages()) && !side_closed_ &&
         Clock::now() < deadline) {
    if (!Progress().ok()) break;
    WaitForEvents(std::chrono::milliseconds(1));
  }
  if (!side_closed_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    (void)side_->FlushFor(std::max(left, std::chrono::milliseconds(0)));
  }
  UnregisterFromAgent();
  return Status::OK();
}

}  // namespace rdma_bond
