// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Tests of ChangeNotifier: its eventfd becomes readable on a change, a
// restart, a removed file, a stale or fresh heartbeat and a clean exit,
// and on nothing else; and it stops cleanly, also while its thread sleeps
// in FUTEX_WAIT.  Bounds on time are sanity bounds, seconds long: a lost
// wake-up fails the test, a slow machine does not.

#include "rdma_bond/change_notifier.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "rdma-bond-table-writer.h"
#include "rdma_bond/table_reader.h"
#include "testing/table_test_util.h"
#include "testing/wait_test_util.h"

namespace rdma_bond {
namespace {

using namespace std::chrono_literals;
using testing::FindThread;
using testing::MakeRecord;
using testing::Readable;
using testing::TableOptions;
using testing::TempDir;
using testing::WaitUntilSleepsInFutex;
using testing::WritableTable;

// Sanity bound for "the fd becomes readable": far longer than a slice.
constexpr auto kEventLimit = 10000ms;
// A short slice, so that restarts and health changes show up quickly.
constexpr auto kShortSlice = 20ms;
constexpr uint64_t kNsPerMs = 1000 * 1000;
constexpr char kThreadName[] = "rdma-bond-notif";

class ChangeNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File(RDMA_BOND_TABLE_NAME);
    table_ = WritableTable::Create(path_);
    ASSERT_NE(table_, nullptr);
    table_->Store(0, MakeRecord("bond0"));
    rdma_bond_table_notify(table_->header());
  }

  std::unique_ptr<ChangeNotifier> Start(
      std::chrono::nanoseconds check_interval = kShortSlice) {
    ChangeNotifierOptions options;
    options.check_interval = check_interval;
    Result<std::unique_ptr<ChangeNotifier>> notifier =
        ChangeNotifier::Start(path_, options);
    EXPECT_TRUE(notifier.ok()) << notifier.status().ToString();
    return notifier.ok() ? std::move(*notifier) : nullptr;
  }

  void Publish(WritableTable* table, uint64_t generation) {
    rdma_bond_record record = MakeRecord("bond0");
    record.generation = generation;
    record.active_member = generation % 2;
    table->Store(0, record);
    rdma_bond_table_notify(table->header());
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<WritableTable> table_;
};

TEST_F(ChangeNotifierTest, WakesOnWriterChange) {
  std::unique_ptr<ChangeNotifier> notifier = Start(1h);
  ASSERT_NE(notifier, nullptr);
  const uint32_t before = table_->header()->change_word;
  EXPECT_FALSE(Readable(notifier->Fd(), 0ms));

  const uint64_t published_ns = MonotonicNowNs();
  Publish(table_.get(), 2);
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  TableEvents events = notifier->Consume();
  EXPECT_TRUE(events.changed);
  EXPECT_FALSE(events.restarted || events.removed || events.stale ||
               events.fresh || events.exited || events.stopped);
  EXPECT_TRUE(events.error.ok()) << events.error.ToString();
  EXPECT_EQ(events.change_word, before + 1);
  EXPECT_GE(events.signals, 1u);
  ASSERT_FALSE(events.change_wake_ns.empty());
  EXPECT_GE(events.change_wake_ns.front(), published_ns);
  // Consumed: unreadable until the next event.
  EXPECT_FALSE(Readable(notifier->Fd(), 0ms));
  EXPECT_FALSE(notifier->Consume().any());

  Publish(table_.get(), 3);
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  events = notifier->Consume();
  EXPECT_TRUE(events.changed);
  EXPECT_EQ(events.change_word, before + 2);
}

TEST_F(ChangeNotifierTest, NoSignalsWhileNothingChanges) {
  // Many wait slices pass and the heartbeat is refreshed all the time, but
  // nothing is published: the fd must stay unreadable.
  std::unique_ptr<ChangeNotifier> notifier = Start(5ms);
  ASSERT_NE(notifier, nullptr);
  std::atomic<bool> stop{false};
  std::thread heartbeat([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      rdma_bond_table_set_heartbeat(table_->header(), MonotonicNowNs());
      std::this_thread::sleep_for(2ms);
    }
  });
  const bool readable = Readable(notifier->Fd(), 1000ms);
  stop.store(true, std::memory_order_relaxed);
  heartbeat.join();
  EXPECT_FALSE(readable);
  TableEvents events = notifier->Consume();
  EXPECT_FALSE(events.any());
  EXPECT_EQ(events.signals, 0u);

  // The same notifier does signal a change.
  Publish(table_.get(), 2);
  EXPECT_TRUE(Readable(notifier->Fd(), kEventLimit));
  EXPECT_TRUE(notifier->Consume().changed);
}

TEST_F(ChangeNotifierTest, CoalescesChangesUntilConsumed) {
  std::unique_ptr<ChangeNotifier> notifier = Start(1h);
  ASSERT_NE(notifier, nullptr);
  const uint32_t before = table_->header()->change_word;
  for (uint64_t generation = 2; generation < 12; generation++) {
    Publish(table_.get(), generation);
  }
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  // The thread may still be catching up with the last publishes.
  TableEvents events;
  uint32_t last = 0;
  for (int i = 0; i < 1000 && last != before + 10; i++) {
    if (Readable(notifier->Fd(), kEventLimit)) {
      events = notifier->Consume();
      EXPECT_TRUE(events.changed);
      last = events.change_word;
    }
  }
  EXPECT_EQ(last, before + 10);
}

// Destroys 'notifier' in another thread and fails (then aborts: the
// destructor cannot be abandoned) if that takes longer than 'limit'.
void DestroyWithin(std::unique_ptr<ChangeNotifier> notifier,
                   std::chrono::milliseconds limit) {
  std::promise<void> destroyed;
  std::future<void> done = destroyed.get_future();
  std::thread([p = std::move(destroyed), n = std::move(notifier)]() mutable {
    n.reset();
    p.set_value();
  }).detach();
  if (done.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "the notifier did not stop within " << limit.count()
                  << " ms";
    std::abort();
  }
}

TEST_F(ChangeNotifierTest, StopsWhileBlocked) {
  // An hour-long slice: only the destructor's wake can end the sleep.
  std::unique_ptr<ChangeNotifier> notifier = Start(1h);
  ASSERT_NE(notifier, nullptr);
  std::optional<pid_t> tid = FindThread(kThreadName);
  ASSERT_TRUE(tid.has_value()) << "no thread named " << kThreadName;
  ASSERT_TRUE(WaitUntilSleepsInFutex(*tid, kEventLimit));
  DestroyWithin(std::move(notifier), kEventLimit);
  EXPECT_FALSE(FindThread(kThreadName).has_value());
}

TEST_F(ChangeNotifierTest, StopsRightAfterStart) {
  // Races the destructor with the thread going to sleep: a wake that lands
  // before the sleep must not leave the thread asleep for its hour.
  for (int i = 0; i < 50; i++) {
    std::unique_ptr<ChangeNotifier> notifier = Start(1h);
    ASSERT_NE(notifier, nullptr);
    DestroyWithin(std::move(notifier), kEventLimit);
  }
}

TEST_F(ChangeNotifierTest, FollowsARestartedWriter) {
  std::unique_ptr<ChangeNotifier> notifier = Start();
  ASSERT_NE(notifier, nullptr);
  const uint64_t old_id = table_->header()->instance_id;

  // A restarted ovs-vswitchd renames a new table into place.
  TableOptions options;
  options.instance_id = old_id + 1;
  std::unique_ptr<WritableTable> restarted =
      WritableTable::Create(path_, options);
  ASSERT_NE(restarted, nullptr);
  Publish(restarted.get(), 1);

  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  TableEvents events = notifier->Consume();
  EXPECT_TRUE(events.restarted);
  EXPECT_EQ(events.old_instance_id, old_id);
  EXPECT_EQ(events.instance_id, old_id + 1);
  EXPECT_FALSE(events.removed);
  EXPECT_TRUE(events.error.ok()) << events.error.ToString();

  // Changes of the new table wake the notifier; the old table is dead.
  const uint32_t before = restarted->header()->change_word;
  Publish(restarted.get(), 2);
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  events = notifier->Consume();
  EXPECT_TRUE(events.changed);
  EXPECT_FALSE(events.restarted);
  EXPECT_EQ(events.change_word, before + 1);
}

TEST_F(ChangeNotifierTest, ReportsRemovedFileThenItsReturn) {
  std::unique_ptr<ChangeNotifier> notifier = Start();
  ASSERT_NE(notifier, nullptr);
  ASSERT_EQ(unlink(path_.c_str()), 0);
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  TableEvents events = notifier->Consume();
  EXPECT_TRUE(events.removed);
  EXPECT_FALSE(events.restarted);

  // Reported once, not once per slice.
  EXPECT_FALSE(Readable(notifier->Fd(), 200ms));

  TableOptions options;
  options.instance_id = 42;
  std::unique_ptr<WritableTable> recreated =
      WritableTable::Create(path_, options);
  ASSERT_NE(recreated, nullptr);
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  events = notifier->Consume();
  EXPECT_TRUE(events.restarted);
  EXPECT_EQ(events.instance_id, 42u);
}

TEST_F(ChangeNotifierTest, ReportsStaleThenFreshHeartbeat) {
  std::unique_ptr<ChangeNotifier> notifier = Start();
  ASSERT_NE(notifier, nullptr);
  // A writer that hangs stops refreshing the heartbeat; nothing wakes the
  // futex, so only the wait slices notice.
  rdma_bond_table_set_heartbeat(
      table_->header(),
      MonotonicNowNs() - (RDMA_BOND_STALE_MS + 1000) * kNsPerMs);
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  TableEvents events = notifier->Consume();
  EXPECT_TRUE(events.stale);
  EXPECT_FALSE(events.fresh);
  EXPECT_FALSE(events.changed);
  EXPECT_GT(events.heartbeat_age_ms, uint64_t{RDMA_BOND_STALE_MS});

  rdma_bond_table_set_heartbeat(table_->header(), MonotonicNowNs());
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  events = notifier->Consume();
  EXPECT_TRUE(events.fresh);
  EXPECT_FALSE(events.stale);
}

TEST_F(ChangeNotifierTest, ReportsCleanExit) {
  std::unique_ptr<ChangeNotifier> notifier = Start(1h);
  ASSERT_NE(notifier, nullptr);
  // What bond_publish_exit() does.
  rdma_bond_table_set_flags(table_->header(), RDMA_BOND_TABLE_WRITER_EXITED);
  rdma_bond_table_notify(table_->header());
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  TableEvents events = notifier->Consume();
  EXPECT_TRUE(events.changed);
  EXPECT_TRUE(events.exited);
}

// After a clean exit the restart comes next: it is looked for every
// restart_check_interval, not only every (here endless) check_interval.
TEST_F(ChangeNotifierTest, ARestartAfterACleanExitIsSeenAtOnce) {
  std::unique_ptr<ChangeNotifier> notifier = Start(1h);
  ASSERT_NE(notifier, nullptr);
  rdma_bond_table_set_flags(table_->header(), RDMA_BOND_TABLE_WRITER_EXITED);
  rdma_bond_table_notify(table_->header());
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  EXPECT_TRUE(notifier->Consume().exited);

  TableOptions options;
  options.instance_id = table_->header()->instance_id + 1;
  std::unique_ptr<WritableTable> restarted =
      WritableTable::Create(path_, options);
  ASSERT_NE(restarted, nullptr);
  Publish(restarted.get(), 1);
  ASSERT_TRUE(Readable(notifier->Fd(), kEventLimit));
  TableEvents events = notifier->Consume();
  EXPECT_TRUE(events.restarted);
  EXPECT_EQ(events.instance_id, options.instance_id);

  // The new writer is healthy: back to check_interval, and nothing more
  // is reported while nothing changes.
  EXPECT_FALSE(Readable(notifier->Fd(), 200ms));
}

// The scheduling policy of thread 'tid' ("policy" in /proc/.../sched).
int SchedPolicy(pid_t tid) {
  std::ifstream sched("/proc/self/task/" + std::to_string(tid) + "/sched");
  std::string line;
  while (std::getline(sched, line)) {
    if (line.rfind("policy", 0) == 0) {
      return std::stoi(line.substr(line.find(':') + 1));
    }
  }
  return -1;
}

TEST_F(ChangeNotifierTest, RunsAtRealtimePriorityOrSaysWhyNot) {
  ChangeNotifierOptions options;
  options.check_interval = 1h;
  options.realtime_priority = 10;
  Result<std::unique_ptr<ChangeNotifier>> notifier =
      ChangeNotifier::Start(path_, options);
  if (!notifier.ok()) {
    // Without CAP_SYS_NICE: one clear error, no thread left behind.
    EXPECT_EQ(notifier.status().errno_value(), EPERM);
    EXPECT_EQ(notifier.status().ToString(),
              "run the change notifier thread for " + path_ +
                  " at SCHED_FIFO priority 10: Operation not permitted "
                  "(needs root or CAP_SYS_NICE)");
    EXPECT_FALSE(FindThread(kThreadName).has_value());
    return;
  }
  std::optional<pid_t> tid = FindThread(kThreadName);
  ASSERT_TRUE(tid.has_value());
  EXPECT_EQ(SchedPolicy(*tid), SCHED_FIFO);
  Publish(table_.get(), 2);
  ASSERT_TRUE(Readable((*notifier)->Fd(), kEventLimit));
  EXPECT_TRUE((*notifier)->Consume().changed);
}

TEST_F(ChangeNotifierTest, StartFailsCleanly) {
  Result<std::unique_ptr<ChangeNotifier>> missing =
      ChangeNotifier::Start(dir_.File("missing.shm"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();

  ChangeNotifierOptions options;
  options.check_interval = 0ns;
  Result<std::unique_ptr<ChangeNotifier>> zero =
      ChangeNotifier::Start(path_, options);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().ToString(),
            path_ + ": change notifier: check interval 0 ns is not positive");

  options = ChangeNotifierOptions();
  options.restart_check_interval = -1ns;
  Result<std::unique_ptr<ChangeNotifier>> negative =
      ChangeNotifier::Start(path_, options);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().ToString(),
            path_ + ": change notifier: restart check interval -1 ns is not "
                    "positive");

  options = ChangeNotifierOptions();
  options.realtime_priority = 100;
  Result<std::unique_ptr<ChangeNotifier>> priority =
      ChangeNotifier::Start(path_, options);
  ASSERT_FALSE(priority.ok());
  EXPECT_EQ(priority.status().ToString(),
            path_ +
                ": change notifier: real-time priority 100 is out of "
                "range (1 to 99)");
}

}  // namespace
}  // namespace rdma_bond
