// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The interposition of librdmabond-preload.so, for real: this program is
// linked against libfakeverbs.so (a libibverbs and librdmacm with the same
// symbols and versions, recording every call) and runs itself again with
// LD_PRELOAD=librdmabond-preload.so of this build tree, so its calls go
// through the preload exactly as a program's calls to libibverbs do.
//
// The world: a fake sysfs tree (devices fake0 behind p1, fake1 behind p2,
// fake2 behind p3), a table with active-backup bond0 of p1 and p2, and a
// fake agent at the table's agent socket.  The preload reads its
// settings once per process: RDMA_BOND_PRELOAD_ON_MISPIN=error here.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <infiniband/verbs.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "preload/fake_verbs.h"
#include "rdma-bond-table-writer.h"
#include "rdma_bond/agent_client.h"
#include "rdma_bond/roce.h"
#include "rdma_bond/table_reader.h"
#include "testing/fake_agent.h"
#include "testing/fake_sysfs.h"
#include "testing/table_test_util.h"

extern "C" void* mlx5dv_devx_obj_create(ibv_context*, const void*, size_t,
                                        void*, size_t);

namespace rdma_bond {
namespace {

constexpr const char* kGid1 = "0000:0000:0000:0000:0000:ffff:0a00:0001";

struct World {
  testing::TempDir dir;
  testing::FakeSysfs sysfs;
  std::unique_ptr<testing::WritableTable> table;
  std::unique_ptr<testing::FakeAgent> agent;
  std::atomic<bool> stop{false};
  std::thread heartbeat;
};
World* world;
// The rdma_cm tests need a network where 10.0.0.1 is this host's and
// 10.0.0.0/24 is routed (the preload asks the kernel for the source of a
// destination): a network namespace of their own, so root.
bool g_netns = false;

void StoreBond(size_t active) {
  rdma_bond_record r = testing::MakeRecord("bond0", {"p1", "p2"});
  r.active_member = static_cast<uint8_t>(active);
  r.generation = 1 + active;
  world->table->Store(0, r);
  rdma_bond_table_notify(world->table->header());
}

void BuildWorld() {
  world = new World;
  testing::FakeSysfs& s = world->sysfs;
  const char* devs[3] = {"fake0", "fake1", "fake2"};
  for (int i = 0; i < 3; i++) {
    const std::string nd = "p" + std::to_string(i + 1);
    s.AddNetdev(nd, "52:54:00:00:00:0" + std::to_string(i + 1));
    s.AddRdmaDevice(devs[i], 1);
    s.WriteIb(devs[i], "parent", nd + "\n");
  }
  s.SetGid("fake0", 1, 1, kGid1, "RoCE v2", "p1");
  s.AddEmptyGids("fake1", 1, 0, 3);
  s.SetGid("fake1", 1, 3, kGid1, "RoCE v2", "p2");
  s.SetGid("fake2", 1, 1, kGid1, "RoCE v2", "p3");
  const std::string table = world->dir.File("rdma-bond.shm");
  world->table = testing::WritableTable::Create(table);
  world->table->header()->n_used = 1;
  StoreBond(0);
  world->agent = std::make_unique<testing::FakeAgent>(
      testing::FakeAgent::Mode::kAnswer, DefaultAgentDirectory(table));
  world->heartbeat = std::thread([] {
    while (!world->stop) {
      rdma_bond_table_set_heartbeat(world->table->header(),
                                    MonotonicNowNs());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  setenv("RDMA_BOND_PRELOAD_SHM", table.c_str(), 1);
  setenv("RDMA_BOND_PRELOAD_SYSFS", s.root().c_str(), 1);
  setenv("RDMA_BOND_PRELOAD_ON_MISPIN", "error", 1);
  setenv("RDMA_BOND_PRELOAD_LOG", "debug", 1);
}

// The gid of IPv4 10.0.0.2.
ibv_gid PeerGid() {
  ibv_gid g{};
  g.raw[10] = 0xff;
  g.raw[11] = 0xff;
  g.raw[12] = 10;
  g.raw[15] = 2;
  return g;
}

// An RC QP's INIT -> RTR with a global route from GID index 'sgid'.
ibv_qp_attr Rtr(uint8_t sgid, uint32_t flow_label = 0) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = IBV_MTU_1024;
  a.dest_qp_num = 0x22;
  a.ah_attr.is_global = 1;
  a.ah_attr.port_num = 1;
  a.ah_attr.grh.dgid = PeerGid();
  a.ah_attr.grh.sgid_index = sgid;
  a.ah_attr.grh.hop_limit = 1;
  a.ah_attr.grh.flow_label = flow_label;
  return a;
}
constexpr int kRtrMask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
                         IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                         IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;

fake_verbs_call LastCall() {
  fake_verbs_call c{};
  const int n = fake_verbs_n_calls();
  EXPECT_GT(n, 0);
  fake_verbs_get_call(n - 1, &c);
  return c;
}

// Waits up to 5 s for 'pred' (the preload's thread works asynchronously).
template <typename Pred>
bool WaitFor(Pred pred) {
  for (int i = 0; i < 500; i++) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

std::string LibraryOf(void* address) {
  Dl_info info{};
  if (!address || !dladdr(address, &info) || !info.dli_fname) return "";
  return info.dli_fname;
}

TEST(PreloadTest, InterposedSymbolsAreThePreloads) {
  for (const char* version : {"IBVERBS_1.1", "IBVERBS_1.0"}) {
    EXPECT_NE(LibraryOf(dlvsym(RTLD_DEFAULT, "ibv_modify_qp", version))
                  .find("librdmabond-preload"),
              std::string::npos) << version;
    EXPECT_NE(LibraryOf(dlvsym(RTLD_DEFAULT, "ibv_destroy_qp", version))
                  .find("librdmabond-preload"),
              std::string::npos) << version;
  }
  EXPECT_NE(LibraryOf(dlvsym(RTLD_DEFAULT, "ibv_open_device", "IBVERBS_1.1"))
                .find("librdmabond-preload"), std::string::npos);
  EXPECT_NE(LibraryOf(dlvsym(RTLD_DEFAULT, "mlx5dv_devx_obj_create",
                             "MLX5_1.7")).find("librdmabond-preload"),
            std::string::npos);
  for (const char* f : {"rdma_resolve_addr", "rdma_bind_addr"}) {
    EXPECT_NE(LibraryOf(dlvsym(RTLD_DEFAULT, f, "RDMACM_1.0"))
                  .find("librdmabond-preload"), std::string::npos) << f;
  }
  EXPECT_NE(LibraryOf(dlvsym(RTLD_DEFAULT, "rdma_create_id", "RDMACM_1.0"))
                .find("libfakeverbs"), std::string::npos);
  // What the program itself binds to.
  EXPECT_NE(LibraryOf(reinterpret_cast<void*>(&ibv_modify_qp))
                .find("librdmabond-preload"), std::string::npos);
  // Not interposed: the fake's own.
  EXPECT_NE(LibraryOf(dlvsym(RTLD_DEFAULT, "ibv_get_device_list",
                             "IBVERBS_1.1")).find("libfakeverbs"),
            std::string::npos);
}

TEST(PreloadTest, ActiveMembersQpGetsAPinnedFlowLabelAndIsRegistered) {
  ibv_qp* qp = fake_verbs_make_qp("fake0", IBV_QPT_RC, 0x11);
  ASSERT_NE(qp, nullptr);
  ibv_qp_attr a = Rtr(1);
  fake_verbs_reset();
  ASSERT_EQ(ibv_modify_qp(qp, &a, kRtrMask), 0);
  ASSERT_EQ(fake_verbs_n_calls(), 1);
  fake_verbs_call c = LastCall();
  EXPECT_EQ(c.fn, FAKE_MODIFY_QP_1_1);      // The real one, once.
  EXPECT_EQ(c.object, qp);
  EXPECT_EQ(c.mask, kRtrMask);
  const uint32_t label = c.attr.ah_attr.grh.flow_label;
  EXPECT_NE(label, 0u);
  EXPECT_EQ(c.attr.ah_attr.grh.sgid_index, 1);
  EXPECT_EQ(a.ah_attr.grh.flow_label, 0u);  // The caller's attr: as it was.
  const uint16_t sport = FlowLabelToUdpSport(label);

  // The agent learns it: member, port and device.
  ASSERT_TRUE(WaitFor([&] { return world->agent->registry().count(0x11); }));
  auto reg = world->agent->registry()[0x11];
  EXPECT_EQ(reg["bond"], "bond0");
  EXPECT_EQ(reg["member"], "p1");
  EXPECT_EQ(reg["src"], "10.0.0.1");
  EXPECT_EQ(reg["dst"], "10.0.0.2");
  EXPECT_EQ(reg["sport"], std::to_string(sport));
  EXPECT_EQ(reg["rnic"], "fake0");
  EXPECT_EQ(reg["role"], "active");

  ASSERT_EQ(ibv_destroy_qp(qp), 0);
  EXPECT_EQ(LastCall().fn, FAKE_DESTROY_QP_1_1);
  EXPECT_EQ(LastCall().object, qp);
  EXPECT_TRUE(WaitFor([&] { return !world->agent->registry().count(0x11); }));
}

// The agent got QP 'qpn''s LOAD of 'tx_bytes' (on fake0), then its DEL.
void ExpectLastLoadBeforeDel(uint32_t qpn, uint64_t tx_bytes) {
  world->agent->Settle();
  const std::vector<std::string> all = world->agent->requests();
  const std::string q = "qpn=" + std::to_string(qpn) + " rnic=fake0";
  auto last = std::find(all.begin(), all.end(),
                        "LOAD " + q + " tx_bytes=" + std::to_string(tx_bytes));
  auto del = std::find(all.begin(), all.end(), "DEL " + q);
  EXPECT_NE(last, all.end()) << ::testing::PrintToString(all);
  EXPECT_NE(del, all.end());
  EXPECT_LT(last, del);
}

// LOAD: the preload counts what the program posts on a tracked QP with
// its own (inline) ibv_post_send(), which still reaches the provider's
// function, and reports the count to the agent every second.
TEST(PreloadTest, TheBytesPostedOnATrackedQpReachTheAgent) {
  ibv_qp* qp = fake_verbs_make_qp("fake0", IBV_QPT_RC, 0x21);
  ASSERT_NE(qp, nullptr);
  ibv_qp_attr a = Rtr(1);
  ASSERT_EQ(ibv_modify_qp(qp, &a, kRtrMask), 0);
  ASSERT_TRUE(WaitFor([&] { return world->agent->registry().count(0x21); }));

  ibv_sge sge[3] = {{0, 100, 0}, {0, 20, 0}, {0, 1000, 0}};
  ibv_send_wr wr[3] = {};
  wr[0].opcode = IBV_WR_SEND;
  wr[0].sg_list = &sge[0];
  wr[0].num_sge = 2;
  wr[0].next = &wr[1];
  wr[1].opcode = IBV_WR_RDMA_WRITE;
  wr[1].sg_list = &sge[2];
  wr[1].num_sge = 1;
  wr[1].next = &wr[2];
  wr[2].opcode = IBV_WR_RDMA_READ;   // Its data comes from the peer.
  wr[2].sg_list = &sge[2];
  wr[2].num_sge = 1;
  ibv_send_wr* bad = nullptr;
  fake_verbs_reset();
  ASSERT_EQ(ibv_post_send(qp, &wr[0], &bad), 0);
  fake_verbs_call c = LastCall();
  EXPECT_EQ(c.fn, FAKE_POST_SEND);   // The provider's, once.
  EXPECT_EQ(c.object, qp);
  EXPECT_EQ(fake_verbs_n_calls(), 1);
  // Failing at its second request: only the first one left.
  fake_verbs_fail_post_send(1, ENOMEM);
  EXPECT_EQ(ibv_post_send(qp, &wr[0], &bad), ENOMEM);
  EXPECT_EQ(bad, &wr[1]);
  // 120 + 1000, then 120.
  const std::string expected = "LOAD qpn=33 rnic=fake0 tx_bytes=1240";
  ASSERT_TRUE(WaitFor([&] {
    for (const std::string& line : world->agent->requests("LOAD")) {
      if (line == expected) return true;
    }
    return false;
  })) << ::testing::PrintToString(world->agent->requests("LOAD"));
  // Its first LOAD, which the agent takes as the baseline, was the count
  // when it was pinned, before any post: the bytes posted at once count.
  const std::vector<std::string> loads = world->agent->requests("LOAD");
  auto first = std::find_if(loads.begin(), loads.end(), [](const auto& l) {
    return l.rfind("LOAD qpn=33 ", 0) == 0;
  });
  ASSERT_NE(first, loads.end());
  EXPECT_EQ(*first, "LOAD qpn=33 rnic=fake0 tx_bytes=0");
  // Its last bytes are reported at once when it is destroyed, before
  // the DEL: not up to a second later, when the program may be gone.
  wr[0].next = nullptr;
  ASSERT_EQ(ibv_post_send(qp, &wr[0], &bad), 0);
  ASSERT_EQ(ibv_destroy_qp(qp), 0);
  EXPECT_TRUE(WaitFor([&] { return !world->agent->registry().count(0x21); }));
  ExpectLastLoadBeforeDel(33, 1360);
}

// Stops every other thread of this process that takes signals (the
// preload's) for good, where it waits in poll() or futex() (where the
// preload's thread holds no lock): its signal handler never returns.
// False if there is none, or one does not get there in 5 s.
std::atomic<int> g_held{0};
void HoldHere(int) {
  g_held.fetch_add(1);
  for (;;) pause();
}
bool HoldOtherThreads() {
  struct sigaction sa{};
  sa.sa_handler = HoldHere;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, nullptr) != 0) return false;
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  std::vector<pid_t> others;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      const pid_t tid = static_cast<pid_t>(atoi(e->d_name));
      if (tid > 0 && tid != self) others.push_back(tid);
    }
    closedir(d);
  }
  // Those that block every signal (ChangeNotifier's) cannot be held, and
  // send nothing to the agent.
  std::erase_if(others, [](pid_t tid) {
    std::string path = "/proc/self/task/" + std::to_string(tid) + "/status";
    unsigned long long blocked = 0;
    if (FILE* f = fopen(path.c_str(), "re")) {
      char line[256];
      while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "SigBlk: %llx", &blocked) == 1) break;
      }
      fclose(f);
    }
    return (blocked >> (SIGUSR1 - 1) & 1) != 0;
  });
  if (others.empty()) return false;
  for (pid_t tid : others) {
    // Its system call: poll (7) or futex (202) on x86-64, ppoll (73) or
    // futex (98) on arm64.
    bool waiting = false;
    for (int i = 0; i < 500 && !waiting; i++) {
      std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
      char buf[32] = "";
      if (FILE* f = fopen(path.c_str(), "re")) {
        if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
        fclose(f);
      }
      const int nr = atoi(buf);
      waiting = buf[0] != '\0' && (nr == 7 || nr == 202 || nr == 73 ||
                                    nr == 98);
      if (!waiting) usleep(10000);
    }
    if (!waiting || syscall(SYS_tgkill, getpid(), tid, SIGUSR1) != 0) {
      fprintf(stderr, "thread %d does not wait in poll() or futex()\n",
              static_cast<int>(tid));
      return false;
    }
  }
  for (int i = 0; i < 500; i++) {
    if (g_held.load() == static_cast<int>(others.size())) return true;
    usleep(10000);
  }
  return false;
}

// A program that exits right after destroying its QP (perftest does) still
// reports the QP's last bytes: they must not wait for the preload's thread,
// which the exit ends.  A child process, with its own runtime, posts,
// destroys and exits at once.
TEST(PreloadTest, TheLastBytesReachTheAgentWhenTheProgramExitsAtOnce) {
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(go[1]);
    ibv_qp* qp = fake_verbs_make_qp("fake0", IBV_QPT_RC, 0x29);
    ibv_qp_attr a = Rtr(1);
    if (!qp || ibv_modify_qp(qp, &a, kRtrMask) != 0) _exit(2);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(3);   // Registered at the agent.
    // The exit comes before the preload's thread runs again (a program's
    // exit often does): that thread, and the notifier's, stop here.
    if (!HoldOtherThreads()) _exit(5);
    ibv_sge sge = {0, 4096, 0};
    ibv_send_wr wr{};
    wr.opcode = IBV_WR_SEND;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    ibv_send_wr* bad = nullptr;
    for (int i = 0; i < 3; i++) {
      if (ibv_post_send(qp, &wr, &bad) != 0) _exit(4);
    }
    ibv_destroy_qp(qp);
    _exit(0);
  }
  close(go[0]);
  const bool registered =
      WaitFor([&] { return world->agent->registry().count(0x29) > 0; });
  EXPECT_TRUE(registered);
  EXPECT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Gone with its connection; what it said before closing is all there.
  ASSERT_TRUE(WaitFor([&] { return !world->agent->registry().count(0x29); }));
  ExpectLastLoadBeforeDel(41, 12288);
}

TEST(PreloadTest, Version10ModifyIsInterposedAndReachesThe10Function) {
  ibv_qp* qp = fake_verbs_make_qp("fake0", IBV_QPT_RC, 0x12);
  void* q10 = fake_verbs_make_qp_1_0(qp);
  using Modify10 = int (*)(void*, ibv_qp_attr*, int);
  auto modify10 = reinterpret_cast<Modify10>(
      dlvsym(RTLD_DEFAULT, "ibv_modify_qp", "IBVERBS_1.0"));
  ASSERT_NE(modify10, nullptr);
  ibv_qp_attr a = Rtr(1);
  fake_verbs_reset();
  ASSERT_EQ(modify10(q10, &a, kRtrMask), 0);
  ASSERT_EQ(fake_verbs_n_calls(), 1);
  fake_verbs_call c = LastCall();
  EXPECT_EQ(c.fn, FAKE_MODIFY_QP_1_0);
  EXPECT_EQ(c.object, q10);
  EXPECT_NE(c.attr.ah_attr.grh.flow_label, 0u);

  using Destroy10 = int (*)(void*);
  auto destroy10 = reinterpret_cast<Destroy10>(
      dlvsym(RTLD_DEFAULT, "ibv_destroy_qp", "IBVERBS_1.0"));
  ASSERT_NE(destroy10, nullptr);
  ASSERT_EQ(destroy10(q10), 0);
  EXPECT_EQ(LastCall().fn, FAKE_DESTROY_QP_1_0);
  EXPECT_EQ(LastCall().object, q10);
}

TEST(PreloadTest, StandbysDeviceOpensAsTheActivesAndGidIsRemapped) {
  ibv_device** list = ibv_get_device_list(nullptr);
  ASSERT_NE(list, nullptr);
  ibv_device* fake1 = nullptr;
  ibv_device* fake0 = nullptr;
  for (ibv_device** d = list; *d; d++) {
    if (!strcmp((*d)->name, "fake1")) fake1 = *d;
    if (!strcmp((*d)->name, "fake0")) fake0 = *d;
  }
  ASSERT_TRUE(fake1 && fake0);
  fake_verbs_reset();
  ibv_context* ctx = ibv_open_device(fake1);
  ASSERT_NE(ctx, nullptr);
  EXPECT_STREQ(ctx->device->name, "fake0");
  EXPECT_EQ(LastCall().fn, FAKE_OPEN_DEVICE_1_1);
  EXPECT_EQ(LastCall().object, fake0);

  // The program chose index 3, 10.0.0.1 on fake1; on fake0 that is 1.
  ibv_qp* qp = fake_verbs_make_qp("fake0", IBV_QPT_RC, 0x13);
  qp->context = ctx;
  ibv_qp_attr a = Rtr(3);
  ASSERT_EQ(ibv_modify_qp(qp, &a, kRtrMask), 0);
  EXPECT_EQ(LastCall().attr.ah_attr.grh.sgid_index, 1);
  EXPECT_NE(LastCall().attr.ah_attr.grh.flow_label, 0u);

  // The active member's own device: as asked.
  ibv_context* ctx0 = ibv_open_device(fake0);
  ASSERT_NE(ctx0, nullptr);
  EXPECT_STREQ(ctx0->device->name, "fake0");
  ibv_destroy_qp(qp);
}

TEST(PreloadTest, EverythingElsePassesThroughUntouched) {
  struct Case {
    const char* device;
    ibv_qp_type type;
    int mask;
    uint8_t is_global;
  } cases[] = {
      {"fake0", IBV_QPT_UD, kRtrMask, 1},        // UD: an AH per send.
      {"fake0", IBV_QPT_RC, IBV_QP_STATE, 1},    // No address vector.
      {"fake0", IBV_QPT_RC, kRtrMask, 0},        // No global route.
      {"fake2", IBV_QPT_RC, kRtrMask, 1},        // Not on a bond member.
  };
  uint32_t qpn = 0x40;
  for (const Case& k : cases) {
    ibv_qp* qp = fake_verbs_make_qp(k.device, k.type, qpn++);
    ibv_qp_attr a = Rtr(1);
    a.ah_attr.is_global = k.is_global;
    fake_verbs_reset();
    ASSERT_EQ(ibv_modify_qp(qp, &a, k.mask), 0);
    ASSERT_EQ(fake_verbs_n_calls(), 1);
    EXPECT_EQ(LastCall().attr_ptr, &a) << k.device << " " << k.type;
    EXPECT_EQ(LastCall().attr.ah_attr.grh.flow_label, 0u);
    ibv_destroy_qp(qp);
  }
  // A QP on the standby's device (not redirected: made directly on it)
  // would send from a member OVS does not use: under the "error" policy
  // (this process's) its move to RTR fails, and nothing reaches the real
  // function.
  ibv_qp* qp = fake_verbs_make_qp("fake1", IBV_QPT_RC, 0x50);
  ibv_qp_attr a = Rtr(3, 0x777);
  fake_verbs_reset();
  EXPECT_EQ(ibv_modify_qp(qp, &a, kRtrMask), EHOSTUNREACH);
  EXPECT_EQ(fake_verbs_n_calls(), 0);
  // Its INIT and RESET moves still pass.
  ibv_qp_attr reset{};
  reset.qp_state = IBV_QPS_RESET;
  EXPECT_EQ(ibv_modify_qp(qp, &reset, IBV_QP_STATE), 0);
  EXPECT_EQ(fake_verbs_n_calls(), 1);
  ibv_destroy_qp(qp);
}

TEST(PreloadTest, DevxIsNoticedAndReachesTheRealFunction) {
  ibv_qp* qp = fake_verbs_make_qp("fake0", IBV_QPT_RC, 0x60);
  fake_verbs_reset();
  EXPECT_NE(mlx5dv_devx_obj_create(qp->context, nullptr, 0, nullptr, 0),
            nullptr);
  EXPECT_EQ(LastCall().fn, FAKE_DEVX_OBJ_CREATE);
}

sockaddr_in Addr(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

std::string AddrText(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

std::vector<fake_verbs_call> CallsOf(fake_verbs_fn fn, const void* object) {
  std::vector<fake_verbs_call> out;
  for (int i = 0; i < fake_verbs_n_calls(); i++) {
    fake_verbs_call c{};
    fake_verbs_get_call(i, &c);
    if (c.fn == fn && (!object || c.object == object)) out.push_back(c);
  }
  return out;
}

class PreloadCmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_netns) GTEST_SKIP() << "needs root (a network namespace)";
    fake_verbs_set_cm_device("fake0");
    fake_verbs_fail_binds(0);
    ASSERT_EQ(rdma_create_id(nullptr, &id_, nullptr, RDMA_PS_TCP), 0);
    fake_verbs_reset();
  }
  void TearDown() override {
    if (id_) rdma_destroy_id(id_);
  }
  int Resolve(const char* ip, uint16_t port) {
    sockaddr_in dst = Addr(ip, port);
    return rdma_resolve_addr(id_, nullptr, reinterpret_cast<sockaddr*>(&dst),
                             2000);
  }
  rdma_cm_id* id_ = nullptr;
};

TEST_F(PreloadCmTest, UnboundClientIsBoundToTheBondAddressWithAPinnedPort) {
  ASSERT_EQ(Resolve("10.0.0.2", 7174), 0);
  std::vector<fake_verbs_call> binds = CallsOf(FAKE_CM_BIND_ADDR, id_);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0].result, 0);
  const uint16_t port = ntohs(binds[0].addr.sin_port);
  EXPECT_EQ(AddrText(binds[0].addr), "10.0.0.1:" + std::to_string(port));
  EXPECT_NE(port, 0);
  // Then the real resolution, with no source (the ID is bound now).
  std::vector<fake_verbs_call> resolves = CallsOf(FAKE_CM_RESOLVE_ADDR, id_);
  ASSERT_EQ(resolves.size(), 1u);
  EXPECT_EQ(resolves[0].src_ptr, nullptr);
  EXPECT_EQ(AddrText(resolves[0].addr), "10.0.0.2:7174");
  // Which RNIC the kernel binds 10.0.0.1 to was asked with a scratch ID,
  // bound without a port and destroyed.
  std::vector<fake_verbs_call> created = CallsOf(FAKE_CM_CREATE_ID, nullptr);
  ASSERT_EQ(created.size(), 1u);
  std::vector<fake_verbs_call> scratch =
      CallsOf(FAKE_CM_BIND_ADDR, created[0].object);
  ASSERT_EQ(scratch.size(), 1u);
  EXPECT_EQ(AddrText(scratch[0].addr), "10.0.0.1:0");
  EXPECT_EQ(CallsOf(FAKE_CM_DESTROY_ID, created[0].object).size(), 1u);
}

TEST_F(PreloadCmTest, APortInUseMakesItTryTheNext) {
  fake_verbs_fail_binds(1);
  ASSERT_EQ(Resolve("10.0.0.2", 7174), 0);
  std::vector<fake_verbs_call> binds = CallsOf(FAKE_CM_BIND_ADDR, id_);
  ASSERT_EQ(binds.size(), 2u);
  EXPECT_EQ(binds[0].result, -1);
  EXPECT_EQ(binds[1].result, 0);
  EXPECT_NE(binds[0].addr.sin_port, binds[1].addr.sin_port);
}

TEST_F(PreloadCmTest, OnAStandbysRnicItStillBindsAndLetsTheKernelPick) {
  // The kernel would bind 10.0.0.1 to fake1 (p2, not active): no port
  // sends out of p2, the bind still makes rdma_cm work (said once).
  fake_verbs_set_cm_device("fake1");
  ASSERT_EQ(Resolve("10.0.0.2", 7174), 0);
  std::vector<fake_verbs_call> binds = CallsOf(FAKE_CM_BIND_ADDR, id_);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(AddrText(binds[0].addr), "10.0.0.1:0");
}

TEST_F(PreloadCmTest, BoundIdsAndOtherSourcesPassThrough) {
  // A destination whose source is no bond's address (loopback).
  ASSERT_EQ(Resolve("127.0.0.1", 7174), 0);
  EXPECT_TRUE(CallsOf(FAKE_CM_BIND_ADDR, id_).empty());
  ASSERT_EQ(CallsOf(FAKE_CM_RESOLVE_ADDR, id_).size(), 1u);
  // An ID the program bound: resolved as it is.
  sockaddr_in own = Addr("10.0.0.1", 0);
  ASSERT_EQ(rdma_bind_addr(id_, reinterpret_cast<sockaddr*>(&own)), 0);
  fake_verbs_reset();
  ASSERT_EQ(Resolve("10.0.0.2", 7174), 0);
  EXPECT_TRUE(CallsOf(FAKE_CM_BIND_ADDR, id_).empty());
  EXPECT_EQ(CallsOf(FAKE_CM_RESOLVE_ADDR, id_).size(), 1u);
  // A source given by the program: as given.
  fake_verbs_reset();
  sockaddr_in src = Addr("10.0.0.1", 0);
  sockaddr_in dst = Addr("10.0.0.2", 7174);
  ASSERT_EQ(rdma_resolve_addr(id_, reinterpret_cast<sockaddr*>(&src),
                              reinterpret_cast<sockaddr*>(&dst), 2000), 0);
  std::vector<fake_verbs_call> r = CallsOf(FAKE_CM_RESOLVE_ADDR, id_);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].src_ptr, reinterpret_cast<sockaddr*>(&src));
}

TEST_F(PreloadCmTest, AListenerOnTheBondAddressListensEverywhere) {
  sockaddr_in a = Addr("10.0.0.1", 7174);
  ASSERT_EQ(rdma_bind_addr(id_, reinterpret_cast<sockaddr*>(&a)), 0);
  std::vector<fake_verbs_call> binds = CallsOf(FAKE_CM_BIND_ADDR, id_);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(AddrText(binds[0].addr), "0.0.0.0:7174");
  EXPECT_EQ(AddrText(a), "10.0.0.1:7174");     // The program's, untouched.

  // The wildcard port taken: the program's own bind.
  rdma_cm_id* other = nullptr;
  ASSERT_EQ(rdma_create_id(nullptr, &other, nullptr, RDMA_PS_TCP), 0);
  fake_verbs_reset();
  fake_verbs_fail_binds(1);
  ASSERT_EQ(rdma_bind_addr(other, reinterpret_cast<sockaddr*>(&a)), 0);
  binds = CallsOf(FAKE_CM_BIND_ADDR, other);
  ASSERT_EQ(binds.size(), 2u);
  EXPECT_EQ(AddrText(binds[0].addr), "0.0.0.0:7174");
  EXPECT_EQ(AddrText(binds[1].addr), "10.0.0.1:7174");
  rdma_destroy_id(other);

  // Port 0, or an address of no bond: as given.
  for (const sockaddr_in& b : {Addr("10.0.0.1", 0), Addr("10.0.0.9", 7175)}) {
    rdma_cm_id* i = nullptr;
    ASSERT_EQ(rdma_create_id(nullptr, &i, nullptr, RDMA_PS_TCP), 0);
    fake_verbs_reset();
    sockaddr_in copy = b;
    ASSERT_EQ(rdma_bind_addr(i, reinterpret_cast<sockaddr*>(&copy)), 0);
    binds = CallsOf(FAKE_CM_BIND_ADDR, i);
    ASSERT_EQ(binds.size(), 1u);
    EXPECT_EQ(AddrText(binds[0].addr), AddrText(b));
    rdma_destroy_id(i);
  }
}

// Last (gtest runs suites in the order they are defined): it changes
// the bond.
TEST(PreloadFailoverTest, AMispinnedQpMovesToErrorUnderTheErrorPolicy) {
  ibv_qp* qp = fake_verbs_make_qp("fake0", IBV_QPT_RC, 0x70);
  ibv_qp_attr a = Rtr(1);
  ASSERT_EQ(ibv_modify_qp(qp, &a, kRtrMask), 0);
  ASSERT_TRUE(WaitFor([&] { return world->agent->registry().count(0x70); }));
  fake_verbs_reset();
  StoreBond(1);   // p2 active: the QP on p1's device is mispinned.
  auto moved = [&] {
    for (int i = 0; i < fake_verbs_n_calls(); i++) {
      fake_verbs_call c{};
      fake_verbs_get_call(i, &c);
      if (c.fn == FAKE_MODIFY_QP_1_1 && c.object == qp &&
          c.mask == IBV_QP_STATE && c.attr.qp_state == IBV_QPS_ERR) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(WaitFor(moved));
  EXPECT_TRUE(WaitFor([&] {
    return world->agent->registry()[0x70]["role"] == "down";
  }));
  StoreBond(0);
  ibv_destroy_qp(qp);
}

}  // namespace
}  // namespace rdma_bond

int main(int argc, char** argv) {
  // Runs itself again with LD_PRELOAD=librdmabond-preload.so of this
  // build tree (.libs/ next to the program), so that every call goes
  // through the preload as in a preloaded program: whoever starts it
  // (make check, tests/run-all) needs to know nothing.
  const char* preload = getenv("LD_PRELOAD");
  if (!preload || !strstr(preload, "librdmabond-preload")) {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
      perror("preload-tests: /proc/self/exe");
      return 1;
    }
    self[n] = '\0';
    std::string lib(self);
    lib = lib.substr(0, lib.rfind('/')) + "/.libs/librdmabond-preload.so";
    if (access(lib.c_str(), R_OK) != 0) {
      fprintf(stderr, "preload-tests: %s is missing (make it first)\n",
              lib.c_str());
      return 1;
    }
    setenv("LD_PRELOAD", lib.c_str(), 1);
    execv(self, argv);
    perror("preload-tests: exec");
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0) {
    rdma_bond::g_netns =
        system("ip link set lo up && ip addr add 10.0.0.1/24 dev lo") == 0;
  }
  if (!rdma_bond::g_netns) {
    fprintf(stderr, "preload-tests: not root: the rdma_cm tests are "
            "skipped\n");
  }
  rdma_bond::BuildWorld();
  const int rc = RUN_ALL_TESTS();
  rdma_bond::world->stop = true;
  rdma_bond::world->heartbeat.join();
  return rc;
}
