// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Tests of TableReader::WaitForChange(): the futex wait on the table's
// change word, through the read-only mapping, woken by the writer's own
// rdma_bond_table_notify() from another thread and from another process.
//
// Where a test must show that a wake-up (not an early look at the change
// word) ended a wait, it publishes only once the waiter sleeps in
// FUTEX_WAIT (/proc/self/task/TID/syscall) and gives the wait a timeout far
// longer than the test may take, so that a lost wake-up fails the test.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "rdma-bond-table-writer.h"
#include "rdma_bond/table_reader.h"
#include "testing/table_test_util.h"
#include "testing/wait_test_util.h"

namespace rdma_bond {
namespace {

using namespace std::chrono_literals;
using testing::MakeRecord;
using testing::TempDir;
using testing::WaitUntilSleepsInFutex;
using testing::WritableTable;
using Clock = std::chrono::steady_clock;

// A wait that a lost wake-up would leave sleeping: far longer than the
// test may take.
constexpr auto kLongWait = 60s;
// Generous bound for "the wake-up ended the wait", well below kLongWait.
constexpr auto kWokenWithin = 20s;
static_assert(kWokenWithin < kLongWait, "a timeout must not pass for a wake");
// How long a test waits for a thread to fall asleep in FUTEX_WAIT.
constexpr auto kFallAsleepLimit = 10000ms;

class TableReaderWaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File(RDMA_BOND_TABLE_NAME);
    table_ = WritableTable::Create(path_);
    ASSERT_NE(table_, nullptr);
    table_->Store(0, MakeRecord("bond0"));
    rdma_bond_table_notify(table_->header());
    Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    reader_ = std::move(*reader);
  }

  // Publishes a new version of bond0 whose active member is p2.
  void PublishFailover() {
    rdma_bond_record record = MakeRecord("bond0");
    record.generation = 2;
    record.active_member = 1;
    record.reasons = RDMA_BOND_REASON_ACTIVE_MEMBER;
    table_->Store(0, record);
    rdma_bond_table_notify(table_->header());
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<WritableTable> table_;
  std::unique_ptr<TableReader> reader_;
};

TEST_F(TableReaderWaitTest, ReturnsAtOnceIfTheWordAlreadyMoved) {
  const uint32_t seen = reader_->ChangeWord();
  PublishFailover();
  // A publish between the snapshot and the wait is not missed: the long
  // timeout would show if the wait slept.
  const Clock::time_point start = Clock::now();
  Result<ChangeWait> wait = reader_->WaitForChange(seen, kLongWait);
  ASSERT_TRUE(wait.ok()) << wait.status().ToString();
  EXPECT_TRUE(wait->changed());
  EXPECT_EQ(wait->change_word, seen + 1);
  EXPECT_LT(Clock::now() - start, kWokenWithin);
}

TEST_F(TableReaderWaitTest, TimesOutWhenNothingChanges) {
  const uint32_t seen = reader_->ChangeWord();
  const Clock::time_point start = Clock::now();
  Result<ChangeWait> wait = reader_->WaitForChange(seen, 50ms);
  ASSERT_TRUE(wait.ok()) << wait.status().ToString();
  EXPECT_EQ(wait->outcome, ChangeWait::Outcome::kTimedOut);
  EXPECT_EQ(wait->change_word, seen);
  EXPECT_GE(Clock::now() - start, 50ms);

  // A zero or negative timeout only looks.
  wait = reader_->WaitForChange(seen, -1s);
  ASSERT_TRUE(wait.ok());
  EXPECT_EQ(wait->outcome, ChangeWait::Outcome::kTimedOut);
}

TEST_F(TableReaderWaitTest, HeartbeatDoesNotEndTheWait) {
  // The writer refreshes the heartbeat without moving the change word: a
  // waiter must sleep through it (this is why restarts need wait slices).
  const uint32_t seen = reader_->ChangeWord();
  std::atomic<bool> stop{false};
  std::thread heartbeat([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      rdma_bond_table_set_heartbeat(table_->header(), MonotonicNowNs());
      std::this_thread::sleep_for(5ms);
    }
  });
  Result<ChangeWait> wait = reader_->WaitForChange(seen, 200ms);
  stop.store(true, std::memory_order_relaxed);
  heartbeat.join();
  ASSERT_TRUE(wait.ok()) << wait.status().ToString();
  EXPECT_EQ(wait->outcome, ChangeWait::Outcome::kTimedOut);
}

TEST_F(TableReaderWaitTest, WakesOnWriterChangeFromAnotherThread) {
  const uint32_t seen = reader_->ChangeWord();
  std::atomic<pid_t> waiter_tid{0};
  Result<ChangeWait> wait = Status::Unavailable("waiter did not run");
  Clock::duration waited{};
  std::thread waiter([&] {
    waiter_tid.store(gettid());
    const Clock::time_point start = Clock::now();
    wait = reader_->WaitForChange(seen, kLongWait);
    waited = Clock::now() - start;
  });
  while (waiter_tid.load() == 0) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(WaitUntilSleepsInFutex(waiter_tid.load(), kFallAsleepLimit));
  PublishFailover();
  waiter.join();
  ASSERT_TRUE(wait.ok()) << wait.status().ToString();
  EXPECT_TRUE(wait->changed());
  EXPECT_EQ(wait->change_word, seen + 1);
  EXPECT_LT(waited, kWokenWithin) << "woken by the timeout, not the writer";

  // The acquire load of the change word makes the new record visible.
  Result<TableSnapshot> snapshot = reader_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->bonds.size(), 1u);
  EXPECT_EQ(snapshot->bonds[0].active()->name, "p2");
}

TEST_F(TableReaderWaitTest, WakeFromWriterInAnotherProcessReachesWaiter) {
  // The child is the writer, with its own read-write mapping of the file,
  // as ovs-vswitchd has; the parent waits on its PROT_READ mapping.  A
  // shared futex is keyed by inode and offset, so the wake must cross.
  const uint32_t seen = reader_->ChangeWord();
  rdma_bond_record record = MakeRecord("bond0");
  record.generation = 2;
  record.active_member = 1;
  int go[2];
  ASSERT_EQ(pipe(go), 0);

  const pid_t child = fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) {
      _exit(2);
    }
    const int fd = open(path_.c_str(), O_RDWR | O_CLOEXEC);
    void* base = fd < 0 ? MAP_FAILED
                        : mmap(nullptr, RDMA_BOND_TABLE_SIZE,
                               PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
      _exit(3);
    }
    auto* header = static_cast<rdma_bond_table_header*>(base);
    rdma_bond_record_store(reinterpret_cast<rdma_bond_record*>(header + 1),
                           &record);
    rdma_bond_table_notify(header);
    _exit(0);
  }
  close(go[0]);

  std::atomic<pid_t> waiter_tid{0};
  Result<ChangeWait> wait = Status::Unavailable("waiter did not run");
  Clock::duration waited{};
  std::thread waiter([&] {
    waiter_tid.store(gettid());
    const Clock::time_point start = Clock::now();
    wait = reader_->WaitForChange(seen, kLongWait);
    waited = Clock::now() - start;
  });
  while (waiter_tid.load() == 0) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(WaitUntilSleepsInFutex(waiter_tid.load(), kFallAsleepLimit));
  EXPECT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  waiter.join();
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "writer process failed, status " << status;

  ASSERT_TRUE(wait.ok()) << wait.status().ToString();
  EXPECT_TRUE(wait->changed());
  EXPECT_EQ(wait->change_word, seen + 1);
  EXPECT_LT(waited, kWokenWithin) << "woken by the timeout, not the writer";
  Result<TableSnapshot> snapshot = reader_->Snapshot();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->bonds.size(), 1u);
  EXPECT_EQ(snapshot->bonds[0].generation, 2u);
}

std::atomic<int> signals_caught{0};
void CountSignal(int) {
  signals_caught.fetch_add(1, std::memory_order_relaxed);
}

TEST_F(TableReaderWaitTest, SignalsAndSpuriousWakeupsDoNotEndTheWait) {
  // A handler without SA_RESTART makes FUTEX_WAIT fail with EINTR;
  // WakeWaiters() wakes the waiter without a change.  Both must be
  // absorbed: the wait lasts its whole timeout and reports no change.
  struct sigaction action;
  struct sigaction old_action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = CountSignal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &action, &old_action), 0);
  signals_caught.store(0);

  const uint32_t seen = reader_->ChangeWord();
  constexpr auto kTimeout = 1s;
  std::atomic<pid_t> waiter_tid{0};
  Result<ChangeWait> wait = Status::Unavailable("waiter did not run");
  Clock::duration waited{};
  std::thread waiter([&] {
    waiter_tid.store(gettid());
    const Clock::time_point start = Clock::now();
    wait = reader_->WaitForChange(seen, kTimeout);
    waited = Clock::now() - start;
  });
  while (waiter_tid.load() == 0) {
    std::this_thread::yield();
  }
  if (WaitUntilSleepsInFutex(waiter_tid.load(), 500ms)) {
    pthread_kill(waiter.native_handle(), SIGUSR1);
  }
  if (WaitUntilSleepsInFutex(waiter_tid.load(), 200ms)) {
    EXPECT_TRUE(reader_->WakeWaiters().ok());
  }
  waiter.join();
  sigaction(SIGUSR1, &old_action, nullptr);

  ASSERT_TRUE(wait.ok()) << wait.status().ToString();
  EXPECT_EQ(wait->outcome, ChangeWait::Outcome::kTimedOut);
  EXPECT_GE(waited, kTimeout) << "an interruption ended the wait early";
  EXPECT_GE(signals_caught.load(), 1) << "the signal never reached the waiter";
}

TEST_F(TableReaderWaitTest, CancelEndsTheWait) {
  const uint32_t seen = reader_->ChangeWord();
  std::atomic<bool> cancel{false};
  std::atomic<pid_t> waiter_tid{0};
  Result<ChangeWait> wait = Status::Unavailable("waiter did not run");
  Clock::duration waited{};
  std::thread waiter([&] {
    waiter_tid.store(gettid());
    const Clock::time_point start = Clock::now();
    wait = reader_->WaitForChange(seen, kLongWait, &cancel);
    waited = Clock::now() - start;
  });
  while (waiter_tid.load() == 0) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(WaitUntilSleepsInFutex(waiter_tid.load(), kFallAsleepLimit));
  cancel.store(true, std::memory_order_release);
  EXPECT_TRUE(reader_->WakeWaiters().ok());
  waiter.join();
  ASSERT_TRUE(wait.ok()) << wait.status().ToString();
  EXPECT_EQ(wait->outcome, ChangeWait::Outcome::kCancelled);
  EXPECT_EQ(wait->change_word, seen);
  EXPECT_LT(waited, kWokenWithin);
}

TEST_F(TableReaderWaitTest, HealthMatchesSnapshot) {
  const uint64_t now = MonotonicNowNs();
  rdma_bond_table_set_heartbeat(
      table_->header(), now - (RDMA_BOND_STALE_MS + 1000) * UINT64_C(1000000));
  WriterHealth health = reader_->Health(now);
  Result<TableSnapshot> snapshot = reader_->Snapshot(now);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_TRUE(health.stale);
  EXPECT_EQ(health.heartbeat_age_ms, snapshot->health.heartbeat_age_ms);
  EXPECT_EQ(health.stale, snapshot->health.stale);
  EXPECT_FALSE(health.replaced);

  ASSERT_EQ(unlink(path_.c_str()), 0);
  health = reader_->Health(now);
  EXPECT_TRUE(health.removed);
  EXPECT_TRUE(health.replaced);
}

}  // namespace
}  // namespace rdma_bond
