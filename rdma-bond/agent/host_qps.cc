// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/host_qps.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <tuple>

#include "agent/report_text.h"
#include "common/hex.h"
#include "rdma_bond/ovs_hash.h"
#include "rdma_bond/roce.h"

namespace rdma_bond::agent {
namespace {

// The rdma_cm ID that connects 'qp', if any.
const HostCmId* CmIdOf(const HostRdmaResources& res, const HostQp& qp) {
  for (const HostCmId& cm : res.cm_ids) {
    if (cm.device == qp.device && cm.lqpn && *cm.lqpn == qp.lqpn) return &cm;
  }
  return nullptr;
}

// Whether 'cm' is the passive side: a listening ID has its local port.
bool IsPassive(const HostRdmaResources& res, const HostCmId& cm) {
  for (const HostCmId& other : res.cm_ids) {
    if (other.state == kCmStateListen && other.src_port == cm.src_port &&
        (!other.src || !cm.src || other.src == cm.src ||
         other.src->bytes == IpAddress{}.bytes)) {
      return true;
    }
  }
  return false;
}

bool Sends(const HostQp& qp) {
  return (qp.type == kQpTypeRc || qp.type == kQpTypeUc) &&
         (qp.state == kQpStateRts || qp.state == kQpStateSqd);
}

std::string TupleText(const HostQpView& v) {
  if (!v.tuple) return "-";
  std::string out = ToString(v.tuple->src) + ":" + std::to_string(v.tuple->sport) +
                    ">";
  out += v.dst_known ? ToString(v.tuple->dst) : std::string("?");
  return out;
}

void Judge(const HostQpInputs& in, HostQpView* v) {
  const Bond* bond = in.snapshot ? in.snapshot->FindBond(v->bond) : nullptr;
  if (!bond) {
    v->state = HostQpView::State::kNoBond;
    v->why = v->member.empty()
                 ? "its RDMA port has no netdev"
                 : "netdev " + v->member + " is not a member of a published bond";
    return;
  }
  if (!Sends(v->qp)) {
    v->state = HostQpView::State::kNotSending;
    v->why = QpTypeName(v->qp.type) + " in " + QpStateName(v->qp.state) +
             ": sends nothing of its own to judge";
    return;
  }
  if (bond->mode == BondMode::kActiveBackup) {
    const Member* active = bond->active();
    if (!active) {
      v->state = HostQpView::State::kUnknown;
      v->why = "bond " + bond->name + " has no active member";
      return;
    }
    v->ovs_member = active->name;
    if (active->name == v->member) {
      v->state = HostQpView::State::kPinned;
      v->why = "active-backup: " + active->name +
               ", the active member, carries every flow";
    } else {
      v->state = HostQpView::State::kMispinned;
      v->why = "active-backup: OVS sends every flow on " + active->name +
               ", the active member; this QP's RNIC is behind " + v->member;
      v->effect = "every frame it sends leaves " + v->member +
                  ", the standby: the switch learns the host's MAC on " +
                  v->member + "'s port (MAC moves, flapping) and sends the "
                  "host's traffic there until OVS's own frames move it back";
    }
    return;
  }
  if (!v->tuple || !v->dst_known) {
    v->state = HostQpView::State::kUnknown;
    v->why = std::string(ToString(bond->mode)) +
             ": OVS's member depends on the 5-tuple, and its destination is "
             "unknown (not an rdma_cm QP, not registered: RDMA netlink does "
             "not show a QP's address vector)";
    return;
  }
  const Predictor* predictor = nullptr;
  if (in.predictors) {
    auto it = in.predictors->find(bond->name);
    if (it != in.predictors->end()) predictor = &it->second;
  }
  if (!predictor) {
    v->state = HostQpView::State::kUnknown;
    v->why = "no prediction for bond " + bond->name;
    return;
  }
  Prediction p = predictor->Predict(FlowKey(*v->tuple));
  if (!p.has_member() || p.member >= bond->members.size()) {
    v->state = HostQpView::State::kUnknown;
    v->why = predictor->Reason(p);
    return;
  }
  v->ovs_member = bond->members[p.member].name;
  std::string how = "hash " + HexPrefixed(p.hash, 8) + ", bucket " +
                    std::to_string(p.bucket) + " -> member " + v->ovs_member;
  if (!p.verified) how += " (OVS's canonical hash: probing decides)";
  if (v->ovs_member == v->member) {
    v->state = HostQpView::State::kPinned;
    v->why = how;
  } else {
    v->state = HostQpView::State::kMispinned;
    v->why = how + "; this QP's RNIC is behind " + v->member;
    v->effect = "its frames leave " + v->member + " while OVS sends this "
                "5-tuple on " + v->ovs_member + ", and the peer's replies "
                "arrive on the member the switch's LACP hash picks: those "
                "that reach a NIC other than " + v->member +
                " are dropped there (the QP retransmits)";
  }
}

}  // namespace

std::string_view ToString(HostQpView::State state) {
  switch (state) {
    case HostQpView::State::kPinned: return "pinned";
    case HostQpView::State::kMispinned: return "MISPINNED";
    case HostQpView::State::kNotSending: return "not sending";
    case HostQpView::State::kUnknown: return "unknown";
    case HostQpView::State::kNoBond: return "no bond";
  }
  return "?";
}

std::vector<const HostQpView*> BypassedQps(
    const std::vector<HostQpView>& views,
    const std::set<uint32_t>& registered_pids,
    const std::set<std::string>& released) {
  std::vector<const HostQpView*> out;
  for (const HostQpView& v : views) {
    if (!v.managed && !v.bond.empty() && v.qp.pid && Sends(v.qp) &&
        registered_pids.count(v.qp.pid) &&
        !released.count(HostQpKey(v.qp.device, v.qp.lqpn, v.qp.pid))) {
      out.push_back(&v);
    }
  }
  return out;
}

std::string HostQpKey(const std::string& device, uint32_t qpn, uint32_t pid) {
  return device + ":" + std::to_string(qpn) + ":" + std::to_string(pid);
}

std::vector<HostQpView> ClassifyHostQps(const HostQpInputs& in) {
  std::vector<HostQpView> out;
  if (!in.resources) return out;
  const HostRdmaResources& res = *in.resources;
  for (const HostQp& qp : res.qps) {
    HostQpView v;
    v.qp = qp;
    for (const RdmaPort& p : res.ports) {
      if (p.device == qp.device && (p.port == qp.port || !qp.port)) {
        v.member = p.netdev;
        if (p.port == qp.port) break;
      }
    }
    v.netdev = v.member;
    if (in.snapshot && !v.netdev.empty()) {
      for (const Bond& b : in.snapshot->bonds) {
        for (const Member& m : b.members) {
          // A DPDK member's RNIC is behind the netdev the table
          // publishes for it, not behind its name.
          if (m.name == v.netdev || m.Netdev() == v.netdev) {
            v.bond = b.name;
            v.member = m.name;
          }
        }
      }
    }
    const QpRecord* reg = in.registered ? in.registered(qp.device, qp.lqpn)
                                        : nullptr;
    const HostCmId* cm = CmIdOf(res, qp);
    // A kernel consumer's QP is made by rdma_cm on its behalf (its name
    // is "rdma_cm"): its cm_id names the consumer ("nvme_rdma").
    if (!qp.pid && cm && !cm->pid && !cm->comm.empty()) v.qp.comm = cm->comm;
    if (reg) {
      v.managed = true;
      Result<FiveTuple> t = MakeUdpTuple(reg->src, reg->dst, reg->sport);
      if (t.ok()) {
        v.tuple = *t;
        v.dst_known = true;
      }
      v.tuple_source = "registered by " + EscapeControl(reg->client_name);
    } else if (cm && cm->src && cm->dst) {
      const bool passive = IsPassive(res, *cm);
      const uint16_t sport = passive ? RdmaCmUdpSport(cm->dst_port, cm->src_port)
                                     : RdmaCmUdpSport(cm->src_port, cm->dst_port);
      Result<FiveTuple> t = MakeUdpTuple(*cm->src, *cm->dst, sport);
      if (t.ok()) {
        v.tuple = *t;
        v.dst_known = true;
      }
      v.tuple_source = std::string("rdma_cm (") +
                       (passive ? "passive" : "active") + " side, ports " +
                       std::to_string(cm->src_port) + ">" +
                       std::to_string(cm->dst_port) +
                       "): flow label (sport * 31 + dport) & 0xFFFFF of the "
                       "active side's rdma_cm ports";
    } else if ((qp.type == kQpTypeRc || qp.type == kQpTypeUc) && qp.rqpn) {
      std::vector<IpAddress> mine =
          in.addresses && !v.netdev.empty() ? in.addresses(v.netdev)
                                            : std::vector<IpAddress>{};
      FiveTuple t;
      t.sport = QpUdpSport(0, qp.lqpn, *qp.rqpn);
      v.tuple_source = "port: the kernel's for flow label 0, "
                       "rdma_calc_flow_label(lqpn, rqpn) (a program that "
                       "sets a flow label uses another)";
      if (mine.size() == 1) {
        t.src = mine[0];
        t.dst.version = t.src.version;
        v.tuple = t;
        v.tuple_source += "; source: " + v.netdev + "'s only IPv4 address";
      } else {
        v.tuple_source += "; source unknown (" + v.netdev + " has " +
                          std::to_string(mine.size()) + " IPv4 addresses)";
      }
      v.tuple_source += "; destination unknown (no rdma_cm ID)";
    } else {
      v.tuple_source = "none (" + QpTypeName(qp.type) +
                       (qp.rqpn ? "" : ", not connected") + ")";
    }
    Judge(in, &v);
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const HostQpView& a, const HostQpView& b) {
    return std::tie(a.qp.device, a.qp.lqpn) < std::tie(b.qp.device, b.qp.lqpn);
  });
  return out;
}

std::vector<IpAddress> InterfaceIpv4Addresses(const std::string& netdev) {
  std::vector<IpAddress> out;
  struct ifaddrs* list = nullptr;
  if (getifaddrs(&list) < 0) return out;
  for (struct ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
    if (!ifa->ifa_addr || netdev != ifa->ifa_name ||
        ifa->ifa_addr->sa_family != AF_INET) {
      continue;
    }
    IpAddress ip;
    ip.version = 4;
    std::memcpy(ip.bytes.data(),
                &reinterpret_cast<struct sockaddr_in*>(ifa->ifa_addr)->sin_addr,
                4);
    out.push_back(ip);
  }
  freeifaddrs(list);
  return out;
}

std::string HostQpsTable(const std::vector<HostQpView>& views) {
  std::vector<std::vector<std::string>> rows = {
      {"RNIC", "QPN", "TYPE", "STATE", "PID", "COMM", "BOND", "MEMBER",
       "5-TUPLE", "OVS", "VERDICT", "MANAGED"}};
  for (const HostQpView& v : views) {
    rows.push_back({v.qp.device + ":" + std::to_string(v.qp.port),
                    HexPrefixed(v.qp.lqpn, 6), QpTypeName(v.qp.type),
                    QpStateName(v.qp.state),
                    v.qp.pid ? std::to_string(v.qp.pid) : "kernel",
                    EscapeControl(v.qp.comm), v.bond.empty() ? "-" : v.bond,
                    v.member.empty() ? "-" : v.member, TupleText(v),
                    v.ovs_member.empty() ? "-" : v.ovs_member,
                    std::string(ToString(v.state)), v.managed ? "yes" : "no"});
  }
  return Columns(rows);
}

std::string ExplainHostQp(const HostQpView& v) {
  std::ostringstream s;
  s << "QP " << HexPrefixed(v.qp.lqpn, 6) << " on " << v.qp.device << " port "
    << v.qp.port << " (" << QpTypeName(v.qp.type) << ", "
    << QpStateName(v.qp.state) << ")";
  if (v.qp.rqpn) s << ", remote QP " << HexPrefixed(*v.qp.rqpn, 6);
  s << "\nprocess: "
    << (v.qp.pid ? std::to_string(v.qp.pid) : std::string("kernel")) << " ("
    << EscapeControl(v.qp.comm) << "), "
    << (v.managed ? "managed (registered with the agent)"
                  : "not managed (not registered with the agent)")
    << "\nmember: " << (v.member.empty() ? "-" : v.member)
    << ", bond: " << (v.bond.empty() ? "-" : v.bond)
    << "\n5-tuple: udp " << TupleText(v) << ":4791"
    << "\n  from: " << v.tuple_source << "\nverdict: " << ToString(v.state)
    << ": " << v.why << "\n";
  if (!v.effect.empty()) s << "effect: " << v.effect << "\n";
  return s.str();
}

}  // namespace rdma_bond::agent
