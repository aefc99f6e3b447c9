// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/connection.h"

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

namespace rdma_bond {

namespace {

// The header every message carries on a path, little-endian:
//   offset 0  u64 connection sequence (probes: the path's incarnation)
//          8  u8  MessageType
//          9  3 bytes zero
//         12  u32 payload length (write notices: bytes written)
//         16  u64 write notices: offset in the receiver's write region
enum MessageType : uint8_t {
  kData = 1,
  kProbe = 2,
  kWriteNotice = 3,
};
constexpr size_t kHeaderSize = 24;

struct Header {
  uint64_t seq = 0;
  uint8_t type = 0;
  uint32_t length = 0;
  uint64_t offset = 0;
};

void PutLe(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

void WriteHeader(uint8_t* p, const Header& h) {
  std::memset(p, 0, kHeaderSize);
  PutLe(p, h.seq, 8);
  p[8] = h.type;
  PutLe(p + 12, h.length, 4);
  PutLe(p + 16, h.offset, 8);
}

Header ReadHeader(const uint8_t* p) {
  Header h;
  h.seq = GetLe(p, 8);
  h.type = p[8];
  h.length = static_cast<uint32_t>(GetLe(p + 12, 4));
  h.offset = GetLe(p + 16, 8);
  return h;
}

// Work request ids: kind (2 bits) | path (6 bits) | path epoch (24 bits) |
// value (32 bits: a send slot or a receive buffer).  The epoch changes
// whenever the path fails or gets a new QP, so that completions of an old
// QP are recognized and ignored (except received data, which is valid).
enum class WrKind : uint64_t { kItem = 0, kWrite = 1, kRecv = 2, kProbe = 3 };
constexpr int kKindShift = 62;
constexpr int kPathShift = 56;
constexpr int kEpochShift = 32;
constexpr uint64_t kPathMask = 0x3f;
constexpr uint32_t kEpochMask = 0xffffff;
constexpr size_t kMaxPaths = kPathMask + 1;
static_assert(kPathShift + 6 == kKindShift, "path bits end at the kind");
static_assert(kEpochShift + 24 == kPathShift, "epoch bits end at the path");

uint64_t MakeWrId(WrKind kind, size_t path, uint32_t epoch, uint32_t value) {
  return static_cast<uint64_t>(kind) << kKindShift |
         static_cast<uint64_t>(path & kPathMask) << kPathShift |
         static_cast<uint64_t>(epoch & kEpochMask) << kEpochShift | value;
}

struct WrId {
  WrKind kind;
  size_t path;
  uint32_t epoch;
  uint32_t value;
};

WrId DecodeWrId(uint64_t id) {
  return WrId{static_cast<WrKind>(id >> kKindShift),
              static_cast<size_t>((id >> kPathShift) & kPathMask),
              static_cast<uint32_t>((id >> kEpochShift) & kEpochMask),
              static_cast<uint32_t>(id)};
}

// Completions fetched per PollCompletions() call, and the most batches
// taken from one RNIC per Progress() (so that a busy RNIC cannot starve
// the side channel and the timers).
constexpr size_t kPollBatch = 64;
constexpr size_t kMaxBatchesPerPoll = 16;

std::string Hex16(uint16_t v) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%04x", v);
  return text;
}

}  // namespace

enum class PathState : uint8_t {
  kIdle,        // QP created, not connected yet (setup).
  kResetting,   // New QP, PATH_RESET sent, waiting for the ACK.
  kReady,       // Connected; does not carry (or waits to be probed).
  kProbing,     // Connected; our probe is outstanding.
  kUp,          // Our probe was acknowledged: may carry.
  kDown,        // Failed; reconnected at retry_at when both ends usable.
};

namespace {
std::string_view ToString(PathState state) {
  switch (state) {
    case PathState::kIdle: return "idle";
    case PathState::kResetting: return "resetting";
    case PathState::kReady: return "ready";
    case PathState::kProbing: return "probing";
    case PathState::kUp: return "up";
    case PathState::kDown: return "down";
  }
  return "unknown";
}
}  // namespace

struct Connection::Path {
  size_t index = 0;                 // In paths_: local * n_remote + remote.
  size_t local = 0, remote = 0;     // Member indexes on each side.
  Rnic* rnic = nullptr;
  std::unique_ptr<QueuePair> qp;
  PathState state = PathState::kIdle;
  uint32_t epoch = 0;               // Of our QP (see WrId).
  uint32_t incarnation = 0;         // Connections agreed with the peer.
  // The peer's write region as registered on its RNIC of this path.
  uint64_t region_addr = 0, region_length = 0;
  uint32_t region_rkey = 0;
  // Source ports: the current one, the candidates and which one it is.
  uint16_t sport = 0;
  std::vector<uint16_t> candidates;
  size_t candidate = 0;
  uint32_t attempts = 0;            // Ports tried in this round.
  uint32_t round = 0;               // Candidate lists used (new key each).
  bool exhausted = false;           // Failed after max_probe_attempts.
  bool parked = false;              // Down because a member is unusable.
  bool peer_probe_seen = false;     // Something arrived on this QP.
  Clock::time_point probe_deadline{};
  Clock::time_point retry_at{};
  Clock::time_point reset_deadline{};
  size_t wrs_inflight = 0;          // Our send-queue work requests.
  std::unique_ptr<uint8_t[]> recv_mem;
  MemoryRegion recv_mr;
  size_t recv_count = 0;
  PathStats stats;
};

// ---------------------------------------------------------------------------
// Setup.

Connection::Connection(std::unique_ptr<SideChannel> side, bool initiator,
                       std::vector<Rnic*> rnics,
                       const ConnectionOptions& options)
    : options_(options),
      initiator_(initiator),
      rnics_(std::move(rnics)),
      side_(std::move(side)) {
  for (Rnic* rnic : rnics_) local_members_.push_back(rnic->member());
}

Connection::~Connection() {
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
  if (rnics.empty() || std::find(rnics.begin(), rnics.end(), nullptr) !=
                           rnics.end()) {
    return Status::InvalidArgument(prefix +
                                   ": give one RNIC per bond member");
  }
  if (options.max_message_size == 0 || options.send_window == 0 ||
      options.recv_buffers == 0 || options.write_region_size == 0 ||
      options.max_probe_attempts == 0) {
    return Status::InvalidArgument(
        prefix + ": max_message_size, send_window, recv_buffers, "
                 "write_region_size and max_probe_attempts must be positive");
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
  planner_ = std::move(*plan);

  slot_size_ = kHeaderSize + options_.max_message_size;
  n_slots_ = static_cast<size_t>(options_.send_window) * rnics_.size();
  send_pool_.reset(new uint8_t[n_slots_ * slot_size_]());
  slot_seq_.assign(n_slots_, 0);
  for (size_t i = n_slots_; i-- > 0;) {
    free_slots_.push_back(static_cast<uint32_t>(i));
  }
  probe_pool_.reset(new uint8_t[kMaxPaths * kHeaderSize]());
  write_region_.reset(new uint8_t[options_.write_region_size]());
  for (Rnic* rnic : rnics_) {
    Result<MemoryRegion> mr = rnic->Register(send_pool_.get(),
                                             n_slots_ * slot_size_);
    if (!mr.ok()) return mr.status().WithPrefix(rnic->name());
    send_mrs_.push_back(*mr);
    mr = rnic->Register(probe_pool_.get(), kMaxPaths * kHeaderSize);
    if (!mr.ok()) return mr.status().WithPrefix(rnic->name());
    probe_mrs_.push_back(*mr);
    mr = rnic->Register(write_region_.get(), options_.write_region_size);
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
  return view;
}

Status Connection::Handshake() {
  HelloMessage hello;
  hello.members = local_members_;
  hello.bond = LocalView();
  hello.max_message_size = options_.max_message_size;
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
  peer_view_ = peer->bond;
  sent_view_ = hello.bond;

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
      paths_.push_back(std::move(path));
      s = CreatePathQp(p);
      if (!s.ok()) return s.WithPrefix(p.rnic->name());
      p.recv_count = n_recv;
      p.recv_mem.reset(new uint8_t[n_recv * slot_size_]());
      Result<MemoryRegion> mr =
          p.rnic->Register(p.recv_mem.get(), n_recv * slot_size_);
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
    peer_region_length_ = peer_region_length_ == 0
                              ? e.region_length
                              : std::min(peer_region_length_,
                                         e.region_length);
  }
  for (auto& p : paths_) {
    p->incarnation = 1;
    ConnectPath(*p, *remote[p->index]);
  }
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

Connection::Path* Connection::PickPath(size_t wrs) {
  const size_t limit =
      std::min<size_t>(options_.send_window, options_.qp.max_send_wr);
  Path* best = nullptr;
  const size_t n = paths_.size();
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
  if (unsent_.empty()) {
    stalled_ = false;
  } else if (!HasCarryingPath() && !stalled_) {
    stalled_ = true;
    stats_.stalls++;
  }
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
        p.state = PathState::kUp;
        p.attempts = 0;
        p.exhausted = false;
      }
      return;
    }
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
    } else if (h.type != kData && h.type != kProbe && h.type != kWriteNotice) {
      malformed = "type " + std::to_string(h.type);
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
  p.stats.messages_received++;
  if (h.type == kData) {
    Deliver(h.seq, kData, {b + kHeaderSize, h.length}, 0, h.length);
  } else {
    Deliver(h.seq, kWriteNotice, {}, h.offset, h.length);
  }
}

// ---------------------------------------------------------------------------
// Side channel.

Status Connection::SendSide(SideMessageType type,
                            const std::vector<uint8_t>& body) {
  if (side_closed_) return Status::OK();
  Status s = side_->Send(type, body);
  if (!s.ok() && !bye_received_ && failed_.ok() && established_) {
    failed_ = s.WithPrefix("rdma-bond connection lost");
  }
  return s;
}

Connection::Path* Connection::FindPath(const PathId& id) {
  const size_t local = id.receiver_member, remote = id.sender_member;
  if (local >= rnics_.size() || remote >= remote_members_.size()) {
    return nullptr;
  }
  return paths_[local * remote_members_.size() + remote].get();
}

Status Connection::PollSide() {
  if (side_closed_) return Status::OK();
  Result<std::vector<SideMessage>> got = side_->Poll();
  if (!got.ok()) {
    side_closed_ = true;
    if (bye_received_) return Status::OK();
    return got.status().WithPrefix(
        "rdma-bond connection lost (no BYE from the peer)");
  }
  for (const SideMessage& m : *got) {
    Status s = HandleSide(m);
    if (!s.ok()) return s.WithPrefix("rdma-bond connection");
  }
  return Status::OK();
}

Status Connection::HandleSide(const SideMessage& m) {
  switch (m.type) {
    case SideMessageType::kHello:
    case SideMessageType::kEndpoints:
      return Status::Corruption("side channel: unexpected " +
                                std::string(ToString(m.type)) +
                                " after setup");
    case SideMessageType::kActive: {
      Result<ActiveMessage> a = DecodeActive(m.body);
      if (!a.ok()) return a.status();
      peer_view_ = a->bond;
      for (auto& p : paths_) Reconcile(*p);
      return Status::OK();
    }
    case SideMessageType::kRepick: {
      Result<RepickMessage> r = DecodeRepick(m.body);
      if (!r.ok()) return r.status();
      Path* p = FindPath(r->path);
      if (!p) return Status::Corruption("side channel: REPICK of no path");
      // A request about an older QP pair, or a path that came up since
      // (our probe was acknowledged, so our port works): ignored.
      if (r->incarnation == p->incarnation &&
          p->state == PathState::kProbing) {
        MovePort(*p, "the peer did not receive our probe");
      }
      return Status::OK();
    }
    case SideMessageType::kPathReset: {
      Result<PathResetMessage> r = DecodePathReset(m.body);
      if (!r.ok()) return r.status();
      Path* p = FindPath(r->path);
      if (!p) return Status::Corruption("side channel: PATH_RESET of no path");
      if (r->incarnation <= p->incarnation) return Status::OK();  // Stale.
      if (p->state == PathState::kResetting && initiator_) {
        return Status::OK();  // Both reset: ours wins, the peer acks it.
      }
      if (p->state != PathState::kResetting) {
        FailPath(*p, "the peer reset the path");
        Status s = CreatePathQp(*p);
        if (!s.ok()) {
          p->stats.last_error = "new QP: " + s.message();
          p->retry_at = Clock::now() + options_.failed_retry;
          return Status::OK();
        }
        p->stats.resets++;
      }
      p->incarnation = r->incarnation;
      ConnectPath(*p, r->qp);
      PathResetMessage ack;
      ack.path = PathId{static_cast<uint8_t>(p->local),
                        static_cast<uint8_t>(p->remote)};
      ack.incarnation = p->incarnation;
      ack.qp = p->qp->local();
      return SendSide(SideMessageType::kPathResetAck, EncodePathReset(ack));
    }
    case SideMessageType::kPathResetAck: {
      Result<PathResetMessage> r = DecodePathReset(m.body);
      if (!r.ok()) return r.status();
      Path* p = FindPath(r->path);
      if (!p) {
        return Status::Corruption("side channel: PATH_RESET_ACK of no path");
      }
      if (p->state == PathState::kResetting &&
          r->incarnation == p->incarnation + 1) {
        p->incarnation = r->incarnation;
        ConnectPath(*p, r->qp);
      }
      return Status::OK();
    }
    case SideMessageType::kBye:
      bye_received_ = true;
      return Status::OK();
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Paths.

bool Connection::Carries(const Path& p) const {
  return planner_->member(p.local).carries && peer_view_.Carries(p.remote);
}

bool Connection::Usable(const Path& p) const {
  return planner_->member(p.local).usable && p.remote < 32 &&
         (peer_view_.usable_mask & (1u << p.remote));
}

bool Connection::HasCarryingPath() const {
  for (const auto& p : paths_) {
    if (p->state == PathState::kUp && Carries(*p)) return true;
  }
  return false;
}

bool Connection::RefreshCandidates(Path& p) {
  const uint64_t key =
      options_.spread_key ^
      MixSpreadKey((static_cast<uint64_t>(p.round) << 32) |
                   (initiator_ ? 1ull << 16 : 0) | (p.local << 8) | p.remote);
  Result<std::vector<uint16_t>> ports =
      planner_->Candidates(p.local, key, options_.max_probe_attempts);
  if (ports.ok() && !ports->empty()) {
    p.candidates = std::move(*ports);
  } else {
    // Unusable member: any port, so that the QP can still be connected.
    p.candidates = {static_cast<uint16_t>(kRoceSportMin |
                                          (key & kFlowLabelLowMask))};
  }
  p.candidate = 0;
  p.sport = p.candidates[0];
  return ports.ok();
}

Status Connection::CreatePathQp(Path& p) {
  if (p.qp) {
    // Receives that completed on the old QP were acknowledged to the peer,
    // which will not send them again: take them before the QP and its
    // completions go.
    PollRnic(p.local);
  }
  p.qp.reset();
  Result<std::unique_ptr<QueuePair>> qp = p.rnic->CreateQp(options_.qp);
  if (!qp.ok()) return qp.status();
  p.qp = std::move(*qp);
  p.epoch = (p.epoch + 1) & kEpochMask;
  p.wrs_inflight = 0;
  return Status::OK();
}

void Connection::FailPath(Path& p, const std::string& reason) {
  if (p.state == PathState::kDown || p.state == PathState::kIdle) return;
  p.stats.last_error = reason;
  p.stats.failures++;
  stats_.path_failures++;
  // Stop the QP now: its work is flushed instead of retransmitted, and
  // nothing more leaves from its member.
  if (p.qp && p.qp->state() != QpState::kError) p.qp->SetError();
  p.epoch = (p.epoch + 1) & kEpochMask;
  p.wrs_inflight = 0;
  for (auto& [seq, item] : items_) {
    if (item.path != static_cast<int>(p.index)) continue;
    item.path = -1;
    unsent_.insert(seq);
    p.stats.resent_from++;
    stats_.resent++;
  }
  p.state = PathState::kDown;
  p.peer_probe_seen = false;
  p.retry_at = Clock::now();
}

void Connection::StartReset(Path& p) {
  if (side_closed_ || bye_received_) return;
  Status s = CreatePathQp(p);
  if (!s.ok()) {
    p.stats.last_error = "new QP: " + s.message();
    p.retry_at = Clock::now() + options_.failed_retry;
    return;
  }
  p.state = PathState::kResetting;
  p.reset_deadline = Clock::now() + options_.failed_retry;
  p.stats.resets++;
  PathResetMessage m;
  m.path =
      PathId{static_cast<uint8_t>(p.local), static_cast<uint8_t>(p.remote)};
  m.incarnation = p.incarnation + 1;
  m.qp = p.qp->local();
  (void)SendSide(SideMessageType::kPathReset, EncodePathReset(m));
}

void Connection::ConnectPath(Path& p, const QpEndpoint& remote) {
  // Completions of this RNIC's old QPs first: a receive that completed
  // there must be handled before its buffer is posted again.
  PollRnic(p.local);
  Status s = p.qp->Connect(remote, p.sport);
  p.state = PathState::kReady;
  if (!s.ok()) {
    FailPath(p, "connect: " + s.message());
    return;
  }
  p.peer_probe_seen = false;
  for (size_t k = 0; k < p.recv_count; k++) {
    s = p.qp->PostRecv(
        MakeWrId(WrKind::kRecv, p.index, p.epoch, static_cast<uint32_t>(k)),
        p.recv_mr, {p.recv_mem.get() + k * slot_size_, slot_size_});
    if (!s.ok()) {
      FailPath(p, "post receive: " + s.message());
      return;
    }
  }
  if (Carries(p)) StartProbe(p);
}

void Connection::StartProbe(Path& p) {
  if (p.state != PathState::kReady) return;
  uint8_t* probe = probe_pool_.get() + p.index * kHeaderSize;
  Header h;
  h.seq = p.incarnation;
  h.type = kProbe;
  WriteHeader(probe, h);
  Status s = p.qp->PostSend(MakeWrId(WrKind::kProbe, p.index, p.epoch, 0),
                            probe_mrs_[p.local], {probe, kHeaderSize});
  if (!s.ok()) {
    FailPath(p, "post probe: " + s.message());
    return;
  }
  p.wrs_inflight++;
  p.state = PathState::kProbing;
  p.stats.probe_attempts++;
  p.probe_deadline = Clock::now() + options_.probe_timeout;
}

void Connection::MovePort(Path& p, const std::string& why) {
  if (++p.attempts >= options_.max_probe_attempts) {
    FailPath(p, why);
    p.exhausted = true;
    p.stats.last_error = "no working source port after " +
                         std::to_string(options_.max_probe_attempts) +
                         " attempts (last " + Hex16(p.sport) + ": " + why +
                         "); retrying in " +
                         std::to_string(options_.failed_retry.count()) +
                         " ms";
    p.retry_at = Clock::now() + options_.failed_retry;
    return;
  }
  p.candidate = (p.candidate + 1) % p.candidates.size();
  const uint16_t sport = p.candidates[p.candidate];
  p.stats.repicks++;
  Status s = p.qp->SetSourcePort(sport);
  p.sport = sport;
  if (s.IsNotSupported()) {
    // Reconnect instead: the new QP pair connects with the new port.
    FailPath(p, "source port change not supported: reconnecting with " +
                    Hex16(sport));
  } else if (!s.ok()) {
    FailPath(p, "set source port " + Hex16(sport) + ": " + s.message());
  }
}

void Connection::Reconcile(Path& p) {
  const bool usable = Usable(p);
  const bool carries = Carries(p);
  const bool hashed = planner_->policy() == PathPolicy::kHashed;
  switch (p.state) {
    case PathState::kReady:
    case PathState::kProbing:
    case PathState::kUp: {
      if (!usable) {
        const MemberPlan& m = planner_->member(p.local);
        FailPath(p, m.usable ? "the peer's member " +
                                   remote_members_[p.remote] +
                                   " is unusable"
                             : m.reason);
        p.parked = true;
        return;
      }
      if (p.state != PathState::kReady && !carries) {
        FailPath(p, "no longer carries: " +
                        (planner_->member(p.local).carries
                             ? "the peer's active member is not " +
                                   remote_members_[p.remote]
                             : planner_->member(p.local).reason));
        return;
      }
      if (hashed && !planner_->StillMaps(p.local, p.sport)) {
        const uint16_t old = p.sport;
        p.round++;
        RefreshCandidates(p);
        p.stats.repins++;
        stats_.repins++;
        Status s = p.qp->SetSourcePort(p.sport);
        if (!s.ok()) {
          FailPath(p, "re-pin " + Hex16(old) + " -> " + Hex16(p.sport) +
                          ": " + s.message());
          return;
        }
      }
      if (p.state == PathState::kReady && carries) StartProbe(p);
      return;
    }
    case PathState::kDown:
      if (usable && p.parked) {
        p.parked = false;
        p.exhausted = false;
        p.attempts = 0;
        p.retry_at = Clock::now();
      }
      if (hashed && usable && !planner_->StillMaps(p.local, p.sport)) {
        p.round++;
        RefreshCandidates(p);
        p.stats.repins++;
        stats_.repins++;
      }
      if (!usable) p.parked = true;
      return;
    case PathState::kIdle:
    case PathState::kResetting:
      return;
  }
}

void Connection::RunTimers() {
  const Clock::time_point now = Clock::now();
  for (auto& path : paths_) {
    Path& p = *path;
    switch (p.state) {
      case PathState::kProbing:
        if (!p.peer_probe_seen && now >= p.probe_deadline && Carries(p)) {
          RepickMessage m;
          m.path = PathId{static_cast<uint8_t>(p.local),
                          static_cast<uint8_t>(p.remote)};
          m.incarnation = p.incarnation;
          (void)SendSide(SideMessageType::kRepick, EncodeRepick(m));
          p.probe_deadline = now + options_.probe_timeout;
        }
        break;
      case PathState::kDown:
        if (Usable(p) && now >= p.retry_at && !bye_received_ &&
            !side_closed_) {
          if (p.exhausted) {
            p.exhausted = false;
            p.attempts = 0;
            p.round++;
            RefreshCandidates(p);
          }
          StartReset(p);
        }
        break;
      case PathState::kResetting:
        if (now >= p.reset_deadline) {
          p.state = PathState::kDown;
          p.stats.last_error = "the peer did not answer PATH_RESET";
          p.retry_at = now;
        }
        break;
      default:
        break;
    }
  }
  if (HasCarryingPath()) {
    no_path_since_.reset();
    return;
  }
  if (!no_path_since_) no_path_since_ = now;
  if (established_ && !bye_received_ && failed_.ok() &&
      now - *no_path_since_ > options_.establish_timeout) {
    failed_ = Status::Unavailable(
        "rdma-bond connection lost: no path could carry traffic for " +
        std::to_string(options_.establish_timeout.count()) +
        " ms: " + DescribePaths());
  }
}

// ---------------------------------------------------------------------------
// Event loop.

Status Connection::Progress() {
  if (!failed_.ok()) return failed_;
  DeliverReady();
  for (size_t r = 0; r < rnics_.size(); r++) PollRnic(r);
  Status s = PollSide();
  if (!s.ok()) {
    if (failed_.ok()) failed_ = s;
    return failed_;
  }
  RunTimers();
  Schedule();
  if (!side_closed_) (void)side_->Flush();
  return failed_;
}

Status Connection::UpdateBond(const Bond& bond, uint32_t table_hash_impl) {
  if (!failed_.ok()) return failed_;
  Result<PathPlanner> plan =
      PathPlanner::Create(&bond, table_hash_impl, local_members_,
                          options_.local, options_.remote);
  if (!plan.ok()) {
    return plan.status().WithPrefix("rdma-bond connection: bond update");
  }
  planner_ = std::move(*plan);
  for (auto& p : paths_) Reconcile(*p);
  const BondView view = LocalView();
  if (!(view == sent_view_)) {
    ActiveMessage m;
    m.bond = view;
    sent_view_ = view;
    (void)SendSide(SideMessageType::kActive, EncodeActive(m));
  }
  Schedule();
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
  const Clock::time_point now = Clock::now();
  auto until = [now](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t - now)
        .count();
  };
  for (const auto& p : paths_) {
    if (p->state == PathState::kProbing) consider(until(p->probe_deadline));
    if (p->state == PathState::kDown && Usable(*p) && !side_closed_ &&
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
  for (const auto& p : paths_) {
    PathStats ps = p->stats;
    ps.state = std::string(p->exhausted && p->state == PathState::kDown
                               ? "failed"
                               : ToString(p->state));
    ps.up = p->state == PathState::kUp;
    ps.carries = Carries(*p);
    ps.sport = p->sport;
    s.paths.push_back(std::move(ps));
  }
  return s;
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
    (void)SendSide(SideMessageType::kBye, {});
  }
  // Keep receiving until the peer is done too, so that its last messages
  // (sent before its BYE) are delivered here.
  while (!bye_received_ && !side_closed_ && Clock::now() < deadline) {
    if (!Progress().ok()) break;
    WaitForEvents(std::chrono::milliseconds(1));
  }
  if (!side_closed_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    (void)side_->FlushFor(std::max(left, std::chrono::milliseconds(0)));
  }
  return Status::OK();
}

}  // namespace rdma_bond
