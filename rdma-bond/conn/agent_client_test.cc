// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// AgentClient against FakeAgent: the lines of protocol v1, the replies it
// understands, and its failure policy.

#include "rdma_bond/agent_client.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "rdma_bond/table_reader.h"
#include "testing/fake_agent.h"

namespace rdma_bond {
namespace {

using std::chrono::milliseconds;
using testing::FakeAgent;

AgentClientOptions TestOptions() { return testing::TestClientOptions("agent-test"); }

QpRegistration FullRegistration() {
  QpRegistration reg;
  reg.qpn = 0x123;
  reg.bond = "bond0";
  reg.member = "p1";
  reg.src = *ParseIpAddress("10.0.0.1");
  reg.dst = *ParseIpAddress("10.0.0.2");
  reg.sport = 0xc001;
  reg.role = AgentQpRole::kActive;
  reg.rnic = "fake:p1";
  reg.conn = 7;
  reg.path = std::make_pair(size_t{0}, size_t{1});
  reg.repin_ns = 1234;
  return reg;
}

// Polls until every answer due has arrived (at most 5 s).
void AwaitAnswers(AgentClient& client) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (client.outstanding() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    client.Poll();
    std::this_thread::sleep_for(milliseconds(1));
  }
}

TEST(AgentClientTest, DefaultSocketIsInTheAgentsDirectoryNextToTheTable) {
  EXPECT_EQ(DefaultAgentSocketPath("/var/run/openvswitch/rdma-bond.shm"),
            "/var/run/openvswitch/rdma-bond-agent/registry.sock");
  EXPECT_EQ(DefaultAgentSocketPath("/tmp/lab/host1/other.shm"),
            "/tmp/lab/host1/rdma-bond-agent/registry.sock");
  EXPECT_EQ(DefaultAgentSocketPath("table.shm"),
            "rdma-bond-agent/registry.sock");
  EXPECT_EQ(DefaultAgentSocketPath(""),
            DefaultAgentSocketPath(DefaultTablePath()));
  EXPECT_EQ(DefaultAgentDirectory("/run/openvswitch/rdma-bond.shm"),
            "/run/openvswitch/rdma-bond-agent");
}

// A socket somebody else put there would collect the QPs and answer PATHS
// (docs/security.md, issue 15 finding 1): refused before connect().
TEST(AgentClientTest, RefusesASocketOfAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the socket away";
  FakeAgent agent;
  ASSERT_EQ(lchown(agent.socket_path().c_str(), 54321, 54321), 0);
  AgentClient client(TestOptions());
  Status s = client.Connect(agent.socket_path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("agent socket " + agent.socket_path() +
                              ": owned by uid 54321"),
            std::string::npos)
      << s.ToString();
  agent.Settle();
  EXPECT_EQ(agent.connections_accepted(), 0u);
}

TEST(AgentClientTest, RefusesASocketInADirectoryOthersMayWrite) {
  FakeAgent agent;
  const std::string dir =
      agent.socket_path().substr(0, agent.socket_path().rfind('/'));
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  AgentClient client(TestOptions());
  Status s = client.Connect(agent.socket_path());
  ASSERT_EQ(chmod(dir.c_str(), 0700), 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("directory " + dir +
                              " is writable by group or others"),
            std::string::npos)
      << s.ToString();
  agent.Settle();
  EXPECT_EQ(agent.connections_accepted(), 0u);
}

TEST(AgentClientTest, SpeaksProtocolVersion1) {
  FakeAgent agent;
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok())
      << client.last_error().ToString();
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.agent_pid(), FakeAgent::kPid);

  Status s = client.RegisterQp(FullRegistration());
  ASSERT_TRUE(s.ok()) << s.ToString();
  QpRegistration minimal;
  minimal.qpn = 77;
  minimal.bond = "bond0";
  minimal.member = "p2";
  minimal.src = *ParseIpAddress("fd00::1");
  minimal.dst = *ParseIpAddress("fd00::2");
  minimal.sport = 65535;
  minimal.role = AgentQpRole::kStandby;
  ASSERT_TRUE(client.RegisterQp(minimal).ok());
  minimal.role = AgentQpRole::kDown;
  ASSERT_TRUE(client.RegisterQp(minimal).ok());
  ASSERT_TRUE(client.RemoveQp(0x123, "fake:p1").ok());
  // Sent without waiting for the answers; Poll() reads them.
  AwaitAnswers(client);
  EXPECT_EQ(client.outstanding(), 0u);
  EXPECT_TRUE(client.connected());
  EXPECT_TRUE(client.last_refusal().ok()) << client.last_refusal().ToString();

  agent.Settle();
  EXPECT_EQ(agent.requests(),
            (std::vector<std::string>{
                "HELLO version=1 name=agent-test",
                "QP qpn=291 bond=bond0 member=p1 src=10.0.0.1 dst=10.0.0.2 "
                "sport=49153 role=active rnic=fake:p1 conn=7 path=0,1 "
                "repin_ns=1234",
                "QP qpn=77 bond=bond0 member=p2 src=fd00::1 dst=fd00::2 "
                "sport=65535 role=standby",
                "QP qpn=77 bond=bond0 member=p2 src=fd00::1 dst=fd00::2 "
                "sport=65535 role=down",
                "DEL qpn=291 rnic=fake:p1",
            }));
  const auto registry = agent.registry();
  ASSERT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.at(77).at("role"), "down");
  EXPECT_EQ(client.registrations().size(), 1u);
}

TEST(AgentClientTest, PathsParsesTheAgentsPorts) {
  FakeAgent agent;
  agent.SetPaths("10.0.0.2",
                 {"PATH local=p1 remote=p2 sports=49153,0xc002 future=1",
                  "PATH local=p2 remote=p1 sports=",
                  // Not a RoCEv2 source port: dropped.
                  "PATH local=p2 remote=p2 sports=4791,65535"});
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  Result<std::vector<AgentPath>> paths =
      client.Paths("bond0", *ParseIpAddress("10.0.0.2"));
  ASSERT_TRUE(paths.ok()) << paths.status().ToString();
  EXPECT_EQ(*paths, (std::vector<AgentPath>{
                        {"p1", "p2", {0xc001, 0xc002}},
                        {"p2", "p1", {}},
                        {"p2", "p2", {0xffff}},
                    }));
  EXPECT_EQ(agent.requests("PATHS"),
            std::vector<std::string>{"PATHS bond=bond0 dst=10.0.0.2"});
  // Nothing probed toward another peer.
  paths = client.Paths("bond0", *ParseIpAddress("10.0.0.9"));
  ASSERT_TRUE(paths.ok());
  EXPECT_TRUE(paths->empty());
  EXPECT_TRUE(client.connected());
}

TEST(AgentClientTest, MalformedPathsReplyDisconnects) {
  FakeAgent agent;
  agent.SetPaths("10.0.0.2", {"PATH local=p1 sports=49153"});
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  Result<std::vector<AgentPath>> paths =
      client.Paths("bond0", *ParseIpAddress("10.0.0.2"));
  ASSERT_FALSE(paths.ok());
  EXPECT_TRUE(paths.status().IsCorruption()) << paths.status().ToString();
  EXPECT_FALSE(client.connected());
}

TEST(AgentClientTest, ErrReplyFailsTheRequestButKeepsTheConnection) {
  FakeAgent agent;
  agent.SetPaths("10.0.0.2", {"ERR bond \"bond0\" is not in the table"});
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  Result<std::vector<AgentPath>> paths =
      client.Paths("bond0", *ParseIpAddress("10.0.0.2"));
  ASSERT_FALSE(paths.ok());
  EXPECT_NE(paths.status().message().find("is not in the table"),
            std::string::npos)
      << paths.status().ToString();
  EXPECT_TRUE(client.connected());
  QpRegistration reg = FullRegistration();
  Status s = client.RegisterQp(reg);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // An invalid name is refused before anything is sent.
  reg.member = "p 1";
  s = client.RegisterQp(reg);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("member \"p 1\""), std::string::npos)
      << s.ToString();
  reg.member = "p1";
  reg.bond = "";
  EXPECT_EQ(client.RegisterQp(reg).code(), Status::Code::kInvalidArgument);
  agent.Settle();
  EXPECT_EQ(agent.requests().size(), 3u);  // HELLO, PATHS, QP.
  EXPECT_TRUE(client.connected());
}

TEST(AgentClientTest, RefusedHelloCarriesTheAgentsMessage) {
  FakeAgent agent(FakeAgent::Mode::kRefuse);
  AgentClient client(TestOptions());
  Status s = client.Connect(agent.socket_path());
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(s.IsNotFound());
  EXPECT_NE(s.message().find(FakeAgent::kRefusal), std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find(agent.socket_path()), std::string::npos);
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.last_error().message(), s.message());
  // Until the retry interval passes, nothing more is tried.
  EXPECT_EQ(client.RegisterQp(FullRegistration()).code(),
            Status::Code::kUnavailable);
  EXPECT_FALSE(client.Paths("bond0", *ParseIpAddress("10.0.0.2")).ok());
  agent.Settle();
  EXPECT_EQ(agent.requests().size(), 1u);
  EXPECT_EQ(agent.connections_accepted(), 1u);
}

TEST(AgentClientTest, AbsentAgentIsNotFound) {
  AgentClient client(TestOptions());
  Status s = client.Connect("/nonexistent-dir/registry.sock");
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_FALSE(client.connected());
  // Kept for when the agent appears.
  EXPECT_EQ(client.RegisterQp(FullRegistration()).code(),
            Status::Code::kUnavailable);
  EXPECT_EQ(client.registrations().size(), 1u);
  // Never connected at all: fails at once too.
  AgentClient idle(TestOptions());
  EXPECT_EQ(idle.RemoveQp(5).code(), Status::Code::kOk);
  EXPECT_EQ(idle.Paths("bond0", *ParseIpAddress("10.0.0.2")).status().code(),
            Status::Code::kUnavailable);
}

TEST(AgentClientTest, SilentAgentCostsOneTimeoutPerRetryInterval) {
  FakeAgent agent(FakeAgent::Mode::kSilent);
  AgentClientOptions o = TestOptions();
  o.timeout = milliseconds(30);
  o.retry_interval = milliseconds(200);
  o.max_retry_interval = milliseconds(400);
  AgentClient client(o);
  Status s = client.Connect(agent.socket_path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no answer within 30 ms"), std::string::npos)
      << s.ToString();
  for (int i = 0; i < 20; i++) {
    QpRegistration reg = FullRegistration();
    reg.qpn = static_cast<uint32_t>(100 + i);
    EXPECT_EQ(client.RegisterQp(reg).code(), Status::Code::kUnavailable);
    EXPECT_FALSE(client.Paths("bond0", reg.dst).ok());
  }
  agent.Settle();
  EXPECT_EQ(agent.requests().size(), 1u);   // The first HELLO only.
  EXPECT_EQ(agent.connections_accepted(), 1u);
  // After the interval, the next request tries again (one more HELLO),
  // and the interval doubles.
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_FALSE(client.RemoveQp(100, "fake:p1").ok());
  EXPECT_FALSE(client.RemoveQp(101, "fake:p1").ok());
  std::this_thread::sleep_for(milliseconds(250));
  // 250 < 400 ms: not yet.
  EXPECT_FALSE(client.RemoveQp(102, "fake:p1").ok());
  agent.Settle();
  EXPECT_EQ(agent.requests("HELLO").size(), 2u);
  EXPECT_EQ(agent.requests().size(), 2u);
}

TEST(AgentClientTest, MaintainRegistersAgainWithARestartedAgent) {
  FakeAgent agent;
  AgentClientOptions o = TestOptions();
  o.retry_interval = milliseconds(20);
  AgentClient client(o);
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  QpRegistration a = FullRegistration();
  ASSERT_TRUE(client.RegisterQp(a).ok());
  agent.Settle();
  ASSERT_EQ(agent.registry().size(), 1u);
  // The agent restarts: it forgets the QP, and nothing else changes on
  // the client's side.
  agent.DropClients();
  EXPECT_TRUE(agent.registry().empty());
  // Maintain() notices the closed socket, then (after the retry interval)
  // connects again and registers the QP again, with no request of ours.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (agent.registry().empty() &&
         std::chrono::steady_clock::now() < deadline) {
    client.Maintain();
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(agent.registry().size(), 1u);
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(agent.requests("HELLO").size(), 2u);
  // Rate-limited: calling it in a loop adds no requests.
  const size_t before = agent.requests().size();
  for (int i = 0; i < 1000; i++) client.Maintain();
  agent.Settle();
  EXPECT_EQ(agent.requests().size(), before);
}

TEST(AgentClientTest, ReconnectsAndReplaysWithoutSigpipe) {
  FakeAgent agent;
  AgentClientOptions o = TestOptions();
  o.retry_interval = milliseconds(20);
  AgentClient client(o);
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  QpRegistration a = FullRegistration(), b = FullRegistration(),
                 c = FullRegistration();
  a.qpn = 1;
  b.qpn = 2;
  c.qpn = 3;
  ASSERT_TRUE(client.RegisterQp(a).ok());
  ASSERT_TRUE(client.RegisterQp(b).ok());
  // The agent restarts: the next request hits a closed socket (EPIPE or
  // EOF, never SIGPIPE, which would end this test program).
  agent.DropClients();
  EXPECT_TRUE(agent.registry().empty());
  EXPECT_FALSE(client.RegisterQp(c).ok());
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(client.RemoveQp(2, "fake:p1").ok());    // Forgotten here; not sent.
  std::this_thread::sleep_for(milliseconds(30));
  c.repin_ns = 999;
  ASSERT_TRUE(client.RegisterQp(c).ok()) << client.last_error().ToString();
  EXPECT_TRUE(client.connected());
  agent.Settle();
  const auto registry = agent.registry();
  ASSERT_EQ(registry.size(), 2u);
  EXPECT_TRUE(registry.count(1));
  EXPECT_TRUE(registry.count(3));
  // Replayed without repin_ns (a replay is not a re-pin); the request
  // itself keeps it, and is sent once.
  EXPECT_EQ(registry.at(1).count("repin_ns"), 0u);
  EXPECT_EQ(registry.at(3).at("repin_ns"), "999");
  std::vector<std::string> lines = agent.requests();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[lines.size() - 3], "HELLO version=1 name=agent-test");
  EXPECT_EQ(lines[lines.size() - 2].rfind("QP qpn=1 ", 0), 0u);
  EXPECT_EQ(lines[lines.size() - 1].rfind("QP qpn=3 ", 0), 0u);
  EXPECT_EQ(agent.connections_accepted(), 2u);
}

// Nothing but HELLO and Paths() waits for the agent: a registration to an
// agent that stopped answering returns at once, still connected, and the
// overdue answer fails the connection later, in Poll().
TEST(AgentClientTest, RegistrationsDoNotWaitForTheAgentsAnswer) {
  FakeAgent agent;
  AgentClientOptions o = TestOptions();
  o.timeout = milliseconds(50);
  AgentClient client(o);
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  agent.SetMode(FakeAgent::Mode::kSilent);
  QpRegistration reg = FullRegistration();
  for (uint32_t i = 0; i < 10; i++) {
    reg.qpn = 100 + i;
    ASSERT_TRUE(client.RegisterQp(reg).ok());
  }
  ASSERT_TRUE(client.RemoveQp(100, "fake:p1").ok());
  ASSERT_TRUE(client.RequestPaths("bond0", reg.dst).ok());
  // Asked again while one is under way: not sent twice.
  ASSERT_TRUE(client.RequestPaths("bond0", reg.dst).ok());
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.outstanding(), 12u);
  EXPECT_EQ(client.LatestPaths("bond0", reg.dst), nullptr);
  agent.Settle();
  EXPECT_EQ(agent.requests("QP").size(), 10u);
  EXPECT_EQ(agent.requests("DEL").size(), 1u);
  EXPECT_EQ(agent.requests("PATHS").size(), 1u);
  client.Poll();
  EXPECT_TRUE(client.connected());   // Not overdue yet.
  std::this_thread::sleep_for(milliseconds(60));
  client.Poll();
  EXPECT_FALSE(client.connected());
  EXPECT_NE(client.last_error().message().find("no answer within 50 ms"),
            std::string::npos)
      << client.last_error().ToString();
  // The PATHS under way is answered with the failure.
  const AgentPathsAnswer* answer = client.LatestPaths("bond0", reg.dst);
  ASSERT_NE(answer, nullptr);
  EXPECT_FALSE(answer->paths.ok());
  // Kept for the next connection.
  EXPECT_EQ(client.registrations().size(), 9u);
}

// Answers are matched to requests in order: a PATHS answered between QP
// and DEL answers, a refused QP forgotten (and kept as the refusal), and
// a registration made again since the refused one kept.
TEST(AgentClientTest, AnswersArriveInOrderAndRefusalsForgetTheirQp) {
  FakeAgent agent;
  agent.SetPaths("10.0.0.2", {"PATH local=p1 remote=p2 sports=49153"});
  agent.RefuseQp(5);
  agent.RefuseQp(6);
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  QpRegistration good = FullRegistration();
  QpRegistration refused = good, again = good;
  refused.qpn = 5;
  again.qpn = 6;
  ASSERT_TRUE(client.RegisterQp(good).ok());
  ASSERT_TRUE(client.RegisterQp(again).ok());
  ASSERT_TRUE(client.RequestPaths("bond0", good.dst).ok());
  ASSERT_TRUE(client.RemoveQp(999, "fake:p9").ok());
  ASSERT_TRUE(client.RegisterQp(refused).ok());
  // Made again before the refusal of the first version is read (the
  // agent takes this one): kept.
  again.role = AgentQpRole::kDown;
  ASSERT_TRUE(client.RegisterQp(again).ok());
  EXPECT_EQ(client.registrations().size(), 3u);
  agent.Settle();
  AwaitAnswers(client);
  ASSERT_EQ(client.outstanding(), 0u);
  EXPECT_TRUE(client.connected());
  const AgentPathsAnswer* answer = client.LatestPaths("bond0", good.dst);
  ASSERT_NE(answer, nullptr);
  ASSERT_TRUE(answer->paths.ok()) << answer->paths.status().ToString();
  EXPECT_EQ(*answer->paths,
            (std::vector<AgentPath>{{"p1", "p2", {0xc001}}}));
  EXPECT_NE(client.last_refusal().message().find("QP 5: QP 5 refused"),
            std::string::npos)
      << client.last_refusal().ToString();
  // 5 is forgotten; the last version of 6 is newer than its refusal.
  std::vector<uint32_t> kept;
  for (const auto& [key, reg] : client.registrations()) {
    kept.push_back(key.second);
  }
  EXPECT_EQ(kept, (std::vector<uint32_t>{6, 0x123}));
  // The waiting form gives the same answer, numbered anew.
  const uint64_t first = answer->number;
  Result<std::vector<AgentPath>> paths = client.Paths("bond0", good.dst);
  ASSERT_TRUE(paths.ok());
  EXPECT_EQ(*paths, (std::vector<AgentPath>{{"p1", "p2", {0xc001}}}));
  EXPECT_GT(client.LatestPaths("bond0", good.dst)->number, first);
}

}  // namespace
}  // namespace rdma_bond

namespace rdma_bond {
namespace {

// LOAD: one line per report, without waiting; an agent older than LOAD
// refuses it once, and the client stops sending it until it connects
// again.
TEST(AgentClientLoadTest, ReportsAndStopsForAnAgentWithoutLoad) {
  FakeAgent agent;
  AgentClient client(TestOptions());
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  ASSERT_TRUE(client.RegisterQp(FullRegistration()).ok());
  EXPECT_TRUE(client.ReportLoad(0x123, "fake:p1", 0).ok());
  EXPECT_TRUE(client.ReportLoad(0x123, "fake:p1", 123456789012ull).ok());
  AwaitAnswers(client);
  agent.Settle();
  EXPECT_EQ(agent.requests("LOAD"),
            (std::vector<std::string>{
                "LOAD qpn=291 rnic=fake:p1 tx_bytes=0",
                "LOAD qpn=291 rnic=fake:p1 tx_bytes=123456789012"}));
  EXPECT_TRUE(client.connected());
  EXPECT_TRUE(client.load_supported());
  EXPECT_FALSE(client.ReportLoad(0x123, "bad rnic", 1).ok());

  // An agent that does not know LOAD: one refusal, then silence.
  agent.SetKnowsLoad(false);
  EXPECT_TRUE(client.ReportLoad(0x123, "fake:p1", 5).ok());
  AwaitAnswers(client);
  EXPECT_FALSE(client.load_supported());
  EXPECT_TRUE(client.connected()) << "a refused LOAD is no protocol error";
  EXPECT_TRUE(client.ReportLoad(0x123, "fake:p1", 6).IsNotSupported());
  agent.Settle();
  EXPECT_EQ(agent.requests("LOAD").size(), 3u);

  // A new connection (the agent may have been upgraded) asks again.
  agent.SetKnowsLoad(true);
  client.Disconnect();
  EXPECT_FALSE(client.ReportLoad(0x123, "fake:p1", 7).ok()) << "not connected";
  ASSERT_TRUE(client.Connect(agent.socket_path()).ok());
  EXPECT_TRUE(client.load_supported());
  EXPECT_TRUE(client.ReportLoad(0x123, "fake:p1", 7).ok());
  AwaitAnswers(client);
  agent.Settle();
  EXPECT_EQ(agent.requests("LOAD").back(),
            "LOAD qpn=291 rnic=fake:p1 tx_bytes=7");
}

}  // namespace
}  // namespace rdma_bond
