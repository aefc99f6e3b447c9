// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// libFuzzer target: probe frames as anyone on the segment sends them, and
// the prober's state machine under sequences of them.
//
// The first byte chooses the mode.  0 (mod 4): the input is one frame for
// ParseProbeFrame(), with and without keys, and for
// ParseDirectoryMessage() (ud_wire.h); 2: the input is a probe
// payload, sent in a valid RoCEv2 UD frame to the probe QPN (so that the
// fuzzer need not find an ICRC); an accepted frame must build back to
// itself.  Odd: the rest is a program for a PathProber ("A",
// 10.0.0.1, members a0 and a1) that knows one peer ("B", 10.0.0.2):
// frames (raw bytes, or probes assembled from the input that may echo
// what A sent last, handed over as frames or as UD datagrams), time passing, bond changes, re-probes, key changes,
// peers added and removed.  Whatever A does must hold the rules of
// path_prober.h: every frame it sends parses with its own keys, leaves a
// usable member with a port that "OVS" sends on that member and names it,
// goes to a peer it holds; a validated port is one "OVS" sends on its
// member; learned peers stay under the cap.
//
// Build and run: "make check-fuzz" (rdma-bond/fuzz/automake.mk).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "probe/path_prober.h"
#include "probe/probe_frame.h"
#include "probe/ud_wire.h"

namespace {

using namespace rdma_bond;

void Check(bool ok) {
  if (!ok) std::abort();
}

// Reads the input front to back; zeros once it runs out.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t Byte() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(Byte() << 8 | Byte()); }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | Byte();
    return v;
  }
  std::span<const uint8_t> Bytes(size_t n) {
    n = std::min(n, size_ - std::min(at_, size_));
    std::span<const uint8_t> out(data_ + at_, n);
    at_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

const ProbeKey& Key(int which) {
  static const ProbeKey keys[2] = {
      *MakeProbeKey(std::vector<uint8_t>(20, 0x11)),
      *MakeProbeKey(std::vector<uint8_t>(20, 0x22))};
  return keys[which & 1];
}

void FuzzParse(std::span<const uint8_t> frame) {
  const std::vector<ProbeKey> keys = {Key(0)};
  for (bool keyed : {false, true}) {
    FrameAddress address;
    ProbeMessage message;
    ProbeDefect defect = ProbeDefect::kNone;
    uint8_t version = 0;
    Status s = ParseProbeFrame(frame, &address, &message, &defect,
                               keyed ? std::span<const ProbeKey>(keys)
                                     : std::span<const ProbeKey>(),
                               &version);
    Check(s.ok() == (defect == ProbeDefect::kNone));
    if (!s.ok()) continue;
    Check(version == kProbeVersion && message.nonce != 0 &&
          message.member < message.member_count &&
          message.member_count <= kMaxProbeMembers &&
          IsProbeName(message.member_name) &&
          message.sent_sport == address.udp_sport);
    // What was accepted builds again and parses to the same message.
    std::vector<uint8_t> again(kMaxProbeFrameBytes);
    const ProbeKey* key = message.key_id == Key(0).id ? &Key(0) : nullptr;
    Result<size_t> n = BuildProbeFrame(address, message, again, key);
    Check(n.ok());
    again.resize(*n);
    FrameAddress address2;
    ProbeMessage message2;
    Check(ParseProbeFrame(again, &address2, &message2).ok());
    if (!key) message2.key_id = message.key_id;  // Unsigned rebuild.
    Check(message2 == message);
  }
}

// The UD transport's directory messages (ud_wire.h): whatever is
// accepted has the documented limits and builds back to the same bytes.
void FuzzDirectory(std::span<const uint8_t> bytes) {
  const IpAddress src = *ParseIpAddress("10.0.0.2");
  const IpAddress dst = *ParseIpAddress("10.0.0.1");
  const std::vector<ProbeKey> keys = {Key(0)};
  for (bool keyed : {false, true}) {
    DirectoryMessage m;
    ProbeDefect defect = ProbeDefect::kNone;
    Status s = ParseDirectoryMessage(
        src, dst, bytes,
        keyed ? std::span<const ProbeKey>(keys) : std::span<const ProbeKey>(),
        &m, &defect);
    Check(s.ok() == (defect == ProbeDefect::kNone));
    if (!s.ok()) continue;
    Check(bytes.size() == kDirectoryBytes && m.nonce != 0 &&
          m.agent_id != 0 && m.qpns.size() <= kMaxProbeMembers &&
          (m.kind == DirectoryKind::kAnswer || m.qpns.empty()));
    for (uint32_t qpn : m.qpns) Check(qpn != 0 && qpn <= 0xffffff);
    std::vector<uint8_t> again(kDirectoryBytes);
    const ProbeKey* key = m.key_id == Key(0).id ? &Key(0) : nullptr;
    if (m.key_id != 0 && !key) continue;      // Signed by a key not held.
    Check(BuildDirectoryMessage(src, dst, m, key, again).ok());
    Check(std::equal(again.begin(), again.end(), bytes.begin()));
  }
}

// "OVS" of host A: which member sends a port, given which are usable.
size_t OvsMember(uint16_t sport, const bool usable[2]) {
  if (usable[0] != usable[1]) return usable[0] ? 0 : 1;
  return (sport >> 3) & 1;
}

void FuzzProber(Input& in) {
  const IpAddress a_ip = *ParseIpAddress("10.0.0.1");
  const IpAddress b_ip = *ParseIpAddress("10.0.0.2");
  const MacAddress a_mac = {2, 0, 0, 0, 0, 1};
  const MacAddress b_mac = {2, 0, 0, 0, 0, 2};
  PathProberOptions o;
  o.agent_id = 0xa;
  o.local_ip = a_ip;
  o.local_mac = a_mac;
  o.max_learned_peers = 4;
  uint64_t counter = 0;
  o.random = [&counter] { return ++counter * 0x9e3779b97f4a7c15ULL; };
  Result<PathProber> created = PathProber::Create(o);
  Check(created.ok());
  PathProber prober = std::move(*created);
  bool usable[2] = {true, true};
  const auto Publish = [&] {
    std::vector<LocalMember> members = {{"a0", usable[0]}, {"a1", usable[1]}};
    Check(prober
              .SetLocalBond(
                  members,
                  [&usable](size_t m, const IpAddress&, size_t count,
                            uint64_t key) {
                    std::vector<uint16_t> out;
                    for (uint32_t i = 0; i < 4096 && out.size() < count; i++) {
                      const auto port = static_cast<uint16_t>(
                          kRoceSportMin + (key + i * 7) % kRoceSportCount);
                      if (usable[m] && OvsMember(port, usable) == m) {
                        out.push_back(port);
                      }
                    }
                    return out;
                  },
                  [&usable](size_t m, const IpAddress&, uint16_t port) {
                    return usable[m] && OvsMember(port, usable) == m;
                  })
              .ok());
  };
  Publish();
  Check(prober.AddPeer(b_ip, b_mac).ok());
  std::vector<ProbeKey> keys;
  int64_t now = 0;
  // What A sent last (for answers that echo it).
  std::optional<std::pair<FrameAddress, ProbeMessage>> last;
  const auto Send = [&](size_t member, std::span<const uint8_t> frame) {
    FrameAddress address;
    ProbeMessage m;
    Check(ParseProbeFrame(frame, &address, &m, nullptr, keys).ok());
    Check(member < 2 && usable[member] && m.member == member);
    Check(OvsMember(address.udp_sport, usable) == member);
    Check(address.src_ip == a_ip && address.src_mac == a_mac);
    Check(prober.Report(address.dst_ip).has_value());
    Check(keys.empty() || m.key_id == keys.front().id);
    last.emplace(address, m);
  };
  for (int steps = 0; steps < 64 && !in.empty(); steps++) {
    const uint8_t op = in.Byte();
    switch (op % 8) {
      case 0: {  // A raw frame.
        const std::span<const uint8_t> raw = in.Bytes(in.Byte() * 2u);
        const std::vector<uint8_t> frame(raw.begin(), raw.end());
        prober.HandleFrame(op >> 3 & 1, frame, now);
        break;
      }
      case 1:
      case 2: {  // An assembled probe, perhaps echoing A's last frame.
        const uint8_t f = in.Byte();
        ProbeMessage m;
        m.kind = static_cast<ProbeKind>(1 + f % 3);
        m.agent_id = f & 0x08 ? 0xb : in.U64() | 1;
        m.epoch = in.Byte() % 4;
        m.nonce = in.U64() | 1;
        m.member_count = 2;
        m.usable_mask = 1 + in.Byte() % 3;
        m.member = m.usable_mask == 2 ? 1 : 0;
        m.member_name = m.member ? "b1" : "b0";
        FrameAddress address;
        address.src_mac = f & 0x10 ? b_mac : MacAddress{2, 9, 9, 9, 9, f};
        address.dst_mac = a_mac;
        address.src_ip = f & 0x20 ? b_ip : IpAddress{4, {10, 0, 1, f}};
        address.dst_ip = a_ip;
        address.udp_sport = static_cast<uint16_t>(kRoceSportMin |
                                                  in.U16());
        if (ProbeKindIsAnswer(m.kind)) {
          m.reported_member = in.Byte() & 1;
          m.reported_member_name = m.reported_member ? "b1" : "b0";
          if (last && (f & 0x40)) {
            m.echo_nonce = last->second.nonce;
            m.echo_epoch = last->second.epoch;
            m.reported_sport = last->first.udp_sport;
          } else {
            m.echo_nonce = in.U64();
            m.echo_epoch = in.Byte();
            m.reported_sport = in.U16();
          }
        }
        std::vector<uint8_t> frame(kMaxProbeFrameBytes);
        const ProbeKey* key = f & 0x80 ? &Key(in.Byte()) : nullptr;
        Result<size_t> n = BuildProbeFrame(address, m, frame, key);
        if (!n.ok()) break;
        frame.resize(*n);
        const uint8_t to = in.Byte();
        if (to & 2) {
          // As the UD transport hands it over: the payload and the GRH's
          // addresses, no MAC, no UDP port.
          FrameAddress seen;
          RocePacket packet;
          Check(ParseFrame(frame, &seen, &packet).ok());
          prober.HandleDatagram(to & 1, seen.src_ip, seen.dst_ip,
                                packet.payload, now);
        } else {
          prober.HandleFrame(to & 1, frame, now);
        }
        break;
      }
      case 3:  // Time passes; A runs.
        now += int64_t{in.U16()} * 100;
        prober.Run(now, Send);
        break;
      case 4:  // The bond changes.
        usable[0] = in.Byte() & 1;
        usable[1] = !usable[0] || (op & 0x10);
        Publish();
        break;
      case 5:
        prober.Reprobe();
        break;
      case 6: {  // Keys change.
        const uint8_t k = in.Byte();
        keys.clear();
        if (k & 1) keys.push_back(Key(k >> 1));
        if (k & 4) keys.push_back(Key((k >> 1) + 1));
        prober.SetKeys(keys);
        break;
      }
      case 7:
        if (op & 0x10) {
          prober.RemovePeer(b_ip);
        } else {
          Check(prober.AddPeer(b_ip, b_mac).ok());
        }
        break;
    }
    prober.Run(now, Send);
    // Validated ports are ports "OVS" sends on their member.
    size_t learned = 0;
    for (const PeerProbeReport& r : prober.Reports()) {
      learned += r.learned;
      for (const ProbePairReport& pair : r.pairs) {
        Check(pair.local_member < 2 && usable[pair.local_member]);
        for (uint16_t port : pair.sports) {
          Check(OvsMember(port, usable) == pair.local_member);
        }
      }
    }
    Check(learned <= o.max_learned_peers);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 4 == 0) {
    FuzzParse(std::span<const uint8_t>(data + 1, size - 1));
    FuzzDirectory(std::span<const uint8_t>(data + 1, size - 1));
  } else if (data[0] % 4 == 2) {
    FrameAddress address;
    address.src_mac = {2, 0, 0, 0, 0, 2};
    address.dst_mac = {2, 0, 0, 0, 0, 1};
    address.src_ip = *ParseIpAddress("10.0.0.2");
    address.dst_ip = *ParseIpAddress("10.0.0.1");
    address.udp_sport = 0xc123;
    RocePacket packet;
    packet.bth.opcode = BthOpcode::kUdSendOnly;
    packet.bth.dest_qpn = kProbeQpn;
    packet.deth = {kProbeQkey, kProbeQpn};
    packet.payload = std::span<const uint8_t>(data + 1, size - 1);
    std::vector<uint8_t> frame(kMaxRoceFrameBytes + size);
    Result<size_t> n = BuildFrame(address, packet, frame);
    if (!n.ok()) return 0;
    frame.resize(*n);
    FuzzParse(frame);
  } else {
    Input in(data + 1, size - 1);
    FuzzProber(in);
  }
  return 0;
}
