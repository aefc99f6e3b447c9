// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/fd_util.h"

#include <fcntl.h>

#include <cerrno>
#include <string>

namespace rdma_bond {

Status SetNonBlocking(int fd, std::string_view what) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Status::FromErrno(std::string(what) + ": fcntl(O_NONBLOCK)",
                             errno);
  }
  return Status::OK();
}

}  // namespace rdma_bond
