// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// What the preload's byte counting (rdma-bond/preload/send_counters.h,
// for OVS's rebalancing) adds to each ibv_post_send(): the inline
// ibv_post_send() of <infiniband/verbs.h> on a context whose post_send is
// a provider that does nothing, as the provider finds it ("direct") and
// wrapped by the preload ("counted").  The difference is the preload's
// cost per post; a real provider's own work (building the WQE, ringing
// the doorbell: some 100 ns on mlx5) comes on top of both.
//
// Arguments: the work requests per post (a chained list), and for
// "counted" how many other QPs the counting table holds (the lookup
// probes past them).

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "preload/send_counters.h"

namespace rdma_bond::preload {
namespace {

// The provider: takes everything, does nothing.
__attribute__((noinline)) int NopPostSend(ibv_qp* qp, ibv_send_wr* wr,
                                          ibv_send_wr**) {
  benchmark::DoNotOptimize(qp);
  benchmark::DoNotOptimize(wr);
  return 0;
}

struct Fixture {
  explicit Fixture(size_t n_wrs) : wrs(n_wrs) {
    context.ops.post_send = NopPostSend;
    qp.context = &context;
    for (size_t i = 0; i < n_wrs; i++) {
      wrs[i].opcode = IBV_WR_RDMA_WRITE;
      wrs[i].sg_list = &sge;
      wrs[i].num_sge = 1;
      wrs[i].next = i + 1 < n_wrs ? &wrs[i + 1] : nullptr;
    }
  }
  ibv_context context{};
  ibv_qp qp{};
  ibv_sge sge{0, 4096, 0};
  std::vector<ibv_send_wr> wrs;
};

void Post(benchmark::State& state, Fixture& f) {
  ibv_send_wr* bad = nullptr;
  for (auto _ : state) {
    int rc = ibv_post_send(&f.qp, f.wrs.data(), &bad);
    benchmark::DoNotOptimize(rc);
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(f.wrs.size()));
}

void BM_PostSendDirect(benchmark::State& state) {
  Fixture f(state.range(0));
  Post(state, f);
}
BENCHMARK(BM_PostSendDirect)->Arg(1)->Arg(16);

// 'others' QPs in the table besides the one posted on (addresses only).
void BM_PostSendCounted(benchmark::State& state) {
  Fixture f(state.range(0));
  std::vector<ibv_qp> others(state.range(1));
  for (ibv_qp& q : others) g_send_counters.Add(&q);
  if (!g_send_counters.Add(&f.qp) || WrapPostSend(&f.context)) {
    state.SkipWithError("not counted");
    return;
  }
  Post(state, f);
  const uint64_t expected = static_cast<uint64_t>(state.iterations()) *
                            f.wrs.size() * f.sge.length;
  if (g_send_counters.Read(&f.qp) != expected) {
    state.SkipWithError("the count is wrong");
  }
  g_send_counters.Remove(&f.qp);
  for (ibv_qp& q : others) g_send_counters.Remove(&q);
}
BENCHMARK(BM_PostSendCounted)
    ->Args({1, 0})
    ->Args({1, 1000})
    ->Args({1, 6000})
    ->Args({16, 0});

// A QP the preload did not pin, on a context it wrapped for another: its
// provider is still reached through the wrapper, and nothing is counted.
void BM_PostSendUncountedOnWrappedContext(benchmark::State& state) {
  Fixture f(1);
  ibv_qp counted{};
  counted.context = &f.context;
  if (!g_send_counters.Add(&counted) || WrapPostSend(&f.context)) {
    state.SkipWithError("not wrapped");
    return;
  }
  Post(state, f);
  g_send_counters.Remove(&counted);
}
BENCHMARK(BM_PostSendUncountedOnWrappedContext);

// Threads posting on one QP: its counter's cache line moves between the
// cores at each post (the worst case; each QP of its own has its slot).
void BM_PostSendCountedSharedQp(benchmark::State& state) {
  static Fixture* shared = nullptr;
  if (state.thread_index() == 0) {
    shared = new Fixture(1);
    g_send_counters.Add(&shared->qp);
    WrapPostSend(&shared->context);
  }
  // Google Benchmark starts the timing of all threads together, after
  // thread 0's setup above.
  ibv_send_wr* bad = nullptr;
  for (auto _ : state) {
    int rc = ibv_post_send(&shared->qp, shared->wrs.data(), &bad);
    benchmark::DoNotOptimize(rc);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_send_counters.Remove(&shared->qp);
    delete shared;
    shared = nullptr;
  }
}
BENCHMARK(BM_PostSendCountedSharedQp)->Threads(1)->Threads(2);

}  // namespace
}  // namespace rdma_bond::preload
