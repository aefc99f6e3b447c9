// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/migrate/migration_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <utility>

#include "common/trusted_file.h"

namespace rdma_bond::migrate {
namespace {

// Larger than any bond's state; a bigger file is not ours.
constexpr size_t kMaxStateBytes = 1 << 20;
constexpr char kHeader[] =
    "# ovs-rdma-bond-migrate: the Linux bond before its migration to OVS "
    "(the rollback point of `revert`; do not edit)\n";

// mkdir -p with 'mode' for what it makes.
Status MakeDirs(const std::string& dir, mode_t mode) {
  std::string path;
  size_t start = 0;
  while (start < dir.size()) {
    size_t end = dir.find('/', start + 1);
    if (end == std::string::npos) end = dir.size();
    path = dir.substr(0, end);
    start = end;
    if (path.empty() || path == "/") continue;
    if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) {
      return Status::FromErrno("cannot make directory " + path, errno);
    }
  }
  return Status::OK();
}

std::string Netmask(int prefix) {
  uint32_t m = prefix ? ~uint32_t{0} << (32 - prefix) : 0;
  return std::to_string(m >> 24) + "." + std::to_string((m >> 16) & 255) +
         "." + std::to_string((m >> 8) & 255) + "." + std::to_string(m & 255);
}

std::string StanzaPath(const std::string& ifdir, const std::string& bond) {
  return ifdir + "/interfaces.d/ovs-rdma-bond-" + bond;
}

}  // namespace

StateFile::StateFile(std::string dir, const std::string& bond)
    : dir_(std::move(dir)), path_(dir_ + "/" + bond + ".migration") {}

bool StateFile::Exists() const {
  struct stat st;
  return lstat(path_.c_str(), &st) == 0;
}

Status StateFile::Save(const std::string& status, const std::string& bridge,
                       const LinuxBond& bond) const {
  Status made = MakeDirs(dir_, 0700);
  if (!made.ok()) return made;
  Status trusted = CheckTrustedPath("state directory", dir_,
                                    FileKind::kDirectory);
  if (!trusted.ok()) return trusted;
  return WriteAtomically(path_, FormatState(status, bridge, bond), 0600,
                                /*durable=*/true);
}

Result<SavedMigration> StateFile::Load() const {
  if (!Exists()) {
    return Status::NotFound("no migration of it is recorded in " + path_ +
                            " (nothing to revert)");
  }
  Result<std::string> text =
      ReadPrivateFile(path_, "migration state " + path_, kMaxStateBytes);
  if (!text.ok()) return text.status();
  Result<SavedMigration> saved = ParseState(*text);
  if (!saved.ok()) {
    return Status::InvalidArgument(path_ + ": " + saved.status().ToString());
  }
  return saved;
}

Status StateFile::Remove() const {
  if (unlink(path_.c_str()) < 0 && errno != ENOENT) {
    return Status::FromErrno("cannot remove " + path_, errno);
  }
  return Status::OK();
}

std::string FormatState(const std::string& status, const std::string& bridge,
                        const LinuxBond& bond) {
  return std::string(kHeader) + "migration status=" + status +
         " bridge=" + bridge + "\n" + Serialize(bond);
}

Result<SavedMigration> ParseState(const std::string& text) {
  static const std::regex kLine(
      "^migration status=(applying|applied) bridge=([^ /]{1,15})$");
  std::istringstream in(text);
  std::string line, rest;
  SavedMigration saved;
  bool found = false;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!found && std::regex_match(line, m, kLine)) {
      saved.status = m[1];
      saved.bridge = m[2];
      found = true;
      continue;
    }
    rest += line + "\n";
  }
  if (!found) return Status::InvalidArgument("no \"migration\" line");
  Result<LinuxBond> bond = Deserialize(rest);
  if (!bond.ok()) return bond.status();
  saved.bond = std::move(*bond);
  return saved;
}

std::string IfupdownStanzas(const LinuxBond& bond, const MigrationPlan& plan) {
  const std::string& br = plan.bridge;
  std::string out =
      "# Written by ovs-rdma-bond-migrate: the OVS bridge and bond that "
      "replaced\n# the Linux bond " + bond.name +
      " (openvswitch-switch's ifupdown integration).\n"
      "# `ovs-rdma-bond-migrate revert " + bond.name + "` removes this file.\n";
  out += "auto " + br + "\nallow-ovs " + br + "\n";
  const BondAddress* first = nullptr;
  for (const BondAddress& a : bond.addresses) {
    if (a.family == 4) {
      first = &a;
      break;
    }
  }
  out += "iface " + br + " inet " + (first ? "static" : "manual") + "\n";
  if (first) {
    out += "    address " + first->ip + "\n    netmask " +
           Netmask(first->prefix_len) + "\n";
  }
  out += "    ovs_type OVSBridge\n    ovs_ports " + bond.name + "\n";
  out += "    ovs_mtu " + std::to_string(bond.mtu) + "\n";
  out += "    ovs_extra set bridge " + br + " datapath_type=" +
         plan.datapath_type + " other_config:hwaddr=" + bond.mac + "\n";
  for (const BondAddress& a : bond.addresses) {
    if (&a == first) continue;
    out += "    up ip address add " + a.ip + "/" +
           std::to_string(a.prefix_len) + " dev " + br + "\n";
  }
  for (const BondRoute& r : bond.routes) {
    out += "    up ip route add " + RouteDestination(r) +
           (r.gateway.empty() ? "" : " via " + r.gateway) + " dev " + br +
           " table " + std::to_string(r.table) + " metric " +
           std::to_string(r.metric) + "\n";
  }
  for (const BondNeighbour& n : bond.PermanentNeighbours()) {
    out += "    up ip neigh replace " + n.ip + " lladdr " + n.mac +
           " nud permanent dev " + br + "\n";
  }
  out += "\nallow-" + br + " " + bond.name + "\niface " + bond.name +
         " inet manual\n    ovs_bridge " + br +
         "\n    ovs_type OVSBond\n    ovs_bonds";
  for (const BondMember& m : bond.members) out += " " + m.name;
  out += "\n    ovs_options";
  for (const std::string& s : plan.port_settings) out += " " + s;
  out += "\n";
  return out;
}

Result<std::string> WriteIfupdown(const std::string& ifdir,
                                  const LinuxBond& bond,
                                  const MigrationPlan& plan) {
  Status made = MakeDirs(ifdir + "/interfaces.d", 0755);
  if (!made.ok()) return made;
  const std::string path = StanzaPath(ifdir, bond.name);
  Status written =
      WriteAtomically(path, IfupdownStanzas(bond, plan), 0644);
  if (!written.ok()) return written;
  std::string out = "Persisted for ifupdown: " + path + "\n";
  // What else would act at boot: the Linux bond's own stanza, and an
  // interfaces file that does not read interfaces.d.
  static const std::regex kSource(
      "^\\s*(source\\s+\\S*interfaces\\.d/\\*|source-directory\\s+\\S*"
      "interfaces\\.d)\\s*$");
  const std::regex bond_line("^\\s*(iface|auto|allow-hotplug)\\s+(.*\\s)?" +
                             bond.name + "(\\s.*)?$");
  std::vector<std::string> files = {ifdir + "/interfaces"};
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator(ifdir + "/interfaces.d", ec)) {
    if (e.path().string() != path) files.push_back(e.path().string());
  }
  bool sources = false;
  for (const std::string& f : files) {
    std::ifstream in(f);
    std::string line;
    for (int n = 1; std::getline(in, line); n++) {
      if (f == ifdir + "/interfaces" && std::regex_match(line, kSource)) {
        sources = true;
      }
      if (std::regex_match(line, bond_line)) {
        out += "The Linux bond " + bond.name + " is still configured in " + f +
               ":" + std::to_string(n) + " (\"" + line +
               "\"): remove its stanza, or it comes back at boot.\n";
      }
    }
  }
  if (!sources) {
    out += ifdir + "/interfaces does not read interfaces.d: add \"source " +
           ifdir + "/interfaces.d/*\" to it.\n";
  }
  return out;
}

Result<std::string> RemoveIfupdown(const std::string& ifdir,
                                   const std::string& bond) {
  const std::string path = StanzaPath(ifdir, bond);
  if (unlink(path.c_str()) < 0) {
    if (errno == ENOENT) return std::string();
    return Status::FromErrno("cannot remove " + path, errno);
  }
  return "Removed " + path + ": put the Linux bond " + bond +
         "'s own configuration back if it was persisted.\n";
}

}  // namespace rdma_bond::migrate
