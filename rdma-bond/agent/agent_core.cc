// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/agent_core.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "agent/probe_service.h"
#include "agent/roce_plumbing.h"
#include "common/hex.h"
#include "common/trusted_file.h"
#include "rnic/verbs/rdma_sysfs.h"
#include "rdma_bond/agent_client.h"
#include "rdma_bond/ovs_hash.h"

namespace rdma_bond::agent {
namespace {

uint64_t NowMs() { return MonotonicNowNs() / 1000000; }

}  // namespace

std::string_view ToString(QpVerdict::State state) {
  switch (state) {
    case QpVerdict::State::kPinned: return "pinned";
    case QpVerdict::State::kMispinned: return "MISPINNED";
    case QpVerdict::State::kStandby: return "not checked";
    case QpVerdict::State::kNoBond: return "no bond";
  }
  return "?";
}

Status PrepareAgentDirectory(const std::string& dir) {
  const std::string what = "agent directory " + dir;
  const std::string setup =
      "; run ovs-rdma-bond-agent-setup as root, which makes it the agent's";
  struct stat st;
  bool created = false;
  if (lstat(dir.c_str(), &st) < 0) {
    if (errno != ENOENT) return Status::FromErrno(what, errno);
    if (mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) {
      int error = errno;
      Status status = Status::FromErrno(what + ": mkdir", error);
      return error == EACCES || error == EPERM
                 ? status.WithHint("(run ovs-rdma-bond-agent-setup as root "
                                   "first: it creates the directory for the "
                                   "agent's user)")
                 : status;
    }
    if (lstat(dir.c_str(), &st) < 0) return Status::FromErrno(what, errno);
    created = true;
  }
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(
        what + (S_ISLNK(st.st_mode) ? ": is a symbolic link"
                                    : ": not a directory") +
        setup);
  }
  if (st.st_uid != geteuid()) {
    return Status::InvalidArgument(what + ": owned by " +
                                   DescribeUid(st.st_uid) +
                                   ", not by this agent's " +
                                   DescribeUid(geteuid()) + setup);
  }
  if (created && (st.st_mode & 07777) != 0755) {
    // The umask narrowed it; clients must be able to reach the socket.
    if (chmod(dir.c_str(), 0755) < 0) return Status::FromErrno(what, errno);
    st.st_mode = (st.st_mode & ~07777) | 0755;
  }
  return CheckTrustedFile("agent directory", dir, st, FileKind::kDirectory);
}

Result<std::unique_ptr<AgentCore>> AgentCore::Create(AgentOptions options) {
  if (options.table_path.empty()) options.table_path = DefaultTablePath();
  if (options.socket_path.empty() || options.summary_path.empty() ||
      (options.manage_roce && options.roce_state_path.empty())) {
    const std::string dir = DefaultAgentDirectory(options.table_path);
    Status status = PrepareAgentDirectory(dir);
    if (!status.ok()) return status;
    if (options.socket_path.empty()) {
      options.socket_path = DefaultAgentSocketPath(options.table_path);
    }
    if (options.summary_path.empty()) {
      options.summary_path = dir + "/" + std::string(kAgentSummaryName);
    }
    if (options.roce_state_path.empty()) {
      options.roce_state_path = dir + "/" + std::string(kRoceStateName);
    }
  }
  std::unique_ptr<AgentCore> core(new AgentCore(std::move(options)));
  AgentCore* self = core.get();

  RegistryServer::Options registry;
  registry.path = self->options_.socket_path;
  registry.policy = self->options_.policy;
  // Only root and the agent's user, unless users or groups are allowed:
  // then anyone may connect and HELLO checks SO_PEERCRED.
  registry.mode = registry.policy.allowed_uids.empty() &&
                          registry.policy.allowed_gids.empty()
                      ? 0600
                      : 0666;
  registry.paths = [self](const std::string& bond, const IpAddress& dst) {
    return self->PathsReply(bond, dst);
  };
  registry.changed = [self] { self->evaluate_pending_ = true; };
  registry.updated = [self](const QpRecord& qp, bool repinned,
                            bool repin_reported) {
    // Counters only for published bonds: clients name the bond, and
    // made-up names must not grow the agent's maps (issue 15, finding 3).
    if (self->snapshot_ && self->snapshot_->FindBond(qp.bond)) {
      BondCounters& c = self->counters_[qp.bond];
      if (repinned) c.repins++;
      if (repin_reported) c.last_repin_ns = qp.repin_ns;
    }
    if (self->probe_) self->probe_->AddPeer(qp.dst);
    self->host_qps_registered_.insert(
        HostQpKey(qp.rnic.substr(0, qp.rnic.find(':')), qp.qpn,
                  static_cast<uint32_t>(qp.pid)));
  };
  registry.load = [self](const QpRecord& qp, uint64_t bytes) {
    self->AccountLoad(qp, bytes);
  };
  registry.log = [self](int level, const std::string& message) {
    self->Log(level ? 2 : 1, message);
  };
  Result<std::unique_ptr<RegistryServer>> server =
      RegistryServer::Listen(std::move(registry));
  if (!server.ok()) return server.status();
  self->registry_ = std::move(*server);

  if (self->options_.device_counters.empty()) {
    self->options_.device_counters = "auto";
  }
  if (self->options_.device_counters != "auto" &&
      self->options_.device_counters != "off") {
    return Status::InvalidArgument("--device-counters " +
                                   self->options_.device_counters +
                                   ": want auto or off");
  }

  // Without the load table the agent works as before; ovs-vswitchd's
  // rebalancing then counts no RDMA load (and says so).
  if (self->options_.load_path.empty()) {
    self->options_.load_path = DirectoryOf(self->options_.socket_path) +
                               "/" + RDMA_BOND_LOAD_NAME;
  }
  Result<std::unique_ptr<LoadTable>> load =
      LoadTable::Create(self->options_.load_path, MonotonicNowNs());
  if (load.ok()) {
    self->load_table_ = std::move(*load);
  } else {
    self->load_table_error_ = load.status().message();
    self->Log(2, load.status().message() +
                     ": ovs-vswitchd will not see the RDMA load");
  }

  if (self->options_.probe) {
    ProbeService::Options probe;
    probe.log = self->options_.log;
    probe.peers = self->options_.peers;
    if (!self->options_.probe_key_file.empty()) {
      Result<std::vector<ProbeKey>> keys =
          ReadProbeKeyFile(self->options_.probe_key_file);
      if (!keys.ok()) return keys.status();
      probe.key_file = self->options_.probe_key_file;
      probe.keys = std::move(*keys);
    }
    probe.peer_idle_ms = self->options_.peer_idle_ms;
    if (!self->options_.probe_transport.empty()) {
      std::optional<ProbeTransport> transport =
          ParseProbeTransport(self->options_.probe_transport);
      if (!transport) {
        return Status::InvalidArgument(
            "--probe-transport " + self->options_.probe_transport +
            ": want auto, ud or af-packet");
      }
      probe.transport = *transport;
    }
    probe.in_use = [self](const IpAddress& peer) {
      for (const auto& [key, qp] : self->registry_->qps()) {
        if (qp.dst == peer) return true;
      }
      return false;
    };
    self->probe_ = std::make_unique<ProbeService>(std::move(probe));
  }
  if (self->options_.manage_roce) {
    RocePlumbing::Options roce;
    roce.state_path = self->options_.roce_state_path;
    roce.log = self->options_.log;
    roce.rdma_port = self->options_.rdma_port;
    roce.bridge_of = self->options_.bridge_of;
    roce.registered_rnics = [self] {
      std::set<std::string> rnics;
      for (const auto& [key, qp] : self->registry_->qps()) {
        rnics.insert(qp.rnic.substr(0, qp.rnic.find(':')));
      }
      return rnics;
    };
    Result<std::unique_ptr<RocePlumbing>> plumbing =
        RocePlumbing::Create(std::move(roce));
    if (!plumbing.ok()) {
      return Status::Unavailable("RoCE plumbing: " +
                                 plumbing.status().message() +
                                 " (--no-manage-roce leaves the host alone)");
    }
    self->roce_ = std::move(*plumbing);
  }
  self->TryAttach(NowMs());
  self->WriteSummary();
  return core;
}

AgentCore::AgentCore(AgentOptions options) : options_(std::move(options)) {}

AgentCore::~AgentCore() {
  Shutdown();
  probe_.reset();
  roce_.reset();
  notifier_.reset();
}

Status AgentCore::CleanupRoce() {
  return roce_ ? roce_->Cleanup() : Status::OK();
}

void AgentCore::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Scrapers must not keep seeing an attached agent that is gone.
  reader_.reset();
  snapshot_.reset();
  metrics_due_ms_ = 0;
  WriteMetrics(NowMs());
  unlink(options_.summary_path.c_str());
}

void AgentCore::Log(int level, const std::string& message) const {
  if (options_.log) options_.log(level, message);
}

void AgentCore::TryAttach(uint64_t now_ms) {
  next_attach_ms_ = now_ms + kAttachRetryMs;
  // The notifier first, then the reader: no change after the reader's
  // first snapshot can be missed (change_notifier.h).
  Result<std::unique_ptr<ChangeNotifier>> notifier =
      ChangeNotifier::Start(options_.table_path);
  Result<std::unique_ptr<TableReader>> reader =
      notifier.ok() ? TableReader::Open(options_.table_path)
                    : Result<std::unique_ptr<TableReader>>(notifier.status());
  if (!reader.ok()) {
    std::string why = reader.status().message();
    if (why != attach_error_) {
      Log(attach_error_.empty() && attaches_ ? 2 : 1,
          "waiting for the table: " + why);
      attach_error_ = why;
    }
    return;
  }
  notifier_ = std::move(*notifier);
  reader_ = std::move(*reader);
  attach_error_.clear();
  attaches_++;
  Log(1, "attached to " + options_.table_path + " (instance " +
             HexPrefixed(reader_->instance_id()) + ")");
  TakeSnapshot();
}

void AgentCore::Detach(const std::string& why) {
  Log(2, "detached from " + options_.table_path + ": " + why);
  notifier_.reset();
  reader_.reset();
  snapshot_.reset();
  predictors_.clear();
  attach_error_ = why;
  evaluate_pending_ = true;
  if (roce_) roce_->Update(std::nullopt);
}

void AgentCore::TakeSnapshot() {
  Result<TableSnapshot> snapshot = reader_->Snapshot();
  if (!snapshot.ok()) {
    Detach(snapshot.status().message());
    return;
  }
  std::optional<TableSnapshot> old = std::move(snapshot_);
  snapshot_ = std::move(*snapshot);
  writer_stale_ = snapshot_->health.stale;
  writer_exited_ = snapshot_->health.exited;
  predictors_.clear();
  predict_errors_.clear();
  for (const Bond& bond : snapshot_->bonds) {
    Predictor::Options popts;
    popts.accept_canonical_hash = true;  // Kernel regime: probing decides.
    Result<Predictor> predictor =
        Predictor::Create(bond, snapshot_->table.hash_impl, popts);
    if (predictor.ok()) {
      predictors_.emplace(bond.name, std::move(*predictor));
    } else {
      predict_errors_[bond.name] = predictor.status().message();
    }
  }
  if (old) NoteBondChanges(*old);
  if (probe_) probe_->Update(*snapshot_, predictors_);
  if (roce_) roce_->Update(snapshot_);
  evaluate_pending_ = true;
}

void AgentCore::NoteBondChanges(const TableSnapshot& old_snapshot) {
  for (const Bond& bond : snapshot_->bonds) {
    const Bond* before = old_snapshot.FindBond(bond.name);
    if (!before || before->generation == bond.generation) continue;
    bool failover = false;
    const Member* was = before->active();
    const Member* now = bond.active();
    if (bond.mode == BondMode::kActiveBackup && was && now &&
        was->name != now->name) {
      failover = true;
    }
    for (const Member& m : bond.members) {
      for (const Member& o : before->members) {
        if (o.name == m.name && o.enabled() && !m.enabled()) failover = true;
      }
    }
    if (failover) {
      BondCounters& c = counters_[bond.name];
      c.failovers++;
      c.pending_change_ns = bond.change_ns;
      Log(1, "bond " + bond.name + ": failover (generation " +
                 std::to_string(bond.generation) + ")");
    }
  }
}

QpVerdict AgentCore::Judge(const QpRecord& qp) const {
  QpVerdict verdict;
  if (!snapshot_) {
    verdict.reason = "not attached to the table";
    return verdict;
  }
  const Predictor* predictor = PredictorFor(qp.bond);
  if (!predictor) {
    auto error = predict_errors_.find(qp.bond);
    verdict.reason = error != predict_errors_.end()
                         ? error->second
                         : "bond \"" + qp.bond + "\" is not published";
    return verdict;
  }
  Result<FiveTuple> tuple = MakeUdpTuple(qp.src, qp.dst, qp.sport);
  if (!tuple.ok()) {
    verdict.reason = tuple.status().message();
    return verdict;
  }
  verdict.prediction = predictor->Predict(FlowKey(*tuple));
  const Prediction& p = verdict.prediction;
  const Bond& bond = predictor->bond();
  if (p.has_member() && p.member < bond.members.size()) {
    verdict.ovs_member = bond.members[p.member].name;
    if (p.hashed) {
      verdict.reason = "hash " + HexPrefixed(p.hash, 8) + ", bucket " +
                       std::to_string(p.bucket) + " -> member " +
                       verdict.ovs_member;
      if (!p.verified) {
        verdict.reason += " (by OVS's canonical hash: this datapath's own "
                          "hash cannot be reproduced; probing decides)";
      }
    } else {
      verdict.reason = "member " + verdict.ovs_member +
                       " carries every flow (" + std::string(ToString(
                           bond.mode)) + ")";
    }
  } else {
    verdict.reason = predictor->Reason(p);
  }
  if (qp.role != QpRole::kActive) {
    verdict.state = QpVerdict::State::kStandby;
  } else if (!verdict.ovs_member.empty() && verdict.ovs_member == qp.member) {
    verdict.state = QpVerdict::State::kPinned;
  } else {
    verdict.state = QpVerdict::State::kMispinned;
  }
  return verdict;
}

const Predictor* AgentCore::PredictorFor(const std::string& bond) const {
  auto it = predictors_.find(bond);
  return it == predictors_.end() ? nullptr : &it->second;
}

void AgentCore::Evaluate() {
  evaluate_pending_ = false;
  pinned_ = mispinned_ = 0;
  std::map<std::string, size_t> mispinned_by_bond;
  std::map<std::string, uint64_t> latest_update;
  for (const auto& [key, qp] : registry_->qps()) {
    QpVerdict verdict = Judge(qp);
    if (verdict.state == QpVerdict::State::kPinned) pinned_++;
    if (verdict.state == QpVerdict::State::kMispinned) {
      mispinned_++;
      mispinned_by_bond[qp.bond]++;
    }
    uint64_t& latest = latest_update[qp.bond];
    latest = std::max(latest, qp.updated_ns);
  }
  for (auto& [bond, c] : counters_) {
    if (!c.pending_change_ns || mispinned_by_bond[bond]) continue;
    uint64_t latest = latest_update[bond];
    c.last_gap_ns = latest > *c.pending_change_ns
                        ? latest - *c.pending_change_ns
                        : 0;
    c.pending_change_ns.reset();
  }
  WriteSummary();
}

void AgentCore::Run() {
  uint64_t now_ms = NowMs();
  if (!reader_ && now_ms >= next_attach_ms_) TryAttach(now_ms);
  if (notifier_) {
    TableEvents events = notifier_->Consume();
    if (events.restarted) {
      Result<Reattachment> re = reader_->Reattach();
      if (!re.ok()) {
        Detach(re.status().message());
      } else if (re->restarted) {
        restarts_++;
        Log(1, "ovs-vswitchd restarted (instance " +
                   HexPrefixed(re->old_instance_id) + " -> " +
                   HexPrefixed(re->new_instance_id) + "): reattached");
      }
    }
    if (events.removed) Log(2, "the table was removed; waiting for it");
    if (events.stale) Log(2, "the table's writer is stale (heartbeat "
                             "stopped)");
    if (events.fresh) Log(1, "the table's writer is alive again");
    if (events.exited) Log(1, "ovs-vswitchd exited cleanly");
    if (reader_ && (events.changed || events.restarted || events.stale ||
                    events.fresh || events.exited || events.removed)) {
      TakeSnapshot();
    }
  }
  registry_->Run();
  if (probe_) probe_->Run();
  if (roce_) roce_->Run();
  if (now_ms >= next_host_scan_ms_) {
    next_host_scan_ms_ = now_ms + kHostQpScanMs;
    ScanHostQps(/*warn=*/true);
  }
  if (evaluate_pending_) Evaluate();
  if (load_table_ && now_ms >= next_load_publish_ms_) PublishLoad();
  WriteMetrics(now_ms);
}

std::optional<std::pair<bool, uint8_t>> AgentCore::LoadPlace(
    const QpRecord& qp) const {
  const Predictor* predictor = PredictorFor(qp.bond);
  if (!predictor) return std::nullopt;
  bool member_known = false;
  for (const Member& m : predictor->bond().members) {
    member_known |= m.name == qp.member;
  }
  // Made-up names must not grow the agent's maps.
  if (!member_known) return std::nullopt;
  if (!qp.conn.empty()) {
    Result<FiveTuple> tuple = MakeUdpTuple(qp.src, qp.dst, qp.sport);
    if (tuple.ok()) {
      const Prediction p = predictor->Predict(FlowKey(*tuple));
      // The kernel datapath's bucket cannot be reproduced (only its
      // member is known, by probing): its load stays on the member.
      if (p.hashed && p.verified) return std::make_pair(true, p.bucket);
    }
  }
  return std::make_pair(false, uint8_t{0});
}

void AgentCore::AccountLoad(const QpRecord& qp, uint64_t bytes) {
  if (bytes == 0) return;
  std::optional<std::pair<bool, uint8_t>> place = LoadPlace(qp);
  if (!place) return;
  BondLoad& load = loads_[qp.bond];
  if (place->first) {
    load.buckets[place->second] += bytes;
  } else {
    load.pinned[qp.member] += bytes;
  }
  load.by_member[qp.member] += bytes;
}

// The drivers whose RoCE port counter counts the RDMA traffic only, not
// the Ethernet traffic that OVS already counts: mlx5's port_xmit_data is
// the function's vport "ib" octets (the kernel's mlx5 mad.c).
constexpr std::string_view kCountedDrivers[] = {"mlx5_core"};

void AgentCore::ReadDeviceCounters() {
  if (!snapshot_ || options_.device_counters == "off") return;
  RdmaSysfs sysfs(options_.sysfs_root);
  const uint64_t now_ms = NowMs();
  for (const Bond& bond : snapshot_->bonds) {
    if (!PredictorFor(bond.name)) continue;
    BondLoad& load = loads_[bond.name];
    std::map<std::string, MemberDeviceLoad> devices;
    for (const Member& m : bond.members) {
      MemberDeviceLoad d;
      if (auto it = load.devices.find(m.name); it != load.devices.end()) {
        d = std::move(it->second);
      }
      MemberDeviceLoad& dev = devices[m.name] = std::move(d);
      auto stop = [&dev](std::string why) {
        dev.error = std::move(why);
        dev.counting = false;
      };
      const std::string identity = m.Netdev() + " " + m.location.pci;
      if (identity != dev.identity ||
          (!dev.where && now_ms >= dev.next_resolve_ms)) {
        dev.identity = identity;
        dev.next_resolve_ms = now_ms + kDeviceResolveMs;
        Result<RdmaPortRef> port =
            sysfs.FindMemberRdmaPort(m.name, m.Netdev(), m.location.pci);
        if (port.ok()) {
          // Another port's counter starts again.
          if (dev.where != *port) dev.counting = false;
          dev.where = *port;
          dev.where_error.clear();
        } else {
          dev.where.reset();
          dev.where_error = "no RDMA device: " + port.status().message();
        }
      }
      if (!dev.where) {
        stop(dev.where_error);
        continue;
      }
      const RdmaPortRef* port = &*dev.where;
      Result<uint64_t> raw = sysfs.ReadPortXmitBytes(*port);
      if (!raw.ok()) {
        stop(raw.status().IsNotFound() ? "the device has no port counters"
                                       : raw.status().message());
        continue;
      }
      Result<std::string> driver = sysfs.ReadDeviceDriver(port->device);
      if (!driver.ok() ||
          std::find(std::begin(kCountedDrivers), std::end(kCountedDrivers),
                    *driver) == std::end(kCountedDrivers)) {
        stop("its driver (" + (driver.ok() ? *driver : "unknown") +
             ") is not known to count only RDMA in port_xmit_data");
        continue;
      }
      dev.error.clear();
      auto reported_it = load.by_member.find(m.name);
      const uint64_t reported =
          reported_it == load.by_member.end() ? 0 : reported_it->second;
      // A counter that went back (the device was reset) starts again.
      if (!dev.counting || *raw < dev.last_raw ||
          reported < dev.reported_base) {
        dev.counting = true;
        dev.last_raw = *raw;
        dev.reported_base = reported;
        dev.epoch_tx = dev.epoch_unreported = 0;
        continue;
      }
      const uint64_t sent = *raw - dev.last_raw;
      dev.last_raw = *raw;
      dev.epoch_tx += sent;
      dev.tx_bytes += sent;
      // The most the device ever sent beyond the reports: reports that
      // come late (each QP's once a second) are not counted twice.
      const uint64_t reported_since = reported - dev.reported_base;
      if (dev.epoch_tx > reported_since &&
          dev.epoch_tx - reported_since > dev.epoch_unreported) {
        const uint64_t more =
            dev.epoch_tx - reported_since - dev.epoch_unreported;
        dev.epoch_unreported += more;
        dev.unreported += more;
        load.pinned[m.name] += more;
      }
    }
    load.devices = std::move(devices);
  }
}

void AgentCore::PublishLoad() {
  next_load_publish_ms_ = NowMs() + kLoadPublishMs;
  // Every published bond has a record, zeros until RDMA is counted: to
  // ovs-vswitchd "no RDMA" is a load, not a missing table.
  if (snapshot_) {
    for (const Bond& bond : snapshot_->bonds) {
      if (PredictorFor(bond.name)) loads_[bond.name];
    }
  }
  // Bonds no longer published are dropped, the others counted afresh.
  for (auto it = loads_.begin(); it != loads_.end();) {
    if (PredictorFor(it->first)) {
      it->second.movable_qps = it->second.pinned_qps = 0;
      ++it;
    } else {
      it = loads_.erase(it);
    }
  }
  ReadDeviceCounters();
  for (const auto& [key, qp] : registry_->qps()) {
    if (!qp.tx_reported) continue;
    std::optional<std::pair<bool, uint8_t>> place = LoadPlace(qp);
    if (!place) continue;
    BondLoad& load = loads_[qp.bond];
    (place->first ? load.movable_qps : load.pinned_qps)++;
  }
  if (load_table_) load_table_->Publish(loads_, MonotonicNowNs());
}

int AgentCore::Wait(std::vector<int>* fds) {
  registry_->AppendFds(fds);
  if (notifier_) fds->push_back(notifier_->Fd());
  uint64_t now_ms = NowMs();
  uint64_t sleep_ms = std::min<uint64_t>(kMaxSleepMs, registry_->SleepMs());
  if (!reader_) {
    sleep_ms = std::min<uint64_t>(
        sleep_ms, next_attach_ms_ > now_ms ? next_attach_ms_ - now_ms : 0);
  }
  if (probe_) {
    probe_->AppendFds(fds);
    sleep_ms = std::min<uint64_t>(sleep_ms, probe_->SleepMs());
  }
  if (roce_) {
    roce_->AppendFds(fds);
    sleep_ms = std::min<uint64_t>(sleep_ms, roce_->SleepMs());
  }
  if (evaluate_pending_) sleep_ms = 0;
  return static_cast<int>(sleep_ms);
}

std::string AgentCore::PathsReply(const std::string& bond,
                                  const IpAddress& dst) {
  if (!probe_) return "END\n";
  probe_->AddPeer(dst);
  return probe_->PathsReply(bond, dst);
}

void AgentCore::WriteSummary() {
  std::ostringstream s;
  s << "pid=" << getpid() << "\n";
  s << "attached=" << (reader_ ? "yes" : "no") << "\n";
  if (reader_) {
    char id[32];
    std::snprintf(id, sizeof id, "%#" PRIx64, reader_->instance_id());
    s << "instance=" << id << "\n";
  }
  s << "qps=" << registry_->qps().size() << "\n";
  s << "qps_pinned=" << pinned_ << "\n";
  s << "qps_mispinned=" << mispinned_ << "\n";
  std::optional<uint64_t> repin;
  for (const auto& [bond, c] : counters_) {
    if (c.last_repin_ns) repin = std::max(repin.value_or(0), *c.last_repin_ns);
  }
  if (repin) s << "last_repin_us=" << *repin / 1000 << "\n";
  std::string text = s.str();
  if (text == summary_written_) return;
  Status status = WriteAtomically(options_.summary_path, text);
  if (!status.ok()) {
    Log(2, "summary: " + status.message());
    return;
  }
  summary_written_ = text;
}

void AgentCore::WriteMetrics(uint64_t now_ms) {
  if (options_.metrics_file.empty() || now_ms < metrics_due_ms_) return;
  metrics_due_ms_ = now_ms + kMaxSleepMs;
  std::string text = MetricsText();
  if (text == metrics_written_) return;
  Status status = WriteAtomically(options_.metrics_file, text);
  if (!status.ok()) {
    constexpr uint64_t kRepeatLogMs = 60 * 1000;
    if (status.message() != metrics_error_ ||
        now_ms - metrics_error_logged_ms_ >= kRepeatLogMs) {
      std::string line = "metrics: " + status.message();
      if (metrics_error_repeats_ > 0 && status.message() == metrics_error_) {
        line += " (" + std::to_string(metrics_error_repeats_) +
                " more times since the last report)";
      }
      Log(2, line);
      metrics_error_ = status.message();
      metrics_error_logged_ms_ = now_ms;
      metrics_error_repeats_ = 0;
    } else {
      metrics_error_repeats_++;
    }
    return;
  }
  if (!metrics_error_.empty()) {
    Log(1, "metrics: " + options_.metrics_file + " written again");
    metrics_error_.clear();
    metrics_error_repeats_ = 0;
  }
  metrics_written_ = text;
}

void AgentCore::ScanHostQps(bool warn) {
  if (!rdma_netlink_) {
    Result<RdmaNetlink> nl = RdmaNetlink::Open();
    if (!nl.ok()) {
      host_qps_error_ = nl.status().message();
      host_qps_.clear();
      if (roce_) roce_->SetBusyRnics(std::nullopt);
      return;
    }
    rdma_netlink_.emplace(std::move(*nl));
  }
  Result<HostRdmaResources> res = rdma_netlink_->Read();
  if (!res.ok()) {
    if (host_qps_error_ != res.status().message()) {
      Log(2, "cannot list the host's QPs: " + res.status().message());
    }
    host_qps_error_ = res.status().message();
    host_qps_.clear();
    rdma_netlink_.reset();
    if (roce_) roce_->SetBusyRnics(std::nullopt);
    return;
  }
  host_qps_error_.clear();
  // The probe service's own UD QPs are neither an application's QPs nor
  // a reason to leave an RNIC's GIDs alone.
  if (probe_) {
    const std::set<std::string> own = probe_->OwnQps();
    std::erase_if(res->qps, [&own](const HostQp& qp) {
      return own.count(qp.device + ":" + std::to_string(qp.lqpn)) > 0;
    });
  }
  if (roce_) {
    std::set<std::string> busy;
    for (const HostQp& qp : res->qps) {
      if (qp.type >= kQpTypeRc) busy.insert(qp.device);
    }
    roce_->SetBusyRnics(std::move(busy));
  }
  HostQpInputs in;
  in.resources = &*res;
  in.snapshot = snapshot_ ? &*snapshot_ : nullptr;
  in.predictors = &predictors_;
  in.registered = [this](const std::string& rnic,
                         uint32_t qpn) -> const QpRecord* {
    for (const auto& [key, qp] : registry_->qps()) {
      if (qp.qpn == qpn && qp.rnic.substr(0, qp.rnic.find(':')) == rnic) {
        return &qp;
      }
    }
    return nullptr;
  };
  in.addresses = [](const std::string& netdev) {
    return InterfaceIpv4Addresses(netdev);
  };
  host_qps_ = ClassifyHostQps(in);
  if (!warn) return;
  const uint64_t now_ms = NowMs();
  if (now_ms >= host_warning_minute_ms_ + 60000) {
    if (host_warnings_suppressed_) {
      Log(2, std::to_string(host_warnings_suppressed_) +
                 " more mispinned QPs were not named (at most " +
                 std::to_string(kHostQpWarningsPerMinute) +
                 " a minute): see rdma-bond/qps --all");
    }
    host_warning_minute_ms_ = now_ms;
    host_warnings_this_minute_ = 0;
    host_warnings_suppressed_ = 0;
  }
  std::set<std::string> current;
  for (const HostQpView& v : host_qps_) {
    if (v.managed || v.state != HostQpView::State::kMispinned) continue;
    const std::string key = HostQpKey(v.qp.device, v.qp.lqpn, v.qp.pid);
    current.insert(key);
    if (host_qps_warned_.count(key)) continue;
    if (host_warnings_this_minute_ >= kHostQpWarningsPerMinute) {
      host_warnings_suppressed_++;
      continue;
    }
    host_warnings_this_minute_++;
    host_qps_warned_.insert(key);
    Log(2, "QP " + HexPrefixed(v.qp.lqpn, 6) + " on " + v.qp.device +
               " of " +
               (v.qp.pid ? "pid " + std::to_string(v.qp.pid) : "the kernel") +
               " (" + EscapeControl(v.qp.comm) + ") is mispinned on bond " +
               v.bond + ": " + v.why + "; " + v.effect);
  }
  // A QP that is gone (or fixed) may be named again if it comes back.
  std::erase_if(host_qps_warned_,
                [&](const std::string& k) { return !current.count(k); });

  // QPs of a process that registers others, made past the preload.  Seen
  // in two scans in a row: a QP is registered a moment after it reaches
  // RTR, and the scan may fall in between.
  std::set<uint32_t> pids;
  for (const auto& [key, qp] : registry_->qps()) {
    if (qp.pid > 0) pids.insert(static_cast<uint32_t>(qp.pid));
  }
  std::set<std::string> alive;
  for (const HostQp& qp : res->qps) {
    alive.insert(HostQpKey(qp.device, qp.lqpn, qp.pid));
  }
  std::erase_if(host_qps_registered_,
                [&](const std::string& k) { return !alive.count(k); });
  std::map<std::string, int> seen;
  for (const HostQpView* v :
       BypassedQps(host_qps_, pids, host_qps_registered_)) {
    const std::string key = HostQpKey(v->qp.device, v->qp.lqpn, v->qp.pid);
    auto before = host_qps_bypassed_.find(key);
    const int count = before == host_qps_bypassed_.end() ? 1
                                                         : before->second + 1;
    seen[key] = count;
    if (count != 2) continue;
    Log(2, "QP " + HexPrefixed(v->qp.lqpn, 6) + " on " + v->qp.device +
               " of pid " + std::to_string(v->qp.pid) + " (" +
               EscapeControl(v->qp.comm) + ") is not managed, though that "
               "process registers other QPs: it was made past "
               "librdmabond-preload (libibverbs bound with dlopen and dlvsym, "
               "DEVX, or a static libibverbs) and is not pinned");
  }
  host_qps_bypassed_ = std::move(seen);
}

Result<std::string> AgentCore::Command(const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::InvalidArgument("no command");
  const std::string& name = argv[0];
  if (name == "show") return ShowText();
  if (name == "qps") {
    if (std::find(argv.begin(), argv.end(), "--all") != argv.end()) {
      return HostQpsText(argv);
    }
    return QpsText(argv);
  }
  if (name == "explain") {
    Result<std::string> text = ExplainText(argv);
    if (text.ok() || !text.status().IsNotFound()) return text;
    return ExplainHostQpText(argv[1]);
  }
  if (name == "paths") return PathsText(argv);
  if (name == "metrics") return MetricsText();
  return Status::InvalidArgument("unknown command " + name);
}

}  // namespace rdma_bond::agent
