// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// probe-forge: the lab's attacker (utilities/ovs-rdma-bond-scenarios
// probe-attack).  Sends forged probe frames (protocol v2, probe_frame.h)
// out of a network interface through AF_PACKET, as anyone on the segment
// can: never installed, for the lab and tests only.
//
// Usage: probe-forge --dev IF --src-mac MAC --dst-mac MAC --dst-ip IP
//                    [--rate FRAMES_PER_S] [--key-file FILE]
//                    [--sport PORT] ATTACK
// Frames go from UDP port PORT, or a random one each (the default: every
// frame is then a new flow for the switches on the way).
// Attacks (each sends --count frames, default 1000):
//   swap  --src-ip IP               REQUESTs from IP, each with a new
//                                   random agent id
//   epoch --src-ip IP --agent-id X --epoch E
//                                   REQUESTs from IP with agent X and
//                                   epochs E+1, E+2, ... (a jump)
//   flood --src-ip BASE --sources N REQUESTs from N addresses BASE,
//                                   BASE+1, ...
//   brute --src-ip IP --agent-id X --epoch E --echo-epoch F
//                                   REPLYs and CONFIRMs echoing random
//                                   nonces and ports of the epoch F
// Prints one line: the frames sent and the seconds it took.

#include <arpa/inet.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "probe/probe_frame.h"
#include "probe/probe_keys.h"

namespace {

using namespace rdma_bond;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "probe-forge: %s\n", why.c_str());
  std::exit(1);
}

uint64_t Random64() {
  uint64_t v = 0;
  while (getrandom(&v, sizeof v, 0) != sizeof v) {
  }
  return v;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

MacAddress Mac(const char* text) {
  Result<MacAddress> mac = ParseMacAddress(text);
  if (!mac.ok()) Die(std::string("bad MAC ") + text);
  return *mac;
}

IpAddress Ip(const char* text) {
  Result<IpAddress> ip = ParseIpAddress(text);
  if (!ip.ok() || ip->version != 4) Die(std::string("bad IPv4 ") + text);
  return *ip;
}

IpAddress Plus(IpAddress ip, uint32_t n) {
  uint32_t v = static_cast<uint32_t>(ip.bytes[0]) << 24 | ip.bytes[1] << 16 |
               ip.bytes[2] << 8 | ip.bytes[3];
  v += n;
  ip.bytes[0] = static_cast<uint8_t>(v >> 24);
  ip.bytes[1] = static_cast<uint8_t>(v >> 16);
  ip.bytes[2] = static_cast<uint8_t>(v >> 8);
  ip.bytes[3] = static_cast<uint8_t>(v);
  return ip;
}

}  // namespace

int main(int argc, char* argv[]) {
  std::string dev, key_file;
  const char *src_mac = nullptr, *dst_mac = nullptr, *dst_ip = nullptr,
             *src_ip = nullptr;
  uint64_t count = 1000, sources = 10000, agent_id = 0;
  uint32_t epoch = 0, echo_epoch = 0;
  double rate = 0;
  uint16_t sport = 0;
  enum { kDev = 1, kSrcMac, kDstMac, kDstIp, kSrcIp, kRate, kKeyFile, kCount,
         kSources, kAgentId, kEpoch, kEchoEpoch, kSport };
  static const option options[] = {
      {"dev", required_argument, nullptr, kDev},
      {"src-mac", required_argument, nullptr, kSrcMac},
      {"dst-mac", required_argument, nullptr, kDstMac},
      {"dst-ip", required_argument, nullptr, kDstIp},
      {"src-ip", required_argument, nullptr, kSrcIp},
      {"rate", required_argument, nullptr, kRate},
      {"key-file", required_argument, nullptr, kKeyFile},
      {"count", required_argument, nullptr, kCount},
      {"sources", required_argument, nullptr, kSources},
      {"agent-id", required_argument, nullptr, kAgentId},
      {"epoch", required_argument, nullptr, kEpoch},
      {"echo-epoch", required_argument, nullptr, kEchoEpoch},
      {"sport", required_argument, nullptr, kSport},
      {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "", options, nullptr)) != -1;) {
    switch (c) {
      case kDev: dev = optarg; break;
      case kSrcMac: src_mac = optarg; break;
      case kDstMac: dst_mac = optarg; break;
      case kDstIp: dst_ip = optarg; break;
      case kSrcIp: src_ip = optarg; break;
      case kRate: rate = std::strtod(optarg, nullptr); break;
      case kKeyFile: key_file = optarg; break;
      case kCount: count = std::strtoull(optarg, nullptr, 0); break;
      case kSources: sources = std::strtoull(optarg, nullptr, 0); break;
      case kAgentId: agent_id = std::strtoull(optarg, nullptr, 0); break;
      case kEpoch: epoch = static_cast<uint32_t>(std::strtoul(optarg, nullptr, 0)); break;
      case kSport: sport = static_cast<uint16_t>(std::strtoul(optarg, nullptr, 0)); break;
      case kEchoEpoch: echo_epoch = static_cast<uint32_t>(std::strtoul(optarg, nullptr, 0)); break;
      default: Die("unknown option (see the source's header)");
    }
  }
  if (optind + 1 != argc || dev.empty() || !src_mac || !dst_mac || !dst_ip ||
      !src_ip) {
    Die("usage: probe-forge --dev IF --src-mac MAC --dst-mac MAC --dst-ip IP "
        "--src-ip IP [...] swap|epoch|flood|brute");
  }
  const std::string attack = argv[optind];
  if (attack != "swap" && attack != "epoch" && attack != "flood" &&
      attack != "brute") {
    Die("unknown attack " + attack);
  }
  std::vector<ProbeKey> keys;
  if (!key_file.empty()) {
    Result<std::vector<ProbeKey>> read = ReadProbeKeyFile(key_file);
    if (!read.ok()) Die(read.status().message());
    keys = std::move(*read);
  }
  const unsigned ifindex = if_nametoindex(dev.c_str());
  if (!ifindex) Die("no interface " + dev);
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) Die(std::string("AF_PACKET: ") + std::strerror(errno));
  sockaddr_ll to = {};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ALL);
  to.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    Die(std::string("bind: ") + std::strerror(errno));
  }
  FrameAddress address;
  address.src_mac = Mac(src_mac);
  address.dst_mac = Mac(dst_mac);
  address.dst_ip = Ip(dst_ip);
  const IpAddress base = Ip(src_ip);
  if (attack == "flood") count = sources;
  std::vector<uint8_t> frame(kMaxProbeFrameBytes);
  const double start = Now();
  uint64_t sent = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (rate > 0 && i % 10 == 0) {
      // Ten frames a wake-up: the attacker's own CPU is the lab's too.
      const double due = start + i / rate;
      timespec at;
      at.tv_sec = static_cast<time_t>(due);
      at.tv_nsec = static_cast<long>((due - at.tv_sec) * 1e9);
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) ==
             EINTR) {
      }
    }
    ProbeMessage m;
    m.kind = ProbeKind::kRequest;
    m.agent_id = Random64() | 1;
    m.epoch = static_cast<uint32_t>(Random64());
    m.nonce = Random64() | 1;
    m.member = 0;
    m.member_count = 2;
    m.usable_mask = 3;
    m.member_name = "nic0";
    address.src_ip = base;
    if (attack == "epoch") {
      m.agent_id = agent_id;
      m.epoch = epoch + 1 + static_cast<uint32_t>(i);
    } else if (attack == "flood") {
      address.src_ip = Plus(base, static_cast<uint32_t>(i));
    } else if (attack == "brute") {
      m.kind = i % 2 ? ProbeKind::kReply : ProbeKind::kConfirm;
      m.agent_id = agent_id;
      m.epoch = epoch;
      m.echo_nonce = Random64();
      m.echo_epoch = echo_epoch;
      m.reported_sport =
          static_cast<uint16_t>(kRoceSportMin + Random64() % kRoceSportCount);
      m.reported_member = static_cast<uint8_t>(Random64() % 2);
      m.reported_member_name = m.reported_member ? "nic1" : "nic0";
    }
    address.udp_sport =
        sport ? sport
              : static_cast<uint16_t>(kRoceSportMin +
                                      Random64() % kRoceSportCount);
    address.ip_id = static_cast<uint16_t>(i);
    Result<size_t> n = BuildProbeFrame(address, m, frame,
                                       keys.empty() ? nullptr : &keys.front());
    if (!n.ok()) Die(n.status().message());
    if (send(fd, frame.data(), *n, 0) == static_cast<ssize_t>(*n)) sent++;
  }
  std::printf("probe-forge: %s: %llu frames sent in %.2f s\n", attack.c_str(),
              static_cast<unsigned long long>(sent), Now() - start);
  close(fd);
  return sent == count ? 0 : 1;
}
