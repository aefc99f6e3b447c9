// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// ChangeNotifier: a file descriptor that becomes readable when the
// rdma-bond table changes, for programs built around an event loop.
//
// ovs-vswitchd wakes readers of the table with a futex (see
// TableReader::WaitForChange()), which poll() and epoll cannot wait for.
// A ChangeNotifier owns one thread that sleeps on the futex and turns
// each wake-up into an event on an eventfd: Fd() becomes readable, and
// Consume() says what happened and makes it unreadable again.  Events that
// arrive before Consume() are merged.
//
// The thread sleeps in slices of 'check_interval' (250 ms by default),
// because a table whose writer died or restarted never changes again (see
// the contract of WaitForChange()).  While the writer is gone (it exited,
// its file was removed, or its heartbeat is stale) a restart is what comes
// next, and the slices are 'restart_check_interval' (2 ms): a restarted
// ovs-vswitchd may pick another active member, and every millisecond a
// reader keeps sending from the old one moves MACs at the switch.  After
// each slice, and after each change, it checks the writer's health and
// reports what is new:
//
//   changed    the change word moved: one or more publishes.
//   restarted  a restarted ovs-vswitchd replaced the file: the notifier
//              now follows the new table (the caller's own TableReader
//              needs Reattach()).
//   removed    the file is gone; the notifier keeps looking for a new one.
//   stale      the heartbeat is older than RDMA_BOND_STALE_MS (the writer
//              hangs or died without a clean exit); 'fresh' when it moves
//              again.
//   exited     the writer exited cleanly (RDMA_BOND_TABLE_WRITER_EXITED).
//   error      something failed; see TableEvents::error.
//
// Nothing else makes Fd() readable: while the table does not change and
// the writer stays healthy, it stays unreadable however often the writer
// refreshes its heartbeat (which does not move the change word).
//
// Usage:
//   Result<std::unique_ptr<ChangeNotifier>> notifier =
//       ChangeNotifier::Start(path);
//   // Open the TableReader and take the first snapshot only now: any
//   // change after Start() returned is signalled.
//   ... poll() or epoll on (*notifier)->Fd() for POLLIN/EPOLLIN ...
//   TableEvents events = (*notifier)->Consume();
//   if (events.restarted) reader->Reattach();
//   if (events.changed || events.restarted) snapshot = reader->Snapshot();
//
// Thread-safety: Fd() and Consume() may be called from any thread,
// concurrently (Consume() is internally synchronized).  The
// destructor must not run concurrently with any other call; it stops the
// thread (sets a flag and wakes it, see WaitForChange()'s 'cancel'),
// joins it and closes the eventfd.  Waking the thread wakes every other
// waiter on the same table too; they go back to sleep.

#ifndef RDMA_BOND_CHANGE_NOTIFIER_H_
#define RDMA_BOND_CHANGE_NOTIFIER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rdma-bond-table.h"
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond {

// Default wait slice: how late a restart, a removed file or a stale
// heartbeat may be reported; it costs one wake-up of an idle thread.
inline constexpr std::chrono::milliseconds kDefaultCheckInterval{250};
// The slice while the writer is gone: how late its restart is reported.
// A stat() of the path and a look at the header each.
inline constexpr std::chrono::milliseconds kDefaultRestartCheckInterval{2};
static_assert(kDefaultCheckInterval <
                  std::chrono::milliseconds(RDMA_BOND_STALE_MS),
              "a stale heartbeat must be noticed within a few slices");

// Wake-up times kept per Consume(): a consumer that lags further behind
// keeps the latest ones.
inline constexpr size_t kMaxChangeWakeTimes = 64;

// What happened since the previous Consume(); see the list in the file
// comment.
struct TableEvents {
  bool changed = false;
  bool restarted = false;
  bool removed = false;
  bool stale = false;
  bool fresh = false;
  bool exited = false;
  // The notifier thread stopped (after a futex failure, in 'error'): no
  // further events will come.
  bool stopped = false;
  // The latest problem: a failed reattach (a file of another ABI, a
  // permission) or the failure that stopped the thread.  OK if none.
  Status error;

  // State when the latest event was recorded.
  uint32_t change_word = 0;        // Of the table now followed.
  uint64_t instance_id = 0;        // Of the table now followed.
  uint64_t old_instance_id = 0;    // Before the first restart, if any.
  uint64_t heartbeat_age_ms = 0;   // As of the latest health check.

  // CLOCK_MONOTONIC (MonotonicNowNs()) at which the thread woke for each
  // change, oldest first, at most kMaxChangeWakeTimes.  A record whose
  // change_ns precedes one of these was published at most that long
  // before the wake-up: this is how "rdma-bondctl watch" measures delays.
  std::vector<uint64_t> change_wake_ns;

  // Number of times the eventfd was signalled for these events.
  uint64_t signals = 0;

  // Whether any event is reported.
  bool any() const {
    return changed || restarted || removed || stale || fresh || exited ||
           stopped || !error.ok();
  }
};

struct ChangeNotifierOptions {
  // The wait slice: see kDefaultCheckInterval.  REQUIRES: > 0.
  std::chrono::nanoseconds check_interval = kDefaultCheckInterval;
  // The slice while the writer is gone: see kDefaultRestartCheckInterval.
  // REQUIRES: > 0.
  std::chrono::nanoseconds restart_check_interval =
      kDefaultRestartCheckInterval;

  // 0: the thread runs with the process's scheduling policy.  1 to 99: it
  // runs SCHED_FIFO at this priority, so that a wake-up runs at once
  // instead of queueing behind whatever the CPU the kernel picks is busy
  // with.  On a small host that is ovs-vswitchd's own main loop and the
  // ovsdb-server it wakes in the same moment: a few hundred microseconds
  // (docs/benchmarks.md).  Needs CAP_SYS_NICE; Start() fails without it.
  // The thread does little per wake-up and always sleeps again, so it
  // cannot monopolize a CPU.
  int realtime_priority = 0;
};

class ChangeNotifier {
 public:
  // Opens the table at 'path' (TableReader::Open()) and starts following
  // it.  Every change after Start() returns is signalled.
  // Ownership: the caller owns the notifier.
  static Result<std::unique_ptr<ChangeNotifier>> Start(
      const std::string& path, const ChangeNotifierOptions& options = {});

  // Follows the table of 'reader', which the notifier takes over.  A
  // reader made with TableReader::FromMemory() cannot be reattached:
  // restarts are then reported but not followed.
  // REQUIRES: reader != nullptr.
  static Result<std::unique_ptr<ChangeNotifier>> Start(
      std::unique_ptr<TableReader> reader,
      const ChangeNotifierOptions& options = {});

  ~ChangeNotifier();
  ChangeNotifier(const ChangeNotifier&) = delete;
  ChangeNotifier& operator=(const ChangeNotifier&) = delete;

  // The eventfd (non-blocking, close-on-exec): readable while events are
  // pending.  Owned by the notifier: do not read or close it; call
  // Consume().
  int Fd() const { return event_fd_; }

  // Returns the events since the previous call and resets them; Fd() is
  // unreadable afterwards until the next event.  Never blocks for long
  // (only on the lock the thread holds while recording an event).
  TableEvents Consume();

 private:
  ChangeNotifier(std::unique_ptr<TableReader> reader, int event_fd,
                 const ChangeNotifierOptions& options);

  // The thread: waits in slices, records events, until 'stopping_'.
  void Run();
  // Checks the writer's health; reattaches after a restart.  Returns
  // whether anything is new (recorded in '*events').
  bool CheckWriter(TableEvents* events, uint32_t* seen);
  // The next slice: short while the writer is gone (thread only).
  std::chrono::nanoseconds Slice() const;
  // Merges 'events' into 'pending_' and signals the eventfd.
  void Publish(const TableEvents& events);

  const ChangeNotifierOptions options_;
  const int event_fd_;
  const uint32_t start_change_word_;  // The change word when started.

  // Touched by the thread only, except that the destructor calls
  // reader_->WakeWaiters() under 'reader_mutex_', which the thread holds
  // while it replaces the mapping (Reattach()).
  std::unique_ptr<TableReader> reader_;
  std::mutex reader_mutex_;
  bool last_stale_ = false;        // Thread only: health at the last check.
  bool last_exited_ = false;
  bool last_removed_ = false;
  std::string last_error_;         // Thread only: last error reported.

  // Set by the destructor, read by WaitForChange() in the thread.
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;               // Guards 'pending_' and 'done_'.
  std::condition_variable done_cv_;
  TableEvents pending_;
  bool done_ = false;              // The thread has returned from Run().

  std::thread thread_;             // Started last, joined first.
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_CHANGE_NOTIFIER_H_
