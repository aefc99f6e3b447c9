// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// JoinWords(): words with a separator between each two, for messages and
// command lines.
//
// Thread-safety: a pure function.

#ifndef RDMA_BOND_COMMON_JOIN_H_
#define RDMA_BOND_COMMON_JOIN_H_

#include <string>
#include <vector>

namespace rdma_bond {

// {"a", "b"} and ", " give "a, b"; no words give "".
inline std::string JoinWords(const std::vector<std::string>& words,
                             const char* sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); i++) {
    if (i) out += sep;
    out += words[i];
  }
  return out;
}

}  // namespace rdma_bond

#endif  // RDMA_BOND_COMMON_JOIN_H_
