// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// FakeAgent: a stand-in for ovs-rdma-bond-agent's registry socket
// (docs/agent.md), for testing AgentClient and the connections that use
// it without the daemon.
//
// It listens on a Unix socket in a fresh temporary directory and serves
// every client from one thread: it records each request line, in order,
// and answers as the protocol says (HELLO -> "OK version=1 agent=4242",
// QP and DEL -> OK or ERR naming a missing key, LOAD of a registered QP
// -> OK, PATHS -> the scripted
// PATH lines for that dst and END) while it keeps the registry the agent
// would (qpn -> the fields of the last QP line, dropped on DEL and when
// the client's connection closes).  Other modes refuse HELLO with the
// agent's message and close, never answer, or answer HELLO and then
// nothing.
//
// Thread-safety: every method may be called from any thread.

#ifndef RDMA_BOND_FAKE_AGENT_H_
#define RDMA_BOND_FAKE_AGENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rdma_bond/agent_client.h"

namespace rdma_bond::testing {

// AgentClient options for tests, as client 'name': no reconnection
// within a test unless it asks for one, so that request counts are exact.
AgentClientOptions TestClientOptions(std::string name);

class FakeAgent {
 public:
  enum class Mode {
    kAnswer,            // As the agent does.
    kRefuse,            // ERR at HELLO (a uid not allowed), then close.
    kSilent,            // Reads and records, never answers.
    kSilentAfterHello,  // Answers HELLO, then nothing.
  };
  // The pid in HELLO's reply.
  static constexpr int kPid = 4242;
  // The refusal's message (after "ERR ").
  static constexpr const char* kRefusal =
      "registration refused: uid 1000 is not allowed (start the agent with "
      "--allow-user=1000 or --allow-group=GROUP)";

  explicit FakeAgent(Mode mode = Mode::kAnswer);
  // Listens on 'directory'/registry.sock instead, creating 'directory'
  // (which must not exist: the destructor removes it).
  FakeAgent(Mode mode, const std::string& directory);
  // Stops the thread, closes every socket, removes the directory.
  ~FakeAgent();
  FakeAgent(const FakeAgent&) = delete;
  FakeAgent& operator=(const FakeAgent&) = delete;

  const std::string& socket_path() const { return socket_path_; }
  void SetMode(Mode mode);
  // The PATH lines (without "\n") answered to "PATHS ... dst=DST", then
  // END; a single "ERR ..." line is answered alone.
  void SetPaths(const std::string& dst, std::vector<std::string> lines);
  // Answers ERR to the next QP line of 'qpn'.
  void RefuseQp(uint32_t qpn);
  // false: answers LOAD as an agent older than LOAD does ("ERR unknown
  // request LOAD").  true by default: LOAD of a registered QP is OK.
  void SetKnowsLoad(bool knows);
  // Closes every client connection (their QPs are dropped), as when the
  // agent restarts.
  void DropClients();

  // Every request line received, in order.
  std::vector<std::string> requests() const;
  // Those whose first word is 'verb'.
  std::vector<std::string> requests(std::string_view verb) const;
  // Waits (up to 'timeout') until nothing is left unread from clients, so
  // that requests() holds everything sent so far.
  void Settle(std::chrono::milliseconds timeout =
                  std::chrono::milliseconds(500)) const;
  // The registry: qpn -> key -> value of its last QP line.
  std::map<uint32_t, std::map<std::string, std::string>> registry() const;
  size_t connections_accepted() const;

  // The key=value fields of a request line (its first word under "").
  static std::map<std::string, std::string> Fields(std::string_view line);

 private:
  struct Client {
    int fd = -1;
    std::string input;
    bool hello = false;
    std::vector<uint32_t> qpns;     // Registered by this client.
  };

  void Run();
  // Reads what 'c' sent; false when it closed.  REQUIRES: mu_ held.
  bool Serve(Client& c);
  // The reply lines to 'line' ("" entries: none).  REQUIRES: mu_ held.
  std::vector<std::string> Answer(Client& c, const std::string& line,
                                  bool* close_after);
  // Forgets 'c' and its QPs.  REQUIRES: mu_ held.
  void Drop(Client& c);

  std::string dir_;
  std::string socket_path_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  mutable std::mutex mu_;
  Mode mode_;
  std::map<std::string, std::vector<std::string>> paths_;
  std::set<uint32_t> refused_qpns_;
  bool knows_load_ = true;
  std::vector<std::string> requests_;
  std::map<uint32_t, std::map<std::string, std::string>> registry_;
  std::vector<Client> clients_;
  size_t accepted_ = 0;
  std::thread thread_;
};

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_FAKE_AGENT_H_
