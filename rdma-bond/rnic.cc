// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/rnic.h"

#include <cstdio>
#include <string>

namespace rdma_bond {

std::string ToString(const MacAddress& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
                mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<MacAddress> ParseMacAddress(std::string_view text) {
  MacAddress mac{};
  // Six pairs of hex digits separated by ':': 17 characters.
  bool ok = text.size() == 17;
  for (size_t i = 0; ok && i < mac.size(); i++) {
    const int hi = HexDigit(text[i * 3]);
    const int lo = HexDigit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) {
      ok = false;
    } else {
      mac[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
  }
  if (!ok) {
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
