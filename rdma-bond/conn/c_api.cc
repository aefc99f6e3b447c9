// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The C API (rdma_bond/rdmabond.h) over Connection.

#include "rdma_bond/rdmabond.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <poll.h>
#include <string>
#include <utility>
#include <vector>

#include "rdma_bond/change_notifier.h"
#include "rdma_bond/connection.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/side_channel.h"
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"
#include "table/bond_discovery.h"

struct rdma_bond_rnic {
  rdma_bond::Rnic* rnic = nullptr;
  std::unique_ptr<rdma_bond::Rnic> owned;   // Set when opened here.
};

struct rdma_bond_conn {
  // The table first: destroyed after the connection.
  std::unique_ptr<rdma_bond::TableReader> reader;
  std::unique_ptr<rdma_bond::ChangeNotifier> notifier;
  std::string shm_path;
  rdma_bond::Bond bond;              // As last applied.
  uint64_t bond_changes = 0;
  std::unique_ptr<rdma_bond::Connection> conn;
  rdma_bond_message_cb* cb = nullptr;
  void* arg = nullptr;
  rdma_bond_write_cb* write_cb = nullptr;
  void* write_arg = nullptr;
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

// Applies a table change to 'c' if there is one.
Status Follow(rdma_bond_conn* c) {
  if (!c->notifier) return Status::OK();
  rdma_bond::TableEvents events = c->notifier->Consume();
  if (!events.any()) return Status::OK();
  if (events.restarted || events.removed) {
    auto reader = rdma_bond::TableReader::Open(c->shm_path);
    if (reader.ok()) c->reader = std::move(*reader);
  }
  auto snapshot = c->reader->Snapshot();
  if (!snapshot.ok()) return Status::OK();   // The writer may come back.
  const rdma_bond::Bond* bond = snapshot->FindBond(c->bond.name);
  if (bond == nullptr || *bond == c->bond) return Status::OK();
  c->bond = *bond;
  c->bond_changes++;
  return c->conn->UpdateBond(*bond, snapshot->table.hash_impl);
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
  auto handle = std::make_unique<rdma_bond_conn>();
  const rdma_bond::Bond* bond = nullptr;
  uint32_t hash_impl = 0;
  if (options->bond || options->follow_bond) {
    rdma_bond::BondDiscoveryOptions d;
    if (options->bond) d.bond = options->bond;
    if (options->shm_path) d.shm_path = options->shm_path;
    rdma_bond::Result<rdma_bond::DiscoveredBond> found =
        rdma_bond::DiscoverBond(*local, d);
    if (!found.ok()) return Fail(found.status());
    handle->shm_path = found->shm_path;
    handle->bond = found->bond;
    hash_impl = found->hash_impl;
    auto reader = rdma_bond::TableReader::Open(handle->shm_path);
    if (!reader.ok()) return Fail(reader.status());
    handle->reader = std::move(*reader);
    auto notifier = rdma_bond::ChangeNotifier::Start(handle->shm_path);
    if (!notifier.ok()) return Fail(notifier.status());
    handle->notifier = std::move(*notifier);
    bond = &handle->bond;
  }
  rdma_bond::Result<std::unique_ptr<rdma_bond::Connection>> conn =
      rdma_bond::Connection::Establish(std::move(*side), initiator != 0,
                                       std::move(list), bond, hash_impl, o);
  if (!conn.ok()) return Fail(conn.status(), -ETIMEDOUT);
  // No callbacks yet: what arrives is held until the application sets
  // them.
  handle->conn = std::move(*conn);
  *connp = handle.release();
  return 0;
}

void rdma_bond_conn_set_message_cb(struct rdma_bond_conn* conn,
                                   rdma_bond_message_cb* cb, void* arg) {
  conn->cb = cb;
  conn->arg = arg;
  if (cb == nullptr) {
    conn->conn->OnMessage(nullptr);
    return;
  }
  conn->conn->OnMessage([conn](std::span<const uint8_t> m) {
    conn->cb(conn->arg, m.data(), m.size());
  });
}

void rdma_bond_conn_set_write_cb(struct rdma_bond_conn* conn,
                                 rdma_bond_write_cb* cb, void* arg) {
  conn->write_cb = cb;
  conn->write_arg = arg;
  if (cb == nullptr) {
    conn->conn->OnWrite(nullptr);
    return;
  }
  conn->conn->OnWrite([conn](uint64_t offset, size_t length) {
    conn->write_cb(conn->write_arg, offset, length);
  });
}

int rdma_bond_conn_write(struct rdma_bond_conn* conn, const void* data,
                         size_t length, uint64_t remote_offset) {
  Status s = conn->conn->Write({static_cast<const uint8_t*>(data), length},
                               remote_offset);
  return s.ok() ? 0 : Fail(s, -EAGAIN);
}

void* rdma_bond_conn_write_region(struct rdma_bond_conn* conn,
                                  size_t* length) {
  std::span<uint8_t> region = conn->conn->write_region();
  if (length) *length = region.size();
  return region.data();
}

void rdma_bond_conn_get_stats(const struct rdma_bond_conn* conn,
                              struct rdma_bond_conn_stats* stats) {
  const rdma_bond::ConnectionStats s = conn->conn->stats();
  *stats = rdma_bond_conn_stats{};
  stats->messages_sent = s.messages_sent;
  stats->messages_delivered = s.messages_delivered;
  stats->duplicates_dropped = s.duplicates_dropped;
  stats->resent = s.resent;
  stats->repins = s.repins;
  stats->path_failures = s.path_failures;
  stats->bond_changes = conn->bond_changes;
  for (const rdma_bond::PathStats& p : s.paths) {
    stats->paths++;
    stats->paths_up += p.up ? 1 : 0;
    stats->paths_carrying += p.up && p.carries ? 1 : 0;
  }
}

int rdma_bond_conn_send(struct rdma_bond_conn* conn, const void* data,
                        size_t length) {
  Status s = conn->conn->Send(
      {static_cast<const uint8_t*>(data), length});
  return s.ok() ? 0 : Fail(s, -EAGAIN);
}

int rdma_bond_conn_progress(struct rdma_bond_conn* conn) {
  Status s = Follow(conn);
  if (!s.ok()) return Fail(s, -ECONNRESET);
  s = conn->conn->Progress();
  return s.ok() ? 0 : Fail(s, -ECONNRESET);
}

void rdma_bond_conn_wait(const struct rdma_bond_conn* conn, int timeout_ms) {
  if (!conn->notifier) {
    conn->conn->WaitForEvents(
        std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms));
    return;
  }
  // The connection's descriptors and the table's.
  std::vector<pollfd> fds;
  for (int fd : conn->conn->Fds()) fds.push_back({fd, POLLIN, 0});
  fds.push_back({conn->notifier->Fd(), POLLIN, 0});
  int64_t wait_ms = timeout_ms < 0 ? 0 : timeout_ms;
  const int64_t deadline_us = conn->conn->NextDeadlineUs();
  if (deadline_us >= 0) wait_ms = std::min(wait_ms, (deadline_us + 999) / 1000);
  (void)poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
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
  rdma_bond_rnic* handle = rdma_bond_rnic_wrap(rnic.get());
  if (handle) handle->owned = std::move(rnic);
  return handle;
}

int rdma_bond_c_api_fail(const rdma_bond::Status& status) {
  return Fail(status);
}
