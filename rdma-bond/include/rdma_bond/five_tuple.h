// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// IpAddress and FiveTuple: the addresses and ports of one flow.
//
// The packets of a RoCEv2 queue pair are one UDP flow: the IP addresses of
// the two GIDs, a source port chosen by the RDMA stack (roce.h) and
// destination port 4791.  These value types carry such a flow between the
// command line, the predictor (predictor.h) and the agent.  Addresses are
// in network byte order, as in the rdma-bond table and on the wire; ports
// are in host byte order.
//
// Thread-safety: plain values; the functions are pure.

#ifndef RDMA_BOND_FIVE_TUPLE_H_
#define RDMA_BOND_FIVE_TUPLE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "rdma_bond/roce.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// IP protocol numbers that matter to OVS's 5-tuple hash (lib/flow.c).
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;
inline constexpr uint8_t kIpProtoSctp = 132;

// An IPv4 or IPv6 address.
struct IpAddress {
  uint8_t version = 4;              // 4 or 6.
  // Network byte order; IPv4 uses the first 4 bytes, the rest are zero.
  std::array<uint8_t, 16> bytes{};

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Parses "10.0.0.1" or "fd00::1".  An IPv4-mapped IPv6 address
// ("::ffff:10.0.0.1", the GID form of an IPv4 RoCEv2 address) gives the
// IPv4 address, because that is what the packets carry.  Fails with
// InvalidArgument naming the text.
Result<IpAddress> ParseIpAddress(std::string_view text);

// "10.0.0.1", "fd00::1" (inet_ntop()).
std::string ToString(const IpAddress& address);

// The address in text form ("10.0.0.1", "fe80::1"), via inet_ntop().
std::string FormatAddress(uint8_t ip_version,
                          const std::array<uint8_t, 16>& address);

// A TCP/UDP-style 5-tuple.
struct FiveTuple {
  IpAddress src;
  IpAddress dst;                    // Same version as 'src'.
  uint16_t sport = 0;
  uint16_t dport = kRoceV2UdpPort;
  uint8_t proto = kIpProtoUdp;

  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};

// The UDP flow from src:sport to dst:dport.  Fails with InvalidArgument if
// the two addresses are of different versions.
Result<FiveTuple> MakeUdpTuple(const IpAddress& src, const IpAddress& dst,
                               uint16_t sport,
                               uint16_t dport = kRoceV2UdpPort);

// "udp 10.0.0.1:49152 -> 10.0.0.2:4791", "udp [fd00::1]:49152 ->
// [fd00::2]:4791"; other protocols are named by number ("proto 47").
std::string ToString(const FiveTuple& tuple);

}  // namespace rdma_bond

#endif  // RDMA_BOND_FIVE_TUPLE_H_
