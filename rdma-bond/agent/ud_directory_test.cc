// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The UD probe directory (ud_directory.h): two agents' directories asking
// and answering through an in-test "network", and what neither takes.

#include "agent/ud_directory.h"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace rdma_bond::agent {
namespace {

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

UdDirectory::Options Opts(uint64_t id, std::vector<uint32_t> qpns,
                          const char* local) {
  UdDirectory::Options o;
  o.agent_id = id;
  const IpAddress mine = Ip(local);
  o.local_qpns = [qpns, mine](const IpAddress& ip) {
    return ip == mine ? qpns : std::vector<uint32_t>();
  };
  return o;
}

TEST(UdDirectoryTest, AskAnswerAndRefresh) {
  const IpAddress a_ip = Ip("10.79.0.1"), b_ip = Ip("10.79.0.2");
  UdDirectory a(Opts(1, {0x11}, "10.79.0.1"));
  UdDirectory b(Opts(2, {0x12, 0x13}, "10.79.0.2"));
  EXPECT_EQ(a.Qpns(b_ip), nullptr);
  std::optional<UdDirectory::Datagram> q = a.Ask(a_ip, b_ip, 1000);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->from, a_ip);
  EXPECT_EQ(q->to, b_ip);
  // Not again before retry_ms.
  EXPECT_FALSE(a.Ask(a_ip, b_ip, 1500));
  std::optional<UdDirectory::Datagram> ans = b.Handle(a_ip, b_ip, q->bytes, 1000);
  ASSERT_TRUE(ans);
  EXPECT_EQ(ans->from, b_ip);
  EXPECT_EQ(ans->to, a_ip);
  EXPECT_FALSE(a.Handle(b_ip, a_ip, ans->bytes, 1001));
  ASSERT_NE(a.Qpns(b_ip), nullptr);
  EXPECT_EQ(*a.Qpns(b_ip), (std::vector<uint32_t>{0x12, 0x13}));
  EXPECT_EQ(a.stats().answers_taken, 1u);
  // The same answer again (a replay) is not taken.
  a.Handle(b_ip, a_ip, ans->bytes, 1002);
  EXPECT_EQ(a.stats().unmatched, 1u);
  // Fresh for refresh_ms; then asked again, and the old answer serves
  // meanwhile.
  EXPECT_FALSE(a.Ask(a_ip, b_ip, 10'999));
  EXPECT_TRUE(a.Ask(a_ip, b_ip, 11'001));
  EXPECT_NE(a.Qpns(b_ip), nullptr);
  EXPECT_EQ(a.stats().queries_sent, 2u);
}

TEST(UdDirectoryTest, AnswersNobodyAskedForAreNotTaken) {
  const IpAddress a_ip = Ip("10.79.0.1"), b_ip = Ip("10.79.0.2"),
                  c_ip = Ip("10.79.0.3");
  UdDirectory a(Opts(1, {0x11}, "10.79.0.1"));
  UdDirectory b(Opts(2, {0x12}, "10.79.0.2"));
  UdDirectory c(Opts(3, {0x66}, "10.79.0.3"));
  // c answers a question a never asked it (b's question to c).
  std::optional<UdDirectory::Datagram> q_b = b.Ask(b_ip, c_ip, 0);
  ASSERT_TRUE(q_b);
  std::optional<UdDirectory::Datagram> from_c =
      c.Handle(b_ip, c_ip, q_b->bytes, 0);
  ASSERT_TRUE(from_c);
  a.Handle(c_ip, a_ip, from_c->bytes, 0);
  EXPECT_EQ(a.Qpns(c_ip), nullptr);
  // a asked b, and c answers in b's name with a guessed nonce: another
  // nonce, not taken.
  ASSERT_TRUE(a.Ask(a_ip, b_ip, 0));
  DirectoryMessage forged;
  forged.kind = DirectoryKind::kAnswer;
  forged.agent_id = 3;
  forged.nonce = 12345;
  forged.qpns = {0x66};
  std::vector<uint8_t> bytes(kDirectoryBytes);
  ASSERT_TRUE(BuildDirectoryMessage(b_ip, a_ip, forged, nullptr, bytes).ok());
  a.Handle(b_ip, a_ip, bytes, 1);
  EXPECT_EQ(a.Qpns(b_ip), nullptr);
  EXPECT_EQ(a.stats().unmatched, 2u);
  // Garbage is refused.
  std::vector<uint8_t> junk(kDirectoryBytes, 0x5a);
  a.Handle(b_ip, a_ip, junk, 1);
  EXPECT_EQ(a.stats().refused, 1u);
}

TEST(UdDirectoryTest, QuestionsAreAnsweredOnlyForOurAddressAndAtARate) {
  const IpAddress a_ip = Ip("10.79.0.1"), b_ip = Ip("10.79.0.2");
  UdDirectory::Options o = Opts(2, {0x12}, "10.79.0.2");
  o.answers_per_second = 10;
  o.answer_burst = 5;
  UdDirectory b(o);
  UdDirectory::Options ao = Opts(1, {}, "10.79.0.1");
  ao.retry_ms = 0;
  UdDirectory a(ao);
  int answered = 0;
  for (int i = 0; i < 20; i++) {
    std::optional<UdDirectory::Datagram> q = a.Ask(a_ip, b_ip, 1000 + i);
    ASSERT_TRUE(q);
    answered += b.Handle(a_ip, b_ip, q->bytes, 1000).has_value();
  }
  EXPECT_EQ(answered, 5);
  EXPECT_EQ(b.stats().rate_limited, 15u);
  // A second later, ten more tokens (capped at the burst of 5).
  for (int i = 0; i < 20; i++) {
    std::optional<UdDirectory::Datagram> q = a.Ask(a_ip, b_ip, 3000 + i);
    ASSERT_TRUE(q);
    answered += b.Handle(a_ip, b_ip, q->bytes, 2000).has_value();
  }
  EXPECT_EQ(answered, 10);
  // A question for an address b holds no QP on.
  std::optional<UdDirectory::Datagram> q = a.Ask(a_ip, Ip("10.79.0.9"), 5000);
  ASSERT_TRUE(q);
  EXPECT_FALSE(b.Handle(a_ip, Ip("10.79.0.9"), q->bytes, 5000));
  EXPECT_EQ(b.stats().not_ours, 1u);
}

TEST(UdDirectoryTest, WithKeysOnlySignedMessagesCount) {
  const IpAddress a_ip = Ip("10.79.0.1"), b_ip = Ip("10.79.0.2");
  const ProbeKey key =
      *MakeProbeKey(std::vector<uint8_t>(32, static_cast<uint8_t>('k')));
  UdDirectory::Options bo = Opts(2, {0x12}, "10.79.0.2");
  bo.keys = {key};
  UdDirectory b(bo);
  UdDirectory plain(Opts(1, {}, "10.79.0.1"));
  std::optional<UdDirectory::Datagram> q = plain.Ask(a_ip, b_ip, 0);
  ASSERT_TRUE(q);
  EXPECT_FALSE(b.Handle(a_ip, b_ip, q->bytes, 0));
  EXPECT_EQ(b.stats().refused, 1u);
  UdDirectory::Options ao = Opts(1, {}, "10.79.0.1");
  ao.keys = {key};
  UdDirectory a(ao);
  q = a.Ask(a_ip, b_ip, 0);
  ASSERT_TRUE(q);
  std::optional<UdDirectory::Datagram> ans = b.Handle(a_ip, b_ip, q->bytes, 0);
  ASSERT_TRUE(ans);
  a.Handle(b_ip, a_ip, ans->bytes, 0);
  ASSERT_NE(a.Qpns(b_ip), nullptr);
  EXPECT_EQ(*a.Qpns(b_ip), std::vector<uint32_t>{0x12});
}

}  // namespace
}  // namespace rdma_bond::agent
