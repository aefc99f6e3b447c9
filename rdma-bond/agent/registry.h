// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The agent's QP registry: which QPs the applications on this host pinned,
// to which member and UDP source port, as they told the agent over its
// registry socket (protocol v1, docs/agent.md).
//
// Applications (librdmabond's AgentClient) connect to a Unix stream socket
// and send one request per line.  The server identifies each client by
// SO_PEERCRED and refuses, at HELLO, clients whose uid is not root, not the
// agent's own and not allowed by the AccessPolicy, with a one-line reason
// naming the way out.  A client's QPs live as long as its connection: when
// the application exits, its registrations go with it.
//
// RegistryServer is non-blocking and built for an event loop: AppendFds()
// names the descriptors to wait on (POLLIN), Run() does whatever is ready.
// A client that sends more than kAgentMaxLine without a newline, or more
// than kMaxPendingBytes of requests faster than they are answered, is
// disconnected (and its QPs dropped) rather than allowed to grow the
// agent's memory.
//
// Thread-safety: none; one thread owns a RegistryServer.

#ifndef RDMA_BOND_AGENT_REGISTRY_H_
#define RDMA_BOND_AGENT_REGISTRY_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "conn/registry_protocol.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond::agent {

inline constexpr size_t kMaxPendingBytes = 64 * 1024;  // Per client.
inline constexpr size_t kMaxClients = 1024;          // Beyond: refused.
// Clients of one non-root uid at a time: one user cannot fill the registry
// for the others (root is held only to kMaxClients).
inline constexpr size_t kMaxClientsPerUid = 64;
// How long a client may stay connected without HELLO.
inline constexpr uint64_t kHelloTimeoutMs = 5000;
// How long accepting pauses when the agent is out of descriptors (EMFILE,
// ENFILE): the listening socket stays readable, so polling it would spin.
inline constexpr uint64_t kAcceptPauseMs = 100;
inline constexpr size_t kMaxQpsPerClient = 65536;    // Beyond: ERR.
// QPs of one non-root uid over all its connections: 64 connections of
// kMaxQpsPerClient each would be millions.
inline constexpr size_t kMaxQpsPerUid = 65536;

// Who is at the other end of a registry connection (SO_PEERCRED), and the
// supplementary groups of that process (from /proc, empty if unreadable).
struct ClientCreds {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Which users may register QPs.  Root and the agent's own user always may.
struct AccessPolicy {
  uid_t agent_uid = 0;
  std::vector<uid_t> allowed_uids;
  std::vector<gid_t> allowed_gids;   // Primary or supplementary.

  bool Allows(const ClientCreds& creds) const;
  // The ERR line's message for a refused client.
  std::string RefusalMessage(const ClientCreds& creds) const;
};

// Parses "--allow-user" values: user names or numeric uids, comma
// separated.  InvalidArgument naming an unknown user.
Result<std::vector<uid_t>> ParseUserList(std::string_view text);
// The same for "--allow-group".
Result<std::vector<gid_t>> ParseGroupList(std::string_view text);

// What a QP is doing, as its application says.
enum class QpRole : uint8_t {
  kActive,     // Carries traffic: OVS must agree with its member and port.
  kStandby,    // Connected but sends nothing (active-backup standby paths).
  kDown,       // Failed; being recovered.
};
std::string_view ToString(QpRole role);
std::optional<QpRole> ParseQpRole(std::string_view text);

// One registered QP.
struct QpRecord {
  uint64_t client = 0;          // RegistryServer's id of the connection.
  pid_t pid = 0;                // The application's process.
  std::string client_name;      // HELLO's name=, or the process's comm.
  uint32_t qpn = 0;
  std::string bond, member;
  std::string rnic;             // Device name, "" if not given.
  IpAddress src, dst;
  uint16_t sport = 0;
  QpRole role = QpRole::kActive;
  std::string conn;             // Connection id, "" if not given.
  std::string path;             // "I,J", "" if not given.
  uint64_t registered_ns = 0;   // CLOCK_MONOTONIC of the first QP line.
  uint64_t updated_ns = 0;      // Of the latest QP line.
  std::optional<uint64_t> repin_ns;  // Of the latest line that had it.
  uint64_t updates = 0;         // QP lines after the first.
  uint64_t repins = 0;          // Updates that changed member, sport or
                                // role.
  // LOAD: the bytes the application last said the QP sent since it was
  // created ('tx_reported' once it said it), and how many LOAD lines.
  uint64_t tx_bytes = 0;
  bool tx_reported = false;
  uint64_t load_reports = 0;
};

// Builds the record of a QP request; InvalidArgument naming the first
// missing or malformed field.
Result<QpRecord> QpFromRequest(const RegistryRequest& request);

// The QPs of all clients, keyed by (client, rnic, qpn): QP numbers are
// unique per RNIC only (two rxe devices both start at 17).
using QpKey = std::tuple<uint64_t, std::string, uint32_t>;
using QpMap = std::map<QpKey, QpRecord>;

class RegistryServer {
 public:
  // Answers PATHS: the reply lines ("PATH ..." lines then "END", or one
  // "ERR ..." line), each with its newline.
  using PathsHandler =
      std::function<std::string(const std::string& bond, const IpAddress&)>;
  // Called after every change of the registrations.
  using ChangeHandler = std::function<void()>;
  // Called for every QP line accepted, with the QP as now registered:
  // 'repinned' if it was registered already and its member, sport or role
  // changed; 'repin_reported' if this line carried repin_ns.
  using QpHandler = std::function<void(const QpRecord& qp, bool repinned,
                                       bool repin_reported)>;
  // Called for every LOAD line accepted, with the QP and the bytes it
  // sent since the previous one (0 for its first: that one only sets the
  // baseline, since the bytes before it may be from long ago).
  using LoadHandler = std::function<void(const QpRecord& qp, uint64_t bytes)>;
  // Logs one line (level: 0 info, 1 warning).
  using LogHandler = std::function<void(int level, const std::string&)>;

  struct Options {
    std::string path;           // The socket; an old socket file is
                                // replaced, anything else is an error.
    mode_t mode = 0600;         // 0666 when others may register: the
                                // policy is then checked by SO_PEERCRED.
    AccessPolicy policy;
    PathsHandler paths;
    ChangeHandler changed;
    QpHandler updated;
    LoadHandler load;
    LogHandler log;
    size_t max_clients_per_uid = kMaxClientsPerUid;
    size_t max_qps_per_uid = kMaxQpsPerUid;
    uint64_t hello_timeout_ms = kHelloTimeoutMs;
  };

  // Creates and listens on the socket.  IOError naming the path.
  static Result<std::unique_ptr<RegistryServer>> Listen(Options options);
  ~RegistryServer();            // Closes everything, removes the socket.
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  // Descriptors to wait on for POLLIN.
  void AppendFds(std::vector<int>* fds) const;
  // Accepts, reads and answers whatever is ready, drops clients that did
  // not say HELLO in time.  Never blocks.
  void Run();
  // Milliseconds until Run() has something to do without any descriptor
  // becoming ready (a HELLO deadline, the end of an accept pause).
  uint64_t SleepMs() const;

  const QpMap& qps() const { return qps_; }
  size_t clients() const { return clients_.size(); }
  uint64_t refused() const { return refused_; }
  uint64_t bad_requests() const { return bad_requests_; }
  // Clients dropped for not saying HELLO in time.
  uint64_t hello_timeouts() const { return hello_timeouts_; }
  const std::string& path() const { return options_.path; }

 private:
  struct Client;
  explicit RegistryServer(Options options, int listen_fd);
  void Accept();
  // False if the client must be dropped.
  bool Read(Client& client);
  // Answers one request line; false drops the client.
  bool Handle(Client& client, std::string_view line);
  bool HandleHello(Client& client, const RegistryRequest& request);
  bool HandleQp(Client& client, const RegistryRequest& request);
  bool HandleDel(Client& client, const RegistryRequest& request);
  bool HandleLoad(Client& client, const RegistryRequest& request);
  // The client's QP that 'request' names by qpn= and rnic=, or the ERR
  // line (with its newline) that says why none.
  std::variant<QpMap::iterator, std::string> FindClientQp(
      const Client& client, const RegistryRequest& request);
  bool HandlePaths(Client& client, const RegistryRequest& request);
  void Drop(uint64_t id);
  void Changed();
  // Takes n QPs of uid off its count (QPs removed or their client gone).
  void ForgetQps(uid_t uid, size_t n);
  // Refuses 'fd' with 'why' (one ERR line) and closes it.
  void Refuse(int fd, const std::string& why);
  void DropSilentClients(uint64_t now_ns);

  Options options_;
  int listen_fd_;
  uint64_t next_client_ = 1;
  std::map<uint64_t, std::unique_ptr<Client>> clients_;
  QpMap qps_;
  uint64_t refused_ = 0;
  uint64_t bad_requests_ = 0;
  uint64_t hello_timeouts_ = 0;
  std::map<uid_t, size_t> clients_per_uid_;
  std::map<uid_t, size_t> qps_per_uid_;       // Non-root uids only.
  uint64_t accept_paused_until_ns_ = 0;  // EMFILE/ENFILE backoff.
};

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_REGISTRY_H_
