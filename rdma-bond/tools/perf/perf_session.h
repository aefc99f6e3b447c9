// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's session: one side of a run.
#ifndef RDMA_BOND_PERF_SESSION_H_
#define RDMA_BOND_PERF_SESSION_H_

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/agent_client.h"
#include "rdma_bond/change_notifier.h"
#include "rdma_bond/connection.h"
#include "rdma_bond/side_channel.h"
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"
#include "rnic/emulated/emulated_rnic.h"
#include "rnic/rnic_mux.h"
#include "table/bond_discovery.h"
#include "tools/perf/perf_backend.h"
#include "tools/perf/perf_options.h"

namespace rdma_bond {

// One side of a run: the bond, its RNICs, the connections and their bond
// watcher.
class Session {
 public:
  Session(const Options& options) : options_(options) {}

  // Finds the bond of 'local', opens the RNICs and starts following the
  // table.
  Status Open(const IpAddress& local) {
    local_ = local;
    if (!options_.side_channel_key.empty()) {
      Result<std::vector<uint8_t>> key =
          ReadSideChannelKey(options_.side_channel_key);
      if (!key.ok()) return key.status();
      side_channel_key_ = std::move(*key);
    }
    if (!options_.netdevs.empty()) {
      return OpenWithoutBond();
    }
    BondDiscoveryOptions d;
    d.bond = options_.bond;
    d.shm_path = options_.shm;
    Result<DiscoveredBond> found = DiscoverBond(local, d);
    if (!found.ok()) {
      return found.status();
    }
    found_ = *found;
    if (Status status = OpenRnics(); !status.ok()) {
      return status;
    }
    Result<std::unique_ptr<TableReader>> reader =
        TableReader::Open(found_.shm_path);
    if (!reader.ok()) {
      return reader.status();
    }
    reader_ = std::move(*reader);
    ChangeNotifierOptions notifier_options;
    Result<std::unique_ptr<ChangeNotifier>> notifier =
        ChangeNotifier::Start(found_.shm_path, notifier_options);
    if (!notifier.ok()) {
      return notifier.status();
    }
    notifier_ = std::move(*notifier);
    OpenAgent();
    return Status::OK();
  }

  // Registers with the ovs-rdma-bond-agent whose socket is next to the
  // table (or --agent-socket), unless --no-agent.  A missing socket is
  // silent; any other failure is one warning line, and the run goes on
  // (the client tries again later: agent_client.h).
  void OpenAgent() {
    if (options_.no_agent) {
      return;
    }
    const std::string path = options_.agent_socket.empty()
                                 ? DefaultAgentSocketPath(found_.shm_path)
                                 : options_.agent_socket;
    AgentClientOptions agent_options;
    agent_options.name = "rdma-bond-perf";
    if (options_.agent_timeout_ms != 0) {
      agent_options.timeout =
          std::chrono::milliseconds(options_.agent_timeout_ms);
    }
    auto agent = std::make_unique<AgentClient>(agent_options);
    Status status = agent->Connect(path);
    if (status.IsNotFound()) {
      return;
    }
    if (!status.ok()) {
      std::fprintf(stderr,
                   "rdma-bond-perf: warning: %s (going on without the "
                   "agent)\n",
                   status.ToString().c_str());
    }
    agent_ = std::move(agent);
  }

  // "connected", "absent" (no socket, --no-agent or --netdev), or
  // "refused: " and why the agent cannot be used now.
  std::string agent_state() const {
    if (agent_ == nullptr) {
      return "absent";
    }
    if (agent_->connected()) {
      return "connected";
    }
    return "refused: " + agent_->last_error().message();
  }

  // --netdev: RNICs on the named interfaces, no bond and no table: every
  // path carries, source ports are spread.
  Status OpenWithoutBond() {
    Result<std::pair<std::string, MacAddress>> iface =
        FindInterfaceOf(local_);
    if (!iface.ok()) {
      return iface.status();
    }
    found_.interface = iface->first;
    // A MAC of the RNIC's own, not the interface's: frames to it reach the
    // interface as "other host" and the host's stack ignores them, as it
    // never sees what a real RNIC takes off the wire (otherwise it would
    // answer every frame with an ICMP port unreachable).
    found_.mac = iface->second;
    found_.mac[0] |= 0x02;     // Locally administered.
    found_.mac[5] ^= 0x5a;
    found_.bond.name = "";
    for (const std::string& netdev : options_.netdevs) {
      Member member;
      member.name = netdev;
      found_.bond.members.push_back(member);
    }
    if (Status status = OpenRnics(); !status.ok()) {
      return status;
    }
    return Status::OK();
  }

  bool has_bond() const { return reader_ != nullptr; }

 private:
  // The backend's RNIC of every member of 'found_', each behind a mux.
  Status OpenRnics() {
    Result<std::vector<std::unique_ptr<Rnic>>> rnics =
        OpenBackend(options_.backend, found_, local_);
    if (!rnics.ok()) {
      return rnics.status();
    }
    rnics_ = std::move(*rnics);
    for (auto& rnic : rnics_) {
      muxes_.push_back(std::make_unique<RnicMux>(rnic.get()));
    }
    return Status::OK();
  }

 public:

  // Sets up one connection over the TCP socket 'fd' (taken).
  Status Connect(int fd, bool initiator, const IpAddress& remote,
                 uint64_t index) {
    Result<std::unique_ptr<SideChannel>> side = SideChannel::Adopt(fd);
    if (!side.ok()) {
      close(fd);
      return side.status();
    }
    ConnectionOptions co;
    co.local = local_;
    co.remote = remote;
    if (options_.ack_timeout_us != 0) {
      co.qp.ack_timeout_us = options_.ack_timeout_us;
    }
    // The data messages, and the findings the server sends back.
    co.max_message_size = static_cast<uint32_t>(
        std::max<size_t>(options_.size, kControlMessageSize));
    co.spread_key = index * 7919 + (initiator ? 1 : 0);
    co.side_channel_key = side_channel_key_;
    co.agent = agent_.get();
    co.member_shares = options_.shares;
    if (options_.trace) {
      // One line per event, with its CLOCK_MONOTONIC time, so that it can
      // be matched with the stalls of the server's timeline.
      co.trace = [index, initiator](std::string_view what) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        std::fprintf(stderr, "%lld.%09ld %s connection %llu: %.*s\n",
                     static_cast<long long>(ts.tv_sec), ts.tv_nsec,
                     initiator ? "client" : "server",
                     static_cast<unsigned long long>(index),
                     static_cast<int>(what.size()), what.data());
      };
    }
    // Keep the connections already made running meanwhile: the peer may
    // need one of them to answer before it gets to this one.
    co.while_establishing = [this] { KeepAlive(); };
    // Each connection sees the RNICs through views of its own, so that
    // it gets its own completions only.
    std::vector<Rnic*> rnics;
    views_.emplace_back();
    for (size_t m = 0; m < muxes_.size(); m++) {
      // --baseline: one QP, on member (index mod members) of each host, as
      // an application that knows nothing of the bond places it.
      if (options_.baseline && m != index % muxes_.size()) continue;
      views_.back().push_back(muxes_[m]->NewView());
      rnics.push_back(views_.back().back().get());
    }
    co.fixed_source_port = options_.baseline;
    const Bond* bond = nullptr;
    if (reader_ && !options_.baseline) {
      bond = &found_.bond;
      Result<TableSnapshot> snapshot = reader_->Snapshot();
      if (snapshot.ok() && snapshot->FindBond(found_.bond.name) != nullptr) {
        found_.bond = *snapshot->FindBond(found_.bond.name);
        found_.hash_impl = snapshot->table.hash_impl;
      }
    }
    Result<std::unique_ptr<Connection>> conn = Connection::Establish(
        std::move(*side), initiator, rnics, bond, found_.hash_impl, co);
    if (!conn.ok()) {
      return conn.status().WithPrefix("connection " +
                                      std::to_string(index));
    }
    remote_ = remote;
    conns_.push_back(std::move(*conn));
    connected_ns_ = NowNs();
    return Status::OK();
  }

  // --inject-fatal AT:FOR: every local emulated RNIC fails AT s after the
  // last connection was set up, and recovers FOR s later.
  void InjectFaults() {
    if (options_.fatal_at_s < 0 || connected_ns_ == 0 || fatal_end_ns_ != 0) {
      return;
    }
    const uint64_t now = NowNs();
    const double t = double(now - connected_ns_) / 1e9;
    if (fatal_start_ns_ == 0 && t >= options_.fatal_at_s) {
      fatal_start_ns_ = now;
      for (auto& rnic : rnics_) {
        if (auto* e = dynamic_cast<EmulatedRnic*>(rnic.get())) {
          e->InjectFatalError();
        }
      }
    } else if (fatal_start_ns_ != 0 &&
               t >= options_.fatal_at_s + options_.fatal_for_s) {
      fatal_end_ns_ = now;
      for (auto& rnic : rnics_) {
        if (auto* e = dynamic_cast<EmulatedRnic*>(rnic.get())) {
          e->RecoverFromFatalError();
        }
      }
    }
  }
  // CLOCK_MONOTONIC of the injected failure and of the recovery; 0: not
  // (yet).
  uint64_t fatal_start_ns() const { return fatal_start_ns_; }
  uint64_t fatal_end_ns() const { return fatal_end_ns_; }

  // Keeps the connections made so far running (while a new one is set
  // up).  Their errors surface at the next Step().
  void KeepAlive() {
    (void)Follow();
    for (auto& conn : conns_) {
      (void)conn->Progress();
    }
  }

  // Follows the table: on a change, hands the new bond to every connection.
  Status Follow() {
    if (!notifier_) {
      return Status::OK();   // Not open yet.
    }
    TableEvents events = notifier_->Consume();
    if (!events.any()) {
      return Status::OK();
    }
    if (events.restarted || events.removed) {
      Result<std::unique_ptr<TableReader>> reader =
          TableReader::Open(found_.shm_path);
      if (reader.ok()) {
        reader_ = std::move(*reader);
      }
    }
    Result<TableSnapshot> snapshot = reader_->Snapshot();
    if (!snapshot.ok()) {
      return Status::OK();  // Kept: the writer may come back.
    }
    const Bond* bond = snapshot->FindBond(found_.bond.name);
    if (bond == nullptr || *bond == found_.bond || options_.baseline) {
      return Status::OK();
    }
    found_.bond = *bond;
    found_.hash_impl = snapshot->table.hash_impl;
    bond_changes_++;
    for (auto& conn : conns_) {
      if (Status s = conn->UpdateBond(*bond, found_.hash_impl); !s.ok()) {
        return s;
      }
    }
    return Status::OK();
  }

  // Progress on everything; sleeps up to 'max_wait_us' unless busy-polling.
  Status Step(int max_wait_us) {
    InjectFaults();
    if (Status s = Follow(); !s.ok()) {
      return s;
    }
    for (auto& conn : conns_) {
      if (Status s = conn->Progress(); !s.ok()) {
        return s;
      }
    }
    if (options_.busy_poll || max_wait_us <= 0) {
      return Status::OK();
    }
    std::vector<pollfd> fds;
    int64_t wait_us = max_wait_us;
    for (auto& conn : conns_) {
      for (int fd : conn->Fds()) {
        fds.push_back({fd, POLLIN, 0});
      }
      const int64_t d = conn->NextDeadlineUs();
      if (d >= 0) {
        wait_us = std::min(wait_us, d);
      }
    }
    if (notifier_) {
      fds.push_back({notifier_->Fd(), POLLIN, 0});
    }
    if (wait_us > 0) {
      poll(fds.data(), fds.size(), static_cast<int>((wait_us + 999) / 1000));
    }
    return Status::OK();
  }

  std::vector<std::unique_ptr<Connection>>& conns() { return conns_; }
  const DiscoveredBond& found() const { return found_; }
  const std::vector<std::unique_ptr<Rnic>>& rnics() const { return rnics_; }
  const IpAddress& local() const { return local_; }
  const IpAddress& remote() const { return remote_; }
  uint64_t bond_changes() const { return bond_changes_; }

 private:
  const Options& options_;
  IpAddress local_;
  IpAddress remote_;
  DiscoveredBond found_;
  std::vector<uint8_t> side_channel_key_;  // --side-channel-key's bytes.
  // Destroyed in reverse: connections, the agent client, their views, the
  // muxes, the RNICs.
  std::vector<std::unique_ptr<Rnic>> rnics_;
  std::vector<std::unique_ptr<RnicMux>> muxes_;
  std::vector<std::vector<std::unique_ptr<Rnic>>> views_;
  std::unique_ptr<TableReader> reader_;
  std::unique_ptr<ChangeNotifier> notifier_;
  std::unique_ptr<AgentClient> agent_;
  std::vector<std::unique_ptr<Connection>> conns_;
  uint64_t bond_changes_ = 0;
  uint64_t connected_ns_ = 0;
  uint64_t fatal_start_ns_ = 0, fatal_end_ns_ = 0;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PERF_SESSION_H_
