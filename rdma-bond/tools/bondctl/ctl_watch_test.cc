// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Tests of "rdma-bondctl watch": argument parsing, the diff of two
// snapshots, the delay attribution, the exact text and JSON Lines output,
// and whole runs against a table that a test writer changes and replaces.

#include "tools/bondctl/ctl_watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rdma-bond-table-writer.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using namespace std::chrono_literals;
using testing::MakeRecord;
using testing::TableOptions;
using testing::TempDir;
using testing::WritableTable;

Bond Decoded(size_t slot, const rdma_bond_record& record) {
  Result<Bond> bond = DecodeBondRecord(slot, record);
  EXPECT_TRUE(bond.ok()) << bond.status().ToString();
  return bond.ok() ? *bond : Bond{};
}

TEST(WatchArgsTest, ParsesBondCountTimeoutAndRealtime) {
  Result<WatchOptions> options = ParseWatchArgs(
      {"watch", "--count", "3", "bond0", "--realtime", "--timeout=1.5"});
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->bond, "bond0");
  EXPECT_EQ(options->count, 3u);
  EXPECT_EQ(options->timeout, 1500ms);
  EXPECT_TRUE(options->realtime);

  options = ParseWatchArgs({"watch"});
  ASSERT_TRUE(options.ok());
  EXPECT_FALSE(options->bond || options->count || options->timeout ||
               options->realtime);

  EXPECT_TRUE(IsWatchOption("--count=2"));
  EXPECT_TRUE(IsWatchOption("--realtime"));
  EXPECT_FALSE(IsWatchOption("--realtime=1"));
  EXPECT_FALSE(IsWatchOption("--counter"));
}

TEST(WatchArgsTest, RejectsBadArguments) {
  const struct {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"watch", "--count", "0"},
       "watch: --count needs a positive integer, not \"0\""},
      {{"watch", "--count=-1"},
       "watch: --count needs a positive integer, not \"-1\""},
      {{"watch", "--count"},
       "watch: option --count needs a value (use --help)"},
      {{"watch", "--timeout", "soon"},
       "watch: --timeout needs a number of seconds, not \"soon\""},
      {{"watch", "--timeout", "-1"},
       "watch: --timeout needs a number of seconds, not \"-1\""},
      {{"watch", "--timeout", "nan"},
       "watch: --timeout needs a number of seconds, not \"nan\""},
      {{"watch", "--frob"}, "watch: unknown option \"--frob\" (use --help)"},
      {{"watch", "a", "b"},
       "watch takes at most one argument, the bond name (got \"a\" and "
       "\"b\")"},
  };
  for (const auto& c : cases) {
    Result<WatchOptions> options = ParseWatchArgs(c.args);
    ASSERT_FALSE(options.ok()) << c.message;
    EXPECT_EQ(options.status().ToString(), c.message);
  }
}

TEST(WatchDiffTest, ReportsNewChangedAndRemovedBondsByName) {
  rdma_bond_record b0 = MakeRecord("bond0");
  rdma_bond_record b1 = MakeRecord("bond1");
  rdma_bond_record b2 = MakeRecord("bond2");
  const std::vector<Bond> before = {Decoded(0, b0), Decoded(1, b1),
                                    Decoded(2, b2)};
  b1.generation = 2;
  rdma_bond_record b3 = MakeRecord("bond3");
  // bond0 unchanged, bond1 changed, bond2 gone, bond3 new in bond2's slot.
  const std::vector<Bond> now = {Decoded(0, b0), Decoded(1, b1),
                                 Decoded(2, b3)};
  std::vector<BondChange> changes = DiffBonds(before, now, std::nullopt);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].name, "bond1");
  ASSERT_TRUE(changes[0].bond.has_value());
  EXPECT_EQ(changes[0].bond->generation, 2u);
  EXPECT_EQ(changes[1].name, "bond2");
  EXPECT_FALSE(changes[1].bond.has_value());
  EXPECT_EQ(changes[2].name, "bond3");
  EXPECT_TRUE(changes[2].bond.has_value());

  changes = DiffBonds(before, now, std::string("bond2"));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].name, "bond2");
  EXPECT_TRUE(DiffBonds(now, now, std::nullopt).empty());
}

TEST(WatchDiffTest, AttributesEachChangeToTheFirstWakeAfterIt) {
  const std::vector<uint64_t> wakes = {100, 200, 300};
  EXPECT_EQ(WakeFor(wakes, 50, 999), 100u);
  EXPECT_EQ(WakeFor(wakes, 100, 999), 100u);
  EXPECT_EQ(WakeFor(wakes, 150, 999), 200u);
  EXPECT_EQ(WakeFor(wakes, 301, 999), 999u);  // Seen without a wake.
  EXPECT_EQ(WakeFor({}, 5, 999), 999u);
}

TEST(WatchFormatTest, ChangeLines) {
  rdma_bond_record record = MakeRecord("bond0");
  record.generation = 7;
  record.change_ns = 1000000;
  record.reasons =
      RDMA_BOND_REASON_ACTIVE_MEMBER | RDMA_BOND_REASON_MEMBER_STATE;
  record.active_member = 1;
  record.members[0].flags = RDMA_BOND_M_MAY_ENABLE;  // Disabled, no carrier.
  record.buckets[0] = 1;
  record.buckets[1] = 1;
  BondChange change{"bond0", Decoded(3, record)};

  EXPECT_EQ(FormatChange(change, 42, 1085000, /*json=*/false),
            "change 42: bond0 generation 7 (active-member, member-state): "
            "active p2; members p1 disabled (no carrier), p2 enabled; "
            "buckets p1 0, p2 2, unassigned 254; delay 85 us\n");
  EXPECT_EQ(FormatChange(change, 42, 1085000, /*json=*/true),
            "{\"event\":\"change\",\"change_word\":42,\"bond\":\"bond0\","
            "\"removed\":false,\"slot\":3,\"generation\":7,"
            "\"reasons\":[\"active-member\",\"member-state\"],"
            "\"mode\":\"active-backup\",\"active_member\":\"p2\",\"members\":["
            "{\"name\":\"p1\",\"enabled\":false,\"may_enable\":true,"
            "\"carrier\":false},"
            "{\"name\":\"p2\",\"enabled\":true,\"may_enable\":true,"
            "\"carrier\":true}],"
            "\"bucket_counts\":{\"p1\":0,\"p2\":2},\"unassigned_buckets\":254,"
            "\"change_ns\":1000000,\"wake_ns\":1085000,\"delay_us\":85}\n");

  // A change newer than the wake-up (picked up by the same snapshot).
  EXPECT_NE(FormatChange(change, 42, 999, true).find("\"delay_us\":0}"),
            std::string::npos);

  // A control character in a name cannot split a text line.
  EXPECT_EQ(FormatChange(BondChange{"a\nb\x7f", std::nullopt}, 1, 0, false),
            "change 1: a\\x0ab\\x7f removed\n");

  BondChange removed{"bond\"9", std::nullopt};
  EXPECT_EQ(FormatChange(removed, 43, 5, false),
            "change 43: bond\"9 removed\n");
  EXPECT_EQ(FormatChange(removed, 43, 5, true),
            "{\"event\":\"change\",\"change_word\":43,\"bond\":\"bond\\\"9\","
            "\"removed\":true,\"wake_ns\":5}\n");
}

TEST(WatchFormatTest, EventLines) {
  TableSnapshot snapshot;
  snapshot.table.path = "/run/x.shm";
  snapshot.table.instance_id = 0xab;
  snapshot.table.writer_pid = 77;
  snapshot.table.change_word = 9;
  snapshot.bonds = {Decoded(1, MakeRecord("b2")), Decoded(0, MakeRecord("b1"))};
  EXPECT_EQ(FormatAttach(snapshot, false),
            "watching /run/x.shm: instance 0x00000000000000ab, writer pid 77, "
            "change word 9, bonds: b1 b2\n");
  EXPECT_EQ(FormatAttach(snapshot, true),
            "{\"event\":\"attach\",\"path\":\"/run/x.shm\","
            "\"instance_id\":\"0x00000000000000ab\",\"writer_pid\":77,"
            "\"change_word\":9,\"bonds\":[\"b1\",\"b2\"]}\n");
  EXPECT_EQ(FormatRestart(snapshot, 0xaa, true),
            "{\"event\":\"restart\",\"path\":\"/run/x.shm\","
            "\"old_instance_id\":\"0x00000000000000aa\","
            "\"instance_id\":\"0x00000000000000ab\",\"writer_pid\":77,"
            "\"change_word\":9}\n");
  EXPECT_EQ(FormatRestart(snapshot, 0xaa, false),
            "restart: /run/x.shm was replaced by a restarted ovs-vswitchd "
            "(instance 0x00000000000000aa -> 0x00000000000000ab, writer pid "
            "77): reattached\n");
  EXPECT_EQ(FormatTableRemoved("/run/x.shm", true),
            "{\"event\":\"table-removed\",\"path\":\"/run/x.shm\"}\n");
  EXPECT_EQ(FormatStale(3500, true, true),
            "{\"event\":\"stale\",\"heartbeat_age_ms\":3500}\n");
  EXPECT_EQ(FormatStale(10, false, false),
            "fresh: heartbeat is moving again (10 ms old)\n");
  EXPECT_EQ(FormatExited(snapshot, true),
            "{\"event\":\"exited\",\"writer_pid\":77}\n");
  EXPECT_EQ(FormatError(Status::NotFound("x: gone"), true),
            "{\"event\":\"error\",\"message\":\"x: gone\"}\n");
}

// Runs RunWatch() in a thread and collects its lines.
class WatchRun {
 public:
  explicit WatchRun(WatchOptions options) : options_(std::move(options)) {
    output_.line = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back(line);
      cv_.notify_all();
      return Status::OK();
    };
    output_.warning = [this](const std::string& warning) {
      std::lock_guard<std::mutex> lock(mutex_);
      warnings_.push_back(warning);
    };
    thread_ = std::thread([this] {
      Status status = RunWatch(options_, output_);
      std::lock_guard<std::mutex> lock(mutex_);
      status_ = status;
      finished_ = true;
      cv_.notify_all();
    });
  }
  ~WatchRun() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  // Waits until there are 'n' lines (10 s sanity bound); returns them.
  std::vector<std::string> WaitForLines(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, 10s, [&] { return lines_.size() >= n || finished_; });
    return lines_;
  }
  // Waits for RunWatch() to return (it must, by --count or --timeout).
  Status Finish() {
    if (thread_.joinable()) {
      thread_.join();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    return status_;
  }
  std::vector<std::string> warnings() {
    std::lock_guard<std::mutex> lock(mutex_);
    return warnings_;
  }

 private:
  WatchOptions options_;
  WatchOutput output_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::vector<std::string> warnings_;
  Status status_;
  bool finished_ = false;
  std::thread thread_;
};

TEST(WatchRunTest, PrintsChangesAndFollowsARestart) {
  TempDir dir;
  const std::string path = dir.File(RDMA_BOND_TABLE_NAME);
  std::unique_ptr<WritableTable> table = WritableTable::Create(path);
  ASSERT_NE(table, nullptr);
  table->Store(0, MakeRecord("bond0"));
  table->Store(1, MakeRecord("bond1"));
  rdma_bond_table_notify(table->header());

  WatchOptions options;
  options.path = path;
  options.json = true;
  options.bond = "bond0";
  options.count = 2;
  options.timeout = 60s;  // Only if a wake-up is lost.
  WatchRun run(options);
  std::vector<std::string> lines = run.WaitForLines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("{\"event\":\"attach\"", 0), 0u) << lines[0];

  // A failover of bond0, and a change of bond1 that is filtered out.
  rdma_bond_record record = MakeRecord("bond1");
  record.generation = 2;
  table->Store(1, record);
  record = MakeRecord("bond0");
  record.generation = 2;
  record.active_member = 1;
  record.reasons = RDMA_BOND_REASON_ACTIVE_MEMBER;
  record.change_ns = MonotonicNowNs();
  table->Store(0, record);
  rdma_bond_table_notify(table->header());
  lines = run.WaitForLines(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\"bond\":\"bond0\",\"removed\":false,\"slot\":0,"
                          "\"generation\":2,\"reasons\":[\"active-member\"],"
                          "\"mode\":\"active-backup\","
                          "\"active_member\":\"p2\""),
            std::string::npos)
      << lines[1];

  // ovs-vswitchd restarts: a new table with bond0 published afresh.
  TableOptions restarted_options;
  restarted_options.instance_id = 7;
  std::unique_ptr<WritableTable> restarted =
      WritableTable::Create(path, restarted_options);
  ASSERT_NE(restarted, nullptr);
  restarted->Store(5, MakeRecord("bond0"));
  rdma_bond_table_notify(restarted->header());

  EXPECT_TRUE(run.Finish().ok());  // --count 2 reached.
  lines = run.WaitForLines(4);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2].rfind("{\"event\":\"restart\"", 0), 0u) << lines[2];
  EXPECT_NE(lines[2].find("\"instance_id\":\"0x0000000000000007\""),
            std::string::npos)
      << lines[2];
  EXPECT_NE(lines[3].find("\"bond\":\"bond0\",\"removed\":false,\"slot\":5,"
                          "\"generation\":1,\"reasons\":[\"added\"]"),
            std::string::npos)
      << lines[3];
  EXPECT_TRUE(run.warnings().empty());
}

TEST(WatchRunTest, TimesOutQuietlyAndWarnsAboutAnUnknownBond) {
  TempDir dir;
  const std::string path = dir.File(RDMA_BOND_TABLE_NAME);
  std::unique_ptr<WritableTable> table = WritableTable::Create(path);
  ASSERT_NE(table, nullptr);
  WatchOptions options;
  options.path = path;
  options.bond = "bond9";
  options.timeout = 100ms;
  WatchRun run(options);
  EXPECT_TRUE(run.Finish().ok());
  EXPECT_EQ(run.WaitForLines(1).size(), 1u);  // The attach line only.
  ASSERT_EQ(run.warnings().size(), 1u);
  EXPECT_EQ(run.warnings()[0],
            "bond \"bond9\" is not published in " + path +
                " yet: waiting for it (set other_config:rdma-bond=true on "
                "its port)");
}

TEST(WatchRunTest, FailsLikeDumpWithoutATable) {
  WatchOptions options;
  options.path = "/nonexistent/rdma-bond.shm";
  options.timeout = 1s;
  WatchOutput output;
  output.line = [](const std::string&) { return Status::OK(); };
  output.warning = [](const std::string&) {};
  Status status = RunWatch(options, output);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(status.IsNotFound()) << status.ToString();
}

}  // namespace
}  // namespace rdma_bond
