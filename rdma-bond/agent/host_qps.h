// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Every QP on the host, explained: the RDMA netlink listing
// (rdma_netlink.h) joined with the registry, the bonds' members and OVS's
// decision for each QP's 5-tuple.
//
// A QP's member is the netdev behind its RDMA port.  Its 5-tuple comes
// from, in this order:
//   - the registry (a QP of librdmabond or of the preload library: it says
//     its addresses and UDP source port);
//   - its rdma_cm ID: the addresses and rdma_cm ports are listed; over
//     IPv4 the kernel's flow label is (sport * 31 + dport) & 0xFFFFF of the
//     active side's rdma_cm ports (cma_get_roce_udp_flow_label(), set at
//     rdma_resolve_route()), which the passive side takes from the
//     connection request; the side with a listening ID on its local port
//     is the passive one;
//   - nothing else: RDMA netlink does not show a QP's address vector.  For
//     such a QP the UDP source port is the kernel's for flow label 0,
//     rdma_calc_flow_label(lqpn, rqpn) (what a program that sets no flow
//     label gets: perftest's default), and the source address is the
//     member's only IPv4 address when it has one; the destination is
//     unknown.
// The port is FlowLabelToUdpSport() of the flow label (roce.h), as
// rdma_get_udp_sport() does in mlx5 and rxe.
//
// Verdicts: an active-backup bond sends every flow from its active member,
// so a QP that sends (RTS, SQD) on another member's RNIC is mispinned
// whatever its 5-tuple; in balance-tcp the 5-tuple decides, and without it
// the verdict is unknown.
//
// Thread-safety: pure functions.

#ifndef RDMA_BOND_AGENT_HOST_QPS_H_
#define RDMA_BOND_AGENT_HOST_QPS_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/rdma_netlink.h"
#include "agent/registry.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond::agent {

struct HostQpView {
  enum class State : uint8_t {
    kPinned,        // Sends on the member OVS uses for its flow.
    kMispinned,     // Sends on another member.
    kNotSending,    // Not in RTS/SQD, or not RC/UC: not judged.
    kUnknown,       // On a bond member, but what decides is missing.
    kNoBond,        // Its RNIC is not behind a published bond's member.
  };
  HostQp qp;
  std::string member;             // The netdev behind its port, "" none;
                                  // the member's name in the table when
                                  // that differs (a DPDK port).
  std::string netdev;             // The netdev behind its port.
  std::string bond;
  bool managed = false;           // Registered with the agent.
  std::optional<FiveTuple> tuple; // With 'dst' unset when unknown.
  bool dst_known = false;
  std::string tuple_source;       // Where the 5-tuple came from.
  std::string ovs_member;         // OVS's member for it, "" if none.
  State state = State::kNoBond;
  std::string why;                // The reason for the verdict.
  std::string effect;             // What a mispinned QP causes.
};

std::string_view ToString(HostQpView::State state);

struct HostQpInputs {
  const HostRdmaResources* resources = nullptr;
  const TableSnapshot* snapshot = nullptr;          // nullptr: detached.
  const std::map<std::string, Predictor>* predictors = nullptr;
  // The registered QP on device 'rnic' with number 'qpn', or nullptr.
  std::function<const QpRecord*(const std::string& rnic, uint32_t qpn)>
      registered;
  // The IPv4 addresses on a netdev.
  std::function<std::vector<IpAddress>(const std::string& netdev)>
      addresses;
};

// Every QP of 'resources', classified, sorted by device and QP number.
std::vector<HostQpView> ClassifyHostQps(const HostQpInputs& inputs);

// The QPs of 'views' that send (RC or UC in RTS) on a member of a
// published bond without being registered, in processes that do register
// other QPs with the agent ('registered_pids'): a program run with
// librdmabond-preload (or linked with librdmabond) that made these QPs
// past it (libibverbs bound with dlopen and dlvsym, DEVX, a static
// libibverbs), so they are not pinned.
// 'released' (HostQpKey()) are QPs the process registered earlier and has
// removed since: librdmabond's Close() removes a connection's QPs before
// they are destroyed, so they may live on unregistered for a while; they
// were not made past anything.
std::vector<const HostQpView*> BypassedQps(
    const std::vector<HostQpView>& views,
    const std::set<uint32_t>& registered_pids,
    const std::set<std::string>& released = {});

// "rxe1:18:4242": a QP of a process, as the agent keys them.
std::string HostQpKey(const std::string& device, uint32_t qpn, uint32_t pid);

// The IPv4 addresses on 'netdev' (getifaddrs()).
std::vector<IpAddress> InterfaceIpv4Addresses(const std::string& netdev);

// "rdma-bond/qps --all": one line per QP.
std::string HostQpsTable(const std::vector<HostQpView>& views);
// "rdma-bond/explain" for a QP that the registry does not have.
std::string ExplainHostQp(const HostQpView& view);

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_HOST_QPS_H_
