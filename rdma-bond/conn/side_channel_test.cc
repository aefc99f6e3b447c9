// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/side_channel.h"

#include "conn/side_messages.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace rdma_bond {
namespace {

using std::chrono::milliseconds;

// Two connected channels over a socketpair.
struct Pair {
  std::unique_ptr<SideChannel> a, b;
};

Pair MakePair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Pair p;
  p.a = std::move(*SideChannel::Adopt(fds[0]));
  p.b = std::move(*SideChannel::Adopt(fds[1]));
  return p;
}

// A channel and the raw other end of its socket.
struct Raw {
  std::unique_ptr<SideChannel> channel;
  int peer = -1;
  ~Raw() {
    if (peer >= 0) close(peer);
  }
};

std::unique_ptr<Raw> MakeRaw() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto r = std::make_unique<Raw>();
  r->channel = std::move(*SideChannel::Adopt(fds[0]));
  r->peer = fds[1];
  return r;
}

std::vector<uint8_t> Frame(uint8_t type, const std::vector<uint8_t>& body,
                           uint16_t magic = kSideFrameMagic,
                           uint8_t flags = 0) {
  const uint32_t n = static_cast<uint32_t>(body.size());
  std::vector<uint8_t> f = {static_cast<uint8_t>(magic >> 8),
                            static_cast<uint8_t>(magic),
                            type,
                            flags,
                            static_cast<uint8_t>(n >> 24),
                            static_cast<uint8_t>(n >> 16),
                            static_cast<uint8_t>(n >> 8),
                            static_cast<uint8_t>(n)};
  for (uint8_t byte : body) f.push_back(byte);
  return f;
}

QpEndpoint SampleEndpoint() {
  QpEndpoint ep;
  ep.qpn = 0x123456;
  ep.psn = 0xabcdef;
  ep.ip = *ParseIpAddress("10.0.0.1");
  ep.gid[15] = 7;
  ep.mac = {2, 0, 0, 0, 1, 1};
  ep.mtu = 4096;
  return ep;
}

TEST(SideChannelTest, MessagesRoundTrip) {
  HelloMessage hello;
  hello.members = {"eth1", "eth2"};
  hello.bond.mode = BondMode::kActiveBackup;
  hello.bond.active_only = true;
  hello.bond.active = 1;
  hello.bond.usable_mask = 3;
  hello.max_message_size = 65536;
  Result<HelloMessage> h = DecodeHello(EncodeHello(hello));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->members, hello.members);
  EXPECT_EQ(h->max_message_size, 65536u);
  EXPECT_EQ(h->bond, hello.bond);
  EXPECT_EQ(h->version, kSideChannelVersion);

  EndpointsMessage eps;
  eps.paths.push_back({PathId{1, 0}, SampleEndpoint(), 0x7f0000001000,
                       1 << 20, 0x80000011});
  Result<EndpointsMessage> e = DecodeEndpoints(EncodeEndpoints(eps));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(e->paths.size(), 1u);
  EXPECT_EQ(e->paths[0].path, (PathId{1, 0}));
  EXPECT_EQ(e->paths[0].qp, SampleEndpoint());
  EXPECT_EQ(e->paths[0].region_addr, 0x7f0000001000u);
  EXPECT_EQ(e->paths[0].region_rkey, 0x80000011u);

  Result<RepickMessage> r = DecodeRepick(EncodeRepick({PathId{0, 1}, 9}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, (PathId{0, 1}));
  EXPECT_EQ(r->incarnation, 9u);

  Result<PathResetMessage> pr =
      DecodePathReset(EncodePathReset({PathId{1, 1}, 3, SampleEndpoint()}));
  ASSERT_TRUE(pr.ok());
  EXPECT_EQ(pr->incarnation, 3u);
  EXPECT_EQ(pr->qp, SampleEndpoint());

  ActiveMessage active;
  active.bond.usable_mask = 2;
  active.seq = 0x0102030405060708;
  Result<ActiveMessage> a = DecodeActive(EncodeActive(active));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->bond, active.bond);
  EXPECT_FALSE(a->bond.active);
  EXPECT_EQ(a->seq, active.seq);
  // A version 3 ACTIVE (no number) is refused.
  std::vector<uint8_t> v3 = EncodeActive(active);
  v3.resize(v3.size() - 8);
  EXPECT_TRUE(DecodeActive(v3).status().IsCorruption());
}

TEST(SideChannelTest, TruncatedAndTrailingBodiesAreCorrupt) {
  std::vector<uint8_t> body = EncodePathReset({PathId{1, 1}, 3,
                                               SampleEndpoint()});
  std::vector<uint8_t> cut(body.begin(), body.end() - 1);
  Result<PathResetMessage> r = DecodePathReset(cut);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
  body.push_back(0);
  r = DecodePathReset(body);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("trailing"), std::string::npos);
}

TEST(SideChannelTest, ByeCarriesTheLastSequenceOrNothing) {
  ByeMessage bye;
  bye.last_seq = 0x0102030405060708ULL;
  const std::vector<uint8_t> body = EncodeBye(bye);
  EXPECT_EQ(body.size(), 8u);
  Result<ByeMessage> back = DecodeBye(body);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->last_seq, bye.last_seq);
  // A peer that predates it sends an empty BYE.
  Result<ByeMessage> legacy = DecodeBye({});
  ASSERT_TRUE(legacy.ok());
  EXPECT_FALSE(legacy->last_seq.has_value());
  EXPECT_TRUE(EncodeBye(ByeMessage{}).empty());
  const std::vector<uint8_t> cut(body.begin(), body.end() - 1);
  EXPECT_TRUE(DecodeBye(cut).status().IsCorruption());
}

// Adopt() owns the descriptor on every path: when it cannot use it, it
// closes it, once (ConnectTcp() used to close it a second time).
TEST(SideChannelTest, AdoptClosesWhatItCannotUse) {
  // An O_PATH descriptor: fcntl(F_SETFL) fails with EBADF.
  const int fd = open("/", O_PATH | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Result<std::unique_ptr<SideChannel>> channel = SideChannel::Adopt(fd);
  EXPECT_FALSE(channel.ok());
  errno = 0;
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_FALSE(SideChannel::Adopt(-1).ok());
}

// A peer that never reads cannot make the output buffer grow without
// bound: past kMaxSideQueued bytes, Send() fails the channel.
TEST(SideChannelTest, SendFailsWhenThePeerDoesNotRead) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::unique_ptr<SideChannel> a = std::move(*SideChannel::Adopt(fds[0]));
  const std::vector<uint8_t> body(64 * 1024, 0x42);
  size_t queued = 0;
  Status s;
  for (int i = 0; i < 1000 && s.ok(); i++) {
    s = a->Send(SideMessageType::kActive, body);
    if (s.ok()) queued += body.size();
  }
  ASSERT_FALSE(s.ok()) << "queued " << queued << " bytes";
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("does not read"), std::string::npos);
  EXPECT_LE(queued, kMaxSideQueued + 4 * 1024 * 1024);  // + socket buffers.
  EXPECT_FALSE(a->failure().ok());
  close(fds[1]);
}

// A fast peer's frames come in batches of at most kMaxSideFramesPerPoll,
// in order, none lost; HasReady() says when more wait.
TEST(SideChannelTest, PollReturnsBoundedBatches) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::unique_ptr<SideChannel> a = std::move(*SideChannel::Adopt(fds[0]));
  std::unique_ptr<SideChannel> b = std::move(*SideChannel::Adopt(fds[1]));
  constexpr uint32_t kFrames = 5000;
  for (uint32_t i = 0; i < kFrames; i++) {
    const uint8_t body[4] = {static_cast<uint8_t>(i >> 24),
                             static_cast<uint8_t>(i >> 16),
                             static_cast<uint8_t>(i >> 8),
                             static_cast<uint8_t>(i)};
    ASSERT_TRUE(b->Send(SideMessageType::kRepick, body).ok());
  }
  uint32_t next = 0;
  size_t largest = 0;
  bool saw_ready = false;
  for (int round = 0; round < 10000 && next < kFrames; round++) {
    ASSERT_TRUE(b->Flush().ok());
    Result<std::vector<SideMessage>> got = a->Poll();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    largest = std::max(largest, got->size());
    saw_ready |= a->HasReady();
    for (const SideMessage& m : *got) {
      ASSERT_EQ(m.body.size(), 4u);
      const uint32_t n = uint32_t{m.body[0]} << 24 | uint32_t{m.body[1]} << 16 |
                         uint32_t{m.body[2]} << 8 | m.body[3];
      ASSERT_EQ(n, next);
      next++;
    }
    if (got->empty()) {
      pollfd p{a->Fd(), POLLIN, 0};
      (void)poll(&p, 1, 10);
    }
  }
  EXPECT_EQ(next, kFrames);
  EXPECT_LE(largest, kMaxSideFramesPerPoll);
  EXPECT_TRUE(saw_ready);
}

TEST(SideChannelTest, VersionMismatchIsClear) {
  HelloMessage hello;
  hello.version = kSideChannelVersion + 1;
  hello.members = {"eth1"};
  Result<HelloMessage> h = DecodeHello(EncodeHello(hello));
  ASSERT_FALSE(h.ok());
  EXPECT_TRUE(h.status().IsNotSupported());
  EXPECT_NE(h.status().message().find(
                "version " + std::to_string(kSideChannelVersion + 1)),
            std::string::npos)
      << h.status().ToString();
}

TEST(SideChannelTest, SendAndPoll) {
  Pair p = MakePair();
  ASSERT_TRUE(p.a->Send(SideMessageType::kBye, {}).ok());
  const std::vector<uint8_t> body = EncodeRepick({PathId{0, 0}, 1});
  ASSERT_TRUE(p.a->Send(SideMessageType::kRepick, body).ok());
  Result<SideMessage> m = p.b->Receive(milliseconds(1000), "BYE");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->type, SideMessageType::kBye);
  EXPECT_TRUE(m->body.empty());
  m = p.b->Receive(milliseconds(1000), "REPICK");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, SideMessageType::kRepick);
  EXPECT_EQ(m->body, body);
  Result<std::vector<SideMessage>> none = p.b->Poll();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(SideChannelTest, PartialWritesAreBufferedAndFlushed) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const int small = 4096;
  setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  auto a = std::move(*SideChannel::Adopt(fds[0]));
  auto b = std::move(*SideChannel::Adopt(fds[1]));
  std::vector<uint8_t> big(600 * 1024);
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<uint8_t>(i * 7);
  // Does not block although the socket takes only a few KiB.
  ASSERT_TRUE(a->Send(SideMessageType::kEndpoints, big).ok());
  EXPECT_TRUE(a->WantsWrite());
  ASSERT_TRUE(a->Send(SideMessageType::kBye, {}).ok());
  std::vector<SideMessage> got;
  for (int i = 0; i < 100000 && got.size() < 2; i++) {
    ASSERT_TRUE(a->Flush().ok());
    Result<std::vector<SideMessage>> r = b->Poll();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (auto& m : *r) got.push_back(std::move(m));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, SideMessageType::kEndpoints);
  EXPECT_EQ(got[0].body, big);
  EXPECT_EQ(got[1].type, SideMessageType::kBye);
  EXPECT_FALSE(a->WantsWrite());
}

TEST(SideChannelTest, PartialReadsAreReassembled) {
  auto r = MakeRaw();
  const std::vector<uint8_t> frame =
      Frame(static_cast<uint8_t>(SideMessageType::kRepick),
            EncodeRepick({PathId{1, 0}, 4}));
  for (size_t i = 0; i + 1 < frame.size(); i++) {
    ASSERT_EQ(write(r->peer, &frame[i], 1), 1);
    Result<std::vector<SideMessage>> got = r->channel->Poll();
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(got->empty()) << "complete after " << i + 1 << " bytes";
  }
  ASSERT_EQ(write(r->peer, &frame.back(), 1), 1);
  Result<std::vector<SideMessage>> got = r->channel->Poll();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  Result<RepickMessage> m = DecodeRepick((*got)[0].body);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->incarnation, 4u);
}

TEST(SideChannelTest, MalformedFramesAreCorruption) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char* expect;
  } cases[] = {
      {Frame(1, {}, 0x1234), "magic 0x1234"},
      {Frame(99, {}), "type 99"},
      {Frame(1, {}, kSideFrameMagic, 2), "flags 2"},
      // A tagged frame at a channel without a key.
      {[] {
         std::vector<uint8_t> f = Frame(1, {}, kSideFrameMagic, 1);
         f.resize(f.size() + kSideTagBytes);
         return f;
       }(),
       "no key is configured here"},
      {{0x52, 0x42, 1, 0, 0x7f, 0, 0, 0}, "exceeds"},
  };
  for (const Case& c : cases) {
    auto r = MakeRaw();
    ASSERT_EQ(write(r->peer, c.bytes.data(), c.bytes.size()),
              static_cast<ssize_t>(c.bytes.size()));
    Result<std::vector<SideMessage>> got = r->channel->Poll();
    ASSERT_FALSE(got.ok()) << c.expect;
    EXPECT_TRUE(got.status().IsCorruption());
    EXPECT_NE(got.status().message().find(c.expect), std::string::npos)
        << got.status().ToString();
    // Sticky: the stream lost framing.
    EXPECT_FALSE(r->channel->Send(SideMessageType::kBye, {}).ok());
  }
}

// --- Authentication (docs/security.md, issue 15 finding 4) ---------------

const std::vector<uint8_t> kKey = {'s', 'e', 'c', 'r', 'e', 't', '-', 'k',
                                   'e', 'y', '-', 'o', 'f', '-', '2', '0'};

// Two channels with a relay between them that a test can read, change,
// drop or replay: the man in the middle.
struct Relay {
  std::unique_ptr<SideChannel> a, b;  // a: the initiator.
  int a_peer = -1, b_peer = -1;       // The relay's ends.
  ~Relay() {
    if (a_peer >= 0) close(a_peer);
    if (b_peer >= 0) close(b_peer);
  }
  // Bytes a wrote (or b, if !from_a) since the last call.
  std::vector<uint8_t> Take(bool from_a) {
    std::vector<uint8_t> got;
    uint8_t buf[65536];
    ssize_t n;
    while ((n = recv(from_a ? a_peer : b_peer, buf, sizeof buf,
                     MSG_DONTWAIT)) > 0) {
      got.insert(got.end(), buf, buf + n);
    }
    return got;
  }
  void Give(bool to_b, const std::vector<uint8_t>& bytes) {
    ASSERT_EQ(write(to_b ? b_peer : a_peer, bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  // Moves what each side wrote to the other, unchanged.
  void Pass() {
    Give(true, Take(true));
    Give(false, Take(false));
  }
};

std::unique_ptr<Relay> MakeRelay() {
  auto relay = std::make_unique<Relay>();
  int x[2], y[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, x), 0);
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
  relay->a = std::move(*SideChannel::Adopt(x[0]));
  relay->a_peer = x[1];
  relay->b = std::move(*SideChannel::Adopt(y[0]));
  relay->b_peer = y[1];
  return relay;
}

std::vector<uint8_t> ActiveBody(uint32_t mask) {
  ActiveMessage m;
  m.bond.usable_mask = mask;
  return EncodeActive(m);
}

// Polls 'c' until it returns something or fails.
Result<std::vector<SideMessage>> PollSome(SideChannel& c) {
  for (int i = 0; i < 100; i++) {
    Result<std::vector<SideMessage>> got = c.Poll();
    if (!got.ok() || !got->empty()) return got;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return std::vector<SideMessage>();
}

TEST(SideChannelAuthTest, KeyedChannelsTalkAndTagEveryFrame) {
  auto r = MakeRelay();
  ASSERT_TRUE(r->a->Authenticate(kKey, true).ok());
  ASSERT_TRUE(r->b->Authenticate(kKey, false).ok());
  // Sent before the peer's AUTH arrived: held, then tagged.
  ASSERT_TRUE(r->a->Send(SideMessageType::kActive, ActiveBody(7)).ok());
  std::vector<uint8_t> wire = r->Take(true);
  ASSERT_EQ(wire.size(), kSideFrameHeaderSize + 18);  // AUTH only.
  EXPECT_EQ(wire[2], static_cast<uint8_t>(SideMessageType::kAuth));
  r->Give(true, wire);
  r->Give(false, r->Take(false));  // b's AUTH to a.
  ASSERT_TRUE(r->a->Poll().ok());  // a gets the key, sends what it held.
  wire = r->Take(true);
  ASSERT_EQ(wire.size(),
            kSideFrameHeaderSize + ActiveBody(7).size() + kSideTagBytes);
  EXPECT_EQ(wire[3], kSideFrameAuthenticated);
  r->Give(true, wire);
  Result<std::vector<SideMessage>> got = PollSome(*r->b);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].type, SideMessageType::kActive);
  EXPECT_EQ(DecodeActive((*got)[0].body)->bond.usable_mask, 7u);

  // And back, many times (sequence numbers advance on both sides).
  for (uint32_t i = 0; i < 5; i++) {
    ASSERT_TRUE(r->b->Send(SideMessageType::kActive, ActiveBody(i)).ok());
    r->Pass();
    got = PollSome(*r->a);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ(DecodeActive((*got)[0].body)->bond.usable_mask, i);
  }
}

TEST(SideChannelAuthTest, ADifferentKeyIsRefused) {
  auto r = MakeRelay();
  std::vector<uint8_t> other = kKey;
  other.back() ^= 1;
  ASSERT_TRUE(r->a->Authenticate(kKey, true).ok());
  ASSERT_TRUE(r->b->Authenticate(other, false).ok());
  ASSERT_TRUE(r->a->Send(SideMessageType::kActive, ActiveBody(1)).ok());
  r->Pass();
  ASSERT_TRUE(r->a->Poll().ok());
  r->Pass();
  Result<std::vector<SideMessage>> got = PollSome(*r->b);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().IsCorruption());
  EXPECT_EQ(got.status().message(),
            "side channel: authentication of active frame 0 failed: the "
            "peer's side-channel key differs from ours, or the stream was "
            "altered or replayed");
}

TEST(SideChannelAuthTest, AMissingKeyIsRefusedClearlyOnBothSides) {
  auto r = MakeRelay();
  ASSERT_TRUE(r->a->Authenticate(kKey, true).ok());  // b has no key.
  ASSERT_TRUE(r->b->Send(SideMessageType::kActive, ActiveBody(1)).ok());
  r->Pass();
  Result<std::vector<SideMessage>> at_b = PollSome(*r->b);
  ASSERT_FALSE(at_b.ok());
  EXPECT_NE(at_b.status().message().find(
                "the peer authenticates the side channel, but no key is "
                "configured here"),
            std::string::npos)
      << at_b.status().ToString();
  Result<std::vector<SideMessage>> at_a = PollSome(*r->a);
  ASSERT_FALSE(at_a.ok());
  EXPECT_EQ(at_a.status().message(),
            "side channel: the peer sent active without authenticating: it "
            "has no side-channel key; give both ends the same key file");
}

// A forged PATH_RESET (or any frame) from whoever sits on the path: a
// changed byte, a replayed frame, a stream recorded from an earlier
// connection.
TEST(SideChannelAuthTest, AlteredOrReplayedFramesAreRefused) {
  for (int attack = 0; attack < 2; attack++) {
    SCOPED_TRACE(attack == 0 ? "altered" : "replayed");
    auto r = MakeRelay();
    ASSERT_TRUE(r->a->Authenticate(kKey, true).ok());
    ASSERT_TRUE(r->b->Authenticate(kKey, false).ok());
    r->Pass();
    ASSERT_TRUE(r->a->Poll().ok());
    ASSERT_TRUE(r->b->Poll().ok());
    ASSERT_TRUE(r->a->Send(SideMessageType::kActive, ActiveBody(3)).ok());
    std::vector<uint8_t> frame = r->Take(true);
    ASSERT_FALSE(frame.empty());
    if (attack == 0) {
      frame[kSideFrameHeaderSize + 1] ^= 0x40;
      r->Give(true, frame);
    } else {
      r->Give(true, frame);
      ASSERT_TRUE(PollSome(*r->b).ok());
      r->Give(true, frame);  // The same frame again.
    }
    Result<std::vector<SideMessage>> got = PollSome(*r->b);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("authentication of active frame"),
              std::string::npos)
        << got.status().ToString();
  }
}

TEST(SideChannelAuthTest, AStreamFromAnEarlierConnectionIsRefused) {
  // Record what the initiator sent in one connection...
  auto first = MakeRelay();
  ASSERT_TRUE(first->a->Authenticate(kKey, true).ok());
  ASSERT_TRUE(first->b->Authenticate(kKey, false).ok());
  ASSERT_TRUE(first->a->Send(SideMessageType::kActive, ActiveBody(9)).ok());
  first->Give(false, first->Take(false));
  ASSERT_TRUE(first->a->Poll().ok());
  const std::vector<uint8_t> recorded = first->Take(true);
  // ...and play it to the responder of a new one.
  auto second = MakeRelay();
  ASSERT_TRUE(second->b->Authenticate(kKey, false).ok());
  second->Give(true, recorded);
  Result<std::vector<SideMessage>> got = PollSome(*second->b);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("authentication of active frame 0"),
            std::string::npos)
      << got.status().ToString();
}

TEST(SideChannelAuthTest, KeyFiles) {
  char dir[] = "/tmp/rdma-bond-key.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/side.key";
  auto write_key = [&](const std::string& text, mode_t mode) {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  };
  write_key("0123456789abcdefXYZ\n", 0600);
  Result<std::vector<uint8_t>> key = ReadSideChannelKey(path);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(std::string(key->begin(), key->end()), "0123456789abcdefXYZ");

  write_key("0123456789abcdefXYZ\n", 0644);
  key = ReadSideChannelKey(path);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().message(),
            "side-channel key file " + path +
                ": group or others may read or write it (mode 0644): chmod "
                "600 it");

  write_key("short\n", 0600);
  key = ReadSideChannelKey(path);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("5 bytes, at least 16 needed"),
            std::string::npos);
  unlink(path.c_str());
  rmdir(dir);
}

TEST(SideChannelTest, PeerCloseIsReported) {
  auto r = MakeRaw();
  const std::vector<uint8_t> bye =
      Frame(static_cast<uint8_t>(SideMessageType::kBye), {});
  ASSERT_EQ(write(r->peer, bye.data(), bye.size()),
            static_cast<ssize_t>(bye.size()));
  close(r->peer);
  r->peer = -1;
  // The complete frame first, then the close.
  Result<std::vector<SideMessage>> got = r->channel->Poll();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  got = r->channel->Poll();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(got.status().message().find("peer closed"), std::string::npos);

  auto cut = MakeRaw();
  const std::vector<uint8_t> frame = Frame(3, {1, 2, 3, 4, 5, 6});
  ASSERT_EQ(write(cut->peer, frame.data(), 10), 10);
  close(cut->peer);
  cut->peer = -1;
  got = cut->channel->Poll();
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().IsCorruption());
  EXPECT_NE(got.status().message().find("inside a frame"), std::string::npos);
}

TEST(SideChannelTest, ReceiveTimesOutNamingTheMessage) {
  Pair p = MakePair();
  Result<SideMessage> m = p.a->Receive(milliseconds(20), "HELLO");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("no HELLO"), std::string::npos);
}

TEST(SideChannelTest, DataRoundTripsAndRefusesBadLengths) {
  const std::vector<uint8_t> payload = {1, 2, 3, 4, 5};
  DataMessage m;
  m.seq = 0x0102030405060708ull;
  m.type = 3;
  m.offset = 4096;
  m.payload = payload;
  const std::vector<uint8_t> body = EncodeData(m);
  Result<DataMessage> d = DecodeData(body);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->seq, m.seq);
  EXPECT_EQ(d->type, 3);
  EXPECT_EQ(d->offset, 4096u);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), d->payload.begin(),
                         d->payload.end()));
  for (size_t cut : {size_t{0}, size_t{10}, body.size() - 1}) {
    EXPECT_TRUE(DecodeData({body.data(), cut}).status().IsCorruption())
        << cut;
  }
  std::vector<uint8_t> longer = body;
  longer.push_back(0);
  EXPECT_TRUE(DecodeData(longer).status().IsCorruption());
}

// A side channel over loopback TCP: the client and the server it was
// accepted as.  'listener' stays open (the caller closes it); 'port' is
// its port.
struct TcpPair {
  int listener = -1;
  uint16_t port = 0;
  std::unique_ptr<SideChannel> client, server;
};

void MakeTcpPair(TcpPair* t) {
  const IpAddress lo = *ParseIpAddress("127.0.0.1");
  Result<int> listener = ListenTcp(lo, 0);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  t->listener = *listener;
  Result<uint16_t> port = LocalPort(*listener);
  ASSERT_TRUE(port.ok());
  t->port = *port;
  Result<std::unique_ptr<SideChannel>> client =
      ConnectTcp(lo, *port, milliseconds(1000));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  t->client = std::move(*client);
  Result<std::unique_ptr<SideChannel>> server =
      AcceptTcp(*listener, milliseconds(1000));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  t->server = std::move(*server);
}

// What the peer has not taken yet: a socketpair's bytes until the peer
// reads them (Connection nudges while they wait, see NudgeSide()).
TEST(SideChannelTest, UnacknowledgedBytesUntilThePeerReads) {
  Pair p = MakePair();
  EXPECT_EQ(p.a->UnacknowledgedBytes(), 0u);
  ASSERT_TRUE(p.a->Send(SideMessageType::kBye, {}).ok());
  EXPECT_GE(p.a->UnacknowledgedBytes(), kSideFrameHeaderSize);
  Result<SideMessage> m = p.b->Receive(milliseconds(1000), "BYE");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(p.a->UnacknowledgedBytes(), 0u);
}

// The stream's offsets: each frame moves StreamOffset() by its size, and
// AcknowledgedOffset() reaches it once the peer has taken the bytes
// (Connection frees a message sent over TCP at its frame's end offset).
TEST(SideChannelTest, AcknowledgedOffsetFollowsThePeer) {
  Pair p = MakePair();
  EXPECT_EQ(p.a->StreamOffset(), 0u);
  const std::vector<uint8_t> body(100, 1);
  ASSERT_TRUE(p.a->Send(SideMessageType::kBye, body).ok());
  const uint64_t first = p.a->StreamOffset();
  EXPECT_EQ(first, kSideFrameHeaderSize + body.size());
  ASSERT_TRUE(p.a->Send(SideMessageType::kBye, {}).ok());
  EXPECT_EQ(p.a->StreamOffset(), first + kSideFrameHeaderSize);
  EXPECT_EQ(p.a->AcknowledgedOffset(), 0u);
  Result<SideMessage> m = p.b->Receive(milliseconds(1000), "BYE");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // The peer read both frames into its buffer (one read).
  EXPECT_EQ(p.a->AcknowledgedOffset(), p.a->StreamOffset());
}

// Over TCP: the bytes sent count until the peer's kernel acknowledges
// them.
TEST(SideChannelTest, TcpBytesCountUntilAcknowledged) {
  TcpPair t;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(&t));
  close(t.listener);
  const std::vector<uint8_t> big(200000, 7);
  ASSERT_TRUE(t.client->Send(SideMessageType::kBye, big).ok());
  // Not all of it can be acknowledged before the server reads.
  EXPECT_GT(t.client->UnacknowledgedBytes(), 0u);
  bool got = false;
  for (int i = 0; i < 400 && !got; i++) {
    (void)t.client->Flush();
    Result<std::vector<SideMessage>> in = t.server->Poll();
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    got = !in->empty();
    if (!got) std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(got);
  bool acked = false;
  for (int i = 0; i < 200 && !acked; i++) {
    (void)t.client->Flush();
    acked = t.client->UnacknowledgedBytes() == 0;
    if (!acked) std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_TRUE(acked) << t.client->UnacknowledgedBytes() << " bytes left";
}

// Whether this kernel lets a socket set its retransmission floor
// (TCP_RTO_MIN_US, Linux 6.15), asked of a socket of its own.
bool KernelHasRtoMinOption() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int us = 5000;
  const bool ok = setsockopt(fd, IPPROTO_TCP, 45 /* TCP_RTO_MIN_US */, &us,
                             sizeof us) == 0;
  close(fd);
  return ok;
}

// A lost side-channel segment is sent again after milliseconds, not after
// the kernel's 200 ms floor: what the channel says, what the socket says,
// and the timeout the kernel computes once a round trip was measured.
TEST(SideChannelTest, TcpRetransmitsAfterMillisecondsWhereTheKernelCan) {
  TcpPair t;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(&t));
  close(t.listener);
  const bool settable = KernelHasRtoMinOption();
  std::printf("kernel %s TCP_RTO_MIN_US\n", settable ? "has" : "lacks");
  for (SideChannel* c : {t.client.get(), t.server.get()}) {
    int thin = 0;
    socklen_t len = sizeof thin;
    ASSERT_EQ(getsockopt(c->Fd(), IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS,
                         &thin, &len),
              0);
    EXPECT_EQ(thin, 1);
    if (!settable) {
      EXPECT_EQ(c->RtoMin().count(), 0);
      EXPECT_TRUE(c->SetRtoMin(kSideRtoMin).IsNotSupported());
      continue;
    }
    // The kernel keeps it in jiffies, rounded up: 5 ms is 8 at HZ=250.
    const std::chrono::microseconds floor = c->RtoMin();
    EXPECT_GE(floor, kSideRtoMin);
    EXPECT_LT(floor, milliseconds(20));
    Status above = c->SetRtoMin(milliseconds(300));
    EXPECT_EQ(above.code(), Status::Code::kInvalidArgument)
        << above.ToString();
    EXPECT_EQ(c->RtoMin(), floor);  // Unchanged by the refusal.
  }
  // A round trip gives the kernel an RTT sample; the timeout it computes
  // from it has the floor in it.
  for (int round = 0; round < 3; round++) {
    ASSERT_TRUE(t.client->Send(SideMessageType::kBye, {}).ok());
    Result<SideMessage> m = t.server->Receive(milliseconds(1000), "BYE");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_TRUE(t.server->Send(SideMessageType::kBye, {}).ok());
    m = t.client->Receive(milliseconds(1000), "BYE");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
  }
  tcp_info info{};
  socklen_t len = sizeof info;
  ASSERT_EQ(getsockopt(t.client->Fd(), IPPROTO_TCP, TCP_INFO, &info, &len),
            0);
  std::printf("client's retransmission timeout: %u us\n", info.tcpi_rto);
  if (settable) {
    EXPECT_LT(info.tcpi_rto, 50000u);
  } else {
    EXPECT_GE(info.tcpi_rto, 200000u);
  }
}

TEST(SideChannelTest, ASocketpairHasNoRetransmissionFloor) {
  Pair p = MakePair();
  EXPECT_EQ(p.a->RtoMin().count(), 0);
  EXPECT_TRUE(p.a->SetRtoMin(kSideRtoMin).IsNotSupported());
}

TEST(SideChannelTest, TcpListenConnectAccept) {
  const IpAddress lo = *ParseIpAddress("127.0.0.1");
  TcpPair t;
  ASSERT_NO_FATAL_FAILURE(MakeTcpPair(&t));
  ASSERT_TRUE(t.client->Send(SideMessageType::kBye, {}).ok());
  Result<SideMessage> m = t.server->Receive(milliseconds(1000), "BYE");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, SideMessageType::kBye);
  close(t.listener);

  // Nobody listens there any more.
  Result<std::unique_ptr<SideChannel>> refused =
      ConnectTcp(lo, t.port, milliseconds(1000));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("127.0.0.1:" +
                                            std::to_string(t.port)),
            std::string::npos)
      << refused.status().ToString();
}

}  // namespace
}  // namespace rdma_bond
