// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RoCEv2 addressing: how a queue pair's flow label becomes its UDP source
// port.
//
// Every RoCEv2 packet of a queue pair (QP) is one UDP flow: the source and
// destination IP addresses of its GIDs, destination port 4791, and a source
// port in 0xc000..0xffff that the RDMA stack derives from the QP's 20-bit
// IPv6 flow label (set in the address handle's GRH at INIT->RTR).  When the
// flow label is 0 the kernel derives one from the two QP numbers.  These
// are the Linux kernel's helpers of include/rdma/ib_verbs.h, which "all
// RoCE v2 drivers should use" (mlx5 calls rdma_get_udp_sport()):
//
//   rdma_flow_label_to_udp_sport(), rdma_calc_flow_label():
//     "RDMA/core: Add hash functions to calculate RoCEv2 flowlabel and UDP
//     source port", Mark Zhang, linux-rdma, April 2020 (Linux 5.8);
//   rdma_get_udp_sport():
//     "RDMA/core: Calculate UDP source port based on flow label or
//     lqpn/rqpn", Zhu Yanjun, linux-rdma, January 2022.
//
// The inverse, UdpSportToFlowLabel(), lets a program that has chosen a
// source port (PickSport() in predictor.h) set the flow label that makes
// the RDMA stack use exactly that port.
//
// Thread-safety: constexpr pure functions.

#ifndef RDMA_BOND_ROCE_H_
#define RDMA_BOND_ROCE_H_

#include <cstdint>

namespace rdma_bond {

// UDP destination port of every RoCEv2 packet (IANA "roce").
inline constexpr uint16_t kRoceV2UdpPort = 4791;

// IB_ROCE_UDP_ENCAP_VALID_PORT_MIN: RoCEv2 source ports are 0xc000..0xffff,
// the 14 bits that rdma_flow_label_to_udp_sport() produces.
inline constexpr uint16_t kRoceSportMin = 0xc000;

// Number of RoCEv2 source ports (14 bits).
inline constexpr uint32_t kRoceSportCount = 0x4000;

// IB_GRH_FLOWLABEL_MASK: the IPv6 flow label has 20 bits.
inline constexpr uint32_t kFlowLabelMask = 0xfffff;

// The 14 low bits of a flow label (and of a RoCEv2 source port).
inline constexpr uint32_t kFlowLabelLowMask = 0x3fff;

// The 6 high bits of a flow label, folded onto the low bits.
inline constexpr uint32_t kFlowLabelHighMask = 0xfc000;
inline constexpr int kFlowLabelHighShift = 14;

static_assert(kRoceSportMin + kRoceSportCount - 1 == 0xffff,
              "the RoCEv2 source ports end at the last port");
static_assert(kFlowLabelLowMask + 1 == kRoceSportCount,
              "each RoCEv2 source port is one value of the low label bits");
static_assert((kFlowLabelLowMask | kFlowLabelHighMask) == kFlowLabelMask &&
                  (kFlowLabelLowMask & kFlowLabelHighMask) == 0,
              "the low and high parts split the 20-bit flow label");
static_assert((kFlowLabelHighMask >> kFlowLabelHighShift) <=
                  kFlowLabelLowMask,
              "the folded high bits stay within the port bits");
static_assert((kRoceSportCount & (kRoceSportCount - 1)) == 0,
              "a power of two: every odd stride visits every source port");

// True if 'port' is a RoCEv2 source port (0xc000..0xffff).
constexpr bool IsRoceSport(uint32_t port) {
  return port >= kRoceSportMin && port <= 0xffff;
}

// rdma_flow_label_to_udp_sport(): the UDP source port of flow label 'fl'
// (bits above the 20 label bits are ignored, as by the kernel).
constexpr uint16_t FlowLabelToUdpSport(uint32_t fl) {
  const uint32_t low = fl & kFlowLabelLowMask;
  const uint32_t high = fl & kFlowLabelHighMask;
  return static_cast<uint16_t>((low ^ (high >> kFlowLabelHighShift)) |
                               kRoceSportMin);
}

// A flow label whose source port is 'sport': sport & 0x3fff (the high bits
// zero), except for sport 0xc000, whose label would be 0.  The kernel reads
// flow label 0 as "none set" and derives the port from the QP numbers
// instead (rdma_get_udp_sport()), so 0xc000 gets 0x04001, which folds to
// the same port: 0x0001 ^ (0x04000 >> 14) = 0.  The result is never 0 and
// FlowLabelToUdpSport(UdpSportToFlowLabel(p)) == p for every RoCEv2 port.
// REQUIRES: IsRoceSport(sport).
constexpr uint32_t UdpSportToFlowLabel(uint16_t sport) {
  const uint32_t low = sport & kFlowLabelLowMask;
  return low != 0 ? low : ((1u << kFlowLabelHighShift) | 1u);
}

// rdma_calc_flow_label(): the symmetric flow label the kernel derives from
// the local and remote QP numbers when the flow label is 0.  Both ends of a
// connection compute the same value.
constexpr uint32_t CalcFlowLabel(uint32_t lqpn, uint32_t rqpn) {
  uint64_t v = static_cast<uint64_t>(lqpn) * rqpn;
  v ^= v >> 20;
  v ^= v >> 40;
  return static_cast<uint32_t>(v & kFlowLabelMask);
}

// rdma_get_udp_sport(): the UDP source port of a QP whose address handle
// has flow label 'fl' (0: none set) and whose QP numbers are 'lqpn' and
// 'rqpn'.
constexpr uint16_t QpUdpSport(uint32_t fl, uint32_t lqpn, uint32_t rqpn) {
  return FlowLabelToUdpSport(fl != 0 ? fl : CalcFlowLabel(lqpn, rqpn));
}

// The UDP source port of an rdma_cm connection over IPv4, from the
// active side's rdma_cm ports: the kernel sets the flow label to
// (sport * 31 + dport) & 0xFFFFF (cma_get_roce_udp_flow_label(), Linux
// 6.1), and the connection request carries it to the passive side.
constexpr uint16_t RdmaCmUdpSport(uint16_t active_sport,
                                  uint16_t active_dport) {
  return FlowLabelToUdpSport(
      (static_cast<uint32_t>(active_sport) * 31 + active_dport) &
      kFlowLabelMask);
}

static_assert(FlowLabelToUdpSport(0) == 0xc000, "label 0 maps to 0xc000");
static_assert(FlowLabelToUdpSport(0x4001) == 0xc000,
              "the high bits fold onto the low bits");
static_assert(FlowLabelToUdpSport(0xfffff) == 0xc000 + (0x3fff ^ 0x3f),
              "all 20 bits set");
static_assert(UdpSportToFlowLabel(0xc000) == 0x4001,
              "port 0xc000 must not need flow label 0");
static_assert(FlowLabelToUdpSport(UdpSportToFlowLabel(0xd5a3)) == 0xd5a3,
              "round trip");

}  // namespace rdma_bond

#endif  // RDMA_BOND_ROCE_H_
