// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The side channel's TCP transport: listen, accept, connect
// (rdma_bond/side_channel.h).

#include "rdma_bond/side_channel.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rdma_bond {

namespace {

// A sockaddr for ip:port; returns its length.
socklen_t MakeSockaddr(const IpAddress& ip, uint16_t port,
                       sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  if (ip.version == 6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, ip.bytes.data(), 16);
    return sizeof *sin6;
  }
  auto* sin = reinterpret_cast<sockaddr_in*>(ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  std::memcpy(&sin->sin_addr, ip.bytes.data(), 4);
  return sizeof *sin;
}

std::string Endpoint(const IpAddress& ip, uint16_t port) {
  return ip.version == 6 ? "[" + ToString(ip) + "]:" + std::to_string(port)
                         : ToString(ip) + ":" + std::to_string(port);
}

}  // namespace

Result<int> ListenTcp(const IpAddress& ip, uint16_t port) {
  sockaddr_storage ss;
  const socklen_t len = MakeSockaddr(ip, port, &ss);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("side channel: socket", errno);
  const int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 ||
      listen(fd, 16) < 0) {
    const int err = errno;
    close(fd);
    return Status::FromErrno("side channel: listen on " + Endpoint(ip, port),
                             err);
  }
  return fd;
}

Result<uint16_t> LocalPort(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) {
    return Status::FromErrno("side channel: getsockname", errno);
  }
  if (ss.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

Result<std::unique_ptr<SideChannel>> AcceptTcp(
    int listen_fd, std::chrono::milliseconds timeout) {
  pollfd pfd = {listen_fd, POLLIN, 0};
  const int n = poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (n < 0) return Status::FromErrno("side channel: poll (accept)", errno);
  if (n == 0) {
    return Status::Unavailable("side channel: no peer connected within " +
                               std::to_string(timeout.count()) + " ms");
  }
  const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return Status::FromErrno("side channel: accept", errno);
  return SideChannel::Adopt(fd);
}

Result<std::unique_ptr<SideChannel>> ConnectTcp(
    const IpAddress& ip, uint16_t port, std::chrono::milliseconds timeout) {
  sockaddr_storage ss;
  const socklen_t len = MakeSockaddr(ip, port, &ss);
  const std::string where = "side channel: connect " + Endpoint(ip, port);
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("side channel: socket", errno);
  // Adopt() owns 'fd' from here on, also when it fails (it closes it).
  Result<std::unique_ptr<SideChannel>> channel = SideChannel::Adopt(fd);
  if (!channel.ok()) return channel.status();
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno != EINPROGRESS) return Status::FromErrno(where, errno);
    pollfd pfd = {fd, POLLOUT, 0};
    const int n = poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (n == 0) {
      return Status::Unavailable(where + ": no answer within " +
                                 std::to_string(timeout.count()) + " ms");
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    if (n < 0) {
      err = errno;
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0) {
      err = errno;
    }
    if (err != 0) return Status::FromErrno(where, err);
  }
  return channel;
}

}  // namespace rdma_bond
