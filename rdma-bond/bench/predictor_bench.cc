// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Benchmarks of the per-flow path ("make bench"):
//
//   BM_Predict        one Predict() per flow; items/s = flows/s (target:
//                     20 million per second on one core).
//   BM_PredictBatch   PredictBatch() over 4096 flows.
//   BM_HashDispatch   FlowHash5Tuple(impl, ...), which dispatches on the
//                     implementation per call, for comparison.
//   BM_PickSport      one PickSport() per QP; time per iteration is the
//                     latency (target: 2 us on average).  Arguments: the
//                     number of members (buckets split evenly), or 0 for a
//                     member that owns a single bucket (the worst case).
//   BM_SportMapPick   SportMap::Pick() for that worst case.
//   BM_MapSports      building a SportMap (16384 predictions).
//   BM_PickSports64   64 distinct ports for one member.
//   BM_CreatePredictor  Predictor::Create(), self-test vectors included.
//
// The first argument of BM_Predict* is the implementation: 0 mhash, 1
// x86-crc32 (skipped where unavailable); the second the IP version.

#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include "rdma_bond/predictor.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond {
namespace {

using testing::BondSpec;
using testing::FillVectors;
using testing::MakeBond;

// Flows per benchmark ring: fits in L1/L2 like a hot working set.
constexpr size_t kFlows = 4096;

HashImpl ImplOf(int64_t arg) {
  return arg == 0 ? HashImpl::kMhash : HashImpl::kX86Crc32;
}

// 'n' RoCEv2 flows between varied hosts.
std::vector<FlowKey> MakeFlows(int ip_version, size_t n) {
  std::vector<FlowKey> keys;
  uint64_t x = 0x1234567;
  for (size_t i = 0; i < n; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    FiveTuple t;
    t.src.version = t.dst.version = static_cast<uint8_t>(ip_version);
    const size_t len = ip_version == 4 ? 4 : 16;
    for (size_t b = 0; b < len; b++) {
      t.src.bytes[b] = static_cast<uint8_t>(x >> (b % 8 * 8));
      t.dst.bytes[b] = static_cast<uint8_t>(x >> ((b + 3) % 8 * 8));
    }
    t.sport = static_cast<uint16_t>(kRoceSportMin | (x >> 50));
    keys.emplace_back(t);
  }
  return keys;
}

// A predictor for a balance-tcp bond in the recirc regime, or nullopt
// (and the benchmark skipped) if 'impl' does not run here.
std::optional<Predictor> MakePredictor(benchmark::State& state,
                                       HashImpl impl, size_t n_members = 2) {
  if (Status s = HashImplAvailable(impl); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return std::nullopt;
  }
  BondSpec spec;
  spec.n_members = n_members;
  Bond bond = MakeBond(spec);
  FillVectors(impl, &bond);
  Result<Predictor> p =
      Predictor::Create(bond, static_cast<uint32_t>(impl));
  if (!p.ok()) {
    state.SkipWithError(p.status().ToString().c_str());
    return std::nullopt;
  }
  return *p;
}

void BM_Predict(benchmark::State& state) {
  const std::optional<Predictor> p =
      MakePredictor(state, ImplOf(state.range(0)));
  if (!p) {
    return;
  }
  const std::vector<FlowKey> keys =
      MakeFlows(static_cast<int>(state.range(1)), kFlows);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(p->Predict(keys[i]));
    i = (i + 1) & (kFlows - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Predict)->ArgsProduct({{0, 1}, {4, 6}});

void BM_PredictBatch(benchmark::State& state) {
  const std::optional<Predictor> p =
      MakePredictor(state, ImplOf(state.range(0)));
  if (!p) {
    return;
  }
  const std::vector<FlowKey> keys =
      MakeFlows(static_cast<int>(state.range(1)), kFlows);
  std::vector<Prediction> out(keys.size());
  for (auto _ : state) {
    p->PredictBatch(keys, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
BENCHMARK(BM_PredictBatch)->ArgsProduct({{0, 1}, {4, 6}});

void BM_HashDispatch(benchmark::State& state) {
  const HashImpl impl = ImplOf(state.range(0));
  if (Status s = HashImplAvailable(impl); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  const std::vector<FlowKey> keys = MakeFlows(4, kFlows);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(FlowHash5Tuple(impl, keys[i], 7));
    i = (i + 1) & (kFlows - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HashDispatch)->Arg(0)->Arg(1);

void BM_PickSport(benchmark::State& state) {
  const size_t members = static_cast<size_t>(state.range(0));
  std::optional<Predictor> p =
      MakePredictor(state, HashImpl::kMhash, members == 0 ? 2 : members);
  if (!p) {
    return;
  }
  if (members == 0) {
    // Member p2 owns bucket 17 only.
    Bond bond = p->bond();
    for (size_t b = 0; b < bond.buckets.size(); b++) {
      bond.buckets[b] = b == 17 ? 1 : 0;
    }
    p = *Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  }
  const size_t member = members == 0 ? 1 : members - 1;
  const IpAddress src = *ParseIpAddress("10.0.0.1");
  const IpAddress dst = *ParseIpAddress("10.0.0.2");
  uint64_t qpn = 0x100;
  for (auto _ : state) {
    Result<SportChoice> c = p->PickSport(member, src, dst, qpn++);
    if (!c.ok()) {
      state.SkipWithError(c.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(c->sport);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PickSport)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->Arg(0);

// PickSport() from a SportMap, for the member that owns a single bucket
// (the walk's worst case).
void BM_SportMapPick(benchmark::State& state) {
  std::optional<Predictor> p = MakePredictor(state, HashImpl::kMhash);
  if (!p) {
    return;
  }
  Bond bond = p->bond();
  for (size_t b = 0; b < bond.buckets.size(); b++) {
    bond.buckets[b] = b == 17 ? 1 : 0;
  }
  p = *Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
  const SportMap map =
      *p->MapSports(*ParseIpAddress("10.0.0.1"), *ParseIpAddress("10.0.0.2"));
  uint64_t qpn = 0x100;
  for (auto _ : state) {
    Result<SportChoice> c = map.Pick(1, qpn++);
    benchmark::DoNotOptimize(c->sport);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SportMapPick);

// Building a SportMap: 16384 predictions.
void BM_MapSports(benchmark::State& state) {
  const std::optional<Predictor> p =
      MakePredictor(state, ImplOf(state.range(0)));
  if (!p) {
    return;
  }
  const IpAddress src = *ParseIpAddress("10.0.0.1");
  const IpAddress dst = *ParseIpAddress("10.0.0.2");
  for (auto _ : state) {
    Result<SportMap> map = p->MapSports(src, dst);
    benchmark::DoNotOptimize(map.ok());
  }
}
BENCHMARK(BM_MapSports)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_PickSports64(benchmark::State& state) {
  const std::optional<Predictor> p = MakePredictor(state, HashImpl::kMhash);
  if (!p) {
    return;
  }
  const IpAddress src = *ParseIpAddress("fd00::1");
  const IpAddress dst = *ParseIpAddress("fd00::2");
  uint64_t key = 0;
  for (auto _ : state) {
    Result<std::vector<SportChoice>> c = p->PickSports(0, src, dst, 64, key);
    key += 64;
    benchmark::DoNotOptimize(c->data());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_PickSports64);

void BM_CreatePredictor(benchmark::State& state) {
  BondSpec spec;
  Bond bond = MakeBond(spec);
  FillVectors(HashImpl::kMhash, &bond);
  for (auto _ : state) {
    Result<Predictor> p = Predictor::Create(bond, RDMA_BOND_HASH_MHASH);
    benchmark::DoNotOptimize(p.ok());
  }
}
BENCHMARK(BM_CreatePredictor);

}  // namespace
}  // namespace rdma_bond
