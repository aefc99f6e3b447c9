// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// AgentCore's answers to people and to Prometheus: "rdma-bond/show",
// "rdma-bond/qps", "rdma-bond/explain", "rdma-bond/paths" and the metrics.

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <sstream>

#include "agent/agent_core.h"
#include "agent/probe_service.h"
#include "agent/roce_plumbing.h"
#include "agent/report_text.h"
#include "common/hex.h"

namespace rdma_bond::agent {
namespace {

std::string Qpn(uint32_t qpn) { return HexPrefixed(qpn, 6); }

std::string Duration(uint64_t ns) {
  char buf[32];
  if (ns < 10000000) {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " us", ns / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64 " ms", ns / 1000000);
  }
  return buf;
}

// Parses "[PID:][RNIC:]QPN", for example "0x12", "4242:0x12" or
// "4242:rxe0:18".
bool ParseQpArg(const std::string& text, std::optional<pid_t>* pid,
                std::optional<std::string>* rnic, uint32_t* qpn) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) return false;
  char* end;
  unsigned long value = std::strtoul(parts.back().c_str(), &end, 0);
  if (parts.back().empty() || *end || value > 0xffffff) return false;
  *qpn = static_cast<uint32_t>(value);
  if (parts.size() == 1) return true;
  long first = std::strtol(parts[0].c_str(), &end, 10);
  bool numeric = !parts[0].empty() && !*end && first > 0;
  if (parts.size() == 3) {
    if (!numeric || parts[1].empty()) return false;
    *pid = static_cast<pid_t>(first);
    *rnic = parts[1];
  } else if (numeric) {
    *pid = static_cast<pid_t>(first);
  } else {
    if (parts[0].empty()) return false;
    *rnic = parts[0];
  }
  return true;
}

}  // namespace

std::string AgentCore::ShowText() const {
  std::ostringstream s;
  s << "table: " << options_.table_path;
  if (reader_ && snapshot_) {
    const TableInfo& t = snapshot_->table;
    s << " (attached, instance " << HexPrefixed(t.instance_id)
      << ", ovs-vswitchd pid " << t.writer_pid << ", heartbeat "
      << snapshot_->health.heartbeat_age_ms << " ms ago" << (writer_stale_ ? ", STALE" : "")
      << (writer_exited_ ? ", writer exited" : "") << ")\n";
  } else {
    s << " (not attached: " << attach_error_ << ")\n";
  }
  s << "vswitchd restarts followed: " << restarts_ << "\n";
  size_t active = 0, standby = 0;
  for (const auto& [key, qp] : registry_->qps()) {
    (qp.role == QpRole::kActive ? active : standby)++;
  }
  s << "registry: " << registry_->path() << ", " << registry_->clients()
    << " clients, " << registry_->refused() << " refused\n";
  s << "QPs: " << registry_->qps().size() << " (" << active << " active: "
    << pinned_ << " pinned, " << mispinned_ << " mispinned; " << standby
    << " standby or down)\n";
  if (load_table_) {
    s << "load table: " << load_table_->path() << " (for "
      << "rdma-bond-rebalance)\n";
  } else {
    s << "load table: none (" << load_table_error_ << ")\n";
  }
  for (const auto& [bond, load] : loads_) {
    s << "RDMA load of " << bond << ": " << load.movable_total() / 1024
      << " kB in buckets (" << load.movable_qps << " QPs that follow "
      << "their bucket), " << load.pinned_total() / 1024
      << " kB pinned (" << load.pinned_qps << " QPs); by member:";
    for (const auto& [member, bytes] : load.by_member) {
      s << " " << member << " " << bytes / 1024 << " kB";
    }
    s << "\n";
    for (const auto& [member, dev] : load.devices) {
      s << "  device counter of " << member << ": ";
      if (dev.where) s << dev.port() << " ";
      if (!dev.error.empty()) {
        s << "not counted (" << dev.error << ")";
        if (dev.tx_bytes) {
          s << "; before: sent " << dev.tx_bytes / 1024 << " kB, "
            << dev.unreported / 1024 << " kB unreported";
        }
      } else {
        s << "sent " << dev.tx_bytes / 1024 << " kB, "
          << dev.unreported / 1024 << " kB of it reported by no QP "
          << "(counted as pinned)";
      }
      s << "\n";
    }
  }
  if (!host_qps_error_.empty()) {
    s << "host QPs: cannot list them (RDMA netlink): " << host_qps_error_
      << "\n";
  } else {
    std::map<HostQpView::State, size_t> by_state;
    size_t on_bonds = 0, managed = 0;
    for (const HostQpView& v : host_qps_) {
      if (v.bond.empty()) continue;
      on_bonds++;
      by_state[v.state]++;
      if (v.managed) managed++;
    }
    s << "host QPs: " << host_qps_.size() << " (RDMA netlink), " << on_bonds
      << " on bond members: " << by_state[HostQpView::State::kPinned]
      << " pinned, " << by_state[HostQpView::State::kMispinned]
      << " mispinned, " << by_state[HostQpView::State::kUnknown]
      << " unknown, " << by_state[HostQpView::State::kNotSending]
      << " not sending; " << managed
      << " managed (rdma-bond/qps --all)\n";
  }
  for (const auto& [bond, c] : counters_) {
    s << "bond " << bond << ": failovers " << c.failovers << ", re-pins "
      << c.repins << ", last re-pin delay "
      << (c.last_repin_ns ? Duration(*c.last_repin_ns) : "none")
      << ", last failover re-pin gap "
      << (c.pending_change_ns ? "pending"
          : c.last_gap_ns    ? Duration(*c.last_gap_ns)
                             : "none")
      << "\n";
  }
  s << "probing: " << (probe_ ? probe_->Summary() : "off") << "\n";
  if (probe_) {
    ProbeService::PeerCounts peers = probe_->Peers();
    s << "peers: " << peers.configured << " configured, " << peers.learned
      << " learned (limit " << kMaxLearnedPeers << ", idle ones expire after "
      << peers.idle_ms / 1000 << " s), " << peers.refused << " refused\n";
  }
  if (roce_) {
    s << roce_->ShowText();
  } else {
    s << "RoCE plumbing: off (--no-manage-roce)\n";
  }
  return s.str();
}

Result<std::string> AgentCore::QpsText(
    const std::vector<std::string>& argv) const {
  std::string bond_filter = argv.size() > 1 ? argv[1] : "";
  std::vector<std::vector<std::string>> rows = {
      {"QPN", "PID", "CLIENT", "BOND", "MEMBER", "ROLE", "SPORT", "DST",
       "OVS", "STATE"}};
  std::vector<const QpRecord*> qps;
  for (const auto& [key, qp] : registry_->qps()) {
    if (bond_filter.empty() || qp.bond == bond_filter) qps.push_back(&qp);
  }
  std::sort(qps.begin(), qps.end(), [](const QpRecord* a, const QpRecord* b) {
    return std::tie(a->bond, a->qpn, a->pid) < std::tie(b->bond, b->qpn, b->pid);
  });
  for (const QpRecord* qp : qps) {
    QpVerdict v = Judge(*qp);
    rows.push_back({Qpn(qp->qpn), std::to_string(qp->pid),
                    EscapeControl(qp->client_name), qp->bond, qp->member,
                    std::string(ToString(qp->role)),
                    std::to_string(qp->sport), ToString(qp->dst),
                    v.ovs_member.empty() ? "-" : v.ovs_member,
                    std::string(ToString(v.state))});
  }
  return Columns(rows);
}

Result<std::string> AgentCore::ExplainText(
    const std::vector<std::string>& argv) const {
  if (argv.size() != 2) {
    return Status::InvalidArgument("usage: rdma-bond/explain QP (a QP number "
                                   "such as 0x12, or PID:QPN)");
  }
  std::optional<pid_t> pid;
  std::optional<std::string> rnic;
  uint32_t qpn = 0;
  if (!ParseQpArg(argv[1], &pid, &rnic, &qpn)) {
    return Status::InvalidArgument("\"" + argv[1] + "\" is not a QP (0x12, "
                                   "PID:0x12, RNIC:0x12 or PID:RNIC:0x12)");
  }
  std::vector<const QpRecord*> matches;
  for (const auto& [key, qp] : registry_->qps()) {
    if (qp.qpn == qpn && (!pid || qp.pid == *pid) &&
        (!rnic || qp.rnic == *rnic)) {
      matches.push_back(&qp);
    }
  }
  if (matches.empty()) {
    return Status::NotFound("no registered QP " + argv[1] +
                            " (see rdma-bond/qps)");
  }
  if (matches.size() > 1) {
    std::string which;
    for (const QpRecord* qp : matches) {
      which += " " + std::to_string(qp->pid) + ":" +
               (qp->rnic.empty() ? "" : qp->rnic + ":") + Qpn(qp->qpn);
    }
    return Status::InvalidArgument("several QPs are " + argv[1] +
                                   "; name one:" + which);
  }
  const QpRecord& qp = *matches[0];
  QpVerdict v = Judge(qp);
  std::ostringstream s;
  s << "QP " << Qpn(qp.qpn) << " of pid " << qp.pid << " ("
    << EscapeControl(qp.client_name) << ")";
  if (!qp.conn.empty()) s << ", connection " << qp.conn;
  if (!qp.path.empty()) s << ", path " << qp.path;
  s << "\n";
  Result<FiveTuple> tuple = MakeUdpTuple(qp.src, qp.dst, qp.sport);
  s << "5-tuple: " << (tuple.ok() ? ToString(*tuple) : "?") << "\n";
  s << "hosted on: member " << qp.member;
  if (!qp.rnic.empty()) s << " (RNIC " << qp.rnic << ")";
  s << ", role " << ToString(qp.role) << "\n";
  const Predictor* predictor = PredictorFor(qp.bond);
  if (predictor) {
    const Bond& bond = predictor->bond();
    s << "bond: " << bond.name << " (" << ToString(bond.mode) << ", hash "
      << "regime " << ToString(bond.regime) << ", basis " << bond.basis
      << ", generation " << bond.generation << ")\n";
    s << "OVS: " << v.reason << "\n";
  } else {
    s << "bond: " << qp.bond << ": " << v.reason << "\n";
  }
  s << "verdict: ";
  switch (v.state) {
    case QpVerdict::State::kPinned:
      s << "pinned: OVS sends this 5-tuple out of " << v.ovs_member
        << ", the member that hosts the QP\n";
      break;
    case QpVerdict::State::kMispinned:
      s << "MISPINNED: the QP is on " << qp.member << " but OVS would use "
        << (v.ovs_member.empty() ? "no member" : v.ovs_member)
        << " (the application has not re-pinned yet)\n";
      break;
    case QpVerdict::State::kStandby:
      s << "not checked: the QP is " << ToString(qp.role)
        << " and sends nothing\n";
      break;
    case QpVerdict::State::kNoBond:
      s << "not checked: " << v.reason << "\n";
      break;
  }
  if (probe_) s << "probing: " << probe_->Explain(qp) << "\n";
  s << "registered " << Duration(MonotonicNowNs() - qp.registered_ns)
    << " ago; " << qp.updates << " updates, " << qp.repins << " re-pins";
  if (qp.repin_ns) s << ", last re-pin " << Duration(*qp.repin_ns)
                     << " after the bond change";
  s << "\n";
  return s.str();
}

Result<std::string> AgentCore::PathsText(
    const std::vector<std::string>& argv) const {
  if (!probe_) return std::string("probing is off (--no-probe)\n");
  std::optional<IpAddress> peer;
  if (argv.size() > 1) {
    Result<IpAddress> ip = ParseIpAddress(argv[1]);
    if (!ip.ok()) return ip.status();
    peer = *ip;
  }
  return probe_->Text(peer);
}

std::string AgentCore::MetricsText() const {
  std::ostringstream s;
  auto help = [&](const char* name, const char* type, const char* text) {
    s << "# HELP " << name << " " << text << "\n# TYPE " << name << " "
      << type << "\n";
  };
  help("rdma_bond_agent_attached", "gauge",
       "1 if the agent follows the table of ovs-vswitchd.");
  s << "rdma_bond_agent_attached " << (reader_ ? 1 : 0) << "\n";
  help("rdma_bond_agent_vswitchd_restarts_total", "counter",
       "Restarts of ovs-vswitchd the agent reattached after.");
  s << "rdma_bond_agent_vswitchd_restarts_total " << restarts_ << "\n";
  help("rdma_bond_agent_registry_clients", "gauge",
       "Applications connected to the registry socket.");
  s << "rdma_bond_agent_registry_clients " << registry_->clients() << "\n";
  help("rdma_bond_agent_registrations_refused_total", "counter",
       "Registry clients refused by the access policy.");
  s << "rdma_bond_agent_registrations_refused_total " << registry_->refused()
    << "\n";

  // QPs by bond, member and state.
  std::map<std::tuple<std::string, std::string, std::string>, size_t> qps;
  std::map<std::string, size_t> mispinned;
  // Clients name bond and member: only published ones become label values,
  // so that made-up names cannot grow the scrape without bound.
  size_t unknown = 0;
  for (const auto& [key, qp] : registry_->qps()) {
    const Bond* bond = snapshot_ ? snapshot_->FindBond(qp.bond) : nullptr;
    if (!bond || std::none_of(bond->members.begin(), bond->members.end(),
                              [&](const Member& m) {
                                return m.name == qp.member;
                              })) {
      unknown++;
      continue;
    }
    QpVerdict v = Judge(qp);
    std::string state = v.state == QpVerdict::State::kPinned      ? "pinned"
                        : v.state == QpVerdict::State::kMispinned ? "mispinned"
                        : v.state == QpVerdict::State::kStandby
                            ? std::string(ToString(qp.role))
                            : "unknown";
    qps[{qp.bond, qp.member, state}]++;
    mispinned[qp.bond] += v.state == QpVerdict::State::kMispinned;
  }
  help("rdma_bond_qps", "gauge",
       "Registered QPs by bond, member and state (pinned, mispinned, "
       "standby, down, unknown).");
  for (const auto& [key, n] : qps) {
    s << "rdma_bond_qps{bond=\"" << LabelValue(std::get<0>(key)) << "\",member=\""
      << LabelValue(std::get<1>(key)) << "\",state=\"" << std::get<2>(key)
      << "\"} " << n << "\n";
  }
  help("rdma_bond_qps_unknown", "gauge",
       "Registered QPs whose bond or member ovs-vswitchd does not publish.");
  s << "rdma_bond_qps_unknown " << unknown << "\n";
  help("rdma_bond_qps_mispinned", "gauge",
       "Active QPs whose member is not the one OVS uses for their 5-tuple.");
  if (snapshot_) {
    for (const Bond& bond : snapshot_->bonds) mispinned[bond.name] += 0;
  }
  for (const auto& [bond, n] : mispinned) {
    s << "rdma_bond_qps_mispinned{bond=\"" << LabelValue(bond) << "\"} " << n
      << "\n";
  }
  if (snapshot_) {
    help("rdma_bond_member_enabled", "gauge",
         "1 if OVS has the bond member enabled.");
    for (const Bond& bond : snapshot_->bonds) {
      for (const Member& m : bond.members) {
        s << "rdma_bond_member_enabled{bond=\"" << LabelValue(bond.name)
          << "\",member=\"" << LabelValue(m.name) << "\"} " << m.enabled() << "\n";
      }
    }
    help("rdma_bond_member_active", "gauge",
         "1 for the active member of an active-backup bond.");
    for (const Bond& bond : snapshot_->bonds) {
      for (const Member& m : bond.members) {
        bool active = bond.active() && bond.active()->name == m.name;
        s << "rdma_bond_member_active{bond=\"" << LabelValue(bond.name)
          << "\",member=\"" << LabelValue(m.name) << "\"} " << active << "\n";
      }
    }
  }
  help("rdma_bond_failovers_total", "counter",
       "Active member changes and members disabled, seen in the table.");
  for (const auto& [bond, c] : counters_) {
    s << "rdma_bond_failovers_total{bond=\"" << LabelValue(bond) << "\"} "
      << c.failovers << "\n";
  }
  help("rdma_bond_repins_total", "counter",
       "QP re-registrations that changed the QP's member or source port.");
  for (const auto& [bond, c] : counters_) {
    s << "rdma_bond_repins_total{bond=\"" << LabelValue(bond) << "\"} "
      << c.repins << "\n";
  }
  help("rdma_bond_last_repin_seconds", "gauge",
       "Table change to re-pin, as the last re-pinning application "
       "reported it.");
  for (const auto& [bond, c] : counters_) {
    if (!c.last_repin_ns) continue;
    s << "rdma_bond_last_repin_seconds{bond=\"" << LabelValue(bond) << "\"} "
      << *c.last_repin_ns / 1e9 << "\n";
  }
  help("rdma_bond_last_failover_gap_seconds", "gauge",
       "Last failover: from the table's change to the last re-pin that "
       "brought the bond's mispinned QPs back to zero (control plane).");
  for (const auto& [bond, c] : counters_) {
    if (!c.last_gap_ns) continue;
    s << "rdma_bond_last_failover_gap_seconds{bond=\"" << LabelValue(bond)
      << "\"} " << *c.last_gap_ns / 1e9 << "\n";
  }
  if (probe_) s << probe_->Metrics();
  help("rdma_bond_host_qps", "gauge",
       "Every QP on the host that sits on a published bond's member (RDMA "
       "netlink), by verdict and by whether the agent manages it "
       "(registered).");
  {
    std::map<std::tuple<std::string, std::string, std::string, bool>, size_t>
        counts;
    for (const HostQpView& v : host_qps_) {
      if (v.bond.empty()) continue;
      std::string state(ToString(v.state));
      std::transform(state.begin(), state.end(), state.begin(), ::tolower);
      std::replace(state.begin(), state.end(), ' ', '_');
      counts[{v.bond, v.member, state, v.managed}]++;
    }
    for (const auto& [key, n] : counts) {
      const auto& [bond, member, state, managed] = key;
      s << "rdma_bond_host_qps{bond=\"" << LabelValue(bond) << "\",member=\""
        << LabelValue(member) << "\",state=\"" << state << "\",managed=\""
        << (managed ? "true" : "false") << "\"} " << n << "\n";
    }
  }
  if (roce_) {
    help("rdma_bond_roce_plumbing_complete", "gauge",
         "Whether the agent's RoCE plumbing of the bond is complete (1), "
         "or incomplete or refused (0); bonds without RDMA devices are "
         "left out.");
    for (const auto& [bond, status] : roce_->last_plan().bonds) {
      if (!status.active) continue;
      s << "rdma_bond_roce_plumbing_complete{bond=\"" << LabelValue(bond)
        << "\"} "
        << (status.refused.empty() && status.missing.empty() ? 1 : 0)
        << "\n";
    }
    help("rdma_bond_roce_plumbing_actions_total", "counter",
         "Changes the RoCE plumbing made to the host, by result.");
    s << "rdma_bond_roce_plumbing_actions_total{result=\"applied\"} "
      << roce_->actions_applied() << "\n"
      << "rdma_bond_roce_plumbing_actions_total{result=\"failed\"} "
      << roce_->actions_failed() << "\n";
  }

  // The RDMA load (load_table.h), for ovs-vswitchd's rebalancing.
  help("rdma_bond_load_table", "gauge",
       "1 if the agent writes the load table that ovs-vswitchd's "
       "rdma-bond-rebalance reads.");
  s << "rdma_bond_load_table " << (load_table_ ? 1 : 0) << "\n";
  help("rdma_bond_rdma_bytes_total", "counter",
       "Bytes the registered QPs were handed to send (LOAD), by bond and "
       "the member they left on.");
  for (const auto& [bond, load] : loads_) {
    for (const auto& [member, bytes] : load.by_member) {
      s << "rdma_bond_rdma_bytes_total{bond=\"" << LabelValue(bond)
        << "\",member=\"" << LabelValue(member) << "\"} " << bytes << "\n";
    }
  }
  help("rdma_bond_rdma_load_bytes_total", "counter",
       "Of those, the bytes counted in the bond's buckets (QPs that follow "
       "their bucket: kind movable) and those that no bucket move shifts "
       "(kind pinned, with the bytes of the members' device counters that "
       "no QP reported).");
  help("rdma_bond_rdma_load_qps", "gauge",
       "QPs whose bytes the load table counts, by kind.");
  for (const auto& [bond, load] : loads_) {
    const std::string b = LabelValue(bond);
    s << "rdma_bond_rdma_load_bytes_total{bond=\"" << b
      << "\",kind=\"movable\"} " << load.movable_total() << "\n"
      << "rdma_bond_rdma_load_bytes_total{bond=\"" << b
      << "\",kind=\"pinned\"} " << load.pinned_total() << "\n"
      << "rdma_bond_rdma_load_qps{bond=\"" << b << "\",kind=\"movable\"} "
      << load.movable_qps << "\n"
      << "rdma_bond_rdma_load_qps{bond=\"" << b << "\",kind=\"pinned\"} "
      << load.pinned_qps << "\n";
  }
  help("rdma_bond_device_tx_bytes_total", "counter",
       "Bytes the member's RDMA device port sent (its port_xmit_data), "
       "counted since the agent first read it; only devices whose counter "
       "counts RDMA alone (mlx5).");
  help("rdma_bond_rdma_unreported_bytes_total", "counter",
       "Of those, the bytes that no registered QP reported (READ "
       "responses, ACKs, headers, kernel consumers, programs without the "
       "preload): the member's pinned load.");
  help("rdma_bond_device_counter_up", "gauge",
       "1 if the member's device counter was read at the last publication "
       "of the load; 0 if not (rdma-bond/show says why).");
  for (const auto& [bond, load] : loads_) {
    for (const auto& [member, dev] : load.devices) {
      const std::string labels = "{bond=\"" + LabelValue(bond) +
                                 "\",member=\"" + LabelValue(member) + "\"";
      s << "rdma_bond_device_counter_up" << labels << "} "
        << (dev.error.empty() ? 1 : 0) << "\n";
      if (!dev.where) continue;
      s << "rdma_bond_device_tx_bytes_total" << labels << ",port=\""
        << LabelValue(dev.port()) << "\"} " << dev.tx_bytes << "\n"
        << "rdma_bond_rdma_unreported_bytes_total" << labels << "} "
        << dev.unreported << "\n";
    }
  }
  return s.str();
}

Result<std::string> AgentCore::HostQpsText(
    const std::vector<std::string>& argv) {
  std::string bond_filter;
  for (size_t i = 1; i < argv.size(); i++) {
    if (argv[i] != "--all") bond_filter = argv[i];
  }
  ScanHostQps(/*warn=*/false);
  if (!host_qps_error_.empty()) {
    return Status::Unavailable("cannot list the host's QPs (RDMA netlink): " +
                               host_qps_error_);
  }
  std::vector<HostQpView> views;
  for (const HostQpView& v : host_qps_) {
    if (bond_filter.empty() || v.bond == bond_filter) views.push_back(v);
  }
  return HostQpsTable(views);
}

Result<std::string> AgentCore::ExplainHostQpText(const std::string& arg) {
  std::optional<pid_t> pid;
  std::optional<std::string> rnic;
  uint32_t qpn = 0;
  if (!ParseQpArg(arg, &pid, &rnic, &qpn)) {
    return Status::InvalidArgument("\"" + arg + "\" is not a QP (0x12, "
                                   "PID:0x12, RNIC:0x12 or PID:RNIC:0x12)");
  }
  ScanHostQps(/*warn=*/false);
  std::vector<const HostQpView*> matches;
  for (const HostQpView& v : host_qps_) {
    if (v.qp.lqpn == qpn && (!pid || static_cast<pid_t>(v.qp.pid) == *pid) &&
        (!rnic || v.qp.device == *rnic)) {
      matches.push_back(&v);
    }
  }
  if (matches.empty()) {
    return Status::NotFound("no QP " + arg + " on this host (see rdma-bond/qps "
                            "--all)" +
                            (host_qps_error_.empty()
                                 ? ""
                                 : "; RDMA netlink: " + host_qps_error_));
  }
  if (matches.size() > 1) {
    std::string which;
    for (const HostQpView* v : matches) {
      which += " " + v->qp.device + ":" + HexPrefixed(v->qp.lqpn, 6);
    }
    return Status::InvalidArgument("several QPs are " + arg + "; name one:" +
                                   which);
  }
  return ExplainHostQp(*matches[0]);
}

}  // namespace rdma_bond::agent
