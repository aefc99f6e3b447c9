// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// FakeSysfs: a sysfs tree in a temporary directory for the tests of the
// code that reads RDMA devices, ports and GIDs (rdma_sysfs.h).

#ifndef RDMA_BOND_TESTING_FAKE_SYSFS_H_
#define RDMA_BOND_TESTING_FAKE_SYSFS_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace rdma_bond::testing {

namespace fake_sysfs_fs = std::filesystem;

// A sysfs tree in a temporary directory, removed by the destructor: the
// files of /sys/class/net and /sys/class/infiniband that RdmaSysfs reads.
class FakeSysfs {
 public:
  FakeSysfs() {
    std::string pattern =
        (fake_sysfs_fs::temp_directory_path() / "rdma-sysfs-test-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
    EXPECT_FALSE(root_.empty());
  }
  ~FakeSysfs() {
    std::error_code ec;
    fake_sysfs_fs::remove_all(root_, ec);
  }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  const std::string& root() const { return root_; }

  // Writes 'contents' to ROOT/relative, creating the directories.
  void WriteFile(const std::string& relative, const std::string& contents) {
    const fake_sysfs_fs::path path = fake_sysfs_fs::path(root_) / relative;
    fake_sysfs_fs::create_directories(path.parent_path());
    std::ofstream(path) << contents;
  }
  void MakeDirectory(const std::string& relative) {
    fake_sysfs_fs::create_directories(fake_sysfs_fs::path(root_) / relative);
  }
  void WriteNet(const std::string& netdev, const std::string& attribute,
                const std::string& contents) {
    WriteFile("class/net/" + netdev + "/" + attribute, contents);
  }
  void WriteIb(const std::string& device, const std::string& attribute,
               const std::string& contents) {
    WriteFile("class/infiniband/" + device + "/" + attribute, contents);
  }

  void AddNetdev(const std::string& netdev, const std::string& mac) {
    WriteNet(netdev, "address", mac + "\n");
  }
  // 'upper' is stacked on 'lower' (a bond on its member, a VLAN).
  void AddUpper(const std::string& lower, const std::string& upper) {
    MakeDirectory("class/net/" + lower + "/upper_" + upper);
  }
  // Ports 1..ports with empty GID tables.
  void AddRdmaDevice(const std::string& device, uint32_t ports) {
    for (uint32_t port = 1; port <= ports; port++) {
      const std::string base = PortDir(device, port);
      MakeDirectory(base + "/gids");
      MakeDirectory(base + "/gid_attrs/types");
      MakeDirectory(base + "/gid_attrs/ndevs");
    }
  }
  // PCI function 'pci' carries RDMA device 'device' and, unless
  // 'netdev' is empty, netdev 'netdev' (/sys/bus/pci/devices/<pci>/...).
  void AddPciFunction(const std::string& pci, const std::string& device,
                      const std::string& netdev) {
    MakeDirectory("bus/pci/devices/" + pci + "/infiniband/" + device);
    if (!netdev.empty()) {
      MakeDirectory("bus/pci/devices/" + pci + "/net/" + netdev);
    }
  }
  // The netdev's PCI function carries 'device' (a physical RNIC).
  void LinkHardware(const std::string& netdev, const std::string& device) {
    MakeDirectory("class/net/" + netdev + "/device/infiniband/" + device);
  }
  void SetGid(const std::string& device, uint32_t port, uint32_t index,
              const std::string& gid, const std::string& type,
              const std::string& ndev) {
    const std::string base = PortDir(device, port);
    const std::string i = std::to_string(index);
    WriteFile(base + "/gids/" + i, gid + "\n");
    WriteFile(base + "/gid_attrs/types/" + i, type + "\n");
    WriteFile(base + "/gid_attrs/ndevs/" + i, ndev + "\n");
  }
  // An unpopulated entry: a zero GID; its attributes cannot be read (the
  // kernel fails the read with EINVAL; here the files are absent).
  void ClearGid(const std::string& device, uint32_t port, uint32_t index) {
    const std::string base = PortDir(device, port);
    const std::string i = std::to_string(index);
    WriteFile(base + "/gids/" + i,
              "0000:0000:0000:0000:0000:0000:0000:0000\n");
    fake_sysfs_fs::remove(fake_sysfs_fs::path(root_) / (base + "/gid_attrs/types/" + i));
    fake_sysfs_fs::remove(fake_sysfs_fs::path(root_) / (base + "/gid_attrs/ndevs/" + i));
  }
  // The port's counters/port_xmit_data, in 4-octet words as the kernel
  // shows it (the file is what a test writes: any text).
  void SetPortXmitData(const std::string& device, uint32_t port,
                       const std::string& words) {
    WriteFile(PortDir(device, port) + "/counters/port_xmit_data",
              words + "\n");
  }
  // 'device''s device/driver link, to a directory named 'driver' (as
  // sysfs links to /sys/bus/pci/drivers/<driver>).
  void SetDriver(const std::string& device, const std::string& driver) {
    MakeDirectory("bus/pci/drivers/" + driver);
    MakeDirectory("class/infiniband/" + device + "/device");
    const fake_sysfs_fs::path link =
        fake_sysfs_fs::path(root_) / ("class/infiniband/" + device +
                                      "/device/driver");
    std::error_code ec;
    fake_sysfs_fs::remove(link, ec);
    fake_sysfs_fs::create_directory_symlink(
        fake_sysfs_fs::path(root_) / ("bus/pci/drivers/" + driver), link);
  }
  void AddEmptyGids(const std::string& device, uint32_t port, uint32_t from,
                    uint32_t to) {
    for (uint32_t index = from; index < to; index++) {
      ClearGid(device, port, index);
    }
  }

 private:
  static std::string PortDir(const std::string& device, uint32_t port) {
    return "class/infiniband/" + device + "/ports/" + std::to_string(port);
  }

  std::string root_;
};

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_TESTING_FAKE_SYSFS_H_
