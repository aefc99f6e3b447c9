// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// AgentCore: everything ovs-rdma-bond-agent does, without its daemon
// plumbing (agent_main.c) so that tests can run it in-process.
//
// - Follows the table: attaches when the file appears, reattaches when
//   ovs-vswitchd restarts (new instance id), notices a stale or exited
//   writer.  The agent itself may restart at any time: everything it
//   knows is rebuilt from the table and from the applications, which
//   register again when their registry connection breaks.
// - Keeps the QP registry (registry.h) and checks every QP that carries
//   traffic against OVS's own decision for its 5-tuple (Predictor): a QP
//   whose member is not the one OVS would use is *mispinned*.  The count
//   must return to zero after every bond change; how long that took after
//   the table's change time is the "re-pin gap" of that change.
// - Writes the summary that ovs-vswitchd's "rdma-bond/show" prints, and
//   the metrics (Prometheus text) to a textfile and to "rdma-bond/metrics".
// - Probes L4 paths with the peers' agents (see path_prober.h) and answers
//   the registry's PATHS with what probing validated.
//
// Thread-safety: one thread calls everything (the agent's main loop).

#ifndef RDMA_BOND_AGENT_AGENT_CORE_H_
#define RDMA_BOND_AGENT_AGENT_CORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/host_qps.h"
#include "agent/load_table.h"
#include "agent/probe_service.h"
#include "common/trusted_file.h"  // WriteAtomically()
#include "agent/rdma_netlink.h"
#include "agent/registry.h"
#include "rdma_bond/change_notifier.h"
#include "rdma_bond/predictor.h"
#include "common/trusted_file.h"  // WriteAtomically()
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond::agent {

class ProbeService;
class RocePlumbing;

// The plumbing's saved state in the agent's directory.
inline constexpr std::string_view kRoceStateName = "roce-plumbing";

// How often an agent without a table looks for it again.
inline constexpr uint64_t kAttachRetryMs = 500;
// How often every QP on the host is listed (RDMA netlink) and judged.
inline constexpr uint64_t kHostQpScanMs = 2000;
// Warnings about mispinned QPs that the agent does not manage: at most
// this many a minute (each QP is named once).
inline constexpr int kHostQpWarningsPerMinute = 10;
// The longest the main loop sleeps: health and the textfile are refreshed
// at least this often.
inline constexpr uint64_t kMaxSleepMs = 1000;

struct AgentOptions {
  std::string table_path;       // "" = DefaultTablePath().
  std::string socket_path;      // "" = in the agent's directory.
  std::string summary_path;     // "" = in the agent's directory.
  // The load table (load_table.h); "" = RDMA_BOND_LOAD_NAME next to the
  // registry socket.
  std::string load_path;
  std::string metrics_file;     // "" = none.
  AccessPolicy policy;
  std::vector<IpAddress> peers;
  bool probe = true;
  // The probes' shared key file (probe_keys.h); "" = none.
  std::string probe_key_file;
  // "auto", "ud" or "af-packet" (ProbeTransport); "" = auto.
  std::string probe_transport;
  // Whether the agent keeps the host's RoCE plumbing (roce_plumbing.h).
  bool manage_roce = true;
  // Where the plumbing keeps the sysctls' original values; "" = in the
  // agent's directory.
  std::string roce_state_path;
  // Overrides for tests (RocePlumbing::Options); empty = the real ones.
  std::function<std::string(const std::string& netdev,
                            const std::string& pci)>
      rdma_port;
  std::function<std::string(const std::string&)> bridge_of;
  // Where sysfs is mounted (tests: a fake tree).
  std::string sysfs_root = "/sys";
  // Whether the members' RDMA device counters count as load
  // (MemberDeviceLoad): "auto" (where the device is one whose counter
  // counts only RDMA: mlx5) or "off"; "" = auto.
  std::string device_counters;
  // How long a learned peer that nothing names is kept (tests shorten it).
  uint64_t peer_idle_ms = kPeerIdleMs;
  // Receives log lines (level as in agent.h's rdma_bond_agent_log_level).
  std::function<void(int level, const std::string&)> log;
};

// The summary's file name in the agent's directory
// (DefaultAgentDirectory() in rdma_bond/agent_client.h).
inline constexpr std::string_view kAgentSummaryName = "summary";

// Makes sure that 'dir', the agent's directory, is one that only this
// process's user can write: creates it (mode 0755) when it is missing and
// its parent lets us, and refuses one that is a symbolic link, not a
// directory, owned by another user, writable by group or others, or below
// a directory that others could write (docs/security.md).
Status PrepareAgentDirectory(const std::string& dir);

// What the agent concluded about one registered QP.
struct QpVerdict {
  enum class State : uint8_t {
    kPinned,        // Active, and OVS uses its member for its 5-tuple.
    kMispinned,     // Active, and OVS would use another member (or drop).
    kStandby,       // Standby or down: not checked.
    kNoBond,        // Its bond is not published (or no table).
  };
  State state = State::kNoBond;
  std::string ovs_member;       // OVS's member for the 5-tuple, "" if none.
  Prediction prediction;
  std::string reason;           // Predictor::Reason() or why not checked.
};
std::string_view ToString(QpVerdict::State state);

// Per-bond counters kept by the agent.
struct BondCounters {
  uint64_t failovers = 0;       // Active member changes, members disabled.
  uint64_t repins = 0;          // QP updates that changed member or sport.
  std::optional<uint64_t> last_repin_ns;   // As reported by the library.
  std::optional<uint64_t> last_gap_ns;     // Change time -> 0 mispinned.
  std::optional<uint64_t> pending_change_ns;  // A failover not yet healed.
};

class AgentCore {
 public:
  static Result<std::unique_ptr<AgentCore>> Create(AgentOptions options);
  ~AgentCore();
  AgentCore(const AgentCore&) = delete;
  AgentCore& operator=(const AgentCore&) = delete;

  void Run();
  // Descriptors for POLLIN into 'fds'; returns the longest sleep in ms.
  int Wait(std::vector<int>* fds);
  // Before the process ends (the destructor, or a fatal signal): the
  // metrics textfile says rdma_bond_agent_attached 0, the summary is
  // removed.  Idempotent; the agent must not Run() afterwards.
  void Shutdown();
  // Undoes the RoCE plumbing ("exit --cleanup"); OK when it is off.
  Status CleanupRoce();
  // "show", "qps [BOND]", "paths [PEER]", "explain QP", "metrics".
  Result<std::string> Command(const std::vector<std::string>& argv);

  bool attached() const { return reader_ != nullptr; }
  const AgentOptions& options() const { return options_; }
  const RegistryServer& registry() const { return *registry_; }
  const RocePlumbing* roce() const { return roce_.get(); }
  // The verdict on a registered QP under the current snapshot.
  QpVerdict Judge(const QpRecord& qp) const;
  // Active QPs that OVS agrees with / disagrees with, over all bonds.
  size_t pinned() const { return pinned_; }
  size_t mispinned() const { return mispinned_; }
  const std::map<std::string, BondCounters>& counters() const {
    return counters_;
  }
  std::string MetricsText() const;
  // The RDMA load measured per published bond (LOAD), cumulative.
  const std::map<std::string, BondLoad>& loads() const { return loads_; }
  const LoadTable* load_table() const { return load_table_.get(); }
  // Publishes the load now (Run() does every kLoadPublishMs).
  void PublishLoad();

 private:
  // Adds 'bytes' that 'qp' sent (LOAD) to its bond's load.
  void AccountLoad(const QpRecord& qp, uint64_t bytes);
  // Reads the device counter of every member of the published bonds and
  // adds what the QPs did not report to its pinned load.
  void ReadDeviceCounters();
  // Where 'qp''s bytes count: true and its bucket if it follows its
  // bucket; false if they stay on its member.  nullopt: not counted (its
  // bond or member is not published).
  std::optional<std::pair<bool, uint8_t>> LoadPlace(const QpRecord& qp) const;
  explicit AgentCore(AgentOptions options);
  void Log(int level, const std::string& message) const;
  void TryAttach(uint64_t now_ms);
  void Detach(const std::string& why);
  void TakeSnapshot();
  void NoteBondChanges(const TableSnapshot& old_snapshot);
  void Evaluate();
  void WriteSummary();
  void WriteMetrics(uint64_t now_ms);
  std::string PathsReply(const std::string& bond, const IpAddress& dst);
  // Lists and judges every QP on the host; 'warn' logs the mispinned ones
  // that the agent does not manage.
  void ScanHostQps(bool warn);
  Result<std::string> HostQpsText(const std::vector<std::string>& argv);
  Result<std::string> ExplainHostQpText(const std::string& arg);
  const Predictor* PredictorFor(const std::string& bond) const;

  std::string ShowText() const;
  Result<std::string> QpsText(const std::vector<std::string>& argv) const;
  Result<std::string> ExplainText(const std::vector<std::string>& argv) const;
  Result<std::string> PathsText(const std::vector<std::string>& argv) const;

  AgentOptions options_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<TableReader> reader_;
  std::unique_ptr<ChangeNotifier> notifier_;
  std::optional<TableSnapshot> snapshot_;
  std::map<std::string, Predictor> predictors_;      // By bond name.
  std::map<std::string, std::string> predict_errors_;  // Why none.
  std::string attach_error_;    // Why not attached ("" if attached).
  uint64_t next_attach_ms_ = 0;
  uint64_t attaches_ = 0;
  uint64_t restarts_ = 0;       // vswitchd restarts followed.
  bool writer_stale_ = false;
  bool writer_exited_ = false;
  size_t pinned_ = 0, mispinned_ = 0;
  std::map<std::string, BondCounters> counters_;
  std::string summary_written_;
  std::string metrics_written_;
  uint64_t metrics_due_ms_ = 0;
  // The last textfile error, when it was last logged and how often it
  // repeated since: a failing write is logged once a minute, not every
  // second.
  std::string metrics_error_;
  uint64_t metrics_error_logged_ms_ = 0;
  uint64_t metrics_error_repeats_ = 0;
  bool shut_down_ = false;
  std::unique_ptr<ProbeService> probe_;
  std::unique_ptr<RocePlumbing> roce_;
  // Every QP on the host (ScanHostQps()).
  std::optional<RdmaNetlink> rdma_netlink_;
  std::string host_qps_error_;        // Why the last listing failed.
  std::vector<HostQpView> host_qps_;
  uint64_t next_host_scan_ms_ = 0;
  std::set<std::string> host_qps_warned_;
  // QPs BypassedQps() found, by "rxe1:18:4242": in how many scans in a
  // row (named in the log at the second).
  std::map<std::string, int> host_qps_bypassed_;   // "rxe1:18:4242".
  // QPs that were registered at some time and are still on the host
  // (HostQpKey()): one removed before it is destroyed was not made past
  // the preload.
  std::set<std::string> host_qps_registered_;
  uint64_t host_warning_minute_ms_ = 0;
  int host_warnings_this_minute_ = 0;
  uint64_t host_warnings_suppressed_ = 0;
  bool evaluate_pending_ = false;
  // The RDMA load (load_table.h).
  std::map<std::string, BondLoad> loads_;
  std::unique_ptr<LoadTable> load_table_;
  std::string load_table_error_;
  uint64_t next_load_publish_ms_ = 0;
};

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_AGENT_CORE_H_
