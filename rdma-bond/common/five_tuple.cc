// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/five_tuple.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>


namespace rdma_bond {

namespace {

// The 12-byte prefix of an IPv4-mapped IPv6 address, ::ffff:0:0/96.
constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0xff, 0xff};
constexpr size_t kV4Bytes = 4;
static_assert(sizeof kV4MappedPrefix + kV4Bytes == sizeof(in6_addr),
              "a mapped address is the prefix and the IPv4 address");

}  // namespace

Result<IpAddress> ParseIpAddress(std::string_view text) {
  // inet_pton() needs a terminated string; also refuse embedded NULs.
  const std::string copy(text);
  if (copy.size() != std::strlen(copy.c_str()) || copy.empty()) {
    return Status::InvalidArgument("bad IP address \"" + copy + "\"");
  }
  IpAddress address;
  if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) {
    address.version = 4;
    return address;
  }
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) {
    address.version = 6;
    if (std::equal(std::begin(kV4MappedPrefix), std::end(kV4MappedPrefix),
                   address.bytes.begin())) {
      IpAddress v4;
      v4.version = 4;
      std::copy_n(address.bytes.begin() + sizeof kV4MappedPrefix, kV4Bytes,
                  v4.bytes.begin());
      return v4;
    }
    return address;
  }
  return Status::InvalidArgument("bad IP address \"" + copy +
                                 "\" (expected IPv4 like 10.0.0.1 or IPv6 "
                                 "like fd00::1)");
}

std::string FormatAddress(uint8_t ip_version,
                          const std::array<uint8_t, 16>& address) {
  char text[INET6_ADDRSTRLEN];
  const int family = ip_version == 4 ? AF_INET : AF_INET6;
  if (inet_ntop(family, address.data(), text, sizeof text) == nullptr) {
    return "?";  // Cannot happen: the buffer fits both families.
  }
  return text;
}

std::string ToString(const IpAddress& address) {
  return FormatAddress(address.version, address.bytes);
}

Result<FiveTuple> MakeUdpTuple(const IpAddress& src, const IpAddress& dst,
                               uint16_t sport, uint16_t dport) {
  if (src.version != dst.version) {
    return Status::InvalidArgument(
        "source " + ToString(src) + " is IPv" + std::to_string(src.version) +
        " but destination " + ToString(dst) + " is IPv" +
        std::to_string(dst.version) + ": a flow has one IP version");
  }
  FiveTuple tuple;
  tuple.src = src;
  tuple.dst = dst;
  tuple.sport = sport;
  tuple.dport = dport;
  tuple.proto = kIpProtoUdp;
  return tuple;
}

std::string ToString(const FiveTuple& tuple) {
  auto endpoint = [&](const IpAddress& address, uint16_t port) {
    const std::string text = ToString(address);
    return (address.version == 6 ? "[" + text + "]" : text) + ":" +
           std::to_string(port);
  };
  std::string proto;
  switch (tuple.proto) {
    case kIpProtoUdp: proto = "udp"; break;
    case kIpProtoTcp: proto = "tcp"; break;
    case kIpProtoSctp: proto = "sctp"; break;
    default: proto = "proto " + std::to_string(tuple.proto); break;
  }
  return proto + " " + endpoint(tuple.src, tuple.sport) + " -> " +
         endpoint(tuple.dst, tuple.dport);
}

}  // namespace rdma_bond
