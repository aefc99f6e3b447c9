// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's message check finds every change of a byte, and one
// message's payload under another's header.

#include "tools/perf/perf_message.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace rdma_bond {
namespace {

std::vector<uint8_t> Sealed(size_t size, uint64_t seq) {
  std::vector<uint8_t> m(size, 0);
  const uint64_t word = (seq << 8) | 1;
  std::memcpy(m.data(), &word, sizeof word);
  const uint64_t now = 123456789 + seq;
  std::memcpy(m.data() + 8, &now, sizeof now);
  SealMessage(m, seq);
  return m;
}

TEST(PerfMessageTest, SealedMessagesAreIntact) {
  for (size_t size : {24, 25, 31, 32, 64, 1000, 65536}) {
    EXPECT_TRUE(MessageIntact(Sealed(size, 7))) << size;
  }
}

TEST(PerfMessageTest, EveryFlippedBitIsFound) {
  const std::vector<uint8_t> good = Sealed(61, 42);
  for (size_t i = 0; i < good.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::vector<uint8_t> bad = good;
      bad[i] ^= static_cast<uint8_t>(1u << bit);
      EXPECT_FALSE(MessageIntact(bad)) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(PerfMessageTest, AnotherMessagesPayloadIsFound) {
  std::vector<uint8_t> a = Sealed(256, 1), b = Sealed(256, 2);
  EXPECT_NE(std::vector<uint8_t>(a.begin() + kMessageHeaderSize, a.end()),
            std::vector<uint8_t>(b.begin() + kMessageHeaderSize, b.end()));
  std::memcpy(a.data() + kMessageHeaderSize, b.data() + kMessageHeaderSize,
              a.size() - kMessageHeaderSize);
  EXPECT_FALSE(MessageIntact(a));
}

TEST(PerfMessageTest, TruncatedAndShortMessagesAreNotIntact) {
  std::vector<uint8_t> m = Sealed(128, 3);
  m.resize(127);
  EXPECT_FALSE(MessageIntact(m));
  EXPECT_FALSE(MessageIntact(std::vector<uint8_t>(16, 0)));
}

TEST(PerfMessageTest, ZeroedMessageIsNotIntact) {
  EXPECT_FALSE(MessageIntact(std::vector<uint8_t>(64, 0)));
}

TEST(PerfReceiptsTest, CountsDuplicatesAndLossesInBoundedMemory) {
  Receipts r;
  for (uint64_t i = 0; i < 100000; i++) r.Add(i, 64);
  EXPECT_EQ(r.unique, 100000u);
  EXPECT_EQ(r.contiguous, 100000u);
  EXPECT_TRUE(r.beyond.empty());      // In order: nothing kept per number.
  r.Add(5, 64);                       // A late duplicate.
  r.Add(100002, 64);                  // 100000 and 100001 are missing.
  r.Add(100002, 64);
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(r.beyond.size(), 1u);
  r.Add(100000, 64);
  r.Add(100001, 64);
  EXPECT_EQ(r.contiguous, 100003u);
  EXPECT_TRUE(r.beyond.empty());
  r.expected = 100005;
  EXPECT_EQ(r.unique, 100003u);
  EXPECT_EQ(r.lost(), 2u);
  EXPECT_EQ(r.bytes, 100003u * 64);
}

}  // namespace
}  // namespace rdma_bond
