// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// AgentClient: librdmabond's side of the registry socket of the local
// ovs-rdma-bond-agent.
//
// Motivation.  The agent is the per-host daemon that follows the bond
// table, probes L4 paths with the peer hosts' agents and shows operators
// which queue pairs sit on which bond member.  It cannot see another
// process's QPs: each application tells it, through this client, about
// every QP it pinned (member, source port, role) and every change, and asks
// it which source ports it validated toward a peer, so that a connection
// tries those first instead of probing blindly.
//
// Protocol.  docs/agent.md, "Registry protocol", version 1: a Unix stream
// socket ($OVS_RUNDIR/rdma-bond-agent/registry.sock, in the agent's
// directory next to the table: see DefaultAgentSocketPath()), one request
// line, one reply line (PATHS: PATH
// lines and END), at most 1024 bytes each:
//
//   HELLO version=1 name=APP                    -> OK version=1 agent=PID
//   QP qpn=N bond=B member=M src=IP dst=IP sport=P role=R
//      [rnic=D] [conn=ID] [path=I,J] [repin_ns=NS] -> OK
//   DEL qpn=N                                    -> OK
//   PATHS bond=B dst=IP        -> PATH local=M remote=M sports=P1,P2... END
//
// The agent drops all of a client's QPs when its connection closes.
//
// Failure policy.  The agent is an observer: its absence or failure must
// never fail or stall an RDMA connection.  So nothing but HELLO waits for
// the agent: QP, DEL and PATHS (RequestPaths()) are sent without blocking,
// one after the other on the one socket, and their answers are read, in
// order, by Poll() (Maintain() calls it) whenever they arrive: an agent
// busy probing during a storm of bond changes delays its answers, never a
// connection's Progress().  Paths() is the one request that waits, for
// Establish(), and no longer than options.timeout (100 ms by default: the
// agent answers from its main loop).  An answer overdue by options.timeout
// is a transport failure, like no socket, connection refused, EPIPE, EOF
// or a malformed answer: it closes the socket and marks the client
// disconnected, and a PATHS under way is answered with the failure.  An
// ERR answer to a QP forgets that registration (it is not replayed) and to
// a QP or DEL is kept in last_refusal(); an ERR to PATHS is its answer;
// the connection stays.  While disconnected, requests fail at once with
// Unavailable, without a system call, until the retry interval has passed
// since the last failure: then the next request first reconnects (HELLO,
// waited for, at most options.timeout) and sends every registration the
// client holds again (the agent forgot them with the old connection)
// before its own.  The interval is options.retry_interval (1 s) and
// doubles after each failed reconnection up to options.max_retry_interval
// (16 s), so that a hung agent costs at most one timeout per interval; a
// successful HELLO resets it.  So the client may try at most once a
// second, and a caller simply goes on without the agent when a request
// fails.  Registrations made while disconnected are kept and sent at the
// next successful connection.  SIGPIPE is never raised (MSG_NOSIGNAL).
//
// Usage:
//   AgentClient agent;
//   Status s = agent.Connect(DefaultAgentSocketPath(table_path));
//   if (!s.ok() && !s.IsNotFound()) warn(s);     // Absent: silent.
//   options.agent = &agent;                       // Connection uses it.
//
// Thread-safety: none.  An AgentClient is used from one thread (the one
// that runs the connections that share it), like a Connection.

#ifndef RDMA_BOND_AGENT_CLIENT_H_
#define RDMA_BOND_AGENT_CLIENT_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// The version of the registry protocol this client speaks.
inline constexpr int kAgentProtocolVersion = 1;
// The agent's own directory, in the table's directory: it holds the
// registry socket, the summary, the pidfile and the unixctl socket, and
// only the agent's user may write it (docs/security.md).
inline constexpr std::string_view kAgentDirName = "rdma-bond-agent";
// The registry socket's file name, in the agent's directory.
inline constexpr std::string_view kAgentSocketName = "registry.sock";
// The longest request or reply line, newline included (docs/agent.md).
inline constexpr size_t kAgentMaxLine = 1024;

// The agent's directory for the table 'table_path': the table's directory
// plus "/rdma-bond-agent" ("rdma-bond-agent" for a bare file name; the
// default table's directory for "").
std::string DefaultAgentDirectory(std::string_view table_path);

// The registry socket for the table 'table_path':
// DefaultAgentDirectory(table_path) + "/registry.sock".
std::string DefaultAgentSocketPath(std::string_view table_path);

// What a registered QP does (docs/agent.md): carries traffic, so OVS must
// agree with its member and port; connected and silent; or failed.
enum class AgentQpRole : uint8_t { kActive, kStandby, kDown };
// "active", "standby", "down".
std::string_view ToString(AgentQpRole role);

// One QP line.
struct QpRegistration {
  uint32_t qpn = 0;                 // Unique per client (process).
  std::string bond;                 // Names: no spaces, no '='.
  std::string member;
  IpAddress src, dst;
  uint16_t sport = 0;
  AgentQpRole role = AgentQpRole::kStandby;
  std::string rnic;                 // "" is left out.
  std::optional<uint64_t> conn;     // The logical connection's id.
  std::optional<std::pair<size_t, size_t>> path;  // (local, remote) index.
  // Only on a re-registration after a bond change: the time from the
  // table's change (Bond::change_ns) to this pinning.
  std::optional<uint64_t> repin_ns;

  friend bool operator==(const QpRegistration&,
                         const QpRegistration&) = default;
};

// One PATH line: source ports the agent validated from local member
// 'local_member' to the peer's member 'remote_member'.
struct AgentPath {
  std::string local_member, remote_member;
  std::vector<uint16_t> sports;

  friend bool operator==(const AgentPath&, const AgentPath&) = default;
};

struct AgentClientOptions {
  // Bounds the wait for each answer (HELLO and Paths() block that long at
  // most; the others' answers are read by Poll()).
  std::chrono::milliseconds timeout{100};
  // The first wait after a failure before the client connects again, and
  // the longest (it doubles after each failed reconnection).
  std::chrono::milliseconds retry_interval{1000};
  std::chrono::milliseconds max_retry_interval{16000};
  // HELLO's name=; "" gives the program's name.
  std::string name;
};

// An answer to PATHS (AgentClient::LatestPaths()).
struct AgentPathsAnswer {
  // Numbers the client's answers: a new one has a higher number.
  uint64_t number = 0;
  // The ports, the agent's ERR, or the failure that ended the request.
  Result<std::vector<AgentPath>> paths = std::vector<AgentPath>{};
};

class AgentClient {
 public:
  AgentClient() : AgentClient(AgentClientOptions()) {}
  explicit AgentClient(const AgentClientOptions& options);
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;
  // Closes the socket: the agent drops this client's QPs.
  ~AgentClient();

  // Connects to the agent's socket 'path' (closing any earlier
  // connection), says HELLO and checks the reply, then sends the
  // registrations already held.  'timeout' replaces options.timeout for
  // this and every later request.  NotFound when 'path' does not exist (no
  // agent: callers stay silent); the agent's ERR (a refused uid) as
  // Unavailable with the agent's message; NotSupported for another
  // protocol version; otherwise the failure, naming 'path'.  Remembers
  // 'path' for reconnecting whatever the outcome.
  Status Connect(const std::string& path, std::chrono::milliseconds timeout);
  Status Connect(const std::string& path) {
    return Connect(path, options_.timeout);
  }

  // QP: adds or replaces the registration of reg.qpn (kept by the client
  // and replayed after a reconnection, without repin_ns) and sends it
  // without waiting for the answer.  InvalidArgument (nothing sent) when a
  // name is empty or has a space, '=' or a control character, or the line
  // is too long; Unavailable while disconnected (kept, sent at the next
  // connection).
  Status RegisterQp(const QpRegistration& reg);
  // DEL: forgets 'qpn' of RNIC 'rnic' (here at once, at the agent when it
  // is reached), without waiting for the answer.  QP numbers are unique
  // per RNIC only.
  Status RemoveQp(uint32_t qpn, const std::string& rnic = "");
  // PATHS: the ports the agent validated toward 'dst' from the members of
  // 'bond'; empty when it has probed nothing (yet).  Waits for the answer
  // (at most options.timeout).
  Result<std::vector<AgentPath>> Paths(std::string_view bond,
                                       const IpAddress& dst);
  // PATHS without waiting: Poll() puts the answer in LatestPaths().  Not
  // sent again while one for the same bond and 'dst' is under way.
  Status RequestPaths(std::string_view bond, const IpAddress& dst);
  // LOAD: the bytes QP 'qpn' of RNIC 'rnic' was handed to send since it
  // was created (a count that only grows), without waiting for the
  // answer.  Not sent while disconnected (it is no registration: the next
  // report says it again), nor to an agent that does not know LOAD (it
  // answered "ERR unknown request"; asked again after a reconnection).
  Status ReportLoad(uint32_t qpn, const std::string& rnic, uint64_t tx_bytes);
  // Whether the agent took LOAD (false once it refused it as unknown).
  bool load_supported() const { return load_supported_; }
  // The last answer to PATHS for 'bond' and 'dst' (nullptr before the
  // first), whoever asked.
  const AgentPathsAnswer* LatestPaths(std::string_view bond,
                                      const IpAddress& dst) const;

  // Sends what the socket did not take yet and reads the answers that
  // arrived, without blocking.  An answer overdue by options.timeout fails
  // the connection.
  void Poll();

  // Polls while answers are due, and notices an agent that went away (it
  // closed the socket: it exited or is restarting) and, once the retry
  // interval allows, connects again and registers every QP it holds again,
  // so that a restarted agent learns them without waiting for the next
  // change.  Looks for a closed socket or reconnects no more often than
  // every kMaintainInterval; never blocks longer than one HELLO.  Call it
  // regularly (Connection::Progress() does).
  void Maintain();
  static constexpr std::chrono::milliseconds kMaintainInterval{100};

  // Closes the connection without forgetting the registrations.
  void Disconnect();

  bool connected() const { return fd_ >= 0; }
  // The socket of the last Connect() ("" before).
  const std::string& path() const { return path_; }
  // The agent's pid from the last HELLO reply (0 if none).
  pid_t agent_pid() const { return agent_pid_; }
  // Why the client is disconnected (OK while connected).
  const Status& last_error() const { return last_error_; }
  // The agent's last ERR to a QP or DEL (OK before any).
  const Status& last_refusal() const { return last_refusal_; }
  // Requests sent whose answer has not arrived.
  size_t outstanding() const { return pending_.size(); }
  // Registrations held (replayed at each connection).
  // Registrations by (rnic, qpn).
  using Key = std::pair<std::string, uint32_t>;
  const std::map<Key, QpRegistration>& registrations() const {
    return registrations_;
  }

 private:
  using Clock = std::chrono::steady_clock;

  // A request sent, whose answer is due.
  enum class Ask : uint8_t { kQp, kDel, kPaths, kLoad };
  struct Pending {
    Ask ask;
    Key key;                        // kQp: the registration's.
    uint64_t generation = 0;        // kQp: of the registration sent.
    std::string paths_key;          // kPaths: PathsKey().
    Clock::time_point sent;
  };
  static std::string PathsKey(std::string_view bond, const IpAddress& dst);

  // Connected, or reconnected (HELLO and replay, all but 'skip_qpn') if
  // the retry interval has passed; else Unavailable without a system call.
  Status EnsureConnected(Clock::time_point deadline,
                         std::optional<Key> skip_qpn);
  // Opens the socket and says HELLO; then replays the registrations.
  Status Open(Clock::time_point deadline, std::optional<Key> skip_qpn);
  // HELLO: sends 'line' (newline added) and reads one reply line into
  // 'reply'.  REQUIRES: nothing else under way.
  Status Request(const std::string& line, Clock::time_point deadline,
                 std::string* reply);
  Status SendLine(const std::string& line, Clock::time_point deadline);
  Status ReadLine(Clock::time_point deadline, std::string* line);
  // Queues 'line' (newline added), whose answer 'pending' awaits, and
  // sends what the socket takes.
  Status Send(const std::string& line, Pending pending);
  // Sends what the socket takes of out_.
  Status Flush();
  // Takes one answer line for pending_.front(); false when it failed the
  // connection.
  bool TakeAnswer(const std::string& line);
  void Answer(const std::string& paths_key,
              Result<std::vector<AgentPath>> paths);
  // Records a transport failure: closes, schedules the next attempt.
  Status Fail(Status status);

  AgentClientOptions options_;
  std::string name_;                // HELLO's name (no spaces).
  std::string path_;
  int fd_ = -1;
  std::string input_;               // Bytes read past the last line.
  std::string out_;                 // Bytes the socket did not take yet.
  std::deque<Pending> pending_;     // Requests sent, oldest first.
  std::vector<AgentPath> building_; // PATH lines of the answer being read.
  pid_t agent_pid_ = 0;
  Status last_error_;
  Status last_refusal_;
  bool load_supported_ = true;
  Clock::time_point next_attempt_{};
  Clock::time_point next_maintain_{};
  std::chrono::milliseconds backoff_{0};
  std::map<Key, QpRegistration> registrations_;
  // Per registration: the number of its last version (an ERR forgets it
  // only if no newer one was made since).
  std::map<Key, uint64_t> generations_;
  uint64_t next_generation_ = 1;
  std::map<std::string, AgentPathsAnswer> answers_;   // By PathsKey().
  uint64_t answers_made_ = 0;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_AGENT_CLIENT_H_
