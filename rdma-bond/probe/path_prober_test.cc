// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The L4 path prober (path_prober.h).  Two probers, hosts A and B, joined
// by an in-test switch that hashes each frame's 5-tuple with a seeded mix
// the probers never see, to choose the destination host's member; each
// host's "OVS" maps source ports to members with another seeded mix.  A
// fake clock drives both to quiescence, then every validated port is
// checked against both functions, by brute force for the return path.

#include "probe/path_prober.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "testing/probe_test_util.h"

namespace rdma_bond {
namespace {

constexpr int64_t kLatencyUs = 100;       // One way, through the switch.
constexpr int64_t kSettleUs = 2'000'000;  // Well below the refresh.

uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t IpKey(const IpAddress& ip) {
  uint64_t h = ip.version;
  for (uint8_t b : ip.bytes) h = Mix(h ^ b);
  return h;
}

// One host: its bond, its OVS (a seeded map from source port to one of
// the usable members) and its prober.
struct Host {
  Host(std::string label, const char* ip, uint8_t mac_byte,
       std::vector<std::string> names, uint64_t ovs_seed)
      : label(std::move(label)),
        ip(*ParseIpAddress(ip)),
        mac{2, 0, 0, 0, 0, mac_byte},
        names(std::move(names)),
        usable(this->names.size(), true),
        ovs_seed(ovs_seed) {
    PathProberOptions o;
    o.agent_id = Mix(ovs_seed + 1);
    o.local_ip = this->ip;
    o.local_mac = mac;
    prober.emplace(std::move(*PathProber::Create(o)));
  }

  // Which member OVS sends a flow from this host to 'dst' on, when the
  // members in 'up' are usable.
  size_t OvsWith(const std::vector<bool>& up, uint16_t sport,
                 const IpAddress& dst) const {
    std::vector<size_t> members;
    for (size_t m = 0; m < names.size(); m++) {
      if (up[m]) members.push_back(m);
    }
    return members[Mix(ovs_seed ^ IpKey(dst) ^ sport) % members.size()];
  }
  size_t Ovs(uint16_t sport, const IpAddress& dst) const {
    return OvsWith(usable, sport, dst);
  }

  // The SportSource: ports whose flow OVS sends on 'member' (with
  // stale_ports, as OVS did while every member was usable).
  std::vector<uint16_t> Ports(size_t member, const IpAddress& dst,
                              size_t count, uint64_t key) const {
    const std::vector<bool> up =
        stale_ports ? std::vector<bool>(names.size(), true) : usable;
    std::vector<uint16_t> out;
    const uint32_t start = static_cast<uint32_t>(key % kRoceSportCount);
    const uint32_t stride = static_cast<uint32_t>(Mix(key) | 1);
    for (uint32_t i = 0; i < kRoceSportCount && out.size() < count; i++) {
      const uint16_t port = static_cast<uint16_t>(
          kRoceSportMin + (start + i * stride) % kRoceSportCount);
      if (up[member] && OvsWith(up, port, dst) == member) {
        out.push_back(port);
      }
    }
    return out;
  }

  // Tells the prober about the bond as it is now (a bond change).
  void PublishBond() {
    std::vector<LocalMember> members;
    for (size_t m = 0; m < names.size(); m++) {
      members.push_back({names[m], usable[m]});
    }
    SportCheck check;
    if (with_check) {
      check = [this](size_t m, const IpAddress& dst, uint16_t sport) {
        return usable[m] && Ovs(sport, dst) == m;
      };
    }
    ASSERT_TRUE(prober
                    ->SetLocalBond(members,
                                   [this](size_t m, const IpAddress& dst,
                                          size_t count, uint64_t key) {
                                     return Ports(m, dst, count, key);
                                   },
                                   check)
                    .ok());
  }

  std::string label;
  IpAddress ip;
  MacAddress mac;
  std::vector<std::string> names;
  std::vector<bool> usable;
  uint64_t ovs_seed;
  bool stale_ports = false;
  bool with_check = true;           // Give the prober a SportCheck.
  std::optional<PathProber> prober;
};

// Two hosts, a switch and a clock.
class Lab {
 public:
  Lab(size_t members_a, size_t members_b, uint64_t switch_seed,
      bool ipv6 = false)
      : a("A", ipv6 ? "fd00::1" : "10.0.0.1", 1, Names("a", members_a),
          0x1111),
        b("B", ipv6 ? "fd00::2" : "10.0.0.2", 2, Names("b", members_b),
          0x2222),
        switch_seed(switch_seed) {
    a.PublishBond();
    b.PublishBond();
    EXPECT_TRUE(a.prober->AddPeer(b.ip, b.mac).ok());
    EXPECT_TRUE(b.prober->AddPeer(a.ip, a.mac).ok());
  }

  static std::vector<std::string> Names(const char* prefix, size_t n) {
    std::vector<std::string> names;
    for (size_t i = 0; i < n; i++) names.push_back(prefix + std::to_string(i));
    return names;
  }

  Host& Other(const Host& h) { return &h == &a ? b : a; }

  // The switch: which member of 'to' a frame from 'from' with 'sport'
  // reaches (a port channel hashes over its links that are up).
  size_t Switch(const Host& from, const Host& to, uint16_t sport) const {
    std::vector<size_t> up;
    for (size_t m = 0; m < to.names.size(); m++) {
      if (to.usable[m]) up.push_back(m);
    }
    // With l3_toward_a, frames to A are hashed on the addresses only.
    const uint64_t l4 = l3_toward_a && &to == &a
                            ? 0
                            : uint64_t{sport} << 16 ^ kRoceV2UdpPort;
    const uint64_t h =
        Mix(switch_seed ^ IpKey(from.ip) * 3 ^ IpKey(to.ip) * 5 ^ l4);
    return up[h % up.size()];
  }

  // What every host sends goes through here: checked, counted, maybe
  // lost, else delivered to the member the switch picks.
  void Send(Host& from, size_t member, std::span<const uint8_t> frame) {
    FrameAddress address;
    ProbeMessage msg;
    ASSERT_TRUE(ParseProbeFrame(frame, &address, &msg).ok());
    // Never from a member that is not usable; always a port OVS sends
    // on that member, from the member the message names.
    EXPECT_TRUE(from.usable[member]) << from.label << member;
    EXPECT_EQ(from.Ovs(address.udp_sport, address.dst_ip), member);
    EXPECT_EQ(msg.member, member);
    sent[&from][member]++;
    Host& to = Other(from);
    EXPECT_EQ(address.dst_ip, to.ip);
    if (loss > 0 && std::uniform_real_distribution<>(0, 1)(rng) < loss) {
      return;
    }
    wire.push_back({now + kLatencyUs, &to,
                    Switch(from, to, address.udp_sport),
                    std::vector<uint8_t>(frame.begin(), frame.end())});
  }

  int64_t Deadline(const Host& h) const {
    const int64_t d = h.prober->NextDeadlineUs();
    return d < 0 ? -1 : std::max(d, now);
  }

  // Runs both hosts and the wire until 'end_us'.
  void RunUntil(int64_t end_us) {
    for (int steps = 0; steps < 1'000'000; steps++) {
      int64_t next = end_us + 1;
      if (!wire.empty()) next = std::min(next, wire.front().at);
      for (const Host* h : {&a, &b}) {
        const int64_t d = Deadline(*h);
        if (d >= 0) next = std::min(next, d);
      }
      if (next > end_us) break;
      now = next;
      while (!wire.empty() && wire.front().at <= now) {
        InFlight f = std::move(wire.front());
        wire.pop_front();
        if (datagrams) {
          // The UD transport: a receive sees the addresses (the GRH) and
          // the payload, neither the MACs nor the UDP port.
          FrameAddress address;
          RocePacket packet;
          ASSERT_TRUE(ParseFrame(f.frame, &address, &packet).ok());
          f.to->prober->HandleDatagram(f.member, address.src_ip,
                                       address.dst_ip, packet.payload, now);
        } else {
          f.to->prober->HandleFrame(f.member, f.frame, now);
        }
      }
      for (Host* h : {&a, &b}) {
        const int64_t d = Deadline(*h);
        if (d >= 0 && d <= now) {
          h->prober->Run(now, [this, h](size_t m,
                                        std::span<const uint8_t> frame) {
            Send(*h, m, frame);
          });
        }
      }
      if (steps == 999'999) ADD_FAILURE() << "no quiescence by " << now;
    }
    now = end_us;
  }
  void Settle() { RunUntil(now + kSettleUs); }

  // Checks every validated port of 'x' toward its peer against the OVS
  // and switch functions, and the return path by brute force.  Returns
  // the number of pairs with validated ports.
  size_t Verify(const Host& x) {
    const Host& y = &x == &a ? b : a;
    size_t pairs = 0;
    for (size_t m = 0; m < x.names.size(); m++) {
      for (size_t n = 0; n < y.names.size(); n++) {
        const std::vector<uint16_t> sports =
            x.prober->ValidatedSports(y.ip, m, y.names[n]);
        if (sports.empty()) continue;
        pairs++;
        EXPECT_TRUE(x.usable[m] && y.usable[n]);
        for (uint16_t s : sports) {
          EXPECT_EQ(x.Ovs(s, y.ip), m) << x.label << " port " << s;
          EXPECT_EQ(Switch(x, y, s), n) << x.label << " port " << s;
        }
        bool returns = false;
        for (uint32_t s = kRoceSportMin; s <= 0xffff && !returns; s++) {
          const uint16_t port = static_cast<uint16_t>(s);
          returns = y.Ovs(port, x.ip) == n && Switch(y, x, port) == m;
        }
        EXPECT_TRUE(returns) << x.label << " pair " << m << "," << n;
      }
    }
    return pairs;
  }

  struct InFlight {
    int64_t at;
    Host* to;
    size_t member;
    std::vector<uint8_t> frame;
  };

  Host a;
  Host b;
  uint64_t switch_seed;
  bool l3_toward_a = false;
  bool datagrams = false;           // Deliver as HandleDatagram().
  double loss = 0;
  std::mt19937_64 rng{7};
  int64_t now = 0;
  std::deque<InFlight> wire;
  std::map<const Host*, std::map<size_t, uint64_t>> sent;
};

// ---------------------------------------------------------------------------
// Frames that are not for the prober.

TEST(PathProberTest, NonProbesAndBrokenProbesAreIgnored) {
  Host b("B", "10.0.0.2", 2, {"b0", "b1"}, 0x2222);
  b.PublishBond();
  size_t fed = 0;
  const auto Feed = [&](const std::vector<uint8_t>& frame) {
    b.prober->HandleFrame(fed++ % 2, frame, 1000);
  };
  uint64_t malformed = 0;
  uint64_t unsupported = 0;
  for (const auto& [frame, defect] : BrokenProbes()) {
    malformed += defect == ProbeDefect::kMalformed;
    unsupported += defect == ProbeDefect::kUnsupportedVersion;
    Feed(frame);
  }
  const std::vector<uint8_t> probe = BuildProbe(ProbeAddress(), SampleReply());
  for (size_t n = 0; n < probe.size(); n++) {
    Feed(std::vector<uint8_t>(probe.begin(), probe.begin() + n));
  }
  std::mt19937_64 rng(3);
  for (size_t n = 0; n < 400; n++) {
    std::vector<uint8_t> junk(n);
    for (uint8_t& byte : junk) byte = static_cast<uint8_t>(rng());
    Feed(junk);
  }
  EXPECT_EQ(b.prober->stats().frames_received, fed);
  EXPECT_EQ(b.prober->stats().malformed, malformed);
  EXPECT_EQ(b.prober->stats().unsupported_version, unsupported);
  EXPECT_EQ(b.prober->stats().not_probe, fed - malformed - unsupported);
  // A good REPLY from an unknown peer, a good REQUEST to another address,
  // on a member out of range, and our own.
  Feed(probe);
  EXPECT_EQ(b.prober->stats().unknown_peer, 1u);
  ProbeMessage request = SampleReply();
  request.kind = ProbeKind::kRequest;
  FrameAddress elsewhere = ProbeAddress();
  elsewhere.dst_ip = *ParseIpAddress("10.0.0.9");
  b.prober->HandleFrame(0, BuildProbe(elsewhere, request), 1000);
  b.prober->HandleFrame(7, BuildProbe(ProbeAddress(), request), 1000);
  request.agent_id = b.prober->options().agent_id;
  b.prober->HandleFrame(0, BuildProbe(ProbeAddress(), request), 1000);
  EXPECT_EQ(b.prober->stats().not_for_us, 1u);
  EXPECT_EQ(b.prober->stats().on_unusable_member, 1u);
  EXPECT_EQ(b.prober->stats().own, 1u);
  // Nothing was learned, nothing is due, nothing is sent.
  EXPECT_TRUE(b.prober->Reports().empty());
  EXPECT_EQ(b.prober->NextDeadlineUs(), -1);
  bool sent = false;
  b.prober->Run(2000, [&sent](size_t, std::span<const uint8_t>) {
    sent = true;
  });
  EXPECT_FALSE(sent);
}

// ---------------------------------------------------------------------------
// Convergence.

TEST(PathProberTest, ConvergesAndValidatesOnlyTrueTuples) {
  for (auto [ma, mb, v6] : {std::tuple<size_t, size_t, bool>{2, 2, false},
                            {2, 3, false},
                            {3, 2, false},
                            {2, 2, true}}) {
    SCOPED_TRACE(std::to_string(ma) + "x" + std::to_string(mb) +
                 (v6 ? " IPv6" : " IPv4"));
    Lab lab(ma, mb, 0xfeed, v6);
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), ma * mb);
    EXPECT_EQ(lab.Verify(lab.b), ma * mb);
    for (Host* x : {&lab.a, &lab.b}) {
      const Host& y = lab.Other(*x);
      std::optional<PeerProbeReport> r = x->prober->Report(y.ip);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->state, PeerProbeState::kComplete);
      EXPECT_EQ(r->agent_id, y.prober->options().agent_id);
      EXPECT_EQ(r->epoch, y.prober->epoch());
      ASSERT_EQ(r->pairs.size(), ma * mb);
      for (const ProbePairReport& pair : r->pairs) {
        // Lossless: every pair reaches the target, and the peer sees
        // the same pair from its side.
        EXPECT_GE(pair.sports.size(), x->prober->options().sports_per_pair);
        EXPECT_TRUE(pair.return_verified);
        EXPECT_FALSE(y.prober
                         ->ValidatedSports(x->ip, pair.remote_member,
                                           pair.local_name)
                         .empty());
      }
      EXPECT_EQ(r->inconsistent, 0u);
      // Each member stopped once its pairs had enough.
      for (const ProbeMemberStats& m : r->members) {
        EXPECT_GT(m.probes_sent, 0u);
        EXPECT_LT(m.probes_sent, x->prober->options().max_probes_per_member);
      }
    }
    // Quiet until the refresh.
    EXPECT_GE(lab.a.prober->NextDeadlineUs(), kSettleUs);
  }
}

TEST(PathProberTest, OverDatagramsItValidatesTheSameTrueTuples) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    Lab lab(2, 2, 0xfeed, v6);
    lab.datagrams = true;
    // A datagram shows no MAC: the MACs the hosts were given are not
    // checked (here: wrong ones).
    ASSERT_TRUE(lab.a.prober->AddPeer(lab.b.ip, {2, 9, 9, 9, 9, 9}).ok());
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 4u);
    EXPECT_EQ(lab.Verify(lab.b), 4u);
    for (Host* x : {&lab.a, &lab.b}) {
      const Host& y = lab.Other(*x);
      std::optional<PeerProbeReport> r = x->prober->Report(y.ip);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->state, PeerProbeState::kComplete);
      EXPECT_EQ(r->identity_mismatch, 0u);
      EXPECT_EQ(r->inconsistent, 0u);
    }
    EXPECT_EQ(lab.a.prober->stats().identity_mismatch, 0u);
  }
}

TEST(PathProberTest, ADatagramIsAnsweredForThePortItClaims) {
  // B learns A from a datagram REQUEST: its REPLY reports the port the
  // payload says it was sent with, and A is learned without a MAC.
  Host b("B", "10.0.0.2", 2, {"b0", "b1"}, 0x2222);
  b.PublishBond();
  ProbeMessage request = SampleReply();
  request.kind = ProbeKind::kRequest;
  request.echo_nonce = 0;
  request.echo_epoch = 0;
  request.reported_sport = 0;
  request.reported_member = 0;
  request.reported_member_name.clear();
  request.sent_sport = 0xd00d;
  const FrameAddress from = ProbeAddress();
  std::vector<uint8_t> payload(kProbePayloadBytes);
  ASSERT_TRUE(BuildProbePayload(from.src_ip, from.dst_ip, request, nullptr,
                                payload)
                  .ok());
  b.prober->HandleDatagram(1, from.src_ip, from.dst_ip, payload, 1000);
  std::vector<std::vector<uint8_t>> out;
  std::vector<size_t> out_members;
  b.prober->Run(1000, [&](size_t m, std::span<const uint8_t> frame) {
    out.emplace_back(frame.begin(), frame.end());
    out_members.push_back(m);
  });
  ASSERT_FALSE(out.empty());
  FrameAddress address;
  ProbeMessage reply;
  ASSERT_TRUE(ParseProbeFrame(out[0], &address, &reply).ok());
  EXPECT_EQ(reply.kind, ProbeKind::kReply);
  EXPECT_EQ(reply.reported_sport, 0xd00d);
  EXPECT_EQ(reply.reported_member, 1);
  EXPECT_EQ(reply.echo_nonce, request.nonce);
  EXPECT_EQ(out_members[0], 1u);
  EXPECT_EQ(address.dst_ip, from.src_ip);
  std::optional<PeerProbeReport> r = b.prober->Report(from.src_ip);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->learned);
  EXPECT_EQ(r->mac, MacAddress{});
  // A broken payload is refused and counted as a frame would be.
  payload[4] = 1;
  b.prober->HandleDatagram(0, from.src_ip, from.dst_ip, payload, 2000);
  EXPECT_EQ(b.prober->stats().unsupported_version, 1u);
  EXPECT_EQ(b.prober->stats().frames_received, 2u);
}

TEST(PathProberTest, ConvergesUnderLossWithoutWrongTuples) {
  for (uint64_t seed : {1, 2, 3}) {
    Lab lab(2, 2, 0xabc0 + seed);
    lab.loss = 0.3;
    lab.rng.seed(seed);
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 4u) << seed;
    EXPECT_EQ(lab.Verify(lab.b), 4u) << seed;
    uint64_t retries = 0;
    const PeerProbeReport r = *lab.a.prober->Report(lab.b.ip);
    for (const ProbeMemberStats& m : r.members) retries += m.retries;
    EXPECT_GT(retries, 0u);
  }
}

TEST(PathProberTest, PairsWithoutAReturnPathAreNotValidated) {
  // Everything B sends reaches the same member of A, k: A's frames from
  // the other member reach B, but nothing comes back to it.
  Lab lab(2, 2, 0x77);
  lab.l3_toward_a = true;
  const size_t k = lab.Switch(lab.b, lab.a, kRoceSportMin);
  lab.Settle();
  EXPECT_EQ(lab.Verify(lab.a), 2u);
  EXPECT_EQ(lab.Verify(lab.b), 2u);
  const PeerProbeReport ra = *lab.a.prober->Report(lab.b.ip);
  EXPECT_EQ(ra.state, PeerProbeState::kPartial);
  ASSERT_EQ(ra.pairs.size(), 4u);
  for (const ProbePairReport& pair : ra.pairs) {
    const bool back = pair.local_member == k;
    EXPECT_EQ(pair.return_verified, back);
    EXPECT_EQ(pair.sports.empty(), !back);
    EXPECT_GT(pair.forward_sports, 0u);   // The forward path works.
  }
  for (size_t n = 0; n < 2; n++) {
    EXPECT_FALSE(lab.b.prober->ValidatedSports(lab.a.ip, n,
                                               lab.a.names[k]).empty());
    EXPECT_TRUE(lab.b.prober->ValidatedSports(lab.a.ip, n,
                                              lab.a.names[1 - k]).empty());
  }
  EXPECT_EQ(lab.b.prober->Report(lab.a.ip)->state, PeerProbeState::kPartial);
}

TEST(PathProberTest, UnusableMemberSendsNothingAndLosesItsResults) {
  Lab lab(2, 2, 0x5eed);
  lab.Settle();
  ASSERT_FALSE(lab.a.prober->ValidatedSports(lab.b.ip, 1, "b0").empty());
  // Mid-round: A's REQUESTs from a1 unanswered, answers on the wire to a1.
  lab.a.prober->Reprobe();
  lab.RunUntil(lab.now + kLatencyUs + kLatencyUs / 2);
  ASSERT_GT(lab.sent[&lab.a][1], 0u);
  lab.sent.clear();
  lab.a.usable[1] = false;          // Down: OVS and the switch agree.
  lab.a.stale_ports = true;         // The prober alone must not use it.
  lab.a.PublishBond();
  for (const std::string& n : lab.b.names) {
    EXPECT_TRUE(lab.a.prober->ValidatedSports(lab.b.ip, 1, n).empty());
  }
  lab.Settle();
  EXPECT_EQ(lab.sent[&lab.a][1], 0u);
  EXPECT_GT(lab.a.prober->stats().on_unusable_member, 0u);
  EXPECT_GT(lab.sent[&lab.a][0], 0u);
  EXPECT_EQ(lab.Verify(lab.a), 2u);
  EXPECT_EQ(lab.Verify(lab.b), 2u);
  for (size_t n = 0; n < 2; n++) {
    EXPECT_TRUE(lab.b.prober->ValidatedSports(lab.a.ip, n, "a1").empty());
  }
  EXPECT_EQ(lab.a.prober->Report(lab.b.ip)->pairs.size(), 2u);
  EXPECT_EQ(lab.b.prober->Report(lab.a.ip)->remote_usable_mask, 0x1u);
}

// A switch whose hash changed sends some validated port of 'x' elsewhere.
bool SomeResultIsNowWrong(Lab& lab, const Host& x,
                          const std::map<std::pair<size_t, size_t>,
                                         std::vector<uint16_t>>& before) {
  for (const auto& [pair, sports] : before) {
    for (uint16_t s : sports) {
      if (lab.Switch(x, lab.Other(x), s) != pair.second) return true;
    }
  }
  return false;
}

std::map<std::pair<size_t, size_t>, std::vector<uint16_t>> Results(
    Lab& lab, const Host& x) {
  const Host& y = lab.Other(x);
  std::map<std::pair<size_t, size_t>, std::vector<uint16_t>> out;
  for (size_t m = 0; m < x.names.size(); m++) {
    for (size_t n = 0; n < y.names.size(); n++) {
      out[{m, n}] = x.prober->ValidatedSports(y.ip, m, y.names[n]);
    }
  }
  return out;
}

TEST(PathProberTest, ReprobeAfterSwitchChangeReplacesResults) {
  Lab lab(2, 2, 0x1);
  lab.Settle();
  const auto before = Results(lab, lab.a);
  lab.switch_seed = 0x2;
  ASSERT_TRUE(SomeResultIsNowWrong(lab, lab.a, before));
  const uint32_t epoch = lab.a.prober->epoch();
  lab.a.prober->Reprobe();
  EXPECT_EQ(lab.a.prober->epoch(), epoch + 1);
  EXPECT_EQ(lab.Verify(lab.a), 0u);  // Dropped at once.
  lab.Settle();
  EXPECT_EQ(lab.Verify(lab.a), 4u);
  // B saw A's new epoch and probed again too.
  EXPECT_EQ(lab.Verify(lab.b), 4u);
  EXPECT_EQ(lab.b.prober->Report(lab.a.ip)->epoch, epoch + 1);
  EXPECT_NE(Results(lab, lab.a), before);
}

TEST(PathProberTest, PeerEpochChangeOnAFrameTriggersReprobe) {
  Lab lab(2, 2, 0x10);
  lab.Settle();
  const std::optional<PeerProbeReport> r0 = lab.b.prober->Report(lab.a.ip);
  const auto before = Results(lab, lab.b);
  lab.switch_seed = 0x20;
  ASSERT_TRUE(SomeResultIsNowWrong(lab, lab.b, before));
  lab.a.PublishBond();              // A's bond "changed": a new epoch.
  lab.Settle();
  const std::optional<PeerProbeReport> r1 = lab.b.prober->Report(lab.a.ip);
  EXPECT_EQ(r1->epoch, r0->epoch + 1);
  EXPECT_EQ(r1->peer_changes, r0->peer_changes + 1);
  EXPECT_GT(r1->rounds, r0->rounds);
  EXPECT_EQ(lab.Verify(lab.b), 4u);
  EXPECT_EQ(lab.Verify(lab.a), 4u);
}

TEST(PathProberTest, RefreshServesOldResultsUntilTheNewRoundEnds) {
  Lab lab(2, 2, 0x100);
  lab.Settle();
  const auto before = Results(lab, lab.a);
  const PeerProbeReport r0 = *lab.a.prober->Report(lab.b.ip);
  lab.switch_seed = 0x200;          // Nobody is told.
  ASSERT_TRUE(SomeResultIsNowWrong(lab, lab.a, before));
  const int64_t refresh =
      r0.last_round_end_us + lab.a.prober->options().refresh_interval_us;
  // (B's refresh may come first and its CONFIRMs may already show A's
  // moved ports: those are then inconsistent and gone.)
  lab.RunUntil(refresh - 1);
  const auto served = Results(lab, lab.a);
  lab.RunUntil(refresh + 3 * kLatencyUs);
  const PeerProbeReport r1 = *lab.a.prober->Report(lab.b.ip);
  ASSERT_EQ(r1.state, PeerProbeState::kProbing);
  EXPECT_EQ(r1.rounds, r0.rounds + 1);
  EXPECT_EQ(Results(lab, lab.a), served);
  lab.Settle();
  EXPECT_EQ(lab.a.prober->Report(lab.b.ip)->state, PeerProbeState::kComplete);
  EXPECT_EQ(lab.Verify(lab.a), 4u);
  EXPECT_EQ(lab.Verify(lab.b), 4u);
}

// Ports already handed to applications (their QPs use them) stay
// validated across refresh rounds while the switch still carries them.
TEST(PathProberTest, RefreshKeepsThePortsThatStillHold) {
  Lab lab(2, 2, 0x300);
  lab.Settle();
  const auto before = Results(lab, lab.a);
  const PeerProbeReport r0 = *lab.a.prober->Report(lab.b.ip);
  for (int refresh = 0; refresh < 3; refresh++) {
    const PeerProbeReport r = *lab.a.prober->Report(lab.b.ip);
    lab.RunUntil(r.last_round_end_us +
                 lab.a.prober->options().refresh_interval_us + 1);
    lab.Settle();
  }
  const PeerProbeReport r1 = *lab.a.prober->Report(lab.b.ip);
  ASSERT_GE(r1.rounds, r0.rounds + 3);
  EXPECT_EQ(r1.state, PeerProbeState::kComplete);
  const auto after = Results(lab, lab.a);
  for (const auto& [pair, ports] : before) {
    for (uint16_t port : ports) {
      EXPECT_TRUE(std::find(after.at(pair).begin(), after.at(pair).end(),
                            port) != after.at(pair).end())
          << "port " << port << " of pair " << pair.first << "," << pair.second
          << " no longer validated";
    }
  }
  EXPECT_EQ(lab.Verify(lab.a), 4u);
}

// A cable cut makes the switch send every flow to the host that lost it
// over its other link; the repair makes it hash over both again.  Ports
// validated before the cut are probed first during it, so the ports
// validated during the cut are those, and still reach their member after
// the repair (ports chosen afresh during the cut would land on the
// repaired link for about half of them).  The same when the cut is on
// the prober's own side: a remembered port that its OVS now sends on
// another member is never sent from the old one (Lab::Send checks).
TEST(PathProberTest, PortsValidatedBeforeACutHoldAfterTheRepair) {
  for (bool remember : {true, false}) {
    SCOPED_TRACE(remember ? "with SportCheck" : "without SportCheck");
    Lab lab(2, 2, 0x4242);
    lab.a.with_check = remember;
    lab.a.PublishBond();
    lab.Settle();
    const auto before = Results(lab, lab.a);
    // B loses b0, then gets it back.
    lab.b.usable[0] = false;
    lab.b.PublishBond();
    lab.Settle();
    const auto during = Results(lab, lab.a);
    lab.b.usable[0] = true;
    size_t moved = 0, kept = 0;
    for (size_t m = 0; m < 2; m++) {
      ASSERT_FALSE(during.at({m, 1}).empty());
      for (uint16_t port : during.at({m, 1})) {
        moved += lab.Switch(lab.a, lab.b, port) != 1;
        const auto& old = before.at({m, 1});
        kept += std::find(old.begin(), old.end(), port) != old.end();
      }
    }
    if (remember) {
      EXPECT_EQ(moved, 0u) << "validated during the cut, on b0 after it";
      EXPECT_EQ(kept, during.at({0, 1}).size() + during.at({1, 1}).size());
    } else {
      // The comparison: fresh ports, some of which the repair moves.
      EXPECT_GT(moved, 0u);
    }
    lab.b.PublishBond();
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 4u);
    // A loses a1 and gets it back: its OVS moves ports between members.
    lab.a.usable[1] = false;
    lab.a.PublishBond();
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 2u);
    lab.a.usable[1] = true;
    lab.a.PublishBond();
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 4u);
    EXPECT_EQ(lab.Verify(lab.b), 4u);
  }
}

// In a storm the bond changes again before the peer's member is back:
// here B loses b0, then A loses a0 and gets it back, all while b0 is cut.
// What the prober validated toward b1 must still reach b1 once b0 returns
// and the switch hashes over both members again: the ports it learned
// while B had both, not ports that reach b1 only while b0 is down.  (Once
// the ports validated at each change were all it remembered, A's own
// change forgot those of a0, and a0's next round took fresh ports.)
TEST(PathProberTest, PortsThatLastOutliveChangesDuringACut) {
  Lab lab(2, 2, 0x4242);
  lab.Settle();
  ASSERT_EQ(lab.Verify(lab.a), 4u);
  lab.b.usable[0] = false;
  lab.b.PublishBond();
  lab.Settle();
  for (int round = 0; round < 3; round++) {
    lab.a.usable[0] = false;
    lab.a.PublishBond();
    lab.Settle();
    lab.a.usable[0] = true;
    lab.a.PublishBond();
    lab.Settle();
  }
  EXPECT_EQ(lab.Verify(lab.a), 2u);
  // Where each port offered toward b1 goes once b0 is back.
  std::vector<uint16_t> offered;
  for (size_t m = 0; m < 2; m++) {
    const std::vector<uint16_t> sports =
        lab.a.prober->ValidatedSports(lab.b.ip, m, "b1");
    EXPECT_FALSE(sports.empty()) << "a" << m;
    offered.insert(offered.end(), sports.begin(), sports.end());
  }
  // Toward b0, down: the ports that last, where a path toward it waits.
  const std::optional<PeerProbeReport> report = lab.a.prober->Report(lab.b.ip);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->waiting.size(), 2u);
  lab.b.usable[0] = true;
  for (uint16_t port : offered) {
    EXPECT_EQ(lab.Switch(lab.a, lab.b, port), 1u)
        << "port " << port << " offered toward b1 during the cut moves to b0 "
        << "at the repair";
  }
  for (const ProbePairReport& pair : report->waiting) {
    EXPECT_EQ(pair.remote_name, "b0");
    EXPECT_FALSE(pair.sports.empty());
    EXPECT_LE(pair.sports.size(), lab.a.prober->options().sports_per_pair);
    for (uint16_t port : pair.sports) {
      EXPECT_EQ(lab.a.Ovs(port, lab.b.ip), pair.local_member) << port;
      EXPECT_EQ(lab.Switch(lab.a, lab.b, port), 0u) << port;
    }
  }
  lab.b.PublishBond();
  lab.Settle();
  EXPECT_EQ(lab.Verify(lab.a), 4u);
}

TEST(PathProberTest, UnreachablePeerIsNotProbedUntilTheRefresh) {
  Lab lab(2, 2, 0x1000);
  lab.loss = 1.0;
  lab.Settle();
  PeerProbeReport r = *lab.a.prober->Report(lab.b.ip);
  EXPECT_EQ(r.state, PeerProbeState::kUnreachable);
  EXPECT_TRUE(r.pairs.empty());
  EXPECT_EQ(lab.Verify(lab.a), 0u);
  uint64_t timed_out = 0;
  for (const ProbeMemberStats& m : r.members) timed_out += m.timed_out;
  EXPECT_EQ(timed_out, lab.a.prober->options().unreachable_after);
  lab.sent.clear();
  lab.loss = 0;
  lab.RunUntil(r.last_round_end_us +
               lab.a.prober->options().refresh_interval_us - 1);
  EXPECT_EQ(lab.sent[&lab.a][0] + lab.sent[&lab.a][1], 0u);
  lab.Settle();
  EXPECT_EQ(lab.a.prober->Report(lab.b.ip)->state, PeerProbeState::kComplete);
  EXPECT_EQ(lab.Verify(lab.a), 4u);
  EXPECT_EQ(lab.Verify(lab.b), 4u);
}

// ---------------------------------------------------------------------------
// Hand-made frames: prober A alone, the test plays B.

class HandPlayedPeer {
 public:
  using Frame = std::pair<FrameAddress, ProbeMessage>;

  HandPlayedPeer() : a("A", "10.0.0.1", 1, {"a0", "a1"}, 0x1111) {
    a.PublishBond();
    EXPECT_TRUE(a.prober->AddPeer(b_ip, b_mac).ok());
  }

  // Runs A at 'now'; what it sent.
  std::vector<Frame> RunA(int64_t now = 0) {
    std::vector<Frame> out;
    a.prober->Run(now, [&out](size_t member, std::span<const uint8_t> f) {
      Frame frame;
      EXPECT_TRUE(ParseProbeFrame(f, &frame.first, &frame.second).ok());
      EXPECT_EQ(frame.second.member, member);
      out.push_back(frame);
    });
    return out;
  }

  // B's frame of 'kind' from its member 'member', answering 'answered'
  // (REPLY, CONFIRM), delivered to A's member 'arrives_on'.
  void Send(ProbeKind kind, uint8_t member, size_t arrives_on,
            const Frame* answered = nullptr, uint32_t epoch = 5,
            uint64_t agent = 0xb) {
    ProbeMessage m;
    m.kind = kind;
    m.agent_id = agent;
    m.epoch = epoch;
    m.nonce = nonce++;
    m.member = m.reported_member = member;
    m.member_count = 2;
    m.usable_mask = 0x3;
    m.member_name = m.reported_member_name = "b" + std::to_string(member);
    if (answered) {
      m.echo_nonce = answered->second.nonce;
      m.echo_epoch = answered->second.epoch;
      m.reported_sport = answered->first.udp_sport;
    }
    FrameAddress address;
    address.src_mac = b_mac;
    address.dst_mac = a.mac;
    address.src_ip = b_ip;
    address.dst_ip = a.ip;
    address.udp_sport = 0xc000;
    a.prober->HandleFrame(arrives_on, BuildProbe(address, m), 10);
  }

  std::vector<uint16_t> Validated(size_t local, const char* remote) {
    return a.prober->ValidatedSports(b_ip, local, remote);
  }
  PeerProbeReport Report() { return *a.prober->Report(b_ip); }

  Host a;
  const IpAddress b_ip = *ParseIpAddress("10.0.0.2");
  const MacAddress b_mac = {2, 0, 0, 0, 0, 2};
  uint32_t nonce = 100;
};

TEST(PathProberTest, OnlyMatchedConsistentRepliesValidate) {
  HandPlayedPeer t;
  std::vector<HandPlayedPeer::Frame> requests = t.RunA();
  ASSERT_EQ(requests.size(), 8u);   // A window from each member.
  for (const auto& [address, m] : requests) {
    EXPECT_EQ(m.kind, ProbeKind::kRequest);
  }
  const size_t m0 = requests[0].second.member;
  ASSERT_EQ(requests[1].second.member, m0);
  const uint16_t s0 = requests[0].first.udp_sport;
  const uint16_t s1 = requests[1].first.udp_sport;
  // Request 0 arrived on b1, but b1's REPLY came back on the other
  // member: no return path to m0 yet.
  t.Send(ProbeKind::kReply, 1, 1 - m0, &requests[0]);
  EXPECT_TRUE(t.Validated(m0, "b1").empty());
  EXPECT_TRUE(t.Validated(1 - m0, "b1").empty());
  // Then a frame from b1 arrives on m0.
  t.Send(ProbeKind::kRequest, 1, m0);
  EXPECT_EQ(t.Validated(m0, "b1"), std::vector<uint16_t>{s0});
  // Request 1 reported on b0, then on b1: inconsistent, never valid.
  t.Send(ProbeKind::kReply, 0, m0, &requests[1]);
  EXPECT_EQ(t.Validated(m0, "b0"), std::vector<uint16_t>{s1});
  t.Send(ProbeKind::kReply, 1, m0, &requests[1]);
  EXPECT_TRUE(t.Validated(m0, "b0").empty());
  EXPECT_EQ(t.Validated(m0, "b1"), std::vector<uint16_t>{s0});
  EXPECT_EQ(t.Report().inconsistent, 1u);
  // A REPLY echoing an unknown nonce, another port or another epoch of
  // ours places nothing.
  HandPlayedPeer::Frame forged = requests[2];
  forged.second.nonce ^= 0x5555;
  t.Send(ProbeKind::kReply, 0, m0, &forged);
  forged = requests[3];
  forged.first.udp_sport ^= 1;
  t.Send(ProbeKind::kReply, 0, m0, &forged);
  forged = requests[3];
  forged.second.epoch++;
  t.Send(ProbeKind::kReply, 0, m0, &forged);
  EXPECT_EQ(t.Report().unmatched, 3u);
  EXPECT_EQ(t.Validated(m0, "b0"), std::vector<uint16_t>{});
}

TEST(PathProberTest, ConfirmsMustEchoAReplyOfThisEpoch) {
  HandPlayedPeer t;
  t.RunA();
  // B's REQUEST arrives on a1: A answers from a1 with one of its ports.
  t.Send(ProbeKind::kRequest, 0, 1);
  std::vector<HandPlayedPeer::Frame> replies;
  for (HandPlayedPeer::Frame& f : t.RunA(20)) {
    if (f.second.kind == ProbeKind::kReply) replies.push_back(f);
  }
  ASSERT_EQ(replies.size(), 1u);
  const HandPlayedPeer::Frame& reply = replies[0];
  EXPECT_EQ(reply.second.member, 1);
  EXPECT_EQ(reply.second.reported_member_name, "a1");
  EXPECT_EQ(reply.second.reported_sport, 0xc000);
  EXPECT_EQ(reply.second.echo_epoch, 5u);
  EXPECT_EQ(t.a.Ovs(reply.first.udp_sport, t.b_ip), 1u);
  // CONFIRMs with another port, another epoch of A, an unknown nonce.
  HandPlayedPeer::Frame forged = reply;
  forged.first.udp_sport ^= 1;
  t.Send(ProbeKind::kConfirm, 0, 1, &forged);
  forged = reply;
  forged.second.epoch--;
  t.Send(ProbeKind::kConfirm, 0, 1, &forged);
  forged = reply;
  forged.second.nonce++;
  t.Send(ProbeKind::kConfirm, 0, 1, &forged);
  EXPECT_EQ(t.Report().unmatched, 3u);
  EXPECT_EQ(t.Report().confirms_received, 0u);
  EXPECT_TRUE(t.Validated(1, "b0").empty());
  // The true one: A's port from a1 arrived on b0 (and b0 -> a1 was seen).
  t.Send(ProbeKind::kConfirm, 0, 1, &reply);
  EXPECT_EQ(t.Report().confirms_received, 1u);
  EXPECT_EQ(t.Validated(1, "b0"),
            std::vector<uint16_t>{reply.first.udp_sport});
}

TEST(PathProberTest, StaleEpochsAndProvenIdentityChanges) {
  HandPlayedPeer t;
  std::vector<HandPlayedPeer::Frame> requests = t.RunA();
  const size_t m0 = requests[0].second.member;
  t.Send(ProbeKind::kReply, 1, m0, &requests[0]);
  ASSERT_EQ(t.Validated(m0, "b1").size(), 1u);
  EXPECT_EQ(t.Report().agent_id, 0xbu);
  EXPECT_TRUE(t.Report().confirmed);
  // A frame of an older epoch of B: stale, ignored.
  t.Send(ProbeKind::kRequest, 0, m0, nullptr, 4);
  EXPECT_EQ(t.Report().stale, 1u);
  EXPECT_EQ(t.Report().epoch, 5u);
  EXPECT_EQ(t.Validated(m0, "b1").size(), 1u);
  // B's next epoch, in a REQUEST: answered, believed in nothing yet.
  t.Send(ProbeKind::kRequest, 0, m0, nullptr, 6);
  EXPECT_EQ(t.Report().epoch, 5u);
  EXPECT_EQ(t.Report().unconfirmed, 1u);
  EXPECT_EQ(t.Report().candidate_epoch, 6u);
  EXPECT_EQ(t.Validated(m0, "b1").size(), 1u);
  std::vector<HandPlayedPeer::Frame> replies;
  for (HandPlayedPeer::Frame& f : t.RunA(20)) {
    if (f.second.kind == ProbeKind::kReply) replies.push_back(f);
  }
  ASSERT_EQ(replies.size(), 1u);
  // Its CONFIRM of A's answer proves it: everything is dropped, a round
  // starts.
  t.Send(ProbeKind::kConfirm, 0, m0, &replies[0], 6);
  EXPECT_EQ(t.Report().epoch, 6u);
  EXPECT_EQ(t.Report().peer_changes, 1u);
  EXPECT_EQ(t.Report().candidate_epoch, 0u);
  EXPECT_TRUE(t.Validated(m0, "b1").empty());
  EXPECT_EQ(t.Report().rounds, 1u);
  requests = t.RunA(30);
  EXPECT_EQ(t.Report().rounds, 2u);
  ASSERT_FALSE(requests.empty());
  // B restarts (another agent id): its REQUEST and a REPLY echoing
  // nothing of A's change nothing.
  t.Send(ProbeKind::kRequest, 0, m0, nullptr, 1, 0xc);
  HandPlayedPeer::Frame forged = requests[0];
  forged.second.nonce ^= 0x5555;
  t.Send(ProbeKind::kReply, 0, m0, &forged, 1, 0xc);
  EXPECT_EQ(t.Report().agent_id, 0xbu);
  EXPECT_EQ(t.Report().candidate_agent_id, 0xcu);
  EXPECT_EQ(t.Report().unconfirmed, 3u);
  // Its REPLY to a REQUEST of this round proves it.
  t.Send(ProbeKind::kReply, 0, m0, &requests[0], 1, 0xc);
  EXPECT_EQ(t.Report().agent_id, 0xcu);
  EXPECT_EQ(t.Report().epoch, 1u);
  EXPECT_EQ(t.Report().peer_changes, 2u);
  // A delayed frame of the old agent is stale, not a restart back.
  t.Send(ProbeKind::kRequest, 0, m0, nullptr, 6, 0xb);
  EXPECT_EQ(t.Report().agent_id, 0xcu);
  EXPECT_EQ(t.Report().peer_changes, 2u);
  EXPECT_EQ(t.Report().stale, 2u);
}

// The review's attacks on protocol v1, each by frames that anyone on the
// segment can send with the peer's addresses: an agent-id swap, an epoch
// jump, and REPLYs and CONFIRMs that guess nonces.  None changes what A
// validated, nor the identity it holds for B, and probing goes on.
TEST(PathProberTest, ForgedFramesChangeNothing) {
  Lab lab(2, 2, 0x1234);
  lab.Settle();
  const auto before = Results(lab, lab.a);
  const PeerProbeReport r0 = *lab.a.prober->Report(lab.b.ip);
  ASSERT_EQ(lab.Verify(lab.a), 4u);
  ASSERT_TRUE(r0.confirmed);
  std::mt19937_64 rng(11);
  FrameAddress from;
  from.src_mac = lab.b.mac;
  from.dst_mac = lab.a.mac;
  from.src_ip = lab.b.ip;
  from.dst_ip = lab.a.ip;
  const auto Forge = [&](ProbeKind kind, uint64_t agent, uint32_t epoch) {
    ProbeMessage m;
    m.kind = kind;
    m.agent_id = agent;
    m.epoch = epoch;
    m.nonce = rng() | 1;
    m.member = m.reported_member = static_cast<uint8_t>(rng() % 2);
    m.member_count = 2;
    m.usable_mask = 3;
    m.member_name = m.reported_member_name = "b" + std::to_string(m.member);
    if (ProbeKindIsAnswer(kind)) {
      m.echo_nonce = rng();
      m.echo_epoch = lab.a.prober->epoch();
      m.reported_sport = static_cast<uint16_t>(kRoceSportMin +
                                               rng() % kRoceSportCount);
    }
    from.udp_sport = static_cast<uint16_t>(kRoceSportMin +
                                           rng() % kRoceSportCount);
    lab.a.prober->HandleFrame(rng() % 2, BuildProbe(from, m), lab.now);
  };
  for (int i = 0; i < 20; i++) {
    Forge(ProbeKind::kRequest, 0x0bad0000 + i, 1);             // Agent swap.
    Forge(ProbeKind::kRequest, r0.agent_id, r0.epoch + 1000);  // Epoch jump.
  }
  for (int i = 0; i < 5000; i++) {   // Brute-forced answers.
    Forge(i % 2 ? ProbeKind::kReply : ProbeKind::kConfirm,
          i % 3 ? r0.agent_id : 0x0bad0000 + i, r0.epoch + (i % 5 == 0));
  }
  // Frames from B's address but another MAC.
  from.src_mac = {2, 0, 0, 0, 0, 0x66};
  Forge(ProbeKind::kRequest, r0.agent_id, r0.epoch);
  const PeerProbeReport r1 = *lab.a.prober->Report(lab.b.ip);
  EXPECT_EQ(r1.agent_id, r0.agent_id);
  EXPECT_EQ(r1.epoch, r0.epoch);
  EXPECT_EQ(r1.peer_changes, r0.peer_changes);
  EXPECT_EQ(r1.identity_mismatch, 1u);
  EXPECT_GT(r1.unconfirmed, 40u);
  EXPECT_EQ(r1.confirms_received, r0.confirms_received);
  EXPECT_EQ(Results(lab, lab.a), before);
  // The answers A queued go to B, which takes them as unmatched; probing
  // goes on and still validates only true tuples.
  lab.Settle();
  EXPECT_EQ(lab.a.prober->Report(lab.b.ip)->agent_id, r0.agent_id);
  EXPECT_EQ(lab.Verify(lab.a), 4u);
  EXPECT_EQ(lab.Verify(lab.b), 4u);
}

// REQUESTs from 10,000 forged source addresses: the peers learned stay
// under the cap, new sources are admitted at a bounded rate, none is
// probed (none proved its address), and all of them expire.  A source
// that CONFIRMs A's answer is probed.
TEST(PathProberTest, LearnedPeersAreCappedRateLimitedAndExpire) {
  Host a("A", "10.0.0.1", 1, {"a0", "a1"}, 0x1111);
  a.PublishBond();
  const PathProberOptions& o = a.prober->options();
  uint64_t requests_sent = 0, replies_sent = 0;
  const auto Run = [&](int64_t now) {
    a.prober->Run(now, [&](size_t, std::span<const uint8_t> f) {
      FrameAddress address;
      ProbeMessage m;
      ASSERT_TRUE(ParseProbeFrame(f, &address, &m).ok());
      requests_sent += m.kind == ProbeKind::kRequest;
      replies_sent += m.kind == ProbeKind::kReply;
    });
  };
  ProbeMessage m;
  m.kind = ProbeKind::kRequest;
  m.epoch = 1;
  m.member_count = 1;
  m.usable_mask = 1;
  m.member_name = "x0";
  FrameAddress from;
  from.dst_mac = a.mac;
  from.dst_ip = a.ip;
  from.udp_sport = 0xc000;
  size_t most = 0;
  for (uint32_t i = 0; i < 10'000; i++) {
    const int64_t now = int64_t{i} * 100;   // 10,000 per second.
    const uint32_t host = 0x0a010000 + i;
    from.src_ip = IpAddress{4, {static_cast<uint8_t>(host >> 24),
                                static_cast<uint8_t>(host >> 16),
                                static_cast<uint8_t>(host >> 8),
                                static_cast<uint8_t>(host)}};
    from.src_mac = {2, 1, 0, static_cast<uint8_t>(i >> 16),
                    static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    m.agent_id = 0x1000 + i;
    m.nonce = i + 1;
    a.prober->HandleFrame(0, BuildProbe(from, m), now);
    if (i % 100 == 0) Run(now);
    most = std::max(most, a.prober->Reports().size());
  }
  Run(1'000'000);
  const PathProberStats& st = a.prober->stats();
  EXPECT_LE(most, o.max_learned_peers);
  // One second at 20 per second after a burst of 40.
  EXPECT_LE(st.peers_evicted + most, 62u);
  EXPECT_GE(st.rate_limited, 9'900u);
  EXPECT_EQ(requests_sent, 0u);
  EXPECT_GT(replies_sent, 0u);
  // All of them expire.
  Run(1'000'000 + o.unconfirmed_ttl_us + 1);
  EXPECT_TRUE(a.prober->Reports().empty());
  EXPECT_GT(st.peers_expired, 0u);
  // A source that proves its address is probed.
  const int64_t t0 = 40'000'000;
  from.src_ip = *ParseIpAddress("10.0.0.2");
  from.src_mac = {2, 0, 0, 0, 0, 2};
  m.agent_id = 0xb;
  m.nonce = 77;
  a.prober->HandleFrame(0, BuildProbe(from, m), t0);
  std::vector<std::pair<FrameAddress, ProbeMessage>> out;
  a.prober->Run(t0, [&](size_t, std::span<const uint8_t> f) {
    out.emplace_back();
    ASSERT_TRUE(ParseProbeFrame(f, &out.back().first, &out.back().second).ok());
  });
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].second.kind, ProbeKind::kReply);
  EXPECT_FALSE(a.prober->Report(from.src_ip)->confirmed);
  ProbeMessage confirm = m;
  confirm.kind = ProbeKind::kConfirm;
  confirm.nonce = 78;
  confirm.echo_nonce = out[0].second.nonce;
  confirm.echo_epoch = out[0].second.epoch;
  confirm.reported_sport = out[0].first.udp_sport;
  confirm.reported_member_name = "x0";
  a.prober->HandleFrame(0, BuildProbe(from, confirm), t0 + 10);
  EXPECT_TRUE(a.prober->Report(from.src_ip)->confirmed);
  requests_sent = 0;
  Run(t0 + 20);
  EXPECT_GT(requests_sent, 0u);
}

TEST(PathProberTest, RequestsOfOnePeerAreRateLimited) {
  HandPlayedPeer t;
  t.RunA();
  const PathProberOptions& o = t.a.prober->options();
  for (int i = 0; i < 5000; i++) t.Send(ProbeKind::kRequest, 0, 0);
  const PeerProbeReport r = t.Report();
  EXPECT_EQ(r.rate_limited, 5000u - static_cast<uint64_t>(o.request_burst));
  EXPECT_EQ(t.a.prober->stats().rate_limited, r.rate_limited);
}

// With a shared key both probers converge; a prober without the key, or
// with another, validates nothing and counts the frames it drops.  A
// rotation (both hosts accept two keys while they change which one signs)
// never stops probing.
TEST(PathProberTest, KeyedProbesAndAKeyRotation) {
  const ProbeKey k1 = *MakeProbeKey(std::vector<uint8_t>(20, 1));
  const ProbeKey k2 = *MakeProbeKey(std::vector<uint8_t>(20, 2));
  {
    Lab lab(2, 2, 0x77);
    lab.a.prober->SetKeys({k1});
    lab.b.prober->SetKeys({k1});
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 4u);
    EXPECT_EQ(lab.Verify(lab.b), 4u);
    EXPECT_EQ(lab.a.prober->stats().unauthenticated, 0u);
  }
  for (bool keyless : {true, false}) {
    Lab lab(2, 2, 0x77);
    lab.a.prober->SetKeys({k1});
    if (!keyless) lab.b.prober->SetKeys({k2});
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 0u) << keyless;
    EXPECT_GT(lab.a.prober->stats().unauthenticated, 0u);
    EXPECT_GT(lab.a.prober->Report(lab.b.ip)->unauthenticated, 0u);
  }
  Lab lab(2, 2, 0x77);
  const auto Step = [&lab](std::vector<ProbeKey> a, std::vector<ProbeKey> b) {
    lab.a.prober->SetKeys(std::move(a));
    lab.b.prober->SetKeys(std::move(b));
    lab.a.prober->Reprobe();
    lab.Settle();
    EXPECT_EQ(lab.Verify(lab.a), 4u);
    EXPECT_EQ(lab.Verify(lab.b), 4u);
    EXPECT_EQ(lab.a.prober->stats().unauthenticated +
                  lab.b.prober->stats().unauthenticated,
              0u);
  };
  Step({k1}, {k1});
  Step({k1, k2}, {k1});       // A accepts k2 too.
  Step({k1, k2}, {k1, k2});   // So does B.
  Step({k2, k1}, {k1, k2});   // A signs with k2.
  Step({k2, k1}, {k2, k1});   // So does B.
  Step({k2}, {k2});           // k1 is gone.
}

// Nonces come from the random source: never sequential, never derived
// from the public agent id.
TEST(PathProberTest, NoncesAreRandom) {
  HandPlayedPeer t;
  std::vector<HandPlayedPeer::Frame> requests = t.RunA();
  ASSERT_GE(requests.size(), 4u);
  std::set<uint64_t> seen;
  for (size_t i = 0; i < requests.size(); i++) {
    seen.insert(requests[i].second.nonce);
    if (i > 0) {
      const uint64_t d = requests[i].second.nonce - requests[i - 1].second.nonce;
      EXPECT_GT(d, 0xffffu) << "nonces look sequential";
    }
  }
  EXPECT_EQ(seen.size(), requests.size());
  // An injected source is used as is.
  Host c("C", "10.0.0.3", 3, {"c0"}, 0x3333);
  PathProberOptions o = c.prober->options();
  uint64_t next = 41;
  o.random = [&next] { return ++next; };
  c.prober.emplace(std::move(*PathProber::Create(o)));
  c.PublishBond();
  ASSERT_TRUE(c.prober->AddPeer(t.b_ip, t.b_mac).ok());
  std::vector<uint64_t> nonces;
  c.prober->Run(0, [&](size_t, std::span<const uint8_t> f) {
    FrameAddress address;
    ProbeMessage m;
    ASSERT_TRUE(ParseProbeFrame(f, &address, &m).ok());
    nonces.push_back(m.nonce);
  });
  ASSERT_FALSE(nonces.empty());
  EXPECT_EQ(nonces[0], 42u);
}

}  // namespace
}  // namespace rdma_bond
