// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/migrate/migration_state.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "testing/linux_bond_example.h"

namespace rdma_bond::migrate {
namespace {

// The lab's bond, with a second address and a default route.
LinuxBond Bond() {
  LinuxBond b = testing::LabActiveBackupBond();
  b.addresses.push_back({4, "10.79.1.1", 16, "", 0, "", false});
  b.routes[0].dst = "default";
  b.routes[0].gateway = "10.79.0.254";
  return b;
}

class TempDir {
 public:
  TempDir() {
    char templ[] = "/tmp/migrate-test.XXXXXX";
    path_ = mkdtemp(templ);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MigrationStateTest, SavesLoadsAndRemoves) {
  TempDir tmp;
  StateFile state(tmp.path() + "/migrate", "bond0");
  EXPECT_FALSE(state.Exists());
  Result<SavedMigration> none = state.Load();
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());

  ASSERT_TRUE(state.Save("applying", "br0", Bond()).ok());
  struct stat st;
  ASSERT_EQ(stat((tmp.path() + "/migrate").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(state.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(state.Save("applied", "br0", Bond()).ok());  // Over the old.

  Result<SavedMigration> saved = state.Load();
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(saved->status, "applied");
  EXPECT_EQ(saved->bridge, "br0");
  EXPECT_EQ(saved->bond, Bond());

  ASSERT_TRUE(state.Remove().ok());
  EXPECT_FALSE(state.Exists());
  EXPECT_TRUE(state.Remove().ok());  // Gone already: fine.
}

TEST(MigrationStateTest, RefusesAFileItDidNotWrite) {
  TempDir tmp;
  StateFile state(tmp.path(), "bond0");
  ASSERT_TRUE(state.Save("applied", "br0", Bond()).ok());
  std::string text = ReadAll(state.path());

  std::ofstream(state.path()) << "migration status=done bridge=br0\n";
  chmod(state.path().c_str(), 0600);
  Result<SavedMigration> r = state.Load();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(), state.path() + ": no \"migration\" line");

  // Anyone may write it: not believed.
  std::ofstream(state.path()) << text;
  chmod(state.path().c_str(), 0666);
  r = state.Load();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find(state.path()), std::string::npos);

}

TEST(MigrationStateTest, IfupdownStanzasAndWhatStillActsAtBoot) {
  MigrationPlan plan;
  plan.bridge = "br0";
  plan.datapath_type = "system";
  plan.port_settings = {"bond_mode=active-backup",
                        "other_config:rdma-bond=true"};
  EXPECT_EQ(IfupdownStanzas(Bond(), plan),
            R"(# Written by ovs-rdma-bond-migrate: the OVS bridge and bond that replaced
# the Linux bond bond0 (openvswitch-switch's ifupdown integration).
# `ovs-rdma-bond-migrate revert bond0` removes this file.
auto br0
allow-ovs br0
iface br0 inet static
    address 10.79.0.1
    netmask 255.255.255.0
    ovs_type OVSBridge
    ovs_ports bond0
    ovs_mtu 1500
    ovs_extra set bridge br0 datapath_type=system other_config:hwaddr=02:79:00:00:00:01
    up ip address add 10.79.1.1/16 dev br0
    up ip route add default via 10.79.0.254 dev br0 table 254 metric 0
    up ip neigh replace 10.79.0.250 lladdr 02:79:00:00:00:fa nud permanent dev br0

allow-br0 bond0
iface bond0 inet manual
    ovs_bridge br0
    ovs_type OVSBond
    ovs_bonds eth0 eth1
    ovs_options bond_mode=active-backup other_config:rdma-bond=true
)");

  TempDir tmp;
  std::filesystem::create_directories(tmp.path() + "/interfaces.d");
  std::ofstream(tmp.path() + "/interfaces")
      << "auto lo\niface lo inet loopback\n\nauto bond0\niface bond0 inet "
         "static\n    bond-slaves eth0 eth1\n";
  Result<std::string> said = WriteIfupdown(tmp.path(), Bond(), plan);
  ASSERT_TRUE(said.ok()) << said.status().ToString();
  const std::string file = tmp.path() + "/interfaces.d/ovs-rdma-bond-bond0";
  EXPECT_EQ(ReadAll(file), IfupdownStanzas(Bond(), plan));
  EXPECT_EQ(*said,
            "Persisted for ifupdown: " + file + "\n" +
                "The Linux bond bond0 is still configured in " + tmp.path() +
                "/interfaces:4 (\"auto bond0\"): remove its stanza, or it "
                "comes back at boot.\n" +
                "The Linux bond bond0 is still configured in " + tmp.path() +
                "/interfaces:5 (\"iface bond0 inet static\"): remove its "
                "stanza, or it comes back at boot.\n" +
                tmp.path() + "/interfaces does not read interfaces.d: add "
                "\"source " + tmp.path() + "/interfaces.d/*\" to it.\n");

  std::ofstream(tmp.path() + "/interfaces")
      << "source " << tmp.path() << "/interfaces.d/*\nauto lo\n";
  said = WriteIfupdown(tmp.path(), Bond(), plan);
  ASSERT_TRUE(said.ok());
  EXPECT_EQ(*said, "Persisted for ifupdown: " + file + "\n");

  Result<std::string> removed = RemoveIfupdown(tmp.path(), "bond0");
  ASSERT_TRUE(removed.ok());
  EXPECT_NE(removed->find("Removed " + file), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(file));
  removed = RemoveIfupdown(tmp.path(), "bond0");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, "");
}

}  // namespace
}  // namespace rdma_bond::migrate
