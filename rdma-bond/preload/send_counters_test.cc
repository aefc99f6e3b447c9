// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The preload's byte counting on contexts made here (no libibverbs call):
// what ibv_post_send() reaches once a context is wrapped, and the table.
// Each test uses its own contexts: the table and the wrapped contexts are
// the process's.

#include "preload/send_counters.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace rdma_bond::preload {
namespace {

// Two providers' post_send: each counts its calls; ProviderA fails as told.
std::atomic<int> g_a_calls = 0;
std::atomic<int> g_b_calls = 0;
int g_a_fail_at = -1;

int ProviderA(ibv_qp*, ibv_send_wr* wr, ibv_send_wr** bad_wr) {
  g_a_calls++;
  if (g_a_fail_at < 0) return 0;
  ibv_send_wr* w = wr;
  for (int i = 0; i < g_a_fail_at && w; i++) w = w->next;
  g_a_fail_at = -1;
  *bad_wr = w;
  return ENOMEM;
}
int ProviderB(ibv_qp*, ibv_send_wr*, ibv_send_wr**) {
  g_b_calls++;
  return 0;
}

struct Device {
  explicit Device(PostSendFn fn) {
    context.ops.post_send = fn;
    qp.context = &context;
  }
  ibv_context context{};
  ibv_qp qp{};
};

ibv_send_wr Wr(ibv_wr_opcode opcode, ibv_sge* sge, int n) {
  ibv_send_wr wr{};
  wr.opcode = opcode;
  wr.sg_list = sge;
  wr.num_sge = n;
  return wr;
}

TEST(SendCountersTest, SendsAndWritesAreCountedNotReadsOrAtomics) {
  Device d(ProviderA);
  ASSERT_TRUE(g_send_counters.Add(&d.qp));
  ASSERT_EQ(WrapPostSend(&d.context), nullptr);
  EXPECT_EQ(d.context.ops.post_send, &CountingPostSend);

  ibv_sge sge[2] = {{0, 100, 0}, {0, 28, 0}};
  ibv_send_wr wr[7] = {
      Wr(IBV_WR_SEND, sge, 2),           Wr(IBV_WR_SEND_WITH_IMM, sge, 1),
      Wr(IBV_WR_RDMA_WRITE, sge + 1, 1), Wr(IBV_WR_RDMA_WRITE_WITH_IMM, sge, 2),
      Wr(IBV_WR_RDMA_READ, sge, 2),      Wr(IBV_WR_ATOMIC_FETCH_AND_ADD, sge, 1),
      Wr(IBV_WR_SEND_WITH_INV, sge, 1),
  };
  for (int i = 0; i < 6; i++) wr[i].next = &wr[i + 1];
  ibv_send_wr* bad = nullptr;
  g_a_calls = 0;
  ASSERT_EQ(ibv_post_send(&d.qp, wr, &bad), 0);
  EXPECT_EQ(g_a_calls, 1);   // The provider's, once, with the whole list.
  // 128 + 100 + 28 + 128 + 100.
  EXPECT_EQ(g_send_counters.Read(&d.qp), 484u);

  // Wrapping again changes nothing (the provider stays the one called).
  ASSERT_EQ(WrapPostSend(&d.context), nullptr);
  ASSERT_EQ(ibv_post_send(&d.qp, &wr[2], &bad), 0);
  EXPECT_EQ(g_a_calls, 2);
  EXPECT_EQ(g_send_counters.Read(&d.qp), 484u + 28 + 128 + 100);
  g_send_counters.Remove(&d.qp);
  EXPECT_EQ(g_send_counters.Read(&d.qp), std::nullopt);
}

TEST(SendCountersTest, AFailedPostCountsOnlyTheRequestsBeforeBadWr) {
  Device d(ProviderA);
  ASSERT_TRUE(g_send_counters.Add(&d.qp));
  ASSERT_EQ(WrapPostSend(&d.context), nullptr);
  ibv_sge sge = {0, 1000, 0};
  ibv_send_wr wr[3] = {Wr(IBV_WR_SEND, &sge, 1), Wr(IBV_WR_SEND, &sge, 1),
                       Wr(IBV_WR_SEND, &sge, 1)};
  wr[0].next = &wr[1];
  wr[1].next = &wr[2];
  ibv_send_wr* bad = nullptr;
  g_a_fail_at = 2;
  EXPECT_EQ(ibv_post_send(&d.qp, wr, &bad), ENOMEM);
  EXPECT_EQ(bad, &wr[2]);
  EXPECT_EQ(g_send_counters.Read(&d.qp), 2000u);
  g_a_fail_at = 0;   // None taken.
  EXPECT_EQ(ibv_post_send(&d.qp, wr, &bad), ENOMEM);
  EXPECT_EQ(g_send_counters.Read(&d.qp), 2000u);
  g_send_counters.Remove(&d.qp);
}

TEST(SendCountersTest, AnUncountedQpOfAWrappedContextStillReachesItsProvider) {
  Device d(ProviderB);
  ASSERT_TRUE(g_send_counters.Add(&d.qp));
  ASSERT_EQ(WrapPostSend(&d.context), nullptr);
  ibv_qp other{};
  other.context = &d.context;
  ibv_sge sge = {0, 64, 0};
  ibv_send_wr wr = Wr(IBV_WR_SEND, &sge, 1);
  ibv_send_wr* bad = nullptr;
  g_b_calls = 0;
  EXPECT_EQ(ibv_post_send(&other, &wr, &bad), 0);
  EXPECT_EQ(g_b_calls, 1);
  EXPECT_EQ(g_send_counters.Read(&other), std::nullopt);
  EXPECT_EQ(g_send_counters.Read(&d.qp), 0u);
  g_send_counters.Remove(&d.qp);
}

// A program may close a device and open another whose context lands at
// the same address, of another provider: its posts reach that provider.
TEST(SendCountersTest, ANewContextAtAnOldAddressReachesItsOwnProvider) {
  auto d = std::make_unique<Device>(ProviderA);
  ASSERT_EQ(WrapPostSend(&d->context), nullptr);
  d->context = ibv_context{};   // "Closed", and opened again, on B.
  d->context.ops.post_send = ProviderB;
  ASSERT_EQ(WrapPostSend(&d->context), nullptr);
  ibv_sge sge = {0, 64, 0};
  ibv_send_wr wr = Wr(IBV_WR_SEND, &sge, 1);
  ibv_send_wr* bad = nullptr;
  g_a_calls = g_b_calls = 0;
  EXPECT_EQ(ibv_post_send(&d->qp, &wr, &bad), 0);
  EXPECT_EQ(g_b_calls, 1);
  EXPECT_EQ(g_a_calls, 0);
}

TEST(SendCountersTest, AContextWithoutPostSendIsNotWrapped) {
  ibv_context context{};
  EXPECT_STREQ(WrapPostSend(&context), "its device has no post_send");
  EXPECT_EQ(context.ops.post_send, nullptr);
}

// Slots of removed QPs are used again; a full table refuses, and says so.
TEST(SendCountersTest, TheTableHoldsItsSlotsAndReusesThoseOfRemovedQps) {
  // Addresses only: the table never reads through them.
  std::vector<ibv_qp> qps(SendCounters::kSlots + 1);
  auto table = std::make_unique<SendCounters>();
  for (size_t i = 0; i < SendCounters::kSlots; i++) {
    ASSERT_TRUE(table->Add(&qps[i])) << i;
  }
  EXPECT_FALSE(table->Add(&qps.back()));
  EXPECT_TRUE(table->Add(&qps[5]));   // Already there.
  table->Count(&qps[7], 10);
  table->Count(&qps.back(), 10);      // Not counted: nothing happens.
  EXPECT_EQ(table->Read(&qps[7]), 10u);
  EXPECT_EQ(table->Read(&qps.back()), std::nullopt);
  table->Remove(&qps[3]);
  EXPECT_EQ(table->Read(&qps[3]), std::nullopt);
  ASSERT_TRUE(table->Add(&qps.back()));
  EXPECT_EQ(table->Read(&qps.back()), 0u);
  // Every other QP is still found, with its count, past the reused slot.
  for (size_t i = 0; i < SendCounters::kSlots; i++) {
    if (i == 3) continue;
    ASSERT_EQ(table->Read(&qps[i]), i == 7 ? 10u : 0u) << i;
  }
  // A QP added again after its removal starts from 0.
  table->Remove(&qps[7]);
  table->Remove(&qps[8]);
  ASSERT_TRUE(table->Add(&qps[7]));
  EXPECT_EQ(table->Read(&qps[7]), 0u);
}

// QPs that came and went leave no slot for lookups to probe past, once
// nothing after them needs it.
TEST(SendCountersTest, RemovedQpsLeaveNoTombstonesBehindTheLastQp) {
  std::vector<ibv_qp> qps(SendCounters::kSlots);
  auto table = std::make_unique<SendCounters>();
  for (size_t i = 0; i < 3000; i++) ASSERT_TRUE(table->Add(&qps[i]));
  for (size_t i = 0; i < 3000; i += 2) table->Remove(&qps[i]);
  EXPECT_GT(table->tombstones(), 0u);
  for (size_t i = 1; i < 3000; i += 2) {
    ASSERT_EQ(table->Read(&qps[i]), 0u) << i;
  }
  for (size_t i = 1; i < 3000; i += 2) table->Remove(&qps[i]);
  EXPECT_EQ(table->tombstones(), 0u);

  // A full table emptied again.
  for (ibv_qp& q : qps) ASSERT_TRUE(table->Add(&q));
  for (ibv_qp& q : qps) table->Remove(&q);
  EXPECT_EQ(table->tombstones(), 0u);
  EXPECT_EQ(table->Read(&qps[0]), std::nullopt);
  for (size_t i = 0; i < 2; i++) ASSERT_TRUE(table->Add(&qps[i]));

  // One QP left, the first added: the tombstones left are the run just
  // before its slot (within one cluster of a table half full), not the
  // 3999 slots of the others.
  for (size_t i = 2; i < 4000; i++) ASSERT_TRUE(table->Add(&qps[i]));
  for (size_t i = 1; i < 4000; i++) table->Remove(&qps[i]);
  EXPECT_LT(table->tombstones(), 200u);
  EXPECT_EQ(table->Read(&qps[0]), 0u);
  table->Remove(&qps[0]);
  EXPECT_EQ(table->tombstones(), 0u);
}

// Two threads post on the same QP and on their own: no byte is lost.
TEST(SendCountersTest, ConcurrentPostsLoseNoByte) {
  Device shared(ProviderB);
  Device own[2] = {Device(ProviderB), Device(ProviderB)};
  for (Device* d : {&shared, &own[0], &own[1]}) {
    ASSERT_TRUE(g_send_counters.Add(&d->qp));
    ASSERT_EQ(WrapPostSend(&d->context), nullptr);
  }
  constexpr int kPosts = 200000;
  auto poster = [&](Device* mine) {
    ibv_sge sge = {0, 3, 0};
    ibv_send_wr wr = Wr(IBV_WR_RDMA_WRITE, &sge, 1);
    ibv_send_wr* bad = nullptr;
    for (int i = 0; i < kPosts; i++) {
      ibv_post_send(&shared.qp, &wr, &bad);
      ibv_post_send(&mine->qp, &wr, &bad);
    }
  };
  std::thread t0(poster, &own[0]);
  std::thread t1(poster, &own[1]);
  t0.join();
  t1.join();
  EXPECT_EQ(g_send_counters.Read(&shared.qp), 2u * 3 * kPosts);
  EXPECT_EQ(g_send_counters.Read(&own[0].qp), 3u * kPosts);
  EXPECT_EQ(g_send_counters.Read(&own[1].qp), 3u * kPosts);
  for (Device* d : {&shared, &own[0], &own[1]}) g_send_counters.Remove(&d->qp);
}

}  // namespace
}  // namespace rdma_bond::preload
