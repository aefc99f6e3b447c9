// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// libFuzzer target: the registry's line protocol as a local client (any
// member of the agent's group) writes it.
//
// The input is one request line for the agent's parser
// (ParseRegistryRequest(), then QpFromRequest() for a QP line) and the
// helpers AgentClient reads replies with.  They must reject what is
// invalid with a Status and never accept a QP whose names are not tokens
// or whose numbers are out of range.
//
// Build and run: "make check-fuzz" (rdma-bond/fuzz/automake.mk).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "agent/registry.h"
#include "conn/registry_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdma_bond;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  // The reply helpers of AgentClient.
  (void)RegistryVerb(line);
  (void)RegistryReason(line);
  if (std::optional<std::string_view> v = RegistryField(line, "sports")) {
    if (v->data() < line.data() || v->data() + v->size() > line.data() + size) {
      std::abort();  // A view outside the line.
    }
  }
  if (std::optional<uint64_t> n = ParseRegistryNumber(line, 0xffff)) {
    if (*n > 0xffff) std::abort();
  }
  // The agent's request parser.
  Result<RegistryRequest> request = ParseRegistryRequest(line);
  if (!request.ok()) return 0;
  if (request->verb.empty() || line.size() > kAgentMaxLine) std::abort();
  Result<agent::QpRecord> qp = agent::QpFromRequest(*request);
  if (qp.ok()) {
    if (!IsRegistryToken(qp->bond) || !IsRegistryToken(qp->member) ||
        qp->qpn > 0xffffff || qp->sport == 0 ||
        qp->src.version != qp->dst.version) {
      std::abort();
    }
  }
  return 0;
}
