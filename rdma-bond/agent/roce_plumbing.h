// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RocePlumbing: the agent keeps the host's RoCE plumbing in place for
// every published bond whose members have RDMA devices (what, and why:
// roce_plan.h; for operators: docs/agent.md, "RoCE plumbing").
//
// It follows the table (Update()), the host (rtnetlink notifications, and
// a look every second), and applies PlanPlumbing()'s actions; it undoes a
// bond's plumbing when the bond has left a live table for
// Options::removal_grace_ms (other_config:rdma-bond removed), and
// everything on Cleanup() ("ovs-appctl -t ovs-rdma-bond-agent exit
// --cleanup").  A restarted agent, or ovs-vswitchd, finds its plumbing in
// place and changes nothing: what it added is marked (kPlumbingProto),
// and the sysctls' original values are kept in Options::state_path.
//
// Thread-safety: one thread (the agent's main loop).

#ifndef RDMA_BOND_AGENT_ROCE_PLUMBING_H_
#define RDMA_BOND_AGENT_ROCE_PLUMBING_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/bridge_lookup.h"
#include "agent/roce_plan.h"
#include "agent/rtnl.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond::agent {

// How long a bond must be missing from a live table before its plumbing
// is undone: a restarting ovs-vswitchd publishes its bonds again.
inline constexpr uint64_t kPlumbingRemovalGraceMs = 5000;
// The host is looked at least this often (neighbours that expire
// announce nothing).
inline constexpr uint64_t kPlumbingRefreshMs = 1000;
// How often the RDMA devices behind the members are looked up again
// (besides at every table change): reading a port's GID table in sysfs
// costs thousands of reads on rxe.
inline constexpr uint64_t kPlumbingRdmaRefreshMs = 10000;
// ... and at most this often, however many notifications come.
inline constexpr uint64_t kPlumbingMinIntervalMs = 100;
static_assert(kPlumbingMinIntervalMs < kPlumbingRefreshMs,
              "notifications must be able to bring a look forward");

class RocePlumbing {
 public:
  struct Options {
    // False: plan and report, never change the host (--dry-run).
    bool apply = true;
    // Where the sysctls' original values are kept ("" = nowhere: tests).
    std::string state_path;
    std::string sysctl_root = "/proc/sys";
    // The RDMA port behind a member ("rxe0:1"), "" if none: through its
    // netdev, else through its PCI function ("" if the table names none;
    // a DPDK port whose netdev is not visible here); default:
    // RdmaSysfs::FindMemberRdmaPort().
    std::function<std::string(const std::string& netdev,
                              const std::string& pci)>
        rdma_port;
    // The bridge of a bond; default: ovs-vsctl port-to-br.
    BridgeLookup::LookupFn bridge_of;
    uint64_t removal_grace_ms = kPlumbingRemovalGraceMs;
    // The RDMA devices ("rxe0") of the QPs registered with the agent now:
    // busy whatever the last scan of the host's QPs saw.
    std::function<std::set<std::string>()> registered_rnics;
    std::function<void(int level, const std::string&)> log;
  };

  // Opens rtnetlink and reads the saved state; fails only when rtnetlink
  // cannot be opened or the state file is unreadable or corrupt.
  static Result<std::unique_ptr<RocePlumbing>> Create(Options options);
  ~RocePlumbing();
  RocePlumbing(const RocePlumbing&) = delete;
  RocePlumbing& operator=(const RocePlumbing&) = delete;

  // The latest table snapshot; std::nullopt when detached (no table, or
  // ovs-vswitchd gone): nothing is undone while detached.
  void Update(const std::optional<TableSnapshot>& snapshot);
  // Looks at the host when due and applies what is missing.
  void Run();
  // The RDMA devices that hold QPs now (the agent's RDMA netlink scan), or
  // nullopt when they cannot be listed: the active member's addresses are
  // only added again (to be the newest) on an RNIC without QPs, which
  // both this scan (made after the latest Update()) and
  // Options::registered_rnics say.
  void SetBusyRnics(std::optional<std::set<std::string>> rnics) {
    busy_rnics_ = std::move(rnics);
  }
  void AppendFds(std::vector<int>* fds) const;
  uint64_t SleepMs() const;

  // Undoes everything it did, for every bond; the plumbing stays off
  // afterwards (Run() does nothing).
  Status Cleanup();

  // The plan for the current host and bonds, computed now (--dry-run, and
  // tests).  Bridges still unknown are looked up first, waiting at most
  // 'bridge_wait_ms'.
  PlumbingPlan PlanNow(uint64_t bridge_wait_ms = 0);

  // The "RoCE plumbing" section of "rdma-bond/show".
  std::string ShowText() const;
  uint64_t actions_applied() const { return actions_applied_; }
  uint64_t actions_failed() const { return actions_failed_; }
  const PlumbingPlan& last_plan() const { return plan_; }
  const SavedPlumbing& saved() const { return saved_; }

 private:
  RocePlumbing(Options options, Rtnl rtnl, SavedPlumbing saved);
  Result<HostState> ReadHost(const std::vector<PlumbingBond>& bonds,
                             const std::vector<std::string>& extra_members);
  std::vector<PlumbingBond> Bonds(uint64_t now_ms);
  void Reconcile(uint64_t now_ms);
  // Applies 'actions'; returns how many failed (each logged once).
  size_t Apply(const std::vector<PlumbingAction>& actions,
               const HostState& host);
  Status WriteSysctl(const std::string& path, const std::string& value);
  void SaveState();

  Options options_;
  Rtnl rtnl_;
  SavedPlumbing saved_;
  BridgeLookup bridges_;
  std::optional<TableSnapshot> snapshot_;
  std::map<std::string, std::string> bridge_of_;   // Known bridges.
  // The RDMA port behind each member (Options::rdma_port), and when it
  // is looked up again.
  std::map<std::string, std::string> rdma_port_of_;
  uint64_t rdma_refresh_ms_ = 0;
  std::map<std::string, uint64_t> missing_since_ms_;  // Bonds gone.
  std::optional<std::set<std::string>> busy_rnics_;
  // Per bond, the member that got the bond's addresses last from us.
  std::map<std::string, std::string> newest_;
  PlumbingPlan plan_;
  std::string error_;             // Why the host could not be read.
  std::set<std::string> failures_;  // Failed actions: "text: error".
  std::set<std::string> logged_refusals_;
  uint64_t next_ms_ = 0;
  uint64_t actions_applied_ = 0;
  uint64_t actions_failed_ = 0;
  bool cleaned_up_ = false;
};

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_ROCE_PLUMBING_H_
