// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/perf/perf_net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace rdma_bond {

namespace {
constexpr int kListenBacklog = 64;   // rdma-bond-perf --qps at most.
}  // namespace

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

Status SetNoDelay(int fd) {
  const int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    return Status::FromErrno("setsockopt(TCP_NODELAY)", errno);
  }
  return Status::OK();
}

Result<std::string> ReadLine(int fd, int timeout_ms,
                             const std::function<void()>& idle) {
  std::string line;
  const uint64_t deadline = NowNs() + uint64_t(timeout_ms) * 1000000;
  while (line.size() < 256) {
    pollfd p{fd, POLLIN, 0};
    if (int64_t(deadline - NowNs()) <= 0) {
      return Status::Unavailable("the peer sent no preamble within " +
                                 std::to_string(timeout_ms) + " ms");
    }
    if (poll(&p, 1, 1) == 0) {
      if (idle) idle();
      continue;
    }
    char c;
    const ssize_t n = read(fd, &c, 1);
    if (n == 0) {
      return Status::Unavailable("the peer closed the connection");
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status::FromErrno("read", errno);
    }
    if (c == '\n') {
      return line;
    }
    line += c;
  }
  return Status::Corruption("the peer's preamble is too long");
}

Status WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

namespace {

// One attempt over every address of HOST.
Result<int> ConnectOnce(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    return Status::NotFound("cannot resolve \"" + host +
                            "\": " + gai_strerror(rc));
  }
  Status last = Status::NotFound("no address for \"" + host + "\"");
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
      last = Status::FromErrno("socket", errno);
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      break;
    }
    last = Status::FromErrno("connect to " + host + " port " + service,
                             errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(list);
  if (fd < 0) {
    return last;
  }
  if (Status s = SetNoDelay(fd); !s.ok()) {
    close(fd);
    return s;
  }
  return fd;
}

}  // namespace

Result<int> ConnectTcp(const std::string& host, uint16_t port,
                       int retry_ms) {
  const uint64_t deadline = NowNs() + uint64_t(retry_ms) * 1000000;
  for (;;) {
    Result<int> fd = ConnectOnce(host, port);
    if (fd.ok()) return fd;
    // Refused: the server may still be starting.
    if (fd.status().errno_value() != ECONNREFUSED ||
        int64_t(deadline - NowNs()) <= 0) {
      return fd.status().WithHint(
          "(is \"rdma-bond-perf --server\" running there?)");
    }
    usleep(100 * 1000);
  }
}

Result<int> Listen(const std::string& local, uint16_t port) {
  const bool v6 = local.find(':') != std::string::npos;
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
                        0);
  if (fd < 0) {
    return Status::FromErrno("socket", errno);
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, local.c_str(), &in6->sin6_addr) != 1) {
      close(fd);
      return Status::InvalidArgument("--local: \"" + local +
                                     "\" is not an IP address");
    }
    len = sizeof *in6;
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (!local.empty() &&
        inet_pton(AF_INET, local.c_str(), &in->sin_addr) != 1) {
      close(fd);
      return Status::InvalidArgument("--local: \"" + local +
                                     "\" is not an IP address");
    }
    len = sizeof *in;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      listen(fd, kListenBacklog) != 0) {
    Status s = Status::FromErrno("listen on port " + std::to_string(port),
                                 errno);
    close(fd);
    return s;
  }
  return fd;
}

Result<IpAddress> SocketAddress(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) {
    return Status::FromErrno(peer ? "getpeername" : "getsockname", errno);
  }
  char text[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, text,
              sizeof text);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr,
              text, sizeof text);
  }
  return ParseIpAddress(text);
}

}  // namespace rdma_bond
