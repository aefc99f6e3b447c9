// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's command line.

#include "tools/perf/perf_options.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace rdma_bond {

void PrintUsage() {
  std::printf(
      "%s: RDMA message test over connections that follow an OVS bond\n"
      "usage: %s --server [OPTIONS]\n"
      "       %s --client HOST [OPTIONS]\n"
      "\n"
      "Options:\n"
      "  --server            wait for one client run, then exit\n"
      "  --client HOST       run against the server at HOST\n"
      "  --port N            TCP port of the side channel (default %u)\n"
      "  --backend B         verbs (rdma-core, default), emulated (an\n"
      "                      emulated RNIC over AF_PACKET, not RDMA) or\n"
      "                      none (no RDMA on this side: over TCP only)\n"
      "  --test T            bw (stream messages, default) or lat\n"
      "                      (ping-pong latency)\n"
      "  --size N            message size in bytes (%zu..%zu, default 64)\n"
      "  --iters N           messages to send (default %" PRIu64 ")\n"
      "  --duration S        send for S seconds instead of --iters\n"
      "  --qps N             logical connections (default 1); each has one\n"
      "                      QP per pair of bond members of the two hosts\n"
      "  --bond NAME         the bond (default: found from the local IP)\n"
      "  --shm PATH          the table (default $OVS_RUNDIR/rdma-bond.shm)\n"
      "  --agent-socket PATH the ovs-rdma-bond-agent's registry socket\n"
      "                      (default rdma-bond-agent/registry.sock next to the table)\n"
      "  --no-agent          do not register with the agent\n"
      "  --shares S[,S...]   the part of each connection's traffic its paths\n"
      "                      on each local member carry (member order, e.g.\n"
      "                      1,0: all on the first); with rdma-bond-rebalance\n"
      "                      on the bond they then follow OVS's rebalancing\n"
      "  --agent-timeout-ms N  how long to wait for each answer of the agent\n"
      "                      (1..60000, default 100)\n"
      "  --side-channel-key FILE  authenticate the side channel with the\n"
      "                      key in FILE (the same on both hosts, mode 600)\n"
      "  --local IP          server: the address to listen on (default all)\n"
      "  --netdev IF[,IF...] no bond: one RNIC on each interface, no table\n"
      "                      (measures the backend alone)\n"
      "  --ack-timeout-us N  transport ACK timeout per try (default 4096)\n"
      "  --rate N            client, bw test: send N messages per second in\n"
      "                      all (default: as fast as the connections take\n"
      "                      them)\n"
      "  --busy-poll         poll without sleeping (perftest's default)\n"
      "  --baseline          pinning off, for comparison (both sides): each\n"
      "                      connection is one QP on member (index mod\n"
      "                      members) of each host, with one arbitrary\n"
      "                      source port that never moves, and does not\n"
      "                      follow the bond\n"
      "  --timeline-ms N     server: add the deliveries per N ms and per\n"
      "                      member, and every stall, to the JSON report\n"
      "  --inject-fatal AT:FOR  emulated backend: every local RNIC fails\n"
      "                      (a device fatal error) AT s after the\n"
      "                      connections are up, and recovers FOR s later\n"
      "  --trace             print each connection's events (paths down,\n"
      "                      reset, up; bond changes; TCP fallback) to\n"
      "                      standard error, with CLOCK_MONOTONIC times\n"

      "  --json              print the report as JSON\n"
      "  -h, --help          display this help message\n"
      "  -V, --version       display version information\n",
      kProgram, kProgram, kProgram, kDefaultPort, kMinSize, kMaxSize,
      kDefaultIters);
}

namespace {

// Parses an unsigned decimal in [min, max].
std::optional<uint64_t> ParseUint(std::string_view text, uint64_t min,
                                  uint64_t max) {
  if (text.empty() || text.size() > 19) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

// An option that takes no value: sets a bool of Options.
struct FlagOption {
  std::string_view name;
  std::string_view alias;  // "" if none.
  bool Options::*field;
};

constexpr FlagOption kFlagOptions[] = {
    {"-h", "--help", &Options::help},
    {"-V", "--version", &Options::version},
    {"--server", "", &Options::server},
    {"--json", "", &Options::json},
    {"--busy-poll", "", &Options::busy_poll},
    {"--no-agent", "", &Options::no_agent},
    {"--baseline", "", &Options::baseline},
    {"--trace", "", &Options::trace},
};

// Sets an option from its value; returns "" or the usage error.
using ValueSetter = std::string (*)(const std::string& v, Options* o);

// Numeric options.

// --port N.
std::string SetPort(const std::string& v, Options* o) {
  auto n = ParseUint(v, 1, 65535);
  if (!n) return "--port: \"" + v + "\" is not a port (1-65535)";
  o->port = static_cast<uint16_t>(*n);
  return "";
}

// --size N.
std::string SetSize(const std::string& v, Options* o) {
  auto n = ParseUint(v, kMinSize, kMaxSize);
  if (!n) {
    return "--size: \"" + v + "\" is not between " +
           std::to_string(kMinSize) + " and " + std::to_string(kMaxSize);
  }
  o->size = *n;
  return "";
}

// --iters N.
std::string SetIters(const std::string& v, Options* o) {
  auto n = ParseUint(v, 1, uint64_t{1} << 40);
  if (!n) return "--iters: \"" + v + "\" is not a positive number";
  o->iters = *n;
  return "";
}

// --duration S.
std::string SetDuration(const std::string& v, Options* o) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !(d > 0) || d > 86400) {
    return "--duration: \"" + v + "\" is not a number of seconds";
  }
  o->duration_s = d;
  return "";
}

// --inject-fatal AT:FOR.
std::string SetInjectFatal(const std::string& v, Options* o) {
  const size_t colon = v.find(':');
  char* end = nullptr;
  const std::string at = v.substr(0, colon);
  const double a = std::strtod(at.c_str(), &end);
  const bool at_ok = end != at.c_str() && *end == '\0' && a >= 0 && a <= 86400;
  double f = 0;
  bool for_ok = false;
  if (colon != std::string::npos) {
    const std::string d = v.substr(colon + 1);
    f = std::strtod(d.c_str(), &end);
    for_ok = end != d.c_str() && *end == '\0' && f > 0 && f <= 86400;
  }
  if (!at_ok || !for_ok) {
    return "--inject-fatal: \"" + v + "\" is not AT:FOR in seconds";
  }
  o->fatal_at_s = a;
  o->fatal_for_s = f;
  return "";
}

// --qps N.
std::string SetQps(const std::string& v, Options* o) {
  auto n = ParseUint(v, 1, kMaxQps);
  if (!n) {
    return "--qps: \"" + v + "\" is not between 1 and " +
           std::to_string(kMaxQps);
  }
  o->qps = static_cast<int>(*n);
  return "";
}

// --rate N.
std::string SetRate(const std::string& v, Options* o) {
  auto n = ParseUint(v, 1, kMaxRate);
  if (!n) {
    return "--rate: \"" + v + "\" is not a number of messages per second "
           "between 1 and " + std::to_string(kMaxRate);
  }
  o->rate = *n;
  return "";
}

// --timeline-ms N.
std::string SetTimelineMs(const std::string& v, Options* o) {
  auto n = ParseUint(v, 1, kMaxTimelineMs);
  if (!n) {
    return "--timeline-ms: \"" + v + "\" is not 1.." +
           std::to_string(kMaxTimelineMs);
  }
  o->timeline_ms = static_cast<uint32_t>(*n);
  return "";
}

// --ack-timeout-us N.
std::string SetAckTimeoutUs(const std::string& v, Options* o) {
  auto n = ParseUint(v, 1, 10000000);
  if (!n) return "--ack-timeout-us: \"" + v + "\" is not 1..10000000";
  o->ack_timeout_us = static_cast<uint32_t>(*n);
  return "";
}

// --agent-timeout-ms N.
std::string SetAgentTimeoutMs(const std::string& v, Options* o) {
  auto n = ParseUint(v, 1, 60000);
  if (!n) return "--agent-timeout-ms: \"" + v + "\" is not 1..60000";
  o->agent_timeout_ms = static_cast<uint32_t>(*n);
  return "";
}

// Options that take a word or a name.

// --backend B.
std::string SetBackend(const std::string& v, Options* o) {
  if (v != "verbs" && v != "emulated" && v != "none") {
    return "--backend: \"" + v + "\" is not verbs, emulated or none";
  }
  o->backend = v;
  return "";
}

// --test T.
std::string SetTest(const std::string& v, Options* o) {
  if (v != "bw" && v != "lat") {
    return "--test: \"" + v + "\" is not bw or lat";
  }
  o->test = v;
  return "";
}

// --client HOST.
std::string SetClient(const std::string& v, Options* o) {
  o->client_host = v;
  return "";
}

// --bond NAME.
std::string SetBond(const std::string& v, Options* o) {
  o->bond = v;
  return "";
}

// --shm PATH.
std::string SetShm(const std::string& v, Options* o) {
  o->shm = v;
  return "";
}

// --agent-socket PATH.
std::string SetAgentSocket(const std::string& v, Options* o) {
  if (v.empty()) return "--agent-socket: empty path";
  o->agent_socket = v;
  return "";
}

// --side-channel-key FILE.
std::string SetSideChannelKey(const std::string& v, Options* o) {
  if (v.empty()) return "--side-channel-key: empty path";
  o->side_channel_key = v;
  return "";
}

// --local IP.
std::string SetLocal(const std::string& v, Options* o) {
  o->local = v;
  return "";
}

// --netdev IF[,IF...].
std::string SetNetdevs(const std::string& v, Options* o) {
  size_t start = 0;
  while (start <= v.size()) {
    const size_t comma = std::min(v.find(',', start), v.size());
    if (comma == start) return "--netdev: empty interface name";
    o->netdevs.push_back(v.substr(start, comma - start));
    start = comma + 1;
  }
  if (o->netdevs.size() > 16) return "--netdev: at most 16 interfaces";
  return "";
}

// --shares S[,S...].
std::string SetShares(const std::string& v, Options* o) {
  o->shares.clear();
  size_t start = 0;
  while (start <= v.size()) {
    const size_t comma = std::min(v.find(',', start), v.size());
    auto n = ParseUint(v.substr(start, comma - start), 0, 1000000);
    if (!n) {
      return "--shares: \"" + v + "\" is not a list of whole numbers "
             "0..1000000";
    }
    o->shares.push_back(static_cast<double>(*n));
    start = comma + 1;
  }
  if (o->shares.size() > 16) return "--shares: at most 16 members";
  double total = 0;
  for (double s : o->shares) total += s;
  if (total == 0) return "--shares: not all 0";
  return "";
}

// An option that takes a value.
struct ValueOption {
  std::string_view name;
  ValueSetter set;
};

constexpr ValueOption kValueOptions[] = {
    {"--client", SetClient},
    {"--port", SetPort},
    {"--size", SetSize},
    {"--iters", SetIters},
    {"--duration", SetDuration},
    {"--qps", SetQps},
    {"--rate", SetRate},
    {"--backend", SetBackend},
    {"--test", SetTest},
    {"--bond", SetBond},
    {"--shm", SetShm},
    {"--local", SetLocal},
    {"--netdev", SetNetdevs},
    {"--shares", SetShares},
    {"--ack-timeout-us", SetAckTimeoutUs},
    {"--agent-socket", SetAgentSocket},
    {"--agent-timeout-ms", SetAgentTimeoutMs},
    {"--side-channel-key", SetSideChannelKey},
    {"--timeline-ms", SetTimelineMs},
    {"--inject-fatal", SetInjectFatal},
};

// One command-line argument: "--name=value" is split at the '='.
struct Argument {
  std::string name;
  std::string value;
  bool has_inline = false;
};

// Splits 'text' into an Argument.
Argument SplitArgument(const char* text) {
  Argument a;
  a.name = text;
  if (a.name.rfind("--", 0) == 0 && a.name.find('=') != std::string::npos) {
    a.value = a.name.substr(a.name.find('=') + 1);
    a.name = a.name.substr(0, a.name.find('='));
    a.has_inline = true;
  }
  return a;
}

// Parses argv[*i], and the next argument if it is an option's value, which
// advances '*i'.  Returns "" or the usage error.
std::string ParseArgument(int argc, char** argv, int* i, Options* o) {
  const Argument arg = SplitArgument(argv[*i]);
  for (const FlagOption& flag : kFlagOptions) {
    if (arg.name == flag.name || (!flag.alias.empty() &&
                                  arg.name == flag.alias)) {
      o->*flag.field = true;
      return "";
    }
  }
  for (const ValueOption& option : kValueOptions) {
    if (arg.name != option.name) continue;
    std::string v;
    if (arg.has_inline) {
      v = arg.value;
    } else if (*i + 1 >= argc) {
      return arg.name + " needs a value";
    } else {
      v = argv[++*i];
    }
    return option.set(v, o);
  }
  return "unknown argument \"" + std::string(argv[*i]) + "\"";
}

// Checks how the options combine, and fills in the default --iters.
// Returns "" or the usage error.
std::string ValidateOptions(Options* o) {
  if (o->help || o->version) {
    return "";
  }
  if (o->server == !o->client_host.empty()) {
    return "give exactly one of --server and --client HOST";
  }
  if (!o->netdevs.empty() &&
      (!o->bond.empty() || !o->shm.empty() || !o->agent_socket.empty())) {
    return "--netdev runs without a bond: not with --bond, --shm or "
           "--agent-socket";
  }
  if (!o->shares.empty() && (o->baseline || !o->netdevs.empty())) {
    return "--shares: not with --baseline or --netdev";
  }
  if (o->baseline && !o->netdevs.empty()) {
    return "--baseline runs over the bond's members: not with --netdev";
  }
  if (o->no_agent && (!o->agent_socket.empty() || o->agent_timeout_ms != 0)) {
    return "--no-agent: not with --agent-socket or --agent-timeout-ms";
  }
  if (o->fatal_at_s >= 0 && o->backend != "emulated") {
    return "--inject-fatal needs --backend emulated";
  }
  if (o->rate != 0 && (o->server || o->test != "bw")) {
    return "--rate paces the client's bw test only";
  }
  if (o->iters != 0 && o->duration_s != 0) {
    return "give --iters or --duration, not both";
  }
  if (o->iters == 0 && o->duration_s == 0) {
    o->iters = kDefaultIters;
  }
  return "";
}

}  // namespace

std::string ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; i++) {
    std::string error = ParseArgument(argc, argv, &i, o);
    if (!error.empty()) return error;
  }
  return ValidateOptions(o);
}

}  // namespace rdma_bond
