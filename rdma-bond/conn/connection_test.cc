// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "conn/connection_internal.h"
#include "conn/side_messages.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/rdmabond.h"
#include "testing/connection_test_util.h"
#include "testing/fake_rnic.h"

extern "C" int rdma_bond_c_api_smoke(int sock,
                                     struct rdma_bond_rnic* const* rnics,
                                     size_t n_rnics, const char* local_ip,
                                     const char* remote_ip, int n_messages);

namespace rdma_bond {
namespace {

using std::chrono::milliseconds;
using testing::AbBond;
using testing::ActiveOnlySwitch;
using testing::Describe;
using testing::Disable;
using testing::ExpectPinnedAndDelivered;
using testing::FakeFabric;
using testing::FakeFrame;
using testing::FakeRnic;
using testing::FakeSend;
using testing::Harness;
using testing::HashedSwitch;
using testing::kImpl;
using testing::kIp;
using testing::Message;
using testing::TcpBond;
using testing::Verdict;

TEST(ConnectionTest, BalanceTcpProbingFindsPortsTheSwitchDelivers) {
  Harness h;
  HashedSwitch(h.fabric);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }))
      << "paths did not all come up";
  ExpectPinnedAndDelivered(h, bonds);
  uint64_t repicks = 0;
  for (int side = 0; side < 2; side++) {
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      EXPECT_TRUE(p.carries);
      repicks += p.repicks;
    }
  }
  // Some first choices did not work at the switch: probing moved them.
  EXPECT_GT(repicks, 0u);
  EXPECT_GT(h.fabric.misdelivered(), 0u);
  h.Transfer(500);
  h.ExpectExactlyOnceInOrder(500);
}

TEST(ConnectionTest, FixedSourcePortsNeverMove) {
  // Pinning off (rdma-bond-perf --baseline): the same switch, but every
  // path keeps its first port whether the switch delivers it or not.
  Harness h;
  HashedSwitch(h.fabric);
  h.base.fixed_source_port = true;
  h.base.establish_timeout = milliseconds(1500);
  std::vector<uint16_t> first[2];
  (void)h.Establish(nullptr, nullptr);
  for (int side = 0; side < 2; side++) {
    if (!h.s[side].conn) continue;
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      first[side].push_back(p.sport);
    }
  }
  // Long enough for many probe timeouts and REPICKs.
  (void)h.PumpUntil([] { return false; }, milliseconds(500));
  size_t paths = 0;
  for (int side = 0; side < 2; side++) {
    if (!h.s[side].conn) continue;
    const std::vector<PathStats> now = h.s[side].conn->stats().paths;
    ASSERT_EQ(now.size(), first[side].size());
    for (size_t i = 0; i < now.size(); i++) {
      EXPECT_EQ(now[i].sport, first[side][i]) << "a fixed port moved";
      EXPECT_EQ(now[i].repicks, 0u);
      EXPECT_EQ(now[i].agent_hint, false);
      paths++;
    }
  }
  EXPECT_GT(paths, 0u) << "no connection to look at";
}

TEST(ConnectionTest, ProbingResetsPathsWhenThePortCannotChangeInPlace) {
  FakeFabric::Options fo;
  fo.sport_change_supported = false;
  Harness h(fo);
  HashedSwitch(h.fabric);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  ExpectPinnedAndDelivered(h, bonds);
  uint64_t resets = 0;
  for (int side = 0; side < 2; side++) {
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      resets += p.resets;
    }
  }
  EXPECT_GT(resets, 0u);
}

TEST(ConnectionTest, ActiveBackupCarriesOnlyActiveToActive) {
  Harness h;
  // A learning switch: frames reach a host only on its active member.
  const size_t active[2] = {0, 1};
  ActiveOnlySwitch(h.fabric, active);
  const Bond bonds[2] = {AbBond(0), AbBond(1)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  h.Transfer(2000);
  h.ExpectExactlyOnceInOrder(2000);
  // Never a frame from a standby member.
  EXPECT_EQ(h.fabric.frames_from(0, 1), 0u);
  EXPECT_EQ(h.fabric.frames_from(1, 0), 0u);
  EXPECT_GT(h.fabric.frames_from(0, 0), 0u);
  EXPECT_GT(h.fabric.frames_from(1, 1), 0u);
  for (int side = 0; side < 2; side++) {
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      const bool carrying = p.local_index == active[side] &&
                            p.remote_index == active[1 - side];
      EXPECT_EQ(p.carries, carrying);
      if (carrying) {
        EXPECT_EQ(p.messages_sent, 2000u);
      } else {
        EXPECT_EQ(p.messages_sent, 0u);
        EXPECT_EQ(p.probe_attempts, 0u) << "a standby path was probed";
      }
    }
  }
}

TEST(ConnectionTest, ActiveBackupFailoverLosesNothing) {
  Harness h;
  size_t active[2] = {0, 0};
  ActiveOnlySwitch(h.fabric, active);
  const Bond bonds[2] = {AbBond(0), AbBond(0)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  uint64_t frames_before = 0;
  h.Transfer(10000, [&](uint64_t i) {
    if (i != 3000) return;
    // Side 0 loses p1: OVS fails over to p2 and publishes it.
    h.fabric.SetLinkDown(0, 0, true);
    active[0] = 1;
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
    frames_before = h.fabric.frames_from(0, 0);
  });
  h.ExpectExactlyOnceInOrder(10000);
  // Stopped at once: not one more frame from the old member.
  EXPECT_EQ(h.fabric.frames_from(0, 0), frames_before);
  const ConnectionStats st = h.s[0].conn->stats();
  EXPECT_GT(st.path_failures, 0u);
  for (const PathStats& p : st.paths) {
    EXPECT_EQ(p.carries, p.local_index == 1 && p.remote_index == 0);
  }
}

TEST(ConnectionTest, ActiveMemberChangeStopsTheOldMemberAtOnce) {
  Harness h;
  size_t active[2] = {0, 0};
  ActiveOnlySwitch(h.fabric, active);
  const Bond bonds[2] = {AbBond(0), AbBond(0)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  uint64_t frames_before = 0;
  h.Transfer(5000, [&](uint64_t i) {
    if (i != 2000) return;
    // Both members stay enabled: OVS just makes p2 active (a primary
    // change); work already posted on p1 must not leave from p1 now.
    Bond switched = bonds[0];
    switched.active_member = 1;
    switched.generation++;
    active[0] = 1;
    ASSERT_TRUE(h.s[0].conn->UpdateBond(switched, kImpl).ok());
    frames_before = h.fabric.frames_from(0, 0);
  });
  h.ExpectExactlyOnceInOrder(5000);
  EXPECT_EQ(h.fabric.frames_from(0, 0), frames_before);
  for (const PathStats& p : h.s[1].conn->stats().paths) {
    EXPECT_EQ(p.carries, p.local_index == 0 && p.remote_index == 1);
  }
}

TEST(ConnectionTest, BalanceTcpMemberFailureLosesNothing) {
  Harness h;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(10000, [&](uint64_t i) {
    if (i != 3000) return;
    h.fabric.SetLinkDown(0, 0, true);
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(10000);
  for (int side = 0; side < 2; side++) {
    const ConnectionStats st = h.s[side].conn->stats();
    EXPECT_GT(st.path_failures, 0u) << "side " << side;
    for (const PathStats& p : st.paths) {
      const size_t member0 = side == 0 ? p.local_index : p.remote_index;
      EXPECT_EQ(p.carries, member0 != 0);
    }
  }
  // Work in flight on the failed member was moved.
  EXPECT_GT(h.s[0].conn->stats().resent + h.s[1].conn->stats().resent, 0u);
}

// The peer learns that a member died from the side channel (ACTIVE: the
// bond view with its usable members, the member-down notice), not from
// its transport's retries: here those would take ten minutes.
TEST(ConnectionTest, PeerStopsSendingTowardADeadMemberOnItsNotice) {
  FakeFabric::Options fo;
  fo.retry_timeout = std::chrono::minutes(10);
  Harness h(fo);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(10000, [&](uint64_t i) {
    if (i != 3000) return;
    h.fabric.SetLinkDown(0, 0, true);
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(10000);
  for (const PathStats& p : h.s[1].conn->stats().paths) {
    if (p.remote_index == 0) {
      EXPECT_FALSE(p.carries);
      EXPECT_NE(p.last_error.find("unusable"), std::string::npos)
          << p.last_error;
    }
  }
  EXPECT_EQ(h.s[1].conn->stats().tcp_messages_sent, 0u);
}

// A harness whose side channel the test may hold (Harness::HoldSide()),
// whose transport gives up only after ten minutes, and without TCP
// fallback: what a side learns while the side channel is held, it learns
// on the paths.
std::unique_ptr<Harness> HeldSideHarness() {
  FakeFabric::Options fo;
  fo.retry_timeout = std::chrono::minutes(10);
  auto h = std::make_unique<Harness>(fo);
  h->relay_side = true;
  h->base.tcp_fallback = false;
  return h;
}

// The side channel is a TCP connection through the bond: after a cut, or
// while a restarted ovs-vswitchd was not forwarding, it may wait hundreds
// of milliseconds for its retransmission timer.  ACTIVE goes on the paths
// too, so the peer follows a new active member without it (here the
// side channel passes nothing, and the transport's retries would take ten
// minutes).
TEST(ConnectionTest, ThePeerFollowsANewActiveMemberWhileTcpWaits) {
  std::unique_ptr<Harness> held = HeldSideHarness();
  Harness& h = *held;
  size_t active[2] = {0, 0};
  ActiveOnlySwitch(h.fabric, active);
  const Bond bonds[2] = {AbBond(0), AbBond(0)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  h.Transfer(5000, [&](uint64_t i) {
    if (i != 2000) return;
    h.HoldSide(true);
    Bond switched = bonds[0];
    switched.active_member = 1;
    switched.generation++;
    active[0] = 1;
    ASSERT_TRUE(h.s[0].conn->UpdateBond(switched, kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(5000);
  EXPECT_GE(h.s[0].conn->stats().views_sent_on_paths, 1u);
  EXPECT_EQ(h.s[1].conn->stats().views_from_paths, 1u);
  for (const PathStats& p : h.s[1].conn->stats().paths) {
    EXPECT_EQ(p.carries, p.local_index == 0 && p.remote_index == 1)
        << Describe(*h.s[1].conn);
  }
  EXPECT_EQ(h.s[1].conn->stats().tcp_messages_received, 0u);
  h.HoldSide(false);
}

// Establishes 'h' with side 0's p2 enabled but owning no bucket (side 1:
// TcpBond(11)), until side 0's paths from p1 are up; returns side 0's bond.
Bond BucketlessP2(Harness& h) {
  Bond lone = TcpBond(7);
  for (uint8_t& owner : lone.buckets) owner = 0;
  static const Bond other = TcpBond(11);
  h.EstablishOrDie(&lone, &other);
  EXPECT_TRUE(h.PumpUntil([&] {
    for (const PathStats& p : h.s[0].conn->stats().paths) {
      if (p.local_index == 0 && !p.up) return false;
    }
    return true;
  })) << Describe(*h.s[0].conn);
  return lone;
}

// A path that comes up after a bond change carries the new view before the
// messages held for it.  Here side 0's p2 owns no bucket until p1 dies, so
// its paths come up only then, with everything sent meanwhile waiting for
// them; the peer learns that p1 is dead only from that view (its
// transport would retry for ten minutes, the side channel is held), and
// behind a send window of messages it would keep sending toward p1.
TEST(ConnectionTest, APathThatComesUpCarriesTheViewFirst) {
  std::unique_ptr<Harness> held = HeldSideHarness();
  Harness& h = *held;
  const Bond lone = BucketlessP2(h);
  if (HasFailure()) return;
  h.HoldSide(true);
  size_t mark = 0;
  h.Transfer(3000, [&](uint64_t i) {
    if (i != 1000) return;
    h.fabric.SetLinkDown(0, 0, true);
    mark = h.fabric.sends().size();
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(lone, 0), kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(3000);
  // Side 0's first send on each p2 QP after the change, probes aside.
  const std::vector<FakeSend> sends = h.fabric.sends();
  std::map<uint32_t, int> first;  // QP -> header type.
  for (size_t k = mark; k < sends.size(); k++) {
    const FakeSend& f = sends[k];
    if (f.side != 0 || f.member != 1 ||
        f.head.size() < conn_detail::kHeaderSize) {
      continue;
    }
    const conn_detail::Header hd = conn_detail::ReadHeader(f.head.data());
    if (hd.type != conn_detail::kProbe) first.try_emplace(f.qpn, int{hd.type});
  }
  ASSERT_FALSE(first.empty()) << "nothing sent from p2";
  for (const auto& [qpn, type] : first) {
    EXPECT_EQ(type, conn_detail::kView) << "QP " << qpn << " sent type "
                                        << type << " before the view";
  }
  EXPECT_GE(h.s[1].conn->stats().views_from_paths, 1u);
  h.HoldSide(false);
}

// A member that takes over posts the bond's view right behind the probes of
// its paths, before they are acknowledged: the peer, still sending toward
// the member that died, learns it a round trip sooner than from a path
// once up.  Here side 0's p2 owns no bucket until p1 dies.
TEST(ConnectionTest, AMemberThatTakesOverSendsTheViewBehindItsProbes) {
  std::unique_ptr<Harness> held = HeldSideHarness();
  Harness& h = *held;
  const Bond lone = BucketlessP2(h);
  if (HasFailure()) return;
  h.HoldSide(true);
  // Side 0's sends on p2 that UpdateBond() itself posted, per QP.
  std::map<uint32_t, std::vector<int>> posted;
  h.Transfer(2000, [&](uint64_t i) {
    if (i != 500) return;
    h.fabric.SetLinkDown(0, 0, true);
    const size_t mark = h.fabric.sends().size();
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(lone, 0), kImpl).ok());
    const std::vector<FakeSend> sends = h.fabric.sends();
    for (size_t k = mark; k < sends.size(); k++) {
      const FakeSend& f = sends[k];
      if (f.side == 0 && f.member == 1 &&
          f.head.size() >= conn_detail::kHeaderSize) {
        posted[f.qpn].push_back(conn_detail::ReadHeader(f.head.data()).type);
      }
    }
  });
  h.ExpectExactlyOnceInOrder(2000);
  ASSERT_EQ(posted.size(), 2u) << "p2's two paths did not both probe";
  for (const auto& [qpn, types] : posted) {
    EXPECT_EQ(types, (std::vector<int>{conn_detail::kProbe,
                                       conn_detail::kView}))
        << "QP " << qpn;
  }
  EXPECT_GE(h.s[1].conn->stats().views_from_paths, 1u);
  h.HoldSide(false);
}

// ACTIVE arrives twice (paths and side channel, and nudges repeat it) and
// out of order: a late one older than the view taken changes nothing.
TEST(ConnectionTest, AnOlderActiveArrivingLateChangesNothing) {
  std::unique_ptr<Harness> held = HeldSideHarness();
  Harness& h = *held;
  std::mutex mu;
  std::vector<std::string> peer_views;   // Trace lines of a peer view.
  h.base.trace = [&](std::string_view line) {
    if (line.find("peer's members") == std::string_view::npos) return;
    std::lock_guard<std::mutex> lock(mu);
    peer_views.emplace_back(line);
  };
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.HoldSide(true);
  // ACTIVE 1: side 0's p1 is cut.  The peer learns it on a path and
  // carries on without it.
  h.Transfer(3000, [&](uint64_t i) {
    if (i != 1000) return;
    h.fabric.SetLinkDown(0, 0, true);
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(3000);
  EXPECT_EQ(h.s[1].conn->stats().views_from_paths, 1u);
  // ACTIVE 2: p1 is back.
  h.fabric.SetLinkDown(0, 0, false);
  ASSERT_TRUE(h.s[0].conn->UpdateBond(bonds[0], kImpl).ok());
  ASSERT_TRUE(h.PumpUntil(
      [&] { return h.s[1].conn->stats().views_from_paths == 2; }))
      << Describe(*h.s[1].conn);
  size_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    seen = peer_views.size();
    ASSERT_EQ(seen, 2u);
    EXPECT_NE(peer_views[1].find("usable mask 0x3"), std::string::npos)
        << peer_views[1];
  }
  // The side channel passes ACTIVE 1, 2 and the nudges now: none is taken.
  h.HoldSide(false);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }))
      << Describe(*h.s[1].conn);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(peer_views.size(), seen)
      << "late: " << peer_views.back();
}

// A balance-tcp member that is enabled but owns no bucket (it came back
// and OVS has not rebalanced yet) carries nothing, but its paths are
// connected again: when the other member dies and it takes every bucket,
// they carry at once, without a reset over the side channel (held here).
TEST(ConnectionTest, AMemberWithoutBucketsKeepsItsPathsReadyForAFailover) {
  std::unique_ptr<Harness> held = HeldSideHarness();
  Harness& h = *held;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  // Side 0's p1 and the paths toward it, in the state 'want'.
  auto spare_paths_are = [&](const std::string& want) {
    for (int side = 0; side < 2; side++) {
      for (const PathStats& p : h.s[side].conn->stats().paths) {
        const bool spare = (side == 0 ? p.local_index : p.remote_index) == 0;
        if (spare ? p.state != want : !p.up) return false;
      }
    }
    return true;
  };
  // p1's cable is cut, then back: enabled, but every bucket stays on p2.
  h.fabric.SetLinkDown(0, 0, true);
  ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  ASSERT_TRUE(h.PumpUntil([&] { return spare_paths_are("down"); }))
      << Describe(*h.s[0].conn) << Describe(*h.s[1].conn);
  h.fabric.SetLinkDown(0, 0, false);
  Bond spare = bonds[0];
  for (uint8_t& owner : spare.buckets) owner = 1;
  spare.generation += 2;
  ASSERT_TRUE(h.s[0].conn->UpdateBond(spare, kImpl).ok());
  ASSERT_TRUE(h.PumpUntil([&] { return spare_paths_are("ready"); }))
      << Describe(*h.s[0].conn) << Describe(*h.s[1].conn);
  uint64_t resets[2] = {0, 0};
  for (int side = 0; side < 2; side++) {
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      resets[side] += p.resets;
    }
  }
  h.HoldSide(true);
  h.Transfer(3000, [&](uint64_t i) {
    if (i != 1000) return;
    h.fabric.SetLinkDown(0, 1, true);
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(spare, 1), kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(3000);
  EXPECT_GE(h.s[1].conn->stats().views_from_paths, 1u);
  for (int side = 0; side < 2; side++) {
    uint64_t now = 0;
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      now += p.resets;
      if ((side == 0 ? p.local_index : p.remote_index) == 0) {
        EXPECT_TRUE(p.up) << Describe(*h.s[side].conn);
      }
    }
    EXPECT_EQ(now, resets[side]) << Describe(*h.s[side].conn);
  }
  h.HoldSide(false);
}

TEST(ConnectionTest, TransportDetectsADeadLinkWithoutABondUpdate) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(50);
  Harness h(fo);
  h.EstablishOrDie(nullptr, nullptr);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(10000, [&](uint64_t i) {
    if (i == 3000) h.fabric.SetLinkDown(1, 1, true);
  });
  h.ExpectExactlyOnceInOrder(10000);
  EXPECT_GT(h.s[0].conn->stats().resent + h.s[1].conn->stats().resent, 0u);
}

// A path that ran out of source ports while its member looked healthy
// (here: its link silently dead) waits failed_retry before it is tried
// again, to spare probes while others carry.  When nothing else carries,
// waiting only makes the stall longer: it is retried at once.
TEST(ConnectionTest, ExhaustedPathsAreRetriedAtOnceWhenNothingCarries) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(30);
  Harness h(fo);
  h.base.failed_retry = std::chrono::minutes(10);  // Never, in this test.
  h.base.max_probe_attempts = 2;
  h.base.tcp_fallback = false;   // Only the paths can carry.
  h.base.establish_timeout = milliseconds(3000);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  auto exhausted = [&] {
    for (const PathStats& p : h.s[0].conn->stats().paths) {
      if (p.local_index == 1 && p.state != "failed") return false;
    }
    return true;
  };
  h.Transfer(3000, [&](uint64_t i) {
    if (i == 500) {
      // Member 1 of side 0 dies without a bond update: its paths fail,
      // are reset, and run out of ports.
      h.fabric.SetLinkDown(0, 1, true);
    } else if (i == 1500) {
      ASSERT_TRUE(h.PumpUntil(exhausted)) << Describe(*h.s[0].conn);
      // It works again, unknown to the connection; then member 0 goes,
      // with a bond update: only the exhausted paths are left.
      h.fabric.SetLinkDown(0, 1, false);
      h.fabric.SetLinkDown(0, 0, true);
      ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
    }
  });
  h.ExpectExactlyOnceInOrder(3000);
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    if (p.local_index == 1) {
      EXPECT_TRUE(p.up) << Describe(*h.s[0].conn);
    }
  }
}

uint64_t PathMessagesSent(const Connection& c) {
  uint64_t n = 0;
  for (const PathStats& p : c.stats().paths) n += p.messages_sent;
  return n;
}

// Every RDMA path dead (both RNICs of a side, say) while TCP works: the
// messages go over the side channel, in order and exactly once, and back
// on the paths when they return.
TEST(ConnectionTest, TcpFallbackCarriesWhileNoPathCanThenThePathsAgain) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(30);
  Harness h(fo);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  uint64_t tcp_at_return = 0, paths_at_return = 0;
  h.Transfer(6000, [&](uint64_t i) {
    if (i == 1000) {
      h.fabric.SetLinkDown(0, 0, true);
      h.fabric.SetLinkDown(0, 1, true);
    } else if (i == 4000) {
      EXPECT_GT(h.s[0].conn->stats().tcp_messages_sent, 0u);
      EXPECT_GT(h.s[1].conn->stats().tcp_messages_received, 0u);
      h.fabric.SetLinkDown(0, 0, false);
      h.fabric.SetLinkDown(0, 1, false);
      ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }))
          << Describe(*h.s[0].conn);
      tcp_at_return = h.s[0].conn->stats().tcp_messages_sent;
      paths_at_return = PathMessagesSent(*h.s[0].conn);
    }
  });
  h.ExpectExactlyOnceInOrder(6000);
  const ConnectionStats st = h.s[0].conn->stats();
  EXPECT_GE(st.tcp_fallbacks, 1u);
  // Back on the paths: the last 2000 went there, none over TCP.
  EXPECT_EQ(st.tcp_messages_sent, tcp_at_return);
  EXPECT_GE(PathMessagesSent(*h.s[0].conn), paths_at_return + 2000);
  // What one side sent over TCP, the other received over TCP.
  EXPECT_EQ(h.s[1].conn->stats().tcp_messages_received, st.tcp_messages_sent);
  EXPECT_EQ(st.tcp_messages_received,
            h.s[1].conn->stats().tcp_messages_sent);
}

// Both RNICs of a side fail (a device fatal error) while its links stay
// up: that side cannot create QPs, and tells the peer at once that its
// members are unusable, so the peer goes over TCP within
// tcp_fallback_after instead of waiting for its transport's retries to
// run out (here a minute: the transfer would not finish).  When the RNICs
// recover, both sides are back on the paths.
TEST(ConnectionTest, APeerWhoseRnicsFailIsToldAtOnce) {
  FakeFabric::Options fo;
  fo.retry_timeout = std::chrono::minutes(1);
  Harness h(fo);
  h.base.failed_retry = milliseconds(50);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(4000, [&](uint64_t i) {
    if (i == 1000) {
      for (auto& r : h.s[1].rnics) r->SetBroken(true);
    } else if (i == 3000) {
      EXPECT_GT(h.s[0].conn->stats().tcp_messages_sent, 0u);
      EXPECT_GT(h.s[1].conn->stats().tcp_messages_sent, 0u);
      for (const PathStats& p : h.s[0].conn->stats().paths) {
        EXPECT_NE(p.last_error.find("is unusable"), std::string::npos)
            << Describe(*h.s[0].conn);
      }
      for (auto& r : h.s[1].rnics) r->SetBroken(false);
    }
  });
  h.ExpectExactlyOnceInOrder(4000);
  EXPECT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }))
      << Describe(*h.s[0].conn);
}

// A peer without any RDMA device (no RNIC: the HELLO lists no member):
// with TCP fallback the connection is set up and carries everything over
// TCP, messages and writes, in order and exactly once.
TEST(ConnectionTest, APeerWithoutRdmaGetsAConnectionOverTcp) {
  Harness h;
  h.s[1].rnics.clear();
  const Bond bond = TcpBond(7);
  h.EstablishOrDie(&bond, nullptr);
  EXPECT_TRUE(h.s[0].conn->stats().paths.empty());
  h.Transfer(2000);
  h.ExpectExactlyOnceInOrder(2000);
  std::vector<uint8_t> data(100, 0x5a);
  ASSERT_TRUE(h.s[0].conn->Write(data, 1000).ok());
  ASSERT_TRUE(h.s[1].conn->Write(data, 2000).ok());
  ASSERT_TRUE(h.PumpUntil([&] {
    return h.s[0].events.size() == 2001 && h.s[1].events.size() == 2001;
  }));
  EXPECT_EQ(h.s[1].events.back(), "w1000+100");
  EXPECT_EQ(h.s[0].events.back(), "w2000+100");
  EXPECT_TRUE(std::equal(data.begin(), data.end(),
                         h.s[1].conn->write_region().begin() + 1000));
  // A write beyond the peer's region (its HELLO says how large) is
  // refused, as with paths.
  EXPECT_FALSE(h.s[0].conn->Write(data, h.base.write_region_size - 10).ok());
  for (int side = 0; side < 2; side++) {
    EXPECT_EQ(h.s[side].conn->stats().tcp_messages_sent, 2001u);
  }
}

// Without TCP fallback, a side without RDMA is refused, saying why.
TEST(ConnectionTest, WithoutTcpFallbackASideWithoutRdmaIsRefused) {
  Harness h;
  h.base.tcp_fallback = false;
  h.base.establish_timeout = milliseconds(300);
  h.s[1].rnics.clear();
  auto [a, b] = h.Establish(nullptr, nullptr);
  EXPECT_FALSE(a.ok());
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.message().find("TCP fallback is off"), std::string::npos)
      << b.ToString();
}

// No path comes up within establish_timeout (RDMA broken between the
// hosts, TCP fine): with TCP fallback the connection is set up anyway and
// carries over TCP, and moves to the paths when they come up.
TEST(ConnectionTest, EstablishedOverTcpWhenNoPathComesUp) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(30);
  Harness h(fo);
  h.base.establish_timeout = milliseconds(300);
  h.base.failed_retry = milliseconds(50);
  h.fabric.SetLinkDown(0, 0, true);
  h.fabric.SetLinkDown(0, 1, true);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  EXPECT_FALSE(h.AllUp(0));
  h.Transfer(1000);
  EXPECT_EQ(h.s[0].conn->stats().tcp_messages_sent, 1000u);
  h.fabric.SetLinkDown(0, 0, false);
  h.fabric.SetLinkDown(0, 1, false);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }))
      << Describe(*h.s[0].conn);
  const uint64_t on_paths = PathMessagesSent(*h.s[0].conn);
  h.Transfer(2000, [](uint64_t) {});
  EXPECT_GE(PathMessagesSent(*h.s[0].conn), on_paths + 1000);
}

// An RDMA write made while no path can carry lands in the peer's region
// over TCP, and its notice is delivered once, in order.
TEST(ConnectionTest, TcpFallbackCarriesWritesOnce) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(30);
  Harness h(fo);
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.fabric.SetLinkDown(0, 0, true);
  h.fabric.SetLinkDown(0, 1, true);
  std::vector<uint8_t> data(200);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i);
  ASSERT_TRUE(h.s[0].conn->Send(Message(0)).ok());
  ASSERT_TRUE(h.s[0].conn->Write(data, 4096).ok());
  ASSERT_TRUE(h.s[0].conn->Send(Message(1)).ok());
  ASSERT_TRUE(h.PumpUntil([&] { return h.s[1].events.size() >= 3; }))
      << Describe(*h.s[0].conn);
  EXPECT_EQ(h.s[1].events,
            (std::vector<std::string>{"m0", "w4096+200", "m1"}));
  std::span<uint8_t> region = h.s[1].conn->write_region();
  EXPECT_TRUE(std::equal(data.begin(), data.end(), region.begin() + 4096));
  EXPECT_EQ(h.s[0].conn->stats().tcp_messages_sent, 3u);
  // Nothing more comes (no duplicate) when the paths return.
  h.fabric.SetLinkDown(0, 0, false);
  h.fabric.SetLinkDown(0, 1, false);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  EXPECT_EQ(h.s[1].events.size(), 3u);
}

// Side-channel bytes that the peer has not taken for a few milliseconds
// may be a lost TCP segment: the connection repeats its last ACTIVE so
// that TCP recovers it by SACK instead of its retransmission timeout.
// Bounded per wait, and harmless to the peer.
TEST(ConnectionTest, UnacknowledgedSideBytesAreNudged) {
  Harness h;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  // Everything taken: no nudge.
  for (int i = 0; i < 20; i++) {
    h.Pump();
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(h.s[0].conn->stats().side_nudges, 0u);
  // Side 0 tells its bond change while side 1 does not read.
  ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  const auto until = std::chrono::steady_clock::now() + milliseconds(400);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(h.s[0].conn->Progress().ok());
    std::this_thread::sleep_for(milliseconds(1));
  }
  const uint64_t nudges = h.s[0].conn->stats().side_nudges;
  EXPECT_GT(nudges, 0u);
  EXPECT_LE(nudges, conn_detail::kMaxNudges);
  // Side 1 reads: the nudges stop, and the connection carries on.
  h.Transfer(500);
  const uint64_t after = h.s[0].conn->stats().side_nudges;
  for (int i = 0; i < 50; i++) {
    h.Pump();
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(h.s[0].conn->stats().side_nudges, after);
  h.ExpectExactlyOnceInOrder(500);
}

TEST(ConnectionTest, LostAcksCauseDuplicatesThatAreDropped) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(50);
  Harness h(fo);
  std::atomic<bool> lose_acks{false};
  // Side 1's member p1 receives everything but its acknowledgements are
  // lost: side 0 re-sends what p1 already delivered.
  h.fabric.SetRule([&lose_acks](const FakeFrame& f) {
    return lose_acks && f.ack && f.side == 1 && f.member == 0
               ? Verdict::kDrop
               : Verdict::kDeliver;
  });
  h.EstablishOrDie(nullptr, nullptr);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(5000, [&](uint64_t i) {
    if (i == 1000) lose_acks = true;
  });
  h.ExpectExactlyOnceInOrder(5000);
  EXPECT_GT(h.s[1].conn->stats().duplicates_dropped, 0u);
  EXPECT_GT(h.s[0].conn->stats().resent, 0u);
}

TEST(ConnectionTest, BalanceTcpSpreadsOverEveryCarryingPath) {
  Harness h;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(4000);
  h.ExpectExactlyOnceInOrder(4000);
  for (int side = 0; side < 2; side++) {
    const ConnectionStats st = h.s[side].conn->stats();
    ASSERT_EQ(st.paths.size(), 4u);
    for (const PathStats& p : st.paths) {
      EXPECT_GT(p.messages_sent, 4000u / 16)
          << "side " << side << " " << p.local_member << "->"
          << p.remote_member;
    }
  }
}

TEST(ConnectionTest, BucketMoveRepinsToAPortOfTheSameMember) {
  Harness h;
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  // Move the buckets of p1's current ports to p2 (p1 keeps its others).
  Predictor before = *Predictor::Create(bonds[0], kImpl);
  Bond moved = bonds[0];
  moved.generation++;
  std::map<size_t, uint16_t> old_ports;
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    if (p.local_index != 0) continue;
    old_ports[p.remote_index] = p.sport;
    Prediction where = before.Predict(FlowKey(*MakeUdpTuple(
        *ParseIpAddress(kIp[0]), *ParseIpAddress(kIp[1]), p.sport)));
    moved.buckets[where.bucket] = 1;
  }
  ASSERT_TRUE(h.s[0].conn->UpdateBond(moved, kImpl).ok());
  Predictor after = *Predictor::Create(moved, kImpl);
  const ConnectionStats st = h.s[0].conn->stats();
  EXPECT_GE(st.repins, 2u);
  for (const PathStats& p : st.paths) {
    Prediction where = after.Predict(FlowKey(*MakeUdpTuple(
        *ParseIpAddress(kIp[0]), *ParseIpAddress(kIp[1]), p.sport)));
    ASSERT_TRUE(where.has_member());
    EXPECT_EQ(where.member, p.local_index) << "sport " << p.sport;
    // The pinnings end with the QP and port in use; a re-pinned path's
    // list holds its old port on the same QP just before.
    ASSERT_FALSE(p.pinnings.empty());
    EXPECT_EQ(p.pinnings.back(), (QpPinning{p.qpn, p.sport}));
    if (p.local_index == 0) {
      EXPECT_NE(p.sport, old_ports[p.remote_index]);
      EXPECT_EQ(p.repins, 1u);
      ASSERT_GE(p.pinnings.size(), 2u);
      EXPECT_EQ(p.pinnings[p.pinnings.size() - 2],
                (QpPinning{p.qpn, old_ports[p.remote_index]}));
    } else {
      EXPECT_EQ(p.repins, 0u);
    }
  }
  h.Transfer(1000);
  h.ExpectExactlyOnceInOrder(1000);
}

// Shares: {1, 0} puts every message on the paths of the first member,
// split over its two paths; the second member's paths stay up, idle.
TEST(ConnectionTest, SharesSendOnTheMembersTheyName) {
  Harness h;
  h.base.member_shares = {1, 0};
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(2000);
  h.ExpectExactlyOnceInOrder(2000);
  for (int side = 0; side < 2; side++) {
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      SCOPED_TRACE("side " + std::to_string(side) + " " + p.local_member +
                   "->" + p.remote_member);
      EXPECT_TRUE(p.up);
      if (p.local_index == 0) {
        EXPECT_EQ(p.share, 0.5);
        EXPECT_GT(p.messages_sent, 2000u / 4);
      } else {
        EXPECT_EQ(p.share, 0);
        EXPECT_EQ(p.messages_sent, 0u);
      }
    }
  }
}

// Bad shares are refused at Establish().
TEST(ConnectionTest, SharesMustNameEachRnicAndNotAllBeZero) {
  for (const std::vector<double>& shares :
       {std::vector<double>{1}, std::vector<double>{0, 0},
        std::vector<double>{1, -1}, std::vector<double>{1, 0, 1}}) {
    Harness h;
    h.base.member_shares = shares;
    const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
    const Status s = h.Establish(&bonds[0], &bonds[1]).first;
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.ToString().find("member share"), std::string::npos)
        << s.ToString();
  }
}

// The bond of side 0 with the bucket of each given (local, remote) path's
// port moved to the other member.
Bond MoveBucketsOf(const Harness& h, const Bond& bond,
                   const std::set<std::pair<size_t, size_t>>& paths) {
  Predictor before = *Predictor::Create(bond, kImpl);
  Bond moved = bond;
  moved.generation++;
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    if (!paths.count({p.local_index, p.remote_index})) continue;
    Prediction where = before.Predict(FlowKey(*MakeUdpTuple(
        *ParseIpAddress(kIp[0]), *ParseIpAddress(kIp[1]), p.sport)));
    moved.buckets[where.bucket] = 1 - p.local_index;
  }
  return moved;
}

// rdma-bond-rebalance: OVS moves the bucket of the port of path
// (m0 -> m0) to m1; the path's share goes to (m1 -> m0), so the bytes OVS
// moved really leave m0, and the path re-pins on m0 to carry nothing.
TEST(ConnectionTest, AShareFollowsItsBucketOnARebalancingBond) {
  Harness h;
  h.base.member_shares = {1, 0};
  Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  bonds[0].flags |= RDMA_BOND_F_RDMA_REBALANCE;
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  std::map<std::pair<size_t, size_t>, uint64_t> before;
  Bond moved;
  h.Transfer(2500, [&](uint64_t i) {
    if (i != 500) return;
    for (const PathStats& p : h.s[0].conn->stats().paths) {
      before[{p.local_index, p.remote_index}] = p.messages_sent;
    }
    moved = MoveBucketsOf(h, bonds[0], {{0, 0}});
    ASSERT_TRUE(h.s[0].conn->UpdateBond(moved, kImpl).ok());
    ConnectionStats st = h.s[0].conn->stats();
    EXPECT_EQ(st.shares_followed, 1u);
    for (const PathStats& p : st.paths) {
      const double expected = p.local_index == p.remote_index ? 0 : 0.5;
      EXPECT_EQ(p.share, expected)
          << p.local_member << "->" << p.remote_member;
    }
  });
  h.ExpectExactlyOnceInOrder(2500);
  Predictor after = *Predictor::Create(moved, kImpl);
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    SCOPED_TRACE(p.local_member + "->" + p.remote_member);
    const uint64_t sent = p.messages_sent - before[{p.local_index,
                                                    p.remote_index}];
    if (p.local_index == p.remote_index) {
      EXPECT_EQ(sent, 0u);
    } else {
      EXPECT_GT(sent, 2000u / 4);
    }
    // Every port still maps to its path's member.
    Prediction where = after.Predict(FlowKey(*MakeUdpTuple(
        *ParseIpAddress(kIp[0]), *ParseIpAddress(kIp[1]), p.sport)));
    EXPECT_EQ(where.member, p.local_index);
  }
  // The peer's bond does not rebalance with RDMA: its shares stay.
  EXPECT_EQ(h.s[1].conn->stats().shares_followed, 0u);
}

// Without rdma-bond-rebalance a moved bucket only re-pins: the shares stay.
TEST(ConnectionTest, SharesStayWhenTheBondDoesNotCountRdma) {
  Harness h;
  h.base.member_shares = {1, 0};
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  ASSERT_TRUE(h.s[0]
                  .conn->UpdateBond(MoveBucketsOf(h, bonds[0], {{0, 0}}),
                                    kImpl)
                  .ok());
  h.Transfer(1000);
  h.ExpectExactlyOnceInOrder(1000);
  const ConnectionStats st = h.s[0].conn->stats();
  EXPECT_EQ(st.shares_followed, 0u);
  EXPECT_GE(st.repins, 1u);
  for (const PathStats& p : st.paths) {
    EXPECT_EQ(p.share, p.local_index == 0 ? 0.5 : 0);
    if (p.local_index == 1) {
      EXPECT_EQ(p.messages_sent, 0u);
    }
  }
}

// A member with every share fails: the idle paths carry meanwhile, and
// nothing is lost.
TEST(ConnectionTest, PathsWithoutAShareCarryWhenTheOthersFail) {
  Harness h;
  h.base.member_shares = {1, 0};
  Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  bonds[0].flags |= RDMA_BOND_F_RDMA_REBALANCE;
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  h.Transfer(6000, [&](uint64_t i) {
    if (i != 2000) return;
    h.fabric.SetLinkDown(0, 0, true);
    ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  });
  h.ExpectExactlyOnceInOrder(6000);
  const ConnectionStats st = h.s[0].conn->stats();
  uint64_t on_m1 = 0;
  for (const PathStats& p : st.paths) {
    if (p.local_index == 1) on_m1 += p.messages_sent;
  }
  EXPECT_GT(on_m1, 6000u / 2);
  // A failure is no rebalancing: the shares stay for the member's return.
  EXPECT_EQ(st.shares_followed, 0u);
}

// Both ends retry a member's paths as soon as they hear it is back (side 0
// from its table, side 1 from side 0's ACTIVE), not after failed_retry.
TEST(ConnectionTest, ReEnabledMemberPathsAreResetAndProbed) {
  Harness h;
  h.base.failed_retry = std::chrono::minutes(10);  // Never, in this test.
  const Bond bonds[2] = {TcpBond(7), TcpBond(11)};
  h.EstablishOrDie(&bonds[0], &bonds[1]);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  ASSERT_TRUE(h.PumpUntil([&] {
    for (int side = 0; side < 2; side++) {
      for (const PathStats& p : h.s[side].conn->stats().paths) {
        const size_t member0 = side == 0 ? p.local_index : p.remote_index;
        if (member0 == 0 && (p.up || p.carries)) return false;
      }
    }
    return true;
  }));
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    if (p.local_index == 0) {
      EXPECT_NE(p.last_error.find("disabled"), std::string::npos)
          << p.last_error;
    }
  }
  Bond again = bonds[0];
  again.generation += 2;
  ASSERT_TRUE(h.s[0].conn->UpdateBond(again, kImpl).ok());
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }))
      << "the re-enabled member's paths did not come back";
  for (const PathStats& p : h.s[0].conn->stats().paths) {
    if (p.local_index == 0) {
      EXPECT_GT(p.resets, 0u);
    }
  }
  h.Transfer(1000);
  h.ExpectExactlyOnceInOrder(1000);
}

TEST(ConnectionTest, WriteResentOnASurvivorLandsOnceWithItsRkey) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(50);
  Harness h(fo);
  h.EstablishOrDie(nullptr, nullptr);
  ASSERT_TRUE(h.PumpUntil([&] { return h.AllUp(0) && h.AllUp(1); }));
  // p1 of side 0 dies silently: the writes posted from it never land and
  // time out, then go again from p2.
  h.fabric.SetLinkDown(0, 0, true);
  const size_t kWrites = 8, kSize = 200;
  std::vector<std::vector<uint8_t>> data;
  for (size_t w = 0; w < kWrites; w++) {
    data.push_back(Message(100 + w, kSize));
    ASSERT_TRUE(h.s[0].conn->Send(Message(w)).ok());
    ASSERT_TRUE(h.s[0].conn->Write(data.back(), w * 1024).ok());
  }
  ASSERT_TRUE(h.PumpUntil([&] {
    return h.s[1].events.size() >= 2 * kWrites &&
           h.s[0].conn->InFlight() == 0;
  })) << h.s[1].events.size() << " events";
  std::vector<std::string> expected;
  for (size_t w = 0; w < kWrites; w++) {
    expected.push_back("m" + std::to_string(w));
    expected.push_back("w" + std::to_string(w * 1024) + "+" +
                       std::to_string(kSize));
  }
  EXPECT_EQ(h.s[1].events, expected);
  std::span<uint8_t> region = h.s[1].conn->write_region();
  const uint64_t base = reinterpret_cast<uint64_t>(region.data());
  std::map<uint64_t, int> landed;
  for (const testing::FakeWrite& w : h.fabric.writes()) {
    EXPECT_EQ(w.side, 1);
    landed[w.addr - base]++;
  }
  for (size_t w = 0; w < kWrites; w++) {
    EXPECT_EQ(landed[w * 1024], 1) << "write " << w;
    EXPECT_EQ(std::vector<uint8_t>(region.begin() + w * 1024,
                                   region.begin() + w * 1024 + kSize),
              data[w]);
  }
  // Some went first from the dead member and were re-sent.
  const ConnectionStats st = h.s[0].conn->stats();
  EXPECT_GT(st.resent, 0u);
  uint64_t resent_from_p1 = 0;
  for (const PathStats& p : st.paths) {
    if (p.local_index == 0) resent_from_p1 += p.resent_from;
  }
  EXPECT_GT(resent_from_p1, 0u);
  // The survivors wrote with the rkeys of the RNICs they reach: none of
  // their writes was refused (a wrong rkey completes kRemoteError).
  for (const PathStats& p : st.paths) {
    if (p.local_index == 1) {
      EXPECT_EQ(p.failures, 0u) << p.local_member << "->" << p.remote_member
                                << ": " << p.last_error;
    }
  }
}

TEST(ConnectionTest, WriteOutsideThePeerRegionIsRejected) {
  Harness h;
  h.EstablishOrDie(nullptr, nullptr);
  std::vector<uint8_t> data(16);
  Status st = h.s[0].conn->Write(data, h.base.write_region_size - 8);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("write region"), std::string::npos);
  st = h.s[0].conn->Send(std::vector<uint8_t>(h.base.max_message_size + 1));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
}

// (Without TCP fallback: with it, the connection is set up over TCP.)
TEST(ConnectionTest, EstablishFailureNamesEveryPath) {
  Harness h;
  h.base.establish_timeout = milliseconds(300);
  h.base.tcp_fallback = false;
  h.fabric.SetRule([](const FakeFrame&) { return Verdict::kDrop; });
  auto [a, b] = h.Establish(nullptr, nullptr);
  ASSERT_FALSE(a.ok());
  ASSERT_FALSE(b.ok());
  for (const char* path : {"p1->p1", "p1->p2", "p2->p1", "p2->p2"}) {
    EXPECT_NE(a.message().find(path), std::string::npos) << a.ToString();
    EXPECT_NE(b.message().find(path), std::string::npos) << b.ToString();
  }
  // The side that gave up first says why; the other may see it leave.
  const std::string both = a.message() + "\n" + b.message();
  EXPECT_NE(both.find("no path came up within 300 ms"), std::string::npos)
      << both;
  EXPECT_NE(both.find("probe not acknowledged"), std::string::npos) << both;
}

// Establishes both ends of a connection over a socketpair, each with
// h.Options(side) changed by 'adjust', and returns how each ended (the
// connections themselves are dropped).
std::array<Status, 2> EstablishBoth(
    Harness& h, const std::function<void(int, ConnectionOptions*)>& adjust) {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::array<Status, 2> st;
  auto run = [&](int side) {
    std::vector<Rnic*> rnics;
    for (auto& r : h.s[side].rnics) rnics.push_back(r.get());
    ConnectionOptions o = h.Options(side);
    o.establish_timeout = milliseconds(500);
    adjust(side, &o);
    Result<std::unique_ptr<Connection>> c = Connection::Establish(
        std::move(*SideChannel::Adopt(fds[side])), side == 0, rnics, nullptr,
        kImpl, o);
    if (!c.ok()) st[side] = c.status();
  };
  std::thread t(run, 1);
  run(0);
  t.join();
  return st;
}

TEST(ConnectionTest, LargerPeerMessagesAreRefusedAtSetup) {
  Harness h;
  h.base.max_message_size = 1024;
  std::array<Status, 2> st = EstablishBoth(h, [](int side, ConnectionOptions* o) {
    if (side == 1) o->max_message_size = 512;
  });
  ASSERT_FALSE(st[1].ok());
  EXPECT_NE(st[1].message().find("up to 1024 bytes"), std::string::npos)
      << st[1].ToString();
  EXPECT_FALSE(st[0].ok());
}

// issue 15, finding 4: with a shared key the whole handshake and every
// control message are authenticated; a peer with another key (or none)
// gets no connection.
TEST(ConnectionTest, AuthenticatedSideChannelCarriesTheConnection) {
  Harness h;
  const std::string key = "a-shared-key-of-32-bytes-or-so..";
  h.base.side_channel_key.assign(key.begin(), key.end());
  h.EstablishOrDie(nullptr, nullptr);
  h.Transfer(200);
  h.ExpectExactlyOnceInOrder(200);
}

TEST(ConnectionTest, APeerWithAnotherKeyGetsNoConnection) {
  for (int variant = 0; variant < 2; variant++) {
    SCOPED_TRACE(variant == 0 ? "another key" : "no key");
    Harness h;
    std::array<Status, 2> st =
        EstablishBoth(h, [variant](int side, ConnectionOptions* o) {
          const std::string key = side == 0 ? "the-key-of-the-initiator-side"
                                            : "the-key-of-the-responder-side";
          if (side == 0 || variant == 0) {
            o->side_channel_key.assign(key.begin(), key.end());
          }
        });
    ASSERT_FALSE(st[0].ok());
    ASSERT_FALSE(st[1].ok());
    const std::string both = st[0].message() + "\n" + st[1].message();
    EXPECT_NE(both.find(variant == 0 ? "side-channel key differs"
                                     : "no key is configured here"),
              std::string::npos)
        << both;
  }
}

TEST(ConnectionTest, PeerGoneWithoutByeFailsProgress) {
  Harness h;
  h.EstablishOrDie(nullptr, nullptr);
  h.s[1].conn.reset();
  Status st;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(2000);
  while (st.ok() && std::chrono::steady_clock::now() < deadline) {
    st = h.s[0].conn->Progress();
  }
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no BYE"), std::string::npos) << st.ToString();
  EXPECT_EQ(h.s[0].conn->Send(Message(1)).code(), st.code());
}

TEST(ConnectionTest, CallbacksMayProgressToEchoUnderBackpressure) {
  Harness h;
  h.base.send_window = 4;  // 8 send buffers: echoing fills them at once.
  h.EstablishOrDie(nullptr, nullptr);
  Connection& echo = *h.s[1].conn;
  uint64_t echoed = 0;
  echo.OnMessage([&](std::span<const uint8_t> m) {
    std::vector<uint8_t> copy(m.begin(), m.end());
    Status st;
    while ((st = echo.Send(copy)).code() == Status::Code::kUnavailable) {
      ASSERT_TRUE(echo.Progress().ok());
      ASSERT_TRUE(h.s[0].conn->Progress().ok());
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
    echoed++;
  });
  uint64_t sent = 0;
  ASSERT_TRUE(h.PumpUntil([&] {
    while (sent < 500 && h.s[0].conn->Send(Message(sent)).ok()) sent++;
    return h.s[0].received.size() == 500;
  })) << h.s[0].received.size();
  EXPECT_EQ(echoed, 500u);
  for (uint64_t i = 0; i < 500; i++) ASSERT_EQ(h.s[0].received[i], i);
}

TEST(ConnectionTest, MessagesBeforeTheCallbackIsSetAreHeldNotDropped) {
  Harness h;
  h.EstablishOrDie(nullptr, nullptr);
  h.s[1].conn->OnMessage(nullptr);   // As if not set yet.
  constexpr uint64_t kMessages = 100;
  for (uint64_t i = 0; i < kMessages; i++) {
    Status st = h.s[0].conn->Send(Message(i));
    while (st.code() == Status::Code::kUnavailable) {
      h.Pump();
      st = h.s[0].conn->Send(Message(i));
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  ASSERT_TRUE(h.PumpUntil([&] { return h.s[0].conn->InFlight() == 0; }));
  EXPECT_TRUE(h.s[1].received.empty());
  EXPECT_EQ(h.s[1].conn->stats().messages_delivered, 0u);
  h.Watch(1);
  ASSERT_TRUE(h.PumpUntil([&] { return h.s[1].received.size() >= kMessages; }));
  ASSERT_EQ(h.s[1].received.size(), kMessages);
  for (uint64_t i = 0; i < kMessages; i++) EXPECT_EQ(h.s[1].received[i], i);
}

TEST(ConnectionTest, CloseWaitsForAcksAndSaysBye) {
  Harness h;
  h.EstablishOrDie(nullptr, nullptr);
  for (uint64_t i = 0; i < 50; i++) {
    ASSERT_TRUE(h.s[0].conn->Send(Message(i)).ok());
    ASSERT_TRUE(h.s[1].conn->Send(Message(i)).ok());
  }
  Status st[2];
  std::thread t([&] { st[1] = h.s[1].conn->Close(milliseconds(3000)); });
  st[0] = h.s[0].conn->Close(milliseconds(3000));
  t.join();
  EXPECT_TRUE(st[0].ok()) << st[0].ToString();
  EXPECT_TRUE(st[1].ok()) << st[1].ToString();
  EXPECT_EQ(h.s[0].conn->InFlight(), 0u);
  EXPECT_EQ(h.s[1].received.size(), 50u);
  EXPECT_EQ(h.s[0].received.size(), 50u);
  EXPECT_EQ(h.s[0].conn->Send(Message(1)).code(),
            Status::Code::kInvalidArgument);
}

// The peer's messages travel on the paths, its BYE on the side channel, so
// the BYE may be read first.  Close() waits for every message the BYE says
// was sent.  Here the BYE is read in the same Progress() that polls only
// the first 1024 completions of side 0's RNIC (one member): without that
// wait side 0 returns with the rest unread.
TEST(ConnectionTest, CloseWaitsForEveryMessageThePeerSaysItSent) {
  Harness h(FakeFabric::Options(), 1);
  h.base.max_message_size = 64;
  h.base.send_window = 2048;
  h.base.recv_buffers = 2048;
  h.base.qp.max_send_wr = 2048;
  h.base.qp.max_recv_wr = 2048;
  h.EstablishOrDie(nullptr, nullptr);
  constexpr uint64_t kMessages = 1500;
  // Side 1 sends while side 0 does not poll: the fabric delivers into side
  // 0's posted receives and acknowledges them.
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  uint64_t sent = 0;
  while (sent < kMessages || h.s[1].conn->InFlight() != 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << sent << " sent, " << h.s[1].conn->InFlight() << " in flight";
    if (sent < kMessages && h.s[1].conn->Send(Message(sent)).ok()) {
      sent++;
    } else {
      ASSERT_TRUE(h.s[1].conn->Progress().ok());
    }
  }
  EXPECT_TRUE(h.s[0].received.empty());
  // BYE (with the last sequence) goes out; a zero timeout does not wait
  // for side 0's.
  ASSERT_TRUE(h.s[1].conn->Close(milliseconds(0)).ok());
  ASSERT_TRUE(h.s[0].conn->Close(milliseconds(3000)).ok());
  ASSERT_EQ(h.s[0].received.size(), kMessages);
  for (uint64_t i = 0; i < kMessages; i++) EXPECT_EQ(h.s[0].received[i], i);
}

// Two connections whose side channel runs through the test (relay_a faces
// side 0, relay_b side 1), so that a test can forge side-channel messages.
struct RelayedPair {
  explicit RelayedPair(Harness& h, const Bond* bond0 = nullptr,
                       const Bond* bond1 = nullptr) {
    const Bond* bonds[2] = {bond0, bond1};
    int a[2], b[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    relay_a = std::move(*SideChannel::Adopt(a[1]));
    relay_b = std::move(*SideChannel::Adopt(b[1]));
    std::atomic<bool> established{false};
    std::thread relay([&] {
      while (!established) {
        Forward(*relay_a, *relay_b);
        Forward(*relay_b, *relay_a);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
    const auto run = [&](int side, int fd) {
      std::vector<Rnic*> rnics;
      for (auto& r : h.s[side].rnics) rnics.push_back(r.get());
      Result<std::unique_ptr<Connection>> c = Connection::Establish(
          std::move(*SideChannel::Adopt(fd)), side == 0, rnics, bonds[side],
          kImpl, h.Options(side));
      if (c.ok()) {
        conns[side] = std::move(*c);
      } else {
        status[side] = c.status();
      }
    };
    std::thread t(run, 1, b[0]);
    run(0, a[0]);
    t.join();
    established = true;
    relay.join();
  }

  static void Forward(SideChannel& from, SideChannel& to) {
    Result<std::vector<SideMessage>> got = from.Poll();
    if (!got.ok()) return;
    for (const SideMessage& m : *got) (void)to.Send(m.type, m.body);
    (void)to.Flush();
  }

  // Sends 'reset' to side 0 as 'type', then runs both sides (relaying
  // side 1's messages) until side 0 fails or 5 s pass; returns side 0's
  // last status.
  Status ForgeToSide0(SideMessageType type, const PathResetMessage& reset) {
    return ForgeBodyToSide0(type, EncodePathReset(reset));
  }

  // The same with any body.
  Status ForgeBodyToSide0(SideMessageType type,
                          const std::vector<uint8_t>& body) {
    EXPECT_TRUE(relay_a->Send(type, body).ok());
    EXPECT_TRUE(relay_a->FlushFor(milliseconds(1000)).ok());
    Status s;
    const auto deadline =
        std::chrono::steady_clock::now() + milliseconds(5000);
    while (s.ok() && std::chrono::steady_clock::now() < deadline) {
      s = conns[0]->Progress();
      Forward(*relay_b, *relay_a);
      (void)conns[1]->Progress();
    }
    return s;
  }

  std::unique_ptr<SideChannel> relay_a, relay_b;
  std::unique_ptr<Connection> conns[2];
  Status status[2];
};

// Messages that went over TCP while no path could carry, and that TCP has
// not delivered when a path carries again (a lost segment waits for TCP's
// retransmission timer, hundreds of ms), go on the path too: the messages
// behind them do not wait for TCP, and the second copy is dropped.
TEST(ConnectionTest, WhatTcpHasNotDeliveredGoesOnTheReturningPath) {
  FakeFabric::Options fo;
  fo.retry_timeout = milliseconds(30);
  Harness h(fo);
  h.base.failed_retry = std::chrono::minutes(10);  // No reset, no retry.
  const Bond bonds[2] = {AbBond(0), AbBond(0)};
  RelayedPair r(h, &bonds[0], &bonds[1]);
  ASSERT_TRUE(r.conns[0] && r.conns[1]) << r.status[0].message() << " / "
                                        << r.status[1].message();
  for (int side = 0; side < 2; side++) {
    h.s[side].conn = std::move(r.conns[side]);
    h.Watch(side);
  }
  // Both ways relayed, or side 0's output held back (as TCP holds what
  // follows a lost segment).
  bool relay_side0 = true;
  auto run = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      h.Pump();
      if (relay_side0) RelayedPair::Forward(*r.relay_a, *r.relay_b);
      RelayedPair::Forward(*r.relay_b, *r.relay_a);
    }
    return done();
  };
  auto carrying = [&] {
    for (const PathStats& p : h.s[0].conn->stats().paths) {
      if (p.up && p.carries) return true;
    }
    return false;
  };
  ASSERT_TRUE(run(carrying)) << Describe(*h.s[0].conn);
  constexpr uint64_t kMessages = 40;
  for (uint64_t i = 0; i < 10; i++) {
    ASSERT_TRUE(h.s[0].conn->Send(Message(i)).ok());
  }
  ASSERT_TRUE(run([&] { return h.s[1].received.size() == 10; }));
  // Side 0's active member dies unannounced, and its TCP stops getting
  // through: the messages sent now fall back to TCP and stay there.
  relay_side0 = false;
  h.fabric.SetLinkDown(0, 0, true);
  for (uint64_t i = 10; i < kMessages; i++) {
    ASSERT_TRUE(h.s[0].conn->Send(Message(i)).ok());
  }
  ASSERT_TRUE(run([&] {
    return h.s[0].conn->stats().tcp_messages_sent == kMessages - 10;
  })) << Describe(*h.s[0].conn);
  EXPECT_EQ(h.s[1].received.size(), 10u);
  EXPECT_EQ(h.s[0].conn->stats().tcp_resent, 0u);
  // OVS fails over to p2 (the path from it needs no reset): the messages
  // TCP holds go on it, while TCP still holds them.
  ASSERT_TRUE(h.s[0].conn->UpdateBond(Disable(bonds[0], 0), kImpl).ok());
  ASSERT_TRUE(run([&] { return h.s[1].received.size() == kMessages; }))
      << Describe(*h.s[0].conn);
  EXPECT_EQ(h.s[0].conn->stats().tcp_resent, kMessages - 10);
  EXPECT_EQ(h.s[1].conn->stats().tcp_messages_received, 0u);
  // TCP delivers its copies late: they are dropped, nothing is delivered
  // twice, and what TCP acknowledged is freed.
  relay_side0 = true;
  ASSERT_TRUE(run([&] {
    return h.s[1].conn->stats().tcp_messages_received == kMessages - 10 &&
           h.s[0].conn->InFlight() == 0;
  })) << Describe(*h.s[0].conn);
  EXPECT_GE(h.s[1].conn->stats().duplicates_dropped, kMessages - 10);
  ASSERT_EQ(h.s[1].received.size(), kMessages);
  for (uint64_t i = 0; i < kMessages; i++) EXPECT_EQ(h.s[1].received[i], i);
  EXPECT_FALSE(h.s[1].corrupt);
}

// A PATH_RESET that jumps the path's incarnation far ahead (to 0xffffffff,
// after which no reset could ever be newer, or just past the allowed lead)
// is refused: the connection fails with Corruption naming the path and
// both incarnations.  (A lead of a few is legitimate: a reset of ours that
// timed out after the peer completed it; the lab's flap scenario has it.)
TEST(ConnectionTest, PathResetMayNotJumpFarAhead) {
  for (uint32_t incarnation :
       {uint32_t{0xffffffff},
        static_cast<uint32_t>(1 + conn_detail::kMaxIncarnationLead + 1)}) {
    SCOPED_TRACE(incarnation);
    Harness h(FakeFabric::Options(), 1);
    RelayedPair r(h);
    ASSERT_TRUE(r.status[0].ok() && r.status[1].ok())
        << r.status[0].ToString() << " / " << r.status[1].ToString();
    PathResetMessage forged;
    forged.path = PathId{0, 0};
    forged.incarnation = incarnation;
    forged.qp = QpEndpoint{};
    const Status s = r.ForgeToSide0(SideMessageType::kPathReset, forged);
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.message().find("jumps from incarnation 1 to " +
                               std::to_string(incarnation) + " (at most 17)"),
              std::string::npos)
        << s.ToString();
  }
}

// DATA (TCP fallback) can write only inside the receiver's write region,
// deliver only messages it could take on a path, and nothing but messages
// and writes: anything else fails the connection with Corruption.
TEST(ConnectionTest, DataOnTheSideChannelStaysInBounds) {
  const size_t region = Harness().base.write_region_size;
  const uint32_t max = Harness().base.max_message_size;
  std::vector<uint8_t> big(max + 1, 1), small(100, 2);
  struct Case {
    DataMessage m;
    std::string expected;
  } cases[] = {
      {{100, conn_detail::kWriteNotice, region - 10, small}, "DATA writes"},
      {{100, conn_detail::kWriteNotice, ~uint64_t{0}, small}, "DATA writes"},
      {{100, conn_detail::kData, 0, big}, "exceeds max_message_size"},
      {{100, 7, 0, small}, "DATA of type 7"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expected);
    Harness h(FakeFabric::Options(), 1);
    RelayedPair r(h);
    ASSERT_TRUE(r.status[0].ok() && r.status[1].ok());
    const Status s =
        r.ForgeBodyToSide0(SideMessageType::kData, EncodeData(c.m));
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.message().find(c.expected), std::string::npos)
        << s.ToString();
  }
}

// A reset brings the peer's new QP number and PSN, never another address:
// a PATH_RESET (or its ACK) that points the path at another IP, GID, MAC
// or MTU is refused, so that whoever speaks on the side channel cannot
// steer the path's traffic elsewhere.
TEST(ConnectionTest, PathResetCannotMoveThePeersAddress) {
  for (const SideMessageType type :
       {SideMessageType::kPathReset, SideMessageType::kPathResetAck}) {
    Harness h(FakeFabric::Options(), 1);
    RelayedPair r(h);
    ASSERT_TRUE(r.status[0].ok() && r.status[1].ok())
        << r.status[0].ToString() << " / " << r.status[1].ToString();
    PathResetMessage forged;
    forged.path = PathId{0, 0};
    forged.incarnation = 2;  // The next one: only the address is wrong.
    forged.qp.qpn = 0x123;
    forged.qp.ip = *ParseIpAddress("10.99.0.9");
    forged.qp.mac = MacAddress{2, 0, 0, 0, 0x99, 9};
    const Status s = r.ForgeToSide0(type, forged);
    ASSERT_FALSE(s.ok()) << ToString(type);
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.message().find("moves the peer's QP from " +
                               std::string(kIp[1])),
              std::string::npos)
        << s.ToString();
    EXPECT_NE(s.message().find("to 10.99.0.9"), std::string::npos)
        << s.ToString();
  }
}

TEST(ConnectionTest, CApiSmoke) {
  Harness h;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::vector<rdma_bond_rnic*> handles;
  for (auto& r : h.s[0].rnics) handles.push_back(rdma_bond_rnic_wrap(r.get()));
  int c_result = -1;
  std::thread c_side([&] {
    c_result = rdma_bond_c_api_smoke(fds[0], handles.data(), handles.size(),
                                     kIp[0], kIp[1], 200);
  });
  // The C++ side echoes every message.
  std::vector<Rnic*> rnics;
  for (auto& r : h.s[1].rnics) rnics.push_back(r.get());
  Result<std::unique_ptr<Connection>> c = Connection::Establish(
      std::move(*SideChannel::Adopt(fds[1])), false, rnics, nullptr, kImpl,
      h.Options(1));
  if (!c.ok()) {
    c_side.join();
    FAIL() << c.status().ToString();
  }
  Connection& conn = **c;
  std::vector<std::vector<uint8_t>> echo;
  conn.OnMessage([&echo](std::span<const uint8_t> m) {
    echo.emplace_back(m.begin(), m.end());
  });
  size_t echoed = 0;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  while (echoed < 200 && std::chrono::steady_clock::now() < deadline) {
    conn.WaitForEvents(milliseconds(1));
    ASSERT_TRUE(conn.Progress().ok());
    while (echoed < echo.size()) {
      Status st = conn.Send(echo[echoed]);
      if (st.code() == Status::Code::kUnavailable) break;
      ASSERT_TRUE(st.ok()) << st.ToString();
      echoed++;
    }
  }
  EXPECT_EQ(echoed, 200u) << Describe(conn);
  EXPECT_TRUE(conn.Close(milliseconds(3000)).ok());
  c_side.join();
  EXPECT_EQ(c_result, 0) << "failed at line " << c_result << ": "
                         << rdma_bond_last_error();
  for (rdma_bond_rnic* r : handles) rdma_bond_rnic_close(r);

}

}  // namespace
}  // namespace rdma_bond
