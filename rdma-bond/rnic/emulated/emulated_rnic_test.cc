// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The emulated RNIC (emulated_rnic.h): two RNICs over an in-memory link,
// and over AF_PACKET on a veth pair in a private network namespace when
// the test may create one.

#include "rnic/emulated/emulated_rnic.h"

#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

EmulatedRnicOptions Options(const char* member, const char* ip, uint8_t mac,
                            uint64_t seed) {
  EmulatedRnicOptions o;
  o.member = member;
  o.local_ip = *ParseIpAddress(ip);
  o.source_mac = MacAddress{2, 0, 0, 0, 0, mac};
  o.seed = seed;
  return o;
}

// Two RNICs joined by an in-memory cable, one QP each, connected.
struct Pair {
  Pair() {
    auto links = MemoryFrameLink::CreatePair();
    link_a = links.first.get();
    link_b = links.second.get();
    a = std::move(*EmulatedRnic::Create(Options("eth-a", "10.0.0.1", 1, 1),
                                        std::move(links.first)));
    b = std::move(*EmulatedRnic::Create(Options("eth-b", "10.0.0.2", 2, 2),
                                        std::move(links.second)));
    QpOptions qo;
    qo.retry_count = 7;
    qp_a = std::move(*a->CreateQp(qo));
    qp_b = std::move(*b->CreateQp(qo));
    mem_a.assign(4 << 20, 0);
    mem_b.assign(4 << 20, 0);
    mr_a = *a->Register(mem_a.data(), mem_a.size(), MemoryAccess::kRemoteWrite);
    mr_b = *b->Register(mem_b.data(), mem_b.size(), MemoryAccess::kRemoteWrite);
  }

  void Connect(uint16_t sport_a = 0xc001, uint16_t sport_b = 0xc002) {
    ASSERT_TRUE(qp_a->Connect(qp_b->local(), sport_a).ok());
    ASSERT_TRUE(qp_b->Connect(qp_a->local(), sport_b).ok());
  }

  // Polls both RNICs until 'done' or a few seconds have passed.
  bool PollUntil(const std::function<bool()>& done) {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    Completion c[64];
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      size_t n = a->PollCompletions(c);
      done_a.insert(done_a.end(), c, c + n);
      n = b->PollCompletions(c);
      done_b.insert(done_b.end(), c, c + n);
    }
    return true;
  }

  MemoryFrameLink* link_a;
  MemoryFrameLink* link_b;
  std::unique_ptr<EmulatedRnic> a;
  std::unique_ptr<EmulatedRnic> b;
  std::unique_ptr<QueuePair> qp_a;
  std::unique_ptr<QueuePair> qp_b;
  std::vector<uint8_t> mem_a;
  std::vector<uint8_t> mem_b;
  MemoryRegion mr_a;
  MemoryRegion mr_b;
  std::vector<Completion> done_a;
  std::vector<Completion> done_b;
};

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

TEST(EmulatedRnicTest, SaysItIsAnEmulationAndDescribesItsQps) {
  Pair p;
  EXPECT_EQ(p.a->name(), "emulated:eth-a");
  EXPECT_EQ(p.a->member(), "eth-a");
  EXPECT_TRUE(p.a->is_emulation());
  const QpEndpoint e = p.qp_a->local();
  EXPECT_GE(e.qpn, 2u);
  EXPECT_LE(e.qpn, 0xffffffu);
  EXPECT_LE(e.psn, 0xffffffu);
  EXPECT_EQ(e.ip, *ParseIpAddress("10.0.0.1"));
  const std::array<uint8_t, 16> gid = {0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0xff, 0xff, 10, 0, 0, 1};
  EXPECT_EQ(e.gid, gid);
  EXPECT_EQ(e.mac, (MacAddress{2, 0, 0, 0, 0, 1}));
  EXPECT_EQ(e.mtu, 1024u);
  EXPECT_EQ(p.qp_a->state(), QpState::kInit);
  // QPNs are unique on an RNIC.
  std::vector<std::unique_ptr<QueuePair>> more;
  for (int i = 0; i < 100; i++) {
    more.push_back(std::move(*p.a->CreateQp({})));
    for (size_t j = 0; j + 1 < more.size(); j++) {
      ASSERT_NE(more[j]->local().qpn, more.back()->local().qpn);
    }
    ASSERT_NE(more.back()->local().qpn, e.qpn);
  }
}

// An injected fatal error: every QP fails (its posted work completes
// with an error), no QP can be created; after recovery both work again.
TEST(EmulatedRnicTest, FatalErrorFailsEveryQpUntilRecovery) {
  Pair p;
  p.Connect();
  // Posted, not yet sent (nothing polled): flushed by the failure.
  ASSERT_TRUE(p.qp_a->PostSend(7, p.mr_a, {p.mem_a.data(), 64}).ok());
  p.a->InjectFatalError();
  EXPECT_TRUE(p.a->fatal());
  EXPECT_EQ(p.qp_a->state(), QpState::kError);
  const Result<std::unique_ptr<QueuePair>> refused = p.a->CreateQp({});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("fatal error (emulated)"),
            std::string::npos)
      << refused.status().ToString();
  ASSERT_TRUE(p.PollUntil([&] {
    for (const Completion& c : p.done_a) {
      if (c.wr_id == 7) return true;
    }
    return false;
  }));
  for (const Completion& c : p.done_a) {
    if (c.wr_id == 7) {
      EXPECT_NE(c.status, WcStatus::kSuccess);
    }
  }
  p.a->RecoverFromFatalError();
  EXPECT_FALSE(p.a->fatal());
  QpOptions qo;
  qo.retry_count = 7;
  Result<std::unique_ptr<QueuePair>> again = p.a->CreateQp(qo);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  p.qp_a = std::move(*again);
  Result<std::unique_ptr<QueuePair>> peer = p.b->CreateQp(qo);
  ASSERT_TRUE(peer.ok());
  p.qp_b = std::move(*peer);
  p.Connect();
  ASSERT_TRUE(p.qp_b->PostRecv(2, p.mr_b, {p.mem_b.data(), 64}).ok());
  ASSERT_TRUE(p.qp_a->PostSend(8, p.mr_a, {p.mem_a.data(), 64}).ok());
  ASSERT_TRUE(p.PollUntil([&] {
    for (const Completion& c : p.done_b) {
      if (c.wr_id == 2) return c.status == WcStatus::kSuccess;
    }
    return false;
  }));
}

TEST(EmulatedRnicTest, TwoRnicsExchangeSendsAndWrites) {
  Pair p;
  p.Connect();
  EXPECT_EQ(p.qp_a->state(), QpState::kRts);
  constexpr int kMessages = 500;
  constexpr size_t kSize = 3000;    // 3 packets at MTU 1024.
  for (int i = 0; i < kMessages; i++) {
    for (size_t j = 0; j < kSize; j++) {
      p.mem_a[i * kSize + j] = uint8_t(i * 3 + j);
    }
  }
  int sent = 0;
  int received = 0;
  int recv_posted = 0;
  ASSERT_TRUE(p.PollUntil([&] {
    while (recv_posted < kMessages &&
           p.qp_b
               ->PostRecv(recv_posted, p.mr_b,
                          {p.mem_b.data() + recv_posted * kSize, kSize})
               .ok()) {
      recv_posted++;
    }
    while (sent < kMessages &&
           p.qp_a
               ->PostSend(sent, p.mr_a, {p.mem_a.data() + sent * kSize, kSize})
               .ok()) {
      sent++;
    }
    received = 0;
    for (const Completion& c : p.done_b)
      received += c.opcode == WcOpcode::kRecv;
    return int(p.done_a.size()) == kMessages && received == kMessages;
  }));
  for (int i = 0; i < kMessages; i++) {
    ASSERT_EQ(p.done_a[i].wr_id, uint64_t(i));
    ASSERT_EQ(p.done_a[i].status, WcStatus::kSuccess);
    ASSERT_EQ(p.done_a[i].qpn, p.qp_a->local().qpn);
    ASSERT_EQ(p.done_b[i].byte_len, kSize);
  }
  EXPECT_EQ(std::memcmp(p.mem_a.data(), p.mem_b.data(), kMessages * kSize), 0);

  // An RDMA write with immediate from B into A's memory.
  std::vector<uint8_t> zero(8192, 0);
  std::memcpy(p.mem_a.data() + 900000, zero.data(), zero.size());
  ASSERT_TRUE(p.qp_a->PostRecv(99, p.mr_a, {p.mem_a.data(), 16}).ok());
  const uint32_t imm = 0xabcdef01;
  const uint64_t target = reinterpret_cast<uintptr_t>(p.mem_a.data()) + 900000;
  ASSERT_TRUE(p.qp_b
                  ->PostWrite(7, p.mr_b, {p.mem_b.data(), 5000}, target,
                              p.mr_a.rkey, &imm)
                  .ok());
  p.done_a.clear();
  p.done_b.clear();
  ASSERT_TRUE(p.PollUntil(
      [&] { return p.done_a.size() == 1 && p.done_b.size() == 1; }));
  EXPECT_EQ(p.done_b[0].opcode, WcOpcode::kWrite);
  EXPECT_EQ(p.done_b[0].status, WcStatus::kSuccess);
  EXPECT_EQ(p.done_a[0].opcode, WcOpcode::kRecvWriteImm);
  EXPECT_EQ(p.done_a[0].imm, imm);
  EXPECT_EQ(p.done_a[0].byte_len, 5000u);
  EXPECT_EQ(std::memcmp(p.mem_a.data() + 900000, p.mem_b.data(), 5000), 0);

  const EmulatedRnicStats s = p.a->stats();
  EXPECT_GT(s.frames_sent, 3u * kMessages);
  EXPECT_GT(s.frames_received, 0u);
  EXPECT_EQ(s.dropped_wrong_qpn, 0u);
  EXPECT_EQ(s.dropped_bad_icrc, 0u);
  EXPECT_EQ(s.transport.retransmits, 0u);
  // ACKs are coalesced: far fewer than one per packet.
  EXPECT_LT(p.b->stats().transport.acks_sent, 3u * kMessages);
}

// Least privilege: a region registered MemoryAccess::kLocal cannot be
// written by the peer, even with its rkey (guessed, or leaked): the write
// completes kRemoteError and the memory is untouched.
TEST(EmulatedRnicTest, LocalRegionsRefuseRemoteWrites) {
  Pair p;
  p.Connect();
  std::vector<uint8_t> secret(4096, 0x5a);
  const MemoryRegion local =
      *p.a->Register(secret.data(), secret.size(), MemoryAccess::kLocal);
  EXPECT_EQ(local.access, MemoryAccess::kLocal);
  std::fill(p.mem_b.begin(), p.mem_b.begin() + 64, 0xee);
  ASSERT_TRUE(p.qp_b
                  ->PostWrite(8, p.mr_b, {p.mem_b.data(), 64},
                              reinterpret_cast<uintptr_t>(secret.data()),
                              local.rkey, nullptr)
                  .ok());
  ASSERT_TRUE(p.PollUntil([&] { return !p.done_b.empty(); }));
  EXPECT_EQ(p.done_b[0].wr_id, 8u);
  EXPECT_EQ(p.done_b[0].status, WcStatus::kRemoteError);
  EXPECT_TRUE(std::all_of(secret.begin(), secret.end(),
                          [](uint8_t b) { return b == 0x5a; }));
}

TEST(EmulatedRnicTest, DeliversEverythingOverALossyLink) {
  Pair p;
  std::mt19937 rng(5);
  int dropped = 0;
  auto lossy = [&](std::vector<uint8_t>&) {
    if (rng() % 20 != 0) return true;
    dropped++;
    return false;
  };
  p.link_a->set_tap(lossy);
  p.link_b->set_tap(lossy);
  p.Connect();
  constexpr int kMessages = 200;
  constexpr size_t kSize = 2100;
  for (size_t j = 0; j < kMessages * kSize; j++) p.mem_a[j] = uint8_t(j * 13);
  int sent = 0;
  int recv_posted = 0;
  ASSERT_TRUE(p.PollUntil([&] {
    while (recv_posted < kMessages &&
           p.qp_b
               ->PostRecv(recv_posted, p.mr_b,
                          {p.mem_b.data() + recv_posted * kSize, kSize})
               .ok()) {
      recv_posted++;
    }
    while (sent < kMessages &&
           p.qp_a
               ->PostSend(sent, p.mr_a, {p.mem_a.data() + sent * kSize, kSize})
               .ok()) {
      sent++;
    }
    return p.done_a.size() == kMessages && p.done_b.size() == kMessages;
  }));
  EXPECT_GT(dropped, 0);
  for (const Completion& c : p.done_a) ASSERT_EQ(c.status, WcStatus::kSuccess);
  EXPECT_EQ(std::memcmp(p.mem_a.data(), p.mem_b.data(), kMessages * kSize), 0);
  EXPECT_GT(p.a->stats().transport.retransmits, 0u);
}

TEST(EmulatedRnicTest, WrongQpnBadIcrcAndForeignFramesAreCountedAndDropped) {
  Pair p;
  p.Connect();
  const QpEndpoint b = p.qp_b->local();
  FrameAddress address;
  address.src_mac = {2, 0, 0, 0, 0, 1};
  address.dst_mac = b.mac;
  address.src_ip = *ParseIpAddress("10.0.0.1");
  address.dst_ip = b.ip;
  RocePacket packet;
  packet.bth.opcode = BthOpcode::kSendOnly;
  packet.bth.dest_qpn = b.qpn ^ 0x800000;   // Not hosted by B.
  packet.bth.psn = p.qp_a->local().psn;
  std::vector<uint8_t> frame(kMaxRoceFrameBytes);
  frame.resize(*BuildFrame(address, packet, frame));
  p.link_b->Inject(frame);
  std::vector<uint8_t> bad = frame;
  bad[bad.size() - 1] ^= 1;                 // ICRC.
  p.link_b->Inject(bad);
  FrameAddress elsewhere = address;
  elsewhere.dst_ip = *ParseIpAddress("10.0.0.9");
  packet.bth.dest_qpn = b.qpn;
  std::vector<uint8_t> foreign(kMaxRoceFrameBytes);
  foreign.resize(*BuildFrame(elsewhere, packet, foreign));
  p.link_b->Inject(foreign);
  p.link_b->Inject(std::vector<uint8_t>(60, 0xee));  // Not even IP.
  Completion c[4];
  EXPECT_EQ(p.b->PollCompletions(c), 0u);
  const EmulatedRnicStats s = p.b->stats();
  EXPECT_EQ(s.dropped_wrong_qpn, 1u);
  EXPECT_EQ(s.dropped_bad_icrc, 1u);
  EXPECT_EQ(s.dropped_not_local, 1u);
  EXPECT_EQ(s.dropped_malformed, 1u);
  EXPECT_EQ(s.frames_received, 0u);
}

TEST(EmulatedRnicTest, FramesReachingTheOtherNicOfTheHostAreLost) {
  // Host B has two RNICs; the switch delivers A's frames to B2 while the
  // QP lives on B1.  B2 drops them (wrong QPN) and A gives up.
  auto links = MemoryFrameLink::CreatePair();
  auto a = std::move(*EmulatedRnic::Create(Options("a0", "10.0.0.1", 1, 1),
                                           std::move(links.first)));
  auto b2 = std::move(*EmulatedRnic::Create(Options("b2", "10.0.0.2", 2, 3),
                                            std::move(links.second)));
  auto other = MemoryFrameLink::CreatePair();
  auto b1 = std::move(*EmulatedRnic::Create(Options("b1", "10.0.0.2", 2, 2),
                                            std::move(other.first)));
  QpOptions qo;
  qo.retry_count = 1;
  qo.ack_timeout_us = 1000;
  auto qp_a = std::move(*a->CreateQp(qo));
  auto qp_b1 = std::move(*b1->CreateQp(qo));
  ASSERT_TRUE(qp_a->Connect(qp_b1->local(), 0xc001).ok());
  ASSERT_TRUE(qp_b1->Connect(qp_a->local(), 0xc001).ok());
  std::vector<uint8_t> mem(100);
  MemoryRegion mr = *a->Register(mem.data(), mem.size(),
      MemoryAccess::kRemoteWrite);
  ASSERT_TRUE(qp_a->PostSend(1, mr, {mem.data(), 100}).ok());
  ASSERT_TRUE(qp_a->PostSend(2, mr, {mem.data(), 100}).ok());
  std::vector<Completion> done;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (done.size() < 2 && std::chrono::steady_clock::now() < end) {
    Completion c[4];
    done.insert(done.end(), c, c + a->PollCompletions(c));
    b2->PollCompletions(c);
    b1->PollCompletions(c);
  }
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].status, WcStatus::kRetryExceeded);
  EXPECT_EQ(done[1].status, WcStatus::kFlushed);
  EXPECT_EQ(qp_a->state(), QpState::kError);
  EXPECT_GE(b2->stats().dropped_wrong_qpn, 2u);   // First try + 1 retry.
  EXPECT_EQ(b1->stats().frames_received, 0u);
}

TEST(EmulatedRnicTest, SetSourcePortChangesTheUdpPortOfLaterFrames) {
  Pair p;
  std::vector<uint16_t> data_sports;
  p.link_a->set_tap([&](std::vector<uint8_t>& frame) {
    FrameAddress a;
    RocePacket pk;
    if (ParseFrame(frame, &a, &pk).ok() &&
        pk.bth.opcode != BthOpcode::kAcknowledge) {
      data_sports.push_back(a.udp_sport);
    }
    return true;
  });
  p.Connect(0xc001, 0xc002);
  EXPECT_EQ(p.qp_a->source_port(), 0xc001);
  for (uint64_t round = 0; round < 2; round++) {
    ASSERT_TRUE(p.qp_b->PostRecv(round, p.mr_b, {p.mem_b.data(), 5000}).ok());
    ASSERT_TRUE(p.qp_a->PostSend(round, p.mr_a, {p.mem_a.data(), 5000}).ok());
    ASSERT_TRUE(p.PollUntil([&] { return p.done_a.size() == round + 1; }));
    if (round == 0) {
      EXPECT_FALSE(p.qp_a->SetSourcePort(80).ok());
      ASSERT_TRUE(p.qp_a->SetSourcePort(0xd00d).ok());
      EXPECT_EQ(p.qp_a->source_port(), 0xd00d);
    }
  }
  // 5 packets per message: the first with the old port, the second with
  // the new one.
  const std::vector<uint16_t> want = {0xc001, 0xc001, 0xc001, 0xc001, 0xc001,
                                      0xd00d, 0xd00d, 0xd00d, 0xd00d, 0xd00d};
  EXPECT_EQ(data_sports, want);
}

TEST(EmulatedRnicTest, EventFdIsReadableWhenThereIsWork) {
  Pair p;
  p.Connect();
  Completion c[4];
  p.a->PollCompletions(c);
  EXPECT_FALSE(Readable(p.a->EventFd()));
  EXPECT_EQ(p.a->NextDeadlineUs(), -1);
  ASSERT_TRUE(p.qp_a->PostSend(1, p.mr_a, {p.mem_a.data(), 10}).ok());
  EXPECT_TRUE(Readable(p.a->EventFd()));   // Frames to send.
  p.a->PollCompletions(c);
  EXPECT_FALSE(Readable(p.a->EventFd()));
  EXPECT_GE(p.a->NextDeadlineUs(), 0);     // The ACK timer runs.
  EXPECT_TRUE(Readable(p.b->EventFd()));   // The frame arrived.
  p.qp_a->SetError();
  EXPECT_TRUE(Readable(p.a->EventFd()));   // A flushed completion.
  ASSERT_EQ(p.a->PollCompletions(c), 1u);
  EXPECT_EQ(c[0].status, WcStatus::kFlushed);
  EXPECT_EQ(p.qp_a->state(), QpState::kError);
  EXPECT_FALSE(Readable(p.a->EventFd()));
}

TEST(EmulatedRnicTest, RejectsBuffersOutsideTheirRegion) {
  Pair p;
  p.Connect();
  std::vector<uint8_t> unregistered(100);
  EXPECT_FALSE(p.qp_a->PostSend(1, p.mr_a, {unregistered.data(), 10}).ok());
  EXPECT_FALSE(
      p.qp_a->PostSend(1, p.mr_a, {p.mem_a.data() + p.mem_a.size() - 5, 10})
          .ok());
  MemoryRegion stale = p.mr_a;
  ASSERT_TRUE(p.a->Deregister(p.mr_a).ok());
  EXPECT_FALSE(p.a->Deregister(stale).ok());
  EXPECT_FALSE(p.qp_a->PostSend(1, stale, {p.mem_a.data(), 10}).ok());
}

TEST(EmulatedRnicTest, OpenNamesAMissingNetdev) {
  Result<std::unique_ptr<EmulatedRnic>> r =
      EmulatedRnic::Open(Options("nosuchdev9", "10.0.0.1", 1, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
  EXPECT_NE(r.status().ToString().find("\"nosuchdev9\""), std::string::npos)
      << r.status().ToString();
}

// In a forked child in its own network namespace: a veth pair, one
// emulated RNIC on each end, messages both ways.  Exit codes: 0 passed,
// 77 skipped (no namespace), anything else failed.
int VethChild() {
  if (unshare(CLONE_NEWNET) != 0) return 77;
  if (std::system("ip link add veth-a type veth peer name veth-b && "
                  "ip link set veth-a up && ip link set veth-b up") != 0) {
    return 77;
  }
  EmulatedRnicOptions oa;
  oa.member = "veth-a";
  oa.local_ip = *ParseIpAddress("10.9.0.1");
  EmulatedRnicOptions ob = oa;
  ob.member = "veth-b";
  ob.local_ip = *ParseIpAddress("10.9.0.2");
  auto a = EmulatedRnic::Open(oa);
  auto b = EmulatedRnic::Open(ob);
  if (!a.ok() || !b.ok()) {
    std::fprintf(stderr, "open: %s / %s\n", a.status().ToString().c_str(),
                 b.status().ToString().c_str());
    return 2;
  }
  auto qa = std::move(*(*a)->CreateQp({}));
  auto qb = std::move(*(*b)->CreateQp({}));
  if (!qa->Connect(qb->local(), 0xc100).ok() ||
      !qb->Connect(qa->local(), 0xc200).ok()) {
    return 3;
  }
  constexpr int kMessages = 2000;
  constexpr size_t kSize = 4096;
  std::vector<uint8_t> ma(kMessages * kSize);
  std::vector<uint8_t> mb(kMessages * kSize);
  for (size_t i = 0; i < ma.size(); i++) ma[i] = uint8_t(i * 31 + 7);
  MemoryRegion ra = *(*a)->Register(ma.data(), ma.size(),
      MemoryAccess::kRemoteWrite);
  MemoryRegion rb = *(*b)->Register(mb.data(), mb.size(),
      MemoryAccess::kRemoteWrite);
  int sent = 0, posted = 0, acked = 0, received = 0;
  const auto start = std::chrono::steady_clock::now();
  while (acked < kMessages || received < kMessages) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(20)) {
      std::fprintf(stderr, "timeout: %d acked, %d received\n", acked,
                   received);
      return 4;
    }
    while (posted < kMessages &&
           qb->PostRecv(posted, rb, {mb.data() + posted * kSize, kSize})
               .ok()) {
      posted++;
    }
    while (sent < kMessages &&
           qa->PostSend(sent, ra, {ma.data() + sent * kSize, kSize}).ok()) {
      sent++;
    }
    Completion c[64];
    const size_t na = (*a)->PollCompletions(c);
    for (size_t i = 0; i < na; i++) {
      if (c[i].status != WcStatus::kSuccess) return 5;
      acked++;
    }
    received += static_cast<int>((*b)->PollCompletions(c));
  }
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  if (ma != mb) return 6;
  const EmulatedRnicStats s = (*a)->stats();
  std::fprintf(stderr,
               "veth: %d x %zu B in %.3f s (%.0f Mbit/s), %llu frames, "
               "%llu retransmits\n",
               kMessages, kSize, seconds,
               kMessages * kSize * 8 / seconds / 1e6,
               (unsigned long long)s.frames_sent,
               (unsigned long long)s.transport.retransmits);
  return 0;
}

TEST(EmulatedRnicTest, ExchangesOverAfPacketOnVethInPrivateNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(VethChild());
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    GTEST_SKIP() << "cannot create a network namespace with a veth pair";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace rdma_bond
