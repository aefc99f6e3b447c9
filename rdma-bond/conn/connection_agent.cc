// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Connection: what it tells the local ovs-rdma-bond-agent (the QP of each
// path, kept current) and what it asks it (the source ports the agent
// validated toward the peer, tried first in balance-tcp).  The agent is
// optional and may fail at any time: every call here ignores its errors
// (AgentClient bounds what each one costs).

#include "rdma_bond/connection.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <utility>

#include "conn/connection_internal.h"
#include "rdma_bond/roce.h"

namespace rdma_bond {

using namespace conn_detail;  // NOLINT(build/namespaces)

namespace {

// conn= ids: one per connection of this process.
std::atomic<uint64_t> next_agent_conn_id{1};

// How often the QPs' bytes are reported (LOAD): the agent publishes them
// every second.
constexpr auto kAgentLoadInterval = std::chrono::milliseconds(1000);

// An agent request that held the connection this long is traced: the
// connection moves nothing meanwhile.
constexpr auto kSlowAgentCall = std::chrono::milliseconds(2);

}  // namespace

void Connection::FetchAgentPaths() {
  agent_paths_.clear();
  next_agent_refresh_ =
      std::chrono::steady_clock::now() + options_.agent_refresh;
  if (options_.agent == nullptr || planner_->policy() != PathPolicy::kHashed) {
    return;
  }
  // At Establish(): the first paths start from the agent's ports, so this
  // one waits for the answer (AgentClient's timeout at most).
  const auto start = AgentCallStart();
  Result<std::vector<AgentPath>> paths =
      options_.agent->Paths(planner_->bond_name(), options_.remote);
  TraceSlowAgentCall("PATHS", start);
  if (paths.ok()) {
    agent_paths_ = std::move(*paths);
  } else if (Tracing()) {
    Trace(nullptr, "no ports from the agent (" + paths.status().message() +
                       "): the paths start on ports of their own");
  }
  if (const AgentPathsAnswer* answer =
          options_.agent->LatestPaths(planner_->bond_name(), options_.remote)) {
    agent_paths_answer_ = answer->number;
  }
}

bool Connection::TakeAgentPaths() {
  const AgentPathsAnswer* answer =
      options_.agent->LatestPaths(planner_->bond_name(), options_.remote);
  if (answer == nullptr || answer->number == agent_paths_answer_) {
    return false;
  }
  agent_paths_answer_ = answer->number;
  agent_paths_.clear();
  if (answer->paths.ok()) agent_paths_ = *answer->paths;
  return true;
}

std::chrono::steady_clock::time_point Connection::AgentCallStart() const {
  // SyncAgent() runs at every Progress(): no clock read unless tracing.
  return Tracing() ? std::chrono::steady_clock::now()
                   : std::chrono::steady_clock::time_point{};
}

void Connection::TraceSlowAgentCall(
    const char* what, std::chrono::steady_clock::time_point start) const {
  if (!Tracing()) return;
  const auto took = std::chrono::steady_clock::now() - start;
  if (took < kSlowAgentCall) return;
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  Trace(nullptr, "the agent's " + std::string(what) + " took " +
                     std::to_string(us / 1000) + "." +
                     std::to_string(us % 1000 / 100) + " ms");
}

std::vector<uint16_t> Connection::AgentHints(const Path& p) const {
  std::vector<uint16_t> hints;
  if (agent_paths_.empty() || p.remote >= remote_members_.size()) {
    return hints;
  }
  for (const AgentPath& validated : agent_paths_) {
    if (validated.local_member != local_members_[p.local] ||
        validated.remote_member != remote_members_[p.remote]) {
      continue;
    }
    for (uint16_t sport : validated.sports) {
      // The agent probed with the bond it saw; ours may have moved the
      // port's bucket since.
      if (!IsRoceSport(sport) || !planner_->StillMaps(p.local, sport) ||
          std::find(hints.begin(), hints.end(), sport) != hints.end()) {
        continue;
      }
      hints.push_back(sport);
    }
  }
  return hints;
}

void Connection::FollowAgentPaths() {
  if (options_.agent == nullptr || planner_->policy() != PathPolicy::kHashed ||
      options_.fixed_source_port || closing_) {
    return;
  }
  // Asked without waiting (every agent_refresh and after each
  // UpdateBond()); the answer, read by AgentClient::Poll() whenever the
  // agent sends it, is taken by the Progress() after.  Another connection
  // of this program toward the same peer may have asked.
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_agent_refresh_) {
    next_agent_refresh_ = now + options_.agent_refresh;
    const auto start = AgentCallStart();
    (void)options_.agent->RequestPaths(planner_->bond_name(),
                                       options_.remote);
    TraceSlowAgentCall("PATHS request", start);
  }
  if (!TakeAgentPaths()) return;
  for (auto& path : paths_) {
    Path& p = *path;
    // An up path, and one connected that waits to carry (a member at one
    // end may not: it owns no bucket, or the peer's does not), moves onto
    // the agent's ports.  While a member of the peer is down the agent
    // offers only ports that will still reach the same member once it is
    // back, and for a path toward a member that may not carry, the ports
    // that reached it while all were up ("waiting"): a port that our own
    // probing found during a cut, or that a path kept from before, may be
    // black-holed at the repair, or when the member takes over before the
    // switch has moved its flows.  A port that did not come from the agent
    // does not move once an RNIC of this connection refused to change a
    // port in place: there each move would be a reset (the first refusal
    // costs one).
    const bool waiting = p.state == PathState::kReady;
    if (p.state != PathState::kUp && !waiting) continue;
    if (p.candidate >= p.agent_hints && sport_in_place_ == false) continue;
    const std::vector<uint16_t> hints = AgentHints(p);
    // No word from the agent on this pair, or our port is one it gives.
    if (hints.empty() ||
        std::find(hints.begin(), hints.end(), p.sport) != hints.end()) {
      continue;
    }
    // RefreshCandidates() puts the agent's ports first.
    RepinInPlace(p, waiting ? " onto a port that lasts, while it waits"
                            : " onto a port the agent validated");
  }
}

AgentQpRole Connection::AgentRole(const Path& p) const {
  if (p.state == PathState::kDown || p.state == PathState::kIdle) {
    return AgentQpRole::kDown;
  }
  return Carries(p) ? AgentQpRole::kActive : AgentQpRole::kStandby;
}

void Connection::SyncAgent(std::optional<uint64_t> repin_ns) {
  // Without a bond there is nothing the agent could check a QP against;
  // while closing, the QPs are being removed.
  if (options_.agent == nullptr || planner_->bond_name().empty() ||
      closing_) {
    return;
  }
  if (agent_conn_id_ == 0) agent_conn_id_ = next_agent_conn_id++;
  const auto start = AgentCallStart();
  for (auto& p : paths_) {
    if (p->state != PathState::kIdle) SyncAgentPath(*p, repin_ns);
  }
  TraceSlowAgentCall("QP registrations", start);
  ReportAgentLoad();
  // The answers that arrived; a restarted agent gets our registrations
  // again (rate-limited inside).
  const auto maintain = AgentCallStart();
  options_.agent->Maintain();
  TraceSlowAgentCall("answers and reconnection", maintain);
}

void Connection::SyncAgentPath(Path& p, std::optional<uint64_t> repin_ns) {
  AgentClient& agent = *options_.agent;
  if (!p.qp) {
    // No QP (a new one could not be created): nothing to register.
    if (p.agent_registered) {
      (void)agent.RemoveQp(p.agent_qpn, p.rnic->name());
    }
    p.agent_registered = false;
    return;
  }
  const AgentQpRole role = AgentRole(p);
  if (p.agent_registered && p.agent_qpn == p.qpn &&
      p.agent_sport == p.sport && p.agent_role == role) {
    return;
  }
  if (p.agent_registered && p.agent_qpn != p.qpn) {
    // The path's old QP is gone.
    (void)agent.RemoveQp(p.agent_qpn, p.rnic->name());
  }
  QpRegistration reg;
  reg.qpn = p.qpn;
  reg.bond = planner_->bond_name();
  reg.member = local_members_[p.local];
  reg.src = options_.local;
  reg.dst = options_.remote;
  reg.sport = p.sport;
  reg.role = role;
  reg.rnic = p.rnic->name();
  reg.conn = agent_conn_id_;
  reg.path = std::make_pair(p.local, p.remote);
  reg.repin_ns = repin_ns;
  // Marked registered whatever the outcome: the client keeps the
  // registration and sends it when it reaches the agent again, and a
  // refused one must not be retried on every Progress().
  (void)agent.RegisterQp(reg);
  p.agent_registered = true;
  p.agent_qpn = p.qpn;
  p.agent_sport = p.sport;
  p.agent_role = role;
}

void Connection::ReportAgentLoad() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_agent_load_ || !options_.agent->connected() ||
      !options_.agent->load_supported()) {
    return;
  }
  next_agent_load_ = now + kAgentLoadInterval;
  for (auto& path : paths_) {
    Path& p = *path;
    // A QP's first report only sets the agent's baseline: it is sent as
    // soon as the QP is registered, even before it carried anything.
    if (!p.agent_registered ||
        (p.load_sent && p.load_qpn == p.agent_qpn &&
         p.load_bytes == p.stats.bytes_sent)) {
      continue;
    }
    if (!options_.agent->ReportLoad(p.agent_qpn, p.rnic->name(),
                                    p.stats.bytes_sent)
             .ok()) {
      return;
    }
    p.load_sent = true;
    p.load_qpn = p.agent_qpn;
    p.load_bytes = p.stats.bytes_sent;
  }
}

void Connection::UnregisterFromAgent() {
  if (options_.agent == nullptr) return;
  for (auto& p : paths_) {
    if (!p->agent_registered) continue;
    (void)options_.agent->RemoveQp(p->agent_qpn, p->rnic->name());
    p->agent_registered = false;
  }
}

}  // namespace rdma_bond
