// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rnic/rnic_mux.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "rdma_bond/connection.h"
#include "testing/fake_rnic.h"

namespace rdma_bond {
namespace {

using testing::FakeFabric;
using testing::FakeRnic;

const char* const kIp[2] = {"10.0.0.1", "10.0.0.2"};

// Two connections between the same two hosts share each host's two RNICs
// through muxes, as rdma-bond-perf --qps 2 does: each must get its own
// messages, all of them, once, in order.  Without the mux, each
// connection's Progress() takes the other's completions.
TEST(RnicMuxTest, ConnectionsSharingRnicsEachGetTheirOwnMessages) {
  FakeFabric fabric;
  std::vector<std::unique_ptr<FakeRnic>> rnics[2];
  std::vector<std::unique_ptr<RnicMux>> muxes[2];
  for (int side = 0; side < 2; side++) {
    for (size_t m = 0; m < 2; m++) {
      rnics[side].push_back(fabric.CreateRnic(
          side, m, "p" + std::to_string(m + 1), *ParseIpAddress(kIp[side])));
      muxes[side].push_back(std::make_unique<RnicMux>(rnics[side][m].get()));
    }
  }
  constexpr int kConns = 2;
  std::vector<std::unique_ptr<Rnic>> views[2][kConns];
  std::unique_ptr<Connection> conns[2][kConns];
  for (int c = 0; c < kConns; c++) {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    Status st[2];
    auto run = [&](int side) {
      std::vector<Rnic*> list;
      for (auto& mux : muxes[side]) {
        views[side][c].push_back(mux->NewView());
        list.push_back(views[side][c].back().get());
      }
      ConnectionOptions o;
      o.local = *ParseIpAddress(kIp[side]);
      o.remote = *ParseIpAddress(kIp[1 - side]);
      o.max_message_size = 64;
      o.send_window = 32;
      o.recv_buffers = 32;
      o.write_region_size = 4096;
      o.spread_key = static_cast<uint64_t>(c * 10 + side);
      Result<std::unique_ptr<Connection>> conn = Connection::Establish(
          std::move(*SideChannel::Adopt(fds[side])), side == 0, list,
          nullptr, 0, o);
      if (conn.ok()) {
        conns[side][c] = std::move(*conn);
      } else {
        st[side] = conn.status();
      }
    };
    std::thread peer(run, 1);
    run(0);
    peer.join();
    ASSERT_TRUE(st[0].ok()) << st[0].ToString();
    ASSERT_TRUE(st[1].ok()) << st[1].ToString();
  }

  // Connection c sends messages tagged with c; the receiver checks tags
  // and order.
  constexpr uint64_t kMessages = 2000;
  std::vector<uint64_t> got[kConns];
  bool foreign = false;
  for (int c = 0; c < kConns; c++) {
    conns[1][c]->OnMessage([&, c](std::span<const uint8_t> m) {
      uint64_t word;
      ASSERT_EQ(m.size(), sizeof word);
      std::memcpy(&word, m.data(), sizeof word);
      if (word >> 32 != static_cast<uint64_t>(c)) foreign = true;
      got[c].push_back(word & 0xffffffff);
    });
  }
  uint64_t next[kConns] = {0, 0};
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((got[0].size() < kMessages || got[1].size() < kMessages) &&
         std::chrono::steady_clock::now() < deadline) {
    for (int c = 0; c < kConns; c++) {
      while (next[c] < kMessages) {
        const uint64_t word = (static_cast<uint64_t>(c) << 32) | next[c];
        uint8_t bytes[sizeof word];
        std::memcpy(bytes, &word, sizeof word);
        Status s = conns[0][c]->Send(bytes);
        if (s.code() == Status::Code::kUnavailable) break;
        ASSERT_TRUE(s.ok()) << s.ToString();
        next[c]++;
      }
    }
    for (int side = 0; side < 2; side++) {
      for (int c = 0; c < kConns; c++) {
        Status s = conns[side][c]->Progress();
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
    }
  }
  EXPECT_FALSE(foreign) << "a connection delivered another's message";
  for (int c = 0; c < kConns; c++) {
    ASSERT_EQ(got[c].size(), kMessages) << "connection " << c;
    for (uint64_t i = 0; i < kMessages; i++) {
      ASSERT_EQ(got[c][i], i) << "connection " << c;
    }
  }
  // Connections before views, views before muxes, muxes before RNICs.
  for (int side = 0; side < 2; side++) {
    for (int c = 0; c < kConns; c++) conns[side][c].reset();
  }
}

// A QP created through one view reports to that view only; completions of
// destroyed QPs are dropped.
TEST(RnicMuxTest, QpsReportToTheViewThatCreatedThem) {
  FakeFabric fabric;
  auto a = fabric.CreateRnic(0, 0, "p1", *ParseIpAddress(kIp[0]));
  auto b = fabric.CreateRnic(1, 0, "p1", *ParseIpAddress(kIp[1]));
  RnicMux mux(a.get());
  std::unique_ptr<Rnic> v1 = mux.NewView(), v2 = mux.NewView();
  EXPECT_EQ(v1->name(), a->name());
  EXPECT_EQ(v1->member(), "p1");

  QpOptions options;
  auto q1 = *v1->CreateQp(options);
  auto q2 = *v2->CreateQp(options);
  auto peer1 = *b->CreateQp(options);
  auto peer2 = *b->CreateQp(options);
  ASSERT_TRUE(q1->Connect(peer1->local(), 0xc001).ok());
  ASSERT_TRUE(peer1->Connect(q1->local(), 0xc002).ok());
  ASSERT_TRUE(q2->Connect(peer2->local(), 0xc003).ok());
  ASSERT_TRUE(peer2->Connect(q2->local(), 0xc004).ok());

  static uint8_t buffer[64];
  MemoryRegion mr1 = *v1->Register(buffer, sizeof buffer,
      MemoryAccess::kRemoteWrite);
  MemoryRegion mr2 = *v2->Register(buffer, sizeof buffer,
      MemoryAccess::kRemoteWrite);
  static uint8_t peer_buffer[256];
  MemoryRegion pmr = *b->Register(peer_buffer, sizeof peer_buffer,
      MemoryAccess::kRemoteWrite);
  ASSERT_TRUE(peer1->PostRecv(1, pmr, std::span(peer_buffer, 64)).ok());
  ASSERT_TRUE(peer2->PostRecv(2, pmr, std::span(peer_buffer + 64, 64)).ok());
  ASSERT_TRUE(q1->PostSend(11, mr1, std::span(buffer, 8)).ok());
  ASSERT_TRUE(q2->PostSend(22, mr2, std::span(buffer, 8)).ok());

  std::vector<Completion> seen1, seen2;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Completion out[8];
  while ((seen1.empty() || seen2.empty()) &&
         std::chrono::steady_clock::now() < deadline) {
    Completion drain[8];
    (void)b->PollCompletions(drain);
    // Polling v2 first pumps v1's completion into v1's queue.
    for (size_t n = v2->PollCompletions(out), i = 0; i < n; i++) {
      seen2.push_back(out[i]);
    }
    for (size_t n = v1->PollCompletions(out), i = 0; i < n; i++) {
      seen1.push_back(out[i]);
    }
  }
  ASSERT_EQ(seen1.size(), 1u);
  ASSERT_EQ(seen2.size(), 1u);
  EXPECT_EQ(seen1[0].wr_id, 11u);
  EXPECT_EQ(seen1[0].qpn, q1->local().qpn);
  EXPECT_EQ(seen2[0].wr_id, 22u);
  EXPECT_EQ(seen2[0].qpn, q2->local().qpn);

  // A QP destroyed with work outstanding: its completions are orphans,
  // not handed to the other view.
  ASSERT_TRUE(q1->PostSend(12, mr1, std::span(buffer, 8)).ok());
  q1->SetError();
  q1.reset();
  for (int i = 0; i < 50; i++) {
    EXPECT_EQ(v2->PollCompletions(out), 0u);
  }
  EXPECT_GE(mux.orphaned(), 1u);
  q2.reset();
  peer1.reset();
  peer2.reset();
}

}  // namespace
}  // namespace rdma_bond
