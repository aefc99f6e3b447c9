// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// File descriptor helpers shared by the side channel, the verbs backend
// and the agent client.

#ifndef RDMA_BOND_COMMON_FD_UTIL_H_
#define RDMA_BOND_COMMON_FD_UTIL_H_

#include <string_view>

#include "rdma_bond/status.h"

namespace rdma_bond {

// Sets O_NONBLOCK on 'fd'.  'what' names the descriptor in the error
// ("side channel", "completion channel").
Status SetNonBlocking(int fd, std::string_view what);

}  // namespace rdma_bond

#endif  // RDMA_BOND_COMMON_FD_UTIL_H_
