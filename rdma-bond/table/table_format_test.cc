// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The text and JSON renderings of a small deterministic table, compared
// byte for byte: both are interfaces (rdma-bondctl(8)).

#include "table/table_format.h"

#include <arpa/inet.h>

#include <string>

#include <gtest/gtest.h>

#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::MakeRecord;
using testing::SetName;

constexpr uint64_t kNsPerMs = 1000 * 1000;
constexpr uint64_t kHeartbeatNs = 50000 * kNsPerMs;
constexpr uint64_t kNowNs = kHeartbeatNs + 12 * kNsPerMs;
constexpr char kPath[] = "/run/openvswitch/rdma-bond.shm";

// 'line' repeated 'n' times.
std::string Repeat(const std::string& line, int n) {
  std::string text;
  for (int i = 0; i < n; i++) {
    text += line;
  }
  return text;
}

class TableFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TableOptions options;
    options.instance_id = UINT64_C(0x0123456789abcdef);
    options.writer_pid = 1;  // init: always running.
    options.heartbeat_ns = kHeartbeatNs;
    table_ = testing::WritableTable::Create(
        dir_.File(RDMA_BOND_TABLE_NAME), options);
    ASSERT_NE(table_, nullptr);
  }

  // Publishes the three bonds of the expected outputs, out of name order.
  void PublishBonds() {
    // Slot 0: "tcp0", balance-tcp with LACP, p1 takes buckets 0-127 and p2
    // 128-254, bucket 255 unassigned; one IPv4 and one IPv6 vector.
    rdma_bond_record tcp = MakeRecord("tcp0");
    tcp.generation = 3;
    tcp.change_ns = kNowNs - 5 * kNsPerMs;
    tcp.reasons = RDMA_BOND_REASON_ADDED | RDMA_BOND_REASON_REBALANCE;
    tcp.mode = RDMA_BOND_MODE_BALANCE_TCP;
    tcp.lacp_status = RDMA_BOND_LACP_NEGOTIATED;
    tcp.regime = RDMA_BOND_REGIME_RECIRC;
    tcp.basis = 7;
    tcp.recirc_id = 1;
    tcp.flags = RDMA_BOND_F_MAY_RECIRC | RDMA_BOND_F_DP_RECIRC;
    tcp.active_member = 1;
    tcp.members[0].ifindex = 10;
    tcp.members[1].ifindex = 11;
    tcp.members[1].flags |= RDMA_BOND_M_PRIMARY;
    for (int i = 0; i < RDMA_BOND_BUCKETS; i++) {
      tcp.buckets[i] = i < 128 ? 0 : 1;
    }
    tcp.buckets[255] = RDMA_BOND_NO_MEMBER;
    tcp.n_vectors = 2;
    rdma_bond_hash_vector& v4 = tcp.vectors[0];
    inet_pton(AF_INET, "10.0.0.1", v4.src);
    inet_pton(AF_INET, "10.0.0.2", v4.dst);
    v4.sport_be = htons(49152);
    v4.dport_be = htons(4791);
    v4.ip_version = 4;
    v4.nw_proto = 17;
    v4.hash_basis0 = 123;
    v4.hash_basis = 456;
    v4.hash_regime = 789;
    rdma_bond_hash_vector& v6 = tcp.vectors[1];
    inet_pton(AF_INET6, "fd00::a", v6.src);
    inet_pton(AF_INET6, "fd00::b", v6.dst);
    v6.sport_be = htons(65535);
    v6.dport_be = htons(4791);
    v6.ip_version = 6;
    v6.nw_proto = 17;
    v6.hash_basis0 = 4294967295u;
    table_->Store(0, tcp);

    // Slot 3: "ab0", active-backup on the dummy datapath, "p2" active and
    // "p1" down.
    rdma_bond_record ab = MakeRecord("ab0");
    ab.generation = 9;
    ab.change_ns = kNowNs - 1500 * kNsPerMs;
    ab.reasons = RDMA_BOND_REASON_ACTIVE_MEMBER |
                 RDMA_BOND_REASON_MEMBER_STATE;
    SetName(ab.dp_type, "dummy");
    ab.active_member = 1;
    ab.members[0].flags = RDMA_BOND_M_MAY_ENABLE;
    table_->Store(3, ab);

    // Slot 7: "k\"0", balance-tcp on the kernel datapath (a name with a
    // quote, to show the escaping), no active member, no members.
    rdma_bond_record kernel = MakeRecord("k\"0", {});
    kernel.change_ns = kNowNs + kNsPerMs;  // Ahead of "now": age 0.
    kernel.reasons = 0;
    kernel.mode = RDMA_BOND_MODE_BALANCE_TCP;
    kernel.lacp_status = RDMA_BOND_LACP_FAILED;
    kernel.lacp_fallback_ab = 1;
    kernel.regime = RDMA_BOND_REGIME_KERNEL;
    kernel.active_member = RDMA_BOND_NO_MEMBER;
    SetName(kernel.dp_type, "system");
    kernel.flags = RDMA_BOND_F_LB_OUTPUT_CONFIGURED |
                   RDMA_BOND_F_LB_OUTPUT_ACTIVE;
    table_->Store(7, kernel);

    rdma_bond_table_set_n_used(table_->header(), 3);
    for (int i = 0; i < 5; i++) {
      rdma_bond_table_notify(table_->header());
    }
  }

  // A snapshot at kNowNs, shown under the production path.
  TableSnapshot Snap() {
    Result<std::unique_ptr<TableReader>> reader =
        TableReader::Open(dir_.File(RDMA_BOND_TABLE_NAME));
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) {
      return {};
    }
    Result<TableSnapshot> snapshot = (*reader)->Snapshot(kNowNs);
    EXPECT_TRUE(snapshot.ok()) << snapshot.status().ToString();
    if (!snapshot.ok()) {
      return {};
    }
    snapshot->table.path = kPath;
    return std::move(*snapshot);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::WritableTable> table_;
};

TEST_F(TableFormatTest, TextOfEmptyTable) {
  EXPECT_EQ(FormatTableText(Snap()),
            "table:         /run/openvswitch/rdma-bond.shm\n"
            "instance id:   0x0123456789abcdef\n"
            "writer pid:    1 (running)\n"
            "ovs version:   3.1.0\n"
            "hash impl:     mhash\n"
            "heartbeat age: 12 ms\n"
            "\n"
            "no bonds published\n");
}

// One member of the JSON document, from a table without locations.
std::string MemberJson(const char* name, int ofport, int ifindex,
                       const char* mac, bool enabled, bool may_enable,
                       bool carrier, bool primary, bool last) {
  auto b = [](bool v) { return v ? "true" : "false"; };
  return std::string("        {\n") +
         "          \"name\": \"" + name + "\",\n" +
         "          \"ofport\": " + std::to_string(ofport) + ",\n" +
         "          \"ifindex\": " + std::to_string(ifindex) + ",\n" +
         "          \"mac\": \"" + mac + "\",\n" +
         "          \"enabled\": " + b(enabled) + ",\n" +
         "          \"may_enable\": " + b(may_enable) + ",\n" +
         "          \"carrier\": " + b(carrier) + ",\n" +
         "          \"primary\": " + b(primary) + ",\n" +
         "          \"netdev\": \"" + name + "\",\n" +
         "          \"location\": {\"kind\": \"unknown\", \"type\": \"\", "
         "\"pci\": \"\", \"kernel_netdev\": \"\", \"dpdk_port\": null, "
         "\"devargs\": \"\", \"rx_rss\": false}\n" +
         "        }" + (last ? "\n" : ",\n");
}

// The "table" member of the JSON document of the fixture's header.
std::string TableJson(const char* change_word, const char* n_used) {
  return std::string(
             "  \"table\": {\"path\": \"/run/openvswitch/rdma-bond.shm\", "
             "\"abi_version\": 1, \"abi_minor\": 0, \"locations\": false, "
             "\"instance_id\": \"0x0123456789abcdef\", "
             "\"writer_pid\": 1, \"writer_alive\": true, "
             "\"writer_exited\": false, \"ovs_version\": \"3.1.0\", "
             "\"hash_impl\": \"mhash\", \"heartbeat_age_ms\": 12, "
             "\"stale\": false, \"replaced\": false, \"change_word\": ") +
         change_word + ", \"n_used\": " + n_used + "},\n";
}

TEST_F(TableFormatTest, JsonOfEmptyTable) {
  EXPECT_EQ(FormatTableJson(Snap()),
            "{\n" + TableJson("0", "0") +
                "  \"bonds\": []\n"
                "}\n");
}

TEST_F(TableFormatTest, TextSortsBondsByNameAndAlignsThem) {
  PublishBonds();
  EXPECT_EQ(
      FormatTableText(Snap()),
      "table:         /run/openvswitch/rdma-bond.shm\n"
      "instance id:   0x0123456789abcdef\n"
      "writer pid:    1 (running)\n"
      "ovs version:   3.1.0\n"
      "hash impl:     mhash\n"
      "heartbeat age: 12 ms\n"
      "\n"
      "---- ab0 ----\n"
      "slot:               3\n"
      "mode:               active-backup\n"
      "generation:         9\n"
      "lacp:               off\n"
      "lacp-fallback-ab:   false\n"
      "hash regime:        none\n"
      "basis:              0\n"
      "dp type:            dummy\n"
      "recirc id:          0\n"
      "lb-output action:   false\n"
      "rdma rebalance:     false\n"
      "active member:      p2\n"
      "last change:        1500 ms ago (active-member, member-state)\n"
      "hash vectors:       0\n"
      "unassigned buckets: 256\n"
      "members:\n"
      "  name  ofport  ifindex  mac                buckets  state\n"
      "  p1         1        0  aa:55:aa:55:00:01        0  may-enable\n"
      "  p2         2        0  aa:55:aa:55:00:02        0  active enabled "
      "may-enable carrier\n"
      "\n"
      "---- k\"0 ----\n"
      "slot:               7\n"
      "mode:               balance-tcp\n"
      "generation:         1\n"
      "lacp:               failed\n"
      "lacp-fallback-ab:   true\n"
      "hash regime:        kernel\n"
      "note:               the kernel datapath hashes the skb hash: this "
      "regime cannot be reproduced outside the datapath\n"
      "basis:              0\n"
      "dp type:            system\n"
      "recirc id:          0\n"
      "lb-output action:   true\n"
      "rdma rebalance:     false\n"
      "active member:      none\n"
      "last change:        0 ms ago\n"
      "hash vectors:       0\n"
      "unassigned buckets: 256\n"
      "members: none\n"
      "\n"
      "---- tcp0 ----\n"
      "slot:               0\n"
      "mode:               balance-tcp\n"
      "generation:         3\n"
      "lacp:               negotiated\n"
      "lacp-fallback-ab:   false\n"
      "hash regime:        recirc\n"
      "basis:              7\n"
      "dp type:            netdev\n"
      "recirc id:          1\n"
      "lb-output action:   false\n"
      "rdma rebalance:     false\n"
      "active member:      p2\n"
      "last change:        5 ms ago (added, rebalance)\n"
      "hash vectors:       2\n"
      "unassigned buckets: 1\n"
      "members:\n"
      "  name  ofport  ifindex  mac                buckets  state\n"
      "  p1         1       10  aa:55:aa:55:00:01      128  enabled "
      "may-enable carrier\n"
      "  p2         2       11  aa:55:aa:55:00:02      127  active enabled "
      "may-enable carrier primary\n");
}

TEST_F(TableFormatTest, JsonSortsBondsByName) {
  PublishBonds();
  const std::string kNoBuckets =
      "      \"buckets\": [" + Repeat("null, ", 255) + "null],\n";
  EXPECT_EQ(
      FormatTableJson(Snap()),
      "{\n" + TableJson("5", "3") +
      "  \"bonds\": [\n"
      // ab0: active-backup, no bucket assigned.
      "    {\n"
      "      \"slot\": 3,\n"
      "      \"name\": \"ab0\",\n"
      "      \"generation\": 9,\n"
      "      \"mode\": \"active-backup\",\n"
      "      \"lacp\": \"off\",\n"
      "      \"lacp_fallback_ab\": false,\n"
      "      \"regime\": \"none\",\n"
      "      \"reproducible\": true,\n"
      "      \"basis\": 0,\n"
      "      \"dp_type\": \"dummy\",\n"
      "      \"recirc_id\": 0,\n"
      "      \"lb_output_action\": false,\n"
      "      \"rdma_rebalance\": false,\n"
      "      \"may_recirc\": false,\n"
      "      \"active_member\": \"p2\",\n"
      "      \"change_age_ms\": 1500,\n"
      "      \"reasons\": [\"active-member\", \"member-state\"],\n"
      "      \"members\": [\n" +
      MemberJson("p1", 1, 0, "aa:55:aa:55:00:01", false, true, false, false, false) +
      MemberJson("p2", 2, 0, "aa:55:aa:55:00:02", true, true, true, false, true) +
      "      ],\n" +
      kNoBuckets +
      "      \"bucket_counts\": {\"p1\": 0, \"p2\": 0},\n"
      "      \"vectors\": []\n"
      "    },\n"
      // k"0: kernel regime, no members.
      "    {\n"
      "      \"slot\": 7,\n"
      "      \"name\": \"k\\\"0\",\n"
      "      \"generation\": 1,\n"
      "      \"mode\": \"balance-tcp\",\n"
      "      \"lacp\": \"failed\",\n"
      "      \"lacp_fallback_ab\": true,\n"
      "      \"regime\": \"kernel\",\n"
      "      \"reproducible\": false,\n"
      "      \"basis\": 0,\n"
      "      \"dp_type\": \"system\",\n"
      "      \"recirc_id\": 0,\n"
      "      \"lb_output_action\": true,\n"
      "      \"rdma_rebalance\": false,\n"
      "      \"may_recirc\": false,\n"
      "      \"active_member\": null,\n"
      "      \"change_age_ms\": 0,\n"
      "      \"reasons\": [],\n"
      "      \"members\": [],\n" +
      kNoBuckets +
      "      \"bucket_counts\": {},\n"
      "      \"vectors\": []\n"
      "    },\n"
      // tcp0: balance-tcp, buckets split, two vectors.
      "    {\n"
      "      \"slot\": 0,\n"
      "      \"name\": \"tcp0\",\n"
      "      \"generation\": 3,\n"
      "      \"mode\": \"balance-tcp\",\n"
      "      \"lacp\": \"negotiated\",\n"
      "      \"lacp_fallback_ab\": false,\n"
      "      \"regime\": \"recirc\",\n"
      "      \"reproducible\": true,\n"
      "      \"basis\": 7,\n"
      "      \"dp_type\": \"netdev\",\n"
      "      \"recirc_id\": 1,\n"
      "      \"lb_output_action\": false,\n"
      "      \"rdma_rebalance\": false,\n"
      "      \"may_recirc\": true,\n"
      "      \"active_member\": \"p2\",\n"
      "      \"change_age_ms\": 5,\n"
      "      \"reasons\": [\"added\", \"rebalance\"],\n"
      "      \"members\": [\n" +
      MemberJson("p1", 1, 10, "aa:55:aa:55:00:01", true, true, true, false, false) +
      MemberJson("p2", 2, 11, "aa:55:aa:55:00:02", true, true, true, true, true) +
      "      ],\n"
      "      \"buckets\": [" +
      Repeat("\"p1\", ", 128) + Repeat("\"p2\", ", 127) + "null],\n"
      "      \"bucket_counts\": {\"p1\": 128, \"p2\": 127},\n"
      "      \"vectors\": [\n"
      "        {\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", "
      "\"sport\": 49152, \"dport\": 4791, \"proto\": 17, "
      "\"hash_basis0\": 123, \"hash_basis\": 456, \"hash_regime\": 789},\n"
      "        {\"src\": \"fd00::a\", \"dst\": \"fd00::b\", "
      "\"sport\": 65535, \"dport\": 4791, \"proto\": 17, "
      "\"hash_basis0\": 4294967295, \"hash_basis\": 0, "
      "\"hash_regime\": 0}\n"
      "      ]\n"
      "    }\n"
      "  ]\n"
      "}\n");
}

TEST_F(TableFormatTest, NoWarningsForAHealthyWriter) {
  EXPECT_TRUE(TableWarnings(Snap()).empty());
}

TEST_F(TableFormatTest, WarnsAboutStaleHeartbeatAndDeadWriter) {
  TableSnapshot snapshot = Snap();
  snapshot.table.writer_pid = 4242;
  snapshot.health.heartbeat_age_ms = 4523;
  snapshot.health.stale = true;
  snapshot.health.alive = false;
  const std::vector<std::string> expected = {
      "heartbeat is 4523 ms old (stale after 3000 ms): ovs-vswitchd "
      "(pid 4242) is hung or dead",
      "writer pid 4242 is not running and did not exit cleanly: the table "
      "is out of date"};
  EXPECT_EQ(TableWarnings(snapshot), expected);

  const std::string text = FormatTableText(snapshot);
  EXPECT_NE(text.find("writer pid:    4242 (not running)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("heartbeat age: 4523 ms (stale)\n"
                      "warning: heartbeat is 4523 ms old"),
            std::string::npos)
      << text;
  const std::string json = FormatTableJson(snapshot);
  EXPECT_NE(json.find("\"writer_alive\": false, "), std::string::npos);
  EXPECT_NE(json.find("\"heartbeat_age_ms\": 4523, \"stale\": true,"),
            std::string::npos)
      << json;
}

TEST_F(TableFormatTest, WarnsOnceAboutAnExitedWriter) {
  TableSnapshot snapshot = Snap();
  snapshot.health.exited = true;
  snapshot.health.stale = true;   // Explained by the exit...
  snapshot.health.alive = false;  // ...and so is this.
  const std::vector<std::string> expected = {
      "ovs-vswitchd (pid 1) exited: the table will not change"};
  EXPECT_EQ(TableWarnings(snapshot), expected);
  EXPECT_NE(FormatTableText(snapshot).find("writer pid:    1 (exited)\n"),
            std::string::npos);
  EXPECT_NE(FormatTableJson(snapshot).find("\"writer_exited\": true,"),
            std::string::npos);
}

TEST_F(TableFormatTest, WarnsAboutReplacedOrRemovedFile) {
  TableSnapshot snapshot = Snap();
  snapshot.health.replaced = true;
  std::vector<std::string> expected = {
      std::string(kPath) +
      " was replaced by a restarted ovs-vswitchd after it was opened: this "
      "is the old table, run again"};
  EXPECT_EQ(TableWarnings(snapshot), expected);
  EXPECT_NE(FormatTableJson(snapshot).find("\"replaced\": true,"),
            std::string::npos);

  snapshot.health.removed = true;
  expected = {std::string(kPath) + " was removed after it was opened"};
  EXPECT_EQ(TableWarnings(snapshot), expected);
}

TEST_F(TableFormatTest, NamesUnknownHashImplementationAndReasons) {
  TableSnapshot snapshot = Snap();
  snapshot.table.hash_impl = 9;
  EXPECT_NE(FormatTableJson(snapshot).find("\"hash_impl\": \"unknown-9\","),
            std::string::npos);
  const std::vector<std::string> reasons = {"added", "key-off", "0x100"};
  EXPECT_EQ(ReasonNames(RDMA_BOND_REASON_ADDED | RDMA_BOND_REASON_KEY_OFF |
                        0x100),
            reasons);
}

}  // namespace
}  // namespace rdma_bond
