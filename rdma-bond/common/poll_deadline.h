// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// MillisLeft(): a deadline as poll()'s timeout.
//
// Thread-safety: a pure function of the clock.

#ifndef RDMA_BOND_POLL_DEADLINE_H_
#define RDMA_BOND_POLL_DEADLINE_H_

#include <chrono>

namespace rdma_bond {

// Milliseconds left until 'deadline' for poll(), rounded up (rounding
// down would give up with up to a millisecond left), at least 0.
inline int MillisLeft(std::chrono::steady_clock::time_point deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  return static_cast<int>(
      std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

}  // namespace rdma_bond

#endif  // RDMA_BOND_POLL_DEADLINE_H_
