// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// librdmabond-preload.so: the interposed symbols (docs/preload.md).
//
// LD_PRELOAD puts this library first in every lookup, so a program's calls
// (and librdmacm's: it calls ibv_modify_qp through its PLT) to the
// functions below land here.  Each one reaches the real function of the
// next object in the lookup order, libibverbs (or libmlx5), with dlvsym()
// and the version the caller asked for: the version script
// (preload.map) gives these definitions the same versions as
// libibverbs's own, IBVERBS_1.1 (the default) and IBVERBS_1.0.
//
// Nothing here is interposed on the data path: post, poll and event calls
// are inline functions of verbs.h that call the provider directly.  (For
// OVS's rebalancing, the preload wraps the post_send of the contexts of
// the QPs it pins, to count their bytes: send_counters.h.)  The work
// happens when a device is opened and when a QP moves to RTR; a thread per
// process follows the bond table (futex wait through ChangeNotifier) and
// talks to the agent.

#include <dlfcn.h>
#include <arpa/inet.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "preload/preload_core.h"
#include "preload/send_counters.h"
#include "rdma_bond/agent_client.h"
#include "rdma_bond/change_notifier.h"
#include "rdma_bond/roce.h"
#include "rdma_bond/table_reader.h"

using namespace rdma_bond;
using rdma_bond::preload::g_send_counters;
using rdma_bond::preload::WrapPostSend;

namespace {

// How long the agent has to answer (HELLO, and each request after it).
// AgentClient's 100 ms suits a connection's event loop; this thread is off
// the data path, and a QP whose registration misses the window loses the
// bytes it sends until the next attempt, a second later or more (the
// agent's baseline is the first LOAD it gets).  A busy agent (seen in the
// VM lab's TCG guests: "no answer within 100 ms") needs longer.  Program
// calls that need the runtime's lock wait as long at most, and only while
// the agent does not answer.
constexpr std::chrono::milliseconds kAgentTimeout{1000};

// The real functions, found once.
struct RealVerbs {
  int (*modify_qp_1_1)(ibv_qp*, ibv_qp_attr*, int) = nullptr;
  int (*modify_qp_1_0)(void*, ibv_qp_attr*, int) = nullptr;
  int (*destroy_qp_1_1)(ibv_qp*) = nullptr;
  int (*destroy_qp_1_0)(void*) = nullptr;
  ibv_context* (*open_device_1_1)(ibv_device*) = nullptr;
  ibv_device** (*get_device_list_1_1)(int*) = nullptr;
  void* (*devx_obj_create)(ibv_context*, const void*, size_t, void*,
                           size_t) = nullptr;
};

// librdmacm's (RDMACM_1.0).
struct RealCm {
  int (*resolve_addr)(rdma_cm_id*, sockaddr*, sockaddr*, int) = nullptr;
  int (*bind_addr)(rdma_cm_id*, sockaddr*) = nullptr;
  int (*create_id)(rdma_event_channel*, rdma_cm_id**, void*,
                   rdma_port_space) = nullptr;
  int (*destroy_id)(rdma_cm_id*) = nullptr;
};

template <typename F>
void Find(F* f, const char* name, const char* version) {
  void* p = dlvsym(RTLD_NEXT, name, version);
  *f = reinterpret_cast<F>(p);
}

const RealVerbs& Real() {
  static const RealVerbs real = [] {
    RealVerbs r;
    Find(&r.modify_qp_1_1, "ibv_modify_qp", "IBVERBS_1.1");
    Find(&r.modify_qp_1_0, "ibv_modify_qp", "IBVERBS_1.0");
    Find(&r.destroy_qp_1_1, "ibv_destroy_qp", "IBVERBS_1.1");
    Find(&r.destroy_qp_1_0, "ibv_destroy_qp", "IBVERBS_1.0");
    Find(&r.open_device_1_1, "ibv_open_device", "IBVERBS_1.1");
    Find(&r.get_device_list_1_1, "ibv_get_device_list", "IBVERBS_1.1");
    Find(&r.devx_obj_create, "mlx5dv_devx_obj_create", "MLX5_1.7");
    return r;
  }();
  return real;
}

const RealCm& RealRdmaCm() {
  static const RealCm real = [] {
    RealCm r;
    Find(&r.resolve_addr, "rdma_resolve_addr", "RDMACM_1.0");
    Find(&r.bind_addr, "rdma_bind_addr", "RDMACM_1.0");
    Find(&r.create_id, "rdma_create_id", "RDMACM_1.0");
    Find(&r.destroy_id, "rdma_destroy_id", "RDMACM_1.0");
    return r;
  }();
  return real;
}

// The calling object is librdmacm: it ties each device it opens to the
// kernel's rdma_cm IDs, so its opens are never redirected.
bool CalledFromRdmaCm(const void* caller) {
  Dl_info info{};
  return caller && dladdr(caller, &info) && info.dli_fname &&
         strstr(info.dli_fname, "librdmacm") != nullptr;
}

bool Ipv4Of(const sockaddr* a, IpAddress* ip, uint16_t* port) {
  if (!a || a->sa_family != AF_INET) return false;
  const auto* in = reinterpret_cast<const sockaddr_in*>(a);
  ip->version = 4;
  ip->bytes = {};
  memcpy(ip->bytes.data(), &in->sin_addr, 4);
  if (port) *port = ntohs(in->sin_port);
  return true;
}

bool IsAnyAddress(const sockaddr* a) {
  if (!a || a->sa_family == AF_UNSPEC) return true;   // Not bound at all.
  if (a->sa_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr ==
           htonl(INADDR_ANY);
  }
  if (a->sa_family == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(
        &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr);
  }
  return false;
}

// The rdma_cm port an ID is bound to, 0 if none (rdma_get_src_port() is
// librdmacm's, which this library does not link).
uint16_t LocalPort(rdma_cm_id* id) {
  const sockaddr* a = rdma_get_local_addr(id);
  if (a->sa_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(a)->sin_port);
  }
  if (a->sa_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(a)->sin6_port);
  }
  return 0;
}

// The source address the kernel's routing gives for 'dst' (a UDP socket
// connected to it: nothing is sent).
bool RouteSource(const sockaddr_in& dst, IpAddress* src) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in to = dst;
  if (to.sin_port == 0) to.sin_port = htons(9);
  sockaddr_in me{};
  socklen_t len = sizeof me;
  const bool ok =
      connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) == 0;
  close(fd);
  return ok && Ipv4Of(reinterpret_cast<const sockaddr*>(&me), src, nullptr);
}

// libibverbs's IBVERBS_1.0 QP (compat-1_0.c): the 1.1 QP is 'real_qp'.
struct QpV10 {
  void* context;
  void* qp_context;
  void* pd;
  void* send_cq;
  void* recv_cq;
  void* srq;
  uint32_t handle;
  uint32_t qp_num;
  ibv_qp_state state;
  ibv_qp_type qp_type;
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  uint32_t events_completed;
  ibv_qp* real_qp;
};

bool Connected(ibv_qp_type type) {
  return type == IBV_QPT_RC || type == IBV_QPT_UC ||
         type == IBV_QPT_XRC_SEND || type == IBV_QPT_XRC_RECV;
}

std::string ProgramName() {
  char buf[64] = "";
  FILE* f = fopen("/proc/self/comm", "re");
  if (f) {
    if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
    fclose(f);
  }
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "?" : s;
}

class Runtime {
 public:
  explicit Runtime(PreloadConfig config)
      : core_(std::move(config)), comm_(ProgramName()) {}

  // The process's runtime, or nullptr when the preload stays out of the
  // way (disabled, or a bad setting: said once).  Created at the first
  // interposed call, in each process (a forked child makes its own: the
  // parent's thread does not exist there).
  static Runtime* Get();

  ibv_context* OpenDevice(ibv_device* device);
  int ResolveAddr(rdma_cm_id* id, sockaddr* src, sockaddr* dst,
                  int timeout_ms);
  int BindAddr(rdma_cm_id* id, sockaddr* addr);
  int ModifyQp(ibv_qp* qp, void* handle, bool v10, ibv_qp_attr* attr,
               int mask);
  void DestroyQp(ibv_qp* qp);
  void DevxUsed(ibv_context* context);

  void Log(PreloadLog level, const char* format, ...)
      __attribute__((format(printf, 3, 4)));
  // Logs once per 'key' for the life of the process.
  bool Once(const std::string& key);

 private:
  struct Tracked {
    ibv_qp* qp = nullptr;
    QpPinRequest req;
    QpPinPlan plan;
    bool mispinned = false;
    // The last LOAD sent (the first sets the agent's baseline).
    bool load_sent = false;
    uint64_t load_bytes = 0;
    // The QP's count when it is one the agent has not been told yet.
    std::optional<uint64_t> NewLoad() const {
      std::optional<uint64_t> bytes = g_send_counters.Read(qp);
      if (!bytes || (load_sent && *bytes == load_bytes)) return std::nullopt;
      return bytes;
    }
  };
  using Key = std::pair<std::string, uint32_t>;   // (device, qpn)

  void Start();
  void Loop();
  // REQUIRES: mu_ held.
  void OpenTable();
  void Refresh();
  void CheckQps();
  void Register(const Key& key, const Tracked& t, AgentQpRole role);
  // Sends the requests queued for the agent, in order, and empties the
  // queue.  REQUIRES: mu_ held.  Blocks (HELLO) only when the client is
  // not connected and may connect again.
  void SendPending();
  // Queues LOAD for 'key' with 'bytes', now 't''s last report.
  void QueueLoad(const Key& key, Tracked& t, uint64_t bytes);
  // Every second: each tracked QP's bytes to the agent (LOAD).
  void ReportLoad();
  // mlx5 in balance-tcp: a new pinned port for a live QP, in RTS
  // (mlx5dv_modify_qp_udp_sport()).  False when it cannot.
  bool MoveInPlace(const Key& key, Tracked& t, const std::string& why);
  void Wake();

  std::mutex mu_;
  PreloadCore core_;
  const std::string comm_;
  std::unique_ptr<TableReader> reader_;
  std::unique_ptr<ChangeNotifier> notifier_;
  std::chrono::steady_clock::time_point next_open_{};
  AgentClient agent_;
  bool agent_tried_ = false;
  std::chrono::steady_clock::time_point next_load_{};
  std::map<ibv_context*, std::string> redirected_;  // -> asked device.
  std::map<Key, Tracked> qps_;
  // Requests for the agent, sent by the thread.
  struct Pending {
    enum Kind { kQp, kDel, kPaths, kLoad } kind = kQp;
    QpRegistration reg;             // kPaths: bond and dst only.
    uint64_t bytes = 0;             // kLoad.
  };
  std::vector<Pending> pending_;
  std::set<std::string> once_;
  int wake_fd_ = -1;
};

std::atomic<Runtime*> g_runtime{nullptr};
std::atomic<pid_t> g_runtime_pid{0};
std::mutex g_runtime_mu;

Runtime* Runtime::Get() {
  const pid_t pid = getpid();
  Runtime* r = g_runtime.load(std::memory_order_acquire);
  if (g_runtime_pid.load(std::memory_order_acquire) == pid) return r;
  std::lock_guard<std::mutex> lock(g_runtime_mu);
  if (g_runtime_pid.load(std::memory_order_relaxed) == pid) {
    return g_runtime.load(std::memory_order_relaxed);
  }
  PreloadConfig config =
      ParsePreloadConfig([](const char* name) { return getenv(name); });
  Runtime* fresh = nullptr;
  if (!config.errors.empty()) {
    for (const std::string& e : config.errors) {
      fprintf(stderr, "librdmabond-preload[%d]: %s: not pinning anything\n",
              static_cast<int>(pid), e.c_str());
    }
  } else if (!config.disabled) {
    // Never freed: other threads may be inside it at exit.
    fresh = new Runtime(std::move(config));
    fresh->Start();
  }
  g_runtime.store(fresh, std::memory_order_release);
  g_runtime_pid.store(pid, std::memory_order_release);
  return fresh;
}

void Runtime::Log(PreloadLog level, const char* format, ...) {
  if (core_.config().log < level) return;
  char line[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  fprintf(stderr, "librdmabond-preload[%d]: %s\n", static_cast<int>(getpid()),
          line);
}

bool Runtime::Once(const std::string& key) {
  return once_.insert(key).second;
}

void Runtime::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  OpenTable();
  // The thread is detached and never stopped: at exit the process ends
  // it, and nothing it holds needs more than the kernel's cleanup (the
  // agent drops a client's QPs when its socket closes).
  std::thread([this] { Loop(); }).detach();
}

void Runtime::Wake() {
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof one);
    (void) n;
  }
}

void Runtime::OpenTable() {
  if (reader_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_open_) return;
  next_open_ = now + std::chrono::seconds(1);
  const std::string& path = core_.config().table_path;
  Result<std::unique_ptr<ChangeNotifier>> n = ChangeNotifier::Start(path);
  Result<std::unique_ptr<TableReader>> r = TableReader::Open(path);
  if (!n.ok() || !r.ok()) {
    const Status& s = !r.ok() ? r.status() : n.status();
    if (Once("table")) {
      Log(s.IsNotFound() ? PreloadLog::kDebug : PreloadLog::kInfo,
          "no bond table (%s): not pinning until it appears",
          s.ToString().c_str());
    }
    return;
  }
  notifier_ = std::move(*n);
  reader_ = std::move(*r);
  Refresh();
}

void Runtime::Refresh() {
  if (!reader_) return;
  Result<TableSnapshot> s = reader_->Snapshot();
  if (!s.ok()) {
    Log(PreloadLog::kInfo, "cannot read the bond table: %s",
        s.status().ToString().c_str());
    core_.SetTable(std::nullopt);
    return;
  }
  core_.SetTable(std::move(*s));
}

void Runtime::Register(const Key& key, const Tracked& t, AgentQpRole role) {
  Pending p;
  p.reg.qpn = key.second;
  p.reg.rnic = key.first;
  p.reg.bond = t.plan.bond;
  p.reg.member = t.plan.member;
  p.reg.src = t.plan.src;
  p.reg.dst = t.plan.dst;
  p.reg.sport = t.plan.sport;
  p.reg.role = role;
  pending_.push_back(std::move(p));
  Wake();
}

void Runtime::Loop() {
  for (;;) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (notifier_) fds[1].fd = notifier_->Fd();
    }
    int n = poll(fds, 2, 1000);
    if (n < 0 && errno != EINTR) sleep(1);
    std::lock_guard<std::mutex> lock(mu_);
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      ssize_t r = read(wake_fd_, &v, sizeof v);
      (void) r;
    }
    if (!reader_) {
      OpenTable();
      if (reader_) CheckQps();
    } else if (fds[1].revents & POLLIN) {
      TableEvents ev = notifier_->Consume();
      if (ev.restarted) {
        Result<Reattachment> a = reader_->Reattach();
        if (!a.ok()) {
          Log(PreloadLog::kInfo, "cannot follow the restarted table: %s",
              a.status().ToString().c_str());
        }
      }
      if (ev.changed || ev.restarted) {
        Refresh();
        CheckQps();
      }
    }
    // The agent: connected lazily, once there is something to tell it.
    if (!pending_.empty() || agent_.connected() ||
        !agent_.registrations().empty()) {
      if (!agent_tried_) {
        agent_tried_ = true;
        Status s = agent_.Connect(
            DefaultAgentSocketPath(core_.config().table_path),
            kAgentTimeout);
        if (!s.ok() && Once("agent")) {
          Log(s.IsNotFound() ? PreloadLog::kDebug : PreloadLog::kInfo,
              "the agent does not list this program's QPs as managed: %s",
              s.ToString().c_str());
        }
      }
      SendPending();
      ReportLoad();
      agent_.Maintain();
    }
  }
}

void Runtime::SendPending() {
  for (Pending& p : pending_) {
    switch (p.kind) {
      // A failure keeps the registration in the client, which sends it
      // again once it reconnects: nothing to do here.
      case Pending::kQp: (void) agent_.RegisterQp(p.reg); break;
      case Pending::kDel:
        (void) agent_.RemoveQp(p.reg.qpn, p.reg.rnic);
        break;
      case Pending::kPaths:
        (void) agent_.RequestPaths(p.reg.bond, p.reg.dst);
        break;
      case Pending::kLoad:
        (void) agent_.ReportLoad(p.reg.qpn, p.reg.rnic, p.bytes);
        break;
    }
  }
  pending_.clear();
}

void Runtime::QueueLoad(const Key& key, Tracked& t, uint64_t bytes) {
  Pending p;
  p.kind = Pending::kLoad;
  p.reg.qpn = key.second;
  p.reg.rnic = key.first;
  p.bytes = bytes;
  pending_.push_back(std::move(p));
  t.load_sent = true;
  t.load_bytes = bytes;
}

void Runtime::ReportLoad() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_load_ || !agent_.connected() || !agent_.load_supported()) {
    return;
  }
  next_load_ = now + std::chrono::seconds(1);
  for (auto& [key, t] : qps_) {
    std::optional<uint64_t> bytes = t.NewLoad();
    if (!bytes) continue;
    if (!agent_.ReportLoad(key.second, key.first, *bytes).ok()) return;
    t.load_sent = true;
    t.load_bytes = *bytes;
  }
}

void Runtime::CheckQps() {
  for (auto& [key, t] : qps_) {
    std::optional<std::string> why = core_.Check(t.plan);
    if (!why) {
      if (t.mispinned) {
        Log(PreloadLog::kInfo, "QP %u on %s (%s) is pinned again",
            key.second, key.first.c_str(), t.plan.member.c_str());
        t.mispinned = false;
        Register(key, t, AgentQpRole::kActive);
      }
      continue;
    }
    if (t.mispinned) continue;
    if (MoveInPlace(key, t, *why)) continue;
    t.mispinned = true;
    if (core_.config().on_mispin == MispinPolicy::kError) {
      ibv_qp_attr a{};
      a.qp_state = IBV_QPS_ERR;
      const int rc = Real().modify_qp_1_1
                         ? Real().modify_qp_1_1(t.qp, &a, IBV_QP_STATE)
                         : ENOSYS;
      Log(PreloadLog::kInfo,
          "QP %u on %s (%s, bond %s) is mispinned: %s; moved it to the "
          "error state (RDMA_BOND_PRELOAD_ON_MISPIN=error)%s%s",
          key.second, key.first.c_str(), t.plan.member.c_str(),
          t.plan.bond.c_str(), why->c_str(), rc ? ": failed: " : "",
          rc ? strerror(rc) : "");
      Register(key, t, AgentQpRole::kDown);
    } else {
      Log(PreloadLog::kInfo,
          "QP %u on %s (%s, bond %s) is mispinned: %s; it keeps sending "
          "from %s (RDMA_BOND_PRELOAD_ON_MISPIN=keep)",
          key.second, key.first.c_str(), t.plan.member.c_str(),
          t.plan.bond.c_str(), why->c_str(), t.plan.member.c_str());
    }
  }
}

bool Runtime::MoveInPlace(const Key& key, Tracked& t,
                          const std::string& why) {
  using SetSport = int (*)(ibv_qp*, uint16_t);
  static const SetSport set_sport = reinterpret_cast<SetSport>(
      dlvsym(RTLD_DEFAULT, "mlx5dv_modify_qp_udp_sport", "MLX5_1.17"));
  if (!set_sport || key.first.rfind("mlx5", 0) != 0) return false;
  QpPinRequest req = t.req;
  req.flow_label = 0;
  Result<QpPinPlan> plan = core_.PlanQp(req);
  if (!plan.ok() || !plan->pinned || plan->member != t.plan.member) {
    return false;
  }
  const int rc = set_sport(t.qp, plan->sport);
  if (rc != 0) {
    Log(PreloadLog::kInfo,
        "QP %u on %s (%s): %s; mlx5dv_modify_qp_udp_sport(%u) failed: %s",
        key.second, key.first.c_str(), t.plan.member.c_str(), why.c_str(),
        plan->sport, strerror(rc));
    return false;
  }
  Log(PreloadLog::kInfo, "QP %u on %s (%s): %s; moved to source port %u "
      "in place", key.second, key.first.c_str(), t.plan.member.c_str(),
      why.c_str(), plan->sport);
  t.plan = *plan;
  Register(key, t, AgentQpRole::kActive);
  return true;
}

int Runtime::ResolveAddr(rdma_cm_id* id, sockaddr* src, sockaddr* dst,
                         int timeout_ms) {
  const RealCm& cm = RealRdmaCm();
  auto real = [&] {
    if (!cm.resolve_addr) {
      errno = ENOSYS;
      return -1;
    }
    return cm.resolve_addr(id, src, dst, timeout_ms);
  };
  IpAddress d;
  uint16_t dport = 0;
  if (!id || !Ipv4Of(dst, &d, &dport) || !IsAnyAddress(src) ||
      !cm.bind_addr || !cm.create_id || !cm.destroy_id) {
    return real();
  }
  // Bound already (rdma_bind_addr): the program chose.
  if (LocalPort(id) != 0 || !IsAnyAddress(rdma_get_local_addr(id))) {
    return real();
  }
  IpAddress s;
  if (!RouteSource(*reinterpret_cast<const sockaddr_in*>(dst), &s)) {
    std::lock_guard<std::mutex> lock(mu_);
    Log(PreloadLog::kDebug, "rdma_cm ID toward %s: no route", ToString(d).c_str());
    return real();
  }
  std::optional<AddressOwner> owner;
  {
    std::lock_guard<std::mutex> lock(mu_);
    OpenTable();
    owner = core_.BondOfAddress(s);
    if (!owner) {
      Log(PreloadLog::kDebug,
          "rdma_cm ID toward %s: source %s is no RNIC's address on a bond "
          "member: left alone", ToString(d).c_str(), ToString(s).c_str());
    }
  }
  if (!owner) return real();
  // rdma_cm cannot resolve a peer through the bridge (its address is a
  // GID of no RNIC): bound to the bond's address, the ID gets the RNIC of
  // the member the kernel finds holding it.  Which one, a scratch ID says.
  sockaddr_in b{};
  b.sin_family = AF_INET;
  memcpy(&b.sin_addr, s.bytes.data(), 4);
  std::string device;
  uint32_t port = 1;
  rdma_cm_id* scratch = nullptr;
  if (cm.create_id(nullptr, &scratch, nullptr, id->ps) == 0) {
    if (cm.bind_addr(scratch, reinterpret_cast<sockaddr*>(&b)) == 0 &&
        scratch->verbs) {
      device = scratch->verbs->device->name;
      port = scratch->port_num ? scratch->port_num : 1;
    }
    cm.destroy_id(scratch);
  }
  std::vector<uint16_t> ports;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string member = core_.MemberOfDevice(device, port);
    const Bond* bond = core_.BondOfMember(member);
    const Member* active = bond ? bond->active() : nullptr;
    if (member.empty()) {
      if (Once("cm-nodev:" + ToString(s))) {
        Log(PreloadLog::kInfo, "rdma_cm finds no RNIC of bond %s for %s: "
            "not pinning its connections", owner->bond.c_str(),
            ToString(s).c_str());
      }
    } else {
      if (bond && bond->mode == BondMode::kActiveBackup && active &&
          active->name != member && Once("cm-standby:" + member)) {
        Log(PreloadLog::kInfo,
            "rdma_cm binds %s to %s (%s), not to the active member %s of "
            "bond %s (the kernel takes the member that got the address "
            "last): its QPs send from a standby",
            ToString(s).c_str(), device.c_str(), member.c_str(),
            active->name.c_str(), owner->bond.c_str());
      }
      uint32_t seed = 0;
      if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = getpid();
      Result<std::vector<uint16_t>> found =
          core_.CmPortsFor(owner->bond, member, s, d, dport, 32, seed);
      if (found.ok()) {
        ports = std::move(*found);
      } else if (Once("cm-ports:" + member)) {
        Log(PreloadLog::kInfo, "rdma_cm ID toward %s: %s",
            ToString(d).c_str(), found.status().message().c_str());
      }
    }
  }
  ports.push_back(0);   // At last, any port the kernel picks.
  int rc = -1;
  for (uint16_t p : ports) {
    b.sin_port = htons(p);
    rc = cm.bind_addr(id, reinterpret_cast<sockaddr*>(&b));
    if (rc == 0 || errno != EADDRINUSE) break;
  }
  if (rc != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    if (Once("cm-bind")) {
      Log(PreloadLog::kInfo, "cannot bind an rdma_cm ID to %s: %s",
          ToString(s).c_str(), strerror(errno));
    }
    return real();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Log(PreloadLog::kDebug,
        "rdma_cm ID toward %s:%u bound to %s:%u (%s): UDP source port %u",
        ToString(d).c_str(), dport, ToString(s).c_str(),
        LocalPort(id), device.c_str(), RdmaCmUdpSport(LocalPort(id), dport));
  }
  return cm.resolve_addr(id, nullptr, dst, timeout_ms);
}

int Runtime::BindAddr(rdma_cm_id* id, sockaddr* addr) {
  const RealCm& cm = RealRdmaCm();
  if (!cm.bind_addr) {
    errno = ENOSYS;
    return -1;
  }
  IpAddress s;
  uint16_t port = 0;
  if (!Ipv4Of(addr, &s, &port) || port == 0 || IsAnyAddress(addr)) {
    return cm.bind_addr(id, addr);
  }
  std::optional<AddressOwner> owner;
  {
    std::lock_guard<std::mutex> lock(mu_);
    OpenTable();
    owner = core_.BondOfAddress(s);
    if (owner && owner->members.size() > 1 &&
        Once("listen:" + ToString(s) + ":" + std::to_string(port))) {
      std::string members;
      for (const std::string& m : owner->members) {
        members += (members.empty() ? "" : ", ") + m;
      }
      Log(PreloadLog::kInfo,
          "%s binds rdma_cm port %u to %s, an address of bond %s on the "
          "RNICs of %s: bound to the wildcard address instead, so that it "
          "listens on all of them (rdma_cm ties an address to one RNIC)",
          comm_.c_str(), port, ToString(s).c_str(), owner->bond.c_str(),
          members.c_str());
    }
  }
  if (!owner || owner->members.size() < 2) return cm.bind_addr(id, addr);
  sockaddr_in any = *reinterpret_cast<const sockaddr_in*>(addr);
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  if (cm.bind_addr(id, reinterpret_cast<sockaddr*>(&any)) == 0) return 0;
  // The port is taken on another address: what the program asked for.
  const int error = errno;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Log(PreloadLog::kInfo, "cannot bind rdma_cm port %u to the wildcard "
        "address (%s): bound to %s as asked; it listens on one RNIC",
        port, strerror(error), ToString(s).c_str());
  }
  return cm.bind_addr(id, addr);
}

ibv_context* Runtime::OpenDevice(ibv_device* device) {
  const RealVerbs& real = Real();
  if (!real.open_device_1_1) return nullptr;
  std::unique_lock<std::mutex> lock(mu_);
  OpenTable();
  std::optional<DeviceRedirect> r = core_.RedirectFor(device->name);
  if (!r) {
    lock.unlock();
    return real.open_device_1_1(device);
  }
  ibv_device* to = nullptr;
  if (real.get_device_list_1_1) {
    // The list is kept (never freed): 'to' must stay valid as long as a
    // context on it is open.
    static ibv_device** list = nullptr;
    if (!list) list = real.get_device_list_1_1(nullptr);
    for (ibv_device** d = list; d && *d; d++) {
      if (r->to_device == (*d)->name) to = *d;
    }
  }
  if (!to) {
    if (Once("noredirect:" + r->to_device)) {
      Log(PreloadLog::kInfo,
          "%s opened %s (%s, not the active member of bond %s) and the "
          "active member's device %s is not in the device list: no "
          "redirect",
          comm_.c_str(), device->name, r->from_member.c_str(),
          r->bond.c_str(), r->to_device.c_str());
    }
    lock.unlock();
    return real.open_device_1_1(device);
  }
  lock.unlock();
  ibv_context* ctx = real.open_device_1_1(to);
  lock.lock();
  if (!ctx) return nullptr;
  redirected_[ctx] = device->name;
  if (Once("redirect:" + std::string(device->name))) {
    Log(PreloadLog::kInfo,
        "%s opened %s (%s, standby of bond %s): it gets %s (%s, the active "
        "member) instead",
        comm_.c_str(), device->name, r->from_member.c_str(), r->bond.c_str(),
        r->to_device.c_str(), r->to_member.c_str());
  }
  return ctx;
}

int Runtime::ModifyQp(ibv_qp* qp, void* handle, bool v10, ibv_qp_attr* attr,
                      int mask) {
  const RealVerbs& real = Real();
  auto call = [&](ibv_qp_attr* a) {
    if (v10) {
      return real.modify_qp_1_0 ? real.modify_qp_1_0(handle, a, mask)
                                : ENOSYS;
    }
    return real.modify_qp_1_1 ? real.modify_qp_1_1(qp, a, mask) : ENOSYS;
  };
  if (!attr || !(mask & IBV_QP_AV) || !attr->ah_attr.is_global ||
      !Connected(qp->qp_type)) {
    return call(attr);
  }
  std::unique_lock<std::mutex> lock(mu_);
  OpenTable();
  QpPinRequest req;
  req.device = qp->context->device->name;
  req.port = attr->ah_attr.port_num ? attr->ah_attr.port_num : 1;
  req.sgid_index = attr->ah_attr.grh.sgid_index;
  memcpy(req.dgid.data(), attr->ah_attr.grh.dgid.raw, req.dgid.size());
  req.flow_label = attr->ah_attr.grh.flow_label;
  req.qpn = qp->qp_num;
  req.dest_qpn = (mask & IBV_QP_DEST_QPN) ? attr->dest_qp_num : 0;
  auto red = redirected_.find(qp->context);
  if (red != redirected_.end()) req.asked_device = red->second;
  Result<QpPinPlan> plan = core_.PlanQp(req);
  if (plan.ok() && plan->pinned) {
    // Ports the agent validated toward the peer, when it has some.
    const AgentPathsAnswer* a = agent_.LatestPaths(plan->bond, plan->dst);
    if (a && a->paths.ok()) {
      std::vector<uint16_t> ports;
      for (const AgentPath& p : *a->paths) {
        if (p.local_member == plan->member) {
          ports.insert(ports.end(), p.sports.begin(), p.sports.end());
        }
      }
      if (!ports.empty()) {
        Result<QpPinPlan> v = core_.PlanQp(req, ports);
        if (v.ok()) plan = std::move(v);
      }
    }
  }
  if (!plan.ok()) {
    const std::string key = "plan:" + req.device + ":" + plan.status().message();
    if (!plan.status().IsNotFound() || core_.config().log >= PreloadLog::kDebug) {
      if (Once(key)) {
        Log(plan.status().IsNotFound() ? PreloadLog::kDebug : PreloadLog::kInfo,
            "QP %u on %s: not pinned: %s", req.qpn, req.device.c_str(),
            plan.status().message().c_str());
      }
    }
    lock.unlock();
    return call(attr);
  }
  if (plan->wrong_member &&
      core_.config().on_mispin == MispinPolicy::kError) {
    // Mispinned from the start: under "error" it never sends.  The
    // program fails this connection; a new one (after the agent made the
    // active member's RNIC the one rdma_cm binds to) lands right.
    Log(PreloadLog::kInfo,
        "QP %u on %s (%s, bond %s) would send from a member OVS does not "
        "use: %s; its move to RTR fails (RDMA_BOND_PRELOAD_ON_MISPIN=error)",
        req.qpn, req.device.c_str(), plan->member.c_str(),
        plan->bond.c_str(), plan->why.c_str());
    return EHOSTUNREACH;
  }
  ibv_qp_attr local = *attr;
  local.ah_attr.grh.sgid_index = static_cast<uint8_t>(plan->sgid_index);
  if (plan->pinned) local.ah_attr.grh.flow_label = plan->flow_label;
  lock.unlock();
  const int rc = call(&local);
  if (rc != 0) return rc;
  lock.lock();
  const Key key{req.device, req.qpn};
  Tracked& t = qps_[key];
  t.qp = qp;
  // Its bytes, for the agent's LOAD.
  const char* uncounted = g_send_counters.Add(qp)
                              ? WrapPostSend(qp->context)
                              : "more than 8192 QPs";
  if (uncounted && Once(std::string("uncounted:") + uncounted)) {
    Log(PreloadLog::kInfo, "QP %u on %s: its bytes are not counted for "
        "OVS's rebalancing (%s)", req.qpn, req.device.c_str(), uncounted);
  }
  t.req = req;
  t.plan = *plan;
  t.mispinned = !plan->pinned;
  if (plan->pinned) {
    Log(PreloadLog::kDebug,
        "QP %u on %s (%s, bond %s): %s:%u > %s flow label 0x%x",
        req.qpn, req.device.c_str(), plan->member.c_str(),
        plan->bond.c_str(), ToString(plan->src).c_str(), plan->sport,
        ToString(plan->dst).c_str(), plan->flow_label);
  } else if (Once("unpinned:" + plan->member)) {
    Log(PreloadLog::kInfo, "QP %u on %s (%s, bond %s) cannot be pinned: %s",
        req.qpn, req.device.c_str(), plan->member.c_str(),
        plan->bond.c_str(), plan->why.c_str());
  }
  Register(key, t, AgentQpRole::kActive);
  // Its count from the start: the agent takes a QP's first LOAD as its
  // baseline, which must not swallow the bytes of its first second.
  if (std::optional<uint64_t> bytes = t.NewLoad()) QueueLoad(key, t, *bytes);
  if (!agent_.LatestPaths(plan->bond, plan->dst)) {
    // Ask now, so that the next QPs toward this peer can use them; the
    // thread sends it.
    Pending p;
    p.kind = Pending::kPaths;
    p.reg.bond = plan->bond;
    p.reg.dst = plan->dst;
    pending_.push_back(std::move(p));
    Wake();
  }
  return 0;
}

void Runtime::DestroyQp(ibv_qp* qp) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = qps_.begin(); it != qps_.end(); ++it) {
    if (it->second.qp == qp) {
      // Its last bytes first: the report of every second may be up to a
      // second behind.
      if (std::optional<uint64_t> bytes = it->second.NewLoad()) {
        QueueLoad(it->first, it->second, *bytes);
      }
      Pending p;
      p.kind = Pending::kDel;
      p.reg.qpn = it->first.second;
      p.reg.rnic = it->first.first;
      pending_.push_back(std::move(p));
      qps_.erase(it);
      g_send_counters.Remove(qp);
      if (agent_.connected()) {
        // Sent here, not by the thread: a program often exits right
        // after destroying its QPs, before the thread would run, and its
        // last bytes would never reach the agent.  Connected, nothing
        // here blocks (the socket is non-blocking, no answer is awaited).
        SendPending();
      } else {
        Wake();
      }
      return;
    }
  }
}

void Runtime::DevxUsed(ibv_context* context) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Once("devx")) {
    Log(PreloadLog::kInfo,
        "%s creates DEVX objects on %s: QPs made through DEVX (UCX's default "
        "on mlx5) bypass ibv_modify_qp and cannot be pinned; run UCX with "
        "UCX_IB_MLX5_DEVX_OBJECTS= (empty) so that it makes verbs QPs",
        comm_.c_str(), context ? context->device->name : "?");
  }
}

}  // namespace

// The interposed symbols: their C names are local (preload.map), the
// versioned names are what programs bind to.
extern "C" {

__attribute__((visibility("default"))) int rdmabond_preload_modify_qp_1_1(
    ibv_qp* qp, ibv_qp_attr* attr, int mask) {
  Runtime* r = Runtime::Get();
  if (!r) {
    return Real().modify_qp_1_1 ? Real().modify_qp_1_1(qp, attr, mask)
                                : ENOSYS;
  }
  return r->ModifyQp(qp, qp, false, attr, mask);
}
__asm__(".symver rdmabond_preload_modify_qp_1_1,ibv_modify_qp@@IBVERBS_1.1");

__attribute__((visibility("default"))) int rdmabond_preload_modify_qp_1_0(
    void* qp, ibv_qp_attr* attr, int mask) {
  Runtime* r = Runtime::Get();
  ibv_qp* real_qp = qp ? static_cast<QpV10*>(qp)->real_qp : nullptr;
  if (!r || !real_qp) {
    return Real().modify_qp_1_0 ? Real().modify_qp_1_0(qp, attr, mask)
                                : ENOSYS;
  }
  return r->ModifyQp(real_qp, qp, true, attr, mask);
}
__asm__(".symver rdmabond_preload_modify_qp_1_0,ibv_modify_qp@IBVERBS_1.0");

__attribute__((visibility("default"))) int rdmabond_preload_destroy_qp_1_1(
    ibv_qp* qp) {
  if (Runtime* r = Runtime::Get()) r->DestroyQp(qp);
  return Real().destroy_qp_1_1 ? Real().destroy_qp_1_1(qp) : ENOSYS;
}
__asm__(".symver rdmabond_preload_destroy_qp_1_1,ibv_destroy_qp@@IBVERBS_1.1");

__attribute__((visibility("default"))) int rdmabond_preload_destroy_qp_1_0(
    void* qp) {
  Runtime* r = Runtime::Get();
  if (r && qp) r->DestroyQp(static_cast<QpV10*>(qp)->real_qp);
  return Real().destroy_qp_1_0 ? Real().destroy_qp_1_0(qp) : ENOSYS;
}
__asm__(".symver rdmabond_preload_destroy_qp_1_0,ibv_destroy_qp@IBVERBS_1.0");

__attribute__((visibility("default"))) ibv_context*
rdmabond_preload_open_device_1_1(ibv_device* device) {
  Runtime* r = Runtime::Get();
  if (!r || !device || CalledFromRdmaCm(__builtin_return_address(0))) {
    if (!Real().open_device_1_1) {
      errno = ENOSYS;
      return nullptr;
    }
    return Real().open_device_1_1(device);
  }
  return r->OpenDevice(device);
}
__asm__(".symver rdmabond_preload_open_device_1_1,"
        "ibv_open_device@@IBVERBS_1.1");

__attribute__((visibility("default"))) void*
rdmabond_preload_devx_obj_create(ibv_context* context, const void* in,
                                 size_t inlen, void* out, size_t outlen) {
  if (Runtime* r = Runtime::Get()) r->DevxUsed(context);
  if (!Real().devx_obj_create) {
    errno = EOPNOTSUPP;
    return nullptr;
  }
  return Real().devx_obj_create(context, in, inlen, out, outlen);
}
__asm__(".symver rdmabond_preload_devx_obj_create,"
        "mlx5dv_devx_obj_create@@MLX5_1.7");

__attribute__((visibility("default"))) int rdmabond_preload_resolve_addr(
    rdma_cm_id* id, sockaddr* src, sockaddr* dst, int timeout_ms) {
  Runtime* r = Runtime::Get();
  if (!r) {
    if (!RealRdmaCm().resolve_addr) {
      errno = ENOSYS;
      return -1;
    }
    return RealRdmaCm().resolve_addr(id, src, dst, timeout_ms);
  }
  return r->ResolveAddr(id, src, dst, timeout_ms);
}
__asm__(".symver rdmabond_preload_resolve_addr,rdma_resolve_addr@@RDMACM_1.0");

__attribute__((visibility("default"))) int rdmabond_preload_bind_addr(
    rdma_cm_id* id, sockaddr* addr) {
  Runtime* r = Runtime::Get();
  if (!r) {
    if (!RealRdmaCm().bind_addr) {
      errno = ENOSYS;
      return -1;
    }
    return RealRdmaCm().bind_addr(id, addr);
  }
  return r->BindAddr(id, addr);
}
__asm__(".symver rdmabond_preload_bind_addr,rdma_bind_addr@@RDMACM_1.0");

}  // extern "C"
