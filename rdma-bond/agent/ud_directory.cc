// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/ud_directory.h"

#include <algorithm>
#include <utility>

namespace rdma_bond::agent {

UdDirectory::UdDirectory(Options options) : options_(std::move(options)) {
  tokens_ = options_.answer_burst;
}

uint64_t UdDirectory::Random() {
  uint64_t r = 0;
  while (r == 0) r = options_.random ? options_.random() : SecureRandom64();
  return r;
}

std::string UdDirectory::Key(const IpAddress& ip) { return ToString(ip); }

void UdDirectory::SetKeys(std::vector<ProbeKey> keys) {
  options_.keys = std::move(keys);
}

const std::vector<uint32_t>* UdDirectory::Qpns(const IpAddress& peer) const {
  auto it = peers_.find(Key(peer));
  return it == peers_.end() || !it->second.answered ? nullptr
                                                     : &it->second.qpns;
}

std::optional<UdDirectory::Datagram> UdDirectory::Ask(const IpAddress& local,
                                                      const IpAddress& peer,
                                                      uint64_t now_ms) {
  auto it = peers_.find(Key(peer));
  if (it == peers_.end()) {
    if (peers_.size() >= options_.max_peers) {
      // The one answered longest ago (or never) makes room.
      auto oldest = std::min_element(
          peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
            return a.second.answered_ms < b.second.answered_ms;
          });
      peers_.erase(oldest);
    }
    it = peers_.emplace(Key(peer), Peer()).first;
  }
  Peer& p = it->second;
  if (p.answered && now_ms - p.answered_ms < options_.refresh_ms) {
    return std::nullopt;
  }
  if (p.asked && now_ms - p.asked_ms < options_.retry_ms) return std::nullopt;
  DirectoryMessage q;
  q.kind = DirectoryKind::kQuery;
  q.agent_id = options_.agent_id;
  q.nonce = Random();
  Datagram d{local, peer, std::vector<uint8_t>(kDirectoryBytes)};
  const ProbeKey* key = options_.keys.empty() ? nullptr : &options_.keys[0];
  if (!BuildDirectoryMessage(local, peer, q, key, d.bytes).ok()) {
    return std::nullopt;
  }
  p.asked = true;
  p.asked_ms = now_ms;
  p.nonce = q.nonce;
  stats_.queries_sent++;
  return d;
}

std::optional<UdDirectory::Datagram> UdDirectory::Handle(
    const IpAddress& src, const IpAddress& dst, std::span<const uint8_t> bytes,
    uint64_t now_ms) {
  DirectoryMessage m;
  if (!ParseDirectoryMessage(src, dst, bytes, options_.keys, &m).ok()) {
    stats_.refused++;
    return std::nullopt;
  }
  if (m.kind == DirectoryKind::kAnswer) {
    auto it = peers_.find(Key(src));
    if (it == peers_.end() || !it->second.asked || it->second.nonce == 0 ||
        m.nonce != it->second.nonce) {
      stats_.unmatched++;
      return std::nullopt;
    }
    Peer& p = it->second;
    p.qpns = m.qpns;
    p.answered = true;
    p.answered_ms = now_ms;
    p.nonce = 0;                    // Answered once.
    stats_.answers_taken++;
    return std::nullopt;
  }
  if (m.agent_id == options_.agent_id) return std::nullopt;   // Our own.
  const std::vector<uint32_t> mine =
      options_.local_qpns ? options_.local_qpns(dst) : std::vector<uint32_t>();
  if (mine.empty()) {
    stats_.not_ours++;
    return std::nullopt;
  }
  if (now_ms > tokens_ms_) {
    tokens_ = std::min(options_.answer_burst,
                       tokens_ + (now_ms - tokens_ms_) *
                                     options_.answers_per_second / 1000.0);
  }
  tokens_ms_ = std::max(tokens_ms_, now_ms);
  if (tokens_ < 1) {
    stats_.rate_limited++;
    return std::nullopt;
  }
  tokens_ -= 1;
  DirectoryMessage a;
  a.kind = DirectoryKind::kAnswer;
  a.agent_id = options_.agent_id;
  a.nonce = m.nonce;
  a.qpns = mine;
  if (a.qpns.size() > kMaxProbeMembers) a.qpns.resize(kMaxProbeMembers);
  Datagram d{dst, src, std::vector<uint8_t>(kDirectoryBytes)};
  const ProbeKey* key = options_.keys.empty() ? nullptr : &options_.keys[0];
  if (!BuildDirectoryMessage(dst, src, a, key, d.bytes).ok()) {
    return std::nullopt;
  }
  stats_.queries_answered++;
  return d;
}

}  // namespace rdma_bond::agent
