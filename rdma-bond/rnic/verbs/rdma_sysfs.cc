// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rnic/verbs/rdma_sysfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "common/hex.h"

namespace rdma_bond {

namespace {

namespace fs = std::filesystem;

// The IPv4-mapped prefix ::ffff:0:0/96 (RFC 4291 2.5.5.2).
constexpr size_t kMappedPrefixLength = 12;
constexpr std::array<uint8_t, kMappedPrefixLength> kMappedPrefix = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// More than any sysfs attribute we read (a GID line is 40 bytes).
constexpr size_t kMaxAttributeBytes = 4096;

// Upper devices nest a few levels at most (VLAN on bond on team...); the
// bound stops a loop in a corrupt or fake tree.
constexpr int kMaxUpperDepth = 8;

// How many GIDs an error message lists before "...".
constexpr size_t kMaxGidsInMessage = 16;

// Reads a sysfs attribute, without its trailing newline.
Result<std::string> ReadAttribute(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::FromErrno("open " + path, errno);
  }
  std::string text;
  char buf[kMaxAttributeBytes];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::FromErrno("read " + path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxAttributeBytes) break;
  }
  ::close(fd);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) {
    text.pop_back();
  }
  return text;
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// The names in directory 'path', sorted.  A missing directory is empty;
// any other failure (EACCES, ENOTDIR) is an error naming the path.
Result<std::vector<std::string>> ListDirectory(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return names;
    return Status::FromErrno("cannot list " + path, ec.value())
        .WithHint("(is sysfs mounted and readable?)");
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    return Status::FromErrno("cannot list " + path, ec.value());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Parses a non-negative decimal index ("3"); false for anything else.
bool ParseIndex(std::string_view text, uint32_t* value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end;
}

// The numeric entries of directory 'path', ascending.
Result<std::vector<uint32_t>> ListIndexes(const std::string& path) {
  Result<std::vector<std::string>> names = ListDirectory(path);
  if (!names.ok()) return names.status();
  std::vector<uint32_t> indexes;
  for (const std::string& name : *names) {
    uint32_t index;
    if (ParseIndex(name, &index)) indexes.push_back(index);
  }
  std::sort(indexes.begin(), indexes.end());
  return indexes;
}

bool IsZero(const Gid& gid) {
  return std::all_of(gid.begin(), gid.end(), [](uint8_t b) { return b == 0; });
}

// "3 10.0.0.1 RoCE v2 eth1" for an error message.
std::string Describe(const SysfsGid& entry) {
  std::string text = std::to_string(entry.index) + " " +
                     ToString(GidToIpAddress(entry.gid)) + " " +
                     (entry.type.empty() ? "?" : entry.type);
  if (!entry.ndev.empty()) text += " " + entry.ndev;
  return text;
}

}  // namespace

Result<Gid> ParseSysfsGid(std::string_view text) {
  std::string_view body = text;
  if (!body.empty() && body.back() == '\n') body.remove_suffix(1);
  Gid gid{};
  const bool ok = ParseHexGroups(body, 2, ':', gid);
  if (!ok) {
    return Status::InvalidArgument(
        "\"" + std::string(body) +
        "\" is not a GID (eight groups of four hex digits, "
        "0000:0000:0000:0000:0000:ffff:0a00:0001)");
  }
  return gid;
}

std::string FormatSysfsGid(const Gid& gid) {
  return FormatHexGroups(gid, 2);
}

Gid IpAddressToGid(const IpAddress& ip) {
  Gid gid{};
  if (ip.version == 4) {
    std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), gid.begin());
    std::copy(ip.bytes.begin(), ip.bytes.begin() + 4,
              gid.begin() + kMappedPrefixLength);
  } else {
    gid = ip.bytes;
  }
  return gid;
}

IpAddress GidToIpAddress(const Gid& gid) {
  IpAddress ip;
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), gid.begin())) {
    ip.version = 4;
    std::copy(gid.begin() + kMappedPrefixLength, gid.end(), ip.bytes.begin());
  } else {
    ip.version = 6;
    ip.bytes = gid;
  }
  return ip;
}

std::string ToString(const RdmaPortRef& port) {
  return port.device + ":" + std::to_string(port.port);
}

RdmaSysfs::RdmaSysfs(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string RdmaSysfs::NetPath(std::string_view netdev) const {
  return root_ + "/class/net/" + std::string(netdev);
}

std::string RdmaSysfs::IbPath(std::string_view device) const {
  return root_ + "/class/infiniband/" + std::string(device);
}

std::string RdmaSysfs::PortPath(const RdmaPortRef& port) const {
  return IbPath(port.device) + "/ports/" + std::to_string(port.port);
}

Result<std::vector<std::string>> RdmaSysfs::ListRdmaDevices() const {
  return ListDirectory(root_ + "/class/infiniband");
}

std::vector<uint32_t> RdmaSysfs::PortsNaming(const std::string& device,
                                             std::string_view netdev) const {
  std::vector<uint32_t> found;
  Result<std::vector<uint32_t>> ports = ListIndexes(IbPath(device) + "/ports");
  if (!ports.ok()) return found;
  for (uint32_t port : *ports) {
    const std::string ndevs =
        PortPath({device, port}) + "/gid_attrs/ndevs";
    Result<std::vector<uint32_t>> indexes = ListIndexes(ndevs);
    if (!indexes.ok()) continue;
    for (uint32_t index : *indexes) {
      // Unpopulated entries fail to read (EINVAL): not this netdev.
      Result<std::string> name =
          ReadAttribute(ndevs + "/" + std::to_string(index));
      if (name.ok() && *name == netdev) {
        found.push_back(port);
        break;
      }
    }
  }
  return found;
}

Result<RdmaPortRef> RdmaSysfs::FindRdmaPort(std::string_view netdev) const {
  const std::string net = NetPath(netdev);
  if (netdev.empty() || netdev.find('/') != std::string_view::npos ||
      !Exists(net)) {
    return Status::NotFound("member \"" + std::string(netdev) +
                            "\" does not exist (no " + net + ")");
  }

  // 1. A physical RNIC: the netdev's device carries the RDMA device.
  Result<std::vector<std::string>> hardware =
      ListDirectory(net + "/device/infiniband");
  if (!hardware.ok()) return hardware.status();
  std::vector<std::string> candidates = *hardware;

  // 2. A soft device whose parent is the netdev, 3. or whose GID table
  // names it.
  Result<std::vector<std::string>> devices = ListRdmaDevices();
  if (!devices.ok()) return devices.status();
  for (const std::string& device : *devices) {
    Result<std::string> parent = ReadAttribute(IbPath(device) + "/parent");
    if (parent.ok() && *parent == netdev) candidates.push_back(device);
  }
  for (const std::string& device : *devices) {
    if (!PortsNaming(device, netdev).empty()) candidates.push_back(device);
  }
  if (candidates.empty()) {
    const std::string name(netdev);
    return Status::NotFound(
        "no RDMA device behind member \"" + name +
        "\" (load rdma_rxe: `rdma link add rxe_" + name +
        " type rxe netdev " + name + "`, or check the NIC driver)");
  }

  RdmaPortRef ref;
  ref.device = candidates.front();
  const std::vector<uint32_t> ports = PortsNaming(ref.device, netdev);
  if (!ports.empty()) {
    ref.port = ports.front();
    return ref;
  }
  // A device found through device/infiniband whose GID table does not
  // name the netdev (yet): dev_port counts the device's ports from 0.
  Result<std::string> dev_port = ReadAttribute(net + "/dev_port");
  uint32_t index;
  if (dev_port.ok() && ParseIndex(*dev_port, &index) &&
      Exists(PortPath({ref.device, index + 1}))) {
    ref.port = index + 1;
  }
  return ref;
}

Result<RdmaPortRef> RdmaSysfs::FindRdmaPortByPci(std::string_view pci) const {
  // It becomes a path: the kernel's form only.
  const std::string name(pci);
  if (!IsPciAddress(pci)) {
    return Status::InvalidArgument("\"" + name +
                                   "\" is not a PCI address (0000:03:00.0)");
  }
  const std::string dev = root_ + "/bus/pci/devices/" + name;
  if (!Exists(dev)) {
    return Status::NotFound("PCI function " + name + " does not exist (no " +
                            dev + ")");
  }
  Result<std::vector<std::string>> devices =
      ListDirectory(dev + "/infiniband");
  if (!devices.ok() || devices->empty()) {
    return Status::NotFound(
        "no RDMA device at PCI function " + name + " (no " + dev +
        "/infiniband/*: is the NIC's RDMA driver, mlx5_ib for ConnectX, "
        "loaded?)");
  }
  RdmaPortRef ref;
  ref.device = devices->front();
  ref.port = 1;
  Result<std::vector<std::string>> netdevs = ListDirectory(dev + "/net");
  if (netdevs.ok() && !netdevs->empty()) {
    const std::vector<uint32_t> ports =
        PortsNaming(ref.device, netdevs->front());
    uint32_t index;
    Result<std::string> dev_port =
        ReadAttribute(dev + "/net/" + netdevs->front() + "/dev_port");
    if (!ports.empty()) {
      ref.port = ports.front();
    } else if (dev_port.ok() && ParseIndex(*dev_port, &index) &&
               Exists(PortPath({ref.device, index + 1}))) {
      ref.port = index + 1;
    }
  }
  return ref;
}

Result<RdmaPortRef> RdmaSysfs::FindMemberRdmaPort(std::string_view name,
                                                  std::string_view netdev,
                                                  std::string_view pci) const {
  if (!netdev.empty()) {
    Result<RdmaPortRef> by_netdev = FindRdmaPort(netdev);
    if (by_netdev.ok() || pci.empty()) return by_netdev;
    Result<RdmaPortRef> by_pci = FindRdmaPortByPci(pci);
    if (by_pci.ok()) return by_pci;
    return by_netdev;
  }
  if (!pci.empty()) {
    Result<RdmaPortRef> by_pci = FindRdmaPortByPci(pci);
    if (by_pci.ok()) return by_pci;
    return by_pci.status().WithPrefix("member \"" + std::string(name) +
                                      "\"");
  }
  return Status::NotFound(
      "member \"" + std::string(name) +
      "\" is neither a kernel netdev nor at a PCI function the table names "
      "(a DPDK vdev?): no RDMA device can be found for it");
}

Result<std::vector<SysfsGid>> RdmaSysfs::ReadGids(
    const RdmaPortRef& port) const {
  const std::string base = PortPath(port);
  if (!Exists(base)) {
    return Status::NotFound("RDMA device port " + ToString(port) +
                            " does not exist (no " + base + ")");
  }
  Result<std::vector<uint32_t>> indexes = ListIndexes(base + "/gids");
  if (!indexes.ok()) return indexes.status();
  std::vector<SysfsGid> gids;
  for (uint32_t index : *indexes) {
    const std::string suffix = "/" + std::to_string(index);
    Result<std::string> text = ReadAttribute(base + "/gids" + suffix);
    if (!text.ok()) return text.status();
    Result<Gid> gid = ParseSysfsGid(*text);
    if (!gid.ok()) {
      return gid.status().WithPrefix(base + "/gids" + suffix);
    }
    if (IsZero(*gid)) continue;
    SysfsGid entry;
    entry.index = index;
    entry.gid = *gid;
    // Attributes of an entry without a netdev (or of an old kernel) fail
    // to read: leave them empty.
    Result<std::string> type =
        ReadAttribute(base + "/gid_attrs/types" + suffix);
    if (type.ok()) entry.type = *type;
    Result<std::string> ndev =
        ReadAttribute(base + "/gid_attrs/ndevs" + suffix);
    if (ndev.ok()) entry.ndev = *ndev;
    gids.push_back(std::move(entry));
  }
  return gids;
}

std::vector<std::string> RdmaSysfs::UpperDevices(
    std::string_view netdev) const {
  static constexpr std::string_view kUpperPrefix = "upper_";
  std::set<std::string> uppers;
  std::vector<std::string> frontier = {std::string(netdev)};
  for (int depth = 0; depth < kMaxUpperDepth && !frontier.empty(); depth++) {
    std::vector<std::string> next;
    for (const std::string& dev : frontier) {
      Result<std::vector<std::string>> names = ListDirectory(NetPath(dev));
      if (!names.ok()) continue;
      for (const std::string& name : *names) {
        if (name.starts_with(kUpperPrefix)) {
          std::string upper = name.substr(kUpperPrefix.size());
          if (upper != netdev && uppers.insert(upper).second) {
            next.push_back(std::move(upper));
          }
        }
      }
    }
    frontier = std::move(next);
  }
  return {uppers.begin(), uppers.end()};
}

Result<RoceGid> RdmaSysfs::FindRoceV2Gid(const RdmaPortRef& port,
                                         std::string_view netdev,
                                         const IpAddress& ip) const {
  Result<std::vector<SysfsGid>> gids = ReadGids(port);
  if (!gids.ok()) return gids.status();
  const Gid wanted = IpAddressToGid(ip);
  const std::vector<std::string> uppers = UpperDevices(netdev);

  // Preference by ndev: 0 the member, 1 an upper device of it, 2 other.
  constexpr int kNoMatch = 3;
  int best_rank = kNoMatch;
  const SysfsGid* best = nullptr;
  const SysfsGid* other_type = nullptr;
  for (const SysfsGid& entry : *gids) {
    if (entry.gid != wanted) continue;
    if (entry.type != kGidTypeRoceV2) {
      if (other_type == nullptr) other_type = &entry;
      continue;
    }
    int rank = 2;
    if (entry.ndev == netdev) {
      rank = 0;
    } else if (std::find(uppers.begin(), uppers.end(), entry.ndev) !=
               uppers.end()) {
      rank = 1;
    }
    if (rank < best_rank) {
      best_rank = rank;
      best = &entry;
    }
  }
  if (best != nullptr) {
    return RoceGid{best->index, best->gid, best->ndev};
  }

  std::string message = "no RoCEv2 GID for " + ToString(ip) + " on " +
                        port.device + " port " + std::to_string(port.port);
  if (other_type != nullptr) {
    message += " (index " + std::to_string(other_type->index) +
               " has it only as " +
               (other_type->type.empty() ? "an unknown type"
                                         : other_type->type) +
               ", which sends no UDP";
  } else {
    message += " (the IP must be on the netdev the RNIC uses, " +
               std::string(netdev) + " or an upper device of it";
  }
  message += "; GIDs seen: ";
  if (gids->empty()) message += "none";
  for (size_t i = 0; i < gids->size() && i < kMaxGidsInMessage; i++) {
    if (i > 0) message += ", ";
    message += Describe((*gids)[i]);
  }
  if (gids->size() > kMaxGidsInMessage) message += ", ...";
  message += ")";
  return Status::NotFound(std::move(message));
}

Result<MacAddress> RdmaSysfs::ReadNetdevMac(std::string_view netdev) const {
  const std::string path = NetPath(netdev) + "/address";
  Result<std::string> text = ReadAttribute(path);
  if (!text.ok()) return text.status();
  Result<MacAddress> mac = ParseMacAddress(*text);
  if (!mac.ok()) return mac.status().WithPrefix(path);
  return mac;
}

Result<std::string> RdmaSysfs::ReadDeviceDriver(
    std::string_view device) const {
  const std::string path = IbPath(device) + "/device/driver";
  std::error_code ec;
  const fs::path target = fs::read_symlink(path, ec);
  if (ec) return Status::FromErrno("readlink " + path, ec.value());
  const std::string name = target.filename().string();
  if (name.empty()) return Status::Corruption(path + ": names no driver");
  return name;
}

Result<uint64_t> RdmaSysfs::ReadPortXmitBytes(const RdmaPortRef& port) const {
  const std::string path = PortPath(port) + "/counters/port_xmit_data";
  Result<std::string> text = ReadAttribute(path);
  if (!text.ok()) return text.status();
  uint64_t words = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, words);
  if (ec != std::errc() || ptr != end || text->empty()) {
    return Status::Corruption(path + ": not a counter: \"" +
                                   text->substr(0, 40) + "\"");
  }
  if (words == 0xffffffffu) {
    return Status::NotSupported(
        path + ": the 32-bit counter has saturated (the device has no "
        "64-bit extended port counters)");
  }
  if (words > UINT64_MAX / 4) {
    return Status::Corruption(path + ": out of range");
  }
  return words * 4;
}

}  // namespace rdma_bond
