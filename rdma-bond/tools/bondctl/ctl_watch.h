// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// "rdma-bondctl watch": follows the rdma-bond table and prints every
// change as ovs-vswitchd publishes it.
//
// The command sleeps on a ChangeNotifier (the table's futex, no polling).
// After each wake-up it takes a snapshot, compares it with the previous one
// and prints one line per bond whose generation moved, that appeared or
// that disappeared, with the delay from the writer's change time (the
// record's change_ns) to the reader's wake-up, both CLOCK_MONOTONIC.  It
// also prints what the notifier reports about the writer: a restart (it
// then reattaches to the new table), a removed table file, a stale or
// fresh heartbeat, a clean exit.  The text and JSON Lines formats are
// documented in rdma-bondctl(8).
//
// This file holds the command's logic; rdma_bondctl.cc only dispatches to
// it.  The formatting and diffing functions are pure and exposed for the
// tests.
//
// Thread-safety: the functions are pure, except RunWatch(), which owns its
// notifier and reader and calls the output callbacks from its own thread.

#ifndef RDMA_BOND_CTL_WATCH_H_
#define RDMA_BOND_CTL_WATCH_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/bond.h"
#include "rdma_bond/change_notifier.h"
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond {

struct WatchOptions {
  std::string path;                     // The table file.
  bool json = false;                    // JSON Lines instead of text.
  std::optional<std::string> bond;      // Only changes of this bond.
  std::optional<uint64_t> count;        // Exit after this many changes.
  std::optional<std::chrono::nanoseconds> timeout;  // Exit after this.
  bool realtime = false;  // Wait at kWatchRealtimePriority (SCHED_FIFO).
};

// The SCHED_FIFO priority of "watch --realtime": low among real-time
// priorities, below the kernel's threaded interrupt handlers (50).
inline constexpr int kWatchRealtimePriority = 10;

// True for the options that only watch takes ("--count", "--timeout",
// "--realtime", also "--count=N"...): rdma-bondctl hands them, when they
// follow the word "watch", to ParseWatchArgs().
bool IsWatchOption(std::string_view arg);

// Parses the arguments of watch, 'args' being {"watch", ...}: at most one
// BOND, "--count N" (N >= 1), "--timeout SEC" (SEC >= 0, fractions
// allowed), also written "--count=N" and "--timeout=SEC", and
// "--realtime", in any order.
// Sets neither 'path' nor 'json'.  A failure is a usage error, one line.
Result<WatchOptions> ParseWatchArgs(const std::vector<std::string>& args);

// One bond that changed between two snapshots.
struct BondChange {
  std::string name;
  std::optional<Bond> bond;     // The new version; nullopt if it is gone.
};

// The bonds of 'now' that are new or whose slot or generation differ from
// 'before', and the bonds of 'before' that are not in 'now', sorted by
// name.  Only the bond named 'only', if set.
std::vector<BondChange> DiffBonds(const std::vector<Bond>& before,
                                  const std::vector<Bond>& now,
                                  const std::optional<std::string>& only);

// The wake-up that reported a record changed at 'change_ns': the first of
// 'wakes_ns' (ascending) at or after it, else 'seen_ns' (the snapshot that
// found the record without a wake-up of its own, for example after a
// restart).
uint64_t WakeFor(const std::vector<uint64_t>& wakes_ns, uint64_t change_ns,
                 uint64_t seen_ns);

// One line, newline-terminated, for a changed bond: 'change_word' is the
// snapshot's, 'wake_ns' from WakeFor().  The delay is wake_ns - change_ns
// in microseconds, 0 if the change is newer than the wake-up.
std::string FormatChange(const BondChange& change, uint32_t change_word,
                         uint64_t wake_ns, bool json);

// Lines for the other events, newline-terminated.
std::string FormatAttach(const TableSnapshot& snapshot, bool json);
std::string FormatRestart(const TableSnapshot& snapshot,
                          uint64_t old_instance_id, bool json);
std::string FormatTableRemoved(std::string_view path, bool json);
std::string FormatStale(uint64_t heartbeat_age_ms, bool stale, bool json);
std::string FormatExited(const TableSnapshot& snapshot, bool json);
std::string FormatError(const Status& error, bool json);

// Where RunWatch() writes.  'line' gets whole lines for standard output
// and must flush them (a pipe reader acts on each change as it comes);
// 'warning' gets one-line warnings without a prefix, for standard error.
struct WatchOutput {
  std::function<Status(const std::string& line)> line;
  std::function<void(const std::string& warning)> warning;
};

// Runs the command: attaches (failing as "dump" does if the table cannot
// be opened), prints the attach line, then the events, until 'count'
// changes have been printed or 'timeout' has passed (both return OK).
// Fails if the notifier stops, a snapshot fails or a write fails.
Status RunWatch(const WatchOptions& options, const WatchOutput& output);

}  // namespace rdma_bond

#endif  // RDMA_BOND_CTL_WATCH_H_
