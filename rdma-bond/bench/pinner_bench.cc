// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Re-pin decisions for 100,000 registered QPs (target: <= 10 ms), after a
// rebalance that moves one bucket, after a failover of one of two members
// in balance-tcp, and after an active-backup failover.  The time is that of
// one Update(); the "repins" counter says how many QPs it moved.

#include <benchmark/benchmark.h>

#include "rdma_bond/pinner.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond {
namespace {

constexpr size_t kQps = 100000;
constexpr uint32_t kImpl = RDMA_BOND_HASH_MHASH;

Bond MakeFilled(testing::BondSpec spec) {
  Bond bond = testing::MakeBond(spec);
  testing::FillVectors(HashImpl::kMhash, &bond);
  return bond;
}

// 100,000 QPs from one host to 1,000 peers, 100 QPs each.
void Populate(Pinner* pinner) {
  IpAddress local = *ParseIpAddress("10.0.0.1");
  for (QpId id = 0; id < kQps; id++) {
    IpAddress remote = *ParseIpAddress(
        "10.1." + std::to_string(id % 1000 / 250) + "." +
        std::to_string(id % 250 + 1));
    if (!pinner->Choose(id, local, remote).ok()) {
      std::abort();
    }
  }
}

// Times one Update() from snapshot 'a' to 'b' on a registry of kQps QPs
// populated under 'a' (a fresh copy each iteration, outside the timing).
void Repin(benchmark::State& state, const Bond& a, const Bond& b) {
  Pinner populated;
  if (!populated.Update(a, kImpl).ok()) {
    state.SkipWithError("snapshot refused");
    return;
  }
  Populate(&populated);
  size_t repins = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Pinner pinner = populated;
    state.ResumeTiming();
    if (!pinner.Update(b, kImpl).ok()) {
      state.SkipWithError("update refused");
      return;
    }
    state.PauseTiming();
    repins += pinner.TakeRepins().size();
    if (pinner.CountMispinned() != pinner.CountUnpinnable()) {
      state.SkipWithError("QPs left mispinned");
      return;
    }
    state.ResumeTiming();
  }
  state.counters["qps"] = kQps;
  state.counters["repins"] = double(repins) / double(state.iterations());
}

void BM_RepinAfterBucketMove(benchmark::State& state) {
  testing::BondSpec spec;
  Bond a = MakeFilled(spec);
  Bond b = a;
  b.buckets[17] = 1 - b.buckets[17];
  Repin(state, a, b);
}
BENCHMARK(BM_RepinAfterBucketMove)->Unit(benchmark::kMillisecond);

void BM_RepinAfterBalanceTcpFailover(benchmark::State& state) {
  testing::BondSpec spec;
  Bond a = MakeFilled(spec);
  Bond b = a;
  b.members[1].flags = 0;
  for (auto& owner : b.buckets) {
    owner = 0;
  }
  Repin(state, a, b);
}
BENCHMARK(BM_RepinAfterBalanceTcpFailover)->Unit(benchmark::kMillisecond);

void BM_RepinAfterActiveBackupFailover(benchmark::State& state) {
  testing::BondSpec spec;
  spec.mode = BondMode::kActiveBackup;
  spec.lacp = LacpStatus::kOff;
  spec.regime = HashRegime::kNone;
  spec.active_member = 0;
  Bond a = MakeFilled(spec);
  spec.active_member = 1;
  Bond b = MakeFilled(spec);
  b.members[0].flags = 0;
  Repin(state, a, b);
}
BENCHMARK(BM_RepinAfterActiveBackupFailover)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rdma_bond
