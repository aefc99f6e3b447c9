// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Test helpers for the futex-waiting code: whether a thread sleeps in
// FUTEX_WAIT right now (so that a test can publish only once a waiter is
// really asleep, and a wake-up, not an early look at the change word, is
// what ends the wait), and polling a file descriptor.
//
// Thread-safety: the functions only read /proc and call poll(); any thread
// may call them.

#ifndef RDMA_BOND_WAIT_TEST_UTIL_H_
#define RDMA_BOND_WAIT_TEST_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string_view>

namespace rdma_bond::testing {

// Whether thread 'tid' of this process is blocked in the futex system call
// now (/proc/self/task/TID/syscall names it).
bool SleepsInFutex(pid_t tid);

// Waits (polling /proc every millisecond) until SleepsInFutex(tid) or
// 'limit' has passed; returns whether it does.
bool WaitUntilSleepsInFutex(pid_t tid, std::chrono::milliseconds limit);

// The id of this process's thread named 'name' (pthread_setname_np()), if
// there is exactly one.
std::optional<pid_t> FindThread(std::string_view name);

// Whether 'fd' becomes readable within 'limit' (poll()).
bool Readable(int fd, std::chrono::milliseconds limit);

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_WAIT_TEST_UTIL_H_
