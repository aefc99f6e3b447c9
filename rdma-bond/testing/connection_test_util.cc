// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "testing/connection_test_util.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "rdma_bond/predictor.h"
#include "testing/predictor_test_util.h"

namespace rdma_bond::testing {

using std::chrono::milliseconds;

Bond Disable(Bond bond, size_t m) {
  bond.members[m].flags &= ~RDMA_BOND_M_ENABLED;
  for (uint8_t& owner : bond.buckets) {
    if (owner == m) owner = static_cast<uint8_t>((m + 1) % bond.members.size());
  }
  if (bond.active_member == m) {
    bond.active_member = (m + 1) % bond.members.size();
  }
  bond.generation++;
  return bond;
}

size_t SwitchMember(int side, uint16_t sport) {
  return static_cast<size_t>(MixSpreadKey(sport * 31ull + side) >> 7) % 2;
}

std::vector<uint8_t> Message(uint64_t n, size_t size) {
  std::vector<uint8_t> m(size);
  std::memcpy(m.data(), &n, sizeof n);
  for (size_t i = sizeof n; i < size; i++) {
    m[i] = static_cast<uint8_t>(n * 13 + i);
  }
  return m;
}

SideRelay::SideRelay() {
  int a[2], b[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
  end_[0] = a[0];
  relay_[0] = a[1];
  end_[1] = b[0];
  relay_[1] = b[1];
  thread_ = std::thread([this] { Run(); });
}

SideRelay::~SideRelay() {
  stop_ = true;
  thread_.join();
  for (int fd : {end_[0], end_[1], relay_[0], relay_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void SideRelay::Hold(bool held) {
  held_ = held;
  if (!held) return;
  while (!parked_) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

int SideRelay::TakeEnd(int side) {
  const int fd = end_[side];
  end_[side] = -1;
  return fd;
}

void SideRelay::Run() {
  bool open[2] = {true, true};
  std::vector<uint8_t> buf(1 << 16);
  while (!stop_ && (open[0] || open[1])) {
    if (held_) {
      parked_ = true;
      std::this_thread::sleep_for(milliseconds(1));
      continue;
    }
    parked_ = false;
    pollfd fds[2] = {{relay_[0], static_cast<short>(open[0] ? POLLIN : 0), 0},
                     {relay_[1], static_cast<short>(open[1] ? POLLIN : 0), 0}};
    if (poll(fds, 2, 1) <= 0) continue;
    for (int i = 0; i < 2; i++) {
      if (!open[i] || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      const ssize_t n = read(relay_[i], buf.data(), buf.size());
      if (n <= 0) {
        open[i] = false;
        shutdown(relay_[1 - i], SHUT_WR);
        continue;
      }
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = send(relay_[1 - i], buf.data() + done,
                               static_cast<size_t>(n - done), MSG_NOSIGNAL);
        if (w <= 0) {
          open[1 - i] = false;
          break;
        }
        done += w;
      }
    }
  }
  parked_ = true;  // Passes nothing more.
}

Harness::Harness(const FakeFabric::Options& options, size_t members)
    : fabric(options) {
  for (int side = 0; side < 2; side++) {
    for (size_t m = 0; m < members; m++) {
      s[side].rnics.push_back(fabric.CreateRnic(
          side, m, "p" + std::to_string(m + 1), *ParseIpAddress(kIp[side])));
    }
  }
}

Harness::~Harness() {
  s[0].conn.reset();
  s[1].conn.reset();
  relay_.reset();
}

ConnectionOptions Harness::Options(int side) const {
  ConnectionOptions o = base;
  o.local = *ParseIpAddress(kIp[side]);
  o.remote = *ParseIpAddress(kIp[1 - side]);
  o.spread_key = base.spread_key + static_cast<uint64_t>(side) * 1000;
  o.agent = agent[side];
  return o;
}

std::pair<Status, Status> Harness::Establish(const Bond* bond0,
                                             const Bond* bond1) {
  int fds[2];
  if (relay_side) {
    relay_ = std::make_unique<SideRelay>();
    fds[0] = relay_->TakeEnd(0);
    fds[1] = relay_->TakeEnd(1);
  } else {
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  }
  Status st[2];
  const Bond* bonds[2] = {bond0, bond1};
  auto run = [&](int side) {
    std::vector<Rnic*> rnics;
    for (auto& r : s[side].rnics) rnics.push_back(r.get());
    Result<std::unique_ptr<Connection>> c = Connection::Establish(
        std::move(*SideChannel::Adopt(fds[side])), side == 0, rnics,
        bonds[side], kImpl, Options(side));
    if (!c.ok()) {
      st[side] = c.status();
      return;
    }
    s[side].conn = std::move(*c);
  };
  std::thread t(run, 1);
  run(0);
  t.join();
  for (int side = 0; side < 2 && s[side].conn; side++) Watch(side);
  return {st[0], st[1]};
}

void Harness::EstablishOrDie(const Bond* bond0, const Bond* bond1) {
  auto [a, b] = Establish(bond0, bond1);
  ASSERT_TRUE(a.ok()) << a.ToString();
  ASSERT_TRUE(b.ok()) << b.ToString();
}

void Harness::Watch(int side) {
  Side& me = s[side];
  me.conn->OnMessage([&me](std::span<const uint8_t> m) {
    uint64_t n = 0;
    if (m.size() < sizeof n) {
      me.corrupt = true;
      return;
    }
    std::memcpy(&n, m.data(), sizeof n);
    if (std::vector<uint8_t>(m.begin(), m.end()) != Message(n, m.size())) {
      me.corrupt = true;
    }
    me.received.push_back(n);
    me.events.push_back("m" + std::to_string(n));
  });
  me.conn->OnWrite([&me](uint64_t offset, size_t length) {
    me.events.push_back("w" + std::to_string(offset) + "+" +
                        std::to_string(length));
  });
}

void Harness::Pump() {
  for (int side = 0; side < 2; side++) {
    Status st = s[side].conn->Progress();
    ASSERT_TRUE(st.ok()) << "side " << side << ": " << st.ToString();
  }
}

bool Harness::PumpUntil(const std::function<bool()>& done,
                        milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    Pump();
    if (::testing::Test::HasFatalFailure()) return false;
    if (std::chrono::steady_clock::now() > deadline) return false;
  }
  return true;
}

void Harness::Transfer(uint64_t n,
                       const std::function<void(uint64_t)>& at) {
  uint64_t next[2] = {0, 0};
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (next[0] < n || next[1] < n) {
    for (int side = 0; side < 2; side++) {
      for (int k = 0; k < 32 && next[side] < n; k++) {
        if (side == 0 && at) at(next[0]);
        Status st = s[side].conn->Send(Message(next[side]));
        if (st.code() == Status::Code::kUnavailable) break;
        ASSERT_TRUE(st.ok()) << st.ToString();
        next[side]++;
      }
    }
    Pump();
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "sent " << next[0] << " and " << next[1];
  }
  ASSERT_TRUE(PumpUntil([&] {
    return s[0].received.size() >= n && s[1].received.size() >= n &&
           s[0].conn->InFlight() == 0 && s[1].conn->InFlight() == 0;
  }, milliseconds(10000)))
      << "received " << s[0].received.size() << " and "
      << s[1].received.size();
}

void Harness::ExpectExactlyOnceInOrder(uint64_t n) {
  for (int side = 0; side < 2; side++) {
    EXPECT_FALSE(s[side].corrupt);
    ASSERT_EQ(s[side].received.size(), n) << "side " << side;
    for (uint64_t i = 0; i < n; i++) {
      ASSERT_EQ(s[side].received[i], i) << "side " << side;
    }
    EXPECT_EQ(s[side].conn->stats().messages_delivered, n);
  }
}

bool Harness::AllUp(int side) const {
  for (const PathStats& p : s[side].conn->stats().paths) {
    if (!p.up) return false;
  }
  return true;
}

std::string Describe(const Connection& conn) {
  const ConnectionStats st = conn.stats();
  std::string text = "sent " + std::to_string(st.messages_sent) +
                     " delivered " + std::to_string(st.messages_delivered) +
                     " in flight " + std::to_string(conn.InFlight()) +
                     " resent " + std::to_string(st.resent) + "\n";
  for (const PathStats& p : st.paths) {
    text += "  " + p.local_member + "->" + p.remote_member + " " + p.state +
            (p.carries ? " carries" : "") + " sport " +
            std::to_string(p.sport) + " sent " +
            std::to_string(p.messages_sent) + " received " +
            std::to_string(p.messages_received) + " failures " +
            std::to_string(p.failures) + " resets " +
            std::to_string(p.resets) + " repicks " +
            std::to_string(p.repicks) + ": " + p.last_error + "\n";
  }
  return text;
}

void ExpectPinnedAndDelivered(const Harness& h, const Bond bonds[2]) {
  for (int side = 0; side < 2; side++) {
    Predictor predictor = *Predictor::Create(bonds[side], kImpl);
    for (const PathStats& p : h.s[side].conn->stats().paths) {
      FiveTuple t = *MakeUdpTuple(*ParseIpAddress(kIp[side]),
                                  *ParseIpAddress(kIp[1 - side]), p.sport);
      Prediction where = predictor.Predict(FlowKey(t));
      ASSERT_TRUE(where.has_member());
      EXPECT_EQ(where.member, p.local_index)
          << "side " << side << " path " << p.local_member << "->"
          << p.remote_member << " sport " << p.sport;
      EXPECT_EQ(SwitchMember(side, p.sport), p.remote_index)
          << "side " << side << " path " << p.local_member << "->"
          << p.remote_member << " sport " << p.sport;
    }
  }
}

void HashedSwitch(FakeFabric& fabric) {
  fabric.SetRule([](const FakeFrame& f) {
    return SwitchMember(f.side, f.sport) == f.dest_member
               ? Verdict::kDeliver
               : Verdict::kOtherMember;
  });
}

void ActiveOnlySwitch(FakeFabric& fabric, const size_t* active) {
  fabric.SetRule([active](const FakeFrame& f) {
    return f.dest_member == active[1 - f.side] ? Verdict::kDeliver
                                               : Verdict::kDrop;
  });
}

}  // namespace rdma_bond::testing
