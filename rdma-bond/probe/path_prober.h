// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// PathProber: L4 path probing between the agents of two hosts, to learn
// which RoCEv2 5-tuples the switch carries between which bond members.
//
// Motivation.  Two hosts A and B each bond NICs (members) under Open
// vSwitch in balance-tcp with LACP; the switch between them has a port
// channel per host and hashes each frame's 5-tuple (source IP, destination
// IP, UDP source port, destination port 4791) to choose which of the
// destination host's members gets it.  RoCEv2 frames bypass OVS: a queue
// pair on the RNIC of member m sends out of m, and receives only what the
// switch delivers to m.  A QP path between A's member m and B's member n
// therefore works only if A's frames (A -> B, source port s) arrive at B
// on n and B's frames (B -> A, source port s') arrive at A on m.  The
// pinner (predictor.h) makes OVS agree with the member a port leaves by;
// the switch's hash is unknown, so the agents discover it by sending
// probes that carry exactly the 5-tuples the data would.
//
// The probes (probe_frame.h) are RoCEv2 frames: Ethernet / IPv4 or IPv6 /
// UDP (the probed source port, destination 4791) / BTH (UD SEND_ONLY to
// kProbeQpn) / DETH / a fixed 168-byte big-endian payload / ICRC, so that
// the switch hashes them as it hashes RDMA traffic.  The payload
// (ProbeMessage) is versioned: magic "RBPR", version 1, kind (REQUEST,
// REPLY, CONFIRM), the sender's agent id (random per agent start) and
// epoch (bumped at every change of its bond), a nonce, the sender's member
// (index, name), the number of its members and which are usable, and for
// REPLY and CONFIRM the nonce and epoch of the frame answered, its source
// port and the member (index, name) it arrived on.
//
// The exchange.
//   1. A sends a REQUEST from member m with a source port s that A's OVS
//      maps to m (SportSource), and retries it until answered
//      (reply_timeout_us, tries).
//   2. B receives it on member n, learns A as a peer if it did not know
//      it, and answers with a REPLY from n, with a source port s' that
//      B's OVS maps to n (rotating over B's ports, so that each reply
//      tests another 5-tuple): "your s arrived on n".
//   3. A receives the REPLY on some member m'.  A now knows S_AB(s) = n,
//      and that B's s' from n arrives on m'.  A sends a CONFIRM from m'
//      (a port A's OVS maps to m'): "your s' arrived on m'", so that B
//      learns S_BA(s') = m'.  REPLY and CONFIRM are not retried: a lost
//      one is replaced by the next exchange.
// Both agents probe each other (a REQUEST makes its receiver probe back),
// so each learns its own direction first-hand and the other's through
// CONFIRMs.  A REPLY counts only if it echoes the nonce of a REQUEST of
// this round and the current local epoch, a CONFIRM only if it echoes a
// REPLY this prober sent in the current epoch; anything else from the
// peer still counts as return evidence (below).
//
// Trust (protocol v2).  Nonces are 64 random bits from the kernel's
// CSPRNG, so an answer cannot be forged without seeing the frame it
// answers.  A peer's identity is pinned: its MAC (from AddPeer(), or from
// the REQUEST that taught it), and its agent id and epoch (from its first
// frame).  A frame from another MAC is dropped (a datagram of the UD
// transport, HandleDatagram(), shows no MAC: not checked).  A frame with another
// agent id or a newer epoch (a restart, a bond change, or a forgery)
// changes nothing by itself: a REQUEST of it is answered, and the
// identity is adopted only when a REPLY or CONFIRM of it echoes a nonce of
// ours, the proof that it holds the peer's address on the wire; then the
// peer's results are dropped and probed again.  A peer learned from a
// REQUEST is probed only once such an exchange confirmed it, at most
// max_learned_peers are kept (unconfirmed ones expire), new sources are
// admitted at new_peers_per_second, and each peer's REQUESTs are answered
// at requests_per_second.  With shared keys every frame carries an
// HMAC-SHA256 tag (probe_frame.h), and frames without a valid one are
// dropped and counted.
//
// The consistency rule ("keep only 5-tuples whose send and return paths
// are the same member on both ends").  A local source port s is
// *validated* for the pair (local member m, remote member n) of a peer
// when, in the current epochs of both ends:
//   (a) s was sent from m, and only ports that the local OVS maps to m
//       are ever sent from m (so OVS and the RNIC agree on m);
//   (b) the peer reported, for a frame of ours with source port s, that
//       it arrived on n (a matched REPLY or CONFIRM), and no report
//       placed s on another member: a port reported on two different
//       members (or two different local members) is inconsistent,
//       counted, and never validated again in this round; and
//   (c) the return path n -> m is verified: a probe that the peer sent
//       from n (so with a port its OVS maps to n) arrived here on m.
// So a QP on m using s reaches the peer's QP on n, and the peer has ports
// whose frames from n come back to m: the peer validates those by the
// same rule, for its pair (n, m).  Either end lists a pair only after
// seeing frames in both directions between its two members.
//
// Rounds.  A peer is probed in rounds: each usable local member sends
// REQUESTs (at most 'window' unanswered) over up to max_probes_per_member
// of its ports, until every usable remote member has sports_per_pair
// validated ports for it or the ports run out.  A round ends complete
// (every usable pair has a validated port), partial, or unreachable (no
// frame heard from the peer while unreachable_after probes timed out).
// Results are dropped at once when the local epoch changes (SetLocalBond(),
// Reprobe()) or the peer's does (a frame with a newer epoch or another
// agent id), and a new round starts.
//
// Ports that last.  Where the switch delivered each probed port while
// every member of the peer was usable is remembered (by the peer's member
// names, over rounds and bond changes, on both ends; a later verdict
// replaces an earlier one), and each round probes those ports first (those
// whose remote member is usable and that the local OVS sends on the
// member probing now: SportCheck).  A cable cut changes the switch's hash
// to the host that lost it (all its flows go to the other member); the
// repair changes it back.  A port that reached member n while all were
// usable still reaches n during the cut and after the repair, while a
// port chosen afresh during the cut lands on the repaired member for about
// half of them: every QP pinned to one would lose its path a second time
// at the repair.  So while a member of the peer is not usable, the ports
// offered for a pair (ValidatedSports(), the report's pairs) are those
// remembered on that pair's remote member, failing those the ones never
// seen while all were usable, failing those the rest.  What is seen during
// a cut is never remembered: in a storm the bonds change again before the
// member is back, and only the hash over all members says where a port
// goes after the repair.  Every refresh_interval_us a round
// starts again; meanwhile the previous round's results are still served,
// and are replaced when it ends.  So a change of the switch's hash that no
// bond change announces is seen at the next refresh, or earlier when a
// CONFIRM places a validated port elsewhere (it is then inconsistent).
//
// Sans-IO.  The prober never touches a socket or a clock: the caller
// passes received frames with the member they arrived on and the time,
// calls Run() by NextDeadlineUs() with a function that sends a frame from
// a member, and asks for results.
//
// Usage:
//   Result<PathProber> prober = PathProber::Create(options);
//   prober->SetLocalBond({{"nic0"}, {"nic1"}}, sports);  // SportSource.
//   prober->AddPeer(peer_ip, peer_mac);
//   loop:
//     prober->HandleFrame(member, frame, now_us);         // each frame
//     prober->Run(now_us, [&](size_t member, std::span<const uint8_t> f) {
//       link[member]->Send(f);
//     });
//     sleep until prober->NextDeadlineUs() or a frame;
//   prober->ValidatedSports(peer_ip, 0, "nic1");
//
// Thread-safety: single-threaded.  A PathProber has no internal locking;
// one thread at a time may call any of its methods, const ones included.

#ifndef RDMA_BOND_PATH_PROBER_H_
#define RDMA_BOND_PATH_PROBER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probe/probe_frame.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// The source ports the local OVS sends on member 'member' for RoCEv2 flows
// from the local IP to 'dst': up to 'count' of them, chosen by
// 'spread_key' (another key gives, mostly, other ports).  Empty if no
// port reaches the member.  The agent answers with Predictor::PickSports()
// (predictor.h); tests with any mapping.  The prober calls it once per
// member at the start of each round, and again after a bond change.
using SportSource = std::function<std::vector<uint16_t>(
    size_t member, const IpAddress& dst, size_t count, uint64_t spread_key)>;

// Whether the local OVS sends RoCEv2 flows from the local IP to 'dst' with
// source port 'sport' on member 'member' (the agent answers with
// Predictor::Predict()).  Lets the prober offer again, after a bond
// change, the ports that were validated before it (see "Ports that last").
using SportCheck = std::function<bool(size_t member, const IpAddress& dst,
                                      uint16_t sport)>;

// A member of the local bond, by index (the index the caller passes to
// HandleFrame() and receives in Run()'s send function).
struct LocalMember {
  std::string name;                 // 1 to kProbeNameBytes - 1 bytes.
  bool usable = true;               // Enabled, may carry traffic.
};

struct PathProberOptions {
  uint64_t agent_id = 0;            // Random per agent start; not 0.
  IpAddress local_ip;               // Probes go from and to this address.
  MacAddress local_mac{};           // Source MAC of every probe.
  // Validated ports wanted per (local member, remote member) pair; the
  // round stops probing from a member once each of its pairs has these.
  size_t sports_per_pair = 4;
  // Distinct ports probed from one member per round, at most.
  size_t max_probes_per_member = 64;
  // Unanswered REQUESTs per (peer, local member) at a time.
  size_t window = 4;
  // An unanswered REQUEST is sent again (with a new nonce) after this...
  int64_t reply_timeout_us = 50'000;
  // ... until it was sent this many times; then it counts as timed out.
  int tries = 3;
  // A new round starts this long after the last one ended.
  int64_t refresh_interval_us = 10'000'000;
  // A round ends "unreachable" when this many REQUESTs timed out and
  // nothing at all was heard from the peer.
  size_t unreachable_after = 8;

  // Protocol v2's defences (see "Trust" above).
  // 64 random bits per call, for nonces.  Empty: the kernel's CSPRNG
  // (getrandom()); tests pass their own.
  std::function<uint64_t()> random;
  // Shared keys (SetKeys() replaces them): the first signs every frame
  // sent, any of them is accepted.  Empty: frames carry no tag and tags
  // are not checked.
  std::vector<ProbeKey> keys;
  // Peers learned from REQUESTs (not AddPeer()) at most; when full, the
  // oldest unconfirmed one makes room, and if every one is confirmed the
  // new source is refused.
  size_t max_learned_peers = 64;
  // A learned peer with no confirmed exchange after this is forgotten.
  int64_t unconfirmed_ttl_us = 30'000'000;
  // REQUESTs taken from one peer: a token bucket of this rate and burst
  // (a round sends at most max_probes_per_member x tries per member).
  double requests_per_second = 500;
  double request_burst = 1000;
  // Peers learned from unknown sources, all together: a token bucket.
  double new_peers_per_second = 20;
  double new_peer_burst = 40;
  // Called with each frame refused for its version or its tag, and with
  // what it says it came from (the agent logs them).
  std::function<void(const FrameAddress& from, ProbeDefect defect,
                     uint8_t version)>
      on_refused;
};

enum class PeerProbeState : uint8_t {
  kIdle,          // Not started yet, or no usable local member.
  kProbing,       // A round is running.
  kComplete,      // The last round validated a port for every pair.
  kPartial,       // It ended with a pair that has none.
  kUnreachable,   // Nothing was heard from the peer.
};
// "idle", "probing", "complete", "partial", "unreachable".
std::string_view ToString(PeerProbeState state);

// One (local member, remote member) pair of a peer.
struct ProbePairReport {
  size_t local_member = 0;
  std::string local_name;
  uint8_t remote_member = 0;        // The peer's index.
  std::string remote_name;
  std::vector<uint16_t> sports;     // Validated and offered, ascending.
  size_t held_back = 0;             // Validated, not offered: they may go
                                    // to a member of the peer that is down
                                    // once it is back ("Ports that last").
  size_t forward_sports = 0;        // Ports seen arriving on the remote
                                    // member ((a) and (b) of the rule).
  bool return_verified = false;     // (c) of the rule.
};

// REQUESTs from one local member to one peer, over all rounds.
struct ProbeMemberStats {
  std::string name;
  uint64_t probes_sent = 0;         // First tries.
  uint64_t retries = 0;             // Later tries.
  uint64_t answered = 0;            // By a matched REPLY.
  uint64_t timed_out = 0;           // Unanswered after every try.
};

// What the prober knows about one peer (for rdma-bond/paths and metrics).
struct PeerProbeReport {
  IpAddress ip;
  MacAddress mac{};
  bool learned = false;             // From its REQUEST, not AddPeer().
  uint64_t agent_id = 0;            // The peer's; 0 until heard.
  uint32_t epoch = 0;               // The peer's bond epoch.
  uint8_t remote_member_count = 0;
  uint32_t remote_usable_mask = 0;
  PeerProbeState state = PeerProbeState::kIdle;
  uint64_t rounds = 0;              // Rounds started.
  int64_t round_started_us = -1;    // -1: never.
  int64_t last_round_end_us = -1;
  int64_t last_sent_us = -1;        // Last REQUEST sent to it.
  int64_t last_heard_us = -1;       // Last frame accepted from it.
  // An exchange with its pinned identity (agent id and epoch) completed:
  // a REPLY or CONFIRM of it echoed a nonce of ours.
  bool confirmed = false;
  // The last identity seen that is not the pinned one and was not
  // confirmed (0: none): a restart or a bond change of the peer before
  // its exchange, or a forgery.
  uint64_t candidate_agent_id = 0;
  uint32_t candidate_epoch = 0;
  uint64_t unconfirmed = 0;         // Frames of a candidate identity.
  uint64_t identity_mismatch = 0;   // Frames from another MAC.
  uint64_t rate_limited = 0;        // REQUESTs beyond its bucket.
  uint64_t unauthenticated = 0;     // Frames from its address refused
                                    // for their tag.
  uint64_t replies_sent = 0;
  uint64_t confirms_sent = 0;
  uint64_t confirms_received = 0;   // Matched CONFIRMs.
  uint64_t unmatched = 0;           // REPLY/CONFIRM echoing nothing known.
  uint64_t inconsistent = 0;        // Ports reported on two members.
  uint64_t stale = 0;               // Frames of an older epoch or agent.
  uint64_t peer_changes = 0;        // New epochs or agent ids seen.
  std::vector<ProbeMemberStats> members;  // By local member index.
  // Usable local members x the peer's usable members (those named yet),
  // by local then remote index.  Served results: the previous round's
  // while a refresh round runs.
  std::vector<ProbePairReport> pairs;
  // Usable local members x the peer's members that are not usable (those
  // named yet), with the ports that last toward them (at most
  // sports_per_pair, those the local OVS sends on the local member now):
  // remembered, not validated now.  A path toward a member of the peer
  // that may not carry (it is down, or owns no bucket) waits on these, so
  // that when the member takes over its frames reach it at once, however
  // the switch hashes meanwhile.  'return_verified' is false.
  std::vector<ProbePairReport> waiting;
};

// Frames HandleFrame() saw and did not take, and frames sent.
struct PathProberStats {
  uint64_t frames_received = 0;     // Every HandleFrame() call.
  uint64_t not_probe = 0;           // RoCEv2 traffic, garbage, others.
  uint64_t malformed = 0;
  uint64_t unsupported_version = 0;
  uint64_t own = 0;                 // Our own agent id (a loop).
  uint64_t not_for_us = 0;          // Destination IP is not local_ip.
  uint64_t on_unusable_member = 0;  // Arrived on a member not usable.
  uint64_t unknown_peer = 0;        // REPLY/CONFIRM from no known peer.
  uint64_t unauthenticated = 0;     // No tag, another key, a wrong tag.
  uint64_t identity_mismatch = 0;   // A known peer's address, another MAC.
  uint64_t rate_limited = 0;        // REQUESTs beyond a bucket.
  uint64_t peers_refused = 0;       // New sources while max_learned_peers
                                    // were confirmed.
  uint64_t peers_evicted = 0;       // Unconfirmed, to make room.
  uint64_t peers_expired = 0;       // Unconfirmed after unconfirmed_ttl_us.
  uint64_t frames_sent = 0;
};

class PathProber {
 public:
  // Sends 'frame' (valid during the call only) out of local member
  // 'member'.  It must not call back into the prober.
  using SendFn =
      std::function<void(size_t member, std::span<const uint8_t> frame)>;

  // InvalidArgument naming the option if agent_id is 0, local_ip is not
  // IPv4/IPv6, or a count, the timeout or the interval is not positive.
  static Result<PathProber> Create(const PathProberOptions& options);

  PathProber(PathProber&&) noexcept;
  PathProber& operator=(PathProber&&) noexcept;
  ~PathProber();

  // The local bond changed (or is first known): its members by index and
  // where OVS sends each port.  Every call is a change: the epoch is
  // bumped, all results and frames not yet sent are dropped, and every
  // peer is probed again.  InvalidArgument (nothing changes) if there are
  // more than kMaxProbeMembers members, a name is empty, too long or
  // repeated, or 'sports' is empty.
  // 'check' may be empty: then no port is offered again across a change.
  Status SetLocalBond(std::vector<LocalMember> members, SportSource sports,
                      SportCheck check = nullptr);

  // The local bond epoch: 0 before SetLocalBond(), bumped by it and by
  // Reprobe().
  uint32_t epoch() const;

  // Probes 'ip' (reached at 'mac').  Known already: updates the MAC.
  // InvalidArgument if 'ip' is local_ip or of the other IP version.
  Status AddPeer(const IpAddress& ip, const MacAddress& mac);
  // Forgets 'ip' and its results; false if unknown.  A later REQUEST from
  // it makes it a peer again.
  bool RemovePeer(const IpAddress& ip);

  // Replaces the shared keys (options().keys): a rotation.  Frames in
  // flight signed by a key no longer held are refused.
  void SetKeys(std::vector<ProbeKey> keys);

  // Drops every result and probes every peer again now.  Bumps the epoch,
  // so that the peers drop theirs and probe back too.
  void Reprobe();

  // A frame received on local member 'member' at 'now_us'.  Anything that
  // is not a probe for local_ip, or arrives on a member that is not
  // usable, is counted and ignored.  Answers are queued for Run().
  void HandleFrame(size_t member, std::span<const uint8_t> frame,
                   int64_t now_us);

  // A probe payload received by a UD QP on local member 'member' from
  // 'src' to 'dst' (its GRH: ud_wire.h): as HandleFrame(), with the
  // source port the payload says it was sent with, and no MAC: the
  // peer's MAC is not checked (a peer learned from a datagram has none).
  // Identity then rests on the agent id and epoch, the nonces, and the
  // keys if any.
  void HandleDatagram(size_t member, const IpAddress& src,
                      const IpAddress& dst, std::span<const uint8_t> payload,
                      int64_t now_us);

  // Sends what is due at 'now_us' (queued answers, REQUESTs, retries)
  // through 'send', never from a member that is not usable, and starts
  // and ends rounds.
  void Run(int64_t now_us, const SendFn& send);

  // When Run() must be called next: -1 if not until a frame arrives or
  // something is changed; a time at or before the last time passed in
  // when there is work now.
  int64_t NextDeadlineUs() const;

  // The validated source ports (ascending) for frames from 'local_member'
  // to the peer 'peer's member named 'remote_member' that the prober
  // offers (while a member of the peer is not usable, those that last:
  // see "Ports that last"); empty if none or unknown.
  std::vector<uint16_t> ValidatedSports(const IpAddress& peer,
                                        size_t local_member,
                                        std::string_view remote_member) const;

  // One peer's report, or nullopt if it is not a peer.
  std::optional<PeerProbeReport> Report(const IpAddress& peer) const;
  // Every peer's, by IP version then address.
  std::vector<PeerProbeReport> Reports() const;

  const PathProberStats& stats() const;
  const PathProberOptions& options() const;

 private:
  struct State;
  explicit PathProber(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PATH_PROBER_H_
