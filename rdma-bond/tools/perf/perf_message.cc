// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/perf/perf_message.h"

#include <cstring>

namespace rdma_bond {
namespace {

constexpr uint64_t kMul1 = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kMul2 = 0xc2b2ae3d27d4eb4full;

uint64_t Rotl(uint64_t v, int n) { return (v << n) | (v >> (64 - n)); }

uint64_t Mix(uint64_t h, uint64_t w) {
  return Rotl(h ^ (w * kMul2), 31) * kMul1;
}

uint64_t Load(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Hashes [p, p + n) into 'h'.
uint64_t HashRange(uint64_t h, const uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) h = Mix(h, Load(p + i));
  if (i < n) {
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    h = Mix(h, tail ^ (uint64_t{n - i} << 56));
  }
  return h;
}

}  // namespace

uint64_t MessageCheck(std::span<const uint8_t> msg) {
  uint64_t h = Mix(kMul2, msg.size());
  h = HashRange(h, msg.data(), kCheckOffset);
  h = HashRange(h, msg.data() + kMessageHeaderSize,
                msg.size() - kMessageHeaderSize);
  return h ^ (h >> 29);
}

void SealMessage(std::span<uint8_t> msg, uint64_t seq) {
  uint8_t* p = msg.data() + kMessageHeaderSize;
  const size_t n = msg.size() - kMessageHeaderSize;
  uint64_t w = (seq + 1) * kMul1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::memcpy(p + i, &w, sizeof w);
    w = Rotl(w, 7) + kMul2;
  }
  if (i < n) std::memcpy(p + i, &w, n - i);
  const uint64_t check = MessageCheck(msg);
  std::memcpy(msg.data() + kCheckOffset, &check, sizeof check);
}

void Receipts::Add(uint64_t seq, size_t size) {
  if (seq < contiguous || !beyond.insert(seq).second) {
    duplicates++;
    return;
  }
  unique++;
  bytes += size;
  while (!beyond.empty() && *beyond.begin() == contiguous) {
    beyond.erase(beyond.begin());
    contiguous++;
  }
}

bool MessageIntact(std::span<const uint8_t> msg) {
  if (msg.size() < kMessageHeaderSize) return false;
  return Load(msg.data() + kCheckOffset) == MessageCheck(msg);
}

}  // namespace rdma_bond
