// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The RC state machine (rc_transport.h) between two QPs over a fake link
// that loses, duplicates and reorders packets (seeded), with a fake clock.

#include "rnic/emulated/rc_transport.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

// A registered buffer on the responder side.
class FakeMemory : public RemoteAccess {
 public:
  explicit FakeMemory(size_t size) : bytes(size, 0) {}
  uint8_t* ResolveRemoteWrite(uint32_t key, uint64_t va,
                              uint64_t length) override {
    const uint64_t base = reinterpret_cast<uintptr_t>(bytes.data());
    if (key != rkey || va < base || length > bytes.size() ||
        va - base > bytes.size() - length) {
      return nullptr;
    }
    return bytes.data() + (va - base);
  }
  uint64_t va(size_t offset) const {
    return reinterpret_cast<uintptr_t>(bytes.data()) + offset;
  }
  std::vector<uint8_t> bytes;
  uint32_t rkey = 0x1234abcd;
};

// Two transports, A and B, on a fake link.
class Harness {
 public:
  struct Config {
    QpOptions options;
    RcTuning tuning;
    uint32_t psn_a = 100;
    uint32_t psn_b = 5000;
    uint32_t mtu = 1024;
    uint32_t seed = 1;
    double loss = 0;                // Probability that a packet is lost.
    double duplicate = 0;           // ... that it arrives twice.
    int64_t latency_us = 10;
    int64_t jitter_us = 0;          // Uniform extra delay: reorders.
  };

  explicit Harness(const Config& c)
      : config(c),
        memory_a(1 << 16),
        memory_b(1 << 16),
        a(0x11, c.options, &memory_a, c.tuning),
        b(0x22, c.options, &memory_b, c.tuning),
        rng(c.seed) {
    EXPECT_TRUE(a.Connect({0x22, c.psn_a, c.psn_b, c.mtu}).ok());
    EXPECT_TRUE(b.Connect({0x11, c.psn_b, c.psn_a, c.mtu}).ok());
    una[0] = c.psn_a;
    una[1] = c.psn_b;
  }

  RcTransport& side(int i) { return i == 0 ? a : b; }

  // One tick: transmit, advance the clock, deliver, fire timers.
  void Step(int64_t dt_us = 5) {
    for (int from = 0; from < 2; from++) {
      RocePacket p;
      while (side(from).NextPacket(now, &p)) Emit(from, p);
    }
    now += dt_us;
    while (!wire.empty() && wire.begin()->first <= now) {
      InFlight f = std::move(wire.begin()->second);
      wire.erase(wire.begin());
      f.packet.payload = f.data;
      const int to = 1 - f.from;
      if (f.packet.bth.opcode == BthOpcode::kAcknowledge) {
        const uint32_t acked =
            f.packet.aeth.type() == kAethTypeAck
                ? PsnAdd(f.packet.bth.psn, 1)
                : f.packet.bth.psn;
        if (PsnDiff(acked, una[to]) > 0) una[to] = acked;
      }
      side(to).OnPacket(f.packet, now);
    }
    for (int i = 0; i < 2; i++) {
      const int64_t d = side(i).NextDeadline();
      if (d >= 0 && d <= now) side(i).OnTimer(now);
      Completion c[16];
      size_t n;
      while ((n = side(i).TakeCompletions(c)) > 0) {
        (i == 0 ? done_a : done_b).insert((i == 0 ? done_a : done_b).end(),
                                          c, c + n);
      }
    }
  }

  bool RunUntil(const std::function<bool()>& done,
                int64_t limit_us = 60'000'000) {
    const int64_t end = now + limit_us;
    while (now < end) {
      if (done()) return true;
      Step();
    }
    return done();
  }

  Config config;
  FakeMemory memory_a;
  FakeMemory memory_b;
  RcTransport a;
  RcTransport b;
  std::mt19937 rng;
  int64_t now = 0;
  std::vector<Completion> done_a;
  std::vector<Completion> done_b;
  // Return true to lose the packet (besides random loss).
  std::function<bool(int from, const RocePacket&)> drop;
  // Every data packet sent by each side, in order.
  std::vector<uint32_t> sent_psns[2];
  // The most unacknowledged data packets ever in flight, as seen from the
  // acknowledgements the sender has received.
  int32_t max_in_flight[2] = {0, 0};

 private:
  struct InFlight {
    int from;
    RocePacket packet;
    std::vector<uint8_t> data;
  };

  void Emit(int from, const RocePacket& p) {
    if (p.bth.opcode != BthOpcode::kAcknowledge) {
      sent_psns[from].push_back(p.bth.psn);
      max_in_flight[from] =
          std::max(max_in_flight[from], PsnDiff(p.bth.psn, una[from]) + 1);
    }
    if (drop && drop(from, p)) return;
    std::uniform_real_distribution<double> u(0, 1);
    if (u(rng) < config.loss) return;
    const int copies = u(rng) < config.duplicate ? 2 : 1;
    for (int i = 0; i < copies; i++) {
      InFlight f{from, p, {p.payload.begin(), p.payload.end()}};
      const int64_t jitter =
          config.jitter_us > 0
              ? std::uniform_int_distribution<int64_t>(0, config.jitter_us)(rng)
              : 0;
      wire.emplace(now + config.latency_us + jitter, std::move(f));
    }
  }

  std::multimap<int64_t, InFlight> wire;
  uint32_t una[2];
};

std::vector<uint8_t> Pattern(size_t length, uint32_t seed) {
  std::vector<uint8_t> v(length);
  for (size_t i = 0; i < length; i++) v[i] = uint8_t(seed * 131 + i * 7);
  return v;
}

// Sends 'count' messages of random sizes from A to B and B to A at once,
// posting as the queues allow, and checks that each arrives exactly once,
// in order, intact.
void ExchangeMessages(Harness& h, int count, size_t max_size) {
  std::mt19937 sizes(h.config.seed + 7);
  std::vector<std::vector<uint8_t>> messages[2];
  std::vector<std::vector<uint8_t>> buffers[2];
  for (int s = 0; s < 2; s++) {
    for (int i = 0; i < count; i++) {
      messages[s].push_back(Pattern(sizes() % (max_size + 1), i + 1000 * s));
      buffers[s].emplace_back(max_size);
    }
  }
  size_t posted_send[2] = {0, 0};
  size_t posted_recv[2] = {0, 0};
  auto post = [&] {
    for (int s = 0; s < 2; s++) {
      RcTransport& t = h.side(s);
      while (posted_send[s] < size_t(count) &&
             t.PostSend(posted_send[s], messages[s][posted_send[s]], nullptr)
                 .ok()) {
        posted_send[s]++;
      }
      while (posted_recv[s] < size_t(count) &&
             t.PostRecv(1000000 + posted_recv[s], buffers[s][posted_recv[s]])
                 .ok()) {
        posted_recv[s]++;
      }
    }
  };
  const bool finished = h.RunUntil([&] {
    post();
    return h.done_a.size() == 2u * count && h.done_b.size() == 2u * count;
  });
  ASSERT_TRUE(finished) << "A: " << h.done_a.size() << " B: "
                        << h.done_b.size() << " completions";
  for (int s = 0; s < 2; s++) {
    const std::vector<Completion>& done = s == 0 ? h.done_a : h.done_b;
    uint64_t next_send = 0;
    uint64_t next_recv = 1000000;
    for (const Completion& c : done) {
      ASSERT_EQ(c.status, WcStatus::kSuccess) << ToString(c.status);
      if (c.opcode == WcOpcode::kSend) {
        EXPECT_EQ(c.wr_id, next_send++);
      } else {
        ASSERT_EQ(c.opcode, WcOpcode::kRecv);
        ASSERT_EQ(c.wr_id, next_recv);
        const size_t i = next_recv++ - 1000000;
        const std::vector<uint8_t>& want = messages[1 - s][i];
        ASSERT_EQ(c.byte_len, want.size()) << "message " << i;
        EXPECT_TRUE(std::equal(want.begin(), want.end(), buffers[s][i].begin()))
            << "message " << i;
      }
    }
    EXPECT_EQ(next_send, uint64_t(count));
    EXPECT_EQ(next_recv, 1000000u + count);
  }
}

TEST(RcTransportTest, PsnArithmeticWraps) {
  EXPECT_EQ(PsnDiff(5, 0xfffffe), 7);
  EXPECT_EQ(PsnDiff(0xfffffe, 5), -7);
  EXPECT_EQ(PsnAdd(0xfffffe, 5), 3u);
  EXPECT_EQ(PsnDiff(0x7fffff, 0), 0x7fffff);
  EXPECT_EQ(PsnDiff(0x800000, 0), -0x800000);
}

TEST(RcTransportTest, DeliversMultiPacketMessagesInOrderOnCleanLink) {
  Harness::Config c;
  Harness h(c);
  ExchangeMessages(h, 200, 5000);
  EXPECT_EQ(h.a.stats().retransmits, 0u);
  EXPECT_EQ(h.b.stats().retransmits, 0u);
  EXPECT_EQ(h.a.stats().timeouts, 0u);
}

TEST(RcTransportTest, DeliversExactlyOnceUnderLossDuplicatesAndReordering) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(seed);
    Harness::Config c;
    c.seed = seed;
    c.loss = 0.05;
    c.duplicate = 0.05;
    c.jitter_us = 40;               // Latency 10..50 us: reorders.
    Harness h(c);
    ExchangeMessages(h, 300, 5000);
    // The faults did happen, and were repaired.
    EXPECT_GT(h.a.stats().retransmits + h.b.stats().retransmits, 0u);
    EXPECT_GT(h.a.stats().duplicates + h.b.stats().duplicates, 0u);
    EXPECT_GT(h.a.stats().out_of_order + h.b.stats().out_of_order, 0u);
    EXPECT_EQ(h.a.state(), QpState::kRts);
    EXPECT_EQ(h.b.state(), QpState::kRts);
  }
}

TEST(RcTransportTest, LostPacketIsNakedOnceAndResentGoBackN) {
  Harness::Config c;
  Harness h(c);
  std::vector<uint8_t> message = Pattern(10 * 1024, 5);  // 10 packets.
  std::vector<uint8_t> buffer(message.size());
  ASSERT_TRUE(h.b.PostRecv(1, buffer).ok());
  ASSERT_TRUE(h.a.PostSend(7, message, nullptr).ok());
  const uint32_t lost = PsnAdd(c.psn_a, 3);
  bool dropped = false;
  h.drop = [&](int from, const RocePacket& p) {
    if (from != 0 || p.bth.psn != lost || dropped) return false;
    dropped = true;
    return true;
  };
  ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 1; }));
  EXPECT_EQ(h.done_a[0].status, WcStatus::kSuccess);
  ASSERT_EQ(h.done_b.size(), 1u);
  EXPECT_EQ(buffer, message);
  // Sent: 0..9, then from the lost PSN again: 3..9.
  std::vector<uint32_t> want;
  for (uint32_t i = 0; i < 10; i++) want.push_back(PsnAdd(c.psn_a, i));
  for (uint32_t i = 3; i < 10; i++) want.push_back(PsnAdd(c.psn_a, i));
  EXPECT_EQ(h.sent_psns[0], want);
  EXPECT_EQ(h.b.stats().out_of_order, 6u);
  EXPECT_EQ(h.b.stats().naks_sent, 1u);   // One NAK for the whole gap.
  EXPECT_EQ(h.a.stats().naks_received, 1u);
  EXPECT_EQ(h.a.stats().timeouts, 0u);    // The NAK did it, not a timer.
  EXPECT_EQ(h.a.stats().retransmits, 7u);
}

TEST(RcTransportTest, LostLastPacketIsResentAfterAckTimeout) {
  Harness::Config c;
  c.options.ack_timeout_us = 4096;
  Harness h(c);
  std::vector<uint8_t> message = Pattern(3000, 1);  // 3 packets.
  std::vector<uint8_t> buffer(message.size());
  ASSERT_TRUE(h.b.PostRecv(1, buffer).ok());
  ASSERT_TRUE(h.a.PostSend(7, message, nullptr).ok());
  bool dropped = false;
  h.drop = [&](int from, const RocePacket& p) {
    if (from != 0 || p.bth.opcode != BthOpcode::kSendLast || dropped) {
      return false;
    }
    dropped = true;
    return true;
  };
  ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 1; }));
  EXPECT_EQ(h.done_a[0].status, WcStatus::kSuccess);
  EXPECT_EQ(buffer, message);
  EXPECT_EQ(h.a.stats().timeouts, 1u);
  EXPECT_GE(h.now, 4096);
  // Go-back-N from the first unacknowledged PSN: all three again (the
  // first two had no AckReq, so they were not acknowledged).
  EXPECT_EQ(h.a.stats().retransmits, 3u);
  EXPECT_EQ(h.b.stats().duplicates, 2u);
  EXPECT_EQ(h.done_b.size(), 1u);          // Delivered once.
}

TEST(RcTransportTest, LostAcksCauseDuplicatesThatAreReAckedNotRedelivered) {
  Harness::Config c;
  Harness h(c);
  int acks_dropped = 0;
  h.drop = [&](int from, const RocePacket& p) {
    if (from == 1 && p.bth.opcode == BthOpcode::kAcknowledge &&
        acks_dropped < 3) {
      acks_dropped++;
      return true;
    }
    return false;
  };
  std::vector<uint8_t> message = Pattern(100, 1);
  std::vector<uint8_t> buffers[3];
  for (int i = 0; i < 3; i++) {
    buffers[i].resize(100);
    ASSERT_TRUE(h.b.PostRecv(i, buffers[i]).ok());
  }
  ASSERT_TRUE(h.a.PostSend(1, message, nullptr).ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 1; }));
  EXPECT_EQ(h.done_a[0].status, WcStatus::kSuccess);
  EXPECT_EQ(h.b.stats().duplicates, 3u);
  EXPECT_EQ(h.done_b.size(), 1u);          // One receive consumed.
  EXPECT_EQ(h.a.stats().timeouts, 3u);
}

TEST(RcTransportTest, RnrNakWaitsAndRetriesUntilAReceiveIsPosted) {
  Harness::Config c;
  Harness h(c);
  std::vector<uint8_t> message = Pattern(2500, 3);
  ASSERT_TRUE(h.a.PostSend(1, message, nullptr).ok());
  for (int i = 0; i < 2000; i++) h.Step();  // 10 ms without a receive.
  EXPECT_TRUE(h.done_a.empty());
  EXPECT_GE(h.a.stats().rnr_naks_received, 5u);
  EXPECT_EQ(h.a.stats().timeouts, 0u);
  EXPECT_EQ(h.a.state(), QpState::kRts);
  std::vector<uint8_t> buffer(message.size());
  ASSERT_TRUE(h.b.PostRecv(9, buffer).ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 1; }));
  EXPECT_EQ(h.done_a[0].status, WcStatus::kSuccess);
  ASSERT_EQ(h.done_b.size(), 1u);
  EXPECT_EQ(h.done_b[0].wr_id, 9u);
  EXPECT_EQ(buffer, message);
}

TEST(RcTransportTest, RnrRetryExhaustionFailsAndFlushes) {
  Harness::Config c;
  c.options.rnr_retry = 2;
  Harness h(c);
  std::vector<uint8_t> message = Pattern(10, 3);
  ASSERT_TRUE(h.a.PostSend(1, message, nullptr).ok());
  ASSERT_TRUE(h.a.PostSend(2, message, nullptr).ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 2; }));
  EXPECT_EQ(h.done_a[0].wr_id, 1u);
  EXPECT_EQ(h.done_a[0].status, WcStatus::kRnrRetryExceeded);
  EXPECT_EQ(h.done_a[1].status, WcStatus::kFlushed);
  EXPECT_EQ(h.a.state(), QpState::kError);
  EXPECT_EQ(h.a.stats().rnr_naks_received, 3u);  // First try + 2 retries.
}

TEST(RcTransportTest, RetryExhaustionGivesRetryExceededFlushesRestAndErrors) {
  Harness::Config c;
  c.options.retry_count = 3;
  c.options.ack_timeout_us = 2000;
  Harness h(c);
  h.drop = [](int from, const RocePacket&) { return from == 0; };  // Dead.
  std::vector<uint8_t> message = Pattern(3000, 3);
  std::vector<uint8_t> buffer(100);
  ASSERT_TRUE(h.a.PostRecv(50, buffer).ok());
  for (uint64_t i = 1; i <= 3; i++) {
    ASSERT_TRUE(h.a.PostSend(i, message, nullptr).ok());
  }
  ASSERT_TRUE(h.a.PostWrite(4, message, h.memory_b.va(0), h.memory_b.rkey,
                            nullptr)
                  .ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.a.state() == QpState::kError; }));
  EXPECT_EQ(h.a.stats().timeouts, 4u);     // First try + 3 retries.
  EXPECT_GE(h.now, 4 * 2000);
  EXPECT_LT(h.now, 5 * 2000);
  ASSERT_EQ(h.done_a.size(), 5u);
  EXPECT_EQ(h.done_a[0].wr_id, 1u);
  EXPECT_EQ(h.done_a[0].status, WcStatus::kRetryExceeded);
  for (size_t i = 1; i < 5; i++) {
    EXPECT_EQ(h.done_a[i].status, WcStatus::kFlushed) << i;
  }
  EXPECT_EQ(h.done_a[3].opcode, WcOpcode::kWrite);
  EXPECT_EQ(h.done_a[4].opcode, WcOpcode::kRecv);
  EXPECT_EQ(h.done_a[4].wr_id, 50u);
  EXPECT_EQ(h.a.NextDeadline(), -1);
  // Nothing is accepted in the error state; a new receive is flushed.
  EXPECT_FALSE(h.a.PostSend(9, message, nullptr).ok());
  ASSERT_TRUE(h.a.PostRecv(51, buffer).ok());
  Completion flushed[4];
  ASSERT_EQ(h.a.TakeCompletions(flushed), 1u);
  EXPECT_EQ(flushed[0].status, WcStatus::kFlushed);
  // It can be connected again.
  EXPECT_TRUE(h.a.Connect({0x22, 1, 1, 1024}).ok());
  EXPECT_EQ(h.a.state(), QpState::kRts);
}

TEST(RcTransportTest, PsnWrapsAroundAt2To24) {
  Harness::Config c;
  c.psn_a = 0xfffff0;
  c.psn_b = 0xffffff;
  c.loss = 0.03;
  c.seed = 9;
  Harness h(c);
  ExchangeMessages(h, 60, 4096);
  // The PSNs did wrap.
  bool wrapped = false;
  for (uint32_t psn : h.sent_psns[0]) wrapped |= psn < 0x100;
  EXPECT_TRUE(wrapped);
}

TEST(RcTransportTest, RdmaWriteLandsInRegisteredMemory) {
  Harness::Config c;
  Harness h(c);
  std::vector<uint8_t> data = Pattern(3000, 11);
  ASSERT_TRUE(h.a.PostWrite(1, data, h.memory_b.va(100), h.memory_b.rkey,
                            nullptr)
                  .ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 1; }));
  EXPECT_EQ(h.done_a[0].status, WcStatus::kSuccess);
  EXPECT_EQ(h.done_a[0].opcode, WcOpcode::kWrite);
  EXPECT_EQ(std::memcmp(h.memory_b.bytes.data() + 100, data.data(),
                        data.size()),
            0);
  EXPECT_EQ(h.memory_b.bytes[99], 0);
  EXPECT_EQ(h.memory_b.bytes[3100], 0);
  EXPECT_TRUE(h.done_b.empty());           // No immediate: no completion.

  // With an immediate: consumes a receive, reports the length.
  std::vector<uint8_t> recv(16);
  ASSERT_TRUE(h.b.PostRecv(77, recv).ok());
  const uint32_t imm = 0xfeedbeef;
  ASSERT_TRUE(h.a.PostWrite(2, data, h.memory_b.va(8000), h.memory_b.rkey,
                            &imm)
                  .ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 2; }));
  ASSERT_EQ(h.done_b.size(), 1u);
  EXPECT_EQ(h.done_b[0].wr_id, 77u);
  EXPECT_EQ(h.done_b[0].opcode, WcOpcode::kRecvWriteImm);
  EXPECT_TRUE(h.done_b[0].has_imm);
  EXPECT_EQ(h.done_b[0].imm, imm);
  EXPECT_EQ(h.done_b[0].byte_len, data.size());
  EXPECT_EQ(std::memcmp(h.memory_b.bytes.data() + 8000, data.data(),
                        data.size()),
            0);
}

TEST(RcTransportTest, SendWithImmediateReportsIt) {
  Harness::Config c;
  Harness h(c);
  std::vector<uint8_t> data = Pattern(2000, 2);
  std::vector<uint8_t> recv(2000);
  ASSERT_TRUE(h.b.PostRecv(5, recv).ok());
  const uint32_t imm = 42;
  ASSERT_TRUE(h.a.PostSend(1, data, &imm).ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.done_b.size() == 1; }));
  EXPECT_TRUE(h.done_b[0].has_imm);
  EXPECT_EQ(h.done_b[0].imm, 42u);
  EXPECT_EQ(recv, data);
}

TEST(RcTransportTest, BadRkeyOrBoundsIsRemoteErrorAndErrorState) {
  for (int variant = 0; variant < 2; variant++) {
    SCOPED_TRACE(variant);
    Harness::Config c;
    Harness h(c);
    std::vector<uint8_t> data = Pattern(2000, 11);
    const uint32_t rkey = variant == 0 ? h.memory_b.rkey ^ 1 : h.memory_b.rkey;
    const uint64_t va = variant == 0 ? h.memory_b.va(0)
                                     : h.memory_b.va(h.memory_b.bytes.size() -
                                                     1000);  // Overruns.
    ASSERT_TRUE(h.a.PostSend(1, data, nullptr).ok());
    ASSERT_TRUE(h.a.PostWrite(2, data, va, rkey, nullptr).ok());
    ASSERT_TRUE(h.a.PostSend(3, data, nullptr).ok());
    std::vector<uint8_t> recv(2000);
    ASSERT_TRUE(h.b.PostRecv(1, recv).ok());
    ASSERT_TRUE(h.RunUntil([&] { return h.done_a.size() == 3; }));
    EXPECT_EQ(h.done_a[0].status, WcStatus::kSuccess);
    EXPECT_EQ(h.done_a[1].status, WcStatus::kRemoteError);
    EXPECT_EQ(h.done_a[1].wr_id, 2u);
    EXPECT_EQ(h.done_a[2].status, WcStatus::kFlushed);
    EXPECT_EQ(h.a.state(), QpState::kError);
    for (uint8_t byte : h.memory_b.bytes) ASSERT_EQ(byte, 0);
  }
}

TEST(RcTransportTest, WindowBoundIsRespected) {
  Harness::Config c;
  c.tuning.window_packets = 16;
  c.tuning.ack_req_every = 4;
  c.latency_us = 200;                 // Long enough to fill the window.
  c.loss = 0.02;
  Harness h(c);
  ExchangeMessages(h, 100, 4096);
  EXPECT_LE(h.max_in_flight[0], 16);
  EXPECT_LE(h.max_in_flight[1], 16);
  EXPECT_EQ(h.max_in_flight[0], 16);  // And the window was used.
}

TEST(RcTransportTest, PostingRulesFollowTheState) {
  QpOptions options;
  options.max_send_wr = 2;
  options.max_recv_wr = 1;
  RcTransport t(5, options, nullptr);
  std::vector<uint8_t> b(10);
  EXPECT_EQ(t.state(), QpState::kInit);
  EXPECT_FALSE(t.PostSend(1, b, nullptr).ok());   // Not connected.
  EXPECT_TRUE(t.PostRecv(1, b).ok());             // Allowed in INIT.
  EXPECT_FALSE(t.PostRecv(2, b).ok());            // Queue full.
  EXPECT_FALSE(t.Connect({6, 0, 0, 1000}).ok());  // Not an IB MTU.
  ASSERT_TRUE(t.Connect({6, 0, 0, 1024}).ok());
  EXPECT_FALSE(t.Connect({6, 0, 0, 1024}).ok());  // Already connected.
  EXPECT_TRUE(t.PostSend(1, b, nullptr).ok());
  EXPECT_TRUE(t.PostSend(2, {}, nullptr).ok());   // Zero length is fine.
  Status full = t.PostSend(3, b, nullptr);
  EXPECT_FALSE(full.ok());
  EXPECT_NE(full.ToString().find("full"), std::string::npos);
  t.SetError();
  Completion c[8];
  ASSERT_EQ(t.TakeCompletions(c), 3u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(c[i].status, WcStatus::kFlushed);
}

}  // namespace
}  // namespace rdma_bond
