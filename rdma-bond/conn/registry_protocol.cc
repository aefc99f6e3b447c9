// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "conn/registry_protocol.h"

#include <algorithm>

#include "common/hex.h"

namespace rdma_bond {

bool IsRegistryToken(std::string_view value) {
  return !value.empty() && value.size() <= kRegistryMaxToken &&
         std::all_of(value.begin(), value.end(), [](char c) {
           return c > ' ' && c < 0x7f && c != '=';
         });
}

Result<std::string> RegistryRequest::Get(std::string_view key) const {
  auto it = fields.find(key);
  if (it == fields.end()) {
    return Status::InvalidArgument(verb + ": missing " + std::string(key) +
                                   "=");
  }
  return it->second;
}

Result<RegistryRequest> ParseRegistryRequest(std::string_view line) {
  if (line.size() > kAgentMaxLine) {
    return Status::InvalidArgument("request longer than " +
                                   std::to_string(kAgentMaxLine) + " bytes");
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  RegistryRequest request;
  bool first = true;
  while (!line.empty()) {
    const size_t space = line.find(' ');
    const std::string_view word = line.substr(0, space);
    line.remove_prefix(space == std::string_view::npos ? line.size()
                                                       : space + 1);
    if (word.empty()) continue;
    if (first) {
      request.verb = std::string(word);
      first = false;
      continue;
    }
    const size_t eq = word.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument("malformed field \"" +
                                     std::string(word) + "\" (want key=value)");
    }
    std::string key(word.substr(0, eq));
    if (!request.fields.emplace(key, std::string(word.substr(eq + 1)))
             .second) {
      return Status::InvalidArgument("duplicate key " + key + "=");
    }
  }
  if (first) return Status::InvalidArgument("empty request");
  return request;
}

std::string_view RegistryVerb(std::string_view line) {
  return line.substr(0, line.find(' '));
}

std::string RegistryReason(std::string_view line) {
  const size_t space = line.find(' ');
  return space == std::string_view::npos ? std::string("no reason given")
                                         : std::string(line.substr(space + 1));
}

std::optional<std::string_view> RegistryField(std::string_view line,
                                              std::string_view key) {
  size_t pos = line.find(' ');
  while (pos != std::string_view::npos) {
    const size_t start = pos + 1;
    pos = line.find(' ', start);
    std::string_view word = line.substr(
        start, pos == std::string_view::npos ? pos : pos - start);
    if (word.size() > key.size() && word.substr(0, key.size()) == key &&
        word[key.size()] == '=') {
      return word.substr(key.size() + 1);
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseRegistryNumber(std::string_view text,
                                            uint64_t max) {
  uint64_t base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    const int digit = HexDigitValue(c);
    if (digit < 0 || static_cast<uint64_t>(digit) >= base) return std::nullopt;
    if (value > (max - static_cast<uint64_t>(digit)) / base) {
      return std::nullopt;
    }
    value = value * base + static_cast<uint64_t>(digit);
  }
  return value;
}

}  // namespace rdma_bond
