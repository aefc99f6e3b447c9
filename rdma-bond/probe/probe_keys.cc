// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "probe/probe_keys.h"

#include "common/hex.h"
#include "common/trusted_file.h"

namespace rdma_bond {

namespace {
constexpr size_t kMaxKeyFileBytes = 65536;
}  // namespace

Result<std::vector<ProbeKey>> ParseProbeKeys(std::string_view text,
                                             const std::string& what) {
  std::vector<ProbeKey> keys;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view()
                                         : text.substr(end + 1);
    line_number++;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = what + ", line " + std::to_string(line_number);
    if (keys.size() == kMaxProbeKeys) {
      return Status::InvalidArgument(
          where + ": more than " + std::to_string(kMaxProbeKeys) +
          " keys (the one that signs and the one being rotated in or out)");
    }
    Result<ProbeKey> key = MakeProbeKey(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(line.data()), line.size()));
    if (!key.ok()) {
      return Status::InvalidArgument(
          where + ": a key of " + std::to_string(line.size()) +
          " bytes, at least " + std::to_string(kMinProbeKeyBytes) +
          " needed (head -c 32 /dev/urandom | base64)");
    }
    for (const ProbeKey& k : keys) {
      if (k.secret == key->secret) {
        return Status::InvalidArgument(where + ": the same key twice");
      }
    }
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) {
    return Status::InvalidArgument(what + ": no key in it");
  }
  return keys;
}

Result<std::vector<ProbeKey>> ReadProbeKeyFile(const std::string& path) {
  const std::string what = "probe key file " + path;
  Result<std::string> text = ReadPrivateFile(path, what, kMaxKeyFileBytes);
  if (!text.ok()) return text.status();
  return ParseProbeKeys(*text, what);
}

std::string DescribeProbeKeys(const std::vector<ProbeKey>& keys) {
  if (keys.empty()) return "none";
  std::string out;
  for (const ProbeKey& key : keys) {
    if (!out.empty()) out += ", ";
    out += HexPrefixed(key.id, 8);
  }
  return out;
}

}  // namespace rdma_bond
