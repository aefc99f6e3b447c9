// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The floor under rdma-bond/bench/propagation: how long a futex wake takes
// from a writer process to a reader process when nothing else runs.
//
// A child process publishes N changes to a table file with the writer's
// own code (rdma_bond_record_store(), rdma_bond_table_notify()), each
// stamped with its CLOCK_MONOTONIC change time just before the notify, at
// random gaps; the parent waits on its read-only mapping with
// TableReader::WaitForChange() and notes its clock at each wake-up.  The
// delays are printed as in propagation: p50, p99, max in microseconds.
//
// Usage: futex-wake-latency [N]        (default 2000 changes)

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rdma-bond-table-writer.h"
#include "rdma_bond/table_reader.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

// Gaps between changes: long enough that the reader is asleep again.
constexpr int kMinGapUs = 3000;
constexpr int kMaxGapUs = 8000;
// A wake-up this late means the run is broken, not slow.
constexpr auto kLostWakeup = std::chrono::seconds(5);

int Run(int n) {
  testing::TempDir dir;
  const std::string path = dir.File(RDMA_BOND_TABLE_NAME);
  std::unique_ptr<testing::WritableTable> table =
      testing::WritableTable::Create(path);
  if (table == nullptr) {
    return 1;
  }
  rdma_bond_record record = testing::MakeRecord("bond0");
  table->Store(0, record);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path);
  if (!reader.ok()) {
    std::fprintf(stderr, "futex-wake-latency: %s\n",
                 reader.status().ToString().c_str());
    return 1;
  }

  const pid_t child = fork();
  if (child < 0) {
    std::perror("futex-wake-latency: fork");
    return 1;
  }
  if (child == 0) {
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> gap(kMinGapUs, kMaxGapUs);
    for (int i = 0; i < n; i++) {
      std::this_thread::sleep_for(std::chrono::microseconds(gap(rng)));
      record.generation = i + 2;
      record.change_ns = MonotonicNowNs();
      table->Store(0, record);
      rdma_bond_table_notify(table->header());
    }
    _exit(0);
  }

  std::vector<uint64_t> delays_us;
  uint32_t seen = (*reader)->ChangeWord();
  while (static_cast<int>(delays_us.size()) < n) {
    Result<ChangeWait> wait = (*reader)->WaitForChange(seen, kLostWakeup);
    const uint64_t woke_ns = MonotonicNowNs();
    if (!wait.ok() || !wait->changed()) {
      std::fprintf(
          stderr, "futex-wake-latency: no change within 5 s: %s\n",
          wait.ok() ? "lost wake-up" : wait.status().ToString().c_str());
      break;
    }
    seen = wait->change_word;
    Result<TableSnapshot> snapshot = (*reader)->Snapshot(woke_ns);
    if (!snapshot.ok() || snapshot->bonds.empty()) {
      break;
    }
    const uint64_t change_ns = snapshot->bonds[0].change_ns;
    delays_us.push_back(woke_ns > change_ns ? (woke_ns - change_ns) / 1000 : 0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (static_cast<int>(delays_us.size()) < n) {
    return 1;
  }

  std::sort(delays_us.begin(), delays_us.end());
  // Nearest-rank percentiles, as in propagation.
  auto percentile = [&](int p) {
    const size_t rank = (delays_us.size() * p + 99) / 100;
    return delays_us[std::max<size_t>(rank, 1) - 1];
  };
  std::printf(
      "futex wake, writer process -> reader process, %d changes: "
      "min %llu p50 %llu p99 %llu max %llu us\n",
      n, static_cast<unsigned long long>(delays_us.front()),
      static_cast<unsigned long long>(percentile(50)),
      static_cast<unsigned long long>(percentile(99)),
      static_cast<unsigned long long>(delays_us.back()));
  return 0;
}

}  // namespace
}  // namespace rdma_bond

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (argc > 2 || n < 1) {
    std::fprintf(stderr, "usage: futex-wake-latency [N]\n");
    return 2;
  }
  return rdma_bond::Run(n);
}
