// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Internals of the emulated RNIC shared by emulated_rnic.cc (the RNIC) and
// emulated_qp.cc (its queue pairs).  Not part of the API.
#ifndef RDMA_BOND_EMULATED_INTERNAL_H_
#define RDMA_BOND_EMULATED_INTERNAL_H_

#include <cstdint>

namespace rdma_bond {
namespace emulated_detail {

// The path MTU of an RNIC created without one.
constexpr uint32_t kDefaultPathMtu = 1024;       // Fits a 1500-byte MTU.

}  // namespace emulated_detail
}  // namespace rdma_bond

#endif  // RDMA_BOND_EMULATED_INTERNAL_H_
