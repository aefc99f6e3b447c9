// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/rdma_netlink.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <rdma/rdma_netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace rdma_bond::agent {
namespace {

constexpr size_t kReceiveBuffer = 65536;

// Attributes of a netlink payload, by type (the last of each type).
using Attrs = std::map<uint16_t, std::pair<const uint8_t*, size_t>>;

Attrs ParseAttrs(const uint8_t* data, size_t len) {
  Attrs attrs;
  while (len >= NLA_HDRLEN) {
    const auto* nla = reinterpret_cast<const struct nlattr*>(data);
    if (nla->nla_len < NLA_HDRLEN || nla->nla_len > len) break;
    attrs[nla->nla_type & NLA_TYPE_MASK] = {data + NLA_HDRLEN,
                                            nla->nla_len - NLA_HDRLEN};
    size_t step = NLA_ALIGN(nla->nla_len);
    if (step > len) break;
    data += step;
    len -= step;
  }
  return attrs;
}

// Every attribute of type 'type' directly in a nest (the entries of a
// resource table).
std::vector<std::pair<const uint8_t*, size_t>> NestedAll(const uint8_t* data,
                                                         size_t len,
                                                         uint16_t type) {
  std::vector<std::pair<const uint8_t*, size_t>> out;
  while (len >= NLA_HDRLEN) {
    const auto* nla = reinterpret_cast<const struct nlattr*>(data);
    if (nla->nla_len < NLA_HDRLEN || nla->nla_len > len) break;
    if ((nla->nla_type & NLA_TYPE_MASK) == type) {
      out.emplace_back(data + NLA_HDRLEN, nla->nla_len - NLA_HDRLEN);
    }
    size_t step = NLA_ALIGN(nla->nla_len);
    if (step > len) break;
    data += step;
    len -= step;
  }
  return out;
}

template <typename T>
std::optional<T> Get(const Attrs& a, uint16_t type) {
  auto it = a.find(type);
  if (it == a.end() || it->second.second < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, it->second.first, sizeof v);
  return v;
}

std::string GetString(const Attrs& a, uint16_t type) {
  auto it = a.find(type);
  if (it == a.end()) return "";
  return std::string(reinterpret_cast<const char*>(it->second.first),
                     strnlen(reinterpret_cast<const char*>(it->second.first),
                             it->second.second));
}

// An AF_INET sockaddr_storage: the address and its port.
bool GetSockaddr(const Attrs& a, uint16_t type, std::optional<IpAddress>* ip,
                 uint16_t* port) {
  auto it = a.find(type);
  if (it == a.end() || it->second.second < sizeof(struct sockaddr_in)) {
    return false;
  }
  struct sockaddr_in sin;
  std::memcpy(&sin, it->second.first, sizeof sin);
  if (sin.sin_family != AF_INET) return false;
  IpAddress addr;
  addr.version = 4;
  std::memcpy(addr.bytes.data(), &sin.sin_addr, 4);
  *ip = addr;
  *port = ntohs(sin.sin_port);
  return true;
}

// The attributes of a reply message (RDMA netlink has no fixed header).
Attrs MessageAttrs(const std::vector<uint8_t>& raw) {
  const auto* h = reinterpret_cast<const struct nlmsghdr*>(raw.data());
  return ParseAttrs(raw.data() + NLMSG_HDRLEN, h->nlmsg_len - NLMSG_HDRLEN);
}

// Calls 'fn' with the attributes of each 'entry' in the 'table' nest of
// every message (the entries of a resource dump).
template <typename Fn>
void ForEachEntry(const std::vector<std::vector<uint8_t>>& messages,
                  uint16_t table, uint16_t entry, Fn fn) {
  for (const auto& m : messages) {
    Attrs a = MessageAttrs(m);
    auto nest = a.find(table);
    if (nest == a.end()) continue;
    for (const auto& [data, len] :
         NestedAll(nest->second.first, nest->second.second, entry)) {
      fn(ParseAttrs(data, len));
    }
  }
}

std::string CommOf(const Attrs& e) {
  const uint32_t pid = Get<uint32_t>(e, RDMA_NLDEV_ATTR_RES_PID).value_or(0);
  if (pid) return ProcessComm(pid);
  return GetString(e, RDMA_NLDEV_ATTR_RES_KERN_NAME);
}

}  // namespace

std::string QpTypeName(uint8_t type) {
  switch (type) {
    case 0: return "SMI";
    case 1: return "GSI";
    case kQpTypeRc: return "RC";
    case kQpTypeUc: return "UC";
    case kQpTypeUd: return "UD";
    case 8: return "RAW_PACKET";
    case 9: return "XRC_INI";
    case 10: return "XRC_TGT";
    default: return "type " + std::to_string(type);
  }
}

std::string QpStateName(uint8_t state) {
  static const char* const kNames[] = {"RESET", "INIT", "RTR", "RTS",
                                       "SQD",   "SQE",  "ERR"};
  if (state < sizeof kNames / sizeof kNames[0]) return kNames[state];
  return "state " + std::to_string(state);
}

std::string ProcessComm(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

RdmaNetlink::RdmaNetlink(int fd) : fd_(fd) {}
RdmaNetlink::RdmaNetlink(RdmaNetlink&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), seq_(o.seq_) {}
RdmaNetlink& RdmaNetlink::operator=(RdmaNetlink&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    seq_ = o.seq_;
  }
  return *this;
}
RdmaNetlink::~RdmaNetlink() {
  if (fd_ >= 0) close(fd_);
}

Result<RdmaNetlink> RdmaNetlink::Open() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_RDMA);
  if (fd < 0) return Status::FromErrno("socket(NETLINK_RDMA)", errno);
  return RdmaNetlink(fd);
}

Result<std::vector<std::vector<uint8_t>>> RdmaNetlink::Dump(
    uint16_t command, std::optional<uint32_t> device) {
  std::vector<uint8_t> req(NLMSG_HDRLEN);
  if (device) {
    req.resize(NLMSG_HDRLEN + NLA_HDRLEN + sizeof(uint32_t));
    auto* nla = reinterpret_cast<struct nlattr*>(req.data() + NLMSG_HDRLEN);
    nla->nla_type = RDMA_NLDEV_ATTR_DEV_INDEX;
    nla->nla_len = NLA_HDRLEN + sizeof(uint32_t);
    std::memcpy(req.data() + NLMSG_HDRLEN + NLA_HDRLEN, &*device,
                sizeof(uint32_t));
  }
  auto* h = reinterpret_cast<struct nlmsghdr*>(req.data());
  h->nlmsg_len = req.size();
  h->nlmsg_type = RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, command);
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h->nlmsg_seq = ++seq_;
  if (send(fd_, req.data(), req.size(), 0) < 0) {
    return Status::FromErrno("RDMA netlink request", errno);
  }
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> buf(kReceiveBuffer);
  for (;;) {
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("RDMA netlink dump", errno);
    }
    int len = n;
    for (auto* r = reinterpret_cast<struct nlmsghdr*>(buf.data());
         NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_seq != h->nlmsg_seq) continue;
      if (r->nlmsg_type == NLMSG_DONE) {
        // A dump that failed part-way (a device's fill function refused)
        // ends with NLMSG_DONE carrying the error: what came before it
        // is not the whole list.
        int error = 0;
        if (r->nlmsg_len >= NLMSG_LENGTH(sizeof error)) {
          std::memcpy(&error, NLMSG_DATA(r), sizeof error);
        }
        if (error < 0) {
          return Status::FromErrno("RDMA netlink dump", -error);
        }
        return out;
      }
      if (r->nlmsg_type == NLMSG_ERROR) {
        int error = static_cast<struct nlmsgerr*>(NLMSG_DATA(r))->error;
        if (!error) return out;
        return Status::FromErrno("RDMA netlink dump", -error);
      }
      const auto* p = reinterpret_cast<const uint8_t*>(r);
      out.emplace_back(p, p + r->nlmsg_len);
    }
  }
}

Result<HostRdmaResources> RdmaNetlink::Read() {
  HostRdmaResources res;
  Result<std::vector<std::vector<uint8_t>>> devices =
      Dump(RDMA_NLDEV_CMD_GET, std::nullopt);
  if (!devices.ok()) return devices.status();
  for (const auto& raw : *devices) {
    Attrs d = MessageAttrs(raw);
    std::optional<uint32_t> index = Get<uint32_t>(d, RDMA_NLDEV_ATTR_DEV_INDEX);
    const std::string name = GetString(d, RDMA_NLDEV_ATTR_DEV_NAME);
    if (!index || name.empty()) continue;

    auto known = ports_.find({*index, name});
    if (known == ports_.end()) {
      Result<std::vector<std::vector<uint8_t>>> ports =
          Dump(RDMA_NLDEV_CMD_PORT_GET, *index);
      if (!ports.ok()) return ports.status();
      std::vector<RdmaPort> list;
      for (const auto& p : *ports) {
        Attrs a = MessageAttrs(p);
        list.push_back(
            {name, Get<uint32_t>(a, RDMA_NLDEV_ATTR_PORT_INDEX).value_or(0),
             GetString(a, RDMA_NLDEV_ATTR_NDEV_NAME)});
      }
      known = ports_.emplace(std::make_pair(*index, name), std::move(list)).first;
    }
    res.ports.insert(res.ports.end(), known->second.begin(),
                     known->second.end());

    Result<std::vector<std::vector<uint8_t>>> qps =
        Dump(RDMA_NLDEV_CMD_RES_QP_GET, *index);
    if (!qps.ok()) return qps.status();
    ForEachEntry(*qps, RDMA_NLDEV_ATTR_RES_QP, RDMA_NLDEV_ATTR_RES_QP_ENTRY,
                 [&](const Attrs& e) {
      HostQp qp;
      qp.device = name;
      qp.port = Get<uint32_t>(e, RDMA_NLDEV_ATTR_PORT_INDEX).value_or(0);
      qp.lqpn = Get<uint32_t>(e, RDMA_NLDEV_ATTR_RES_LQPN).value_or(0);
      qp.rqpn = Get<uint32_t>(e, RDMA_NLDEV_ATTR_RES_RQPN);
      qp.type = Get<uint8_t>(e, RDMA_NLDEV_ATTR_RES_TYPE).value_or(0);
      qp.state = Get<uint8_t>(e, RDMA_NLDEV_ATTR_RES_STATE).value_or(0);
      qp.pid = Get<uint32_t>(e, RDMA_NLDEV_ATTR_RES_PID).value_or(0);
      qp.comm = CommOf(e);
      res.qps.push_back(qp);
    });

    Result<std::vector<std::vector<uint8_t>>> cms =
        Dump(RDMA_NLDEV_CMD_RES_CM_ID_GET, *index);
    if (!cms.ok()) return cms.status();
    ForEachEntry(*cms, RDMA_NLDEV_ATTR_RES_CM_ID,
                 RDMA_NLDEV_ATTR_RES_CM_ID_ENTRY, [&](const Attrs& e) {
      HostCmId cm;
      cm.device = name;
      cm.port = Get<uint32_t>(e, RDMA_NLDEV_ATTR_PORT_INDEX).value_or(0);
      cm.lqpn = Get<uint32_t>(e, RDMA_NLDEV_ATTR_RES_LQPN);
      cm.port_space = Get<uint32_t>(e, RDMA_NLDEV_ATTR_RES_PS).value_or(0);
      cm.state = Get<uint8_t>(e, RDMA_NLDEV_ATTR_RES_STATE).value_or(0);
      GetSockaddr(e, RDMA_NLDEV_ATTR_RES_SRC_ADDR, &cm.src, &cm.src_port);
      GetSockaddr(e, RDMA_NLDEV_ATTR_RES_DST_ADDR, &cm.dst, &cm.dst_port);
      cm.pid = Get<uint32_t>(e, RDMA_NLDEV_ATTR_RES_PID).value_or(0);
      cm.comm = CommOf(e);
      res.cm_ids.push_back(cm);
    });
  }
  return res;
}

}  // namespace rdma_bond::agent
