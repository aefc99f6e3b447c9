// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Reading rtnetlink attributes: the attributes of a message or of a
// nested attribute, indexed by type, and their values copied out with a
// length check.  Shared by the agent's Rtnl and ovs-rdma-bond-migrate's
// reader of Linux bonds.
//
// Thread-safety: pure functions.

#ifndef RDMA_BOND_AGENT_NETLINK_ATTR_H_
#define RDMA_BOND_AGENT_NETLINK_ATTR_H_

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace rdma_bond::agent {

// The attributes from 'rta' on, 'len' bytes of them, by type (the last of
// each type wins; types beyond 'max' are ignored).
inline std::vector<const struct rtattr*> ParseAttrRun(const struct rtattr* rta,
                                                      int len, int max) {
  std::vector<const struct rtattr*> attrs(max + 1, nullptr);
  for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
    int type = rta->rta_type & NLA_TYPE_MASK;
    if (type <= max) attrs[type] = rta;
  }
  return attrs;
}

// The attributes after a fixed part of 'fixed_len' bytes.
inline std::vector<const struct rtattr*> ParseAttrs(const struct nlmsghdr* h,
                                                    size_t fixed_len,
                                                    int max) {
  if (h->nlmsg_len < NLMSG_LENGTH(fixed_len)) {
    return std::vector<const struct rtattr*>(max + 1, nullptr);
  }
  int len = h->nlmsg_len - NLMSG_LENGTH(fixed_len);
  auto* rta = reinterpret_cast<const struct rtattr*>(
      reinterpret_cast<const uint8_t*>(NLMSG_DATA(h)) + NLMSG_ALIGN(fixed_len));
  return ParseAttrRun(rta, len, max);
}

// The attributes nested in 'nest' (none when 'nest' is null).
inline std::vector<const struct rtattr*> ParseNested(const struct rtattr* nest,
                                                     int max) {
  if (!nest) return std::vector<const struct rtattr*>(max + 1, nullptr);
  return ParseAttrRun(static_cast<const struct rtattr*>(RTA_DATA(nest)),
                      RTA_PAYLOAD(nest), max);
}

template <typename T>
std::optional<T> AttrValue(const struct rtattr* rta) {
  if (!rta || RTA_PAYLOAD(rta) < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, RTA_DATA(rta), sizeof value);
  return value;
}

// A string attribute ("" when absent); stops at its NUL or its end.
inline std::string AttrString(const struct rtattr* rta) {
  if (!rta) return "";
  const char* s = static_cast<const char*>(RTA_DATA(rta));
  return std::string(s, strnlen(s, RTA_PAYLOAD(rta)));
}

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_NETLINK_ATTR_H_
