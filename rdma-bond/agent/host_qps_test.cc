// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/host_qps.h"

#include <gtest/gtest.h>

#include "rdma_bond/ovs_hash.h"
#include "rdma_bond/roce.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond::agent {
namespace {

IpAddress Ip(const char* text) { return *ParseIpAddress(text); }

// Two RNICs, rxe0 behind p1 and rxe1 behind p2 (the members of
// MakeBond()'s bonds), and the host's address on both.
struct Host {
  HostRdmaResources res;
  TableSnapshot snapshot;
  std::map<std::string, Predictor> predictors;
  std::map<std::pair<std::string, uint32_t>, QpRecord> registered;

  explicit Host(Bond bond) {
    res.ports = {{"rxe0", 1, "p1"}, {"rxe1", 1, "p2"}, {"rxe9", 1, "eth9"}};
    snapshot.table.instance_id = 1;
    predictors.emplace(bond.name, *Predictor::Create(bond, RDMA_BOND_HASH_MHASH));
    snapshot.bonds.push_back(std::move(bond));
  }
  HostQp& AddQp(const char* dev, uint32_t lqpn, std::optional<uint32_t> rqpn,
                uint8_t state = kQpStateRts, uint8_t type = kQpTypeRc) {
    HostQp qp;
    qp.device = dev;
    qp.port = 1;
    qp.lqpn = lqpn;
    qp.rqpn = rqpn;
    qp.type = type;
    qp.state = state;
    qp.pid = 4242;
    qp.comm = "ib_send_bw";
    res.qps.push_back(qp);
    return res.qps.back();
  }
  std::vector<HostQpView> Classify() {
    HostQpInputs in;
    in.resources = &res;
    in.snapshot = &snapshot;
    in.predictors = &predictors;
    in.registered = [this](const std::string& rnic, uint32_t qpn) {
      auto it = registered.find({rnic, qpn});
      return it == registered.end() ? nullptr : &it->second;
    };
    in.addresses = [](const std::string&) {
      return std::vector<IpAddress>{Ip("10.79.0.1")};
    };
    return ClassifyHostQps(in);
  }
};

const HostQpView& Find(const std::vector<HostQpView>& views, const char* dev,
                       uint32_t qpn) {
  for (const HostQpView& v : views) {
    if (v.qp.device == dev && v.qp.lqpn == qpn) return v;
  }
  ADD_FAILURE() << dev << " " << qpn << " not listed";
  static HostQpView none;
  return none;
}

TEST(HostQpsTest, RdmaCmPortFollowsTheKernelsFlowLabel) {
  // (40000 * 31 + 7174) & 0xFFFFF = 198598; low 14 bits 1990, high 6 bits
  // 12: 1990 ^ 12 = 1994, | 0xc000 = 51146.
  EXPECT_EQ(RdmaCmUdpSport(40000, 7174), 51146);
  // The label wraps at 20 bits.
  EXPECT_EQ(RdmaCmUdpSport(65535, 65535),
            FlowLabelToUdpSport((65535u * 31 + 65535) & 0xFFFFF));
}

// OVS-DPDK on a bifurcated NIC: the members are DPDK ports ("dpdk0"),
// their RNICs are behind the netdevs the table publishes for them.
TEST(HostQpsTest, DpdkMembersAreFoundThroughTheirPublishedNetdev) {
  Host h(testing::WithDpdkMembers(testing::AbBond(/*active=*/0)));
  h.AddQp("rxe0", 17, 33);                     // Behind dpdk0, active.
  h.AddQp("rxe1", 18, 34);                     // Behind dpdk1, standby.
  std::vector<HostQpView> v = h.Classify();
  const HostQpView& active = Find(v, "rxe0", 17);
  EXPECT_EQ(active.bond, "bond0");
  EXPECT_EQ(active.member, "dpdk0");
  EXPECT_EQ(active.netdev, "p1");
  EXPECT_EQ(active.state, HostQpView::State::kPinned);
  const HostQpView& standby = Find(v, "rxe1", 18);
  EXPECT_EQ(standby.member, "dpdk1");
  EXPECT_EQ(standby.ovs_member, "dpdk0");
  EXPECT_EQ(standby.state, HostQpView::State::kMispinned);
  // The source address is the netdev's.
  ASSERT_TRUE(standby.tuple);
  EXPECT_EQ(standby.tuple->src, Ip("10.79.0.1"));
}

TEST(HostQpsTest, ActiveBackupJudgesByMemberAlone) {
  Host h(testing::AbBond(/*active=*/0));      // p1 active.
  h.AddQp("rxe0", 17, 33);                     // On the active member.
  h.AddQp("rxe1", 18, 34);                     // On the standby.
  h.AddQp("rxe1", 19, 35, kQpStateRtr);        // Receives only.
  h.AddQp("rxe9", 20, 36);                     // Not behind the bond.
  std::vector<HostQpView> v = h.Classify();
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(Find(v, "rxe0", 17).state, HostQpView::State::kPinned);
  const HostQpView& standby = Find(v, "rxe1", 18);
  EXPECT_EQ(standby.state, HostQpView::State::kMispinned);
  EXPECT_EQ(standby.bond, "bond0");
  EXPECT_EQ(standby.member, "p2");
  EXPECT_EQ(standby.ovs_member, "p1");
  EXPECT_NE(standby.effect.find("MAC moves"), std::string::npos);
  EXPECT_FALSE(standby.managed);
  EXPECT_EQ(Find(v, "rxe1", 19).state, HostQpView::State::kNotSending);
  EXPECT_EQ(Find(v, "rxe9", 20).state, HostQpView::State::kNoBond);
  // A QP without rdma_cm: the kernel's port for flow label 0, the
  // member's address, no destination.
  ASSERT_TRUE(standby.tuple);
  EXPECT_EQ(standby.tuple->sport, QpUdpSport(0, 18, 34));
  EXPECT_EQ(standby.tuple->src, Ip("10.79.0.1"));
  EXPECT_FALSE(standby.dst_known);
  const std::string table = HostQpsTable(v);
  EXPECT_NE(table.find("10.79.0.1:" + std::to_string(QpUdpSport(0, 18, 34)) +
                       ">?"),
            std::string::npos)
      << table;
}

TEST(HostQpsTest, BalanceTcpNeedsTheDestination) {
  Host h(testing::TcpBond());
  h.AddQp("rxe0", 17, 33);
  std::vector<HostQpView> v = h.Classify();
  EXPECT_EQ(Find(v, "rxe0", 17).state, HostQpView::State::kUnknown);
  EXPECT_NE(Find(v, "rxe0", 17).why.find("destination is unknown"),
            std::string::npos);
}

TEST(HostQpsTest, RdmaCmBothSidesGetTheSamePortAndOvsDecides) {
  Host h(testing::TcpBond());
  h.AddQp("rxe0", 17, 40);
  h.AddQp("rxe1", 18, 41);
  // The active side: 10.79.0.1:40000 -> 10.79.0.2:7174.
  HostCmId active;
  active.device = "rxe0";
  active.lqpn = 17;
  active.state = kCmStateConnect;
  active.src = Ip("10.79.0.1");
  active.dst = Ip("10.79.0.2");
  active.src_port = 40000;
  active.dst_port = 7174;
  // The passive side of another connection on this host: it listens on
  // 7174, and its connected ID has the listener's port as its source.
  HostCmId listener;
  listener.device = "rxe1";
  listener.state = 8;
  listener.src = Ip("10.79.0.1");
  listener.src_port = 7174;
  HostCmId passive;
  passive.device = "rxe1";
  passive.lqpn = 18;
  passive.state = kCmStateConnect;
  passive.src = Ip("10.79.0.1");
  passive.dst = Ip("10.79.0.3");
  passive.src_port = 7174;
  passive.dst_port = 40001;
  h.res.cm_ids = {active, listener, passive};
  std::vector<HostQpView> v = h.Classify();
  const HostQpView& a = Find(v, "rxe0", 17);
  ASSERT_TRUE(a.tuple && a.dst_known);
  EXPECT_EQ(a.tuple->sport, RdmaCmUdpSport(40000, 7174));
  EXPECT_EQ(a.tuple->dst, Ip("10.79.0.2"));
  EXPECT_NE(a.tuple_source.find("active side"), std::string::npos);
  const HostQpView& p = Find(v, "rxe1", 18);
  ASSERT_TRUE(p.tuple && p.dst_known);
  EXPECT_EQ(p.tuple->sport, RdmaCmUdpSport(40001, 7174));
  EXPECT_NE(p.tuple_source.find("passive side"), std::string::npos);
  // The verdict is OVS's answer for that 5-tuple.
  for (const HostQpView* q : {&a, &p}) {
    Prediction want = h.predictors.at("bond0").Predict(FlowKey(*q->tuple));
    const std::string ovs = h.snapshot.bonds[0].members[want.member].name;
    EXPECT_EQ(q->ovs_member, ovs);
    EXPECT_EQ(q->state, ovs == q->member ? HostQpView::State::kPinned
                                         : HostQpView::State::kMispinned);
  }
}

TEST(HostQpsTest, KernelQpsAreNamedByTheirConsumer) {
  Host h(testing::AbBond(0));
  HostQp& qp = h.AddQp("rxe0", 17, 40);
  qp.pid = 0;
  qp.comm = "rdma_cm";
  HostCmId cm;
  cm.device = "rxe0";
  cm.lqpn = 17;
  cm.state = kCmStateConnect;
  cm.src = Ip("10.79.0.1");
  cm.dst = Ip("10.79.0.2");
  cm.src_port = 50000;
  cm.dst_port = 4420;
  cm.comm = "nvme_rdma";
  h.res.cm_ids = {cm};
  std::vector<HostQpView> v = h.Classify();
  EXPECT_EQ(Find(v, "rxe0", 17).qp.comm, "nvme_rdma");
  EXPECT_NE(HostQpsTable(v).find("kernel  nvme_rdma"), std::string::npos)
      << HostQpsTable(v);
}

TEST(HostQpsTest, RegisteredQpsAreManaged) {
  Host h(testing::TcpBond());
  h.AddQp("rxe1", 21, 50);
  QpRecord r;
  r.client_name = "rdma-bond-perf";
  r.src = Ip("10.79.0.1");
  r.dst = Ip("10.79.0.2");
  r.sport = 0xd123;
  h.registered[{"rxe1", 21}] = r;
  std::vector<HostQpView> v = h.Classify();
  const HostQpView& q = Find(v, "rxe1", 21);
  EXPECT_TRUE(q.managed);
  ASSERT_TRUE(q.tuple);
  EXPECT_EQ(q.tuple->sport, 0xd123);
  EXPECT_NE(ExplainHostQp(q).find("managed (registered with the agent)"),
            std::string::npos);
}

TEST(HostQpsTest, QpsMadePastThePreloadAreFound) {
  Host h(testing::TcpBond());
  h.AddQp("rxe1", 21, 50);                        // Registered.
  h.AddQp("rxe1", 22, 51);                        // Same pid, not.
  h.AddQp("rxe1", 23, 52, kQpStateRtr);           // Not sending yet.
  h.AddQp("rxe9", 24, 53);                        // Not on a bond member.
  h.AddQp("rxe0", 25, 54).pid = 777;              // Another process.
  QpRecord r;
  r.pid = 4242;
  r.src = Ip("10.79.0.1");
  r.dst = Ip("10.79.0.2");
  r.sport = 0xd123;
  h.registered[{"rxe1", 21}] = r;
  std::vector<HostQpView> v = h.Classify();
  std::vector<const HostQpView*> b = BypassedQps(v, {4242});
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]->qp.lqpn, 22u);
  EXPECT_TRUE(BypassedQps(v, {}).empty());
  ASSERT_EQ(BypassedQps(v, {4242, 777}).size(), 2u);
  // QP 22 was registered once and removed (a closed connection whose QPs
  // are not destroyed yet): not made past the preload.
  EXPECT_TRUE(BypassedQps(v, {4242}, {HostQpKey("rxe1", 22, 4242)}).empty());
  EXPECT_EQ(BypassedQps(v, {4242}, {HostQpKey("rxe1", 22, 999)}).size(), 1u);
}

}  // namespace
}  // namespace rdma_bond::agent
