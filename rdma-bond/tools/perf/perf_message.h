// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's data messages, checked end to end.
//
// Layout (host byte order; both ends run this tool):
//   bytes  0-7   kind (low byte) and sequence number (56 bits)
//          8-15  the sender's CLOCK_MONOTONIC in ns
//         16-23  check: a 64-bit hash of every other byte of the message
//         24-    filler, a function of the sequence number
// The receiver recomputes the check of every data message it is given: a
// message whose bytes changed anywhere between the sender's buffer and
// the receiver's callback (a corrupted frame, a send slot reused too
// early, one message's payload delivered under another's header, since
// the filler differs per message) is counted as corrupted.  The hash
// finds accidents, not forgeries.
#ifndef RDMA_BOND_PERF_MESSAGE_H_
#define RDMA_BOND_PERF_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <span>

namespace rdma_bond {

constexpr size_t kCheckOffset = 16;
constexpr size_t kMessageHeaderSize = 24;

// The check of 'msg': its bytes except [kCheckOffset, kCheckOffset + 8).
// 'msg' must be at least kMessageHeaderSize bytes.
uint64_t MessageCheck(std::span<const uint8_t> msg);

// Writes the filler for 'seq' after the header and then the check (call
// after the kind, sequence number and time are in place).
void SealMessage(std::span<uint8_t> msg, uint64_t seq);

// True if the check in 'msg' is the check of its bytes.
bool MessageIntact(std::span<const uint8_t> msg);

// What the receiver of data messages finds, per connection.  A connection
// delivers in order, so the numbers seen are kept as the count of the
// contiguous ones from 0 and a set of those beyond: memory stays flat over
// a long run (a bitmap of every number took 11 MB per 100 million), and a
// duplicate is found however late it comes.
struct Receipts {
  uint64_t contiguous = 0;         // 0 .. contiguous-1 all seen.
  std::set<uint64_t> beyond;       // Seen, above a missing one.
  uint64_t unique = 0;
  uint64_t duplicates = 0;
  uint64_t corrupted = 0;          // Failed their check: not counted.
  uint64_t expected = 0;           // From kDone; 0 until then.
  bool done = false;
  uint64_t bytes = 0;

  // Counts message number 'seq' of 'size' bytes (a duplicate if seen).
  void Add(uint64_t seq, size_t size);
  uint64_t lost() const { return expected > unique ? expected - unique : 0; }
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PERF_MESSAGE_H_
