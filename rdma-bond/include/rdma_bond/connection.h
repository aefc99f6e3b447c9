// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Connection: one logical, reliable, in-order RDMA connection between two
// bonded hosts, carried by a full mesh of queue pairs.
//
// Motivation.  A host bonds two ports of different NICs in an OVS bond.  A
// queue pair lives on one RNIC, so a single QP dies with its NIC, and a QP
// that sends from the wrong member moves the host's MAC on the switch
// (active-backup) or is hashed back to an RNIC that does not know it
// (balance-tcp).  A Connection hides that: the application sends messages
// and RDMA writes; the connection keeps them on paths the bond and the
// switch agree on, and moves them when a member fails, without losing or
// duplicating any.
//
// Paths.  For local member i (local Rnic i) and remote member j, path
// (i, j) is a QP on local RNIC i connected to a QP on the peer's RNIC j.
// All pairs are connected; which of them carry traffic depends on both
// bonds (PathPlanner, and the peer's view sent over the side channel):
//
//   - active-backup: only (local active, remote active).  The others are
//     connected and kept ready but never send (a frame from a standby
//     member would move the host's MAC on the switch).  Each side tells
//     the other its active member (ACTIVE) initially and on every change.
//   - balance-tcp: every path whose two members are usable.  Our source
//     port must map to member i in our bond (PathPlanner), and the switch
//     (whose hash nobody knows) must deliver our frames to the peer's
//     member j and the peer's frames back to ours.  Each side probes each
//     path with a PROBE message; a side that has not received the peer's
//     probe within probe_timeout sends REPICK and the peer moves to its
//     next candidate port.  A path is UP when its own probe is
//     acknowledged: the acknowledgement proves both directions.  After 64
//     candidates the path is failed (with the reason) and retried every
//     second.
//   - no snapshot (bond == nullptr): every path carries; ports spread by
//     options.spread_key.
//
// Reliability.  Every message carries a header (64-bit connection
// sequence, type, length).  The sender keeps each message in registered
// memory until its send completes kSuccess; when a path fails (an error
// completion, a disabled member, a lost source-port mapping) its
// unacknowledged messages are re-queued in sequence order on the surviving
// carrying paths, or held until one is UP.  The receiver reorders by
// sequence, delivers each message exactly once and in order, and drops
// duplicates.  A failed path is reconnected with PATH_RESET /
// PATH_RESET_ACK (two fresh QPs; when both sides reset at once, the
// initiator's reset wins) and probed again.
//
// TCP fallback.  When no path can carry for tcp_fallback_after (every path
// down: both RNICs of a side failed, or every member pair broken), the
// messages and writes waiting go over the side channel (DATA), with their
// sequence numbers, so the receiver delivers them in order and exactly
// once as it does from the paths; as soon as a path is UP they go there
// again.  A connection with TCP fallback is lost only with its side
// channel.
//
// RDMA writes.  Write() copies the data into registered memory, writes it
// into the peer's write region with the rkey of the path's remote RNIC,
// then sends a write notice on the same QP; RC ordering makes the data
// visible before the notice.  If the path dies, both are re-sent on a
// survivor with that path's rkey; the notice is delivered once (OnWrite),
// in order with the messages.
//
// The agent.  With options.agent, the connection registers each path's QP
// with the host's ovs-rdma-bond-agent (member, source port, role) and
// keeps the registration current, and in balance-tcp it probes the source
// ports the agent validated with the peer's agent first: a path then
// usually comes up on its first probe.  Without the agent, or when it
// fails, everything works as described above.
//
// Usage:
//   Result<std::unique_ptr<Connection>> c = Connection::Establish(
//       std::move(side_channel), /*initiator=*/true, {&rnic1, &rnic2},
//       &bond, table_hash_impl, options);
//   if (!c.ok()) return c.status();
//   (*c)->OnMessage([](std::span<const uint8_t> m) { ... });
//   while (...) {
//     Status s = (*c)->Send(message);   // Unavailable: Progress(), retry.
//     RETURN_IF_ERROR((*c)->Progress());
//   }
//   (*c)->Close(std::chrono::seconds(5));
//
// Thread-safety: none.  A Connection, its RNICs and its side channel are
// used from one thread at a time; callbacks run inside Progress() (and
// Close()) on that thread and may call Send(), Write() and Progress() (to
// free send buffers when Send() says Unavailable: a nested Progress()
// delivers nothing until the callback returns), but not Close().

#ifndef RDMA_BOND_CONNECTION_H_
#define RDMA_BOND_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/agent_client.h"
#include "rdma_bond/bond.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/side_channel.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// Internal (librdmabond's conn/ and predict/).
class PathPlanner;
struct BondView;
struct PathId;

struct ConnectionOptions {
  IpAddress local, remote;          // The RoCEv2 addresses of both hosts.
  uint32_t max_message_size = 65536;   // Bytes of payload per message.
  uint32_t send_window = 256;          // Work requests in flight per path.
  uint32_t recv_buffers = 256;         // Receives posted per QP.
  size_t write_region_size = 1 << 20;  // Peer-writable region each side
                                       // exposes.
  std::chrono::milliseconds probe_timeout{20};
  std::chrono::milliseconds establish_timeout{5000};
  uint64_t spread_key = 0;             // Spreads source ports between
                                       // connections.
  uint32_t max_probe_attempts = 64;    // Source ports tried per path before
                                       // it is failed for failed_retry.
  std::chrono::milliseconds failed_retry{1000};
  // Pinning off, for comparisons (rdma-bond-perf --baseline): each path
  // keeps one arbitrary source port, as the kernel derives one from the QP
  // numbers, and never moves it (REPICK and failed probes change nothing).
  bool fixed_source_port = false;
  QpOptions qp;                        // For every QP (rnic.h).
  // A key shared with the peer (ReadSideChannelKey() in side_channel.h):
  // when set, the side channel is authenticated (HMAC-SHA256 over the
  // handshake and every control message), and a peer without the same
  // key is refused.  Empty: unauthenticated, as when the operator gives
  // no key file (docs/security.md).
  std::vector<uint8_t> side_channel_key;
  // Called about every millisecond while Establish() waits (for the
  // peer's HELLO and ENDPOINTS, and for a path to come up), so that a
  // caller that sets up several connections one after the other keeps the
  // earlier ones running: the peer may need them to answer (a path reset)
  // before it gets to this one.  Must not touch this connection.
  std::function<void()> while_establishing;
  // The local ovs-rdma-bond-agent (agent_client.h), or nullptr.  Not
  // owned; must outlive the connection; may be shared by the connections
  // of one thread.  When set and there is a bond snapshot: every path's QP
  // is registered (role active when the path may carry, standby when it
  // may not, down when failed) and re-registered on every change of QP,
  // source port or role, with repin_ns after a change that UpdateBond()
  // caused (registered by the next Progress(): UpdateBond() asks the agent
  // nothing); Close() and the destructor remove them.  In balance-tcp the
  // agent's validated source ports (PATHS, asked at Establish(), after
  // each UpdateBond() and every agent_refresh) are probed first, and a path
  // whose port the agent no longer validates (a later probing round found
  // it broken) moves to one it does.  The agent failing never fails the
  // connection: see AgentClient's failure policy.
  AgentClient* agent = nullptr;
  std::chrono::milliseconds agent_refresh{2000};
  // Shares.  The part of its traffic the connection gives the paths of
  // each local member (path order; empty: every carrying path carries, as
  // the send window allows).  With shares, a path carries in proportion
  // to its member's share, split evenly over the member's paths; a path
  // whose share is 0 stays connected and carries only when no path with a
  // share can.  On a bond with other_config:rdma-bond-rebalance=true
  // (Bond::rdma_rebalance()) the shares, equal when not given, follow
  // OVS's rebalancing: when OVS moves the bucket of a path's source port
  // to another member, the path's share goes to the path toward the same
  // peer member there, so that the bytes OVS counted in that bucket
  // really move (docs/rebalance.md).
  std::vector<double> member_shares;
  // TCP fallback.  When no path can carry for tcp_fallback_after (every
  // path down, both RNICs of a side failed), messages and writes go over
  // the side channel (a TCP connection through OVS), in the same order and
  // exactly once, and back on the paths as soon as one is up again;
  // ConnectionStats says how many each carried.  Off: such a connection
  // waits for a path, and fails after establish_timeout.
  bool tcp_fallback = true;
  std::chrono::milliseconds tcp_fallback_after{20};
  // Called with one line for each event of the connection's life: a path
  // that goes down (and why), is reset, connected, probed or comes up; a
  // new bond snapshot or peer view; TCP fallback starting and ending; a
  // nudge of the side channel.  For diagnosis (rdma-bond-perf --trace);
  // runs inside the call that made the event, must not touch the
  // connection.  Unset: nothing is formatted.
  std::function<void(std::string_view)> trace;
};

// A QP number and the UDP source port it was given (connected with, or
// re-pinned to in place).
struct QpPinning {
  uint32_t qpn = 0;
  uint16_t sport = 0;
  bool operator==(const QpPinning&) const = default;
};

struct PathStats {
  // The most recent pinnings a path keeps (older ones are dropped).
  static constexpr size_t kMaxPinnings = 64;

  size_t local_index = 0, remote_index = 0;
  std::string local_member, remote_member, rnic;
  // "idle", "resetting", "ready", "probing", "up", "down", "failed".
  std::string state;
  bool up = false;                  // Its probe was acknowledged.
  bool carries = false;             // Both bonds let it carry traffic.
  uint16_t sport = 0;
  uint32_t qpn = 0;                 // Its current QP's number.
  uint64_t messages_sent = 0;       // Posted on it (writes included).
  uint64_t bytes_sent = 0;          // Their payload bytes (the agent's
                                    // LOAD: the RDMA load of its bucket).
  double share = 0;                 // Of the connection's traffic, when
                                    // shares are in use (else 0).
  uint64_t messages_received = 0;   // Data and notices received on it.
  uint64_t resent_from = 0;         // Moved off it when it failed.
  uint64_t repins = 0;              // Source port changes (bond change).
  uint64_t failures = 0;
  uint64_t probe_attempts = 0;      // Probes posted.
  uint64_t repicks = 0;             // Source ports moved on REPICK.
  uint64_t resets = 0;              // Reconnections (PATH_RESET).
  bool agent_hint = false;          // The agent validated 'sport' (PATHS).
  std::string last_error;
  // Every QP and source port the path used, oldest first (at most
  // kMaxPinnings): what its frames on the wire may carry.
  std::vector<QpPinning> pinnings;
};

struct ConnectionStats {
  uint64_t messages_sent = 0;       // Accepted by Send() and Write().
  uint64_t messages_delivered = 0;  // Given to OnMessage / OnWrite.
  uint64_t duplicates_dropped = 0;
  uint64_t resent = 0;              // Re-queued after a path failure.
  uint64_t repins = 0;
  uint64_t path_failures = 0;
  uint64_t stalls = 0;              // Times work waited with no path UP.
  // ACTIVE repeated so that TCP recovers a lost side-channel segment by
  // SACK instead of its retransmission timeout (connection_internal.h).
  uint64_t side_nudges = 0;
  // ACTIVE (a change of this side's bond) posted on paths, and the peer's
  // ACTIVEs that a path brought before the side channel did.
  uint64_t views_sent_on_paths = 0;
  uint64_t views_from_paths = 0;
  // Paths that carried before their probe was acknowledged: the peer's
  // frames had come in on them and the agent validated their port.
  uint64_t ups_before_ack = 0;
  // The side channel's retransmission floor as its kernel reports it
  // (SideChannel::RtoMin()): 0 when it cannot say (a kernel before 6.15:
  // the route's rto_min applies, 200 ms by default).
  uint64_t side_rto_min_us = 0;
  // TCP fallback: messages and writes sent and received on the side
  // channel (the paths' own counts are in 'paths'), and the times it
  // started carrying.
  uint64_t tcp_messages_sent = 0;
  uint64_t tcp_messages_received = 0;   // Duplicates included.
  uint64_t tcp_fallbacks = 0;
  // Sent over TCP and, not acknowledged by the peer's TCP kTcpResendAfter
  // later while a path carried again, sent on a path too.
  uint64_t tcp_resent = 0;
  // A path's share moved with its bucket (rdma-bond-rebalance).
  uint64_t shares_followed = 0;
  std::vector<PathStats> paths;
};

class Connection {
 public:
  // Sets up the connection on 'side', a connected side channel (taken);
  // 'initiator' is true on exactly one side (the client).  'rnics': the
  // local RNICs, one per bond member, in path order (Rnic::member() names
  // a member of 'bond'); not owned, must outlive the connection.  'bond'
  // may be nullptr (no snapshot: every path carries).  Returns when at
  // least one path that may carry traffic is UP, or fails after
  // options.establish_timeout with a message naming each path and why it
  // is not up.  Fails at once on a side-channel protocol mismatch, an
  // invalid option, or an RNIC that cannot create QPs or register memory.
  static Result<std::unique_ptr<Connection>> Establish(
      std::unique_ptr<SideChannel> side, bool initiator,
      std::vector<Rnic*> rnics, const Bond* bond, uint32_t table_hash_impl,
      const ConnectionOptions& options);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // Destroys the QPs, then deregisters and frees the memory.  Does not
  // send BYE: call Close() first for an orderly end.
  ~Connection();

  // Queues a message (copied into registered memory).  Unavailable when
  // the send buffers are full: call Progress() and retry.  InvalidArgument
  // when longer than max_message_size or after Close().  Never lost: if
  // its path dies, it is re-sent on a survivor.
  Status Send(std::span<const uint8_t> message);

  // RDMA write of 'data' to offset 'remote_offset' of the peer's write
  // region, followed by the delivery of a write notice (offset, length) to
  // the peer's OnWrite callback exactly once, in order with the messages.
  // Re-sent on a survivor path (with that path's rkey) if its path dies.
  // InvalidArgument if 'data' is longer than max_message_size or does not
  // fit in the peer's region; Unavailable as Send().
  Status Write(std::span<const uint8_t> data, uint64_t remote_offset);

  // Callbacks, run inside Progress(): messages in order, exactly once.
  // The span is valid during the call only.  Messages (and write notices)
  // that arrive while the callback for them is not set are held, not
  // dropped: the first Progress() after it is set delivers them.
  void OnMessage(std::function<void(std::span<const uint8_t>)> cb);
  void OnWrite(std::function<void(uint64_t offset, size_t length)> cb);

  // The local region the peer writes into (write_region_size bytes).
  std::span<uint8_t> write_region();

  // Polls the RNICs, the side channel and the timers; never blocks.  Fails
  // only when the connection is lost: the side channel closed without
  // BYE, or no path could carry traffic for establish_timeout (the
  // message names every path and its last error).  Once failed, it keeps
  // failing with the same status.
  Status Progress();

  // A new table snapshot (the same bond as at Establish()).  Re-pins:
  // balance-tcp: a path whose source port no longer maps to its member
  // gets a new one (counted in repins); a path whose member is now
  // disabled is failed at once with SetError, so that its in-flight work
  // is re-sent on survivors immediately; a re-enabled member's paths are
  // reset and probed.  Active-backup: the carrying path follows the new
  // active member and the old one is stopped at once.  The peer is told
  // (ACTIVE).  On error (the snapshot cannot be planned) nothing changes.
  Status UpdateBond(const Bond& bond, uint32_t table_hash_impl);

  // Messages and writes sent (or queued) and not yet acknowledged.
  size_t InFlight() const;
  // The RNICs' event fds and the side channel's fd, for poll().
  std::vector<int> Fds() const;
  // Microseconds until Progress() must run even without events; -1: none.
  int64_t NextDeadlineUs() const;
  // Waits in poll() on Fds() for at most 'max_wait' or NextDeadlineUs().
  void WaitForEvents(std::chrono::milliseconds max_wait) const;
  ConnectionStats stats() const;
  // True when at least one carrying path is UP.
  bool HasCarryingPath() const;

  // Runs Progress() until everything sent is acknowledged (bounded by
  // 'timeout'), then sends BYE and, still progressing, waits (bounded by
  // the same deadline) for the peer's BYE so that its last messages are
  // received.  Unavailable if something stayed unacknowledged.
  Status Close(std::chrono::milliseconds timeout);

 private:
  using Clock = std::chrono::steady_clock;
  struct Path;                      // One QP pair; defined in connection.cc.

  // A message or write kept until acknowledged.
  struct Item {
    uint8_t type = 0;               // MessageType in connection.cc.
    uint32_t slot = 0;              // Its send slot.
    uint32_t length = 0;            // Payload bytes.
    uint64_t remote_offset = 0;     // Writes: offset in the peer's region.
    int path = -1;                  // Posted on this path, -1, or
                                    // kOverTcp.
    uint32_t epoch = 0;             // ... in this epoch of the path.
  };
  // A message that arrived before its predecessors.
  struct Pending {
    uint8_t type = 0;
    std::vector<uint8_t> payload;
    uint64_t offset = 0;
    uint64_t length = 0;
  };

  Connection(std::unique_ptr<SideChannel> side, bool initiator,
             std::vector<Rnic*> rnics, const ConnectionOptions& options);

  Status Setup(const Bond* bond, uint32_t table_hash_impl);
  Status Handshake();
  Status WaitEstablished();
  // The next side-channel message during Establish(), calling
  // options_.while_establishing while it waits.
  Result<SideMessage> ReceiveSide(std::string_view what);
  std::string DescribePaths() const;

  // Messages.
  Status Enqueue(uint8_t type, std::span<const uint8_t> data,
                 uint64_t remote_offset);
  void Schedule();
  // Whether messages go over the side channel now (TCP fallback).
  bool FallbackActive(Clock::time_point now) const;
  // Sends what waits for a path over the side channel, in order, while
  // its queue is short.
  void ScheduleOverTcp();
  // Frees what the peer's TCP acknowledged; while a path carries, moves
  // onto the paths what TCP has not delivered after kTcpResendAfter.
  void ReleaseTcpSent();
  Status HandleData(const SideMessage& m);
  Path* PickPath(size_t wrs);
  // Shares: whether they are in use (given, or the bond rebalances with
  // the RDMA load); a path whose bucket OVS moved gives its share to the
  // path toward the same peer member on the bucket's new member.
  bool SharesInUse() const;
  void FollowBucket(Path& p);
  Status PostItem(Path& path, uint64_t seq, Item& item);
  void Deliver(uint64_t seq, uint8_t type, std::span<const uint8_t> payload,
               uint64_t offset, uint64_t length);
  void DeliverOne(uint8_t type, std::span<const uint8_t> payload,
                  uint64_t offset, uint64_t length);
  // Whether the application set the callback that takes 'type'.
  bool HasCallbackFor(uint8_t type) const;
  // Delivers what is held in order (after Establish() returned).
  void DeliverReady();

  // Completions.
  void PollRnic(size_t rnic);
  void HandleCompletion(const Completion& c);
  void HandleReceive(Path& path, uint32_t buffer, uint32_t byte_len);

  // Side channel.
  Status SendSide(SideMessageType type, const std::vector<uint8_t>& body);
  Status PollSide();
  // Repeats the last ACTIVE while side-channel bytes stay unacknowledged
  // (kNudgeAfter, kNudgeInterval, kMaxNudges in connection_internal.h).
  void NudgeSide();
  Status HandleSide(const SideMessage& message);
  Path* FindPath(const PathId& id);
  BondView LocalView() const;

  // options_.trace, if set, with "path LOCAL->REMOTE: " before 'what'
  // when 'path' is given.  Callers test Tracing() before they format.
  bool Tracing() const { return static_cast<bool>(options_.trace); }
  void Trace(const Path* path, const std::string& what) const;
  // The time an agent request starts, read only when tracing.
  std::chrono::steady_clock::time_point AgentCallStart() const;
  // Traces an agent request begun at 'start' that took 2 ms or more.
  void TraceSlowAgentCall(const char* what,
                          std::chrono::steady_clock::time_point start) const;

  // Paths.
  bool Carries(const Path& path) const;
  bool Usable(const Path& path) const;
  // Both ends' members are enabled: the path is kept connected (reset
  // after a failure), whether or not it may carry.
  bool Alive(const Path& path) const;
  void FailPath(Path& path, const std::string& reason);
  // Appends the path's current QP and source port to its pinnings.
  void RecordPinning(Path& path);
  void StartReset(Path& path);
  Status CreatePathQp(Path& path);
  // Records whether RNIC 'r' could create a QP; a change is told to the
  // peer (ACTIVE: its member is unusable while it cannot).
  void NoteRnicHealth(size_t r, bool healthy);
  // Sends ACTIVE if LocalView() changed since it was last sent: on the
  // side channel now, and on every path that carries (SendViewOnPaths()).
  void AnnounceView();
  // Posts the last ACTIVE on each up path that carries and has not
  // carried it (one in flight per path): the peer learns of the change
  // even while the side channel's TCP waits for its retransmission timer.
  void SendViewOnPaths();
  // Takes the peer's ACTIVE number 'seq' if it is newer than the last
  // taken ('path': the path it came on, nullptr for the side channel).
  void TakePeerView(uint64_t seq, const BondView& view, const Path* path);
  void ConnectPath(Path& path, const QpEndpoint& remote);
  // OK if the peer's new QP of a reset ('what': PATH_RESET or its ACK) is
  // on the same address, GID, MAC and MTU as at setup.
  Status CheckResetEndpoint(const Path& path, const QpEndpoint& remote,
                            std::string_view what) const;
  void StartProbe(Path& path);
  // The path carries from now on; 'how' its port was found, for the trace.
  void MarkUp(Path& path, std::string_view how);
  void MovePort(Path& path, const std::string& why);
  bool RefreshCandidates(Path& path);
  // Moves an up (or probing) path to the first of fresh candidates, in
  // place; false if the QP refused and the path was failed ('why' is said
  // after the ports).
  bool RepinInPlace(Path& path, std::string_view why);
  // Learns from a SetSourcePort() status whether the RNICs change ports in
  // place (sport_in_place_).
  void NoteInPlace(const Status& s);
  void Reconcile(Path& path);
  void RunTimers();

  // The agent (connection_agent.cc); all do nothing without one.
  // Asks for the validated ports toward the peer (balance-tcp only).
  void FetchAgentPaths();
  // The agent's ports for 'path' that still map to its member, in order.
  std::vector<uint16_t> AgentHints(const Path& path) const;
  // Every agent_refresh: asks again, without waiting; when an answer
  // arrived, moves each path whose port the agent no longer validates onto
  // one it does.
  void FollowAgentPaths();
  // Takes the agent's last answer to PATHS if it is new.
  bool TakeAgentPaths();
  // Tells the agent about every path whose QP, port or role changed since
  // it was last told; 'repin_ns' goes with each such registration.
  void SyncAgent(std::optional<uint64_t> repin_ns = std::nullopt);
  void SyncAgentPath(Path& path, std::optional<uint64_t> repin_ns);
  // Every kAgentLoadInterval: each registered QP's bytes (LOAD).
  void ReportAgentLoad();
  AgentQpRole AgentRole(const Path& path) const;
  // DEL for every registered QP.
  void UnregisterFromAgent();
  // Whether every message and write the peer said it sent (BYE's last
  // sequence) was received: delivered or held.
  bool HasPeerMessages() const;

  ConnectionOptions options_;
  bool initiator_;
  std::vector<Rnic*> rnics_;
  std::vector<bool> rnic_broken_;   // Per RNIC: the last CreateQp failed.
  std::unique_ptr<SideChannel> side_;
  std::unique_ptr<PathPlanner> planner_;
  std::vector<std::string> local_members_;
  std::vector<std::string> remote_members_;
  std::unique_ptr<BondView> peer_view_;
  std::unique_ptr<BondView> sent_view_;
  // ACTIVE numbers: of sent_view_ (0: HELLO's), and of peer_view_.
  uint64_t view_seq_ = 0;
  uint64_t peer_view_seq_ = 0;
  // An ACTIVE that arrived on a path, taken after the completions are
  // handled (Progress()): path index, number, view.
  struct PathView;
  std::unique_ptr<PathView> path_view_;
  std::vector<std::unique_ptr<Path>> paths_;
  size_t round_robin_ = 0;
  // The agent: our conn= id, and its validated ports toward the peer.
  uint64_t agent_conn_id_ = 0;
  std::vector<AgentPath> agent_paths_;
  uint64_t agent_paths_answer_ = 0;   // AgentPathsAnswer::number taken.
  std::chrono::steady_clock::time_point next_agent_refresh_{};
  std::chrono::steady_clock::time_point next_agent_load_{};
  // Whether this connection's RNICs change a QP's source port in place:
  // unknown until one did or refused (FollowAgentPaths() moves a port it
  // did not get from the agent unless one refused).
  std::optional<bool> sport_in_place_;
  // The time from the table's change to UpdateBond()'s re-pin, reported
  // with the registrations of the next Progress() (SyncAgent()).
  std::optional<uint64_t> pending_repin_ns_;

  // Registered memory: send slots (header + payload each), control
  // messages (a probe and an ACTIVE per path, kControlSlot bytes each) and
  // the write region, each registered on every RNIC.
  size_t slot_size_ = 0;
  size_t n_slots_ = 0;
  std::unique_ptr<uint8_t[]> send_pool_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint64_t> slot_seq_;
  std::unique_ptr<uint8_t[]> probe_pool_;
  std::unique_ptr<uint8_t[]> write_region_;
  std::vector<MemoryRegion> send_mrs_, probe_mrs_, write_mrs_;
  uint64_t peer_region_length_ = 0;

  // Sender: unacknowledged items by sequence, those waiting for a path.
  std::map<uint64_t, Item> items_;
  std::set<uint64_t> unsent_;
  uint64_t next_seq_ = 1;
  // Receiver: the next sequence to deliver, and what arrived early.
  uint64_t next_deliver_ = 1;
  std::map<uint64_t, Pending> reorder_;

  std::function<void(std::span<const uint8_t>)> on_message_;
  std::function<void(uint64_t, size_t)> on_write_;

  ConnectionStats stats_;
  bool established_ = false;
  int callback_depth_ = 0;          // > 0 while OnMessage/OnWrite runs.
  bool stalled_ = false;
  std::optional<Clock::time_point> no_path_since_;
  // Side-channel bytes unacknowledged since, the next nudge, nudges sent
  // since everything was last acknowledged.
  std::optional<Clock::time_point> side_unacked_since_;
  Clock::time_point next_nudge_{};
  uint32_t nudges_ = 0;
  // TCP fallback: carrying now, and when it last sent.
  bool over_tcp_ = false;
  Clock::time_point last_tcp_send_{};
  // Items sent as DATA, in the order sent: the side channel's stream
  // offset past each one's frame, its sequence number, when.  Kept until
  // the peer's TCP acknowledges that offset (ReleaseTcpSent()).
  struct TcpSent {
    uint64_t end = 0;
    uint64_t seq = 0;
    Clock::time_point at{};
  };
  std::deque<TcpSent> tcp_sent_;
  bool closing_ = false;
  bool bye_sent_ = false;
  bool bye_received_ = false;
  std::optional<uint64_t> peer_last_seq_;   // From the peer's BYE.
  bool side_closed_ = false;
  Status failed_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_CONNECTION_H_
