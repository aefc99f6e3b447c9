// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's command-line options.
#ifndef RDMA_BOND_PERF_OPTIONS_H_
#define RDMA_BOND_PERF_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rdma_bond {

constexpr char kProgram[] = "rdma-bond-perf";
constexpr uint16_t kDefaultPort = 18515;       // perftest's port.
constexpr int kConnectRetryMs = 5000;          // A refused client retries.
constexpr size_t kControlMessageSize = 4096;   // Room for the findings.
constexpr uint64_t kDefaultIters = 100000;
constexpr size_t kMinSize = 24;                // The message header.
constexpr size_t kMaxSize = 65536;
constexpr int kMaxQps = 64;
constexpr uint32_t kMaxTimelineMs = 1000;      // --timeline-ms bound.
constexpr uint64_t kMaxRate = 100000000;       // --rate bound.

struct Options {
  bool server = false;
  std::string client_host;
  uint16_t port = kDefaultPort;
  size_t size = 64;
  uint64_t iters = 0;              // 0: kDefaultIters unless --duration.
  double duration_s = 0;
  uint64_t rate = 0;               // --rate: messages per second, 0: all.
  int qps = 1;
  std::string backend = "verbs";
  std::string test = "bw";
  bool json = false;
  std::string bond;
  std::string shm;
  std::string agent_socket;        // "" = next to the table.
  std::string side_channel_key;    // Key file; "" = unauthenticated.
  bool no_agent = false;
  uint32_t agent_timeout_ms = 0;   // 0: AgentClientOptions' default.
  std::string local;               // --local IP (server: bind address).
  std::vector<std::string> netdevs;  // --netdev: RNICs without a bond.
  std::vector<double> shares;      // --shares, per local member.
  uint32_t ack_timeout_us = 0;     // 0: QpOptions' default.
  bool busy_poll = false;
  uint32_t timeline_ms = 0;        // 0: no timeline in the server's JSON.
  bool trace = false;              // --trace: connection events.
  bool baseline = false;           // --baseline: pinning off.
  // --inject-fatal AT:FOR (emulated backend): every local RNIC fails at
  // AT seconds after the connections are up, for FOR seconds.
  double fatal_at_s = -1;
  double fatal_for_s = 0;
  bool help = false;
  bool version = false;
};

// Prints --help.
void PrintUsage();

// Parses the command line into '*o'.  Returns "" on success, otherwise the
// usage error.
std::string ParseOptions(int argc, char** argv, Options* o);

}  // namespace rdma_bond

#endif  // RDMA_BOND_PERF_OPTIONS_H_
