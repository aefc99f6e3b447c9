// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's client connection: a refused connect is retried for a
// while, so that a client started just before its server gets in.

#include "tools/perf/perf_net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

namespace rdma_bond {
namespace {

// A loopback TCP socket bound to a free port but not listening yet:
// connecting to it is refused until Listen().
class LateServer {
 public:
  LateServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
  }
  ~LateServer() { close(fd_); }
  uint16_t port() const { return port_; }
  void Listen() { ASSERT_EQ(listen(fd_, 4), 0); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(PerfNetTest, RefusedConnectionIsRetriedUntilTheServerListens) {
  LateServer server;
  std::thread late([&server] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server.Listen();
  });
  Result<int> fd = ConnectTcp("127.0.0.1", server.port(), 10000);
  late.join();
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  close(*fd);
}

TEST(PerfNetTest, RefusedConnectionFailsOnceTheRetryTimeIsOver) {
  LateServer server;                // Never listens.
  for (int retry_ms : {0, 300}) {
    Result<int> fd = ConnectTcp("127.0.0.1", server.port(), retry_ms);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.status().errno_value(), ECONNREFUSED);
    EXPECT_NE(fd.status().ToString().find("rdma-bond-perf --server"),
              std::string::npos)
        << fd.status().ToString();
  }
}

}  // namespace
}  // namespace rdma_bond
