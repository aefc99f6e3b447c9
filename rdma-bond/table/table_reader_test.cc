// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/table_reader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::MakeRecord;
using testing::SetName;
using testing::TempDir;
using testing::WritableTable;

constexpr uint64_t kNsPerMs = 1000 * 1000;

class TableReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File(RDMA_BOND_TABLE_NAME);
    table_ = WritableTable::Create(path_);
    ASSERT_NE(table_, nullptr);
  }

  // Opens path_ and expects an error whose message is exactly 'message'.
  void ExpectOpenError(const std::string& message) {
    Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(reader.status().ToString(), message);
  }

  // Opens path_, takes a snapshot and returns it (failing the test if
  // either step fails).
  TableSnapshot Snap(uint64_t now_ns = 0) {
    Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) {
      return {};
    }
    Result<TableSnapshot> snapshot =
        now_ns ? (*reader)->Snapshot(now_ns) : (*reader)->Snapshot();
    EXPECT_TRUE(snapshot.ok()) << snapshot.status().ToString();
    return snapshot.ok() ? std::move(*snapshot) : TableSnapshot{};
  }

  // Stores 'record' in slot 2 and expects Snapshot() to fail with
  // "PATH: slot 2: " + 'what'.
  void ExpectRecordError(const rdma_bond_record& record,
                         const std::string& what) {
    table_->Store(2, record);
    Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    Result<TableSnapshot> snapshot = (*reader)->Snapshot();
    ASSERT_FALSE(snapshot.ok()) << "accepted a record with " << what;
    EXPECT_TRUE(snapshot.status().IsCorruption());
    EXPECT_EQ(snapshot.status().ToString(), path_ + ": slot 2: " + what);
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<WritableTable> table_;
};

// --- Header validation ---------------------------------------------------

TEST_F(TableReaderTest, OpensValidTable) {
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->path(), path_);
  EXPECT_EQ((*reader)->instance_id(), UINT64_C(0x0123456789abcdef));
}

TEST(TableReaderOpenTest, ExplainsMissingFile) {
  TempDir dir;
  const std::string path = dir.File(RDMA_BOND_TABLE_NAME);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsNotFound());
  EXPECT_EQ(reader.status().ToString(),
            path + ": No such file or directory (is ovs-vswitchd running "
                   "with a bond configured other_config:rdma-bond=true?)");
}

TEST(TableReaderOpenTest, RejectsDirectory) {
  TempDir dir;
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(dir.path());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().ToString(), dir.path() + ": not a regular file");
}

TEST(TableReaderOpenTest, RejectsFifoWithoutBlocking) {
  TempDir dir;
  const std::string path = dir.File("fifo");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().ToString(), path + ": not a regular file");
}

// --- Who wrote the file (docs/security.md, issue 15 finding 1) ----------

// A member of the agent's group who could write the run directory plants a
// forged table: a link to it, a file of its own, a file it may rewrite.
TEST_F(TableReaderTest, RefusesASymbolicLinkAtTheTablesName) {
  const std::string link = path_ + ".link";
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(link);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().ToString(),
            "rdma-bond table " + link + ": is a symbolic link; refusing it");
}

TEST_F(TableReaderTest, RefusesATableOthersMayRewrite) {
  ASSERT_EQ(chmod(path_.c_str(), 0660), 0);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().ToString().find(
                "rdma-bond table " + path_ +
                ": writable by group or others (mode 0660"),
            std::string::npos)
      << reader.status().ToString();
}

TEST_F(TableReaderTest, RefusesATableOfAnotherUser) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to give the table to another uid";
  }
  ASSERT_EQ(chown(path_.c_str(), 54321, 54321), 0);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().ToString().find(
                "rdma-bond table " + path_ + ": owned by uid 54321"),
            std::string::npos)
      << reader.status().ToString();
}

TEST_F(TableReaderTest, RejectsBadMagic) {
  table_->header()->magic = UINT64_C(0x1122334455667788);
  ExpectOpenError(path_ +
                  ": magic 0x1122334455667788, expected 0x31444e42414d4452 "
                  "(\"RDMABND1\"): not an rdma-bond table");
}

TEST_F(TableReaderTest, RejectsWrongAbiVersion) {
  table_->header()->abi_version = 2;
  ExpectOpenError(path_ +
                  ": ABI version 2, this reader understands 1: upgrade "
                  "ovs-rdma-bond");
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  EXPECT_TRUE(reader.status().IsNotSupported());
}

TEST_F(TableReaderTest, RejectsOlderAbiVersion) {
  table_->header()->abi_version = 0;
  ExpectOpenError(path_ +
                  ": ABI version 0, this reader understands 1: ovs-vswitchd "
                  "is older than this reader: install matching "
                  "ovs-rdma-bond packages");
}

TEST_F(TableReaderTest, RejectsEachLayoutMismatch) {
  struct Case {
    const char* field;
    uint32_t rdma_bond_table_header::*member;
    uint32_t expected;
  };
  const Case cases[] = {
      {"header_size", &rdma_bond_table_header::header_size,
       sizeof(rdma_bond_table_header)},
      {"record_size", &rdma_bond_table_header::record_size,
       sizeof(rdma_bond_record)},
      {"n_slots", &rdma_bond_table_header::n_slots, RDMA_BOND_MAX_BONDS},
      {"max_members", &rdma_bond_table_header::max_members,
       RDMA_BOND_MAX_MEMBERS},
      {"n_buckets", &rdma_bond_table_header::n_buckets, RDMA_BOND_BUCKETS},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    rdma_bond_table_header* h = table_->header();
    ASSERT_EQ(h->*c.member, c.expected);
    h->*c.member = c.expected + 8;
    ExpectOpenError(path_ + ": " + c.field + " " +
                    std::to_string(c.expected + 8) + ", expected " +
                    std::to_string(c.expected) +
                    " for ABI version 1: the writer was built from a "
                    "different lib/rdma-bond-table.h");
    h->*c.member = c.expected;
  }
  // Every field restored: the table is valid again.
  EXPECT_TRUE(TableReader::Open(path_).ok());
}

TEST_F(TableReaderTest, RejectsTruncatedFile) {
  ASSERT_EQ(truncate(path_.c_str(), RDMA_BOND_TABLE_SIZE - 8), 0);
  ExpectOpenError(path_ + ": file is " +
                  std::to_string(RDMA_BOND_TABLE_SIZE - 8) +
                  " bytes, expected at least " +
                  std::to_string(RDMA_BOND_TABLE_SIZE) + ": truncated table");
}

// The table truncated after a reader mapped it (by whoever may write it):
// reading the mapping would raise SIGBUS in the agent and every
// application.  Snapshot() fails with Corruption instead, and Health()
// says the table is not the one mapped.  Run in a child, so that the
// SIGBUS of a reader without the check fails this test, not the suite.
TEST_F(TableReaderTest, TruncatedUnderTheReaderIsAnErrorNotACrash) {
  table_->Store(0, MakeRecord("bond0", {"nic0", "nic1"}));
  rdma_bond_table_set_n_used(table_->header(), 1);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  ASSERT_TRUE((*reader)->Snapshot().ok());
  ASSERT_EQ(truncate(path_.c_str(), 4096), 0);
  EXPECT_EXIT(
      {
        Result<TableSnapshot> snapshot = (*reader)->Snapshot();
        const WriterHealth health = (*reader)->Health();
        const bool ok =
            !snapshot.ok() && snapshot.status().IsCorruption() &&
            snapshot.status().message().find(
                "truncated to 4096 bytes under this reader") !=
                std::string::npos &&
            health.replaced && health.stale;
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(TableReaderTest, RejectsFileShorterThanHeader) {
  ASSERT_EQ(truncate(path_.c_str(), 100), 0);
  ExpectOpenError(path_ +
                  ": file is 100 bytes, too short for the 160-byte header: "
                  "not an rdma-bond table");
}

TEST_F(TableReaderTest, AcceptsLargerFile) {
  // Room after the last record is not an error (the size check is ">=").
  ASSERT_EQ(truncate(path_.c_str(), RDMA_BOND_TABLE_SIZE + 4096), 0);
  EXPECT_TRUE(TableReader::Open(path_).ok());
}

// --- Records -------------------------------------------------------------

TEST_F(TableReaderTest, RoundTripsEveryField) {
  rdma_bond_record r = MakeRecord("bond7", {"eth0", "eth1", "eth2"});
  r.generation = 42;
  r.change_ns = 123456789;
  r.reasons = RDMA_BOND_REASON_LACP | RDMA_BOND_REASON_REBALANCE;
  SetName(r.dp_type, "system");
  r.mode = RDMA_BOND_MODE_BALANCE_TCP;
  r.lacp_status = RDMA_BOND_LACP_NEGOTIATED;
  r.lacp_fallback_ab = 1;
  r.regime = RDMA_BOND_REGIME_LB_OUTPUT;
  r.active_member = 2;
  r.basis = 0xdeadbeef;
  r.flags = RDMA_BOND_F_LB_OUTPUT_CONFIGURED | RDMA_BOND_F_LB_OUTPUT_ACTIVE |
            RDMA_BOND_F_MAY_RECIRC;
  r.recirc_id = 77;
  r.members[1].ifindex = 9;
  r.members[1].flags = RDMA_BOND_M_PRIMARY;
  for (size_t i = 0; i < RDMA_BOND_BUCKETS; i++) {
    r.buckets[i] = i % 5 == 4 ? RDMA_BOND_NO_MEMBER : i % 3;
  }
  r.n_vectors = 2;
  rdma_bond_hash_vector& v4 = r.vectors[0];
  ASSERT_EQ(inet_pton(AF_INET, "10.0.0.1", v4.src), 1);
  ASSERT_EQ(inet_pton(AF_INET, "10.0.0.2", v4.dst), 1);
  v4.sport_be = htons(49152);
  v4.dport_be = htons(4791);
  v4.ip_version = 4;
  v4.nw_proto = 17;
  v4.hash_basis0 = 1;
  v4.hash_basis = 2;
  v4.hash_regime = 3;
  rdma_bond_hash_vector& v6 = r.vectors[1];
  ASSERT_EQ(inet_pton(AF_INET6, "fd00::1", v6.src), 1);
  ASSERT_EQ(inet_pton(AF_INET6, "fd00::2", v6.dst), 1);
  v6.sport_be = htons(65535);
  v6.dport_be = htons(4791);
  v6.ip_version = 6;
  v6.nw_proto = 17;
  table_->Store(5, r);

  TableSnapshot snapshot = Snap();
  ASSERT_EQ(snapshot.bonds.size(), 1u);
  const Bond& b = snapshot.bonds[0];
  EXPECT_EQ(b.slot, 5u);
  EXPECT_EQ(b.seq, 2u);  // One store: 0 -> 2.
  EXPECT_EQ(b.generation, 42u);
  EXPECT_EQ(b.change_ns, 123456789u);
  EXPECT_EQ(b.reasons, r.reasons);
  EXPECT_EQ(b.name, "bond7");
  EXPECT_EQ(b.dp_type, "system");
  EXPECT_EQ(b.mode, BondMode::kBalanceTcp);
  EXPECT_EQ(b.lacp, LacpStatus::kNegotiated);
  EXPECT_TRUE(b.lacp_fallback_ab);
  EXPECT_EQ(b.regime, HashRegime::kLbOutput);
  EXPECT_EQ(b.basis, 0xdeadbeefu);
  EXPECT_EQ(b.flags, r.flags);
  EXPECT_TRUE(b.lb_output_active());
  EXPECT_TRUE(b.may_recirc());
  EXPECT_EQ(b.recirc_id, 77u);
  ASSERT_EQ(b.active_member, std::optional<size_t>(2));
  EXPECT_EQ(b.active()->name, "eth2");
  ASSERT_EQ(b.members.size(), 3u);
  EXPECT_EQ(b.members[1].name, "eth1");
  EXPECT_EQ(b.members[1].ofport, 2u);
  EXPECT_EQ(b.members[1].ifindex, 9u);
  EXPECT_EQ(FormatMac(b.members[1].mac), "aa:55:aa:55:00:02");
  EXPECT_TRUE(b.members[1].primary());
  EXPECT_FALSE(b.members[1].enabled());
  EXPECT_TRUE(b.members[0].enabled() && b.members[0].may_enable() &&
              b.members[0].carrier() && !b.members[0].primary());
  EXPECT_EQ(0, std::memcmp(b.buckets.data(), r.buckets, sizeof r.buckets));
  EXPECT_EQ(b.UnassignedBuckets(), 51u);  // i % 5 == 4 for 51 of 256.
  ASSERT_EQ(b.vectors.size(), 2u);
  EXPECT_EQ(FormatAddress(4, b.vectors[0].src), "10.0.0.1");
  EXPECT_EQ(FormatAddress(4, b.vectors[0].dst), "10.0.0.2");
  EXPECT_EQ(b.vectors[0].sport, 49152);
  EXPECT_EQ(b.vectors[0].dport, 4791);
  EXPECT_EQ(b.vectors[0].nw_proto, 17);
  EXPECT_EQ(b.vectors[0].hash_basis0, 1u);
  EXPECT_EQ(b.vectors[0].hash_basis, 2u);
  EXPECT_EQ(b.vectors[0].hash_regime, 3u);
  EXPECT_EQ(b.vectors[1].ip_version, 6);
  EXPECT_EQ(FormatAddress(6, b.vectors[1].src), "fd00::1");
  EXPECT_EQ(b.vectors[1].sport, 65535);
}

TEST_F(TableReaderTest, RoundTripsHeader) {
  rdma_bond_table_set_n_used(table_->header(), 3);
  rdma_bond_table_set_heartbeat(table_->header(), 5 * kNsPerMs);
  rdma_bond_table_notify(table_->header());
  rdma_bond_table_notify(table_->header());
  TableSnapshot s = Snap(7 * kNsPerMs);
  EXPECT_EQ(s.table.path, path_);
  EXPECT_EQ(s.table.abi_version, 1u);
  EXPECT_EQ(s.table.instance_id, UINT64_C(0x0123456789abcdef));
  EXPECT_EQ(s.table.start_ns, 1000u);
  EXPECT_EQ(s.table.writer_pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(HashImplName(s.table.hash_impl), "mhash");
  EXPECT_EQ(s.table.ovs_version, "3.1.0");
  EXPECT_EQ(s.table.heartbeat_ns, 5 * kNsPerMs);
  EXPECT_EQ(s.table.change_word, 2u);
  EXPECT_EQ(s.table.n_used, 3u);
  EXPECT_EQ(s.table.flags, 0u);
  EXPECT_EQ(s.now_ns, 7 * kNsPerMs);
  EXPECT_EQ(s.health.heartbeat_age_ms, 2u);
  EXPECT_TRUE(s.health.alive);
  EXPECT_FALSE(s.health.stale || s.health.exited || s.health.replaced);
}

TEST_F(TableReaderTest, ReadsUnterminatedOvsVersionWithinItsField) {
  std::memset(table_->header()->ovs_version, 'x',
              sizeof table_->header()->ovs_version);
  EXPECT_EQ(Snap().table.ovs_version, std::string(32, 'x'));
}

TEST_F(TableReaderTest, SkipsFreeSlots) {
  table_->Store(0, MakeRecord("bond0"));
  table_->Store(5, MakeRecord("bond5"));
  // A free slot is not validated: stale or garbage content is ignored.
  rdma_bond_record freed = MakeRecord("gone");
  freed.in_use = 0;
  freed.n_members = 200;
  freed.mode = 99;
  table_->Store(3, freed);
  TableSnapshot snapshot = Snap();
  ASSERT_EQ(snapshot.bonds.size(), 2u);
  EXPECT_EQ(snapshot.bonds[0].name, "bond0");
  EXPECT_EQ(snapshot.bonds[0].slot, 0u);
  EXPECT_EQ(snapshot.bonds[1].name, "bond5");
  EXPECT_EQ(snapshot.bonds[1].slot, 5u);
  EXPECT_NE(snapshot.FindBond("bond5"), nullptr);
  EXPECT_EQ(snapshot.FindBond("gone"), nullptr);
}

TEST_F(TableReaderTest, AcceptsBoundaryValues) {
  rdma_bond_record r = MakeRecord("edge");
  r.n_members = RDMA_BOND_MAX_MEMBERS;
  for (int i = 0; i < RDMA_BOND_MAX_MEMBERS; i++) {
    SetName(r.members[i].name, "m" + std::to_string(i));
  }
  SetName(r.name, std::string(RDMA_BOND_NAME_LEN - 1, 'n'));
  r.active_member = RDMA_BOND_NO_MEMBER;
  r.buckets[0] = RDMA_BOND_MAX_MEMBERS - 1;
  r.n_vectors = RDMA_BOND_N_VECTORS;
  for (auto& v : r.vectors) {
    v.ip_version = 6;
  }
  table_->Store(0, r);
  TableSnapshot snapshot = Snap();
  ASSERT_EQ(snapshot.bonds.size(), 1u);
  EXPECT_EQ(snapshot.bonds[0].members.size(), size_t{RDMA_BOND_MAX_MEMBERS});
  EXPECT_EQ(snapshot.bonds[0].active(), nullptr);
  EXPECT_EQ(snapshot.bonds[0].name.size(), size_t{RDMA_BOND_NAME_LEN - 1});
  EXPECT_EQ(snapshot.bonds[0].vectors.size(), size_t{RDMA_BOND_N_VECTORS});
}

TEST_F(TableReaderTest, RejectsTooManyMembers) {
  rdma_bond_record r = MakeRecord("bond0");
  r.n_members = RDMA_BOND_MAX_MEMBERS + 1;
  ExpectRecordError(r, "n_members 17 is above the maximum 16 (bond \"bond0\")");
}

TEST_F(TableReaderTest, RejectsActiveMemberOutOfRange) {
  rdma_bond_record r = MakeRecord("bond0");
  r.active_member = 2;
  ExpectRecordError(
      r, "active_member 2 is out of range (bond \"bond0\" has 2 members)");
}

TEST_F(TableReaderTest, RejectsBucketOutOfRange) {
  rdma_bond_record r = MakeRecord("bond0");
  r.buckets[200] = 7;
  ExpectRecordError(
      r, "buckets[200] 7 is out of range (bond \"bond0\" has 2 members)");
}

TEST_F(TableReaderTest, RejectsTooManyVectors) {
  rdma_bond_record r = MakeRecord("bond0");
  r.n_vectors = RDMA_BOND_N_VECTORS + 1;
  ExpectRecordError(r, "n_vectors 9 is above the maximum 8 (bond \"bond0\")");
}

TEST_F(TableReaderTest, RejectsUnknownVectorIpVersion) {
  rdma_bond_record r = MakeRecord("bond0");
  r.n_vectors = 1;
  r.vectors[0].ip_version = 5;
  ExpectRecordError(
      r, "vectors[0].ip_version 5 is not 4 or 6 (bond \"bond0\")");
}

TEST_F(TableReaderTest, RejectsUnknownEnumValues) {
  struct Case {
    const char* what;
    std::function<void(rdma_bond_record*)> corrupt;
  };
  const Case cases[] = {
      {"mode 4", [](rdma_bond_record* r) { r->mode = 4; }},
      {"mode 0", [](rdma_bond_record* r) { r->mode = 0; }},
      {"lacp_status 9", [](rdma_bond_record* r) { r->lacp_status = 9; }},
      {"regime 7", [](rdma_bond_record* r) { r->regime = 7; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    rdma_bond_record r = MakeRecord("bond0");
    c.corrupt(&r);
    ExpectRecordError(r, std::string(c.what) +
                             " is unknown to this reader (bond \"bond0\"): "
                             "upgrade ovs-rdma-bond");
  }
}

TEST_F(TableReaderTest, RejectsBadBooleans) {
  rdma_bond_record r = MakeRecord("bond0");
  r.lacp_fallback_ab = 2;
  ExpectRecordError(r, "lacp_fallback_ab 2 is not 0 or 1 (bond \"bond0\")");
  r = MakeRecord("bond0");
  r.in_use = 2;
  ExpectRecordError(r, "in_use 2 is not 0 or 1");
}

TEST_F(TableReaderTest, RejectsUnterminatedNames) {
  rdma_bond_record r = MakeRecord("bond0");
  std::memset(r.name, 'b', sizeof r.name);
  ExpectRecordError(r, "name is not null-terminated within its 64 bytes");

  r = MakeRecord("bond0");
  std::memset(r.dp_type, 'd', sizeof r.dp_type);
  ExpectRecordError(r,
                    "dp_type is not null-terminated within its 16 bytes "
                    "(bond \"bond0\")");

  r = MakeRecord("bond0");
  std::memset(r.members[1].name, 'm', sizeof r.members[1].name);
  ExpectRecordError(r,
                    "members[1].name is not null-terminated within its 64 "
                    "bytes (bond \"bond0\")");
}

TEST_F(TableReaderTest, RejectsEmptyNames) {
  rdma_bond_record r = MakeRecord("bond0");
  r.name[0] = '\0';
  ExpectRecordError(r, "name is empty");
  r = MakeRecord("bond0");
  r.members[0].name[0] = '\0';
  ExpectRecordError(r, "members[0].name is empty (bond \"bond0\")");
}

TEST_F(TableReaderTest, IgnoresUnusedMembersAndVectors) {
  // Entries past n_members / n_vectors are not part of the bond.
  rdma_bond_record r = MakeRecord("bond0");
  std::memset(r.members[5].name, 'x', sizeof r.members[5].name);
  r.vectors[3].ip_version = 99;
  table_->Store(0, r);
  TableSnapshot snapshot = Snap();
  ASSERT_EQ(snapshot.bonds.size(), 1u);
  EXPECT_EQ(snapshot.bonds[0].members.size(), 2u);
  EXPECT_TRUE(snapshot.bonds[0].vectors.empty());
}

TEST_F(TableReaderTest, GivesUpOnRecordStuckHalfWritten) {
  table_->Store(1, MakeRecord("bond0"));
  table_->record(1)->seq = 3;  // As if the writer died inside a store.
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  const uint64_t start = MonotonicNowNs();
  Result<TableSnapshot> snapshot = (*reader)->Snapshot();
  const uint64_t waited_ms = (MonotonicNowNs() - start) / kNsPerMs;
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(snapshot.status().ToString(),
            path_ + ": slot 1: record has been half written for over 1000 "
                    "ms (seq 3 stays odd): ovs-vswitchd died or hangs in the "
                    "middle of an update; restart it");
  EXPECT_GE(waited_ms, TableReader::kStuckWriterTimeoutMs);

  // The next snapshot does not wait again for the same dead store.
  snapshot = (*reader)->Snapshot();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.status().ToString(),
            path_ + ": slot 1: record is still half written (seq 3, as at "
                    "the last snapshot): ovs-vswitchd died or hangs in the "
                    "middle of an update; restart it");

  // A store that completes heals it.
  table_->record(1)->seq = 2;
  table_->Store(1, MakeRecord("bond0"));
  EXPECT_TRUE((*reader)->Snapshot().ok());
}

// A writer whose record never holds still (its count changes, and is odd,
// whenever the reader looks) used to be waited for without bound: the
// reader took it for a busy, live writer.
TEST_F(TableReaderTest, GivesUpOnARecordThatNeverHoldsStill) {
  table_->Store(1, MakeRecord("bond0"));
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  std::atomic<bool> stop{false};
  uint64_t* seq = &table_->record(1)->seq;
  // Mid-write before the reader starts: were the scribbler's thread not
  // yet running, the reader would find the record still, and rightly
  // take it (seen once, in the 0 ms the snapshot then took).
  std::atomic_ref<uint64_t>(*seq).store(1, std::memory_order_release);
  std::thread scribbler([&] {
    uint64_t odd = 1;
    while (!stop.load(std::memory_order_relaxed)) {
      odd += 2;
      std::atomic_ref<uint64_t>(*seq).store(odd, std::memory_order_release);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  std::future<Result<TableSnapshot>> result = std::async(
      std::launch::async, [&] { return (*reader)->Snapshot(); });
  // Far longer than the deadline; without it the snapshot never returns
  // while the scribbler runs.
  const bool returned =
      result.wait_for(std::chrono::milliseconds(
          10 * TableReader::kSnapshotDeadlineMs)) == std::future_status::ready;
  stop = true;
  scribbler.join();
  Result<TableSnapshot> snapshot = result.get();
  ASSERT_TRUE(returned) << "Snapshot() waited without bound";
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(snapshot.status().ToString().find(
                path_ + ": slot 1: record kept changing for over 2000 ms"),
            std::string::npos)
      << snapshot.status().ToString();
}

// --- Writer health -------------------------------------------------------

TEST_F(TableReaderTest, DetectsStaleHeartbeat) {
  const uint64_t beat = 1000 * kNsPerMs;
  rdma_bond_table_set_heartbeat(table_->header(), beat);
  TableSnapshot fresh = Snap(beat + 100 * kNsPerMs);
  EXPECT_EQ(fresh.health.heartbeat_age_ms, 100u);
  EXPECT_FALSE(fresh.health.stale);
  TableSnapshot edge = Snap(beat + RDMA_BOND_STALE_MS * kNsPerMs);
  EXPECT_FALSE(edge.health.stale);  // Stale when *older* than the limit.
  TableSnapshot stale = Snap(beat + (RDMA_BOND_STALE_MS + 1) * kNsPerMs);
  EXPECT_EQ(stale.health.heartbeat_age_ms, RDMA_BOND_STALE_MS + 1u);
  EXPECT_TRUE(stale.health.stale);
  TableSnapshot ahead = Snap(beat - kNsPerMs);
  EXPECT_EQ(ahead.health.heartbeat_age_ms, 0u);
}

TEST_F(TableReaderTest, ReportsWriterExited) {
  EXPECT_FALSE(Snap().health.exited);
  rdma_bond_table_set_flags(table_->header(), RDMA_BOND_TABLE_WRITER_EXITED);
  TableSnapshot snapshot = Snap();
  EXPECT_TRUE(snapshot.health.exited);
  EXPECT_EQ(snapshot.table.flags, uint32_t{RDMA_BOND_TABLE_WRITER_EXITED});
}

TEST_F(TableReaderTest, DetectsDeadWriterPid) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);  // Reaped: pid is free.
  table_->header()->writer_pid = static_cast<uint32_t>(child);
  EXPECT_FALSE(Snap().health.alive);
  table_->header()->writer_pid = 0;  // Never a valid writer.
  EXPECT_FALSE(Snap().health.alive);
  table_->header()->writer_pid = static_cast<uint32_t>(getpid());
  EXPECT_TRUE(Snap().health.alive);
}

// --- Restart detection ---------------------------------------------------

TEST_F(TableReaderTest, DetectsRestartAndReattaches) {
  table_->Store(0, MakeRecord("old"));
  Result<std::unique_ptr<TableReader>> opened = TableReader::Open(path_);
  ASSERT_TRUE(opened.ok());
  TableReader& reader = **opened;
  EXPECT_FALSE(reader.Snapshot()->health.replaced);

  // A restarted writer renames a new table over the old one.
  testing::TableOptions options;
  options.instance_id = 0xfeed;
  std::unique_ptr<WritableTable> restarted =
      WritableTable::Create(path_, options);
  ASSERT_NE(restarted, nullptr);
  restarted->Store(1, MakeRecord("new"));

  Result<TableSnapshot> old_snapshot = reader.Snapshot();
  ASSERT_TRUE(old_snapshot.ok());
  EXPECT_TRUE(old_snapshot->health.replaced);
  EXPECT_FALSE(old_snapshot->health.removed);
  ASSERT_EQ(old_snapshot->bonds.size(), 1u);
  EXPECT_EQ(old_snapshot->bonds[0].name, "old");  // Still the old mapping.

  Result<Reattachment> reattached = reader.Reattach();
  ASSERT_TRUE(reattached.ok()) << reattached.status().ToString();
  EXPECT_TRUE(reattached->restarted);
  EXPECT_EQ(reattached->old_instance_id, UINT64_C(0x0123456789abcdef));
  EXPECT_EQ(reattached->new_instance_id, 0xfeedu);
  EXPECT_EQ(reader.instance_id(), 0xfeedu);

  Result<TableSnapshot> new_snapshot = reader.Snapshot();
  ASSERT_TRUE(new_snapshot.ok());
  EXPECT_FALSE(new_snapshot->health.replaced);
  EXPECT_EQ(new_snapshot->table.instance_id, 0xfeedu);
  ASSERT_EQ(new_snapshot->bonds.size(), 1u);
  EXPECT_EQ(new_snapshot->bonds[0].name, "new");

  Result<Reattachment> again = reader.Reattach();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->restarted);
  EXPECT_EQ(again->new_instance_id, 0xfeedu);
}

TEST_F(TableReaderTest, DetectsInstanceIdChangedInPlace) {
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  table_->header()->instance_id = 0x1234;
  EXPECT_TRUE((*reader)->Snapshot()->health.replaced);
  Result<Reattachment> reattached = (*reader)->Reattach();
  ASSERT_TRUE(reattached.ok());
  EXPECT_TRUE(reattached->restarted);
  EXPECT_EQ(reattached->new_instance_id, 0x1234u);
  EXPECT_FALSE((*reader)->Snapshot()->health.replaced);
}

TEST_F(TableReaderTest, DetectsRemovedFile) {
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  ASSERT_EQ(unlink(path_.c_str()), 0);
  Result<TableSnapshot> snapshot = (*reader)->Snapshot();
  ASSERT_TRUE(snapshot.ok());  // The mapping outlives the name.
  EXPECT_TRUE(snapshot->health.removed);
  EXPECT_TRUE(snapshot->health.replaced);
  Result<Reattachment> reattached = (*reader)->Reattach();
  ASSERT_FALSE(reattached.ok());
  EXPECT_TRUE(reattached.status().IsNotFound());
  // The old mapping stays usable after a failed Reattach().
  EXPECT_TRUE((*reader)->Snapshot().ok());
}

TEST_F(TableReaderTest, ReattachKeepsOldMappingWhenNewFileIsInvalid) {
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  std::unique_ptr<WritableTable> broken = WritableTable::Create(path_);
  ASSERT_NE(broken, nullptr);
  broken->header()->abi_version = 3;
  Result<Reattachment> reattached = (*reader)->Reattach();
  ASSERT_FALSE(reattached.ok());
  EXPECT_TRUE(reattached.status().IsNotSupported());
  EXPECT_EQ((*reader)->instance_id(), UINT64_C(0x0123456789abcdef));
}

// --- Change word, memory attachment, default path ------------------------

TEST_F(TableReaderTest, ChangeWordFollowsNotify) {
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->ChangeWord(), 0u);
  rdma_bond_table_notify(table_->header());
  rdma_bond_table_notify(table_->header());
  rdma_bond_table_notify(table_->header());
  EXPECT_EQ((*reader)->ChangeWord(), 3u);
}

TEST_F(TableReaderTest, AttachesToMemory) {
  table_->Store(4, MakeRecord("bond4"));
  Result<std::unique_ptr<TableReader>> reader =
      TableReader::FromMemory(table_->base(), table_->size(), "in-memory");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Result<TableSnapshot> snapshot = (*reader)->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->table.path, "in-memory");
  ASSERT_EQ(snapshot->bonds.size(), 1u);
  EXPECT_EQ(snapshot->bonds[0].name, "bond4");
  EXPECT_FALSE(snapshot->health.replaced);
  EXPECT_FALSE((*reader)->Reattach().ok());

  const char* misaligned = static_cast<const char*>(table_->base()) + 4;
  EXPECT_FALSE(
      TableReader::FromMemory(misaligned, table_->size() - 4, "x").ok());
  Result<std::unique_ptr<TableReader>> short_table =
      TableReader::FromMemory(table_->base(), RDMA_BOND_TABLE_SIZE - 1, "x");
  ASSERT_FALSE(short_table.ok());
  EXPECT_TRUE(short_table.status().IsCorruption());
}

TEST(DefaultTablePathTest, UsesOvsRundir) {
  const char* saved = std::getenv("OVS_RUNDIR");
  const std::string saved_value = saved ? saved : "";
  setenv("OVS_RUNDIR", "/tmp/ovs-test-rundir", 1);
  EXPECT_EQ(DefaultTablePath(), "/tmp/ovs-test-rundir/rdma-bond.shm");
  setenv("OVS_RUNDIR", "", 1);
  EXPECT_EQ(DefaultTablePath(), "/var/run/openvswitch/rdma-bond.shm");
  unsetenv("OVS_RUNDIR");
  EXPECT_EQ(DefaultTablePath(), "/var/run/openvswitch/rdma-bond.shm");
  if (saved) {
    setenv("OVS_RUNDIR", saved_value.c_str(), 1);
  }
}

// --- Read-only access ----------------------------------------------------

// The permission strings ("r--s") of every mapping of 'path' in this
// process, from /proc/self/maps, with their start addresses.
std::vector<std::pair<uintptr_t, std::string>> MappingsOf(
    const std::string& path) {
  char resolved[PATH_MAX];
  const std::string real = realpath(path.c_str(), resolved) ? resolved : path;
  std::vector<std::pair<uintptr_t, std::string>> found;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, name;
    fields >> range >> perms >> offset >> dev >> inode >> name;
    if (name == real) {
      found.emplace_back(std::stoull(range, nullptr, 16), perms);
    }
  }
  return found;
}

TEST_F(TableReaderTest, MapsTableReadOnly) {
  table_.reset();  // Drop the writer's read-write mapping.
  ASSERT_EQ(chmod(path_.c_str(), 0440), 0);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();

  const auto mappings = MappingsOf(path_);
  ASSERT_EQ(mappings.size(), 1u);
  EXPECT_EQ(mappings[0].second, "r--s");  // PROT_READ, MAP_SHARED.

  // The address is the reader's table: it reads as one...
  volatile uint64_t* table =
      reinterpret_cast<volatile uint64_t*>(mappings[0].first);
  EXPECT_EQ(table[0], RDMA_BOND_TABLE_MAGIC);
  // ...and writing to it faults.  SIG_DFL: a sanitizer's SIGSEGV handler
  // would turn the signal into an exit status.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::signal(SIGSEGV, SIG_DFL);
        table[0] = 0;
      },
      ::testing::KilledBySignal(SIGSEGV), "");
  // The parent's copy is untouched (and so is the file).
  EXPECT_TRUE((*reader)->Snapshot().ok());
}

TEST_F(TableReaderTest, OpensWithReadAccessOnly) {
  // Root bypasses file permissions, so the proof that the reader asks for
  // nothing but read access runs as an unprivileged user that can read
  // the file (through its group) but not write it.
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to an unprivileged user";
  }
  constexpr uid_t kNobody = 65534;  // Debian's nobody:nogroup.
  table_->Store(0, MakeRecord("bond0"));
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(chown(path_.c_str(), 0, kNobody), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0440), 0);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 ||
            setuid(kNobody) != 0) {
          std::fprintf(stderr, "cannot drop privileges\n");
          _exit(2);
        }
        // The test means something only if writing is denied.
        if (open(path_.c_str(), O_RDWR) >= 0 || errno != EACCES) {
          std::fprintf(stderr, "O_RDWR was not denied\n");
          _exit(3);
        }
        Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
        if (!reader.ok()) {
          std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
          _exit(4);
        }
        Result<TableSnapshot> snapshot = (*reader)->Snapshot();
        _exit(snapshot.ok() && snapshot->bonds.size() == 1 ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(TableReaderTest, ExplainsPermissionDenied) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to an unprivileged user";
  }
  constexpr uid_t kNobody = 65534;
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0640), 0);  // root:root, no access for us.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 ||
            setuid(kNobody) != 0) {
          _exit(2);
        }
        Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
        std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
        _exit(reader.ok() ? 1 : 0);
      },
      ::testing::ExitedWithCode(0),
      "Permission denied \\(run as root or as a member of the file's "
      "group\\)");
}

}  // namespace
}  // namespace rdma_bond
