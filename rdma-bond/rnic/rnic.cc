// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/rnic.h"

#include <string>

#include "common/hex.h"

namespace rdma_bond {

std::string ToString(const MacAddress& mac) { return FormatHexGroups(mac, 1); }

Result<MacAddress> ParseMacAddress(std::string_view text) {
  MacAddress mac{};
  if (!ParseHexGroups(text, 1, ':', mac)) {
    return Status::InvalidArgument("\"" + std::string(text) +
                                   "\" is not a MAC address "
                                   "(aa:bb:cc:dd:ee:ff)");
  }
  return mac;
}

std::string_view ToString(WcStatus status) {
  switch (status) {
    case WcStatus::kSuccess: return "success";
    case WcStatus::kRetryExceeded: return "retry-exceeded";
    case WcStatus::kRnrRetryExceeded: return "rnr-retry-exceeded";
    case WcStatus::kFlushed: return "flushed";
    case WcStatus::kRemoteError: return "remote-error";
    case WcStatus::kLocalError: return "local-error";
  }
  return "unknown";
}

std::string_view ToString(QpState state) {
  switch (state) {
    case QpState::kReset: return "reset";
    case QpState::kInit: return "init";
    case QpState::kRtr: return "rtr";
    case QpState::kRts: return "rts";
    case QpState::kError: return "error";
  }
  return "unknown";
}

}  // namespace rdma_bond
