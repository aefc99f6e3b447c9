// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RocePlumbing against the real kernel: each test runs in a network
// namespace of its own (a thread that unshare()s one), with veth
// interfaces for the bridge and the members, so rtnetlink, the rules and
// the sysctls are the kernel's, and the host's own are never touched.

#include "agent/roce_plumbing.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "common/run_program.h"
#include "rdma_bond/status.h"

namespace rdma_bond::agent {
namespace {

// Runs 'body' on a thread in a new network namespace.  False (and the
// reason) if the namespace cannot be made: not root.
bool InNewNetns(const std::function<void()>& body, std::string* why) {
  bool made = false;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) < 0) {
      *why = std::string("unshare(CLONE_NEWNET): ") + strerror(errno);
      return;
    }
    made = true;
    body();
  });
  t.join();
  return made;
}

void Sh(const std::string& command) {
  RunProgramOptions options;
  options.merge_stderr = true;
  Result<ProgramOutput> run = RunProgram({"sh", "-ec", command}, options);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->exit_code, 0) << command << ": " << run->out;
}

std::string ShOut(const std::string& command) {
  RunProgramOptions options;
  Result<ProgramOutput> run = RunProgram({"sh", "-ec", command}, options);
  return run.ok() ? run->out : "";
}

// br0 with the host's address and a resolved peer; eth0 and eth1.
void MakeHost() {
  Sh("for i in br0 eth0 eth1; do ip link add $i type veth peer name $i-p;"
     " ip link set $i up; ip link set $i-p up; done;"
     " ip addr add 10.79.0.1/24 dev br0;"
     " ip neigh replace 10.79.0.2 lladdr 02:00:00:00:00:02 dev br0 nud reachable");
}

// What the plumbing may change, as text: compared before and after.
std::string HostText() {
  return ShOut("ip -4 addr show; ip -4 neigh show; ip -4 rule show;"
               " ip -4 route show table all;"
               " for m in eth0 eth1; do"
               "  for k in conf/$m/arp_ignore conf/$m/rp_filter"
               "   neigh/$m/mcast_solicit neigh/$m/ucast_solicit"
               "   neigh/$m/app_solicit; do"
               "   echo $k $(cat /proc/sys/net/ipv4/$k); done; done");
}

TableSnapshot Snapshot(bool with_bond = true, uint64_t instance = 1,
                       std::optional<size_t> active = std::nullopt) {
  TableSnapshot s;
  s.table.instance_id = instance;
  if (with_bond) {
    Bond b;
    b.name = "bond0";
    b.mode = BondMode::kActiveBackup;
    b.active_member = active;
    for (const char* name : {"eth0", "eth1"}) {
      Member m;
      m.name = name;
      b.members.push_back(m);
    }
    s.bonds.push_back(b);
  }
  return s;
}

class RocePlumbingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    char tmpl[] = "/tmp/roce-plumbing-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }

  std::unique_ptr<RocePlumbing> Make(
      uint64_t grace_ms = 60000,
      std::function<std::set<std::string>()> registered = nullptr) {
    RocePlumbing::Options o;
    o.registered_rnics = std::move(registered);
    o.state_path = dir_ + "/state";
    o.rdma_port = [this](const std::string& netdev, const std::string& pci) {
      asked_.push_back(netdev + " " + pci);
      return netdev == "eth0" ? std::string("rxe0:1")
             : netdev == "eth1" ? std::string("rxe1:1")
                                : std::string();
    };
    o.bridge_of = [](const std::string&) { return std::string("br0"); };
    o.removal_grace_ms = grace_ms;
    Result<std::unique_ptr<RocePlumbing>> p = RocePlumbing::Create(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Runs 'p' until bond0's plumbing is complete (or 'want' says done).
  static bool RunUntil(RocePlumbing* p,
                       const std::function<bool()>& done, int max_ms = 5000) {
    for (int waited = 0; waited < max_ms; waited += 20) {
      p->Run();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  static bool Complete(const RocePlumbing& p) {
    auto it = p.last_plan().bonds.find("bond0");
    return it != p.last_plan().bonds.end() && it->second.active &&
           it->second.refused.empty() && it->second.missing.empty();
  }

  std::string dir_;
  std::vector<std::string> asked_;   // "netdev pci" of each rdma_port().
};

// OVS-DPDK: the members are DPDK ports located at the netdevs eth0 and
// eth1 (ConnectX's bifurcated driver keeps them): the plumbing works on
// those netdevs and asks for their RNICs with their PCI functions.
TEST_F(RocePlumbingTest, PlumbsDpdkMembersOnTheirPublishedNetdevs) {
  std::string why;
  ASSERT_TRUE(InNewNetns([&] {
    MakeHost();
    std::unique_ptr<RocePlumbing> p = Make();
    ASSERT_TRUE(p);
    TableSnapshot s = Snapshot();
    for (size_t i = 0; i < 2; i++) {
      Member& m = s.bonds[0].members[i];
      m.location.kind = RDMA_BOND_KIND_DPDK;
      m.location.kernel_netdev = m.name;
      m.location.pci = i == 0 ? "0000:03:00.0" : "0000:03:00.1";
      m.name = "dpdk" + std::to_string(i);
    }
    p->Update(s);
    ASSERT_TRUE(RunUntil(p.get(), [&] { return Complete(*p); }))
        << p->ShowText();
    EXPECT_NE(ShOut("ip -4 -o addr show dev eth1").find("10.79.0.1/32"),
              std::string::npos);
    EXPECT_NE(std::find(asked_.begin(), asked_.end(), "eth1 0000:03:00.1"),
              asked_.end())
        << ::testing::PrintToString(asked_);
  }, &why)) << why;
}

TEST_F(RocePlumbingTest, PlumbsRestartsWithoutChangesAndCleansUpExactly) {
  std::string why;
  ASSERT_TRUE(InNewNetns([&] {
    MakeHost();
    const std::string before = HostText();
    std::unique_ptr<RocePlumbing> p = Make();
    ASSERT_TRUE(p);
    p->Update(Snapshot());
    ASSERT_TRUE(RunUntil(p.get(), [&] { return Complete(*p); }))
        << p->ShowText();
    EXPECT_GT(p->actions_applied(), 0u);

    // The kernel's view, through `ip`.
    const std::string addr = ShOut("ip -4 -o addr show dev eth1");
    EXPECT_NE(addr.find("10.79.0.1/32"), std::string::npos) << addr;
    const std::string neigh = ShOut("ip neigh show dev eth0");
    EXPECT_NE(neigh.find("10.79.0.2 lladdr 02:00:00:00:00:02"
                         " PERMANENT proto 82"),
              std::string::npos)
        << neigh;
    const std::string rules = ShOut("ip rule show");
    // "ipproto udp", or "ipproto ipproto-17" without /etc/protocols (a
    // minimal system has no netbase).
    EXPECT_TRUE(std::regex_search(
        rules, std::regex("1:\tfrom all iif eth0 ipproto (udp|ipproto-17) "
                          "dport 4791 lookup local proto 82")))
        << rules;
    EXPECT_NE(rules.find("2:\tfrom all iif eth1 blackhole proto 82"),
              std::string::npos)
        << rules;
    EXPECT_NE(rules.find("3:\tfrom all lookup local proto 82"),
              std::string::npos)
        << rules;
    EXPECT_EQ(rules.find("0:\tfrom all lookup local"), std::string::npos)
        << rules;
    for (const char* m : {"eth0", "eth1"}) {
      EXPECT_NE(rules.find(std::string("4:\tfrom all oif ") + m +
                           " lookup 4791 proto 82"),
                std::string::npos)
          << rules;
    }
    // A lookup through a member, as rdma_cm's check of a connection
    // request makes, finds the member; one without, the bridge.
    const std::string routes = ShOut("ip route show table 4791");
    EXPECT_NE(routes.find("10.79.0.0/24 dev eth0 proto 82 scope link"),
              std::string::npos) << routes;
    EXPECT_NE(ShOut("ip route get 10.79.0.2 oif eth1").find("dev eth1"),
              std::string::npos);
    EXPECT_NE(ShOut("ip route get 10.79.0.2").find("dev br0"),
              std::string::npos);
    EXPECT_EQ(ShOut("cat /proc/sys/net/ipv4/conf/eth0/arp_ignore"), "8\n");

    // A restarted agent finds everything in place and changes nothing.
    const std::string plumbed = HostText();
    p.reset();
    p = Make();
    p->Update(Snapshot(true, 2));
    ASSERT_TRUE(RunUntil(p.get(), [&] { return Complete(*p); }));
    EXPECT_EQ(p->actions_applied(), 0u) << p->ShowText();
    EXPECT_EQ(HostText(), plumbed);

    // The peer's MAC changes on br0: the members follow.
    Sh("ip neigh replace 10.79.0.2 lladdr 02:00:00:00:00:22 dev br0 nud "
       "reachable");
    ASSERT_TRUE(RunUntil(p.get(), [&] {
      return ShOut("ip neigh show dev eth1").find("02:00:00:00:00:22") !=
             std::string::npos;
    }));

    // exit --cleanup: the host as it was, byte for byte (but for the
    // peer's MAC on br0, which the test changed: set it back).
    Sh("ip neigh replace 10.79.0.2 lladdr 02:00:00:00:00:02 dev br0 nud "
       "reachable");
    Status cleanup = p->Cleanup();
    ASSERT_TRUE(cleanup.ok()) << cleanup.ToString() << "\n" << p->ShowText();
    EXPECT_EQ(HostText(), before);
    std::ifstream state(dir_ + "/state");
    std::string rest((std::istreambuf_iterator<char>(state)),
                     std::istreambuf_iterator<char>());
    EXPECT_EQ(rest, "");
  }, &why)) << why;
}

TEST_F(RocePlumbingTest, UndoesABondThatLeftTheTable) {
  std::string why;
  ASSERT_TRUE(InNewNetns([&] {
    MakeHost();
    const std::string before = HostText();
    std::unique_ptr<RocePlumbing> p = Make(/*grace_ms=*/200);
    ASSERT_TRUE(p);
    p->Update(Snapshot());
    ASSERT_TRUE(RunUntil(p.get(), [&] { return Complete(*p); }));
    // Detached (ovs-vswitchd restarting): nothing is undone.
    p->Update(std::nullopt);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    p->Run();
    EXPECT_NE(HostText(), before);
    // A live table without the bond: undone after the grace period.
    p->Update(Snapshot(false));
    ASSERT_TRUE(RunUntil(p.get(), [&] { return HostText() == before; }))
        << HostText();
    EXPECT_TRUE(p->saved().bond_members.empty());
  }, &why)) << why;
}

// After a failover rdma_cm must find the bond's address on the new active
// member, so it is added there again, which remakes that RNIC's GIDs and
// breaks the QPs on it: only once a scan of the host's QPs made after the
// failover and the agent's registry both say the RNIC holds none.  (A
// scan from before the failover missed QPs made just before it, and a
// cable pull in the VM lab lost a connection.)
TEST_F(RocePlumbingTest, AddsTheActiveAddressAgainOnlyOnAnIdleRnic) {
  std::string why;
  ASSERT_TRUE(InNewNetns([&] {
    MakeHost();
    std::set<std::string> registered;
    std::unique_ptr<RocePlumbing> p =
        Make(60000, [&registered] { return registered; });
    ASSERT_TRUE(p);
    p->SetBusyRnics(std::set<std::string>{});
    p->Update(Snapshot(true, 1, /*active=*/1));
    ASSERT_TRUE(RunUntil(p.get(), [&] { return Complete(*p); }))
        << p->ShowText();
    const uint64_t plumbed = p->actions_applied();
    auto held = [&] {
      const auto& missing = p->last_plan().bonds.at("bond0").missing;
      return std::any_of(missing.begin(), missing.end(),
                         [](const std::string& m) {
                           return m.find("once rxe0 holds no QP") !=
                                  std::string::npos;
                         });
    };

    // The failover to eth0.  The scan the plumbing had is older: the
    // address stays where it is until a new one.
    p->SetBusyRnics(std::set<std::string>{});
    p->Update(Snapshot(true, 1, /*active=*/0));
    ASSERT_TRUE(RunUntil(p.get(), held)) << p->ShowText();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    p->Run();
    EXPECT_EQ(p->actions_applied(), plumbed) << p->ShowText();

    // A new scan finds rxe0 idle, but a QP on it is registered.
    registered = {"rxe0"};
    p->SetBusyRnics(std::set<std::string>{});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    p->Run();
    EXPECT_TRUE(held()) << p->ShowText();
    EXPECT_EQ(p->actions_applied(), plumbed) << p->ShowText();

    // The scan sees a QP on rxe0 that nobody registered.
    registered.clear();
    p->SetBusyRnics(std::set<std::string>{"rxe0"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    p->Run();
    EXPECT_TRUE(held()) << p->ShowText();
    EXPECT_EQ(p->actions_applied(), plumbed) << p->ShowText();

    // Idle by both: deleted and added again on eth0, and complete.
    p->SetBusyRnics(std::set<std::string>{"rxe1"});
    ASSERT_TRUE(RunUntil(p.get(), [&] { return Complete(*p); }))
        << p->ShowText();
    // The address deleted and added, and what went with it put back.
    EXPECT_GE(p->actions_applied(), plumbed + 2) << p->ShowText();
    EXPECT_NE(ShOut("ip -4 -o addr show dev eth0").find("10.79.0.1/32"),
              std::string::npos);
  }, &why)) << why;
}

// A datagram to 'ip' sent out of 'ifname' (SO_BINDTODEVICE): the kernel
// resolves 'ip' on that interface, as an RNIC's address resolution does.
void SendFrom(const std::string& ifname, const char* ip) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                       ifname.size()),
            0)
      << strerror(errno);
  struct sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(9);
  inet_pton(AF_INET, ip, &sin.sin_addr);
  (void)sendto(fd, "x", 1, 0, reinterpret_cast<struct sockaddr*>(&sin),
               sizeof sin);
  close(fd);
}

TEST_F(RocePlumbingTest, AResolutionOnAMemberIsDoneOnTheBridge) {
  std::string why;
  ASSERT_TRUE(InNewNetns([&] {
    MakeHost();
    // The peer: br0's veth peer in a namespace of its own, with its
    // address (so that ARP on br0 gets an answer).
    const std::string peer = "rbpeer" + std::to_string(getpid());
    Sh("ip neigh del 10.79.0.2 dev br0; ip netns add " + peer +
       "; ip link set br0-p netns " + peer + "; ip -n " + peer +
       " link set br0-p address 02:00:00:00:00:99 up; ip -n " + peer +
       " addr add 10.79.0.2/24 dev br0-p");
    std::unique_ptr<RocePlumbing> p = Make();
    ASSERT_TRUE(p);
    p->Update(Snapshot());
    ASSERT_TRUE(RunUntil(p.get(), [&] { return Complete(*p); }))
        << p->ShowText();
    EXPECT_EQ(ShOut("ip neigh show dev eth0"), "");
    // A program resolves the peer through eth0: the member sends no ARP
    // (mcast_solicit 0) but tells the agent (app_solicit 1), which
    // resolves on br0 and mirrors the answer onto both members.
    SendFrom("eth0", "10.79.0.2");
    EXPECT_TRUE(RunUntil(p.get(), [&] {
      return ShOut("ip neigh show dev eth1").find(
                 "10.79.0.2 lladdr 02:00:00:00:00:99 PERMANENT proto 82") !=
             std::string::npos;
    })) << ShOut("ip neigh show") << p->ShowText();
    EXPECT_NE(ShOut("ip neigh show dev br0").find("02:00:00:00:00:99"),
              std::string::npos);
    EXPECT_NE(ShOut("ip neigh show dev eth0").find(
                  "10.79.0.2 lladdr 02:00:00:00:00:99 PERMANENT proto 82"),
              std::string::npos)
        << ShOut("ip neigh show dev eth0");
    Sh("ip netns del " + peer);
  }, &why)) << why;
}

TEST_F(RocePlumbingTest, RefusesToFightAnAddressOnAMember) {
  std::string why;
  ASSERT_TRUE(InNewNetns([&] {
    MakeHost();
    Sh("ip addr add 192.0.2.7/24 dev eth1");
    const std::string before = HostText();
    std::unique_ptr<RocePlumbing> p = Make();
    ASSERT_TRUE(p);
    p->Update(Snapshot());
    ASSERT_TRUE(RunUntil(p.get(), [&] {
      auto it = p->last_plan().bonds.find("bond0");
      return it != p->last_plan().bonds.end() && !it->second.refused.empty();
    }));
    EXPECT_EQ(HostText(), before);
    EXPECT_NE(p->ShowText().find("bond bond0 (bridge br0): left alone: member "
                                 "eth1 has address 192.0.2.7/24 of its own"),
              std::string::npos)
        << p->ShowText();
  }, &why)) << why;
}

}  // namespace
}  // namespace rdma_bond::agent
