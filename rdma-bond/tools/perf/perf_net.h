// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's side-channel sockets: TCP connections on which the
// tool exchanges a one-line preamble before handing the socket to a
// Connection.
#ifndef RDMA_BOND_PERF_NET_H_
#define RDMA_BOND_PERF_NET_H_

#include <cstdint>
#include <functional>
#include <string>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// CLOCK_MONOTONIC in nanoseconds.
uint64_t NowNs();

Status SetNoDelay(int fd);

// Reads one line (the preamble) with a timeout, calling 'idle' (if any)
// about every millisecond meanwhile: the connections already made must
// keep running (an RNIC makes progress only when polled, and the peer may
// be waiting for one of them before it answers).
Result<std::string> ReadLine(int fd, int timeout_ms,
                             const std::function<void()>& idle = {});

Status WriteAll(int fd, const std::string& text);

// A connected TCP socket to HOST:PORT (TCP_NODELAY), or why not.  A
// refused connection is tried again every 100 ms for RETRY_MS (the server
// may still be starting); other errors return at once.
Result<int> ConnectTcp(const std::string& host, uint16_t port, int retry_ms);

// A listening socket on LOCAL (all addresses if empty), PORT.
Result<int> Listen(const std::string& local, uint16_t port);

// The local (peer = false) or remote address of a connected socket.
Result<IpAddress> SocketAddress(int fd, bool peer);

}  // namespace rdma_bond

#endif  // RDMA_BOND_PERF_NET_H_
