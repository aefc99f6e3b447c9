// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/status.h"

#include <cerrno>
#include <cstring>

namespace rdma_bond {

Status Status::FromErrno(std::string_view context, int errnum) {
  assert(errnum != 0);
  // strerror_r's GNU variant may return a static string instead of filling
  // the buffer, so use its return value.  Large enough for any glibc text.
  char buf[256];
  const char* text = strerror_r(errnum, buf, sizeof buf);
  std::string message(context);
  message += ": ";
  message += text;
  Status status(errnum == ENOENT ? Code::kNotFound : Code::kIOError,
                std::move(message));
  status.errno_ = errnum;
  return status;
}

std::string Status::ToString() const { return ok() ? "OK" : message_; }

Status Status::WithPrefix(std::string_view prefix) const {
  if (ok()) {
    return *this;
  }
  Status status = *this;
  status.message_ = std::string(prefix) + ": " + message_;
  return status;
}

Status Status::WithHint(std::string_view hint) const {
  if (ok()) {
    return *this;
  }
  Status status = *this;
  status.message_ += ' ';
  status.message_ += hint;
  return status;
}

}  // namespace rdma_bond
