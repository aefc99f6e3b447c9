// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "testing/wait_test_util.h"

#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <thread>

namespace rdma_bond::testing {

bool SleepsInFutex(pid_t tid) {
  // The first field is the number of the system call the thread is blocked
  // in, "running" if it runs, or -1 if it is blocked elsewhere.
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string number;
  return static_cast<bool>(file >> number) &&
         number == std::to_string(SYS_futex);
}

bool WaitUntilSleepsInFutex(pid_t tid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!SleepsInFutex(tid)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::optional<pid_t> FindThread(std::string_view name) {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) {
    return std::nullopt;
  }
  std::optional<pid_t> found;
  int matches = 0;
  while (const struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    std::ifstream comm(std::string("/proc/self/task/") + entry->d_name +
                       "/comm");
    std::string thread_name;
    if (std::getline(comm, thread_name) && thread_name == name) {
      found = static_cast<pid_t>(std::stol(entry->d_name));
      matches++;
    }
  }
  closedir(dir);
  return matches == 1 ? found : std::nullopt;
}

bool Readable(int fd, std::chrono::milliseconds limit) {
  struct pollfd pfd = {fd, POLLIN, 0};
  int n;
  do {
    n = poll(&pfd, 1, static_cast<int>(limit.count()));
  } while (n < 0 && errno == EINTR);
  return n == 1 && (pfd.revents & POLLIN);
}

}  // namespace rdma_bond::testing
