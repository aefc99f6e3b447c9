// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "table/bond_discovery.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "common/run_program.h"

namespace rdma_bond {

namespace {

bool SameAddress(const sockaddr* sa, const IpAddress& address) {
  if (sa == nullptr) {
    return false;
  }
  if (sa->sa_family == AF_INET && address.version == 4) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return std::memcmp(&in->sin_addr, address.bytes.data(), 4) == 0;
  }
  if (sa->sa_family == AF_INET6 && address.version == 6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return std::memcmp(&in6->sin6_addr, address.bytes.data(), 16) == 0;
  }
  return false;
}

// Runs 'argv' and returns its standard output; fails naming the command
// if it cannot run or exits non-zero (with its first line of error).
Result<std::string> RunCommand(const std::vector<std::string>& argv) {
  RunProgramOptions options;
  options.merge_stderr = true;
  Result<ProgramOutput> run = RunProgram(argv, options);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    std::string first = run->out.substr(0, run->out.find('\n'));
    if (run->exit_code == 127) first = argv[0] + " not found in PATH";
    std::string shown;
    for (size_t i = 0; i < argv.size(); i++) {
      shown += (i ? " " : "") + argv[i];
    }
    return Status::Unavailable("\"" + shown + "\" failed: " + first);
  }
  return run->out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

}  // namespace

Result<std::pair<std::string, MacAddress>> FindInterfaceOf(
    const IpAddress& address) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return Status::FromErrno("getifaddrs", errno);
  }
  std::string name;
  for (ifaddrs* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    if (SameAddress(ifa->ifa_addr, address)) {
      name = ifa->ifa_name;
      break;
    }
  }
  freeifaddrs(list);
  if (name.empty()) {
    return Status::NotFound("no interface holds " + ToString(address) +
                            " in this network namespace");
  }
  std::ifstream file("/sys/class/net/" + name + "/address");
  std::string text;
  if (!(file >> text)) {
    return Status::NotFound("cannot read the MAC address of " + name +
                            " (/sys/class/net/" + name + "/address)");
  }
  Result<MacAddress> mac = ParseMacAddress(text);
  if (!mac.ok()) {
    return mac.status().WithPrefix(name);
  }
  return std::make_pair(name, *mac);
}

Result<DiscoveredBond> DiscoverBond(const IpAddress& local,
                                    const BondDiscoveryOptions& options) {
  DiscoveredBond found;
  // The interface is how the bond is found; with the bond given it is
  // only informative (the address may live elsewhere, e.g. in a test).
  Result<std::pair<std::string, MacAddress>> iface = FindInterfaceOf(local);
  if (iface.ok()) {
    found.interface = iface->first;
    found.mac = iface->second;
  } else if (options.bond.empty()) {
    return iface.status();
  }
  found.shm_path =
      options.shm_path.empty() ? DefaultTablePath() : options.shm_path;

  Result<std::unique_ptr<TableReader>> reader =
      TableReader::Open(found.shm_path);
  if (!reader.ok()) {
    return reader.status().WithHint(
        "(is the patched ovs-vswitchd running with "
        "other_config:rdma-bond=true on a bond? --shm names another table)");
  }
  Result<TableSnapshot> snapshot = (*reader)->Snapshot();
  if (!snapshot.ok()) {
    return snapshot.status();
  }
  found.hash_impl = snapshot->table.hash_impl;

  std::string bond_name = options.bond;
  if (bond_name.empty()) {
    // The bridge's own internal port has the bridge's name, and
    // iface-to-br does not know it.
    Result<std::string> bridge =
        RunCommand({options.ovs_vsctl, "--timeout=5", "br-exists",
                    found.interface})
                .ok()
            ? Result<std::string>(found.interface + "\n")
            : RunCommand({options.ovs_vsctl, "--timeout=5", "iface-to-br",
                          found.interface});
    if (!bridge.ok()) {
      return bridge.status().WithPrefix(
          "cannot find the OVS bridge of " + found.interface + " (holding " +
          ToString(local) + "); give the bond with --bond");
    }
    found.bridge = Lines(*bridge).empty() ? "" : Lines(*bridge)[0];
    Result<std::string> ports = RunCommand(
        {options.ovs_vsctl, "--timeout=5", "list-ports", found.bridge});
    if (!ports.ok()) {
      return ports.status();
    }
    std::set<std::string> port_set;
    for (const std::string& port : Lines(*ports)) {
      port_set.insert(port);
    }
    std::vector<std::string> published;
    for (const Bond& bond : snapshot->bonds) {
      if (port_set.count(bond.name)) {
        published.push_back(bond.name);
      }
    }
    if (published.empty()) {
      return Status::NotFound(
          "bridge " + found.bridge + " (of " + found.interface + ", holding " +
          ToString(local) + ") has no bond published in " + found.shm_path +
          " (set other_config:rdma-bond=true on its bond port)");
    }
    if (published.size() > 1) {
      std::string names;
      for (const std::string& name : published) {
        names += (names.empty() ? "" : ", ") + name;
      }
      return Status::InvalidArgument("bridge " + found.bridge +
                                     " has several published bonds (" +
                                     names + "): choose one with --bond");
    }
    bond_name = published[0];
  }
  const Bond* bond = snapshot->FindBond(bond_name);
  if (bond == nullptr) {
    return Status::NotFound("bond \"" + bond_name + "\" is not published in " +
                            found.shm_path +
                            " (set other_config:rdma-bond=true)");
  }
  found.bond = *bond;
  return found;
}

}  // namespace rdma_bond
