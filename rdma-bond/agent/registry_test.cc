// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/registry.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/table_test_util.h"

namespace rdma_bond::agent {
namespace {

using rdma_bond::testing::TempDir;

constexpr char kQp[] =
    "QP qpn=0x12 bond=bond0 member=nic0 src=10.0.0.1 dst=10.0.0.2 "
    "sport=49152 role=active";

TEST(RegistryTest, ParsesRequests) {
  Result<RegistryRequest> r = ParseRegistryRequest("QP qpn=1 bond=b0  member=nic0\r");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->verb, "QP");
  EXPECT_EQ(*r->Get("bond"), "b0");
  EXPECT_EQ(*r->Get("member"), "nic0");
  EXPECT_EQ(r->Get("sport").status().message(), "QP: missing sport=");

  EXPECT_EQ(ParseRegistryRequest("").status().message(), "empty request");
  EXPECT_EQ(ParseRegistryRequest("QP a=1 a=2").status().message(),
            "duplicate key a=");
  EXPECT_EQ(ParseRegistryRequest("QP junk").status().message(),
            "malformed field \"junk\" (want key=value)");
  EXPECT_EQ(ParseRegistryRequest("QP =1").status().message(),
            "malformed field \"=1\" (want key=value)");
  EXPECT_FALSE(ParseRegistryRequest(std::string(kAgentMaxLine + 1, 'x')).ok());
}

TEST(RegistryTest, BuildsQpRecords) {
  Result<QpRecord> qp = QpFromRequest(*ParseRegistryRequest(
      std::string(kQp) + " rnic=rxe0 conn=7 path=0,1 repin_ns=99 future=x"));
  ASSERT_TRUE(qp.ok()) << qp.status().ToString();
  EXPECT_EQ(qp->qpn, 0x12u);
  EXPECT_EQ(qp->bond, "bond0");
  EXPECT_EQ(qp->member, "nic0");
  EXPECT_EQ(ToString(qp->src), "10.0.0.1");
  EXPECT_EQ(ToString(qp->dst), "10.0.0.2");
  EXPECT_EQ(qp->sport, 49152);
  EXPECT_EQ(qp->role, QpRole::kActive);
  EXPECT_EQ(qp->rnic, "rxe0");
  EXPECT_EQ(qp->conn, "7");
  EXPECT_EQ(qp->path, "0,1");
  EXPECT_EQ(qp->repin_ns, 99u);

  auto error = [](const std::string& line) {
    return QpFromRequest(*ParseRegistryRequest(line)).status().message();
  };
  EXPECT_EQ(error("QP bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 "
                  "role=active"),
            "QP: missing qpn=");
  EXPECT_EQ(error("QP qpn=0x1000000 bond=b member=m src=10.0.0.1 "
                  "dst=10.0.0.2 sport=1 role=active"),
            "QP: malformed qpn=0x1000000 (want a 24-bit QP number)");
  EXPECT_EQ(error("QP qpn=1 bond=b member=m src=10.0.0.1 dst=fd00::1 "
                  "sport=1 role=active"),
            "QP: src= and dst= are of different IP versions");
  EXPECT_EQ(error("QP qpn=1 bond=b member=m src=10.0.0.1 dst=10.0.0.2 "
                  "sport=70000 role=active"),
            "QP: malformed sport=70000 (want a UDP port)");
  EXPECT_EQ(error("QP qpn=1 bond=b member=m src=10.0.0.1 dst=10.0.0.2 "
                  "sport=1 role=busy"),
            "QP: malformed role=busy (want active, standby or down)");
  EXPECT_EQ(error("QP qpn=1 bond=b member=m src=10.0.0.x dst=10.0.0.2 "
                  "sport=1 role=active"),
            "QP: malformed src=10.0.0.x (want an IP address)");
}

TEST(RegistryTest, AccessPolicy) {
  AccessPolicy policy;
  policy.agent_uid = 100;
  EXPECT_TRUE(policy.Allows({1, 0, 0, {}}));        // root
  EXPECT_TRUE(policy.Allows({1, 100, 100, {}}));    // the agent's user
  EXPECT_FALSE(policy.Allows({1, 1000, 1000, {}}));
  policy.allowed_uids = {1000};
  EXPECT_TRUE(policy.Allows({1, 1000, 1000, {}}));
  EXPECT_FALSE(policy.Allows({1, 1001, 1001, {5}}));
  policy.allowed_gids = {5};
  EXPECT_TRUE(policy.Allows({1, 1001, 1001, {5}}));  // supplementary
  EXPECT_TRUE(policy.Allows({1, 1002, 5, {}}));      // primary
  EXPECT_EQ(policy.RefusalMessage({1, 1003, 1003, {}}),
            "registration refused: uid 1003 is not allowed (start the agent "
            "with --allow-user=1003 or --allow-group=GROUP)");

  Result<std::vector<uid_t>> uids = ParseUserList("root,42");
  ASSERT_TRUE(uids.ok());
  EXPECT_EQ(*uids, (std::vector<uid_t>{0, 42}));
  EXPECT_EQ(ParseUserList("no-such-user-xyz").status().message(),
            "--allow-user: no user \"no-such-user-xyz\" (give a user name or "
            "a uid)");
  Result<std::vector<gid_t>> gids = ParseGroupList("root,7");
  ASSERT_TRUE(gids.ok());
  EXPECT_EQ(*gids, (std::vector<gid_t>{0, 7}));
  EXPECT_FALSE(ParseGroupList("no-such-group-xyz").ok());
}

// A blocking connection to the Unix socket 'path', or -1 with errno set
// (async-signal-safe enough for a forked child: no allocation).
int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int error = errno;
    close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

// A registry server on a real socket and blocking clients.
class RegistryServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Listen({}); }

  // (Re)creates the server; 'adjust' changes the options first.
  void Listen(const std::function<void(RegistryServer::Options*)>& adjust) {
    server_.reset();
    RegistryServer::Options options;
    options.path = dir_.File("reg.sock");
    // As with --allow-user or --allow-group: anyone may connect, and the
    // server itself must hold its ground against them.
    options.mode = 0666;
    options.policy.agent_uid = getuid();
    options.paths = [this](const std::string& bond, const IpAddress& dst) {
      paths_asked_ = bond + " " + ToString(dst);
      return std::string("PATH local=nic0 remote=nic1 sports=49152,49160\n"
                         "END\n");
    };
    options.changed = [this] { changes_++; };
    options.load = [this](const QpRecord& qp, uint64_t bytes) {
      loads_.push_back({qp.qpn, bytes});
    };
    options.log = [this](int, const std::string& line) {
      log_ += line + "\n";
    };
    if (adjust) adjust(&options);
    Result<std::unique_ptr<RegistryServer>> server =
        RegistryServer::Listen(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  int Connect() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, server_->path().c_str(),
                 sizeof addr.sun_path - 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }

  // Sends 'text' and collects 'lines' reply lines ("" on timeout or EOF).
  std::string Ask(int fd, const std::string& text, int lines = 1) {
    EXPECT_GT(send(fd, text.data(), text.size(), MSG_NOSIGNAL), 0);
    std::string reply;
    int seen = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (seen < lines && std::chrono::steady_clock::now() < deadline) {
      server_->Run();
      char c;
      ssize_t n;
      while (seen < lines && (n = recv(fd, &c, 1, MSG_DONTWAIT)) == 1) {
        reply += c;
        seen += c == '\n';
      }
      if (n == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return reply;
  }

  // Runs the server until 'fd' is closed by it.
  bool ClosedByServer(int fd) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      server_->Run();
      char c;
      ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
      if (n == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> server_;
  int changes_ = 0;
  std::string paths_asked_;
  std::string log_;
  std::vector<std::pair<uint32_t, uint64_t>> loads_;  // (qpn, bytes).
};

// LOAD: the first report of a QP only sets its baseline; later ones hand
// the difference to the handler; a re-registration keeps the count; a
// count that went down is all new; anything malformed is refused.
TEST_F(RegistryServerTest, LoadReportsHandTheDifference) {
  int fd = Connect();
  EXPECT_EQ(Ask(fd, "HELLO version=1 name=perf\n"),
            "OK version=1 agent=" + std::to_string(getpid()) + "\n");
  EXPECT_EQ(Ask(fd, std::string(kQp) + " rnic=rxe0\n"), "OK\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12 rnic=rxe0 tx_bytes=1000000\n"), "OK\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12 tx_bytes=1500000\n"), "OK\n");
  std::string moved = kQp;
  moved.replace(moved.find("49152"), 5, "49999");
  EXPECT_EQ(Ask(fd, moved + " rnic=rxe0\n"), "OK\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12 rnic=rxe0 tx_bytes=0x200000\n"), "OK\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12 tx_bytes=700\n"), "OK\n");
  const std::vector<std::pair<uint32_t, uint64_t>> expected = {
      {0x12, 0}, {0x12, 500000}, {0x12, 0x200000 - 1500000}, {0x12, 700}};
  EXPECT_EQ(loads_, expected);
  ASSERT_EQ(server_->qps().size(), 1u);
  EXPECT_EQ(server_->qps().begin()->second.tx_bytes, 700u);
  EXPECT_EQ(server_->qps().begin()->second.load_reports, 4u);

  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12\n"),
            "ERR LOAD: missing or malformed tx_bytes=\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12 tx_bytes=-5\n"),
            "ERR LOAD: missing or malformed tx_bytes=\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12 tx_bytes=18446744073709551616\n"),
            "ERR LOAD: missing or malformed tx_bytes=\n");
  EXPECT_EQ(Ask(fd, "LOAD tx_bytes=5\n"),
            "ERR LOAD: missing or malformed qpn=\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x13 tx_bytes=5\n"),
            "ERR LOAD: no QP qpn=0x13 registered on this connection\n");
  EXPECT_EQ(Ask(fd, "LOAD qpn=0x12 rnic=rxe1 tx_bytes=5\n"),
            "ERR LOAD: no QP qpn=0x12 registered on this connection\n");
  EXPECT_EQ(loads_.size(), expected.size());

  // Another connection cannot report the first one's QP.
  int other = Connect();
  EXPECT_EQ(Ask(other, "HELLO version=1\n"),
            "OK version=1 agent=" + std::to_string(getpid()) + "\n");
  EXPECT_EQ(Ask(other, "LOAD qpn=0x12 tx_bytes=5\n"),
            "ERR LOAD: no QP qpn=0x12 registered on this connection\n");
  EXPECT_EQ(loads_.size(), expected.size());
  close(other);
  close(fd);
}

TEST_F(RegistryServerTest, RegistersUpdatesAndDeletes) {
  int fd = Connect();
  EXPECT_EQ(Ask(fd, std::string(kQp) + "\n"),
            "ERR send HELLO version=1 first\n");
  EXPECT_EQ(Ask(fd, "HELLO version=2\n"),
            "ERR protocol version 2 is not supported (the agent speaks "
            "version 1)\n");
  EXPECT_EQ(Ask(fd, "HELLO version=1 name=perf\n"),
            "OK version=1 agent=" + std::to_string(getpid()) + "\n");
  EXPECT_EQ(Ask(fd, std::string(kQp) + "\n"), "OK\n");
  ASSERT_EQ(server_->qps().size(), 1u);
  const QpRecord& qp = server_->qps().begin()->second;
  EXPECT_EQ(qp.qpn, 0x12u);
  EXPECT_EQ(qp.pid, getpid());
  EXPECT_EQ(qp.client_name, "perf");
  EXPECT_EQ(qp.repins, 0u);
  EXPECT_EQ(changes_, 1);

  // The same QP again, on another port: an update and a re-pin.
  std::string moved = kQp;
  moved.replace(moved.find("49152"), 5, "49999");
  EXPECT_EQ(Ask(fd, moved + " repin_ns=5000\n"), "OK\n");
  ASSERT_EQ(server_->qps().size(), 1u);
  EXPECT_EQ(server_->qps().begin()->second.sport, 49999);
  EXPECT_EQ(server_->qps().begin()->second.repins, 1u);
  EXPECT_EQ(server_->qps().begin()->second.updates, 1u);
  EXPECT_EQ(server_->qps().begin()->second.repin_ns, 5000u);

  EXPECT_EQ(Ask(fd, "QP qpn=1\n"), "ERR QP: missing bond=\n");
  EXPECT_EQ(Ask(fd, "FROB\n"), "ERR unknown request FROB (expected HELLO, "
                               "QP, DEL, PATHS or LOAD)\n");
  EXPECT_EQ(Ask(fd, "DEL qpn=0x13\n"),
            "ERR DEL: no QP qpn=0x13 registered on this connection\n");
  EXPECT_EQ(Ask(fd, "DEL qpn=0x12\n"), "OK\n");
  EXPECT_TRUE(server_->qps().empty());
  EXPECT_EQ(server_->bad_requests(), 2u);
  close(fd);
}

// Requests sent one after the other, before any answer is read (as
// librdmabond's AgentClient does), are answered in their order.
TEST_F(RegistryServerTest, AnswersPipelinedRequestsInOrder) {
  int fd = Connect();
  Ask(fd, "HELLO version=1\n");
  EXPECT_EQ(Ask(fd,
                std::string(kQp) + "\n" + "DEL qpn=0x77\n" +
                    "PATHS bond=bond0 dst=10.0.0.2\n" + "DEL qpn=0x12\n" +
                    "QP qpn=1\n",
                6),
            "OK\n"
            "ERR DEL: no QP qpn=0x77 registered on this connection\n"
            "PATH local=nic0 remote=nic1 sports=49152,49160\nEND\n"
            "OK\n"
            "ERR QP: missing bond=\n");
  EXPECT_TRUE(server_->qps().empty());
  close(fd);
}

TEST_F(RegistryServerTest, AnswersPaths) {
  int fd = Connect();
  Ask(fd, "HELLO version=1\n");
  EXPECT_EQ(Ask(fd, "PATHS bond=bond0 dst=10.0.0.2\n", 2),
            "PATH local=nic0 remote=nic1 sports=49152,49160\nEND\n");
  EXPECT_EQ(paths_asked_, "bond0 10.0.0.2");
  EXPECT_EQ(Ask(fd, "PATHS bond=bond0\n"), "ERR PATHS: missing dst=\n");
  close(fd);
}

TEST_F(RegistryServerTest, DropsAClientsQpsWhenItGoes) {
  int a = Connect(), b = Connect();
  Ask(a, "HELLO version=1\n");
  Ask(b, "HELLO version=1\n");
  EXPECT_EQ(Ask(a, std::string(kQp) + "\n"), "OK\n");
  EXPECT_EQ(Ask(b, std::string(kQp) + "\n"), "OK\n");  // Same QPN, other
  EXPECT_EQ(server_->qps().size(), 2u);                 // client.
  EXPECT_EQ(server_->clients(), 2u);
  close(a);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->qps().size() != 1 &&
         std::chrono::steady_clock::now() < deadline) {
    server_->Run();
  }
  EXPECT_EQ(server_->qps().size(), 1u);
  EXPECT_EQ(server_->clients(), 1u);
  close(b);
}

TEST_F(RegistryServerTest, DisconnectsAClientThatSendsNoNewline) {
  int fd = Connect();
  Ask(fd, "HELLO version=1\n");
  Ask(fd, std::string(kQp) + "\n");
  std::string junk(kAgentMaxLine + 10, 'x');
  EXPECT_EQ(Ask(fd, junk), "ERR request longer than 1024 bytes\n");
  EXPECT_TRUE(ClosedByServer(fd));
  EXPECT_TRUE(server_->qps().empty());
  close(fd);
}

TEST_F(RegistryServerTest, RefusesUsersNotAllowed) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to become another user";
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);  // Let nobody in.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // An unprivileged user (nobody) connects and says HELLO.
    close(pipefd[0]);
    if (setgid(65534) || setuid(65534)) _exit(2);
    int fd = ConnectUnix(server_->path());
    if (fd < 0) _exit(3);
    const char hello[] = "HELLO version=1\n";
    if (write(fd, hello, sizeof hello - 1) < 0) _exit(4);
    char reply[512];
    ssize_t n, total = 0;
    while ((n = read(fd, reply + total, sizeof reply - 1 - total)) > 0) {
      total += n;
    }
    // EOF after the reply: the server closed the connection.
    if (write(pipefd[1], reply, total) < 0) _exit(5);
    _exit(0);
  }
  close(pipefd[1]);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (waitpid(child, &status, WNOHANG) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    server_->Run();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  char reply[512] = {};
  ASSERT_GT(read(pipefd[0], reply, sizeof reply - 1), 0);
  close(pipefd[0]);
  EXPECT_STREQ(reply,
               "ERR registration refused: uid 65534 is not allowed (start the "
               "agent with --allow-user=65534 or --allow-group=GROUP)\n");
  EXPECT_EQ(server_->refused(), 1u);
  EXPECT_EQ(server_->clients(), 0u);
}

// Without allowed users, the socket is the agent's alone (mode 0600, set
// before bind()): nobody else even gets a connection to hold.
TEST_F(RegistryServerTest, WithoutAllowedUsersOthersCannotConnect) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become nobody";
  Listen([](RegistryServer::Options* o) { o->mode = 0600; });
  struct stat st;
  ASSERT_EQ(lstat(server_->path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setgid(65534) || setuid(65534)) _exit(2);
    if (ConnectUnix(server_->path()) >= 0) _exit(3);
    _exit(errno == EACCES ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(RegistryServerTest, RefusesToReplaceANonSocket) {
  std::string path = dir_.File("plain");
  FILE* f = std::fopen(path.c_str(), "w");
  std::fclose(f);
  RegistryServer::Options options;
  options.path = path;
  Result<std::unique_ptr<RegistryServer>> server =
      RegistryServer::Listen(options);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("is not a socket"),
            std::string::npos);
  // An old socket file is replaced.
  server_.reset();
  RegistryServer::Options again;
  again.path = dir_.File("reg.sock");
  int stale = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, again.path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(stale);
  EXPECT_TRUE(RegistryServer::Listen(again).ok());
}

// A client that never says HELLO is dropped at the deadline, with a reason;
// one that did stays.
TEST_F(RegistryServerTest, SilentClientsAreDroppedAtTheHelloDeadline) {
  Listen([](RegistryServer::Options* o) { o->hello_timeout_ms = 100; });
  const int greeted = Connect();
  EXPECT_EQ(Ask(greeted, "HELLO version=1\n").rfind("OK", 0), 0u);
  const int silent = Connect();
  server_->Run();
  EXPECT_EQ(server_->clients(), 2u);
  EXPECT_LE(server_->SleepMs(), 100u);
  // The reason, then end of file.
  std::string reply;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    server_->Run();
    char c;
    const ssize_t n = recv(silent, &c, 1, MSG_DONTWAIT);
    if (n == 0) break;
    if (n == 1) reply += c;
  }
  EXPECT_EQ(reply, "ERR no HELLO within 100 ms\n");
  EXPECT_EQ(server_->hello_timeouts(), 1u);
  EXPECT_EQ(server_->clients(), 1u);
  EXPECT_EQ(Ask(greeted, std::string(kQp) + "\n"), "OK\n");
  close(silent);
  close(greeted);
}

// One unprivileged user spreads QPs over several connections: the limit is
// per uid, not per connection, and QPs given back count again.
TEST_F(RegistryServerTest, QpsAreLimitedPerUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become nobody";
  Listen([](RegistryServer::Options* o) {
    o->policy.allowed_uids = {65534};
    o->max_qps_per_uid = 5;
  });
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  int pipefd[2], go[2];
  ASSERT_EQ(pipe(pipefd), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipefd[0]);
    close(go[1]);
    if (setgid(65534) || setuid(65534)) _exit(2);
    int a = ConnectUnix(server_->path());
    int b = ConnectUnix(server_->path());
    if (a < 0 || b < 0) _exit(3);
    // Blocking request and reply; the parent runs the server.
    char log[2048];
    size_t used = 0;
    auto ask = [&](int fd, const char* line) {
      if (write(fd, line, strlen(line)) < 0) _exit(4);
      char c;
      while (read(fd, &c, 1) == 1 && used < sizeof log - 1) {
        log[used++] = c;
        if (c == '\n') break;
      }
    };
    ask(a, "HELLO version=1\n");
    ask(b, "HELLO version=1\n");
    ask(a, "QP qpn=1 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    ask(a, "QP qpn=2 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    ask(a, "QP qpn=3 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    ask(b, "QP qpn=4 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    ask(b, "QP qpn=5 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    ask(b, "QP qpn=6 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    // An update of a registered QP is not a new one.
    ask(b, "QP qpn=5 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=2 role=active\n");
    ask(a, "DEL qpn=1\n");
    ask(b, "QP qpn=6 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    close(a);  // Its two QPs go, and with them their share of the limit.
    char c;
    if (read(go[0], &c, 1) != 1) _exit(6);  // Once the server saw it.
    ask(b, "QP qpn=7 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    ask(b, "QP qpn=8 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    ask(b, "QP qpn=9 bond=b member=m src=10.0.0.1 dst=10.0.0.2 sport=1 role=active\n");
    if (write(pipefd[1], log, used) < 0) _exit(5);
    _exit(0);
  }
  close(pipefd[1]);
  close(go[0]);
  int status = 0;
  bool released = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waitpid(child, &status, WNOHANG) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    server_->Run();
    // QPs 4, 5 and 6 of the second connection are left: the first one's
    // close has been handled.
    if (!released && server_->qps().size() == 3 &&
        server_->clients() == 1) {
      released = write(go[1], "g", 1) == 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  close(go[1]);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  char reply[2048] = {};
  ASSERT_GT(read(pipefd[0], reply, sizeof reply - 1), 0);
  close(pipefd[0]);
  const std::string ok = "OK\n";
  const std::string full = "ERR too many QPs of uid 65534 (limit 5)\n";
  const std::string hello = "OK version=1 agent=" + std::to_string(getpid()) + "\n";
  EXPECT_EQ(std::string(reply),
            hello + hello + ok + ok + ok + ok + ok + full + ok + ok + ok +
                ok + ok + full);
}

// One unprivileged user opens 2000 connections and says nothing: it gets
// kMaxClientsPerUid of them, and root still registers.
TEST_F(RegistryServerTest, OneUserCannotFillTheRegistry) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to become another user";
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);  // Let nobody in.
  int done[2], release[2];
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(done[0]);
    close(release[1]);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim)) _exit(2);
    lim.rlim_cur = std::max<rlim_t>(lim.rlim_cur, std::min<rlim_t>(
                                                      lim.rlim_max, 4096));
    if (setrlimit(RLIMIT_NOFILE, &lim)) _exit(3);
    if (setgid(65534) || setuid(65534)) _exit(4);
    int opened = 0;
    for (int i = 0; i < 2000; i++) {
      if (ConnectUnix(server_->path()) < 0) _exit(5);
      opened++;
    }
    if (write(done[1], &opened, sizeof opened) < 0) _exit(6);
    char c;
    (void)!read(release[0], &c, 1);  // Holds the connections until then.
    _exit(0);
  }
  close(done[1]);
  close(release[0]);
  int opened = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    server_->Run();
    pollfd p{done[0], POLLIN, 0};
    if (poll(&p, 1, 0) == 1) {
      ASSERT_EQ(read(done[0], &opened, sizeof opened),
                static_cast<ssize_t>(sizeof opened));
      break;
    }
  }
  server_->Run();
  EXPECT_EQ(opened, 2000);
  EXPECT_EQ(server_->clients(), kMaxClientsPerUid);
  EXPECT_GE(server_->refused(), 2000 - kMaxClientsPerUid);

  const int fd = Connect();
  EXPECT_EQ(Ask(fd, "HELLO version=1\n").rfind("OK", 0), 0u);
  EXPECT_EQ(Ask(fd, std::string(kQp) + "\n"), "OK\n");
  close(fd);

  (void)!write(release[1], "x", 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(done[0]);
  close(release[1]);
}

// Out of descriptors, accept4() fails while the connection stays queued:
// the listening socket leaves the poll set for a pause instead of making
// the agent spin, and the connection is accepted once descriptors return.
TEST_F(RegistryServerTest, OutOfDescriptorsPausesAccepting) {
  const int client = Connect();
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Every descriptor number below the limit taken: the next accept fails.
  std::vector<int> fillers;
  struct rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) {
    fillers.push_back(fd);
  }
  const int open_errno = errno;
  server_->Run();
  std::vector<int> fds;
  server_->AppendFds(&fds);
  for (int fd : fillers) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(open_errno, EMFILE);

  EXPECT_EQ(server_->clients(), 0u);
  EXPECT_TRUE(fds.empty()) << "the listening socket is still polled";
  EXPECT_NE(log_.find("cannot accept"), std::string::npos) << log_;
  EXPECT_GT(server_->SleepMs(), 0u);
  EXPECT_LE(server_->SleepMs(), kAcceptPauseMs);
  EXPECT_EQ(Ask(client, "HELLO version=1\n").rfind("OK", 0), 0u);
  close(client);
}

}  // namespace
}  // namespace rdma_bond::agent
