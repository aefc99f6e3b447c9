// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// UdDirectory: which UD receive QPs a peer's agent probes with, learnt
// over the ordinary IP stack (probe/ud_wire.h, "Where to send"), and the
// answers to the peers' questions.  Sans-IO: the caller owns the UDP
// socket (port kProbeDirectoryPort) and the clock.
//
// A peer is asked when the UD transport has something to send to it and
// no answer younger than refresh_ms (a restarted agent has new QPs), at
// most once per retry_ms; an answer counts only from the address asked
// and with the nonce of the last question (64 random bits), and with keys
// only with a valid tag.  Questions are answered at answers_per_second at
// most (a token bucket), for a local address the caller has QPs on.
//
// Thread-safety: single-threaded.

#ifndef RDMA_BOND_AGENT_UD_DIRECTORY_H_
#define RDMA_BOND_AGENT_UD_DIRECTORY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "probe/ud_wire.h"
#include "rdma_bond/five_tuple.h"

namespace rdma_bond::agent {

class UdDirectory {
 public:
  struct Options {
    uint64_t agent_id = 0;          // Not 0.
    std::vector<ProbeKey> keys;     // As the prober's.
    uint64_t refresh_ms = 10'000;
    uint64_t retry_ms = 1'000;
    double answers_per_second = 50;
    double answer_burst = 100;
    size_t max_peers = 256;         // Answers kept, at most.
    // The receive QPs of the local address 'local' (empty: not ours).
    std::function<std::vector<uint32_t>(const IpAddress& local)> local_qpns;
    // 64 random bits (the kernel's CSPRNG when empty).
    std::function<uint64_t()> random;
  };
  struct Stats {
    uint64_t queries_sent = 0;
    uint64_t answers_taken = 0;
    uint64_t queries_answered = 0;
    uint64_t refused = 0;           // Malformed, other version, bad tag.
    uint64_t unmatched = 0;         // Answers nobody asked for.
    uint64_t rate_limited = 0;      // Questions not answered.
    uint64_t not_ours = 0;          // Questions for an address without QPs.
  };
  // A datagram to send: to 'to' (port kProbeDirectoryPort), from 'from'.
  struct Datagram {
    IpAddress from;
    IpAddress to;
    std::vector<uint8_t> bytes;
  };

  explicit UdDirectory(Options options);

  // The peer's receive QPs as last answered, or null.
  const std::vector<uint32_t>* Qpns(const IpAddress& peer) const;
  // A question to 'peer' from 'local' if one is due at 'now_ms'.
  std::optional<Datagram> Ask(const IpAddress& local, const IpAddress& peer,
                              uint64_t now_ms);
  // A datagram received from 'src' to 'dst': an answer is taken; a
  // question returns the answer to send.
  std::optional<Datagram> Handle(const IpAddress& src, const IpAddress& dst,
                                 std::span<const uint8_t> bytes,
                                 uint64_t now_ms);
  void SetKeys(std::vector<ProbeKey> keys);
  const Stats& stats() const { return stats_; }

 private:
  struct Peer {
    std::vector<uint32_t> qpns;
    bool answered = false;
    uint64_t answered_ms = 0;
    uint64_t asked_ms = 0;
    bool asked = false;
    uint64_t nonce = 0;             // Of the last question.
  };
  uint64_t Random();
  static std::string Key(const IpAddress& ip);

  Options options_;
  Stats stats_;
  std::map<std::string, Peer> peers_;
  double tokens_ = 0;
  uint64_t tokens_ms_ = 0;
};

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_UD_DIRECTORY_H_
