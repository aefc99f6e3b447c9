// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/bridge_lookup.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include "common/run_program.h"

namespace rdma_bond::agent {

std::string LookUpBridgeWithOvsVsctl(const std::string& bond) {
  if (!DropAmbientCapabilities().ok()) return "";
  RunProgramOptions options;
  options.timeout = std::chrono::milliseconds(10000);
  Result<ProgramOutput> run =
      RunProgram({"ovs-vsctl", "--timeout=5", "port-to-br", bond}, options);
  if (!run.ok() || run->exit_code != 0) return "";
  std::string out = run->out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

BridgeLookup::BridgeLookup(LookupFn lookup)
    : lookup_(lookup ? std::move(lookup) : LookUpBridgeWithOvsVsctl) {
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) < 0) {
    wake_[0] = wake_[1] = -1;   // Then results wait for the next tick.
  }
}

BridgeLookup::~BridgeLookup() {
  pending_.clear();             // Waits for the lookups under way.
  for (int fd : wake_) {
    if (fd >= 0) close(fd);
  }
}

std::optional<std::string> BridgeLookup::Get(const std::string& bond,
                                             uint64_t now_ms) {
  auto pending = pending_.find(bond);
  if (pending != pending_.end()) {
    if (pending->second.wait_for(std::chrono::seconds(0)) !=
        std::future_status::ready) {
      return std::nullopt;
    }
    std::string bridge = pending->second.get();
    pending_.erase(pending);
    return bridge;
  }
  auto due = next_ms_.find(bond);
  if (due != next_ms_.end() && now_ms < due->second) return std::nullopt;
  next_ms_[bond] = now_ms + kBridgeLookupRetryMs;
  const int wake_fd = wake_[1];
  LookupFn lookup = lookup_;
  pending_[bond] = std::async(std::launch::async, [bond, wake_fd, lookup] {
    std::string bridge = lookup(bond);
    if (wake_fd >= 0) (void)!write(wake_fd, "b", 1);
    return bridge;
  });
  return std::nullopt;
}

void BridgeLookup::Drain() {
  if (wake_[0] < 0) return;
  char drain[64];
  while (read(wake_[0], drain, sizeof drain) > 0) {
  }
}

}  // namespace rdma_bond::agent
