// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// BridgeLookup: which OVS bridge a bond port is on ("ovs-vsctl port-to-br
// BOND"), asked without blocking the agent's main loop.
//
// The table names bonds and members, not bridges; the probe service needs
// the bridge's address and MAC, the RoCE plumbing its addresses and
// neighbours.  ovs-vsctl may take seconds (ovsdb-server busy or down), so
// each lookup runs on a thread of its own, which gives up the agent's
// ambient capabilities first (issue 15, finding 7), and writes a byte to
// wake_fd()'s pipe when it is done so that the main loop takes the result
// at once.
//
// Thread-safety: one thread calls everything; the lookups' threads touch
// only their own future and the pipe.

#ifndef RDMA_BOND_AGENT_BRIDGE_LOOKUP_H_
#define RDMA_BOND_AGENT_BRIDGE_LOOKUP_H_

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <string>

namespace rdma_bond::agent {

// How often a lookup of one bond starts at most.
inline constexpr uint64_t kBridgeLookupRetryMs = 1000;

class BridgeLookup {
 public:
  // 'lookup' runs on the lookups' threads; the default runs ovs-vsctl.
  using LookupFn = std::function<std::string(const std::string& bond)>;
  explicit BridgeLookup(LookupFn lookup = {});
  // Waits for the lookups under way (at most ovs-vsctl's timeout).
  ~BridgeLookup();
  BridgeLookup(const BridgeLookup&) = delete;
  BridgeLookup& operator=(const BridgeLookup&) = delete;

  // The bridge of 'bond' when a lookup of it has finished ("" if it
  // failed); std::nullopt while one runs, or before kBridgeLookupRetryMs
  // passed since the last one started (then call again later: a lookup is
  // started here when none runs).  Each result is returned once.
  std::optional<std::string> Get(const std::string& bond, uint64_t now_ms);

  // Readable when a lookup finished; Drain() empties it.
  int wake_fd() const { return wake_[0]; }
  void Drain();

 private:
  LookupFn lookup_;
  std::map<std::string, std::future<std::string>> pending_;
  std::map<std::string, uint64_t> next_ms_;
  int wake_[2] = {-1, -1};
};

// "ovs-vsctl port-to-br BOND" without the agent's ambient capabilities;
// "" if it failed.
std::string LookUpBridgeWithOvsVsctl(const std::string& bond);

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_BRIDGE_LOOKUP_H_
