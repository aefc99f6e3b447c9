// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// MigrationPlan: from a Linux bond (linux_bond.h) to the OVS bond that
// replaces it, and back.
//
// PlanMigration() is a pure function: the bond as read from the kernel,
// what is known of its members' RNICs, and the operator's options give
// either a refusal (a mode or a setup OVS cannot carry, with the reason
// and the nearest choice) or the plan: the OVS configuration, what
// changes, and the exact steps, each a command or a wait.  `plan` prints
// it, `apply` runs it, and the tests compare its text for every mode.
//
// PlanRestore() gives the steps that put the Linux bond back from its
// saved form: the rollback of a failed `apply` and `revert`.
//
// Thread-safety: pure functions on values.

#ifndef RDMA_BOND_TOOLS_MIGRATE_MIGRATION_PLAN_H_
#define RDMA_BOND_TOOLS_MIGRATE_MIGRATION_PLAN_H_

#include <string>
#include <vector>

#include "rdma_bond/status.h"
#include "tools/migrate/linux_bond.h"

namespace rdma_bond::migrate {

// What the operator asks for.
struct MigrateOptions {
  std::string bridge;                 // "" = "br-" + the bond's name.
  std::string datapath_type = "system";
  bool slb = false;                   // 802.3ad → balance-slb, not balance-tcp.
  std::vector<std::string> checks;    // --check: addresses that must answer.
  bool no_agent = false;              // Do not wait for the agent's plumbing.
};

// What is behind one member: its RDMA device and its PCI function.
struct MemberHardware {
  std::string member;
  std::string rdma_device;            // "" none found.
  std::string pci;                    // "0000:03:00.1"; "" not PCI.
};

// One command, run as is; 'input' is its standard input ("ip -batch -").
struct Command {
  std::vector<std::string> argv;
  std::string input;
  friend bool operator==(const Command&, const Command&) = default;
};

enum class StepKind {
  kRun,               // Run 'commands' in order; any failure fails the step.
  kWaitBond,          // Wait until OVS enables a member (and LACP agrees).
  kWaitPlumbing,      // Wait until the agent's RoCE plumbing is complete.
  kCheck,             // Wait until every check address answers a ping.
  kWaitUnplumbed,     // Wait until no member holds an address of the
                      // agent's plumbing (protocol 82): it undoes a bond
                      // 5 s after the bond left the table.
};

struct Step {
  std::string title;
  StepKind kind = StepKind::kRun;
  std::vector<Command> commands;
};

struct MigrationPlan {
  std::string bridge;
  std::string datapath_type;
  bool no_agent = false;
  std::string ovs_mode;               // "active-backup", "balance-tcp" ...
  bool lacp = false;
  std::vector<std::string> port_settings;  // ovs-vsctl add-bond's words.
  std::vector<std::string> changes;   // What differs from the Linux bond.
  std::vector<std::string> rdma;      // What changes for RDMA.
  std::vector<std::string> checks;    // Addresses that must answer.
  std::vector<Step> steps;
  // The step after which the host depends on the OVS bond: from it on, a
  // failure rolls back (steps before it change nothing of the Linux bond).
  size_t first_disruptive_step = 0;
};

// A route's destination as `ip` takes it without "-6": IPv6's "default"
// is "::/0".
std::string RouteDestination(const BondRoute& route);

// The bridge's name for 'bond' and 'options'.
std::string BridgeName(const LinuxBond& bond, const MigrateOptions& options);

// The plan, or NotSupported saying why OVS cannot take this bond
// over and what comes nearest.
Result<MigrationPlan> PlanMigration(const LinuxBond& bond,
                                    const std::vector<MemberHardware>& hw,
                                    const MigrateOptions& options);

// The steps that put 'saved' back: the OVS bridge removed (when
// 'remove_bridge'), the bond made again (when '!bond_exists'), its
// members enslaved, its addresses, routes and permanent neighbours back;
// then (when 'agent') a wait until the agent has undone its plumbing of
// the members.
std::vector<Step> PlanRestore(const LinuxBond& saved,
                              const std::string& bridge, bool remove_bridge,
                              bool bond_exists, bool agent);

// The plan as `plan` prints it.
std::string FormatPlan(const LinuxBond& bond, const MigrationPlan& plan);

// Steps as `plan` prints them, numbered from 'first'.
std::string FormatSteps(const std::vector<Step>& steps, int first = 1);

}  // namespace rdma_bond::migrate

#endif  // RDMA_BOND_TOOLS_MIGRATE_MIGRATION_PLAN_H_
