// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Test helpers for multipath connections (connection_test.cc,
// connection_agent_test.cc): two sides on a FakeFabric (fake_rnic.h), each
// with one FakeRnic per bond member "p1", "p2"..., their connections
// established over a socketpair in two threads, pumped from the test's
// thread, and the bonds and switch rules the tests use.
//
// Thread-safety: a Harness is used from the test's thread (Establish()
// runs the second side in a thread of its own and joins it).

#ifndef RDMA_BOND_CONNECTION_TEST_UTIL_H_
#define RDMA_BOND_CONNECTION_TEST_UTIL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "rdma_bond/agent_client.h"
#include "rdma_bond/bond.h"
#include "rdma_bond/connection.h"
#include "rdma_bond/ovs_hash.h"
#include "testing/fake_rnic.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond::testing {

inline constexpr uint32_t kImpl = static_cast<uint32_t>(HashImpl::kMhash);
// The RoCEv2 address of side 0 and side 1.
inline constexpr const char* kIp[2] = {"10.0.0.1", "10.0.0.2"};

// TcpBond() and AbBond() (predictor_test_util.h) make the bonds.
// The bond with member 'm' disabled (its buckets moved to the others).
Bond Disable(Bond bond, size_t m);

// The member of the other side that the test switch delivers a frame
// with source port 'sport' from 'side' to: an unknown hash, as a real
// port-channel's.
size_t SwitchMember(int side, uint16_t sport);
// The switch rule of SwitchMember(): a frame the hash takes to another
// member than the one addressed goes there (and is lost).
void HashedSwitch(FakeFabric& fabric);

// The switch of an active-backup bond on each side: a frame reaches
// only the active member of the side it is sent to ('active[side]', read
// at each frame, so the test may change it), the others drop it.
void ActiveOnlySwitch(FakeFabric& fabric, const size_t* active);

// A message: its index, then filler that depends on it.
std::vector<uint8_t> Message(uint64_t n, size_t size = 64);

// A side channel that passes through a thread of its own, which the test
// can hold: bytes sent meanwhile wait (as behind a TCP connection waiting
// for its retransmission timer) and pass when released.
class SideRelay {
 public:
  SideRelay();
  // Closes what is left and joins the thread.
  ~SideRelay();
  SideRelay(const SideRelay&) = delete;
  SideRelay& operator=(const SideRelay&) = delete;
  // Side 'side''s end of the channel (once; the caller owns it).
  int TakeEnd(int side);
  // Holding returns once the relay passes nothing more.
  void Hold(bool held);

 private:
  void Run();
  int end_[2] = {-1, -1};     // The sides' ends.
  int relay_[2] = {-1, -1};   // The relay's ends of the two socketpairs.
  std::atomic<bool> held_{false};
  std::atomic<bool> parked_{false};  // The relay saw held_ and waits.
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Side {
  std::vector<std::unique_ptr<FakeRnic>> rnics;
  std::unique_ptr<Connection> conn;
  std::vector<uint64_t> received;   // Message indexes, as delivered.
  std::vector<std::string> events;  // "m<n>" and "w<offset>", in order.
  bool corrupt = false;             // A message's filler was wrong.
};

class Harness {
 public:
  explicit Harness(const FakeFabric::Options& options = FakeFabric::Options(),
                   size_t members = 2);
  // Connections before their RNICs.
  ~Harness();

  // The options of 'side': base, its addresses and spread key, and
  // agent[side].
  ConnectionOptions Options(int side) const;

  // Establishes both ends in two threads; returns both statuses.
  std::pair<Status, Status> Establish(const Bond* bond0, const Bond* bond1);
  void EstablishOrDie(const Bond* bond0, const Bond* bond1);

  // Records side's messages and writes in its Side.
  void Watch(int side);
  // One Progress() on each side (a fatal failure if one fails).
  void Pump();
  // Pumps until 'done' or 'timeout'; false on timeout.
  bool PumpUntil(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout =
                     std::chrono::milliseconds(5000));
  // Sends 'n' messages each way; 'at(i)' runs before message i is sent.
  void Transfer(uint64_t n, const std::function<void(uint64_t)>& at = {});
  // Each side got 0..n-1 exactly once, in order, intact.
  void ExpectExactlyOnceInOrder(uint64_t n);
  bool AllUp(int side) const;

  FakeFabric fabric;
  Side s[2];
  ConnectionOptions base = [] {
    ConnectionOptions o;
    o.max_message_size = 256;
    o.send_window = 64;
    o.recv_buffers = 64;
    o.write_region_size = 1 << 16;
    o.spread_key = 1;
    return o;
  }();
  // Each side's agent client (not owned; must outlive the connections).
  AgentClient* agent[2] = {nullptr, nullptr};
  // Set before Establish(): the side channel goes through a SideRelay
  // that HoldSide() holds.
  bool relay_side = false;
  void HoldSide(bool held) { relay_->Hold(held); }

 private:
  std::unique_ptr<SideRelay> relay_;
};

// Paths and counters, for failure messages.
std::string Describe(const Connection& conn);

// The source port of every path maps to its local member in that side's
// bond, and the test switch takes it to the path's remote member.
void ExpectPinnedAndDelivered(const Harness& h, const Bond bonds[2]);

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_CONNECTION_TEST_UTIL_H_
