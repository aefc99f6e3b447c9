// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// AgentCore in-process, against tables written with the writer's own code
// (lib/rdma-bond-table.c) and a registry client on the real socket.

#include "agent/agent_core.h"

#include <arpa/inet.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>

#include "agent/probe_service.h"
#include "agent/report_text.h"
#include "common/hex.h"
#include "probe/probe_keys.h"
#include "rdma-bond-load.h"
#include "rdma-bond-table-writer.h"
#include "rdma_bond/predictor.h"
#include "testing/fake_sysfs.h"
#include "testing/predictor_test_util.h"
#include "testing/table_test_util.h"

namespace rdma_bond::agent {
namespace {

using rdma_bond::testing::MakeRecord;
using rdma_bond::testing::TempDir;
using rdma_bond::testing::WritableTable;

constexpr char kSrc[] = "10.77.0.1";
constexpr char kDst[] = "10.77.0.2";

// A blocking registry client, one request at a time.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr),
                         sizeof addr) == 0;
  }
  ~Client() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  // Sends 'line' and returns the reply line, running 'pump' (the agent)
  // while it waits.
  std::string Ask(const std::string& line, const std::function<void()>& pump) {
    std::string out = line + "\n";
    if (send(fd_, out.data(), out.size(), MSG_NOSIGNAL) < 0) return "<send>";
    std::string reply;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      pump();
      char c;
      while (recv(fd_, &c, 1, MSG_DONTWAIT) == 1) {
        if (c == '\n') return reply;
        reply += c;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return "<timeout>";
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AgentCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shm_ = dir_.File("rdma-bond.shm");
    record_ = MakeRecord("bond0", {"nic0", "nic1"});  // nic0 active.
  }

  void Publish(bool first = false) {
    if (first) {
      table_ = WritableTable::Create(shm_, table_options_);
      ASSERT_NE(table_, nullptr);
    }
    table_->Store(0, record_);
    rdma_bond_table_set_n_used(table_->header(), 1);
    rdma_bond_table_notify(table_->header());
  }

  // record_ becomes a balance-tcp bond with the recirculation regime,
  // whose self-test vectors are computed the way ovs-vswitchd computes
  // them.
  Bond MakeBalanceTcp() {
    rdma_bond::testing::BondSpec spec;
    spec.n_members = 2;
    Bond bond = rdma_bond::testing::MakeBond(spec);
    rdma_bond::testing::FillVectors(HashImpl::kMhash, &bond);
    record_.mode = RDMA_BOND_MODE_BALANCE_TCP;
    record_.lacp_status = RDMA_BOND_LACP_NEGOTIATED;
    record_.regime = RDMA_BOND_REGIME_RECIRC;
    record_.basis = bond.basis;
    record_.active_member = RDMA_BOND_NO_MEMBER;
    for (size_t b = 0; b < RDMA_BOND_BUCKETS; b++) {
      record_.buckets[b] = bond.buckets[b];
    }
    record_.n_vectors = static_cast<uint8_t>(bond.vectors.size());
    for (size_t i = 0; i < bond.vectors.size(); i++) {
      const HashVector& v = bond.vectors[i];
      rdma_bond_hash_vector& out = record_.vectors[i];
      std::memcpy(out.src, v.src.data(), 16);
      std::memcpy(out.dst, v.dst.data(), 16);
      out.sport_be = htons(v.sport);
      out.dport_be = htons(v.dport);
      out.ip_version = v.ip_version;
      out.nw_proto = v.nw_proto;
      out.hash_basis0 = v.hash_basis0;
      out.hash_basis = v.hash_basis;
      out.hash_regime = v.hash_regime;
    }
    return bond;
  }

  // Creates an agent that must fail; returns why.
  Status CreateRefused() {
    AgentOptions options;
    options.table_path = shm_;
    options.probe = false;
    Result<std::unique_ptr<AgentCore>> core = AgentCore::Create(options);
    EXPECT_FALSE(core.ok());
    return core.ok() ? Status::OK() : core.status();
  }

  void StartAgent(const std::function<void(AgentOptions*)>& adjust = {}) {
    AgentOptions options;
    options.table_path = shm_;
    options.probe = false;
    options.log = [this](int, const std::string& line) {
      log_ += line + "\n";
    };
    if (adjust) adjust(&options);
    Result<std::unique_ptr<AgentCore>> core = AgentCore::Create(options);
    ASSERT_TRUE(core.ok()) << core.status().ToString();
    core_ = std::move(*core);
  }

  void Pump() { core_->Run(); }

  // ovs-vswitchd's read of 'bond' in the agent's load table: 0 or an errno
  // value, why in load_why_.
  int ReadLoad(const char* bond, rdma_bond_load_record* rec,
               uint64_t* instance = nullptr) {
    uint64_t id = 0;
    char why[RDMA_BOND_LOAD_WHY_LEN] = "";
    const int rc = rdma_bond_load_read(core_->load_table()->path().c_str(),
                                       bond, MonotonicNowNs(), rec, &id, why);
    load_why_ = why;
    if (instance) *instance = id;
    return rc;
  }

  // Runs the agent until 'done' or 5 s.
  bool RunUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      Pump();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  std::string Command(std::vector<std::string> argv) {
    Result<std::string> reply = core_->Command(argv);
    return reply.ok() ? *reply : "ERROR: " + reply.status().message();
  }

  std::string Qp(uint32_t qpn, const std::string& member, uint16_t sport,
                 const std::string& role, const std::string& extra = "") {
    return "QP qpn=" + std::to_string(qpn) + " bond=bond0 member=" + member +
           " src=" + kSrc + " dst=" + kDst + " sport=" +
           std::to_string(sport) + " role=" + role + extra;
  }

  TempDir dir_;
  std::string shm_;
  rdma_bond::testing::TableOptions table_options_;
  rdma_bond_record record_;
  std::unique_ptr<WritableTable> table_;
  std::unique_ptr<AgentCore> core_;
  std::string log_;
  std::string load_why_;
};

TEST_F(AgentCoreTest, WaitsForTheTableThenAttaches) {
  StartAgent();
  EXPECT_FALSE(core_->attached());
  EXPECT_NE(Command({"show"}).find("not attached: "), std::string::npos);
  std::string summary = dir_.File("rdma-bond-agent/summary");
  EXPECT_NE(ReadFile(summary).find("attached=no\n"), std::string::npos);

  Publish(true);
  ASSERT_TRUE(RunUntil([&] { return core_->attached(); }));
  EXPECT_NE(ReadFile(summary).find("attached=yes\ninstance=0x123456789abcdef"),
            std::string::npos)
      << ReadFile(summary);
  EXPECT_NE(ReadFile(summary).find("pid=" + std::to_string(getpid())),
            std::string::npos);
  EXPECT_NE(log_.find("attached to " + shm_), std::string::npos);
}

TEST_F(AgentCoreTest, JudgesActiveBackupQps) {
  Publish(true);
  StartAgent();
  ASSERT_TRUE(core_->attached());
  Client client(core_->options().socket_path);
  ASSERT_TRUE(client.connected());
  auto pump = [this] { Pump(); };
  ASSERT_EQ(client.Ask("HELLO version=1 name=test", pump).rfind("OK", 0), 0u);
  EXPECT_EQ(client.Ask(Qp(0x11, "nic0", 49152, "active"), pump), "OK");
  EXPECT_EQ(client.Ask(Qp(0x12, "nic1", 49153, "standby"), pump), "OK");
  EXPECT_EQ(client.Ask(Qp(0x13, "nic1", 49154, "active"), pump), "OK");
  Pump();
  EXPECT_EQ(core_->pinned(), 1u);
  EXPECT_EQ(core_->mispinned(), 1u);

  std::string qps = Command({"qps"});
  EXPECT_NE(qps.find("0x000011"), std::string::npos) << qps;
  EXPECT_NE(qps.find("MISPINNED"), std::string::npos) << qps;
  EXPECT_LT(qps.find("0x000011"), qps.find("0x000013")) << "sorted by QPN";

  std::string explain = Command({"explain", "0x13"});
  EXPECT_NE(explain.find("MISPINNED: the QP is on nic1 but OVS would use "
                         "nic0"),
            std::string::npos)
      << explain;
  EXPECT_NE(explain.find("udp 10.77.0.1:49154 -> 10.77.0.2:4791"),
            std::string::npos)
      << explain;
  EXPECT_NE(Command({"explain", "0x11"}).find("pinned: OVS sends this "
                                              "5-tuple out of nic0"),
            std::string::npos);
  EXPECT_NE(Command({"explain", "0x12"}).find("not checked: the QP is "
                                              "standby"),
            std::string::npos);
  // Neither registered nor on the host (RDMA netlink).
  EXPECT_EQ(Command({"explain", "0x99"}).rfind("ERROR: no QP 0x99 on this "
                                               "host (see rdma-bond/qps --all)",
                                               0),
            0u);
  EXPECT_EQ(Command({"explain", "zz"}).rfind("ERROR: \"zz\" is not a QP", 0),
            0u);
  // The same QP number on another RNIC of the same process.
  EXPECT_EQ(client.Ask(Qp(0x11, "nic1", 49155, "standby", " rnic=emu1"),
                       pump),
            "OK");
  EXPECT_NE(Command({"explain", "0x11"}).find("several QPs are 0x11; name "
                                              "one:"),
            std::string::npos)
      << Command({"explain", "0x11"});
  EXPECT_NE(Command({"explain", "emu1:0x11"}).find("RNIC emu1"),
            std::string::npos);
  EXPECT_EQ(client.Ask("DEL qpn=0x11", pump),
            "ERR DEL: qpn=0x11 is registered on several RNICs (add rnic=)");
  EXPECT_EQ(client.Ask("DEL qpn=0x11 rnic=emu1", pump), "OK");
  std::string pid_qpn = std::to_string(getpid()) + ":0x11";
  EXPECT_NE(Command({"explain", pid_qpn}).find("pinned"), std::string::npos);

  std::string summary = ReadFile(dir_.File("rdma-bond-agent/summary"));
  EXPECT_NE(summary.find("qps_pinned=1\nqps_mispinned=1\n"),
            std::string::npos)
      << summary;

  // The application goes away: its QPs with it.
  client.Close();
  ASSERT_TRUE(RunUntil([&] { return core_->registry().qps().empty(); }));
  EXPECT_EQ(core_->mispinned(), 0u);
  EXPECT_EQ(core_->pinned(), 0u);
}

// Names from outside the agent: a client's comm (any bytes but NUL, set
// with prctl) and the table's member names reach "rdma-bond/qps",
// "rdma-bond/explain" and the metrics.  No control byte gets through raw,
// and every metrics line stays one well-formed sample.
TEST_F(AgentCoreTest, ForeignNamesAreEscapedInReportsAndMetrics) {
  record_ = MakeRecord("bond0", {"ni\"c\\0", "nic1"});
  Publish(true);
  StartAgent();
  ASSERT_TRUE(core_->attached());
  char old_name[17] = {};
  ASSERT_EQ(prctl(PR_GET_NAME, old_name), 0);
  ASSERT_EQ(prctl(PR_SET_NAME, "ev\nil\x1b[2J\r"), 0);
  Client client(core_->options().socket_path);
  ASSERT_TRUE(client.connected());
  auto pump = [this] { Pump(); };
  const std::string hello = client.Ask("HELLO version=1", pump);
  ASSERT_EQ(prctl(PR_SET_NAME, old_name), 0);
  ASSERT_EQ(hello.rfind("OK", 0), 0u) << hello;
  EXPECT_EQ(client.Ask(Qp(0x11, "nic1", 49152, "active"), pump), "OK");
  Pump();

  const auto raw_control = [](const std::string& text) {
    for (char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\n') || byte == 0x7f) return true;
    }
    return false;
  };
  const std::string qps = Command({"qps"});
  EXPECT_FALSE(raw_control(qps)) << qps;
  EXPECT_NE(qps.find("ev\\x0ail\\x1b[2J\\x0d"), std::string::npos) << qps;
  EXPECT_EQ(std::count(qps.begin(), qps.end(), '\n'), 2) << qps;
  const std::string explain = Command({"explain", "0x11"});
  EXPECT_FALSE(raw_control(explain)) << explain;
  EXPECT_NE(explain.find("(ev\\x0ail\\x1b[2J\\x0d)"), std::string::npos)
      << explain;

  const std::string metrics = core_->MetricsText();
  EXPECT_NE(metrics.find("member=\"ni\\\"c\\\\0\""), std::string::npos)
      << metrics;
  std::istringstream lines(metrics);
  std::string line;
  size_t samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# ", 0) == 0) continue;
    // name{label="value",...} number, with values escaped as the text
    // format wants.
    static const std::regex kSample(
        R"re([a-z_]+(\{([a-z_]+="([^"\\\n]|\\["\\n])*",?)*\})? [-+0-9.eE]+)re");
    EXPECT_TRUE(std::regex_match(line, kSample)) << line;
    samples++;
  }
  EXPECT_GT(samples, 0u);
}

// A client names the bond of each QP: names of bonds that are not
// published used to create counters (and metrics) without bound.
TEST_F(AgentCoreTest, MadeUpBondNamesGrowNothing) {
  Publish(true);
  StartAgent();
  Client client(core_->options().socket_path);
  auto pump = [this] { Pump(); };
  ASSERT_EQ(client.Ask("HELLO version=1", pump).rfind("OK", 0), 0u);
  for (int i = 0; i < 200; i++) {
    std::string qp = Qp(100 + i, "nic0", 49152, "active", " repin_ns=5");
    qp.replace(qp.find("bond=bond0"), 10, "bond=made-up" + std::to_string(i));
    ASSERT_EQ(client.Ask(qp, pump), "OK");
    // Updates count re-pins, which need a counter.
    qp.replace(qp.find("sport=49152"), 11, "sport=49153");
    ASSERT_EQ(client.Ask(qp, pump), "OK");
  }
  Pump();
  for (const auto& [bond, counters] : core_->counters()) {
    EXPECT_EQ(bond, "bond0");
  }
  EXPECT_EQ(Command({"metrics"}).find("made-up"), std::string::npos);
}

// Every QP and PATHS request names a peer, and each peer costs ARP and
// probes: one client used to be able to add peers without bound.
TEST_F(AgentCoreTest, LearnedPeersAreCappedAndExpire) {
  Publish(true);  // Active-backup: nothing is probed, peers are kept.
  StartAgent([](AgentOptions* o) {
    o->probe = true;
    o->peers = {*ParseIpAddress("10.9.0.1")};
    o->peer_idle_ms = 100;
  });
  Client client(core_->options().socket_path);
  auto pump = [this] { Pump(); };
  ASSERT_EQ(client.Ask("HELLO version=1", pump).rfind("OK", 0), 0u);
  auto dst = [](int i) {
    return "10.8." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
  };
  for (int i = 0; i < 300; i++) {
    std::string qp = Qp(1000 + i, "nic0", 49152, "active");
    qp.replace(qp.find(std::string("dst=") + kDst), 4 + std::strlen(kDst),
               "dst=" + dst(i));
    ASSERT_EQ(client.Ask(qp, pump), "OK");
  }
  EXPECT_NE(Command({"show"}).find("peers: 1 configured, 256 learned (limit "
                                   "256, idle ones expire after 0 s), 44 "
                                   "refused"),
            std::string::npos)
      << Command({"show"});

  // Peers of registered QPs stay however long; the others go.
  for (int i = 1; i < 300; i++) {
    ASSERT_EQ(client.Ask("DEL qpn=" + std::to_string(1000 + i), pump), "OK");
  }
  ASSERT_TRUE(RunUntil([&] {
    return Command({"show"}).find("peers: 1 configured, 1 learned") !=
           std::string::npos;
  })) << Command({"show"});
  EXPECT_NE(log_.find("peer 10.8.0.2 forgotten: no QP and no PATHS request"),
            std::string::npos)
      << log_;
  EXPECT_EQ(log_.find("peer 10.8.0.1 forgotten"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("peer 10.9.0.1 forgotten"), std::string::npos) << log_;
}

TEST_F(AgentCoreTest, ProbeTransportIsCheckedAndShown) {
  AgentOptions options;
  options.table_path = shm_;
  options.probe_transport = "udp";
  Result<std::unique_ptr<AgentCore>> core = AgentCore::Create(options);
  ASSERT_FALSE(core.ok());
  EXPECT_NE(core.status().message().find(
                "--probe-transport udp: want auto, ud or af-packet"),
            std::string::npos)
      << core.status().message();
  for (const char* t : {"auto", "ud", "af-packet"}) {
    EXPECT_EQ(ToString(*ParseProbeTransport(t)), t);
  }
  Publish(true);
  StartAgent([](AgentOptions* o) {
    o->probe = true;
    o->probe_transport = "af-packet";
  });
  EXPECT_NE(Command({"paths"}).find("transport af-packet\n"),
            std::string::npos)
      << Command({"paths"});
}

TEST_F(AgentCoreTest, ProbeKeysAreCheckedShownAndReadAgain) {
  const std::string keys = dir_.path() + "/probe.keys";
  const auto Write = [&keys](const std::string& text, mode_t mode) {
    {
      std::ofstream out(keys, std::ios::trunc);
      out << text;
    }
    ASSERT_EQ(chmod(keys.c_str(), mode), 0);
  };
  const std::string k1 = "first-probe-key-0123456789";
  const std::string k2 = "second-probe-key-0123456789";
  const auto Refused = [this, &keys] {
    AgentOptions options;
    options.table_path = shm_;
    options.probe_key_file = keys;
    Result<std::unique_ptr<AgentCore>> core = AgentCore::Create(options);
    EXPECT_FALSE(core.ok());
    return core.ok() ? std::string() : core.status().message();
  };
  EXPECT_NE(Refused().find("probe key file " + keys), std::string::npos);
  Write(k1 + "\n", 0644);
  EXPECT_NE(Refused().find("chmod 600"), std::string::npos);
  Write("short\n", 0600);
  EXPECT_NE(Refused().find("at least 16"), std::string::npos);

  Write(k1 + "\n", 0600);
  Publish(true);
  StartAgent([&keys](AgentOptions* o) {
    o->probe = true;
    o->probe_key_file = keys;
  });
  const auto Id = [](const std::string& key) {
    return HexPrefixed(ProbeKeyId(std::span<const uint8_t>(
                           reinterpret_cast<const uint8_t*>(key.data()),
                           key.size())),
                       8);
  };
  EXPECT_NE(Command({"paths"}).find("keys " + Id(k1) + " (the first signs"),
            std::string::npos)
      << Command({"paths"});
  EXPECT_NE(Command({"metrics"}).find("rdma_bond_probe_keys 1\n"),
            std::string::npos);
  // A rotation: the new key is added, then signs.
  Write(k1 + "\n" + k2 + "\n", 0600);
  ASSERT_TRUE(RunUntil([&] {
    return Command({"paths"}).find("keys " + Id(k1) + ", " + Id(k2)) !=
           std::string::npos;
  })) << Command({"paths"});
  EXPECT_NE(log_.find("probe keys read again from " + keys),
            std::string::npos)
      << log_;
  // A broken file keeps the keys in use.
  Write("# no key\n", 0600);
  ASSERT_TRUE(RunUntil([&] {
    return log_.find("keeping the keys in use") != std::string::npos;
  })) << log_;
  EXPECT_NE(Command({"paths"}).find("keys " + Id(k1) + ", " + Id(k2)),
            std::string::npos);
  EXPECT_NE(Command({"metrics"}).find("rdma_bond_probe_keys 2\n"),
            std::string::npos);
}

TEST_F(AgentCoreTest, FailoverIsCountedAndHealedByRepins) {
  Publish(true);
  StartAgent();
  Client client(core_->options().socket_path);
  auto pump = [this] { Pump(); };
  ASSERT_EQ(client.Ask("HELLO version=1", pump).rfind("OK", 0), 0u);
  ASSERT_EQ(client.Ask(Qp(1, "nic0", 49152, "active"), pump), "OK");
  ASSERT_EQ(client.Ask(Qp(2, "nic1", 49153, "standby"), pump), "OK");
  Pump();
  ASSERT_EQ(core_->mispinned(), 0u);

  // ovs-vswitchd fails over to nic1.
  record_.active_member = 1;
  record_.members[0].flags &= ~RDMA_BOND_M_ENABLED;
  record_.generation++;
  record_.change_ns = MonotonicNowNs();
  Publish();
  ASSERT_TRUE(RunUntil([&] { return core_->mispinned() == 1; }))
      << "the QP on nic0 must be mispinned after the failover";
  EXPECT_EQ(core_->counters().at("bond0").failovers, 1u);
  EXPECT_TRUE(core_->counters().at("bond0").pending_change_ns.has_value());
  EXPECT_NE(Command({"show"}).find("last failover re-pin gap pending"),
            std::string::npos);

  // The library re-pins: nic1's QP carries, nic0's goes down.
  ASSERT_EQ(client.Ask(Qp(2, "nic1", 49153, "active", " repin_ns=1234000"),
                       pump),
            "OK");
  ASSERT_EQ(client.Ask(Qp(1, "nic0", 49152, "down"), pump), "OK");
  Pump();
  EXPECT_EQ(core_->mispinned(), 0u);
  EXPECT_EQ(core_->pinned(), 1u);
  const BondCounters& c = core_->counters().at("bond0");
  EXPECT_EQ(c.repins, 2u);  // Two role changes.
  ASSERT_TRUE(c.last_repin_ns.has_value());
  EXPECT_EQ(*c.last_repin_ns, 1234000u);
  ASSERT_TRUE(c.last_gap_ns.has_value());
  EXPECT_GT(*c.last_gap_ns, 0u);
  EXPECT_FALSE(c.pending_change_ns.has_value());

  std::string summary = ReadFile(dir_.File("rdma-bond-agent/summary"));
  EXPECT_NE(summary.find("qps_mispinned=0\nlast_repin_us=1234\n"),
            std::string::npos)
      << summary;
  std::string metrics = core_->MetricsText();
  EXPECT_NE(metrics.find("rdma_bond_failovers_total{bond=\"bond0\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("rdma_bond_qps_mispinned{bond=\"bond0\"} 0\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rdma_bond_qps{bond=\"bond0\",member=\"nic1\","
                         "state=\"pinned\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("rdma_bond_member_active{bond=\"bond0\","
                         "member=\"nic1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rdma_bond_last_repin_seconds{bond=\"bond0\"} "
                         "0.001234\n"),
            std::string::npos)
      << metrics;
}

TEST_F(AgentCoreTest, JudgesBalanceTcpByOvsHash) {
  Bond bond = MakeBalanceTcp();
  Publish(true);
  StartAgent();
  ASSERT_TRUE(core_->attached());

  // The predictor built from the same bond says where each port goes.
  Predictor predictor = *Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  IpAddress src = *ParseIpAddress(kSrc), dst = *ParseIpAddress(kDst);
  uint16_t on[2] = {0, 0};
  for (uint16_t sport = 0xc000; !on[0] || !on[1]; sport++) {
    Prediction p = predictor.Predict(FlowKey(*MakeUdpTuple(src, dst, sport)));
    ASSERT_TRUE(p.has_member());
    if (!on[p.member]) on[p.member] = sport;
  }
  Client client(core_->options().socket_path);
  auto pump = [this] { Pump(); };
  ASSERT_EQ(client.Ask("HELLO version=1", pump).rfind("OK", 0), 0u);
  // Right member for its port, and the same ports on the wrong members.
  ASSERT_EQ(client.Ask(Qp(1, "nic0", on[0], "active"), pump), "OK");
  ASSERT_EQ(client.Ask(Qp(2, "nic1", on[1], "active"), pump), "OK");
  ASSERT_EQ(client.Ask(Qp(3, "nic1", on[0], "active"), pump), "OK");
  ASSERT_EQ(client.Ask(Qp(4, "nic0", on[1], "active"), pump), "OK");
  Pump();
  EXPECT_EQ(core_->pinned(), 2u);
  EXPECT_EQ(core_->mispinned(), 2u);
  std::string explain = Command({"explain", "3"});
  EXPECT_NE(explain.find("bucket"), std::string::npos) << explain;
  EXPECT_NE(explain.find("balance-tcp"), std::string::npos) << explain;
}

// LOAD: a connection's QP counts in the bucket of its 5-tuple, a QP
// without a connection on its member; the load table carries both to
// ovs-vswitchd.
TEST_F(AgentCoreTest, CountsRdmaLoadByBucketAndPublishesIt) {
  Bond bond = MakeBalanceTcp();
  Publish(true);
  StartAgent();
  ASSERT_TRUE(core_->attached());
  ASSERT_NE(core_->load_table(), nullptr);
  EXPECT_EQ(core_->load_table()->path(),
            dir_.File("rdma-bond-agent/" RDMA_BOND_LOAD_NAME));
  {
    // Before any RDMA: a record of zeros, not "no load of bond0".
    core_->PublishLoad();
    rdma_bond_load_record rec{};
    uint64_t instance = 0;
    char why[RDMA_BOND_LOAD_WHY_LEN] = "";
    ASSERT_EQ(rdma_bond_load_read(core_->load_table()->path().c_str(),
                                  "bond0", MonotonicNowNs(), &rec, &instance,
                                  why),
              0)
        << why;
    uint64_t total = 0;
    for (uint64_t b : rec.bucket_bytes) total += b;
    EXPECT_EQ(total, 0u);
    EXPECT_EQ(rec.n_members, 0u);
  }

  Predictor predictor = *Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  IpAddress src = *ParseIpAddress(kSrc), dst = *ParseIpAddress(kDst);
  const uint16_t sport = 0xc123;
  const Prediction p =
      predictor.Predict(FlowKey(*MakeUdpTuple(src, dst, sport)));
  ASSERT_TRUE(p.hashed);
  const std::string member = record_.members[p.member].name;

  Client client(core_->options().socket_path);
  auto pump = [this] { Pump(); };
  ASSERT_EQ(client.Ask("HELLO version=1", pump).rfind("OK", 0), 0u);
  ASSERT_EQ(client.Ask(Qp(1, member, sport, "active", " conn=7 path=0,0"),
                       pump),
            "OK");
  ASSERT_EQ(client.Ask(Qp(2, "nic1", 0xc200, "active"), pump), "OK");
  // A bond and a member nobody published: not counted.
  ASSERT_EQ(client.Ask("QP qpn=3 bond=bondx member=nic0 src=10.77.0.1 "
                       "dst=10.77.0.2 sport=49152 role=active conn=1",
                       pump),
            "OK");
  ASSERT_EQ(client.Ask(Qp(4, "nicx", 0xc300, "active"), pump), "OK");
  for (int qpn = 1; qpn <= 4; qpn++) {
    const std::string q = "LOAD qpn=" + std::to_string(qpn);
    ASSERT_EQ(client.Ask(q + " tx_bytes=1000", pump), "OK");
    ASSERT_EQ(client.Ask(q + " tx_bytes=" + std::to_string(1000 + qpn * 1000000),
                         pump),
              "OK");
  }
  ASSERT_EQ(core_->loads().size(), 1u);
  const BondLoad& load = core_->loads().at("bond0");
  EXPECT_EQ(load.buckets[p.bucket], 1000000u);
  EXPECT_EQ(load.movable_total(), 1000000u);
  ASSERT_EQ(load.pinned.size(), 1u);
  EXPECT_EQ(load.pinned.at("nic1"), 2000000u);

  core_->PublishLoad();
  rdma_bond_load_record rec{};
  uint64_t instance = 0;
  ASSERT_EQ(ReadLoad("bond0", &rec, &instance), 0) << load_why_;
  EXPECT_EQ(instance, core_->load_table()->instance_id());
  EXPECT_EQ(rec.bucket_bytes[p.bucket], 1000000u);
  EXPECT_EQ(rec.movable_qps, 1u);
  EXPECT_EQ(rec.pinned_qps, 1u);
  ASSERT_EQ(rec.n_members, 1u);
  EXPECT_STREQ(rec.members[0].name, "nic1");
  EXPECT_EQ(rec.members[0].pinned_bytes, 2000000u);
  EXPECT_EQ(ReadLoad("bondx", &rec), ESRCH);

  const std::string metrics = core_->MetricsText();
  for (const char* line :
       {"rdma_bond_load_table 1\n",
        "rdma_bond_rdma_load_bytes_total{bond=\"bond0\",kind=\"movable\"} "
        "1000000\n",
        "rdma_bond_rdma_load_bytes_total{bond=\"bond0\",kind=\"pinned\"} "
        "2000000\n",
        "rdma_bond_rdma_load_qps{bond=\"bond0\",kind=\"movable\"} 1\n",
        "rdma_bond_rdma_bytes_total{bond=\"bond0\",member=\"nic1\"} "}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }
  EXPECT_EQ(metrics.find("bondx"), std::string::npos)
      << "unpublished names are no labels";
  const std::string show = Command({"show"});
  EXPECT_NE(show.find("RDMA load of bond0: 976 kB in buckets (1 QPs that "
                      "follow their bucket), 1953 kB pinned (1 QPs)"),
            std::string::npos)
      << show;

  // The agent exits: no table is left to go stale.
  const std::string path = core_->load_table()->path();
  core_.reset();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

// Where a member's RDMA device has a port counter the agent trusts (mlx5),
// the bytes it sent that no QP reported are the member's pinned load; the
// others say why they are not counted.
TEST_F(AgentCoreTest, CountsTheUnreportedBytesOfTheDeviceCounters) {
  rdma_bond::testing::FakeSysfs sysfs;
  const char* kGid = "0000:0000:0000:0000:0000:ffff:0a4d:0001";
  for (const char* nic : {"nic0", "nic1"}) {
    const std::string dev = std::string("mlx5_") + nic[3];
    sysfs.AddNetdev(nic, std::string("52:54:00:00:00:0") + nic[3]);
    sysfs.AddRdmaDevice(dev, 1);
    sysfs.LinkHardware(nic, dev);
    sysfs.SetGid(dev, 1, 1, kGid, "RoCE v2", nic);
  }
  sysfs.SetDriver("mlx5_0", "mlx5_core");
  sysfs.SetDriver("mlx5_1", "mlx5_core");
  sysfs.SetPortXmitData("mlx5_0", 1, "1000");
  // nic1's device has no counters (as rxe).
  MakeBalanceTcp();
  Publish(true);
  StartAgent([&sysfs](AgentOptions* o) {
    o->sysfs_root = sysfs.root();
    o->manage_roce = false;
  });
  ASSERT_TRUE(core_->attached());
  core_->PublishLoad();   // The counter's first value: its baseline.
  const BondLoad& load = core_->loads().at("bond0");
  ASSERT_EQ(load.devices.size(), 2u);
  EXPECT_EQ(load.devices.at("nic0").port(), "mlx5_0:1");
  EXPECT_EQ(load.devices.at("nic0").error, "");
  EXPECT_EQ(load.devices.at("nic1").error, "the device has no port counters");

  Client client(core_->options().socket_path);
  auto pump = [this] { Pump(); };
  ASSERT_EQ(client.Ask("HELLO version=1", pump).rfind("OK", 0), 0u);
  ASSERT_EQ(client.Ask(Qp(2, "nic0", 0xc200, "active"), pump), "OK");
  ASSERT_EQ(client.Ask("LOAD qpn=2 tx_bytes=0", pump), "OK");
  ASSERT_EQ(client.Ask("LOAD qpn=2 tx_bytes=400000", pump), "OK");
  // nic0's counter at 'words': its (sent, unreported) bytes and nic0's
  // pinned load.
  using Bytes = std::tuple<uint64_t, uint64_t, uint64_t>;
  auto at = [&](const char* words) {
    sysfs.SetPortXmitData("mlx5_0", 1, words);
    core_->PublishLoad();
    const MemberDeviceLoad& d = load.devices.at("nic0");
    auto pinned = load.pinned.find("nic0");
    return Bytes(d.tx_bytes, d.unreported,
                 pinned == load.pinned.end() ? 0 : pinned->second);
  };
  // The device sent 600000 bytes (150000 words): 200000 beyond the QP's.
  EXPECT_EQ(at("151000"), Bytes(600000, 200000, 600000));
  EXPECT_EQ(load.by_member.at("nic0"), 400000u);   // The QPs' alone.

  // A report that came late is not counted again: the device sent
  // 400000 more, the QP reported 600000 more.
  ASSERT_EQ(client.Ask("LOAD qpn=2 tx_bytes=1000000", pump), "OK");
  EXPECT_EQ(at("251000"), Bytes(1000000, 200000, 1200000));
  // Traffic that no QP reports (READ responses, a kernel consumer), first
  // within the margin of the late report, then beyond it.
  EXPECT_EQ(at("301000"), Bytes(1200000, 200000, 1200000));
  EXPECT_EQ(at("401000"), Bytes(1600000, 600000, 1600000));

  // The counter went back (a device reset): it starts again, nothing is
  // taken back or counted twice.
  EXPECT_EQ(at("10"), Bytes(1600000, 600000, 1600000));
  EXPECT_EQ(at("1010"), Bytes(1604000, 604000, 1604000));
  // The port is not looked for at every reading (that reads the devices'
  // GID tables: thousands of files with rxe), only when the member's
  // netdev or PCI function changes: nic0's netdev gone from sysfs changes
  // nothing.
  std::filesystem::remove_all(sysfs.root() + "/class/net/nic0");
  EXPECT_EQ(at("2010"), Bytes(1608000, 608000, 1608000));

  // The table carries it to ovs-vswitchd as nic0's pinned load.
  rdma_bond_load_record rec{};
  ASSERT_EQ(ReadLoad("bond0", &rec), 0) << load_why_;
  ASSERT_EQ(rec.n_members, 1u);
  EXPECT_STREQ(rec.members[0].name, "nic0");
  EXPECT_EQ(rec.members[0].pinned_bytes, 1608000u);

  // nic1: counters, but a driver whose counter is not known to count
  // RDMA alone; then garbage in the counter.
  sysfs.SetPortXmitData("mlx5_1", 1, "5000");
  sysfs.SetDriver("mlx5_1", "irdma");
  core_->PublishLoad();
  EXPECT_EQ(load.devices.at("nic1").error,
            "its driver (irdma) is not known to count only RDMA in "
            "port_xmit_data");
  sysfs.SetDriver("mlx5_1", "mlx5_core");
  sysfs.SetPortXmitData("mlx5_1", 1, "lots");
  core_->PublishLoad();
  EXPECT_NE(load.devices.at("nic1").error.find("not a counter"),
            std::string::npos)
      << load.devices.at("nic1").error;
  EXPECT_EQ(load.pinned.count("nic1"), 0u);

  const std::string show = Command({"show"});
  for (const char* line :
       {"  device counter of nic0: mlx5_0:1 sent 1570 kB, 593 kB of it "
        "reported by no QP (counted as pinned)\n",
        "  device counter of nic1: mlx5_1:1 not counted ("}) {
    EXPECT_NE(show.find(line), std::string::npos) << line << show;
  }
  const std::string metrics = core_->MetricsText();
  for (const char* line :
       {"rdma_bond_device_counter_up{bond=\"bond0\",member=\"nic0\"} 1\n",
        "rdma_bond_device_counter_up{bond=\"bond0\",member=\"nic1\"} 0\n",
        "rdma_bond_device_tx_bytes_total{bond=\"bond0\",member=\"nic0\","
        "port=\"mlx5_0:1\"} 1608000\n",
        "rdma_bond_rdma_unreported_bytes_total{bond=\"bond0\","
        "member=\"nic0\"} 608000\n",
        "rdma_bond_rdma_load_bytes_total{bond=\"bond0\",kind=\"pinned\"} "
        "1608000\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }
}

TEST_F(AgentCoreTest, DeviceCountersCanBeTurnedOff) {
  rdma_bond::testing::FakeSysfs sysfs;
  sysfs.AddNetdev("nic0", "52:54:00:00:00:00");
  sysfs.AddRdmaDevice("mlx5_0", 1);
  sysfs.LinkHardware("nic0", "mlx5_0");
  sysfs.SetDriver("mlx5_0", "mlx5_core");
  sysfs.SetPortXmitData("mlx5_0", 1, "1000");
  {
    AgentOptions options;
    options.table_path = shm_;
    options.device_counters = "sometimes";
    Result<std::unique_ptr<AgentCore>> core = AgentCore::Create(options);
    ASSERT_FALSE(core.ok());
    EXPECT_EQ(core.status().message(),
              "--device-counters sometimes: want auto or off");
  }
  MakeBalanceTcp();
  Publish(true);
  StartAgent([&sysfs](AgentOptions* o) {
    o->sysfs_root = sysfs.root();
    o->manage_roce = false;
    o->device_counters = "off";
  });
  core_->PublishLoad();
  sysfs.SetPortXmitData("mlx5_0", 1, "900000");
  core_->PublishLoad();
  const BondLoad& load = core_->loads().at("bond0");
  EXPECT_TRUE(load.devices.empty());
  EXPECT_EQ(load.pinned_total(), 0u);
  EXPECT_EQ(core_->MetricsText().find("rdma_bond_device_counter_up{"),
            std::string::npos);
}

TEST_F(AgentCoreTest, ReattachesAfterVswitchdRestart) {
  Publish(true);
  StartAgent();
  ASSERT_TRUE(core_->attached());
  // A new ovs-vswitchd replaces the file (rename), with a new instance.
  table_options_.instance_id = 0xfeedbeef;
  table_.reset();
  Publish(true);
  ASSERT_TRUE(RunUntil([&] {
    return Command({"show"}).find("instance 0xfeedbeef") != std::string::npos;
  })) << Command({"show"});
  EXPECT_NE(Command({"show"}).find("vswitchd restarts followed: 1"),
            std::string::npos);
  ASSERT_TRUE(RunUntil([&] {
    return ReadFile(dir_.File("rdma-bond-agent/summary"))
               .find("instance=0xfeedbeef") != std::string::npos;
  }));
  EXPECT_NE(log_.find("ovs-vswitchd restarted"), std::string::npos) << log_;
}

TEST_F(AgentCoreTest, RemovesItsFilesWhenDestroyed) {
  StartAgent();
  std::string socket = core_->options().socket_path;
  std::string summary = core_->options().summary_path;
  EXPECT_EQ(access(socket.c_str(), F_OK), 0);
  EXPECT_EQ(access(summary.c_str(), F_OK), 0);
  core_.reset();
  EXPECT_NE(access(socket.c_str(), F_OK), 0);
  EXPECT_NE(access(summary.c_str(), F_OK), 0);
}

// What a fatal signal (SIGTERM) runs before the process ends: scrapers
// must not keep seeing an attached agent, ovs-vswitchd must not keep
// showing its summary.
TEST_F(AgentCoreTest, ShutdownSaysDetachedAndRemovesTheSummary) {
  Publish(true);
  const std::string prom = dir_.File("agent.prom");
  StartAgent([&](AgentOptions* o) { o->metrics_file = prom; });
  ASSERT_TRUE(core_->attached());
  ASSERT_TRUE(RunUntil([&] {
    return ReadFile(prom).find("rdma_bond_agent_attached 1\n") !=
           std::string::npos;
  })) << ReadFile(prom);
  const std::string summary = core_->options().summary_path;
  ASSERT_EQ(access(summary.c_str(), F_OK), 0) << summary;
  core_->Shutdown();
  EXPECT_NE(ReadFile(prom).find("rdma_bond_agent_attached 0\n"),
            std::string::npos)
      << ReadFile(prom);
  EXPECT_NE(access(summary.c_str(), F_OK), 0) << summary << " still exists";
  core_->Shutdown();  // Idempotent.
}

// A metrics file that cannot be written (here: its directory is missing;
// under ProtectSystem=strict, EROFS) is reported once, then once a minute
// with a count, not every second.
TEST_F(AgentCoreTest, FailingMetricsFileIsNotLoggedEverySecond) {
  Publish(true);
  StartAgent([&](AgentOptions* o) {
    o->metrics_file = dir_.File("missing/agent.prom");
  });
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(2 * kMaxSleepMs + 500);
  while (std::chrono::steady_clock::now() < end) {
    Pump();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  size_t reports = 0;
  for (size_t at = log_.find("metrics: "); at != std::string::npos;
       at = log_.find("metrics: ", at + 1)) {
    reports++;
  }
  EXPECT_EQ(reports, 1u) << log_;
}

// The settling re-probes follow the bond's change, not the agent's first
// sight of it: a bond that changed long before the agent started (or before
// a member's transport opened) is not re-probed, which would drop every
// validated port at both ends twice in the agent's first seconds.
TEST(SettleReprobeTest, FollowTheBondsChangeNotTheAgentsStart) {
  constexpr uint64_t kS = 1000000;          // Microseconds in a second.
  const uint64_t now = 500 * kS;
  // Just changed: 1 s and 3 s from now.
  EXPECT_EQ(SettleReprobeTimesUs(now * 1000, now),
            (std::vector<uint64_t>{now + 1 * kS, now + 3 * kS}));
  // Changed 2 s ago (seen late): only the one still to come, 3 s after.
  EXPECT_EQ(SettleReprobeTimesUs((now - 2 * kS) * 1000, now),
            (std::vector<uint64_t>{now + 1 * kS}));
  // Changed a minute before the agent started: none.
  EXPECT_TRUE(SettleReprobeTimesUs((now - 60 * kS) * 1000, now).empty());
  EXPECT_TRUE(SettleReprobeTimesUs((now - 3 * kS) * 1000, now).empty());
  // Unknown (0) or ahead of this clock: taken as now.
  EXPECT_EQ(SettleReprobeTimesUs(0, now),
            (std::vector<uint64_t>{now + 1 * kS, now + 3 * kS}));
  EXPECT_EQ(SettleReprobeTimesUs((now + 5 * kS) * 1000, now),
            (std::vector<uint64_t>{now + 1 * kS, now + 3 * kS}));
}

// PATHS: the validated ports of each pair, then the ports that last
// toward a member of the peer that may not carry (waiting=1); nothing for
// a pair without ports or with a name the line protocol cannot carry.
TEST(PathLinesTest, ValidatedThenWaitingPairs) {
  PeerProbeReport r;
  auto pair = [](std::string local, std::string remote,
                 std::vector<uint16_t> sports) {
    ProbePairReport p;
    p.local_name = std::move(local);
    p.remote_name = std::move(remote);
    p.sports = std::move(sports);
    return p;
  };
  r.pairs = {pair("nic0", "nic0", {49152, 50000}), pair("nic0", "nic1", {}),
             pair("nic 1", "nic0", {49153})};
  r.waiting = {pair("nic1", "nic1", {60000}), pair("nic0", "nic1", {})};
  EXPECT_EQ(PathLines(r),
            "PATH local=nic0 remote=nic0 sports=49152,50000\n"
            "PATH local=nic1 remote=nic1 sports=60000 waiting=1\n"
            "END\n");
  EXPECT_EQ(PathLines(PeerProbeReport{}), "END\n");
}

TEST(ReportTextTest, LabelValueEscapesForTheTextFormat) {
  EXPECT_EQ(LabelValue("nic0"), "nic0");
  EXPECT_EQ(LabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  // Other control bytes read \xNN once the label is parsed.
  EXPECT_EQ(LabelValue("x\x1b[2J\ry"), "x\\\\x1b[2J\\\\x0dy");
  EXPECT_EQ(LabelValue(std::string("\0\x7f", 2)), "\\\\x00\\\\x7f");
}

// issue 15, finding 7: the bridge of a balance-tcp bond is looked up with
// "ovs-vsctl port-to-br", which used to run inside the main loop (up to
// 5 s with the database away), forked from the multithreaded agent, with
// the agent's whole environment.
TEST_F(AgentCoreTest, LooksUpBridgesOffTheLoopWithACleanEnvironment) {
  const std::string bin = dir_.File("bin");
  ASSERT_EQ(mkdir(bin.c_str(), 0755), 0);
  {
    std::ofstream script(bin + "/ovs-vsctl");
    script << "#!/bin/sh\n"
           << "env > " << dir_.File("vsctl.env") << "\n"
           << "touch " << dir_.File("vsctl.started") << "\n"
           << "sleep 2\n"
           << "touch " << dir_.File("vsctl.done") << "\n"
           << "echo br-test\n";
  }
  ASSERT_EQ(chmod((bin + "/ovs-vsctl").c_str(), 0755), 0);
  const std::string old_path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", (bin + ":" + old_path).c_str(), 1);
  setenv("RDMA_BOND_TEST_SECRET", "hunter2", 1);

  MakeBalanceTcp();
  Publish(true);
  StartAgent([](AgentOptions* o) { o->probe = true; });
  auto exists = [this](const char* name) {
    struct stat st;
    return lstat(dir_.File(name).c_str(), &st) == 0;
  };
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(10);
  while (!exists("vsctl.started") &&
         std::chrono::steady_clock::now() < deadline) {
    Pump();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Pump();
  const bool started = exists("vsctl.started");
  const bool done = exists("vsctl.done");
  setenv("PATH", old_path.c_str(), 1);
  unsetenv("RDMA_BOND_TEST_SECRET");
  ASSERT_TRUE(started) << "the agent never ran ovs-vsctl:\n" << log_;
  EXPECT_FALSE(done) << "the main loop waited for ovs-vsctl";
  const std::string env = ReadFile(dir_.File("vsctl.env"));
  EXPECT_EQ(env.find("RDMA_BOND_TEST_SECRET"), std::string::npos) << env;
  EXPECT_NE(env.find("PATH=" + bin + ":"), std::string::npos) << env;
}

// --- The agent's files (docs/security.md, issue 15 finding 1) -----------

TEST_F(AgentCoreTest, KeepsItsFilesInItsOwnDirectory) {
  Publish(true);
  StartAgent();
  const std::string agent_dir = dir_.File("rdma-bond-agent");
  struct stat st;
  ASSERT_EQ(lstat(agent_dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_uid, geteuid());
  // Only root and the agent's user may connect: no --allow-user.
  ASSERT_EQ(lstat((agent_dir + "/registry.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(lstat((agent_dir + "/summary").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST_F(AgentCoreTest, AllowedUsersGetAnOpenSocketWhateverTheUmask) {
  Publish(true);
  const mode_t old_umask = umask(0077);
  StartAgent([](AgentOptions* o) { o->policy.allowed_uids = {12345}; });
  umask(old_umask);
  struct stat st;
  ASSERT_EQ(lstat(dir_.File("rdma-bond-agent/registry.sock").c_str(), &st),
            0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
}

// Someone who could write the table's directory planted a link where the
// agent's directory goes: the agent refuses to start, and writes nothing
// through it.
TEST_F(AgentCoreTest, RefusesAPlantedLinkForItsDirectory) {
  TempDir elsewhere;
  ASSERT_EQ(symlink(elsewhere.path().c_str(),
                    dir_.File("rdma-bond-agent").c_str()),
            0);
  Status refused = CreateRefused();
  EXPECT_EQ(refused.ToString(),
            "agent directory " + dir_.File("rdma-bond-agent") +
                ": is a symbolic link; run ovs-rdma-bond-agent-setup as "
                "root, which makes it the agent's");
  struct stat st;
  EXPECT_NE(lstat((elsewhere.path() + "/registry.sock").c_str(), &st), 0);
  EXPECT_NE(lstat((elsewhere.path() + "/summary").c_str(), &st), 0);
}

TEST_F(AgentCoreTest, RefusesADirectoryOthersMayWrite) {
  ASSERT_EQ(mkdir(dir_.File("rdma-bond-agent").c_str(), 0775), 0);
  ASSERT_EQ(chmod(dir_.File("rdma-bond-agent").c_str(), 0775), 0);
  Status refused = CreateRefused();
  EXPECT_NE(refused.ToString().find(
                "agent directory " + dir_.File("rdma-bond-agent") +
                ": writable by group or others (mode 0775"),
            std::string::npos)
      << refused.ToString();
}

TEST_F(AgentCoreTest, RefusesADirectoryOfAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  ASSERT_EQ(mkdir(dir_.File("rdma-bond-agent").c_str(), 0755), 0);
  ASSERT_EQ(chown(dir_.File("rdma-bond-agent").c_str(), 54321, 54321), 0);
  Status refused = CreateRefused();
  EXPECT_NE(refused.ToString().find(
                ": owned by uid 54321, not by this agent's uid 0 (root)"),
            std::string::npos)
      << refused.ToString();
}

// The old writer used a fixed "PATH.tmp": a link planted there made the
// agent overwrite its target.
TEST(WriteAtomicallyTest, NeverWritesThroughALinkAtAPredictableName) {
  TempDir dir;
  const std::string victim = dir.File("victim");
  {
    std::ofstream out(victim);
    out << "precious\n";
  }
  const std::string path = dir.File("agent.prom");
  for (const char* name : {"agent.prom.tmp", ".agent.prom.tmp"}) {
    ASSERT_EQ(symlink(victim.c_str(), dir.File(name).c_str()), 0);
  }
  ASSERT_TRUE(WriteAtomically(path, "new\n").ok());
  EXPECT_EQ(ReadFile(victim), "precious\n");
  EXPECT_EQ(ReadFile(path), "new\n");
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  // A link at the final name is replaced, not followed.
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
  ASSERT_TRUE(WriteAtomically(path, "newer\n").ok());
  EXPECT_EQ(ReadFile(victim), "precious\n");
  EXPECT_EQ(ReadFile(path), "newer\n");

  // Nothing is left behind but the planted links.
  int entries = 0;
  for (const char* name : {"victim", "agent.prom", "agent.prom.tmp",
                           ".agent.prom.tmp"}) {
    entries += lstat(dir.File(name).c_str(), &st) == 0;
  }
  EXPECT_EQ(entries, 4);
}

}  // namespace
}  // namespace rdma_bond::agent
