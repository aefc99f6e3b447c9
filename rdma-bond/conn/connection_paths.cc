// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Connection: the side channel and the life of each path (creation,
// connection, probing, source ports, failure, reset, recovery).

#include "rdma_bond/connection.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "conn/connection_internal.h"

namespace rdma_bond {

using namespace conn_detail;  // NOLINT(build/namespaces)

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
    case SideMessageType::kAuth:  // The channel's own; never delivered.
      return Status::Corruption("side channel: unexpected " +
                                std::string(ToString(m.type)) +
                                " after setup");
    case SideMessageType::kActive: {
      Result<ActiveMessage> a = DecodeActive(m.body);
      if (!a.ok()) return a.status();
      TakePeerView(a->seq, a->bond, nullptr);
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
      // Each reset takes the next incarnation, and both ends count the
      // same resets, but the peer may be a little ahead: when our own reset
      // timed out after the peer had completed it (its ACK came late, under
      // a flapping link), the peer counts it and we do not, so its next
      // reset is two ahead.  A jump beyond kMaxIncarnationLead is refused:
      // a peer that sent 0xffffffff could never be reset again.
      if (uint64_t{r->incarnation} >
          uint64_t{p->incarnation} + kMaxIncarnationLead) {
        return Status::Corruption(
            "side channel: PATH_RESET of path " + std::to_string(p->local) +
            "," + std::to_string(p->remote) + " jumps from incarnation " +
            std::to_string(p->incarnation) + " to " +
            std::to_string(r->incarnation) + " (at most " +
            std::to_string(uint64_t{p->incarnation} + kMaxIncarnationLead) +
            ")");
      }
      if (Status s = CheckResetEndpoint(*p, r->qp, "PATH_RESET"); !s.ok()) {
        return s;
      }
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
      if (Status s = CheckResetEndpoint(*p, r->qp, "PATH_RESET_ACK");
          !s.ok()) {
        return s;
      }
      if (p->state == PathState::kResetting &&
          uint64_t{r->incarnation} == uint64_t{p->incarnation} + 1) {
        p->incarnation = r->incarnation;
        ConnectPath(*p, r->qp);
      }
      return Status::OK();
    }
    case SideMessageType::kData:
      return HandleData(m);
    case SideMessageType::kBye: {
      Result<ByeMessage> bye = DecodeBye(m.body);
      if (!bye.ok()) return bye.status();
      peer_last_seq_ = bye->last_seq;
      bye_received_ = true;
      return Status::OK();
    }
  }
  return Status::OK();
}

Status Connection::HandleData(const SideMessage& m) {
  Result<DataMessage> d = DecodeData(m.body);
  if (!d.ok()) return d.status();
  if (d->payload.size() > options_.max_message_size) {
    return Status::Corruption("side channel: DATA of " +
                              std::to_string(d->payload.size()) +
                              " bytes exceeds max_message_size " +
                              std::to_string(options_.max_message_size));
  }
  stats_.tcp_messages_received++;
  if (d->type == kData) {
    Deliver(d->seq, kData, d->payload, 0, d->payload.size());
    return Status::OK();
  }
  if (d->type != kWriteNotice) {
    return Status::Corruption("side channel: DATA of type " +
                              std::to_string(d->type));
  }
  if (d->offset > options_.write_region_size ||
      d->payload.size() > options_.write_region_size - d->offset) {
    return Status::Corruption(
        "side channel: DATA writes " + std::to_string(d->payload.size()) +
        " bytes at offset " + std::to_string(d->offset) +
        " of a write region of " +
        std::to_string(options_.write_region_size));
  }
  // A duplicate (the write came on a path too) must not overwrite what
  // the application may have changed since: only a new one is copied.
  if (d->seq >= next_deliver_ && !reorder_.count(d->seq)) {
    std::memcpy(write_region_.get() + d->offset, d->payload.data(),
                d->payload.size());
  }
  Deliver(d->seq, kWriteNotice, {}, d->offset, d->payload.size());
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Paths.

bool Connection::Carries(const Path& p) const {
  return planner_->member(p.local).carries && peer_view_->Carries(p.remote);
}

bool Connection::Usable(const Path& p) const {
  return planner_->member(p.local).usable && p.remote < 32 &&
         (peer_view_->usable_mask & (1u << p.remote));
}

bool Connection::Alive(const Path& p) const {
  // (A broken local RNIC does not count: the reset's CreateQp() is what
  // finds it working again.)
  return planner_->member(p.local).alive && p.remote < 32 &&
         (peer_view_->alive_mask & (1u << p.remote));
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
  if (options_.fixed_source_port) {
    p.candidates = {static_cast<uint16_t>(kRoceSportMin |
                                          (key & kFlowLabelLowMask))};
    p.agent_hints = 0;
    p.candidate = 0;
    p.sport = p.candidates[0];
    return true;
  }
  Result<std::vector<uint16_t>> ports =
      planner_->Candidates(p.local, key, options_.max_probe_attempts);
  if (ports.ok() && !ports->empty()) {
    // The ports the agent validated come first, then our own.  Every
    // connection gets them in the same order: each starts at its own
    // (spread_key), so that connections spread over the validated ports
    // (and OVS's buckets) and a port the agent stops validating moves a
    // few paths, not all of them.
    p.candidates = AgentHints(p);
    p.agent_hints = p.candidates.size();
    if (p.agent_hints > 1) {
      std::rotate(p.candidates.begin(),
                  p.candidates.begin() + key % p.agent_hints,
                  p.candidates.end());
    }
    for (uint16_t port : *ports) {
      if (std::find(p.candidates.begin(),
                    p.candidates.begin() + p.agent_hints,
                    port) == p.candidates.begin() + p.agent_hints) {
        p.candidates.push_back(port);
      }
    }
  } else {
    // Unusable member: any port, so that the QP can still be connected.
    p.candidates = {static_cast<uint16_t>(kRoceSportMin |
                                          (key & kFlowLabelLowMask))};
    p.agent_hints = 0;
  }
  p.candidate = 0;
  p.sport = p.candidates[0];
  return ports.ok();
}

void Connection::NoteRnicHealth(size_t r, bool healthy) {
  if (r >= rnic_broken_.size() || rnic_broken_[r] == !healthy) return;
  rnic_broken_[r] = !healthy;
  if (Tracing()) {
    Trace(nullptr, rnics_[r]->name() + (healthy ? " creates QPs again"
                                                : " cannot create QPs"));
  }
  if (established_) AnnounceView();
}

void Connection::AnnounceView() {
  const BondView view = LocalView();
  if (view == *sent_view_) return;
  ActiveMessage m;
  m.bond = view;
  m.seq = ++view_seq_;
  *sent_view_ = view;
  (void)SendSide(SideMessageType::kActive, EncodeActive(m));
  SendViewOnPaths();
}

void Connection::SendViewOnPaths() {
  if (view_seq_ == 0) return;
  const size_t limit =
      std::min<size_t>(options_.send_window, options_.qp.max_send_wr);
  std::vector<uint8_t> body;
  for (auto& path : paths_) {
    Path& p = *path;
    // A path probing to carry takes the view right behind its probe: when
    // a member takes over, its paths have not carried yet, and the peer,
    // still sending toward the member that died, learns it a round trip
    // sooner than from the path once up (a lost view costs nothing: the
    // probe fails with it, and the path takes the view again when it is
    // up).
    const bool carrying = p.state == PathState::kUp ||
                          p.state == PathState::kProbing;
    if (!carrying || !Carries(p) || p.view_inflight ||
        p.view_posted == view_seq_ || p.wrs_inflight + 1 > limit) {
      continue;
    }
    if (body.empty()) {
      ActiveMessage m;
      m.bond = *sent_view_;
      m.seq = view_seq_;
      body = EncodeActive(m);
    }
    uint8_t* slot = probe_pool_.get() + (2 * p.index + 1) * kControlSlot;
    Header h;
    h.type = kView;
    h.length = static_cast<uint32_t>(body.size());
    WriteHeader(slot, h);
    std::memcpy(slot + kHeaderSize, body.data(), body.size());
    Status s = p.qp->PostSend(MakeWrId(WrKind::kProbe, p.index, p.epoch,
                                       kViewWr),
                              probe_mrs_[p.local],
                              {slot, kHeaderSize + body.size()});
    if (!s.ok()) {
      FailPath(p, "post ACTIVE: " + s.message());
      continue;
    }
    p.wrs_inflight++;
    p.view_inflight = true;
    p.view_posted = view_seq_;
    stats_.views_sent_on_paths++;
  }
}

void Connection::TakePeerView(uint64_t seq, const BondView& view,
                              const Path* path) {
  if (seq <= peer_view_seq_) return;  // A repeat, or older than ours.
  peer_view_seq_ = seq;
  if (path) stats_.views_from_paths++;
  if (Tracing() && !(view == *peer_view_)) {
    Trace(path, "peer's members: usable mask " +
                    HexPrefixed(view.usable_mask) + ", active " +
                    (view.active ? std::to_string(*view.active)
                                 : std::string("none")) +
                    (path ? " (ACTIVE " + std::to_string(seq) + " on a path)"
                          : std::string()));
  }
  *peer_view_ = view;
  for (auto& p : paths_) Reconcile(*p);
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
  NoteRnicHealth(p.local, qp.ok());
  if (!qp.ok()) return qp.status();
  p.qp = std::move(*qp);
  p.qpn = p.qp->local().qpn;
  p.epoch = (p.epoch + 1) & kEpochMask;
  p.wrs_inflight = 0;
  p.view_inflight = false;
  p.view_posted = 0;
  return Status::OK();
}

void Connection::RecordPinning(Path& p) {
  std::vector<QpPinning>& list = p.stats.pinnings;
  const QpPinning now{p.qpn, p.sport};
  if (!list.empty() && list.back() == now) return;
  if (list.size() == PathStats::kMaxPinnings) list.erase(list.begin());
  list.push_back(now);
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
  // An ACTIVE in flight may be lost: sent again when the path is up.
  p.view_inflight = false;
  p.view_posted = 0;
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
  if (Tracing()) Trace(&p, "down: " + reason);
}

void Connection::Trace(const Path* p, const std::string& what) const {
  if (!options_.trace) return;
  if (!p) {
    options_.trace(what);
    return;
  }
  options_.trace("path " + local_members_[p->local] + "->" +
                 remote_members_[p->remote] + ": " + what);
}

void Connection::StartReset(Path& p) {
  if (side_closed_ || bye_received_) return;
  if (p.incarnation == UINT32_MAX) {
    // 2^32 - 1 resets: the next incarnation would not fit the message.
    p.stats.last_error = "no incarnation left to reset the path with";
    p.retry_at = Clock::time_point::max();
    return;
  }
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
  if (Tracing()) {
    Trace(&p, "reset sent (incarnation " + std::to_string(m.incarnation) +
                  ")");
  }
}

Status Connection::CheckResetEndpoint(const Path& p, const QpEndpoint& remote,
                                      std::string_view what) const {
  if (remote.ip == p.peer.ip && remote.gid == p.peer.gid &&
      remote.mac == p.peer.mac && remote.mtu == p.peer.mtu) {
    return Status::OK();
  }
  return Status::Corruption(
      "side channel: " + std::string(what) + " of path " +
      std::to_string(p.local) + "," + std::to_string(p.remote) +
      " moves the peer's QP from " + ToString(p.peer.ip) + " (MAC " +
      ToString(p.peer.mac) + ", MTU " + std::to_string(p.peer.mtu) +
      ") to " + ToString(remote.ip) + " (MAC " + ToString(remote.mac) +
      ", MTU " + std::to_string(remote.mtu) +
      "): a reset brings a new QP, not a new address");
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
  RecordPinning(p);
  if (Tracing()) {
    Trace(&p, "connected (incarnation " + std::to_string(p.incarnation) +
                  ", QP " + std::to_string(p.qpn) + ", source port " +
                  Hex16(p.sport) + ")");
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
  uint8_t* probe = probe_pool_.get() + 2 * p.index * kControlSlot;
  Header h;
  h.seq = p.incarnation;
  h.type = kProbe;
  WriteHeader(probe, h);
  Status s = p.qp->PostSend(MakeWrId(WrKind::kProbe, p.index, p.epoch,
                                     kProbeWr),
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
  if (Tracing()) Trace(&p, "moving off source port " + Hex16(p.sport) +
                               ": " + why);
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
  if (options_.fixed_source_port) return;  // Pinning off: keep the port.
  p.candidate = (p.candidate + 1) % p.candidates.size();
  const uint16_t sport = p.candidates[p.candidate];
  p.stats.repicks++;
  Status s = p.qp->SetSourcePort(sport);
  p.sport = sport;
  NoteInPlace(s);
  if (s.ok()) RecordPinning(p);
  if (s.IsNotSupported()) {
    // Reconnect instead: the new QP pair connects with the new port.
    FailPath(p, "source port change not supported: reconnecting with " +
                    Hex16(sport));
  } else if (!s.ok()) {
    FailPath(p, "set source port " + Hex16(sport) + ": " + s.message());
  }
}

void Connection::NoteInPlace(const Status& s) {
  if (s.ok()) {
    sport_in_place_ = true;
  } else if (s.IsNotSupported()) {
    sport_in_place_ = false;
  }
}

void Connection::FollowBucket(Path& p) {
  if (!planner_->rdma_rebalance() || !SharesInUse() || p.share <= 0) return;
  // Both members usable: OVS moved the bucket to balance the load, not
  // away from a failure (a failed member's paths go down, and keep their
  // share for when it is back).
  const std::optional<size_t> to = planner_->MapsTo(p.sport);
  if (!to || *to == p.local) return;
  const size_t n_remote = remote_members_.size();
  Path& q = *paths_[*to * n_remote + p.remote];
  if (!Usable(q) || !planner_->member(p.local).usable) return;
  q.share += p.share;
  p.share = 0;
  stats_.shares_followed++;
  // The path that gained starts even with the others.
  double least = -1;
  for (auto& path : paths_) {
    if (path->share > 0 && path.get() != &q &&
        (least < 0 || path->vbytes < least)) {
      least = path->vbytes;
    }
  }
  q.vbytes = std::max(q.vbytes, least);
  if (Tracing()) {
    Trace(&p, "its bucket moved to " + local_members_[*to] +
                  ": its share goes to the path " + local_members_[*to] +
                  "->" + remote_members_[p.remote] + " (share now " +
                  std::to_string(q.share) + ")");
  }
}

bool Connection::RepinInPlace(Path& p, std::string_view why) {
  const uint16_t old = p.sport;
  p.round++;
  RefreshCandidates(p);
  p.stats.repins++;
  stats_.repins++;
  Status s = p.qp->SetSourcePort(p.sport);
  NoteInPlace(s);
  if (!s.ok()) {
    FailPath(p, "re-pin " + Hex16(old) + " -> " + Hex16(p.sport) +
                    std::string(why) + ": " + s.message());
    return false;
  }
  RecordPinning(p);
  if (Tracing()) {
    Trace(&p, "re-pinned in place " + Hex16(old) + " -> " + Hex16(p.sport) +
                  std::string(why));
  }
  return true;
}

void Connection::Reconcile(Path& p) {
  const bool alive = Alive(p);
  const bool usable = Usable(p);
  const bool carries = Carries(p);
  const bool hashed = planner_->policy() == PathPolicy::kHashed;
  const MemberPlan& m = planner_->member(p.local);
  switch (p.state) {
    case PathState::kReady:
    case PathState::kProbing:
    case PathState::kUp: {
      if (!alive) {
        FailPath(p, m.alive ? "the peer's member " +
                                  remote_members_[p.remote] + " is unusable"
                            : m.reason);
        p.parked = true;
        return;
      }
      if (!usable) {
        // Both members are enabled, one may not carry (in balance-tcp: it
        // owns no bucket).  A ready path waits as it is, to carry at once
        // when it may; one that was up stops (its work is re-sent) and is
        // connected again.
        if (p.state != PathState::kReady) {
          FailPath(p, m.usable ? "the peer's member " +
                                     remote_members_[p.remote] +
                                     " is unusable"
                               : m.reason);
        }
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
        FollowBucket(p);
        if (!RepinInPlace(p, "")) return;
      }
      if (p.state == PathState::kReady && carries) {
        StartProbe(p);
        // The peer's frames came in on this QP since it connected (its
        // probe, or the view it sends behind its probe when its member
        // takes over), so the way back works, and the agent validated the
        // port: carry at once.  The probe's acknowledgement would only
        // confirm it a round trip later; a port that fails after all fails
        // the path, and its work is re-sent.
        if (p.state == PathState::kProbing && p.peer_probe_seen &&
            p.candidate < p.agent_hints) {
          MarkUp(p, "the agent's, the peer's frames seen: not waiting for "
                    "the probe");
          stats_.ups_before_ack++;
        }
      }
      return;
    }
    case PathState::kDown:
      if (alive && p.parked) {
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
      if (!alive) p.parked = true;
      return;
    case PathState::kIdle:
    case PathState::kResetting:
      return;
  }
}

void Connection::RunTimers() {
  const Clock::time_point now = Clock::now();
  // The backoff of a path that ran out of ports spares probes while other
  // paths carry.  With none up it only makes the stall longer (the member
  // that just came back may work now): such paths are retried at once.
  const bool carrying = HasCarryingPath();
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
        if (Alive(p) && (now >= p.retry_at || (p.exhausted && !carrying)) &&
            !bye_received_ && !side_closed_) {
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
  // With TCP fallback the side channel carries meanwhile: the connection
  // is lost only with it.
  if (established_ && !bye_received_ && failed_.ok() &&
      !options_.tcp_fallback &&
      now - *no_path_since_ > options_.establish_timeout) {
    failed_ = Status::Unavailable(
        "rdma-bond connection lost: no path could carry traffic for " +
        std::to_string(options_.establish_timeout.count()) +
        " ms: " + DescribePaths());
  }
}

}  // namespace rdma_bond
