// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Connections with an agent (ConnectionOptions::agent): what they register
// with FakeAgent, how they follow changes, how they use the agent's
// validated ports, and that an absent or failing agent changes nothing.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rdma_bond/agent_client.h"
#include "rdma_bond/connection.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/table_reader.h"
#include "testing/connection_test_util.h"
#include "testing/fake_agent.h"

namespace rdma_bond {
namespace {

using std::chrono::milliseconds;
using testing::AbBond;
using testing::ActiveOnlySwitch;
using testing::Disable;
using testing::ExpectPinnedAndDelivered;
using testing::FakeAgent;
using testing::FakeFabric;
using testing::FakeFrame;
using testing::Harness;
using testing::HashedSwitch;
using testing::kImpl;
using testing::kIp;
using testing::SwitchMember;
using testing::TcpBond;
using testing::Verdict;

using Registry = std::map<uint32_t, std::map<std::string, std::string>>;

AgentClientOptions TestOptions() { return testing::TestClientOptions("conn-test"); }

// The role the agent must have for a path, by the connection's rules.
std::string ExpectedRole(const PathStats& p) {
  if (p.state == "down" || p.state == "failed") return "down";
  return p.carries ? "active" : "standby";
}

// The agent holds exactly the connection's current QPs, each with its
// member, source port, role and path.
void ExpectRegistered(const FakeAgent& agent, const Connection& conn,
                      int side) {
  // Registrations are sent without waiting for the agent: let it read.
  agent.Settle();
  const Registry registry = agent.registry();
  const ConnectionStats st = conn.stats();
  ASSERT_EQ(registry.size(), st.paths.size());
  std::set<std::string> conns;
  for (const PathStats& p : st.paths) {
    SCOPED_TRACE("side " + std::to_string(side) + " path " + p.local_member +
                 "->" + p.remote_member);
    ASSERT_TRUE(registry.count(p.qpn)) << "QP " << p.qpn << " not registered";
    const auto& f = registry.at(p.qpn);
    EXPECT_EQ(f.at("bond"), "bond0");
    EXPECT_EQ(f.at("member"), p.local_member);
    EXPECT_EQ(f.at("src"), kIp[side]);
    EXPECT_EQ(f.at("dst"), kIp[1 - side]);
    EXPECT_EQ(f.at("sport"), std::to_string(p.sport));
    EXPECT_EQ(f.at("role"), ExpectedRole(p)) << "state " << p.state;
    EXPECT_EQ(f.at("rnic"), p.rnic);
    EXPECT_EQ(f.at("path"), std::to_string(p.local_index) + "," +
                                std::to_string(p.remote_index));
    ASSERT_TRUE(f.count("conn"));
    conns.insert(f.at("conn"));
  }
  EXPECT_EQ(conns.size(), 1u) << "one conn= id per connection";
}

// The QP lines sent after the first 'from' requests.
std::vector<std::map<std::string, std::string>> QpLinesSince(
    const FakeAgent& agent, size_t from) {
  std::vector<std::map<std::string, std::string>> out;
  const std::vector<std::string> lines = agent.requests();
  for (size_t k = from; k < lines.size(); k++) {
    auto f = FakeAgent::Fields(lines[k]);
    if (f[""] == "QP") out.push_back(f);
  }
  return out;
}

TEST(ConnectionAgentTest, RegistersEveryQpWithThePortAndRoleItReallyHas) {
  FakeAgent agent;
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  // Ports change by reconnecting: REPICKs give paths new QPs.
  FakeFabric::Options fo;
  fo.sport_change_supported = false;
  Harness h(fo);
  std::mutex mu;
  std::map<size_t, std::set<uint16_t>> sent_sports;  // Side 0, by member.
  h.fabric.SetRule([&](const FakeFrame& f) {
    if (f.side == 0 && !f.ack) {
      std::lock_guard<std::mutex> lock(mu);
      sent_sports[f.member].insert(f.sport);
    }
    return SwitchMember(f.side, f.sport) == f.dest_member
               ? Verdict::kDeliver
               : Verdict::kOtherMember;
  });
  h.agent[0] = &client;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(200);
  h.ExpectExactlyOnceInOrder(200);

  agent.Settle();
  const std::vector<std::string> lines = agent.requests();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "HELLO version=1 name=conn-test");
  EXPECT_EQ(agent.requests("PATHS"),
            std::vector<std::string>{"PATHS bond=bond0 dst=10.0.0.2"});
  ExpectRegistered(agent, *h.s[0].conn, 0);
  // The registered ports are the ones the frames carried.
  uint64_t resets = 0;
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(sent_sports[p.local_index].count(p.sport))
        << "sport " << p.sport << " never left " << p.local_member;
    resets += p.resets;
  }
  // Every QP replaced by a reset was removed, and only those.
  ASSERT_GT(resets, 0u) << "the test needs REPICKs that reconnect";
  std::set<std::string> registered, removed, current;
  for (const std::string& line : lines) {
    auto f = FakeAgent::Fields(line);
    if (f[""] == "QP") registered.insert(f["qpn"]);
    if (f[""] == "DEL") removed.insert(f["qpn"]);
  }
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    current.insert(std::to_string(p.qpn));
  }
  std::set<std::string> replaced;
  for (const std::string& qpn : registered) {
    if (!current.count(qpn)) replaced.insert(qpn);
  }
  EXPECT_FALSE(replaced.empty());
  EXPECT_EQ(removed, replaced);
}

// LOAD: every registered QP's bytes, once a second, the first report as
// soon as it is registered (the agent's baseline); the last report of
// each QP is what it carried.
TEST(ConnectionAgentTest, ReportsTheBytesOfEachQp) {
  FakeAgent agent;
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  Harness h;
  h.fabric.SetRule([&](const FakeFrame& f) {
    return SwitchMember(f.side, f.sport) == f.dest_member
               ? Verdict::kDeliver
               : Verdict::kOtherMember;
  });
  h.agent[0] = &client;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(200);
  h.ExpectExactlyOnceInOrder(200);
  // The next report (at most a second later) holds the transfer.
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(1300);
  h.PumpUntil([&] { return std::chrono::steady_clock::now() > until; },
              milliseconds(2000));
  agent.Settle();

  std::map<std::string, std::vector<uint64_t>> reports;  // By qpn.
  for (const std::string& line : agent.requests("LOAD")) {
    auto f = FakeAgent::Fields(line);
    reports[f["qpn"]].push_back(std::stoull(f["tx_bytes"]));
  }
  uint64_t total = 0;
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    SCOPED_TRACE("path " + p.local_member + "->" + p.remote_member);
    const auto& r = reports[std::to_string(p.qpn)];
    ASSERT_GE(r.size(), 1u) << "QP " << p.qpn << " never reported";
    EXPECT_EQ(r.back(), p.bytes_sent);
    EXPECT_TRUE(std::is_sorted(r.begin(), r.end())) << "counts only grow";
    EXPECT_EQ(r.size(), std::set<uint64_t>(r.begin(), r.end()).size())
        << "no report repeats an unchanged count";
    total += p.bytes_sent;
  }
  EXPECT_GE(total, 200u * 64) << "every message's payload, once at least";
  EXPECT_TRUE(client.load_supported());
  EXPECT_EQ(client.last_refusal().ToString(), Status::OK().ToString());
}

// An agent older than LOAD: refused, not asked again, and nothing else
// changes.
TEST(ConnectionAgentTest, AnAgentWithoutLoadIsNotAskedAgain) {
  FakeAgent agent;
  agent.SetKnowsLoad(false);
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  Harness h;
  h.agent[0] = &client;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  h.Transfer(100);
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(2300);
  h.PumpUntil([&] { return std::chrono::steady_clock::now() > until; },
              milliseconds(3000));
  h.ExpectExactlyOnceInOrder(100);
  agent.Settle();
  EXPECT_FALSE(client.load_supported());
  EXPECT_TRUE(client.connected());
  // The first pass (one per QP, sent before the first refusal came back),
  // and none in the two seconds after.
  EXPECT_EQ(agent.requests("LOAD").size(), h.s[0].conn->stats().paths.size());
  ExpectRegistered(agent, *h.s[0].conn, 0);
}

TEST(ConnectionAgentTest, ActiveBackupRegistersOnlyTheActivePathActive) {
  FakeAgent agents[2];
  AgentClient clients[2] = {AgentClient(TestOptions()),
                            AgentClient(TestOptions())};
  Harness h;
  size_t active[2] = {0, 0};
  ActiveOnlySwitch(h.fabric, active);
  for (int side = 0; side < 2; side++) {
    ASSERT_TRUE(clients[side].Connect(agents[side].socket_path()).ok());
    h.agent[side] = &clients[side];
  }
  const Bond bonds[2] = {AbBond(0), AbBond(0)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  for (int side = 0; side < 2; side++) {
    ExpectRegistered(agents[side], *h.s[side].conn, side);
    std::vector<std::string> active_paths;
    for (const auto& [qpn, f] : agents[side].registry()) {
      if (f.at("role") == "active") active_paths.push_back(f.at("path"));
    }
    EXPECT_EQ(active_paths, std::vector<std::string>{"0,0"})
        << "side " << side;
    // Nothing is a re-pin yet.
    for (const auto& f : QpLinesSince(agents[side], 0)) {
      EXPECT_EQ(f.count("repin_ns"), 0u);
    }
  }

  size_t mark[2] = {0, 0};
  constexpr uint64_t kPublishedAgo = 2000000;
  // What side 0 told its agent during the update, by path.
  std::map<std::string, std::map<std::string, std::string>> by_path;
  bool updated = false;   // at() may see an index again.
  h.Transfer(600, [&](uint64_t i) {
    if (i != 100 || updated) return;
    updated = true;
    // Side 0 loses p1; OVS fails over to p2 and published it 2 ms ago.
    mark[0] = agents[0].requests().size();
    mark[1] = agents[1].requests().size();
    h.fabric.SetLinkDown(0, 0, true);
    active[0] = 1;
    Bond failed = Disable(bonds[0], 0);
    failed.change_ns = MonotonicNowNs() - kPublishedAgo;
    ASSERT_TRUE(h.s[0].conn->UpdateBond(failed, kImpl).ok());
    // The reaction first: UpdateBond() asks the agent nothing (its
    // requests take milliseconds on a busy host, and every connection of
    // the program should follow the change before any of them waits).
    EXPECT_EQ(agents[0].requests().size(), mark[0]);
    // The next Progress() sends the registrations, without waiting for
    // the answers.
    ASSERT_TRUE(h.s[0].conn->Progress().ok());
    agents[0].Settle();
    for (const auto& f : QpLinesSince(agents[0], mark[0])) {
      by_path.emplace(f.at("path"), f);
    }
  });
  h.ExpectExactlyOnceInOrder(600);
  ASSERT_TRUE(by_path.count("1,0"));
  EXPECT_EQ(by_path["1,0"]["role"], "active");
  ASSERT_TRUE(by_path["1,0"].count("repin_ns"));
  EXPECT_GE(std::stoull(by_path["1,0"]["repin_ns"]), kPublishedAgo);
  ASSERT_TRUE(by_path.count("0,0"));
  EXPECT_NE(by_path["0,0"]["role"], "active");
  EXPECT_TRUE(by_path["0,0"].count("repin_ns"));

  for (int side = 0; side < 2; side++) {
    ExpectRegistered(agents[side], *h.s[side].conn, side);
    std::vector<std::string> active_paths;
    for (const auto& [qpn, f] : agents[side].registry()) {
      if (f.at("role") == "active") active_paths.push_back(f.at("path"));
    }
    // Local member index first: side 1 sees the peer's p2 as remote 1.
    EXPECT_EQ(active_paths,
              std::vector<std::string>{side == 0 ? "1,0" : "0,1"})
        << "side " << side;
  }
  // The peer followed side 0's change (ACTIVE): its re-registration is
  // not a re-pin of its own table.
  bool peer_moved = false;
  for (const auto& f : QpLinesSince(agents[1], mark[1])) {
    EXPECT_EQ(f.count("repin_ns"), 0u);
    peer_moved = peer_moved || (f.at("path") == "0,1" &&
                                f.at("role") == "active");
  }
  EXPECT_TRUE(peer_moved);
}

// Source ports from 'side' that the switch takes to the peer's member j:
// 'good' maps to local member i in the side's bond, 'bad' to the other.
struct Hint {
  uint16_t good = 0, bad = 0;
};

// 'nth': which of the good ports (a later one is another good port).
Hint FindHint(const Bond& bond, int side, size_t i, size_t j, int nth = 5) {
  Predictor predictor = *Predictor::Create(bond, kImpl);
  Hint hint;
  int goods = 0;
  for (uint32_t sport = kRoceSportMin; sport <= 0xffff; sport++) {
    const auto port = static_cast<uint16_t>(sport);
    if (SwitchMember(side, port) != j) continue;
    Prediction where = predictor.Predict(FlowKey(*MakeUdpTuple(
        *ParseIpAddress(kIp[side]), *ParseIpAddress(kIp[1 - side]), port)));
    if (!where.has_member()) continue;
    // Not the first ports of the range: the planner's own choice is
    // unlikely to be the same by chance.
    if (where.member == i && ++goods == nth) hint.good = port;
    if (where.member != i && hint.bad == 0) hint.bad = port;
    if (hint.good && hint.bad) break;
  }
  return hint;
}

TEST(ConnectionAgentTest, BalanceTcpProbesTheAgentsValidatedPortsFirst) {
  FakeAgent agents[2];
  AgentClient clients[2] = {AgentClient(TestOptions()),
                            AgentClient(TestOptions())};
  // Time enough that no REPICK can come from a slow thread (and a probe
  // outlives it: a path whose probe fails keeps its port).
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(400);
  Harness h(fo);
  HashedSwitch(h.fabric);
  h.base.probe_timeout = milliseconds(150);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  Hint hints[2][2][2];
  for (int side = 0; side < 2; side++) {
    std::vector<std::string> lines;
    for (size_t i = 0; i < 2; i++) {
      for (size_t j = 0; j < 2; j++) {
        Hint& hint = hints[side][i][j];
        hint = FindHint(bonds[side], side, i, j);
        ASSERT_NE(hint.good, 0);
        ASSERT_NE(hint.bad, 0);
        // The bad one first: the switch would deliver it too, but OVS
        // sends it out of the other member, so it must be skipped.
        lines.push_back("PATH local=p" + std::to_string(i + 1) +
                        " remote=p" + std::to_string(j + 1) + " sports=" +
                        std::to_string(hint.bad) + "," +
                        std::to_string(hint.good));
      }
    }
    agents[side].SetPaths(kIp[1 - side], lines);
    ASSERT_TRUE(clients[side].Connect(agents[side].socket_path()).ok());
    h.agent[side] = &clients[side];
  }
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  for (int side = 0; side < 2; side++) {
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      SCOPED_TRACE("side " + std::to_string(side) + " path " +
                   p.local_member + "->" + p.remote_member);
      EXPECT_EQ(p.sport, hints[side][p.local_index][p.remote_index].good);
      EXPECT_TRUE(p.agent_hint);
      EXPECT_EQ(p.repicks, 0u);
      EXPECT_EQ(p.probe_attempts, 1u);
    }
    ExpectRegistered(agents[side], *h.s[side].conn, side);
  }
  EXPECT_EQ(h.fabric.misdelivered(), 0u);
  ExpectPinnedAndDelivered(h, bonds);

  // A rebalance moves the bucket of p1->p1's port to p2: the agent is
  // asked again, its port for p1->p1 no longer maps and is skipped.
  const uint16_t old = hints[0][0][0].good;
  bool updated = false;   // at() may see an index again.
  h.Transfer(600, [&](uint64_t n) {
    if (n != 300 || updated) return;
    updated = true;
    Predictor before = *Predictor::Create(bonds[0], kImpl);
    Bond moved = bonds[0];
    moved.generation++;
    moved.change_ns = MonotonicNowNs();
    moved.buckets[before.Predict(FlowKey(*MakeUdpTuple(
                                     *ParseIpAddress(kIp[0]),
                                     *ParseIpAddress(kIp[1]), old)))
                      .bucket] = 1;
    const size_t mark = agents[0].requests().size();
    ASSERT_TRUE(h.s[0].conn->UpdateBond(moved, kImpl).ok());
    EXPECT_EQ(agents[0].requests("PATHS").size(), 1u);  // Not yet.
    ASSERT_TRUE(h.s[0].conn->Progress().ok());
    agents[0].Settle();
    EXPECT_EQ(agents[0].requests("PATHS").size(), 2u);
    for (const PathStats& p : h.s[0].conn->stats().paths) {
      if (p.local_index != 0 || p.remote_index != 0) continue;
      EXPECT_NE(p.sport, old);
      EXPECT_FALSE(p.agent_hint);
      EXPECT_EQ(p.repins, 1u);
      bool reported = false;
      for (const auto& f : QpLinesSince(agents[0], mark)) {
        reported = reported || (f.at("path") == "0,0" &&
                                f.at("sport") == std::to_string(p.sport) &&
                                f.count("repin_ns") > 0);
      }
      EXPECT_TRUE(reported) << "re-pin of p1->p1 not registered with repin_ns";
    }
  });
  h.ExpectExactlyOnceInOrder(600);
}

// Connections toward one peer start at different places in the agent's
// validated ports (spread_key), not all on its first: the RDMA load spreads
// over OVS's buckets, and a port the agent stops validating moves a few
// paths, not every connection's.
TEST(ConnectionAgentTest, ConnectionsSpreadOverTheAgentsValidatedPorts) {
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  std::vector<uint16_t> good[2][2][2];
  std::vector<std::string> lines[2];
  for (int side = 0; side < 2; side++) {
    for (size_t i = 0; i < 2; i++) {
      for (size_t j = 0; j < 2; j++) {
        std::string sports;
        for (int nth = 5; nth <= 8; nth++) {
          const uint16_t port = FindHint(bonds[side], side, i, j, nth).good;
          ASSERT_NE(port, 0);
          good[side][i][j].push_back(port);
          sports += (sports.empty() ? "" : ",") + std::to_string(port);
        }
        lines[side].push_back("PATH local=p" + std::to_string(i + 1) +
                              " remote=p" + std::to_string(j + 1) +
                              " sports=" + sports);
      }
    }
  }
  std::set<uint16_t> first_ports;   // Side 0's p1->p1, per connection.
  for (uint64_t key = 1; key <= 4; key++) {
    SCOPED_TRACE("spread_key " + std::to_string(key));
    FakeAgent agents[2];
    AgentClient clients[2] = {AgentClient(TestOptions()),
                              AgentClient(TestOptions())};
    FakeFabric::Options fo;
    fo.retry_timeout = milliseconds(400);
    Harness h(fo);
    HashedSwitch(h.fabric);
    h.base.probe_timeout = milliseconds(150);
    h.base.spread_key = key;
    for (int side = 0; side < 2; side++) {
      agents[side].SetPaths(kIp[1 - side], lines[side]);
      ASSERT_TRUE(clients[side].Connect(agents[side].socket_path()).ok());
      h.agent[side] = &clients[side];
    }
    h.EstablishOrDie(&bonds[0], &bonds[1]);
    ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
    for (int side = 0; side < 2; side++) {
      for (const PathStats& p : h.s[side].conn->stats().paths) {
        const auto& mine = good[side][p.local_index][p.remote_index];
        EXPECT_TRUE(std::count(mine.begin(), mine.end(), p.sport))
            << "side " << side << " path " << p.local_member << "->"
            << p.remote_member << " on port " << p.sport
            << ", not one the agent validated";
        EXPECT_TRUE(p.agent_hint);
        if (side == 0 && p.local_index == 0 && p.remote_index == 0) {
          first_ports.insert(p.sport);
        }
      }
    }
    ExpectPinnedAndDelivered(h, bonds);
  }
  // Four connections over four validated ports: not all on one.
  EXPECT_GE(first_ports.size(), 2u);
}

// issue 16: a later probing round may stop validating a path's port (the
// agent found the return path through it broken).  The connection asks
// again every agent_refresh and moves such a path onto a port the agent
// validates, losing nothing.
TEST(ConnectionAgentTest, PathsFollowTheAgentsValidatedSet) {
  FakeAgent agents[2];
  AgentClient clients[2] = {AgentClient(TestOptions()),
                            AgentClient(TestOptions())};
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(400);
  Harness h(fo);
  HashedSwitch(h.fabric);
  h.base.probe_timeout = milliseconds(150);
  h.base.agent_refresh = milliseconds(20);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  auto lines_for = [&](int side, int nth) {
    std::vector<std::string> lines;
    for (size_t i = 0; i < 2; i++) {
      for (size_t j = 0; j < 2; j++) {
        lines.push_back("PATH local=p" + std::to_string(i + 1) +
                        " remote=p" + std::to_string(j + 1) + " sports=" +
                        std::to_string(FindHint(bonds[side], side, i, j, nth)
                                           .good));
      }
    }
    return lines;
  };
  for (int side = 0; side < 2; side++) {
    agents[side].SetPaths(kIp[1 - side], lines_for(side, 5));
    ASSERT_TRUE(clients[side].Connect(agents[side].socket_path()).ok());
    h.agent[side] = &clients[side];
  }
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    EXPECT_EQ(p.sport, FindHint(bonds[0], 0, p.local_index, p.remote_index,
                                5).good);
  }

  // Mid-transfer, host 0's agent validates other ports (the 9th good one
  // of each pair) and no longer the ones in use.
  bool moved = false;
  h.Transfer(600, [&](uint64_t n) {
    if (n != 300 || moved) return;
    moved = true;
    agents[0].SetPaths(kIp[1], lines_for(0, 9));
  });
  h.ExpectExactlyOnceInOrder(600);
  ASSERT_TRUE(h.PumpUntil([&] {
    for (const PathStats& p : h.s[0].conn->stats().paths) {
      if (p.sport != FindHint(bonds[0], 0, p.local_index, p.remote_index, 9)
                         .good) {
        return false;
      }
    }
    return true;
  })) << "host 0's paths stayed on ports the agent no longer validates";
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    EXPECT_EQ(p.repins, 1u);
    EXPECT_TRUE(p.up);
  }
  EXPECT_EQ(h.fabric.misdelivered(), 0u);
  // Nothing moves on host 1, whose agent still validates its ports.
  for (const PathStats& p : h.s[1].conn->stats().paths) {
    EXPECT_EQ(p.repins, 0u);
  }
}

// A port the path's own probing found (the agent had none for it yet)
// moves in place onto the agent's ports once it has some: while a member
// of the peer is down the agent offers only ports that will still reach
// the same member after the repair, which a port found during the cut
// may not.  Where the RNIC cannot change a port in place, the first
// refusal costs one reset and the other ports stay.
void PortsFoundByProbing(bool in_place) {
  FakeAgent agents[2];
  AgentClient clients[2] = {AgentClient(TestOptions()),
                            AgentClient(TestOptions())};
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(400);
  fo.sport_change_supported = in_place;
  Harness h(fo);
  HashedSwitch(h.fabric);
  h.base.probe_timeout = milliseconds(150);
  h.base.agent_refresh = milliseconds(20);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  for (int side = 0; side < 2; side++) {
    agents[side].SetPaths(kIp[1 - side], {});
    ASSERT_TRUE(clients[side].Connect(agents[side].socket_path()).ok());
    h.agent[side] = &clients[side];
  }
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  std::vector<uint16_t> before;
  std::vector<uint64_t> resets_before, repins_before;
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    EXPECT_FALSE(p.agent_hint);
    before.push_back(p.sport);
    resets_before.push_back(p.resets);
    repins_before.push_back(p.repins);
  }
  std::vector<std::string> lines;
  for (size_t i = 0; i < 2; i++) {
    for (size_t j = 0; j < 2; j++) {
      lines.push_back("PATH local=p" + std::to_string(i + 1) + " remote=p" +
                      std::to_string(j + 1) + " sports=" +
                      std::to_string(FindHint(bonds[0], 0, i, j, 9).good));
    }
  }
  agents[0].SetPaths(kIp[1], lines);
  h.Transfer(600);
  h.ExpectExactlyOnceInOrder(600);
  const auto until = std::chrono::steady_clock::now() + milliseconds(200);
  while (std::chrono::steady_clock::now() < until) h.Pump();
  size_t moved = 0, kept = 0;
  const std::vector<PathStats> after = h.s[0].conn->stats().paths;
  ASSERT_EQ(after.size(), before.size());
  for (size_t k = 0; k < after.size(); k++) {
    const PathStats& p = after[k];
    const uint16_t agents_port =
        FindHint(bonds[0], 0, p.local_index, p.remote_index, 9).good;
    if (p.sport == agents_port) {
      moved++;
      EXPECT_TRUE(p.agent_hint);
      EXPECT_TRUE(p.up) << testing::Describe(*h.s[0].conn);
    } else {
      EXPECT_EQ(p.sport, before[k]);
      kept++;
    }
  }
  if (in_place) {
    EXPECT_EQ(moved, after.size()) << testing::Describe(*h.s[0].conn);
    for (size_t k = 0; k < after.size(); k++) {
      EXPECT_EQ(after[k].repins, repins_before[k] + 1);
      EXPECT_EQ(after[k].resets, resets_before[k]);
    }
  } else {
    // The first refusal (a REPICK while probing, or the first move here).
    EXPECT_LE(moved, 1u) << testing::Describe(*h.s[0].conn);
    EXPECT_GE(kept, after.size() - 1);
  }
  // Nothing moves on host 1, whose agent lists nothing.
  for (const PathStats& p : h.s[1].conn->stats().paths) {
    EXPECT_EQ(p.repins, 0u);
  }
}

TEST(ConnectionAgentTest, PortsFoundByProbingMoveOntoTheAgentsPortsInPlace) {
  PortsFoundByProbing(/*in_place=*/true);
}

TEST(ConnectionAgentTest, PortsFoundByProbingStayWhereTheRnicCannotMoveThem) {
  PortsFoundByProbing(/*in_place=*/false);
}

// A path toward a member of the peer that may not carry (here side 1's p1
// owns no bucket) waits connected on the agent's port that lasts for it
// ("waiting=1": the agent remembers where the switch delivered it while
// all of the peer's members were up), so that when that member takes over
// (side 1's p2 dies) the path comes up on its first probe, whatever the
// switch's flows toward the dead member still do.  It carries before its
// own probe is acknowledged: the member that took over sent its probe and
// the bond's view on it (here the side channel is held), so the way back
// works, and the port is the agent's.
TEST(ConnectionAgentTest, APathWaitsOnAPortThatLasts) {
  FakeAgent agents[2];
  AgentClient clients[2] = {AgentClient(TestOptions()),
                            AgentClient(TestOptions())};
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(400);
  Harness h(fo);
  h.relay_side = true;
  HashedSwitch(h.fabric);
  h.base.probe_timeout = milliseconds(150);
  h.base.agent_refresh = milliseconds(20);
  Bond lone = TcpBond(11);
  for (uint8_t& owner : lone.buckets) owner = 1;  // p1 enabled, no bucket.
  const Bond bonds[2] = {TcpBond(7), lone};
  std::vector<std::string> lines;
  for (size_t i = 0; i < 2; i++) {
    lines.push_back("PATH local=p" + std::to_string(i + 1) +
                    " remote=p1 sports=" +
                    std::to_string(FindHint(bonds[0], 0, i, 0, 9).good) +
                    " waiting=1");
  }
  // The agent knows nothing yet: the paths take ports of their own.
  agents[0].SetPaths(kIp[1], {});
  agents[1].SetPaths(kIp[0], {});
  for (int side = 0; side < 2; side++) {
    ASSERT_TRUE(clients[side].Connect(agents[side].socket_path()).ok());
    h.agent[side] = &clients[side];
  }
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  agents[0].SetPaths(kIp[1], lines);
  auto toward = [&](size_t remote) {
    std::vector<PathStats> out;
    for (const PathStats& p : h.s[0].conn->stats().paths) {
      if (p.remote_index == remote) out.push_back(p);
    }
    return out;
  };
  ASSERT_TRUE(h.PumpUntil([&] {
    for (const PathStats& p : toward(1)) {
      if (!p.up) return false;
    }
    for (const PathStats& p : toward(0)) {
      if (p.sport != FindHint(bonds[0], 0, p.local_index, 0, 9).good) {
        return false;
      }
    }
    return true;
  })) << "the paths toward side 1's p1 did not move onto the ports that "
      << "last\n" << testing::Describe(*h.s[0].conn);
  std::vector<uint64_t> repicks;
  for (const PathStats& p : toward(0)) {
    EXPECT_FALSE(p.up);
    EXPECT_TRUE(p.agent_hint);
    repicks.push_back(p.repicks);
  }
  EXPECT_EQ(h.s[0].conn->stats().ups_before_ack, 0u);
  h.HoldSide(true);
  h.Transfer(2000, [&](uint64_t i) {
    if (i != 500) return;
    h.fabric.SetLinkDown(1, 1, true);
    ASSERT_TRUE(h.s[1].conn->UpdateBond(Disable(lone, 1), kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(2000);
  EXPECT_EQ(h.s[0].conn->stats().ups_before_ack, toward(0).size())
      << testing::Describe(*h.s[0].conn);
  h.HoldSide(false);
  const std::vector<PathStats> now = toward(0);
  ASSERT_EQ(now.size(), repicks.size());
  for (size_t k = 0; k < now.size(); k++) {
    EXPECT_TRUE(now[k].up) << testing::Describe(*h.s[0].conn);
    EXPECT_EQ(now[k].sport,
              FindHint(bonds[0], 0, now[k].local_index, 0, 9).good);
    EXPECT_EQ(now[k].repicks, repicks[k]) << "probed another port first";
  }
}

TEST(ConnectionAgentTest, CloseAndDestructionRemoveEveryQp) {
  FakeAgent agents[2];
  AgentClient clients[2] = {AgentClient(TestOptions()),
                            AgentClient(TestOptions())};
  Harness h;
  for (int side = 0; side < 2; side++) {
    ASSERT_TRUE(clients[side].Connect(agents[side].socket_path()).ok());
    h.agent[side] = &clients[side];
  }
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  std::set<std::string> qpns[2];
  for (int side = 0; side < 2; side++) {
    ExpectRegistered(agents[side], *h.s[side].conn, side);
    for (const auto& [qpn, f] : agents[side].registry()) {
      qpns[side].insert(std::to_string(qpn));
    }
    ASSERT_EQ(qpns[side].size(), 4u);
  }
  // Side 1 goes away without Close(); side 0 closes.
  h.s[1].conn.reset();
  (void)h.s[0].conn->Close(milliseconds(1000));
  for (int side = 0; side < 2; side++) {
    SCOPED_TRACE("side " + std::to_string(side));
    agents[side].Settle();
    EXPECT_TRUE(agents[side].registry().empty());
    std::set<std::string> removed;
    for (const std::string& line : agents[side].requests("DEL")) {
      removed.insert(FakeAgent::Fields(line).at("qpn"));
    }
    EXPECT_EQ(removed, qpns[side]);
    // Removed by DEL, not by a closed registry connection.
    EXPECT_TRUE(clients[side].connected());
  }
  // Nothing more when the closed connection is destroyed.
  h.s[0].conn.reset();
  agents[0].Settle();
  EXPECT_EQ(agents[0].requests("DEL").size(), 4u);
}

// The connection with an agent in 'mode' (nullptr: none at all): it comes
// up on every path and loses nothing; returns the requests the agent saw.
std::vector<std::string> RunWithAgent(FakeAgent* agent) {
  AgentClient client(TestOptions());
  (void)client.Connect(agent ? agent->socket_path()
                             : "/nonexistent-dir/rdma-bond-agent.sock");
  Harness h;
  HashedSwitch(h.fabric);
  h.agent[0] = &client;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  EXPECT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  // Midway, side 0's p2 is disabled: re-pins and registrations.
  bool updated = false;   // at() may see an index again.
  h.Transfer(600, [&](uint64_t n) {
    if (n == 300 && !updated) {
      updated = true;
      EXPECT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 1), kImpl).ok());
    }
  });
  h.ExpectExactlyOnceInOrder(600);
  std::thread t([&] { (void)h.s[1].conn->Close(milliseconds(2000)); });
  EXPECT_TRUE(h.s[0].conn->Close(milliseconds(2000)).ok());
  t.join();
  if (agent == nullptr) return {};
  agent->Settle();
  return agent->requests();
}

TEST(ConnectionAgentTest, AbsentAgentChangesNothing) {
  EXPECT_TRUE(RunWithAgent(nullptr).empty());
}

TEST(ConnectionAgentTest, RefusingAgentIsAskedOnce) {
  FakeAgent agent(FakeAgent::Mode::kRefuse);
  EXPECT_EQ(RunWithAgent(&agent),
            std::vector<std::string>{"HELLO version=1 name=conn-test"});
}

TEST(ConnectionAgentTest, SilentAgentCostsOneTimeout) {
  FakeAgent agent(FakeAgent::Mode::kSilent);
  EXPECT_EQ(RunWithAgent(&agent),
            std::vector<std::string>{"HELLO version=1 name=conn-test"});
}

TEST(ConnectionAgentTest, AgentSilentAfterHelloCostsOneTimeout) {
  FakeAgent agent(FakeAgent::Mode::kSilentAfterHello);
  // The PATHS request of Establish() times out; after it, nothing is sent
  // (re-pins, registrations, DELs) until the retry interval.
  EXPECT_EQ(RunWithAgent(&agent),
            (std::vector<std::string>{"HELLO version=1 name=conn-test",
                                      "PATHS bond=bond0 dst=10.0.0.2"}));
}

TEST(ConnectionAgentTest, AgentHangingMidRunCostsOneTimeout) {
  FakeAgent agent;
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  Harness h;
  size_t active[2] = {0, 0};
  ActiveOnlySwitch(h.fabric, active);
  h.agent[0] = &client;
  const Bond bonds[2] = {AbBond(0), AbBond(0)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ExpectRegistered(agent, *h.s[0].conn, 0);
  agent.SetMode(FakeAgent::Mode::kSilent);
  const size_t mark = agent.requests().size();
  size_t sent = 0;
  bool updated = false;   // at() may see an index again.
  h.Transfer(600, [&](uint64_t n) {
    if (n != 100 || updated) return;
    updated = true;
    Bond switched = bonds[0];
    switched.active_member = 1;
    switched.generation++;
    active[0] = 1;
    // Two paths change role: the next Progress() sends their
    // registrations and does not wait for the answers.
    ASSERT_TRUE(h.s[0].conn->UpdateBond(switched, kImpl).ok());
    EXPECT_TRUE(client.connected());
    ASSERT_TRUE(h.s[0].conn->Progress().ok());
    EXPECT_TRUE(client.connected());
    sent = client.outstanding();
    EXPECT_GE(sent, 2u);
  });
  // The transfer goes on; once the answers are overdue (the client's
  // timeout), a Progress() notices and disconnects the client.
  std::this_thread::sleep_for(TestOptions().timeout +
                              std::chrono::milliseconds(10));
  ASSERT_TRUE(h.s[0].conn->Progress().ok());
  EXPECT_FALSE(client.connected());
  EXPECT_NE(client.last_error().message().find("no answer within"),
            std::string::npos)
      << client.last_error().ToString();
  h.ExpectExactlyOnceInOrder(600);
  h.s[0].conn.reset();
  agent.Settle();
  // The registrations, and nothing after the failure (DELs included)
  // until the retry interval.
  EXPECT_EQ(agent.requests().size(), mark + sent);
}

}  // namespace
}  // namespace rdma_bond
