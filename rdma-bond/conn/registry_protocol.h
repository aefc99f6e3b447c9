// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The registry's line protocol, the one copy that both ends use: the agent's
// RegistryServer (agent/registry.cc) and the applications' AgentClient
// (conn/agent_client.cc).  docs/agent.md describes it.
//
// A line is a verb and space-separated key=value fields, ending in a
// newline, at most kAgentMaxLine bytes with it: "HELLO version=1 name=fio",
// "QP qpn=0x11 bond=bond0 ...", "OK", "ERR <reason, free text>",
// "PATH ...", "END".  A value (and a key) is a token: printable ASCII
// without a space or '=', at most kRegistryMaxToken bytes.  Numbers are
// decimal or 0x-prefixed hexadecimal.
//
// Internal to librdmabond and the agent.

#ifndef RDMA_BOND_CONN_REGISTRY_PROTOCOL_H_
#define RDMA_BOND_CONN_REGISTRY_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "rdma_bond/agent_client.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// Longest token.
inline constexpr size_t kRegistryMaxToken = 64;

// Whether 'value' is a token: not empty, at most kRegistryMaxToken bytes,
// each byte printable ASCII other than space and '='.
bool IsRegistryToken(std::string_view value);

// A parsed line: its verb and its key=value fields.
struct RegistryRequest {
  std::string verb;             // "HELLO", "QP", "DEL", "PATHS", "OK"...
  std::map<std::string, std::string, std::less<>> fields;

  // The value of 'key', or InvalidArgument "VERB: missing key=" naming it.
  Result<std::string> Get(std::string_view key) const;
};

// Parses one line (without its newline; a trailing '\r' is dropped).
// InvalidArgument, naming what is wrong, for an empty line, a field
// without '=', a duplicate key or a line longer than kAgentMaxLine.
Result<RegistryRequest> ParseRegistryRequest(std::string_view line);

// The first word of 'line'.
std::string_view RegistryVerb(std::string_view line);

// What follows the first word of 'line' (an ERR's reason), or "no reason
// given".
std::string RegistryReason(std::string_view line);

// The value of 'key' in the key=value fields of 'line' after its first
// word, or nullopt (a view into 'line').
std::optional<std::string_view> RegistryField(std::string_view line,
                                              std::string_view key);

// A decimal or 0x-prefixed hexadecimal number up to 'max', or nullopt.
std::optional<uint64_t> ParseRegistryNumber(std::string_view text,
                                            uint64_t max);

}  // namespace rdma_bond

#endif  // RDMA_BOND_CONN_REGISTRY_PROTOCOL_H_
