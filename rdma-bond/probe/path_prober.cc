// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "probe/path_prober.h"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "rdma_bond/predictor.h"

namespace rdma_bond {

namespace {

// REPLYs remembered per peer so that CONFIRMs can be matched: a few
// rounds of a peer probing from several members (64 ports x 3 tries each).
constexpr size_t kMaxRememberedReplies = 2048;

// Ports that last, remembered per peer: a few rounds' worth for every pair
// of a bond of kMaxProbeMembers members.
constexpr size_t kMaxLastingPorts = 512;

// Serial number arithmetic (RFC 1982): epochs wrap.
bool EpochIsNewer(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) > 0;
}

// A token bucket: 'rate' per second, at most 'burst'.
struct Bucket {
  double tokens = -1;               // -1: full at the first Take().
  int64_t at_us = 0;
  bool Take(int64_t now_us, double rate, double burst) {
    if (tokens < 0) {
      tokens = burst;
    } else if (now_us > at_us) {
      tokens = std::min(burst, tokens + (now_us - at_us) * rate / 1e6);
    }
    at_us = std::max(at_us, now_us);
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

uint64_t HashIp(const IpAddress& ip) {
  uint64_t h = ip.version;
  for (uint8_t b : ip.bytes) h = MixSpreadKey(h ^ b);
  return h;
}

}  // namespace

std::string_view ToString(PeerProbeState state) {
  switch (state) {
    case PeerProbeState::kIdle: return "idle";
    case PeerProbeState::kProbing: return "probing";
    case PeerProbeState::kComplete: return "complete";
    case PeerProbeState::kPartial: return "partial";
    case PeerProbeState::kUnreachable: return "unreachable";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// The prober's state.

namespace {

struct IpLess {
  bool operator()(const IpAddress& a, const IpAddress& b) const {
    return std::tie(a.version, a.bytes) < std::tie(b.version, b.bytes);
  }
};

// Where the frames of one local source port arrive: (a) and (b) of the
// rule.
struct Forward {
  size_t local_member = 0;
  uint8_t remote_member = 0;
  bool inconsistent = false;        // Reported in two places: never valid.
};

// What was seen since a round started (or since a reset).
struct Evidence {
  std::map<uint16_t, Forward> forward;          // By local source port.
  std::set<std::pair<size_t, uint8_t>> returns;  // (c): (local, remote).
};

// A port sent from a member, to match the answer's echoed nonce.
struct Sent {
  uint16_t sport = 0;
  size_t member = 0;
};

// An unanswered REQUEST.
struct Probe {
  uint16_t sport = 0;
  size_t member = 0;
  int tries = 0;                    // Times sent.
  int64_t deadline_us = 0;
};

// One local member's part of a round toward one peer.
struct MemberRound {
  std::vector<uint16_t> ports;      // From the SportSource.
  bool ports_fetched = false;
  size_t next_request = 0;          // Into 'ports'.
  size_t next_answer = 0;           // Rotates over 'ports' for answers.
  size_t in_flight = 0;
};

struct Peer {
  IpAddress ip;
  MacAddress mac{};
  bool learned = false;
  int64_t learned_us = 0;           // When a REQUEST taught it.
  uint64_t agent_id = 0;            // 0: never heard.
  uint32_t epoch = 0;
  uint64_t retired_agent_id = 0;    // The previous agent's: stale.
  bool confirmed = false;           // PeerProbeReport::confirmed.
  Bucket requests_bucket;
  uint8_t remote_count = 0;
  uint32_t remote_usable = 0;
  std::array<std::string, kMaxProbeMembers> remote_names;

  bool round_active = false;
  PeerProbeState outcome = PeerProbeState::kIdle;  // Of the last round.
  int64_t next_round_us = 0;        // -1: none planned.
  bool heard_in_round = false;
  size_t timed_out_in_round = 0;
  std::vector<MemberRound> members;
  std::vector<Probe> probes;
  std::unordered_map<uint64_t, Sent> requests;  // This round's, by nonce.
  std::deque<std::pair<uint64_t, Sent>> replies;  // Recent, by nonce.
  Evidence live;
  std::optional<Evidence> previous;  // Served while a refresh round runs.
  // Where the switch delivers each port while every member of the peer
  // is usable: the peer's member name by local source port, with when it
  // was last seen there ("Ports that last").
  struct Lasting {
    std::string remote;
    uint64_t seen = 0;
  };
  std::map<uint16_t, Lasting> lasting;
  uint64_t lasting_clock = 0;

  PeerProbeReport report;           // Counters and times; pairs unused.
};

// An answer queued by HandleFrame() for Run().
struct Outgoing {
  IpAddress peer;
  size_t member = 0;
  uint16_t sport = 0;
  ProbeMessage message;
};

}  // namespace

struct PathProber::State {
  PathProberOptions options;
  std::vector<LocalMember> members;
  SportSource sports;
  SportCheck check;
  uint32_t epoch = 0;
  uint32_t usable_mask = 0;
  std::map<IpAddress, Peer, IpLess> peers;
  std::vector<Outgoing> outbox;
  Bucket new_peers;
  uint16_t next_ip_id = 0;
  int64_t now_us = 0;               // The latest time passed in.
  PathProberStats stats;
  std::array<uint8_t, kMaxProbeFrameBytes> frame{};

  bool Usable(size_t m) const {
    return m < members.size() && members[m].usable;
  }
  uint64_t NextNonce() {
    uint64_t nonce = 0;
    while (nonce == 0) {
      nonce = options.random ? options.random() : SecureRandom64();
    }
    return nonce;
  }
  const ProbeKey* SigningKey() const {
    return options.keys.empty() ? nullptr : &options.keys.front();
  }
  const Evidence& Served(const Peer& p) const {
    return p.previous ? *p.previous : p.live;
  }

  void ResetPeer(Peer& p, bool peer_changed);
  bool AllRemoteUsable(const Peer& p) const;
  void Remember(Peer& p, const Evidence& ev);
  std::vector<uint16_t> Offered(const Peer& p, const Evidence& ev, size_t m,
                                uint8_t n, size_t* held_back) const;
  std::vector<uint16_t> Waiting(const Peer& p, size_t m, uint8_t n) const;
  void EnsurePorts(Peer& p, size_t m);
  void StartRound(Peer& p, int64_t now);
  void EndRound(Peer& p, int64_t now, bool unreachable);
  bool MemberSatisfied(const Peer& p, size_t m) const;
  bool CanSendMore(const Peer& p) const;
  bool RoundFinished(const Peer& p) const;
  PeerProbeState Outcome(const Peer& p) const;

  ProbeMessage Message(ProbeKind kind, size_t m);
  void Transmit(Peer& p, size_t m, uint16_t sport, const ProbeMessage& msg,
                const SendFn& send);
  void FlushOutbox(const SendFn& send);
  void Retry(Peer& p, int64_t now, const SendFn& send);
  void SendRequests(Peer& p, int64_t now, const SendFn& send);

  enum class Identity { kCurrent, kStale, kCandidate };
  Identity Classify(Peer& p, const ProbeMessage& msg);
  std::optional<Sent> Proof(const Peer& p, const ProbeMessage& msg) const;
  void Adopt(Peer& p, const ProbeMessage& msg);
  Peer* Learn(const FrameAddress& address, int64_t now);
  // A frame or datagram refused by its parser: counted, and reported
  // (on_refused) if its version or tag was the reason.
  void Refused(const FrameAddress& address, ProbeDefect defect,
               uint8_t version);
  // An accepted probe (HandleFrame(), HandleDatagram()); 'mac_seen':
  // address.src_mac is the sender's.
  void Accept(size_t member, const FrameAddress& address,
              const ProbeMessage& msg, bool mac_seen, int64_t now_us);
  void ExpireUnconfirmed(int64_t now);
  void QueueAnswer(Peer& p, size_t m, ProbeKind kind,
                   const ProbeMessage& answered, uint16_t answered_sport);
  void OnReply(Peer& p, const ProbeMessage& msg);
  void OnConfirm(Peer& p, const ProbeMessage& msg);
  void RecordForward(Peer& p, uint16_t sport, size_t m, uint8_t remote);
};

namespace {

// The validated ports of (m, n) in 'ev', ascending.
std::vector<uint16_t> Validated(const Evidence& ev, size_t m, uint8_t n) {
  std::vector<uint16_t> out;
  if (!ev.returns.contains({m, n})) return out;
  for (const auto& [sport, f] : ev.forward) {
    if (!f.inconsistent && f.local_member == m && f.remote_member == n) {
      out.push_back(sport);
    }
  }
  return out;
}

// True if 'now' probed again a port that 'before' had a verdict for and
// judged it otherwise: the switch forwards differently.
bool AnyVerdictChanged(const Evidence& before, const Evidence& now) {
  for (const auto& [sport, f] : before.forward) {
    const auto again = now.forward.find(sport);
    if (!f.inconsistent && again != now.forward.end() &&
        (again->second.inconsistent ||
         again->second.local_member != f.local_member ||
         again->second.remote_member != f.remote_member)) {
      return true;
    }
  }
  return false;
}

size_t ForwardCount(const Evidence& ev, size_t m, uint8_t n) {
  size_t count = 0;
  for (const auto& [sport, f] : ev.forward) {
    count += !f.inconsistent && f.local_member == m && f.remote_member == n;
  }
  return count;
}

}  // namespace

// ---------------------------------------------------------------------------
// Rounds.

// Whether the peer said every one of its members is usable (the frames of
// this epoch were hashed by the switch over all of them).
bool PathProber::State::AllRemoteUsable(const Peer& p) const {
  if (p.remote_count == 0 || p.remote_count > kMaxProbeMembers) return false;
  const uint32_t all = p.remote_count >= 32
                           ? ~uint32_t{0}
                           : (uint32_t{1} << p.remote_count) - 1;
  return (p.remote_usable & all) == all;
}

// Adds what 'ev' saw to the ports that last, if it was seen while every
// member of the peer was usable: where a port went then is where it goes
// whenever they all are again.  What is seen while one of them is down
// says nothing about that and changes nothing here.
void PathProber::State::Remember(Peer& p, const Evidence& ev) {
  if (!AllRemoteUsable(p)) return;
  for (const auto& [sport, f] : ev.forward) {
    if (f.inconsistent) {
      p.lasting.erase(sport);         // The switch moved it meanwhile.
      continue;
    }
    if (f.remote_member >= p.remote_count ||
        p.remote_names[f.remote_member].empty()) {
      continue;
    }
    p.lasting[sport] = Peer::Lasting{p.remote_names[f.remote_member],
                                     ++p.lasting_clock};
  }
  while (p.lasting.size() > kMaxLastingPorts) {
    auto oldest = std::min_element(
        p.lasting.begin(), p.lasting.end(), [](const auto& x, const auto& y) {
          return x.second.seen < y.second.seen;
        });
    p.lasting.erase(oldest);
  }
}

// The validated ports of (m, n) that the prober offers.  While a member of
// the peer is not usable, the switch sends every flow to its others, and a
// port validated then may go to that member once it is back: the ports the
// peer's member n had while all were usable are offered first; failing
// those, ports never seen then; failing those, the rest.  '*held_back'
// counts the validated ports left out.
std::vector<uint16_t> PathProber::State::Offered(const Peer& p,
                                                 const Evidence& ev, size_t m,
                                                 uint8_t n,
                                                 size_t* held_back) const {
  std::vector<uint16_t> validated = Validated(ev, m, n);
  *held_back = 0;
  if (AllRemoteUsable(p) || validated.empty()) return validated;
  std::vector<uint16_t> lasting, unknown;
  for (uint16_t port : validated) {
    auto it = p.lasting.find(port);
    if (it == p.lasting.end()) {
      unknown.push_back(port);
    } else if (it->second.remote == p.remote_names[n]) {
      lasting.push_back(port);
    }
  }
  std::vector<uint16_t>& best =
      !lasting.empty() ? lasting : !unknown.empty() ? unknown : validated;
  *held_back = validated.size() - best.size();
  return std::move(best);
}

// The ports that last toward the peer's member n that the local OVS sends
// on m now, the most recently seen first, at most sports_per_pair;
// ascending.
std::vector<uint16_t> PathProber::State::Waiting(const Peer& p, size_t m,
                                                 uint8_t n) const {
  std::vector<std::pair<uint64_t, uint16_t>> seen;
  if (!check || p.remote_names[n].empty()) return {};
  for (const auto& [port, where] : p.lasting) {
    if (where.remote == p.remote_names[n] && check(m, p.ip, port)) {
      seen.emplace_back(where.seen, port);
    }
  }
  std::sort(seen.rbegin(), seen.rend());
  std::vector<uint16_t> out;
  for (const auto& [when, port] : seen) {
    if (out.size() == options.sports_per_pair) break;
    out.push_back(port);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void PathProber::State::ResetPeer(Peer& p, bool peer_changed) {
  // What the results so far say of the ports that last (by the peer's
  // member names: indexes may change with its bond).
  if (p.previous) Remember(p, *p.previous);
  Remember(p, p.live);
  p.live = Evidence();
  p.previous.reset();
  p.probes.clear();
  p.requests.clear();
  p.replies.clear();
  p.members.assign(members.size(), MemberRound());
  p.report.members.resize(members.size());
  for (size_t m = 0; m < members.size(); m++) {
    p.report.members[m].name = members[m].name;
  }
  if (peer_changed) {
    for (std::string& name : p.remote_names) name.clear();
  }
  p.round_active = false;
  p.outcome = PeerProbeState::kIdle;
  p.next_round_us = now_us;
  std::erase_if(outbox, [&p](const Outgoing& o) { return o.peer == p.ip; });
}

void PathProber::State::EnsurePorts(Peer& p, size_t m) {
  MemberRound& r = p.members[m];
  if (r.ports_fetched) return;
  r.ports_fetched = true;
  r.ports.clear();
  const uint64_t key =
      MixSpreadKey(options.agent_id ^ HashIp(p.ip) ^ uint64_t{epoch} << 32 ^
            MixSpreadKey(p.report.rounds) ^ m);
  // The ports this member had validated come first: while they still hold,
  // the round confirms them (EndRound() keeps those it did not reach), so
  // the ports already handed to applications stay validated.
  std::vector<uint16_t> offered;
  // Ports that last whose remote member is usable (or not known yet),
  // and that OVS sends on this member now, whichever member it sent them
  // on when they were seen: the switch hashes the 5-tuple, not the port
  // it came in by.  Those of a remote member known to be usable come
  // before those of one not heard of since the reset, the most recently
  // seen first; those of an unusable one are left out: its flows go
  // elsewhere now, and back to it when it returns.
  if (check) {
    std::vector<std::pair<uint64_t, uint16_t>> usable_ports, unknown;
    for (const auto& [port, seen] : p.lasting) {
      std::optional<bool> usable;
      for (uint8_t n = 0; n < p.remote_count; n++) {
        if (p.remote_names[n] == seen.remote) {
          usable = (p.remote_usable >> n & 1) != 0;
        }
      }
      if ((usable && !*usable) || !check(m, p.ip, port)) continue;
      (usable ? usable_ports : unknown).emplace_back(seen.seen, port);
    }
    for (auto* list : {&usable_ports, &unknown}) {
      std::sort(list->rbegin(), list->rend());
      for (const auto& [seen, port] : *list) offered.push_back(port);
    }
  }
  if (p.previous) {
    for (uint8_t n = 0; n < p.remote_count; n++) {
      for (uint16_t port : Validated(*p.previous, m, n)) {
        offered.push_back(port);
      }
    }
  }
  for (uint16_t port : sports(m, p.ip, options.max_probes_per_member, key)) {
    offered.push_back(port);
  }
  std::unordered_set<uint16_t> seen;
  for (uint16_t port : offered) {
    if (r.ports.size() == options.max_probes_per_member) break;
    if (IsRoceSport(port) && seen.insert(port).second) r.ports.push_back(port);
  }
}

void PathProber::State::StartRound(Peer& p, int64_t now) {
  if (usable_mask == 0) {
    p.outcome = PeerProbeState::kIdle;
    p.next_round_us = -1;           // Until SetLocalBond().
    return;
  }
  if (p.outcome == PeerProbeState::kComplete ||
      p.outcome == PeerProbeState::kPartial) {
    p.previous = std::move(p.live);  // Served until this round ends.
    p.live = Evidence();
  }
  p.probes.clear();
  p.requests.clear();
  p.report.rounds++;
  p.members.assign(members.size(), MemberRound());
  for (size_t m = 0; m < members.size(); m++) {
    if (Usable(m)) EnsurePorts(p, m);
  }
  p.round_active = true;
  p.report.round_started_us = now;
  p.heard_in_round = false;
  p.timed_out_in_round = 0;
}

void PathProber::State::EndRound(Peer& p, int64_t now, bool unreachable) {
  p.round_active = false;
  p.probes.clear();
  for (MemberRound& r : p.members) r.in_flight = 0;
  // A port validated before that this round did not probe again stays
  // validated if its pair's return path still is; a port probed again has
  // its new verdict.  If any port probed again changed its verdict, the
  // switch forwards differently now and nothing unprobed is kept.
  if (!unreachable && p.previous &&
      !AnyVerdictChanged(*p.previous, p.live)) {
    for (const auto& [sport, f] : p.previous->forward) {
      const std::pair<size_t, uint8_t> pair{f.local_member, f.remote_member};
      if (!f.inconsistent && p.previous->returns.contains(pair) &&
          p.live.returns.contains(pair) && Usable(f.local_member)) {
        p.live.forward.emplace(sport, f);   // No-op if probed again.
      }
    }
  }
  p.previous.reset();
  if (unreachable) p.live = Evidence();
  Remember(p, p.live);
  p.outcome = unreachable ? PeerProbeState::kUnreachable : Outcome(p);
  p.report.last_round_end_us = now;
  p.next_round_us = now + options.refresh_interval_us;
}

// Every usable remote member has sports_per_pair validated ports for m.
bool PathProber::State::MemberSatisfied(const Peer& p, size_t m) const {
  if (p.remote_usable == 0) return false;
  for (uint8_t n = 0; n < p.remote_count; n++) {
    if ((p.remote_usable >> n & 1) &&
        Validated(p.live, m, n).size() < options.sports_per_pair) {
      return false;
    }
  }
  return true;
}

bool PathProber::State::CanSendMore(const Peer& p) const {
  for (size_t m = 0; m < p.members.size(); m++) {
    const MemberRound& r = p.members[m];
    if (Usable(m) && r.in_flight < options.window &&
        r.next_request < r.ports.size() && !MemberSatisfied(p, m)) {
      return true;
    }
  }
  return false;
}

bool PathProber::State::RoundFinished(const Peer& p) const {
  return p.probes.empty() && !CanSendMore(p);
}

// kComplete if every usable pair has a validated port, else kPartial.
PeerProbeState PathProber::State::Outcome(const Peer& p) const {
  bool any = false;
  for (size_t m = 0; m < members.size(); m++) {
    if (!Usable(m)) continue;
    for (uint8_t n = 0; n < p.remote_count; n++) {
      if (!(p.remote_usable >> n & 1)) continue;
      if (Validated(p.live, m, n).empty()) return PeerProbeState::kPartial;
      any = true;
    }
  }
  return any ? PeerProbeState::kComplete : PeerProbeState::kPartial;
}

// ---------------------------------------------------------------------------
// Sending.

ProbeMessage PathProber::State::Message(ProbeKind kind, size_t m) {
  ProbeMessage msg;
  msg.kind = kind;
  msg.agent_id = options.agent_id;
  msg.epoch = epoch;
  msg.nonce = NextNonce();
  msg.member = static_cast<uint8_t>(m);
  msg.member_count = static_cast<uint8_t>(members.size());
  msg.usable_mask = usable_mask;
  msg.member_name = members[m].name;
  return msg;
}

void PathProber::State::Transmit(Peer& p, size_t m, uint16_t sport,
                                 const ProbeMessage& msg,
                                 const SendFn& send) {
  if (!Usable(m)) return;           // Never from a member not usable.
  FrameAddress address;
  address.dst_mac = p.mac;
  address.src_mac = options.local_mac;
  address.src_ip = options.local_ip;
  address.dst_ip = p.ip;
  address.udp_sport = sport;
  address.ip_id = next_ip_id++;
  Result<size_t> length = BuildProbeFrame(address, msg, frame, SigningKey());
  if (!length.ok()) return;         // Cannot happen: SetLocalBond() checks.
  stats.frames_sent++;
  send(m, std::span<const uint8_t>(frame.data(), *length));
}

void PathProber::State::FlushOutbox(const SendFn& send) {
  std::vector<Outgoing> queued;
  queued.swap(outbox);
  for (const Outgoing& o : queued) {
    auto it = peers.find(o.peer);
    if (it == peers.end() || !Usable(o.member)) continue;
    Peer& p = it->second;
    if (o.message.kind == ProbeKind::kReply) {
      p.report.replies_sent++;
      p.replies.emplace_back(o.message.nonce, Sent{o.sport, o.member});
      if (p.replies.size() > kMaxRememberedReplies) p.replies.pop_front();
    } else {
      p.report.confirms_sent++;
    }
    Transmit(p, o.member, o.sport, o.message, send);
  }
}

void PathProber::State::Retry(Peer& p, int64_t now, const SendFn& send) {
  for (auto it = p.probes.begin(); it != p.probes.end();) {
    if (it->deadline_us > now) {
      ++it;
      continue;
    }
    ProbeMemberStats& stats = p.report.members[it->member];
    if (MemberSatisfied(p, it->member)) {
      // Its pairs have enough ports already: not worth another try.
      p.members[it->member].in_flight--;
      it = p.probes.erase(it);
    } else if (it->tries < options.tries && Usable(it->member)) {
      const ProbeMessage msg = Message(ProbeKind::kRequest, it->member);
      p.requests[msg.nonce] = Sent{it->sport, it->member};
      it->tries++;
      it->deadline_us = now + options.reply_timeout_us;
      stats.retries++;
      p.report.last_sent_us = now;
      Transmit(p, it->member, it->sport, msg, send);
      ++it;
    } else {
      stats.timed_out++;
      p.timed_out_in_round++;
      p.members[it->member].in_flight--;
      it = p.probes.erase(it);
    }
  }
}

void PathProber::State::SendRequests(Peer& p, int64_t now,
                                     const SendFn& send) {
  for (size_t m = 0; m < p.members.size(); m++) {
    if (!Usable(m)) continue;
    MemberRound& r = p.members[m];
    while (r.in_flight < options.window && r.next_request < r.ports.size() &&
           !MemberSatisfied(p, m)) {
      const uint16_t sport = r.ports[r.next_request++];
      // Placed already by a CONFIRM of one of our REPLYs.
      if (p.live.forward.contains(sport)) continue;
      const ProbeMessage msg = Message(ProbeKind::kRequest, m);
      p.requests[msg.nonce] = Sent{sport, m};
      p.probes.push_back(
          Probe{sport, m, 1, now + options.reply_timeout_us});
      r.in_flight++;
      p.report.members[m].probes_sent++;
      p.report.last_sent_us = now;
      Transmit(p, m, sport, msg, send);
    }
  }
}

// ---------------------------------------------------------------------------
// Receiving.

// Where 'msg' stands to the peer's pinned identity.  The first frame of
// a peer pins it (trust on first use: a forged one is replaced by the
// first exchange of the true peer, below).
PathProber::State::Identity PathProber::State::Classify(
    Peer& p, const ProbeMessage& msg) {
  if (p.agent_id == 0) {
    p.agent_id = msg.agent_id;
    p.epoch = msg.epoch;
    return Identity::kCurrent;
  }
  if (msg.agent_id == p.agent_id) {
    if (msg.epoch == p.epoch) return Identity::kCurrent;
    return EpochIsNewer(msg.epoch, p.epoch) ? Identity::kCandidate
                                            : Identity::kStale;
  }
  if (msg.agent_id == p.retired_agent_id) {
    return Identity::kStale;        // The previous agent's, delayed.
  }
  return Identity::kCandidate;
}

// What proves that the sender of 'msg' received a frame of ours sent to
// the peer: a REPLY echoing a REQUEST of this round, or a CONFIRM echoing
// a REPLY, in the current local epoch with the port it went with.  The
// frame it echoes, or nullopt.
std::optional<Sent> PathProber::State::Proof(const Peer& p,
                                             const ProbeMessage& msg) const {
  if (msg.echo_epoch != epoch) return std::nullopt;
  if (msg.kind == ProbeKind::kReply) {
    auto it = p.requests.find(msg.echo_nonce);
    if (it != p.requests.end() && it->second.sport == msg.reported_sport) {
      return it->second;
    }
  } else if (msg.kind == ProbeKind::kConfirm) {
    for (const auto& [nonce, sent] : p.replies) {
      if (nonce == msg.echo_nonce && sent.sport == msg.reported_sport) {
        return sent;
      }
    }
  }
  return std::nullopt;
}

// The peer's identity becomes that of 'msg', proven by an exchange: a
// new agent (its results and member names go) or the same agent's new
// epoch (a bond change: its results go).
void PathProber::State::Adopt(Peer& p, const ProbeMessage& msg) {
  const bool same_agent = msg.agent_id == p.agent_id;
  if (!same_agent) p.retired_agent_id = p.agent_id;
  p.agent_id = msg.agent_id;
  p.epoch = msg.epoch;
  p.report.peer_changes++;
  p.report.candidate_agent_id = 0;
  p.report.candidate_epoch = 0;
  ResetPeer(p, /*peer_changed=*/!same_agent);
}

// A new peer from the REQUEST of an unknown source, or nullptr if the
// source is refused (rate, cap).
Peer* PathProber::State::Learn(const FrameAddress& address, int64_t now) {
  if (!new_peers.Take(now, options.new_peers_per_second,
                      options.new_peer_burst)) {
    stats.rate_limited++;
    return nullptr;
  }
  size_t learned = 0;
  auto oldest = peers.end();
  for (auto it = peers.begin(); it != peers.end(); ++it) {
    if (!it->second.learned) continue;
    learned++;
    if (!it->second.confirmed &&
        (oldest == peers.end() ||
         it->second.learned_us < oldest->second.learned_us)) {
      oldest = it;
    }
  }
  if (learned >= options.max_learned_peers) {
    if (oldest == peers.end()) {
      stats.peers_refused++;
      return nullptr;
    }
    const IpAddress gone = oldest->first;
    std::erase_if(outbox, [&gone](const Outgoing& o) { return o.peer == gone; });
    peers.erase(oldest);
    stats.peers_evicted++;
  }
  Peer& p = peers.try_emplace(address.src_ip).first->second;
  p.ip = p.report.ip = address.src_ip;
  p.mac = address.src_mac;
  p.learned = true;
  p.learned_us = now;
  ResetPeer(p, /*peer_changed=*/true);
  return &p;
}

// Forgets learned peers that no exchange confirmed in time.
void PathProber::State::ExpireUnconfirmed(int64_t now) {
  for (auto it = peers.begin(); it != peers.end();) {
    const Peer& p = it->second;
    if (p.learned && !p.confirmed &&
        now - p.learned_us > options.unconfirmed_ttl_us) {
      const IpAddress gone = it->first;
      std::erase_if(outbox,
                    [&gone](const Outgoing& o) { return o.peer == gone; });
      it = peers.erase(it);
      stats.peers_expired++;
    } else {
      ++it;
    }
  }
}

void PathProber::State::QueueAnswer(Peer& p, size_t m, ProbeKind kind,
                                    const ProbeMessage& answered,
                                    uint16_t answered_sport) {
  EnsurePorts(p, m);
  MemberRound& r = p.members[m];
  if (r.ports.empty()) return;      // No port OVS sends on m: no answer.
  const uint16_t sport = r.ports[r.next_answer++ % r.ports.size()];
  ProbeMessage msg = Message(kind, m);
  msg.echo_nonce = answered.nonce;
  msg.echo_epoch = answered.epoch;
  msg.reported_sport = answered_sport;
  msg.reported_member = static_cast<uint8_t>(m);
  msg.reported_member_name = members[m].name;
  outbox.push_back(Outgoing{p.ip, m, sport, std::move(msg)});
}

void PathProber::State::RecordForward(Peer& p, uint16_t sport, size_t m,
                                      uint8_t remote) {
  auto [it, inserted] =
      p.live.forward.try_emplace(sport, Forward{m, remote, false});
  Forward& f = it->second;
  if (inserted || f.inconsistent) return;
  if (f.local_member != m || f.remote_member != remote) {
    f.inconsistent = true;
    p.report.inconsistent++;
  }
}

void PathProber::State::OnReply(Peer& p, const ProbeMessage& msg) {
  auto it = p.requests.find(msg.echo_nonce);
  if (msg.echo_epoch != epoch || it == p.requests.end() ||
      it->second.sport != msg.reported_sport) {
    p.report.unmatched++;
    return;
  }
  const Sent sent = it->second;
  p.confirmed = true;
  RecordForward(p, sent.sport, sent.member, msg.reported_member);
  auto probe = std::find_if(p.probes.begin(), p.probes.end(),
                            [&sent](const Probe& q) {
                              return q.sport == sent.sport;
                            });
  if (probe != p.probes.end()) {
    p.members[probe->member].in_flight--;
    p.report.members[probe->member].answered++;
    p.probes.erase(probe);
  }
}

void PathProber::State::OnConfirm(Peer& p, const ProbeMessage& msg) {
  auto it = std::find_if(p.replies.begin(), p.replies.end(),
                         [&msg](const std::pair<uint64_t, Sent>& r) {
                           return r.first == msg.echo_nonce;
                         });
  if (msg.echo_epoch != epoch || it == p.replies.end() ||
      it->second.sport != msg.reported_sport) {
    p.report.unmatched++;
    return;
  }
  p.report.confirms_received++;
  p.confirmed = true;
  RecordForward(p, it->second.sport, it->second.member, msg.reported_member);
}

// ---------------------------------------------------------------------------
// PathProber.

PathProber::PathProber(std::unique_ptr<State> state) : s_(std::move(state)) {}
PathProber::PathProber(PathProber&&) noexcept = default;
PathProber& PathProber::operator=(PathProber&&) noexcept = default;
PathProber::~PathProber() = default;

Result<PathProber> PathProber::Create(const PathProberOptions& options) {
  const auto Bad = [](std::string what) {
    return Status::InvalidArgument("path prober: " + what);
  };
  if (options.agent_id == 0) return Bad("agent_id must not be 0");
  if (options.local_ip.version != 4 && options.local_ip.version != 6) {
    return Bad("local_ip has IP version " +
               std::to_string(options.local_ip.version));
  }
  if (options.sports_per_pair == 0 || options.max_probes_per_member == 0 ||
      options.window == 0 || options.tries <= 0 ||
      options.unreachable_after == 0) {
    return Bad("sports_per_pair, max_probes_per_member, window, tries and "
               "unreachable_after must be positive");
  }
  if (options.reply_timeout_us <= 0 || options.refresh_interval_us <= 0) {
    return Bad("reply_timeout_us and refresh_interval_us must be positive");
  }
  if (options.max_learned_peers == 0 || options.unconfirmed_ttl_us <= 0 ||
      !(options.requests_per_second > 0) || !(options.request_burst >= 1) ||
      !(options.new_peers_per_second > 0) || !(options.new_peer_burst >= 1)) {
    return Bad("max_learned_peers, unconfirmed_ttl_us and the rates must be "
               "positive, the bursts at least 1");
  }
  for (const ProbeKey& key : options.keys) {
    if (key.secret.size() < kMinProbeKeyBytes || key.id != ProbeKeyId(key.secret)) {
      return Bad("a key is shorter than " + std::to_string(kMinProbeKeyBytes) +
                 " bytes or its id is not its fingerprint (MakeProbeKey())");
    }
  }
  auto state = std::make_unique<State>();
  state->options = options;
  return PathProber(std::move(state));
}

Status PathProber::SetLocalBond(std::vector<LocalMember> members,
                                SportSource sports, SportCheck check) {
  if (members.size() > kMaxProbeMembers) {
    return Status::InvalidArgument(
        "path prober: " + std::to_string(members.size()) +
        " members, probes describe at most " +
        std::to_string(kMaxProbeMembers));
  }
  if (!sports) {
    return Status::InvalidArgument("path prober: no SportSource");
  }
  uint32_t usable = 0;
  for (size_t m = 0; m < members.size(); m++) {
    const std::string& name = members[m].name;
    if (name.empty() || name.size() >= kProbeNameBytes) {
      return Status::InvalidArgument(
          "path prober: member name \"" + name + "\" must have 1 to " +
          std::to_string(kProbeNameBytes - 1) + " bytes");
    }
    for (size_t k = 0; k < m; k++) {
      if (members[k].name == name) {
        return Status::InvalidArgument("path prober: member \"" + name +
                                       "\" is listed twice");
      }
    }
    if (members[m].usable) usable |= uint32_t{1} << m;
  }
  State& s = *s_;
  s.members = std::move(members);
  s.sports = std::move(sports);
  s.check = std::move(check);
  s.usable_mask = usable;
  Reprobe();
  return Status::OK();
}

uint32_t PathProber::epoch() const { return s_->epoch; }

Status PathProber::AddPeer(const IpAddress& ip, const MacAddress& mac) {
  State& s = *s_;
  if (ip.version != s.options.local_ip.version || ip == s.options.local_ip) {
    return Status::InvalidArgument(
        "path prober: peer " + ToString(ip) +
        " is the local address or of another IP version than " +
        ToString(s.options.local_ip));
  }
  auto [it, inserted] = s.peers.try_emplace(ip);
  Peer& p = it->second;
  const bool moved = !inserted && p.mac != mac;
  p.mac = mac;
  p.learned = false;
  if (inserted) {
    p.ip = ip;
    p.report.ip = ip;
    s.ResetPeer(p, /*peer_changed=*/true);
  } else if (moved) {
    // Another MAC holds the address now: whoever it is proves itself
    // again.
    p.agent_id = p.retired_agent_id = 0;
    p.epoch = 0;
    p.confirmed = false;
    s.ResetPeer(p, /*peer_changed=*/true);
  }
  return Status::OK();
}

bool PathProber::RemovePeer(const IpAddress& ip) {
  State& s = *s_;
  std::erase_if(s.outbox, [&ip](const Outgoing& o) { return o.peer == ip; });
  return s.peers.erase(ip) > 0;
}

void PathProber::SetKeys(std::vector<ProbeKey> keys) {
  s_->options.keys = std::move(keys);
}

void PathProber::Reprobe() {
  State& s = *s_;
  if (++s.epoch == 0) s.epoch = 1;  // 0 means "no bond yet".
  s.outbox.clear();
  for (auto& [ip, p] : s.peers) s.ResetPeer(p, /*peer_changed=*/false);
}

void PathProber::State::Refused(const FrameAddress& address,
                                ProbeDefect defect, uint8_t version) {
  switch (defect) {
    case ProbeDefect::kMalformed: stats.malformed++; break;
    case ProbeDefect::kUnsupportedVersion: stats.unsupported_version++; break;
    case ProbeDefect::kUnauthenticated: {
      stats.unauthenticated++;
      auto known = peers.find(address.src_ip);
      if (known != peers.end()) known->second.report.unauthenticated++;
      break;
    }
    default: stats.not_probe++; break;
  }
  if ((defect == ProbeDefect::kUnsupportedVersion ||
       defect == ProbeDefect::kUnauthenticated) &&
      address.dst_ip == options.local_ip && options.on_refused) {
    options.on_refused(address, defect, version);
  }
}

void PathProber::HandleFrame(size_t member, std::span<const uint8_t> frame,
                             int64_t now_us) {
  State& s = *s_;
  s.stats.frames_received++;
  s.now_us = std::max(s.now_us, now_us);
  FrameAddress address;
  ProbeMessage msg;
  ProbeDefect defect = ProbeDefect::kNone;
  uint8_t version = 0;
  if (!ParseProbeFrame(frame, &address, &msg, &defect, s.options.keys,
                       &version)
           .ok()) {
    s.Refused(address, defect, version);
    return;
  }
  s.Accept(member, address, msg, /*mac_seen=*/true, now_us);
}

void PathProber::HandleDatagram(size_t member, const IpAddress& src,
                                const IpAddress& dst,
                                std::span<const uint8_t> payload,
                                int64_t now_us) {
  State& s = *s_;
  s.stats.frames_received++;
  s.now_us = std::max(s.now_us, now_us);
  FrameAddress address;
  address.src_ip = src;
  address.dst_ip = dst;
  ProbeMessage msg;
  ProbeDefect defect = ProbeDefect::kNone;
  uint8_t version = 0;
  if (!ParseProbePayload(src, dst, payload, s.options.keys, &msg, &defect,
                         &version)
           .ok()) {
    s.Refused(address, defect, version);
    return;
  }
  // The port the sender says it sent: a UD receive does not see it (with
  // keys, the tag covers it).
  address.udp_sport = msg.sent_sport;
  s.Accept(member, address, msg, /*mac_seen=*/false, now_us);
}

void PathProber::State::Accept(size_t member, const FrameAddress& address,
                               const ProbeMessage& msg, bool mac_seen,
                               int64_t now_us) {
  State& s = *this;
  PathProberStats& st = s.stats;
  if (msg.agent_id == s.options.agent_id) {
    st.own++;
    return;
  }
  if (address.dst_ip != s.options.local_ip) {
    st.not_for_us++;
    return;
  }
  if (!s.Usable(member)) {
    st.on_unusable_member++;
    return;
  }
  auto it = s.peers.find(address.src_ip);
  Peer* found = it == s.peers.end() ? nullptr : &it->second;
  if (!found) {
    if (msg.kind != ProbeKind::kRequest) {
      st.unknown_peer++;
      return;
    }
    found = s.Learn(address, now_us);
    if (!found) return;
  }
  Peer& p = *found;
  // A datagram shows no MAC, and a peer learned from one has none.
  if (mac_seen && p.mac != MacAddress{} && address.src_mac != p.mac) {
    st.identity_mismatch++;
    p.report.identity_mismatch++;
    return;
  }
  if (msg.kind == ProbeKind::kRequest &&
      !p.requests_bucket.Take(now_us, s.options.requests_per_second,
                              s.options.request_burst)) {
    st.rate_limited++;
    p.report.rate_limited++;
    return;
  }
  // A frame of a new identity that proves itself: what it echoes, kept
  // across the reset that adopting it makes.
  std::optional<Sent> adopted;
  switch (s.Classify(p, msg)) {
    case State::Identity::kCurrent:
      break;
    case State::Identity::kStale:
      p.report.stale++;
      return;
    case State::Identity::kCandidate:
      adopted = s.Proof(p, msg);
      if (!adopted) {
        // Not proven: answered (if the peer did restart or change, its
        // CONFIRM of this answer proves it), believed in nothing.
        p.report.unconfirmed++;
        p.report.candidate_agent_id = msg.agent_id;
        p.report.candidate_epoch = msg.epoch;
        if (msg.kind == ProbeKind::kRequest) {
          s.QueueAnswer(p, member, ProbeKind::kReply, msg, address.udp_sport);
        }
        return;
      }
      s.Adopt(p, msg);
      p.confirmed = true;
      break;
  }
  p.report.last_heard_us = now_us;
  p.heard_in_round = true;
  if (!p.round_active && p.outcome == PeerProbeState::kUnreachable) {
    p.next_round_us = now_us;       // It is back: probe it now.
  }
  p.remote_count = msg.member_count;
  p.remote_usable = msg.usable_mask;
  p.remote_names[msg.member] = msg.member_name;
  if (ProbeKindIsAnswer(msg.kind)) {
    p.remote_names[msg.reported_member] = msg.reported_member_name;
  }
  // (c): the peer sent this from msg.member with a port its OVS maps
  // there, and it arrived here on 'member'.
  p.live.returns.insert({member, msg.member});
  switch (msg.kind) {
    case ProbeKind::kRequest:
      s.QueueAnswer(p, member, ProbeKind::kReply, msg, address.udp_sport);
      break;
    case ProbeKind::kReply:
      if (adopted) {
        s.RecordForward(p, adopted->sport, adopted->member,
                        msg.reported_member);
      } else {
        s.OnReply(p, msg);
      }
      s.QueueAnswer(p, member, ProbeKind::kConfirm, msg, address.udp_sport);
      break;
    case ProbeKind::kConfirm:
      if (adopted) {
        p.report.confirms_received++;
        s.RecordForward(p, adopted->sport, adopted->member,
                        msg.reported_member);
      } else {
        s.OnConfirm(p, msg);
      }
      break;
  }
}

void PathProber::Run(int64_t now_us, const SendFn& send) {
  State& s = *s_;
  s.now_us = std::max(s.now_us, now_us);
  s.ExpireUnconfirmed(now_us);
  s.FlushOutbox(send);
  for (auto& [ip, p] : s.peers) {
    if (!p.round_active) {
      if (p.next_round_us < 0 || p.next_round_us > now_us) continue;
      // A source that only sent REQUESTs is probed once it proved to
      // hold its address (it CONFIRMed an answer of ours).
      if (p.learned && !p.confirmed) continue;
      s.StartRound(p, now_us);
      if (!p.round_active) continue;
    }
    s.Retry(p, now_us, send);
    if (!p.heard_in_round &&
        p.timed_out_in_round >= s.options.unreachable_after) {
      s.EndRound(p, now_us, /*unreachable=*/true);
      continue;
    }
    s.SendRequests(p, now_us, send);
    if (s.RoundFinished(p)) {
      s.EndRound(p, now_us, !p.heard_in_round && p.timed_out_in_round > 0);
    }
  }
}

int64_t PathProber::NextDeadlineUs() const {
  const State& s = *s_;
  if (!s.outbox.empty()) return s.now_us;
  int64_t next = -1;
  const auto Consider = [&next](int64_t t) {
    if (t >= 0 && (next < 0 || t < next)) next = t;
  };
  for (const auto& [ip, p] : s.peers) {
    if (p.learned && !p.confirmed) {
      Consider(p.learned_us + s.options.unconfirmed_ttl_us + 1);
      continue;
    }
    if (!p.round_active) {
      Consider(p.next_round_us);
      continue;
    }
    if (s.RoundFinished(p) || s.CanSendMore(p)) return s.now_us;
    for (const Probe& probe : p.probes) Consider(probe.deadline_us);
  }
  return next;
}

std::vector<uint16_t> PathProber::ValidatedSports(
    const IpAddress& peer, size_t local_member,
    std::string_view remote_member) const {
  const State& s = *s_;
  auto it = s.peers.find(peer);
  if (it == s.peers.end() || !s.Usable(local_member)) return {};
  const Peer& p = it->second;
  for (uint8_t n = 0; n < p.remote_count; n++) {
    if ((p.remote_usable >> n & 1) && p.remote_names[n] == remote_member) {
      size_t held_back = 0;
      return s.Offered(p, s.Served(p), local_member, n, &held_back);
    }
  }
  return {};
}

std::optional<PeerProbeReport> PathProber::Report(const IpAddress& ip) const {
  const State& s = *s_;
  auto it = s.peers.find(ip);
  if (it == s.peers.end()) return std::nullopt;
  const Peer& p = it->second;
  PeerProbeReport r = p.report;
  r.mac = p.mac;
  r.learned = p.learned;
  r.agent_id = p.agent_id;
  r.epoch = p.epoch;
  r.confirmed = p.confirmed;
  r.remote_member_count = p.remote_count;
  r.remote_usable_mask = p.remote_usable;
  r.state = p.round_active ? PeerProbeState::kProbing : p.outcome;
  if (r.state == PeerProbeState::kComplete ||
      r.state == PeerProbeState::kPartial) {
    r.state = s.Outcome(p);         // Answers after the round count too.
  }
  const Evidence& ev = s.Served(p);
  for (size_t m = 0; m < s.members.size(); m++) {
    if (!s.Usable(m)) continue;
    for (uint8_t n = 0; n < p.remote_count; n++) {
      if (p.remote_names[n].empty()) continue;
      ProbePairReport pair;
      pair.local_member = m;
      pair.local_name = s.members[m].name;
      pair.remote_member = n;
      pair.remote_name = p.remote_names[n];
      if (p.remote_usable >> n & 1) {
        pair.sports = s.Offered(p, ev, m, n, &pair.held_back);
        pair.forward_sports = ForwardCount(ev, m, n);
        pair.return_verified = ev.returns.contains({m, n});
        r.pairs.push_back(std::move(pair));
      } else {
        // A member of the peer that may not carry: the ports that reached
        // it while all were up, if any.
        pair.sports = s.Waiting(p, m, n);
        if (!pair.sports.empty()) r.waiting.push_back(std::move(pair));
      }
    }
  }
  return r;
}

std::vector<PeerProbeReport> PathProber::Reports() const {
  std::vector<PeerProbeReport> out;
  for (const auto& [ip, p] : s_->peers) out.push_back(*Report(ip));
  return out;
}

const PathProberStats& PathProber::stats() const { return s_->stats; }
const PathProberOptions& PathProber::options() const { return s_->options; }

}  // namespace rdma_bond
