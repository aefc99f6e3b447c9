// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The C API (rdma_bond/rdmabond.h) over Connection.

#include "rdma_bond/rdmabond.h"

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rdma_bond/connection.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/side_channel.h"
#include "rdma_bond/status.h"

struct rdma_bond_rnic {
  rdma_bond::Rnic* rnic = nullptr;
  std::unique_ptr<rdma_bond::Rnic> owned;   // Set when opened here.
};

struct rdma_bond_conn {
  std::unique_ptr<rdma_bond::Connection> conn;
  rdma_bond_message_cb* cb = nullptr;
  void* arg = nullptr;
};

namespace {

using rdma_bond::Status;

thread_local std::string last_error;

// Records 'status' as the last error and returns its code: 'unavailable'
// is what Unavailable means for the calling function.
int Fail(const Status& status, int unavailable = -EAGAIN) {
  last_error = status.ToString();
  switch (status.code()) {
    case Status::Code::kOk: return 0;
    case Status::Code::kInvalidArgument: return -EINVAL;
    case Status::Code::kNotFound: return -ENOENT;
    case Status::Code::kCorruption: return -EPROTO;
    case Status::Code::kNotSupported: return -EPROTO;
    case Status::Code::kUnavailable: return unavailable;
    case Status::Code::kIOError:
      return status.errno_value() ? -status.errno_value() : -EIO;
  }
  return -EIO;
}

int FailText(std::string text, int code) {
  last_error = std::move(text);
  return code;
}

}  // namespace

extern "C" {

void rdma_bond_conn_options_init(struct rdma_bond_conn_options* options) {
  *options = rdma_bond_conn_options{};
}

void rdma_bond_rnic_close(struct rdma_bond_rnic* rnic) { delete rnic; }

int rdma_bond_conn_create(int sock, int initiator,
                          struct rdma_bond_rnic* const* rnics,
                          size_t n_rnics,
                          const struct rdma_bond_conn_options* options,
                          struct rdma_bond_conn** connp) {
  if (connp) *connp = nullptr;
  rdma_bond::Result<std::unique_ptr<rdma_bond::SideChannel>> side =
      rdma_bond::SideChannel::Adopt(sock);
  if (!side.ok()) return Fail(side.status());
  if (!connp || !options || !rnics || n_rnics == 0 || !options->local_ip ||
      !options->remote_ip) {
    return FailText(
        "rdma_bond_conn_create: connp, options (with local_ip and "
        "remote_ip) and at least one RNIC are required",
        -EINVAL);
  }
  rdma_bond::ConnectionOptions o;
  rdma_bond::Result<rdma_bond::IpAddress> local =
      rdma_bond::ParseIpAddress(options->local_ip);
  if (!local.ok()) return Fail(local.status());
  rdma_bond::Result<rdma_bond::IpAddress> remote =
      rdma_bond::ParseIpAddress(options->remote_ip);
  if (!remote.ok()) return Fail(remote.status());
  o.local = *local;
  o.remote = *remote;
  if (options->max_message_size) o.max_message_size = options->max_message_size;
  if (options->send_window) o.send_window = options->send_window;
  if (options->recv_buffers) o.recv_buffers = options->recv_buffers;
  if (options->write_region_size) {
    o.write_region_size = static_cast<size_t>(options->write_region_size);
  }
  if (options->probe_timeout_ms) {
    o.probe_timeout = std::chrono::milliseconds(options->probe_timeout_ms);
  }
  if (options->establish_timeout_ms) {
    o.establish_timeout =
        std::chrono::milliseconds(options->establish_timeout_ms);
  }
  o.spread_key = options->spread_key;
  std::vector<rdma_bond::Rnic*> list;
  for (size_t i = 0; i < n_rnics; i++) {
    if (!rnics[i] || !rnics[i]->rnic) {
      return FailText("rdma_bond_conn_create: RNIC " + std::to_string(i) +
                          " is NULL",
                      -EINVAL);
    }
    list.push_back(rnics[i]->rnic);
  }
  rdma_bond::Result<std::unique_ptr<rdma_bond::Connection>> conn =
      rdma_bond::Connection::Establish(std::move(*side), initiator != 0,
                                       std::move(list), nullptr, 0, o);
  if (!conn.ok()) return Fail(conn.status(), -ETIMEDOUT);
  auto* handle = new rdma_bond_conn;
  handle->conn = std::move(*conn);
  handle->conn->OnMessage([handle](std::span<const uint8_t> m) {
    if (handle->cb) handle->cb(handle->arg, m.data(), m.size());
  });
  *connp = handle;
  return 0;
}

void rdma_bond_conn_set_message_cb(struct rdma_bond_conn* conn,
                                   rdma_bond_message_cb* cb, void* arg) {
  conn->cb = cb;
  conn->arg = arg;
}

int rdma_bond_conn_send(struct rdma_bond_conn* conn, const void* data,
                        size_t length) {
  Status s = conn->conn->Send(
      {static_cast<const uint8_t*>(data), length});
  return s.ok() ? 0 : Fail(s, -EAGAIN);
}

int rdma_bond_conn_progress(struct rdma_bond_conn* conn) {
  Status s = conn->conn->Progress();
  return s.ok() ? 0 : Fail(s, -ECONNRESET);
}

void rdma_bond_conn_wait(const struct rdma_bond_conn* conn, int timeout_ms) {
  conn->conn->WaitForEvents(
      std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms));
}

size_t rdma_bond_conn_in_flight(const struct rdma_bond_conn* conn) {
  return conn->conn->InFlight();
}

int rdma_bond_conn_close(struct rdma_bond_conn* conn, int timeout_ms) {
  Status s = conn->conn->Close(
      std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms));
  return s.ok() ? 0 : Fail(s, -ETIMEDOUT);
}

void rdma_bond_conn_destroy(struct rdma_bond_conn* conn) { delete conn; }

const char* rdma_bond_last_error(void) { return last_error.c_str(); }

}  // extern "C"

struct rdma_bond_rnic* rdma_bond_rnic_wrap(rdma_bond::Rnic* rnic) {
  if (!rnic) return nullptr;
  auto* handle = new rdma_bond_rnic;
  handle->rnic = rnic;
  return handle;
}

struct rdma_bond_rnic* rdma_bond_rnic_adopt(
    std::unique_ptr<rdma_bond::Rnic> rnic) {
  if (!rnic) return nullptr;
  auto* handle = new rdma_bond_rnic;
  handle->rnic = rnic.get();
  handle->owned = std::move(rnic);
  return handle;
}

int rdma_bond_c_api_fail(const rdma_bond::Status& status) {
  return Fail(status);
}
