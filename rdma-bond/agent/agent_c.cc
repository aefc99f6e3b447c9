// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The C seam of the agent (agent.h) over AgentCore.

#include "agent/agent.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "agent/agent_core.h"
#include "agent/roce_plumbing.h"
#include "rdma_bond/table_reader.h"
#include "rdma_bond/agent_client.h"

struct rdma_bond_agent {
  std::unique_ptr<rdma_bond::agent::AgentCore> core;
};

namespace {

char* Dup(const std::string& text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy) std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

int Fail(char** errorp, const std::string& message, int error = EINVAL) {
  if (errorp) *errorp = Dup(message);
  return error;
}

}  // namespace

extern "C" char* rdma_bond_agent_prepare_dir(const char* table_path,
                                             char** errorp) {
  const std::string dir =
      rdma_bond::DefaultAgentDirectory(table_path ? table_path : "");
  rdma_bond::Status status = rdma_bond::agent::PrepareAgentDirectory(dir);
  if (!status.ok()) {
    Fail(errorp, status.ToString());
    return nullptr;
  }
  return Dup(dir);
}

extern "C" int rdma_bond_agent_create(
    const struct rdma_bond_agent_options* c_options,
    struct rdma_bond_agent** agentp, char** errorp) {
  using namespace rdma_bond;
  using namespace rdma_bond::agent;
  *agentp = nullptr;
  AgentOptions options;
  auto str = [](const char* s) { return s ? std::string(s) : std::string(); };
  options.table_path = str(c_options->table_path);
  options.socket_path = str(c_options->socket_path);
  options.summary_path = str(c_options->summary_path);
  options.metrics_file = str(c_options->metrics_file);
  options.probe = c_options->probe;
  options.probe_key_file = str(c_options->probe_key_file);
  options.probe_transport = str(c_options->probe_transport);
  options.manage_roce = c_options->manage_roce;
  options.device_counters = str(c_options->device_counters);
  options.policy.agent_uid = getuid();
  if (c_options->allow_users && *c_options->allow_users) {
    Result<std::vector<uid_t>> uids = ParseUserList(c_options->allow_users);
    if (!uids.ok()) return Fail(errorp, uids.status().message());
    options.policy.allowed_uids = *uids;
  }
  if (c_options->allow_groups && *c_options->allow_groups) {
    Result<std::vector<gid_t>> gids = ParseGroupList(c_options->allow_groups);
    if (!gids.ok()) return Fail(errorp, gids.status().message());
    options.policy.allowed_gids = *gids;
  }
  if (c_options->peers && *c_options->peers) {
    std::string peers = c_options->peers;
    size_t start = 0;
    while (start <= peers.size()) {
      size_t comma = peers.find(',', start);
      std::string one = peers.substr(start, comma - start);
      Result<IpAddress> ip = ParseIpAddress(one);
      if (!ip.ok()) {
        return Fail(errorp, "--peer: \"" + one + "\" is not an IP address");
      }
      options.peers.push_back(*ip);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (c_options->log) {
    auto log = c_options->log;
    options.log = [log](int level, const std::string& message) {
      log(static_cast<rdma_bond_agent_log_level>(level), message.c_str());
    };
  }
  Result<std::unique_ptr<AgentCore>> core = AgentCore::Create(options);
  if (!core.ok()) {
    return Fail(errorp, core.status().message(),
                core.status().errno_value() ? core.status().errno_value()
                                            : EINVAL);
  }
  *agentp = new rdma_bond_agent{std::move(*core)};
  return 0;
}

extern "C" void rdma_bond_agent_run(struct rdma_bond_agent* agent) {
  agent->core->Run();
}

extern "C" int rdma_bond_agent_wait(struct rdma_bond_agent* agent, int* fds,
                                    int max_fds, int* n_fds) {
  std::vector<int> all;
  int timeout = agent->core->Wait(&all);
  int n = 0;
  for (int fd : all) {
    if (n < max_fds) fds[n++] = fd;
  }
  *n_fds = n;
  return timeout;
}

extern "C" char* rdma_bond_agent_command(struct rdma_bond_agent* agent,
                                         int argc, const char* argv[],
                                         bool* ok) {
  std::vector<std::string> args(argv, argv + argc);
  rdma_bond::Result<std::string> reply = agent->core->Command(args);
  *ok = reply.ok();
  return Dup(reply.ok() ? *reply : reply.status().message());
}

extern "C" void rdma_bond_agent_shutdown(struct rdma_bond_agent* agent) {
  agent->core->Shutdown();
}

extern "C" void rdma_bond_agent_destroy(struct rdma_bond_agent* agent) {
  delete agent;
}

extern "C" char* rdma_bond_agent_roce_cleanup(struct rdma_bond_agent* agent) {
  rdma_bond::Status status = agent->core->CleanupRoce();
  return status.ok() ? nullptr : Dup(status.message());
}

extern "C" int rdma_bond_agent_roce_dry_run(
    const struct rdma_bond_agent_options* c_options, char** textp) {
  using namespace rdma_bond;
  using namespace rdma_bond::agent;
  const std::string table = c_options->table_path ? c_options->table_path
                                                  : DefaultTablePath();
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(table);
  if (!reader.ok()) {
    return Fail(textp, "--dry-run: " + reader.status().message(), ENOENT);
  }
  Result<TableSnapshot> snapshot = (*reader)->Snapshot();
  if (!snapshot.ok()) {
    return Fail(textp, "--dry-run: " + snapshot.status().message(), EIO);
  }
  RocePlumbing::Options options;
  options.apply = false;
  Result<std::unique_ptr<RocePlumbing>> plumbing =
      RocePlumbing::Create(std::move(options));
  if (!plumbing.ok()) {
    return Fail(textp, "--dry-run: " + plumbing.status().message(), EIO);
  }
  (*plumbing)->Update(*snapshot);
  // ovs-vsctl's own timeout is 5 s.
  PlumbingPlan plan = (*plumbing)->PlanNow(6000);
  std::string out =
      "# What the agent's RoCE plumbing would change (nothing was "
      "changed):\n";
  for (const auto& [name, status] : plan.bonds) {
    out += "# bond " + name +
           (status.bridge.empty() ? "" : " (bridge " + status.bridge + ")") +
           ": ";
    if (!status.refused.empty()) {
      out += "left alone: " + status.refused + "\n";
      continue;
    }
    if (!status.active) {
      out += "no member has an RDMA device\n";
      continue;
    }
    bool todo = false;
    for (const PlumbingAction& a : plan.actions) todo |= a.bond == name;
    out += todo ? "to do\n" : "complete\n";
    for (const std::string& line : status.missing) {
      if (line.rfind("to do: ", 0) != 0) out += "#   missing: " + line + "\n";
    }
    for (const PlumbingAction& a : plan.actions) {
      if (a.bond == name) out += a.text + "\n";
    }
  }
  for (const PlumbingAction& a : plan.actions) {
    if (a.bond.empty()) out += a.text + "\n";
  }
  if (plan.bonds.empty()) out += "# no published bond\n";
  *textp = Dup(out);
  return 0;
}
