// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// ovs-rdma-bond-migrate: a live Linux bond to an OVS bond that RDMA
// follows, and back (ovs-rdma-bond-migrate(8), docs/migration.md).
//
// This file parses arguments, checks the host's preconditions and runs
// the steps; what the steps are is migration_plan's, what the bond is
// linux_bond's.
//
// Exit status: 0 on success; 1 if the command failed (after `apply`: the
// Linux bond was restored as it was); 2 for a usage error; 3 if a
// rollback or revert did not restore the bond exactly (the differences
// are printed).

#include <getopt.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/roce_plan.h"
#include "agent/rtnl.h"
#include "common/run_program.h"
#include "rdma_bond/status.h"
#include "rnic/verbs/rdma_sysfs.h"
#include "tools/migrate/linux_bond.h"
#include "tools/migrate/migration_plan.h"
#include "tools/migrate/migration_state.h"

#ifndef PACKAGE_VERSION  // Defined by configure; absent in a bare g++ build.
#define PACKAGE_VERSION "unknown"
#endif

namespace rdma_bond::migrate {
namespace {

constexpr char kProgram[] = "ovs-rdma-bond-migrate";
constexpr char kAgentTarget[] = "rdma-bond-agent/ovs-rdma-bond-agent";
constexpr char kDefaultStateDir[] = "/var/lib/ovs-rdma-bond/migrate";

constexpr int kExitSuccess = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotRestored = 3;

// How often the waits look again.
constexpr auto kPollInterval = std::chrono::milliseconds(100);

struct Options {
  std::string command;
  std::string bond;
  MigrateOptions migrate;
  bool no_check = false;
  double check_timeout_s = 20;
  double wait_timeout_s = 60;
  std::string state_dir = kDefaultStateDir;
  std::string persist;            // "", "ifupdown".
  std::string interfaces_dir = "/etc/network";
  int fail_after = 0;             // Testing: fail once step N has run.
};

volatile sig_atomic_t g_stop_signal = 0;

void OnSignal(int signo) { g_stop_signal = signo; }

void PrintUsage() {
  std::printf(
      "%s: move a live Linux bond to an OVS bond that RDMA follows, and "
      "back\n"
      "usage: %s COMMAND BOND [OPTIONS]\n"
      "\n"
      "Commands:\n"
      "  plan BOND      read BOND from the kernel; print the OVS bond, what\n"
      "                 changes, the checks and every step (changes nothing)\n"
      "  apply BOND     migrate BOND; any failure rolls back to the Linux bond\n"
      "  revert BOND    undo a completed migration of BOND\n"
      "\n"
      "Options:\n"
      "  --bridge NAME         the new bridge (default br-BOND)\n"
      "  --datapath-type TYPE  the bridge's datapath_type (default system)\n"
      "  --slb                 an 802.3ad bond becomes balance-slb (default\n"
      "                        balance-tcp)\n"
      "  --check ADDR          an address that must answer after the switch\n"
      "                        (repeatable; added to the bond's gateways and\n"
      "                        known peers)\n"
      "  --no-check            apply without any connectivity check\n"
      "  --check-timeout S     how long the checks may take (default 20)\n"
      "  --timeout S           how long OVS and the agent may take (default 60)\n"
      "  --no-agent            no ovs-rdma-bond-agent: TCP only, RDMA does\n"
      "                        not follow (members without RNICs allowed)\n"
      "  --persist ifupdown    write the OVS configuration for ifupdown\n"
      "                        (/etc/network/interfaces.d/)\n"
      "  --state-dir DIR       where the rollback point is kept\n"
      "                        (default %s)\n"
      "  -h, --help            display this help message\n"
      "  -V, --version         display version information\n",
      kProgram, kProgram, kDefaultStateDir);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "%s: %s (use --help for help)\n", kProgram,
               message.c_str());
  return kExitUsage;
}

bool ParseSeconds(const char* text, double& out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  if (errno || end == text || *end || !(v > 0) || v > 3600) return false;
  out = v;
  return true;
}

// --- the host ---------------------------------------------------------------

double Now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Runs 'c'; its output (standard error too) and exit code.
Result<ProgramOutput> Run(const Command& c, double timeout_s = 30) {
  RunProgramOptions o;
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  o.merge_stderr = true;
  o.input = c.input;
  return RunProgram(c.argv, o);
}

bool Succeeds(const std::vector<std::string>& argv, double timeout_s = 10) {
  Result<ProgramOutput> r = Run({argv, ""}, timeout_s);
  return r.ok() && r->exit_code == 0;
}

// The PCI function behind 'netdev' ("" when it is not on PCI): the device
// link itself, or its parent (virtio devices sit on a PCI function).
std::string PciOf(const std::string& netdev) {
  static const std::regex kPci("^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$");
  std::error_code ec;
  std::filesystem::path dev = std::filesystem::canonical(
      "/sys/class/net/" + netdev + "/device", ec);
  if (ec) return "";
  for (int i = 0; i < 2 && !dev.empty(); i++, dev = dev.parent_path()) {
    if (std::regex_match(dev.filename().string(), kPci)) {
      return dev.filename().string();
    }
  }
  return "";
}

std::vector<MemberHardware> ReadHardware(const LinuxBond& bond) {
  RdmaSysfs sysfs;
  std::vector<MemberHardware> hw;
  for (const BondMember& m : bond.members) {
    MemberHardware h{m.name, "", PciOf(m.name)};
    Result<RdmaPortRef> port = sysfs.FindRdmaPort(m.name);
    if (port.ok()) h.rdma_device = port->device;
    hw.push_back(h);
  }
  return hw;
}

// A precondition: what was checked, and what to do if it failed.
struct Check {
  std::string what;
  bool ok = false;
  std::string way_out;
};

bool AgentRunning() {
  return Succeeds({"ovs-appctl", "-t", kAgentTarget, "version"});
}

std::vector<Check> CheckHost(const std::vector<MemberHardware>& hw,
                             const MigrationPlan& plan, const Options& o) {
  std::vector<Check> checks;
  checks.push_back({"ovs-vswitchd is running",
                    Succeeds({"ovs-appctl", "version"}),
                    "start Open vSwitch (systemctl start openvswitch-switch)"});
  Result<bool> exists = NetdevExists(plan.bridge);
  Result<ProgramOutput> br =
      Run({{"ovs-vsctl", "--timeout=10", "br-exists", plan.bridge}, ""});
  checks.push_back({"no bridge or device is named " + plan.bridge + " yet",
                    exists.ok() && !*exists && br.ok() && br->exit_code == 2,
                    "name another bridge with --bridge"});
  if (!o.migrate.no_agent) {
    for (const MemberHardware& h : hw) {
      checks.push_back({h.member + " has an RDMA device" +
                            (h.rdma_device.empty() ? "" : " (" + h.rdma_device + ")"),
                        !h.rdma_device.empty(),
                        "load its RDMA driver (for soft-RoCE: rdma link add "
                        "rxe0 type rxe netdev " + h.member +
                        "), or pass --no-agent to migrate TCP only"});
    }
    checks.push_back({"ovs-rdma-bond-agent is running (ovs-appctl -t " +
                          std::string(kAgentTarget) + " version)",
                      AgentRunning(),
                      "install the ovs-rdma-bond-agent package and start it "
                      "(systemctl start ovs-rdma-bond-agent), or pass "
                      "--no-agent"});
  }
  checks.push_back({"ip (iproute2) runs", Succeeds({"ip", "-V"}),
                    "install iproute2"});
  if (!o.no_check) {
    checks.push_back({"ping runs (ping -c 1 127.0.0.1)",
                      Succeeds({"ping", "-c", "1", "-W", "1", "127.0.0.1"}),
                      "install iputils-ping, or pass --no-check"});
    checks.push_back({"an address to check connectivity against",
                      !plan.checks.empty(),
                      "name one with --check ADDR (a gateway, an RDMA peer), "
                      "or pass --no-check"});
  }
  return checks;
}

std::string FormatChecks(const std::vector<Check>& checks) {
  std::string out;
  for (const Check& c : checks) {
    out += std::string("  ") + (c.ok ? "ok      " : "FAILED  ") + c.what +
           (c.ok ? "" : ": " + c.way_out) + "\n";
  }
  return out;
}

// --- running steps ----------------------------------------------------------

bool BondReady(const std::string& show, bool lacp) {
  static const std::regex kEnabled("\nmember \\S+: enabled\n");
  static const std::regex kActive("\nmember \\S+: enabled\n  active member\n");
  if (lacp) {
    return show.find("lacp_status: negotiated") != std::string::npos &&
           std::regex_search(show, kEnabled);
  }
  return std::regex_search(show, kActive);
}

// Which of 'members' hold an address the agent's RoCE plumbing added.
Result<std::vector<std::string>> PlumbedMembers(
    const std::vector<std::string>& members) {
  Result<agent::Rtnl> rtnl = agent::Rtnl::Open();
  if (!rtnl.ok()) return rtnl.status();
  auto links = rtnl->Links();
  if (!links.ok()) return links.status();
  auto addresses = rtnl->Addresses();
  if (!addresses.ok()) return addresses.status();
  std::vector<std::string> out;
  for (const agent::HostLink& l : *links) {
    if (std::find(members.begin(), members.end(), l.name) == members.end()) {
      continue;
    }
    for (const agent::HostAddress& a : *addresses) {
      if (a.ifindex == l.ifindex && a.proto == agent::kPlumbingProto) {
        out.push_back(l.name);
        break;
      }
    }
  }
  return out;
}

// Runs one step; "" on success, else what went wrong.  'members' are the
// bond's.
std::string RunStep(const Step& step, const MigrationPlan* plan,
                    const std::string& bond,
                    const std::vector<std::string>& members,
                    const Options& o) {
  const double start = Now();
  switch (step.kind) {
    case StepKind::kRun:
      for (const Command& c : step.commands) {
        Result<ProgramOutput> r = Run(c);
        if (!r.ok()) return r.status().ToString();
        if (r->exit_code != 0) {
          std::string out = r->out;
          while (!out.empty() && out.back() == '\n') out.pop_back();
          return "\"" + c.argv[0] + " " + (c.argv.size() > 1 ? c.argv[1] : "") +
                 "...\" exited with " + std::to_string(r->exit_code) +
                 (out.empty() ? "" : ": " + out);
        }
      }
      return "";
    case StepKind::kWaitBond:
    case StepKind::kWaitPlumbing: {
      const bool bond_step = step.kind == StepKind::kWaitBond;
      const std::string want = "  bond " + bond + " (bridge " +
                               (plan ? plan->bridge : "") + "): complete\n";
      std::string last;
      while (Now() - start < o.wait_timeout_s) {
        if (g_stop_signal) return "stopped by a signal";
        Result<ProgramOutput> r = Run(step.commands.at(0), 10);
        if (r.ok()) {
          last = r->out;
          if (r->exit_code == 0 &&
              (bond_step ? BondReady("\n" + r->out, plan && plan->lacp)
                         : r->out.find(want) != std::string::npos)) {
            return "";
          }
        }
        std::this_thread::sleep_for(kPollInterval);
      }
      return std::string(bond_step ? "OVS did not enable a member of "
                                   : "ovs-rdma-bond-agent did not complete "
                                     "the RoCE plumbing of ") +
             bond + " within " + std::to_string(int(o.wait_timeout_s)) +
             " s; it said:\n" + last;
    }
    case StepKind::kWaitUnplumbed: {
      std::vector<std::string> left;
      while (Now() - start < o.wait_timeout_s) {
        Result<std::vector<std::string>> l = PlumbedMembers(members);
        if (!l.ok()) return l.status().ToString();
        left = *l;
        if (left.empty()) return "";
        if (g_stop_signal) return "stopped by a signal";
        std::this_thread::sleep_for(kPollInterval);
      }
      std::string names;
      for (const std::string& m : left) names += (names.empty() ? "" : ", ") + m;
      return names + " still hold addresses of the agent's plumbing after " +
             std::to_string(int(o.wait_timeout_s)) +
             " s (is ovs-rdma-bond-agent running? `ovs-appctl -t " +
             kAgentTarget + " exit --cleanup` undoes it)";
    }
    case StepKind::kCheck:
      for (const Command& c : step.commands) {
        for (;;) {
          if (g_stop_signal) return "stopped by a signal";
          Result<ProgramOutput> r = Run(c, 5);
          if (r.ok() && r->exit_code == 0) break;
          if (Now() - start > o.check_timeout_s) {
            return c.argv.back() + " did not answer a ping within " +
                   std::to_string(int(o.check_timeout_s)) + " s";
          }
          std::this_thread::sleep_for(kPollInterval);
        }
      }
      return "";
  }
  return "unknown step";
}

void Say(double t0, const std::string& text) {
  std::printf("[%7.3f s] %s\n", Now() - t0, text.c_str());
  std::fflush(stdout);
}

// Runs 'steps' (numbered from 'first'); with 'keep_going', past failures.
// Step 'fail_after' (0: none) fails once it has run (--fail-after).
// Returns the index of the first step that failed, or steps.size().
size_t RunSteps(const std::vector<Step>& steps, int first,
                const MigrationPlan* plan, const LinuxBond& bond,
                const Options& o, double t0, bool keep_going, int fail_after,
                std::string* error) {
  std::vector<std::string> members;
  for (const BondMember& m : bond.members) members.push_back(m.name);
  size_t failed = steps.size();
  for (size_t i = 0; i < steps.size(); i++) {
    const double start = Now();
    Say(t0, std::to_string(first + i) + ". " + steps[i].title);
    std::string e = RunStep(steps[i], plan, bond.name, members, o);
    if (e.empty() && g_stop_signal) e = "stopped by a signal";
    if (e.empty() && fail_after == static_cast<int>(first + i)) {
      e = "failure injected after step " + std::to_string(first + i) +
          " (--fail-after)";
    }
    if (!e.empty()) {
      Say(t0, "   FAILED after " +
                  std::to_string(int((Now() - start) * 1000)) + " ms: " + e);
      if (failed == steps.size()) {
        failed = i;
        if (error) *error = e;
      }
      if (!keep_going) return failed;
    } else {
      Say(t0, "   done in " + std::to_string(int((Now() - start) * 1000)) +
                  " ms");
    }
  }
  return failed;
}

// Puts 'saved' back and compares; the exit status.
int Restore(const LinuxBond& saved, const std::string& bridge,
            const Options& o, double t0, const StateFile& state) {
  // A restore runs to its end: a signal that stopped the migration, or
  // one that comes now, does not stop it.
  for (int signo : {SIGINT, SIGTERM, SIGHUP}) signal(signo, SIG_IGN);
  g_stop_signal = 0;
  Result<bool> exists = NetdevExists(saved.name);
  std::vector<Step> steps = PlanRestore(saved, bridge, true,
                                       exists.ok() && *exists, AgentRunning());
  std::string error;
  size_t failed = RunSteps(steps, 1, nullptr, saved, o, t0,
                           /*keep_going=*/true, /*fail_after=*/0, &error);
  Result<LinuxBond> now = ReadLinuxBond(saved.name);
  if (!now.ok()) {
    std::printf("%s: the Linux bond %s is NOT back: %s\n", kProgram,
                saved.name.c_str(), now.status().ToString().c_str());
    return kExitNotRestored;
  }
  const std::string before = Snapshot(saved), after = Snapshot(*now);
  if (before != after) {
    std::printf("%s: the Linux bond %s is back, but NOT as it was%s:\n",
                kProgram, saved.name.c_str(),
                failed < steps.size() ? " (a step failed)" : "");
    std::istringstream b(before), a(after);
    std::string line;
    while (std::getline(b, line)) {
      if (after.find(line + "\n") == std::string::npos) {
        std::printf("  - %s\n", line.c_str());
      }
    }
    while (std::getline(a, line)) {
      if (before.find(line + "\n") == std::string::npos) {
        std::printf("  + %s\n", line.c_str());
      }
    }
    std::printf("  (the rollback point stays in %s)\n", state.path().c_str());
    return kExitNotRestored;
  }
  if (failed < steps.size()) {
    // The bond is as it was, but something the restore does besides
    // failed (the agent did not undo its plumbing of the members).
    std::printf("%s: the Linux bond %s is back as it was, but step %zu "
                "failed: %s\n  (the rollback point stays in %s)\n",
                kProgram, saved.name.c_str(), failed + 1, error.c_str(),
                state.path().c_str());
    return kExitNotRestored;
  }
  Say(t0, "the Linux bond " + saved.name +
              " is back exactly as it was (members, options, addresses, "
              "routes, permanent neighbours)");
  Status removed = state.Remove();
  if (!removed.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, removed.ToString().c_str());
  }
  return kExitSuccess;
}

// --- commands ---------------------------------------------------------------

int DoPlan(const Options& o) {
  Result<LinuxBond> bond = ReadLinuxBond(o.bond);
  if (!bond.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, bond.status().ToString().c_str());
    return kExitFailure;
  }
  std::vector<MemberHardware> hw = ReadHardware(*bond);
  Result<MigrationPlan> plan = PlanMigration(*bond, hw, o.migrate);
  if (!plan.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, plan.status().ToString().c_str());
    return kExitFailure;
  }
  std::printf("%s", FormatPlan(*bond, *plan).c_str());
  std::vector<Check> checks = CheckHost(hw, *plan, o);
  std::printf("\nPreconditions (apply needs all of them)\n%s",
              FormatChecks(checks).c_str());
  return kExitSuccess;
}

int DoApply(const Options& o) {
  const double t0 = Now();
  Result<LinuxBond> bond = ReadLinuxBond(o.bond);
  if (!bond.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, bond.status().ToString().c_str());
    return kExitFailure;
  }
  StateFile state(o.state_dir, o.bond);
  if (state.Exists()) {
    std::fprintf(stderr,
                 "%s: %s holds a migration of %s already (revert it first, "
                 "or remove the file if that migration is gone)\n",
                 kProgram, state.path().c_str(), o.bond.c_str());
    return kExitFailure;
  }
  std::vector<MemberHardware> hw = ReadHardware(*bond);
  Result<MigrationPlan> plan = PlanMigration(*bond, hw, o.migrate);
  if (!plan.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, plan.status().ToString().c_str());
    return kExitFailure;
  }
  std::vector<Check> checks = CheckHost(hw, *plan, o);
  for (const Check& c : checks) {
    if (!c.ok) {
      std::fprintf(stderr, "%s: not migrating %s: %s failed: %s\n", kProgram,
                   o.bond.c_str(), c.what.c_str(), c.way_out.c_str());
      return kExitFailure;
    }
  }
  Status saved = state.Save("applying", plan->bridge, *bond);
  if (!saved.ok()) {
    std::fprintf(stderr, "%s: not migrating %s: cannot keep the rollback "
                 "point: %s\n", kProgram, o.bond.c_str(),
                 saved.ToString().c_str());
    return kExitFailure;
  }
  Say(t0, "migrating " + o.bond + " to OVS bridge " + plan->bridge +
              " (rollback point: " + state.path() + ")");
  std::vector<Step> steps = plan->steps;
  if (o.no_check) {
    steps.erase(std::remove_if(steps.begin(), steps.end(),
                               [](const Step& s) {
                                 return s.kind == StepKind::kCheck;
                               }),
                steps.end());
  }
  std::string error;
  double disrupted = 0, answered = 0;
  size_t failed = steps.size();
  for (size_t i = 0; i < steps.size(); i++) {
    if (i == plan->first_disruptive_step) disrupted = Now();
    if (RunSteps({steps[i]}, i + 1, &*plan, *bond, o, t0,
                 /*keep_going=*/false, o.fail_after, &error) == 0) {
      failed = i;
      break;
    }
    if (steps[i].kind == StepKind::kCheck) answered = Now();
  }
  if (failed < steps.size()) {
    Say(t0, "rolling back to the Linux bond " + o.bond);
    if (failed < plan->first_disruptive_step) {
      // Nothing of the Linux bond was touched: the bridge goes, and that
      // is all.
      const bool removed =
          Succeeds({"ovs-vsctl", "--if-exists", "del-br", plan->bridge});
      Status forgotten = state.Remove();
      Say(t0, "nothing of " + o.bond + " had changed; the bridge " +
                  plan->bridge +
                  (removed ? " is removed" : " could NOT be removed "
                                             "(ovs-vsctl del-br " +
                                                 plan->bridge + ")"));
      if (!forgotten.ok()) {
        std::fprintf(stderr, "%s: %s\n", kProgram,
                     forgotten.ToString().c_str());
      }
      std::fprintf(stderr, "%s: migration of %s failed: %s\n", kProgram,
                   o.bond.c_str(), error.c_str());
      return kExitFailure;
    }
    int rc = Restore(*bond, plan->bridge, o, t0, state);
    std::fprintf(stderr, "%s: migration of %s failed: %s%s\n", kProgram,
                 o.bond.c_str(), error.c_str(),
                 rc == kExitSuccess ? " (rolled back)"
                                    : " (the rollback did not restore it: see "
                                      "above)");
    return rc == kExitSuccess ? kExitFailure : rc;
  }
  Status done = state.Save("applied", plan->bridge, *bond);
  if (!done.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, done.ToString().c_str());
  }
  if (answered > 0) {
    Say(t0, "migrated; from the address move to the checks answering: " +
                std::to_string(int((answered - disrupted) * 1000)) + " ms");
  } else {
    Say(t0, "migrated (no connectivity check)");
  }
  if (o.persist == "ifupdown") {
    Result<std::string> written =
        WriteIfupdown(o.interfaces_dir, *bond, *plan);
    if (!written.ok()) {
      std::fprintf(stderr, "%s: migrated, but not persisted: %s\n", kProgram,
                   written.status().ToString().c_str());
      return kExitFailure;
    }
    std::printf("%s", written->c_str());
  } else {
    std::printf(
        "Not persistent: OVS keeps the bridge and the bond in its database, "
        "but %s's addresses and routes are gone at the next boot, and a "
        "Linux bond %s in the network configuration comes back. Run again "
        "with --persist ifupdown, or write the configuration yourself "
        "(docs/migration.md).\n",
        plan->bridge.c_str(), o.bond.c_str());
  }
  return kExitSuccess;
}

int DoRevert(const Options& o) {
  const double t0 = Now();
  StateFile state(o.state_dir, o.bond);
  Result<SavedMigration> saved = state.Load();
  if (!saved.ok()) {
    std::fprintf(stderr, "%s: cannot revert %s: %s\n", kProgram,
                 o.bond.c_str(), saved.status().ToString().c_str());
    return kExitFailure;
  }
  Say(t0, "reverting " + o.bond + " (" + saved->status + ") from OVS bridge " +
              saved->bridge + " to the Linux bond saved in " + state.path());
  int rc = Restore(saved->bond, saved->bridge, o, t0, state);
  if (rc == kExitSuccess) {
    Result<std::string> removed = RemoveIfupdown(o.interfaces_dir, o.bond);
    if (removed.ok() && !removed->empty()) std::printf("%s", removed->c_str());
  }
  return rc;
}

}  // namespace
}  // namespace rdma_bond::migrate

int main(int argc, char** argv) {
  using namespace rdma_bond::migrate;
  Options o;
  enum {
    kOptBridge = 1000, kOptDatapath, kOptSlb, kOptCheck, kOptNoCheck,
    kOptCheckTimeout, kOptTimeout, kOptNoAgent, kOptPersist, kOptStateDir,
    kOptInterfacesDir, kOptFailAfter,
  };
  static const struct option kLong[] = {
      {"bridge", required_argument, nullptr, kOptBridge},
      {"datapath-type", required_argument, nullptr, kOptDatapath},
      {"slb", no_argument, nullptr, kOptSlb},
      {"check", required_argument, nullptr, kOptCheck},
      {"no-check", no_argument, nullptr, kOptNoCheck},
      {"check-timeout", required_argument, nullptr, kOptCheckTimeout},
      {"timeout", required_argument, nullptr, kOptTimeout},
      {"no-agent", no_argument, nullptr, kOptNoAgent},
      {"persist", required_argument, nullptr, kOptPersist},
      {"state-dir", required_argument, nullptr, kOptStateDir},
      {"interfaces-dir", required_argument, nullptr, kOptInterfacesDir},
      {"fail-after", required_argument, nullptr, kOptFailAfter},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "hV", kLong, nullptr)) != -1) {
    switch (c) {
      case kOptBridge: o.migrate.bridge = optarg; break;
      case kOptDatapath: o.migrate.datapath_type = optarg; break;
      case kOptSlb: o.migrate.slb = true; break;
      case kOptCheck: {
        auto ip = rdma_bond::ParseIpAddress(optarg);
        if (!ip.ok()) return Usage("--check: " + ip.status().ToString());
        o.migrate.checks.push_back(rdma_bond::ToString(*ip));
        break;
      }
      case kOptNoCheck: o.no_check = true; break;
      case kOptCheckTimeout:
        if (!ParseSeconds(optarg, o.check_timeout_s)) {
          return Usage(std::string("--check-timeout: \"") + optarg +
                       "\" is not a number of seconds in (0, 3600]");
        }
        break;
      case kOptTimeout:
        if (!ParseSeconds(optarg, o.wait_timeout_s)) {
          return Usage(std::string("--timeout: \"") + optarg +
                       "\" is not a number of seconds in (0, 3600]");
        }
        break;
      case kOptNoAgent: o.migrate.no_agent = true; break;
      case kOptPersist:
        o.persist = optarg;
        if (o.persist != "ifupdown") {
          return Usage("--persist: \"" + o.persist +
                       "\" is not known (ifupdown)");
        }
        break;
      case kOptStateDir: o.state_dir = optarg; break;
      case kOptInterfacesDir: o.interfaces_dir = optarg; break;
      case kOptFailAfter: {
        char* end = nullptr;
        long n = std::strtol(optarg, &end, 10);
        if (*end || n < 1 || n > 100) {
          return Usage("--fail-after: a step number is needed");
        }
        o.fail_after = static_cast<int>(n);
        break;
      }
      case 'h': PrintUsage(); return kExitSuccess;
      case 'V': std::printf("%s %s\n", kProgram, PACKAGE_VERSION); return 0;
      default: return Usage("unknown option");
    }
  }
  if (argc - optind != 2) return Usage("a command and a bond are needed");
  o.command = argv[optind];
  o.bond = argv[optind + 1];
  if (o.bond.empty() || o.bond.size() > 15 ||
      o.bond.find_first_of("/ :\n") != std::string::npos) {
    return Usage("\"" + o.bond + "\" is not a network device name");
  }
  if (o.command != "apply" && (o.persist.size() || o.fail_after)) {
    return Usage("--persist and --fail-after go with apply");
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  if (o.command == "plan") return DoPlan(o);
  if (o.command == "apply") return DoApply(o);
  if (o.command == "revert") return DoRevert(o);
  return Usage("unknown command \"" + o.command + "\" (plan, apply, revert)");
}
