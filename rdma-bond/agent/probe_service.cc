// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/probe_service.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "agent/bridge_lookup.h"
#include "agent/host_qps.h"
#include "agent/report_text.h"
#include "agent/ud_directory.h"
#include "agent/ud_probe_link.h"
#include "common/hex.h"
#include "conn/registry_protocol.h"
#include "probe/path_prober.h"
#include "rnic/emulated/roce_frame.h"
#include "rnic/verbs/rdma_sysfs.h"

namespace rdma_bond::agent {
namespace {

// How often a peer whose MAC is unknown is looked up (and its resolution
// started) again, and how often the address of a bond's bridge is.
constexpr uint64_t kResolveRetryMs = 1000;
// Frames read from one member per Run(): bounds the time spent per call.
constexpr int kMaxFramesPerRun = 256;
// After the local bond changes, the switch's side may change a moment
// later (its LACP enables a returning member after ours does): the bond is
// probed again after these delays, besides the prober's periodic refresh.
constexpr uint64_t kSettleReprobeUs[] = {1000000, 3000000};
// Lines a minute that say a probe was refused (for its version or its
// tag), over all sources: a flood from many addresses must not flood the
// log.
constexpr uint64_t kMaxRefusalLogsPerMinute = 10;
// UDP port of the datagram that makes the kernel resolve a peer's MAC
// (the discard service: nothing answers, only ARP matters).
constexpr uint16_t kDiscardPort = 9;

uint64_t NowUs() { return MonotonicNowNs() / 1000; }

// The first IPv4 address of 'ifname' (the bridge's internal port).
std::optional<IpAddress> InterfaceAddress(const std::string& ifname) {
  std::vector<IpAddress> all = InterfaceIpv4Addresses(ifname);
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::optional<MacAddress> InterfaceMac(const std::string& ifname) {
  std::ifstream in("/sys/class/net/" + ifname + "/address");
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  Result<MacAddress> mac = ParseMacAddress(text);
  if (!mac.ok()) return std::nullopt;
  return *mac;
}

// The peer's MAC in the kernel's neighbour table, if resolved.
std::optional<MacAddress> NeighbourMac(const IpAddress& peer) {
  std::ifstream arp("/proc/net/arp");
  std::string line, want = ToString(peer);
  std::getline(arp, line);  // Header.
  while (std::getline(arp, line)) {
    std::istringstream words(line);
    std::string ip, hwtype, flags, mac;
    words >> ip >> hwtype >> flags >> mac;
    if (ip != want || flags == "0x0") continue;
    Result<MacAddress> parsed = ParseMacAddress(mac);
    if (parsed.ok() && *parsed != MacAddress{}) return *parsed;
  }
  return std::nullopt;
}

// Makes the kernel resolve 'peer' (sends one datagram to its discard
// port through the host's stack).
void KickResolution(const IpAddress& peer) {
  if (peer.version != 4) return;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct sockaddr_in to = {};
  to.sin_family = AF_INET;
  to.sin_port = htons(kDiscardPort);
  std::memcpy(&to.sin_addr, peer.bytes.data(), 4);
  (void)!sendto(fd, "", 0, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to),
                sizeof to);
  close(fd);
}

// An AF_PACKET socket on one member that sees only probe frames: IPv4
// without options, UDP to 4791, BTH opcode UD SEND_ONLY (the kernel
// filters, so that the data traffic of RDMA applications on the same
// member never wakes the agent).
class ProbeLink {
 public:
  static Result<std::unique_ptr<ProbeLink>> Open(const std::string& netdev) {
    unsigned ifindex = if_nametoindex(netdev.c_str());
    if (!ifindex) return Status::NotFound("no interface " + netdev);
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    htons(ETH_P_ALL));
    if (fd < 0) {
      return Status::FromErrno("AF_PACKET socket on " + netdev +
                               " (needs CAP_NET_RAW)", errno);
    }
    constexpr uint32_t kUdOpcode = 0x64;
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 9),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x45, 0, 7),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 5),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 36),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kRoceV2UdpPort, 0, 3),
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 42),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kUdOpcode, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog program = {sizeof code / sizeof code[0], code};
    int one = 1;
    struct sockaddr_ll addr = {};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = static_cast<int>(ifindex);
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program,
                   sizeof program) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
                   sizeof one) < 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      int error = errno;
      close(fd);
      return Status::FromErrno("AF_PACKET on " + netdev, error);
    }
    // Frames queued before the filter was attached may be of any kind.
    char drain[64];
    while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) >= 0) {
    }
    return std::unique_ptr<ProbeLink>(new ProbeLink(fd, netdev));
  }
  ~ProbeLink() { close(fd_); }

  int fd() const { return fd_; }
  const std::string& netdev() const { return netdev_; }
  bool Send(std::span<const uint8_t> frame) {
    return send(fd_, frame.data(), frame.size(), MSG_DONTWAIT) ==
           static_cast<ssize_t>(frame.size());
  }
  // One frame into 'buffer'; its length, or 0 if none.
  size_t Receive(std::span<uint8_t> buffer) {
    ssize_t n = recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }

 private:
  ProbeLink(int fd, std::string netdev) : fd_(fd), netdev_(std::move(netdev)) {}
  int fd_;
  std::string netdev_;
};

std::string JoinPorts(const std::vector<uint16_t>& ports) {
  std::string out;
  for (uint16_t p : ports) {
    if (!out.empty()) out += ",";
    out += std::to_string(p);
  }
  return out;
}

}  // namespace

// The probing of one published balance-tcp bond.
struct BondProbe {
  std::string bond;
  std::string bridge;
  IpAddress local_ip;
  MacAddress local_mac{};
  std::vector<std::string> members;       // By index, as in the table.
  // The kernel netdev each probes through: the member's own name, or
  // the one the table publishes for a DPDK port (Member::Netdev()).
  std::vector<std::string> netdevs;
  std::vector<std::unique_ptr<ProbeLink>> links;  // Same order: AF_PACKET,
  std::vector<std::unique_ptr<UdProbeLink>> ud;   // or UD, or neither.
  std::vector<std::string> transport;     // What each member uses, said.
  uint64_t no_directory = 0;    // UD probes not sent: the peer's QPs unknown.
  uint64_t instance_id = 0;               // Of the table, and the bond's
  uint64_t generation = 0;                // generation, last set up.
  std::optional<PathProber> prober;
  uint64_t send_errors = 0;
  std::vector<uint64_t> reprobe_at_us;    // Settling re-probes due.
};

struct ProbeService::Impl {
  Options options;
  // The sender id of the UD QP directory; each bond's prober has its own
  // (SetUp()).
  uint64_t agent_id = 0;
  uint64_t instance_id = 0;     // Of the latest snapshot.
  std::map<std::string, std::unique_ptr<BondProbe>> bonds;
  // Bonds not probed, and why (active-backup, no address...).
  std::map<std::string, std::string> skipped;
  // The bridges of the bonds being set up (BridgeOf()).
  BridgeLookup bridge_lookup;

  // The agent's predictors, by bond (Update()); refilled in place.
  const std::map<std::string, Predictor>* predictors = nullptr;
  // The peers probed: configured (--peer) ones, and ones learned from
  // QPs, PATHS requests and probes, at most kMaxLearnedPeers of those,
  // which expire (Expire()).  Searched linearly.
  struct KnownPeer {
    IpAddress ip;
    bool configured = false;
    uint64_t used_ms = 0;       // Last named by a QP or PATHS request.
  };
  std::vector<KnownPeer> peers;
  uint64_t refused_peers = 0;
  uint64_t next_refusal_log_ms = 0;
  uint64_t next_resolve_ms = 0;
  std::vector<uint8_t> frame = std::vector<uint8_t>(kMaxRoceFrameBytes);
  // The UD QP directory (ud_directory.h) and its socket, opened with the
  // first UD link.
  std::optional<UdDirectory> directory;
  int directory_fd = -1;
  std::string directory_error;
  // The key file as last read (KeyFileChanged()).
  struct stat key_stat = {};
  bool key_stat_known = false;
  // Refused frames logged, by source and reason: when each may be logged
  // again (at most once a minute per source and reason), and at most
  // kMaxRefusalLogsPerMinute lines a minute in all, the rest counted.
  std::map<std::pair<std::string, int>, uint64_t> refusal_log_ms;
  uint64_t refusal_minute_ms = 0;
  uint64_t refusals_logged = 0;
  uint64_t refusals_unlogged = 0;

  void Log(int level, const std::string& message) const {
    if (options.log) options.log(level, message);
  }

  // A frame that a prober refused for its version or its tag.
  void Refused(const FrameAddress& from, ProbeDefect defect,
               uint8_t version) {
    const uint64_t now_ms = MonotonicNowNs() / 1000000;
    const std::string source = ToString(from.src_ip);
    auto key = std::make_pair(source, static_cast<int>(defect));
    auto it = refusal_log_ms.find(key);
    if (it != refusal_log_ms.end() && now_ms < it->second) return;
    if (now_ms >= refusal_minute_ms + 60000) {
      if (refusals_unlogged) {
        Log(2, std::to_string(refusals_unlogged) +
                   " more probe sources refused in the last minute, not "
                   "logged (rdma_bond_probe_frames_refused_total counts "
                   "every frame)");
      }
      refusal_minute_ms = now_ms;
      refusals_logged = refusals_unlogged = 0;
    }
    if (refusals_logged >= kMaxRefusalLogsPerMinute) {
      refusals_unlogged++;
      return;
    }
    refusals_logged++;
    if (refusal_log_ms.size() >= 1024) refusal_log_ms.clear();
    refusal_log_ms[key] = now_ms + 60000;
    if (defect == ProbeDefect::kUnsupportedVersion) {
      Log(2, "probe from " + source + " (" + FormatMac(from.src_mac) +
                 ") refused: protocol version " + std::to_string(version) +
                 ", this agent speaks version " +
                 std::to_string(kProbeVersion) +
                 ": run the same ovs-rdma-bond-agent release on both hosts");
    } else {
      Log(2, "probe from " + source + " (" + FormatMac(from.src_mac) +
                 ") refused: not signed by a key held here (" +
                 DescribeProbeKeys(options.keys) +
                 "; --probe-key-file " + options.key_file + ")");
    }
  }

  // Reads the key file again if it changed since it was last read; on
  // an error keeps the keys in use.
  void ReloadKeys() {
    if (options.key_file.empty()) return;
    struct stat st;
    if (stat(options.key_file.c_str(), &st) != 0) std::memset(&st, 0, sizeof st);
    if (key_stat_known && st.st_ino == key_stat.st_ino &&
        st.st_size == key_stat.st_size &&
        st.st_mtim.tv_sec == key_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == key_stat.st_mtim.tv_nsec &&
        st.st_ctim.tv_sec == key_stat.st_ctim.tv_sec &&
        st.st_ctim.tv_nsec == key_stat.st_ctim.tv_nsec) {
      return;
    }
    const bool first = !key_stat_known;
    key_stat = st;
    key_stat_known = true;
    if (first) return;              // Read by the caller at the start.
    Result<std::vector<ProbeKey>> keys = ReadProbeKeyFile(options.key_file);
    if (!keys.ok()) {
      Log(3, keys.status().message() + "; keeping the keys in use (" +
                 DescribeProbeKeys(options.keys) + ")");
      return;
    }
    if (DescribeProbeKeys(*keys) == DescribeProbeKeys(options.keys)) return;
    options.keys = std::move(*keys);
    for (auto& [name, probe] : bonds) probe->prober->SetKeys(options.keys);
    if (directory) directory->SetKeys(options.keys);
    Log(1, "probe keys read again from " + options.key_file + ": " +
               DescribeProbeKeys(options.keys) + " (the first signs)");
  }

  const Predictor* PredictorFor(const std::string& bond) const {
    if (!predictors) return nullptr;
    auto it = predictors->find(bond);
    return it == predictors->end() ? nullptr : &it->second;
  }

  // Adds 'peer' to 'peers'; false if it was there already, or if
  // kMaxLearnedPeers are known (logged at most once a minute).  'used': a
  // QP or a PATHS request names it (which keeps it from expiring), rather
  // than the probers having heard from it.
  bool Learn(const IpAddress& peer, bool used, bool configured = false) {
    const uint64_t now_ms = MonotonicNowNs() / 1000000;
    for (KnownPeer& known : peers) {
      if (known.ip == peer) {
        if (used) known.used_ms = now_ms;
        return false;
      }
    }
    if (!configured && LearnedPeers() >= kMaxLearnedPeers) {
      refused_peers++;
      if (now_ms >= next_refusal_log_ms) {
        next_refusal_log_ms = now_ms + 60000;
        Log(2, "peer " + ToString(peer) + " not probed: " +
                   std::to_string(kMaxLearnedPeers) +
                   " peers learned already (" +
                   std::to_string(refused_peers) + " refused so far)");
      }
      return false;
    }
    peers.push_back({peer, configured, now_ms});
    return true;
  }

  size_t LearnedPeers() const {
    return std::count_if(peers.begin(), peers.end(),
                         [](const KnownPeer& p) { return !p.configured; });
  }

  // Forgets learned peers that no QP and no PATHS request named for
  // kPeerIdleMs, in every prober too.
  void Expire(uint64_t now_ms) {
    std::erase_if(peers, [&](KnownPeer& p) {
      if (p.configured || now_ms - p.used_ms <= options.peer_idle_ms) {
        return false;
      }
      if (options.in_use && options.in_use(p.ip)) {
        p.used_ms = now_ms;
        return false;
      }
      for (auto& [name, probe] : bonds) probe->prober->RemovePeer(p.ip);
      Log(1, "peer " + ToString(p.ip) + " forgotten: no QP and no PATHS "
                 "request for " +
                 std::to_string(options.peer_idle_ms / 1000) + " s");
      return true;
    });
  }

  // Opens the directory's socket (once): UDP on options.directory_port,
  // every IPv4 address, with the destination address of what arrives.
  void EnsureDirectory() {
    if (directory) return;
    UdDirectory::Options o;
    o.agent_id = agent_id;
    o.keys = options.keys;
    o.local_qpns = [this](const IpAddress& local) {
      std::vector<uint32_t> out;
      for (const auto& [name, probe] : bonds) {
        if (!(probe->local_ip == local)) continue;
        for (const auto& link : probe->ud) {
          if (link) out.push_back(link->receive_qpn());
        }
      }
      return out;
    };
    directory.emplace(std::move(o));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options.directory_port);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      directory_error = "UDP port " + std::to_string(options.directory_port) +
                        ": " + std::strerror(errno);
      Log(3, "UD probe directory: " + directory_error +
                 "; UD probing cannot learn the peers' QPs");
      if (fd >= 0) close(fd);
      return;
    }
    directory_fd = fd;
    Log(1, "UD probe directory on UDP port " +
               std::to_string(options.directory_port));
  }

  void SendDirectory(const UdDirectory::Datagram& d) {
    if (directory_fd < 0 || d.to.version != 4) return;
    sockaddr_in to = {};
    to.sin_family = AF_INET;
    to.sin_port = htons(options.directory_port);
    std::memcpy(&to.sin_addr, d.to.bytes.data(), 4);
    iovec iov = {const_cast<uint8_t*>(d.bytes.data()), d.bytes.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo))] = {};
    msghdr msg = {};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo info = {};
    std::memcpy(&info.ipi_spec_dst, d.from.bytes.data(), 4);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
    (void)!sendmsg(directory_fd, &msg, MSG_DONTWAIT);
  }

  void AskDirectory(const IpAddress& local, const IpAddress& peer) {
    if (!directory) return;
    std::optional<UdDirectory::Datagram> d =
        directory->Ask(local, peer, MonotonicNowNs() / 1000000);
    if (d) SendDirectory(*d);
  }

  void ReadDirectory() {
    if (directory_fd < 0) return;
    uint8_t buf[kDirectoryBytes + 1];
    for (int n = 0; n < kMaxFramesPerRun; n++) {
      sockaddr_in from = {};
      iovec iov = {buf, sizeof buf};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo))];
      msghdr msg = {};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t len = recvmsg(directory_fd, &msg, MSG_DONTWAIT);
      if (len < 0) break;
      std::optional<IpAddress> dst;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          in_pktinfo info;
          std::memcpy(&info, CMSG_DATA(c), sizeof info);
          IpAddress ip;
          ip.version = 4;
          std::memcpy(ip.bytes.data(), &info.ipi_addr, 4);
          dst = ip;
        }
      }
      if (!dst || from.sin_port != htons(options.directory_port)) continue;
      IpAddress src;
      src.version = 4;
      std::memcpy(src.bytes.data(), &from.sin_addr, 4);
      std::optional<UdDirectory::Datagram> answer = directory->Handle(
          src, *dst, std::span<const uint8_t>(buf, static_cast<size_t>(len)),
          MonotonicNowNs() / 1000000);
      if (answer) SendDirectory(*answer);
    }
  }

  // Opens member i's transport (options.transport): a UD link, or an
  // AF_PACKET one; neither while a UD link cannot be opened yet (the
  // member's RDMA device has no GID of the address yet: Resolve() tries
  // again).  Says what it did in probe.transport[i], logged on a change.
  void OpenMember(BondProbe& probe, size_t i) {
    const std::string& name = probe.netdevs[i];
    probe.links[i].reset();
    probe.ud[i].reset();
    std::string said, note;
    const ProbeTransport t = options.transport;
    bool rdma = false;
    if (t != ProbeTransport::kAfPacket) {
      rdma = RdmaSysfs(options.sysfs_root).FindRdmaPort(name).ok();
    }
    if (t == ProbeTransport::kUd || (t == ProbeTransport::kAuto && rdma)) {
      UdProbeLink::Options o;
      o.netdev = name;
      o.local_ip = probe.local_ip;
      o.rxe_pool = options.rxe_pool;
      o.sysfs_root = options.sysfs_root;
      o.require_any_port = t == ProbeTransport::kAuto;
      Result<std::unique_ptr<UdProbeLink>> link = UdProbeLink::Open(o);
      if (link.ok()) {
        const UdProbeLink& l = **link;
        said = "ud (" + l.device() + ", GID index " +
               std::to_string(l.gid_index()) + ", receive QP " +
               HexPrefixed(l.receive_qpn()) + ", source port by " +
               std::string(ToString(l.control()));
        if (!l.any_port()) {
          said += ": " + std::to_string(l.ports().size()) + " ports";
        }
        said += ")";
        probe.ud[i] = std::move(*link);
        EnsureDirectory();
      } else if (t == ProbeTransport::kUd ||
                 link.status().code() != Status::Code::kNotSupported) {
        said = "none yet: " + link.status().message();
      } else {
        note = "; UD not used: " + link.status().message();
      }
    }
    if (said.empty()) {
      Result<std::unique_ptr<ProbeLink>> link = ProbeLink::Open(name);
      if (link.ok()) {
        probe.links[i] = std::move(*link);
        said = "af-packet" + note;
      } else {
        said = "none: " + link.status().message() + note;
      }
    }
    if (probe.transport[i] != said) {
      // Waiting for the address's GID (the RoCE plumbing adds it a
      // moment after the agent starts) is no trouble yet.
      Log(probe.links[i] || probe.ud[i] || said.rfind("none yet", 0) == 0
              ? 1 : 2,
          "bond " + probe.bond + ": " + name + " probes through " + said);
    }
    probe.transport[i] = said;
  }

  // The ports of a UD link that sends only from some ports (rxe) that the
  // local OVS sends on 'member' toward 'dst': up to 'count', from a place
  // that 'spread_key' picks.
  std::vector<uint16_t> LinkPorts(const Predictor& predictor,
                                  const UdProbeLink& link, size_t member,
                                  const IpAddress& local, const IpAddress& dst,
                                  size_t count, uint64_t spread_key) const {
    const std::vector<uint16_t>& ports = link.ports();
    std::vector<uint16_t> out;
    for (size_t k = 0; k < ports.size() && out.size() < count; k++) {
      const uint16_t port = ports[(spread_key + k) % ports.size()];
      Result<FiveTuple> tuple = MakeUdpTuple(local, dst, port, kRoceV2UdpPort);
      if (!tuple.ok()) continue;
      const Prediction p = predictor.Predict(FlowKey(*tuple));
      if (p.has_member() && p.member == member) out.push_back(port);
    }
    return out;
  }

  // A probe frame the prober sends from a UD member: its payload to the
  // peer's receive QPs, from the frame's source port.
  void SendUd(BondProbe& p, size_t member, std::span<const uint8_t> frame) {
    FrameAddress address;
    RocePacket packet;
    if (!ParseFrame(frame, &address, &packet).ok()) {
      p.send_errors++;
      return;
    }
    const std::vector<uint32_t>* qpns =
        directory ? directory->Qpns(address.dst_ip) : nullptr;
    if (!qpns || qpns->empty()) {
      p.no_directory++;
      AskDirectory(address.src_ip, address.dst_ip);
      return;
    }
    // Once per QP number: two of the peer's RNICs may number their
    // receive QPs alike (rxe counts per device), and each would take
    // both copies.
    std::vector<uint32_t> distinct = *qpns;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()),
                   distinct.end());
    if (!p.ud[member]->Send(address.dst_ip, address.udp_sport, distinct,
                            packet.payload)) {
      p.send_errors++;
    }
  }

  // Sets up (or refreshes) the probing of 'bond'.
  // A restarted ovs-vswitchd (new 'instance_id') numbers generations
  // afresh: both identify what was set up.
  // The bridge of 'bond' once its lookup is done; std::nullopt while it
  // runs (the bond is then in 'skipped', so that Run() asks again).
  // Lookups start at most every kBridgeLookupRetryMs per bond.
  std::optional<std::string> BridgeOf(const std::string& bond,
                                      uint64_t now_ms) {
    std::optional<std::string> bridge = bridge_lookup.Get(bond, now_ms);
    if (!bridge && !skipped.count(bond)) skipped[bond] = "looking up its bridge";
    return bridge;
  }

  void SetUp(const Bond& bond, uint64_t instance_id) {
    auto existing = bonds.find(bond.name);
    if (existing != bonds.end() &&
        existing->second->generation == bond.generation &&
        existing->second->instance_id == instance_id) {
      return;
    }
    uint64_t now_ms = MonotonicNowNs() / 1000000;
    std::optional<std::string> bridge;
    if (existing == bonds.end()) {
      bridge = BridgeOf(bond.name, now_ms);
      if (!bridge) return;
    }
    std::unique_ptr<BondProbe>& probe = bonds[bond.name];
    if (!probe) {
      auto fresh = std::make_unique<BondProbe>();
      fresh->bond = bond.name;
      fresh->bridge = *bridge;
      std::optional<IpAddress> ip;
      std::optional<MacAddress> mac;
      if (!fresh->bridge.empty()) {
        ip = InterfaceAddress(fresh->bridge);
        mac = InterfaceMac(fresh->bridge);
      }
      if (!ip || !mac) {
        std::string why = fresh->bridge.empty()
                              ? "its bridge is unknown (ovs-vsctl port-to-br " +
                                    bond.name + " failed)"
                              : "bridge " + fresh->bridge +
                                    " has no IPv4 address";
        if (skipped[bond.name] != why) {
          Log(2, "bond " + bond.name + ": not probing yet: " + why);
        }
        skipped[bond.name] = why;
        bonds.erase(bond.name);
        return;
      }
      fresh->local_ip = *ip;
      fresh->local_mac = *mac;
      PathProberOptions popts;
      // An agent id of its own: a bond probed again (after it was not
      // for a while) starts at epoch 1, which its peers would take for
      // stale frames of the identity they hold; a new id is a restart to
      // them, adopted after one exchange.
      while (popts.agent_id == 0) popts.agent_id = SecureRandom64();
      popts.local_ip = *ip;
      popts.local_mac = *mac;
      popts.keys = options.keys;
      popts.on_refused = [this](const FrameAddress& from, ProbeDefect defect,
                                uint8_t version) {
        Refused(from, defect, version);
      };
      Result<PathProber> prober = PathProber::Create(popts);
      if (!prober.ok()) {
        skipped[bond.name] = prober.status().message();
        bonds.erase(bond.name);
        return;
      }
      fresh->prober.emplace(std::move(*prober));
      skipped.erase(bond.name);
      Log(1, "bond " + bond.name + ": probing from " + ToString(*ip) +
                 " (bridge " + fresh->bridge + ")");
      probe = std::move(fresh);
    }

    // Members and their links (reopened only when the set changes).
    std::vector<std::string> names, netdevs;
    for (const Member& m : bond.members) {
      names.push_back(m.name);
      netdevs.push_back(m.NetdevOrName());
    }
    if (names != probe->members || netdevs != probe->netdevs) {
      probe->members = names;
      probe->netdevs = netdevs;
      probe->links.clear();
      probe->ud.clear();
      probe->links.resize(names.size());
      probe->ud.resize(names.size());
      probe->transport.assign(names.size(), "");
      for (size_t i = 0; i < names.size(); i++) OpenMember(*probe, i);
    }
    // A member may carry RDMA only if OVS sends some flows out of it: an
    // enabled member that owns no bucket (OVS moves buckets back to a
    // returning member only when it rebalances) is not probed from, and
    // the peer is told so.
    std::vector<size_t> owned(bond.members.size(), 0);
    for (uint8_t owner : bond.buckets) {
      if (owner < owned.size()) owned[owner]++;
    }
    std::vector<LocalMember> members;
    for (size_t i = 0; i < bond.members.size(); i++) {
      members.push_back({bond.members[i].name,
                         bond.members[i].enabled() && owned[i] > 0 &&
                             (probe->links[i] || probe->ud[i])});
    }
    std::string name = bond.name;
    IpAddress local = probe->local_ip;
    BondProbe* raw = probe.get();
    SportSource sports = [this, name, local, raw](size_t member,
                                                  const IpAddress& dst,
                                                  size_t count,
                                                  uint64_t spread_key) {
      const Predictor* predictor = PredictorFor(name);
      if (!predictor) return std::vector<uint16_t>();
      if (member < raw->ud.size() && raw->ud[member] &&
          !raw->ud[member]->any_port()) {
        return LinkPorts(*predictor, *raw->ud[member], member, local, dst,
                         count, spread_key);
      }
      Result<std::vector<SportChoice>> picks =
          predictor->PickSports(member, local, dst, count, spread_key);
      std::vector<uint16_t> ports;
      if (picks.ok()) {
        for (const SportChoice& c : *picks) ports.push_back(c.sport);
      }
      return ports;
    };
    // Whether OVS sends a port on a member now: ports validated before a
    // bond change are probed first again if it still does.
    SportCheck check = [this, name, local](size_t member,
                                           const IpAddress& dst,
                                           uint16_t sport) {
      const Predictor* predictor = PredictorFor(name);
      if (!predictor) return false;
      Result<FiveTuple> tuple =
          MakeUdpTuple(local, dst, sport, kRoceV2UdpPort);
      if (!tuple.ok()) return false;
      const Prediction p = predictor->Predict(FlowKey(*tuple));
      return p.has_member() && p.member == member;
    };
    Status status = probe->prober->SetLocalBond(std::move(members), sports,
                                                check);
    if (!status.ok()) {
      Log(2, "bond " + bond.name + ": " + status.message());
    }
    probe->generation = bond.generation;
    probe->instance_id = instance_id;
    probe->reprobe_at_us = SettleReprobeTimesUs(bond.change_ns, NowUs());
    for (const KnownPeer& peer : peers) AddTo(*probe, peer.ip);
  }

  // Members that could not open a transport yet (a UD link waits for the
  // address's GID): tried again; if one opens, the bond is set up again
  // so that the prober may use it.
  void RetryMembers() {
    for (auto& [name, probe] : bonds) {
      bool opened = false;
      for (size_t i = 0; i < probe->members.size(); i++) {
        if (probe->links[i] || probe->ud[i]) continue;
        OpenMember(*probe, i);
        opened = opened || probe->links[i] || probe->ud[i];
      }
      const Predictor* predictor = PredictorFor(name);
      if (opened && predictor) {
        probe->generation = ~uint64_t{0};   // Not the bond's: set up again.
        SetUp(predictor->bond(), probe->instance_id);
      }
    }
  }

  // 'bond' is not probed (any more), for 'why'; said once when it was.
  void StopProbing(const std::string& bond, const std::string& why) {
    if (bonds.erase(bond)) Log(1, "bond " + bond + ": probing stopped: " + why);
    skipped[bond] = why;
  }

  void AddTo(BondProbe& probe, const IpAddress& peer) {
    if (peer.version != probe.local_ip.version || peer == probe.local_ip) {
      return;
    }
    std::optional<PeerProbeReport> known = probe.prober->Report(peer);
    if (known && known->mac != MacAddress{}) return;
    std::optional<MacAddress> mac = NeighbourMac(peer);
    if (!mac) return;  // Resolve() retries.
    Status status = probe.prober->AddPeer(peer, *mac);
    if (!status.ok()) Log(2, "peer " + ToString(peer) + ": " + status.message());
  }

  // At most every kResolveRetryMs: remembers the peers that the probers
  // learned from their REQUESTs (so that a bond set up later probes them
  // too), and looks up the MAC of peers that have none yet, starting its
  // resolution if the kernel has none either.
  void Resolve(uint64_t now_ms) {
    if (now_ms < next_resolve_ms) return;
    next_resolve_ms = now_ms + kResolveRetryMs;
    ReloadKeys();
    RetryMembers();
    for (auto& [name, probe] : bonds) {
      const bool ud = std::any_of(probe->ud.begin(), probe->ud.end(),
                                  [](const auto& l) { return l != nullptr; });
      for (const PeerProbeReport& r : probe->prober->Reports()) {
        // Keeps the peers' UD QPs known before a probe needs them.
        if (ud) AskDirectory(probe->local_ip, r.ip);
        // A source that only sent REQUESTs is learned once it proved it
        // holds its address (PeerProbeReport::confirmed).
        if (!r.learned || r.confirmed) Learn(r.ip, false);
      }
    }
    Expire(now_ms);
    for (const KnownPeer& known : peers) {
      const IpAddress& peer = known.ip;
      bool missing = false;
      for (auto& [name, probe] : bonds) {
        if (peer.version != probe->local_ip.version) continue;
        std::optional<PeerProbeReport> r = probe->prober->Report(peer);
        if (!r || r->mac == MacAddress{}) missing = true;
      }
      if (!missing) continue;
      if (!NeighbourMac(peer)) KickResolution(peer);
      for (auto& [name, probe] : bonds) AddTo(*probe, peer);
    }
  }
};

ProbeService::ProbeService(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->ReloadKeys();                // Notes the file as read.
  while (impl_->agent_id == 0) impl_->agent_id = SecureRandom64();
  for (const IpAddress& peer : impl_->options.peers) {
    if (impl_->Learn(peer, true, true)) {
      for (auto& [name, probe] : impl_->bonds) impl_->AddTo(*probe, peer);
    }
  }
}

ProbeService::~ProbeService() {
  if (impl_->directory_fd >= 0) close(impl_->directory_fd);
}

std::string_view ToString(ProbeTransport transport) {
  switch (transport) {
    case ProbeTransport::kUd: return "ud";
    case ProbeTransport::kAfPacket: return "af-packet";
    case ProbeTransport::kAuto: break;
  }
  return "auto";
}

std::optional<ProbeTransport> ParseProbeTransport(std::string_view text) {
  for (ProbeTransport t : {ProbeTransport::kAuto, ProbeTransport::kUd,
                           ProbeTransport::kAfPacket}) {
    if (text == ToString(t)) return t;
  }
  return std::nullopt;
}

std::set<std::string> ProbeService::OwnQps() const {
  std::set<std::string> out;
  for (const auto& [name, probe] : impl_->bonds) {
    for (const auto& link : probe->ud) {
      if (!link) continue;
      const std::string device = link->device().substr(
          0, link->device().find(':'));
      for (uint32_t qpn : link->qpns()) {
        out.insert(device + ":" + std::to_string(qpn));
      }
    }
  }
  return out;
}

void ProbeService::Update(const TableSnapshot& snapshot,
                          const std::map<std::string, Predictor>& predictors) {
  impl_->predictors = &predictors;
  std::set<std::string> published;
  for (const Bond& bond : snapshot.bonds) {
    published.insert(bond.name);
    if (bond.mode != BondMode::kBalanceTcp) {
      impl_->StopProbing(bond.name,
                         std::string(ToString(bond.mode)) +
                             ": not probed (only the active member may send)");
      continue;
    }
    if (!impl_->PredictorFor(bond.name)) {
      impl_->StopProbing(bond.name, "no prediction for this bond");
      continue;
    }
    impl_->SetUp(bond, snapshot.table.instance_id);
  }
  impl_->instance_id = snapshot.table.instance_id;
  std::erase_if(impl_->bonds, [&](const auto& entry) {
    return !published.count(entry.first);
  });
  std::erase_if(impl_->skipped, [&](const auto& entry) {
    return !published.count(entry.first);
  });
}

void ProbeService::AddPeer(const IpAddress& peer) {
  if (!impl_->Learn(peer, true)) return;
  for (auto& [name, probe] : impl_->bonds) impl_->AddTo(*probe, peer);
}

void ProbeService::Run() {
  impl_->bridge_lookup.Drain();
  impl_->ReadDirectory();
  uint64_t now_us = NowUs();
  impl_->Resolve(now_us / 1000);
  // Bonds that could not be set up yet (no address on the bridge...).
  for (const auto& [name, why] : impl_->skipped) {
    (void)why;
    const Predictor* predictor = impl_->PredictorFor(name);
    if (predictor && predictor->bond().mode == BondMode::kBalanceTcp) {
      impl_->SetUp(predictor->bond(), impl_->instance_id);
      break;  // SetUp() may change 'skipped'.
    }
  }
  for (auto& [name, probe] : impl_->bonds) {
    BondProbe& p = *probe;
    if (!p.reprobe_at_us.empty() && p.reprobe_at_us.front() <= now_us) {
      p.reprobe_at_us.erase(p.reprobe_at_us.begin());
      p.prober->Reprobe();
    }
    for (size_t i = 0; i < p.ud.size(); i++) {
      if (!p.ud[i]) continue;
      p.ud[i]->Poll([&p, i, now_us](const IpAddress& src,
                                    const IpAddress& dst,
                                    std::span<const uint8_t> payload) {
        p.prober->HandleDatagram(i, src, dst, payload,
                                 static_cast<int64_t>(now_us));
      });
    }
    for (size_t i = 0; i < p.links.size(); i++) {
      if (!p.links[i]) continue;
      for (int n = 0; n < kMaxFramesPerRun; n++) {
        size_t len = p.links[i]->Receive(impl_->frame);
        if (!len) break;
        p.prober->HandleFrame(i, std::span<const uint8_t>(impl_->frame.data(),
                                                          len),
                              static_cast<int64_t>(now_us));
      }
    }
    p.prober->Run(static_cast<int64_t>(now_us),
                  [&p, this](size_t member, std::span<const uint8_t> frame) {
                    if (member < p.ud.size() && p.ud[member]) {
                      impl_->SendUd(p, member, frame);
                    } else if (member >= p.links.size() || !p.links[member] ||
                        !p.links[member]->Send(frame)) {
                      p.send_errors++;
                    }
                  });
  }
}

void ProbeService::AppendFds(std::vector<int>* fds) const {
  if (impl_->bridge_lookup.wake_fd() >= 0) {
    fds->push_back(impl_->bridge_lookup.wake_fd());
  }
  if (impl_->directory_fd >= 0) fds->push_back(impl_->directory_fd);
  for (const auto& [name, probe] : impl_->bonds) {
    for (const auto& link : probe->links) {
      if (link) fds->push_back(link->fd());
    }
    for (const auto& link : probe->ud) {
      if (link) fds->push_back(link->fd());
    }
  }
}

uint64_t ProbeService::SleepMs() const {
  uint64_t sleep_ms = kResolveRetryMs;
  uint64_t now_us = NowUs();
  for (const auto& [name, probe] : impl_->bonds) {
    if (!probe->reprobe_at_us.empty()) {
      uint64_t at = probe->reprobe_at_us.front();
      sleep_ms = std::min(sleep_ms, at <= now_us ? 0 : (at - now_us + 999) / 1000);
    }
    int64_t deadline = probe->prober->NextDeadlineUs();
    if (deadline < 0) continue;
    uint64_t ms = static_cast<uint64_t>(deadline) <= now_us
                      ? 0
                      : (static_cast<uint64_t>(deadline) - now_us + 999) / 1000;
    sleep_ms = std::min(sleep_ms, ms);
  }
  return sleep_ms;
}

std::string ProbeService::PathsReply(const std::string& bond,
                                     const IpAddress& dst) const {
  auto it = impl_->bonds.find(bond);
  if (it == impl_->bonds.end()) return "END\n";
  std::optional<PeerProbeReport> report = it->second->prober->Report(dst);
  return report ? PathLines(*report) : "END\n";
}

std::vector<uint64_t> SettleReprobeTimesUs(uint64_t change_ns,
                                           uint64_t now_us) {
  uint64_t changed_us = change_ns / 1000;
  if (change_ns == 0 || changed_us > now_us) changed_us = now_us;
  std::vector<uint64_t> out;
  for (uint64_t delay : kSettleReprobeUs) {
    if (changed_us + delay > now_us) out.push_back(changed_us + delay);
  }
  return out;
}

std::string PathLines(const PeerProbeReport& report) {
  // The validated ports of each pair, then, toward members of the peer
  // that may not carry now, the ports that last, for the paths that wait
  // for them ("waiting=1"; a client that does not know the key takes them
  // as ports to try first, which is what they are).
  std::string out;
  for (const auto& [pairs, suffix] :
       {std::pair{&report.pairs, ""}, std::pair{&report.waiting,
                                                " waiting=1"}}) {
    for (const ProbePairReport& pair : *pairs) {
      // Only names the line protocol can carry: a name with a space or '='
      // would add fields to the application's reply.
      if (pair.sports.empty() || !IsRegistryToken(pair.local_name) ||
          !IsRegistryToken(pair.remote_name)) {
        continue;
      }
      out += "PATH local=" + pair.local_name + " remote=" + pair.remote_name +
             " sports=" + JoinPorts(pair.sports) + suffix + "\n";
    }
  }
  return out + "END\n";
}

ProbeService::PeerCounts ProbeService::Peers() const {
  PeerCounts counts;
  counts.learned = impl_->LearnedPeers();
  counts.configured = impl_->peers.size() - counts.learned;
  counts.refused = impl_->refused_peers;
  counts.idle_ms = impl_->options.peer_idle_ms;
  return counts;
}

std::string ProbeService::Summary() const {
  std::ostringstream s;
  if (impl_->bonds.empty() && impl_->skipped.empty()) {
    return "no published bond";
  }
  bool first = true;
  for (const auto& [name, probe] : impl_->bonds) {
    s << (first ? "" : "; ") << "bond " << name << " from "
      << ToString(probe->local_ip);
    first = false;
    for (const PeerProbeReport& r : probe->prober->Reports()) {
      size_t validated = 0;
      for (const ProbePairReport& pair : r.pairs) validated += !pair.sports.empty();
      s << ", peer " << ToString(r.ip) << " " << ToString(r.state) << " ("
        << validated << " of " << r.pairs.size() << " pairs validated)";
    }
  }
  for (const auto& [name, why] : impl_->skipped) {
    s << (first ? "" : "; ") << "bond " << name << ": " << why;
    first = false;
  }
  return s.str();
}

std::string ProbeService::Explain(const QpRecord& qp) const {
  auto skipped = impl_->skipped.find(qp.bond);
  if (skipped != impl_->skipped.end()) return skipped->second;
  auto it = impl_->bonds.find(qp.bond);
  if (it == impl_->bonds.end()) return "bond not probed";
  std::optional<PeerProbeReport> report = it->second->prober->Report(qp.dst);
  if (!report) return "peer " + ToString(qp.dst) + " not probed yet";
  std::string local_ports;
  for (const ProbePairReport& pair : report->pairs) {
    if (pair.local_name != qp.member) continue;
    if (std::find(pair.sports.begin(), pair.sports.end(), qp.sport) !=
        pair.sports.end()) {
      return "source port " + std::to_string(qp.sport) + " validated: " +
             qp.member + " -> peer's " + pair.remote_name +
             ", and back the same way";
    }
    if (!pair.sports.empty()) {
      local_ports += " " + pair.remote_name + ":" + JoinPorts(pair.sports);
    }
  }
  return "source port " + std::to_string(qp.sport) +
         " was not validated by probing (validated from " + qp.member + ":" +
         (local_ports.empty() ? " none" : local_ports) + ")";
}

std::string ProbeService::Text(const std::optional<IpAddress>& peer) const {
  std::ostringstream s;
  s << "probe protocol " << int{kProbeVersion} << ", ";
  if (impl_->options.keys.empty()) {
    s << "no key: frames are not authenticated\n";
  } else {
    s << "keys " << DescribeProbeKeys(impl_->options.keys)
      << " (the first signs; " << impl_->options.key_file << ")\n";
  }
  s << "transport " << ToString(impl_->options.transport);
  if (impl_->directory) {
    const UdDirectory::Stats& d = impl_->directory->stats();
    s << "; UD QP directory on UDP port " << impl_->options.directory_port;
    if (impl_->directory_fd < 0) s << " (not open: " << impl_->directory_error << ")";
    s << ": asked " << d.queries_sent << ", answers taken " << d.answers_taken
      << ", questions answered " << d.queries_answered << ", refused "
      << d.refused << ", unmatched " << d.unmatched << ", beyond the rate "
      << d.rate_limited;
  }
  s << "\n";
  for (const auto& [name, why] : impl_->skipped) {
    s << "bond " << name << ": " << why << "\n";
  }
  for (const auto& [name, probe] : impl_->bonds) {
    s << "bond " << name << ": from " << ToString(probe->local_ip)
      << " (bridge " << probe->bridge << "), epoch "
      << probe->prober->epoch() << ", send errors " << probe->send_errors
      << "\n";
    for (size_t i = 0; i < probe->members.size(); i++) {
      s << "  member " << EscapeControl(probe->members[i]) << ": "
        << probe->transport[i];
      if (probe->ud[i]) {
        const UdProbeLink::Stats& u = probe->ud[i]->stats();
        s << ", sent " << u.sent << ", received " << u.received
          << ", errors " << u.send_errors + u.receive_errors;
      }
      s << "\n";
    }
    if (probe->no_directory > 0) {
      s << "  UD probes not sent (the peer's UD QPs not known yet): "
        << probe->no_directory << "\n";
    }
    const PathProberStats& st = probe->prober->stats();
    if (st.unauthenticated + st.unsupported_version + st.malformed +
            st.identity_mismatch + st.rate_limited + st.peers_refused +
            st.peers_evicted + st.peers_expired >
        0) {
      s << "  refused: " << st.unauthenticated << " unauthenticated, "
        << st.unsupported_version << " of another version, " << st.malformed
        << " malformed, " << st.identity_mismatch
        << " with a peer's address from another MAC, " << st.rate_limited
        << " beyond a rate; peers refused " << st.peers_refused
        << ", evicted " << st.peers_evicted << ", expired unconfirmed "
        << st.peers_expired << "\n";
    }
    std::vector<PeerProbeReport> reports = probe->prober->Reports();
    std::sort(reports.begin(), reports.end(),
              [](const PeerProbeReport& a, const PeerProbeReport& b) {
                return a.ip.bytes < b.ip.bytes;
              });
    for (const PeerProbeReport& r : reports) {
      if (peer && !(r.ip == *peer)) continue;
      s << "  peer " << ToString(r.ip) << ": " << ToString(r.state)
        << ", agent " << HexPrefixed(r.agent_id) << " epoch " << r.epoch
        << (r.confirmed ? "" : " (not confirmed yet)") << ", rounds "
        << r.rounds << ", inconsistent " << r.inconsistent
        << ", identity changes " << r.peer_changes << "\n";
      if (r.candidate_agent_id != 0) {
        s << "    unconfirmed: agent " << HexPrefixed(r.candidate_agent_id)
          << " epoch " << r.candidate_epoch << " (" << r.unconfirmed
          << " frames; adopted once an exchange with it completes)\n";
      }
      if (r.unauthenticated + r.identity_mismatch + r.rate_limited + r.stale >
          0) {
        s << "    refused: " << r.unauthenticated << " unauthenticated, "
          << r.identity_mismatch << " from another MAC, " << r.rate_limited
          << " beyond its rate, " << r.stale << " stale\n";
      }
      for (const ProbePairReport& pair : r.pairs) {
        s << "    " << EscapeControl(pair.local_name) << " -> "
          << EscapeControl(pair.remote_name) << ": "
          << (pair.sports.empty() ? "none" : JoinPorts(pair.sports))
          << (pair.return_verified ? "" : " (return not verified)");
        if (pair.held_back > 0) {
          s << " (" << pair.held_back
            << " more held back: they may go to a member of the peer that "
               "is down once it is back)";
        }
        s << "\n";
      }
      for (const ProbePairReport& pair : r.waiting) {
        s << "    " << EscapeControl(pair.local_name) << " -> "
          << EscapeControl(pair.remote_name) << " (may not carry): waits on "
          << JoinPorts(pair.sports) << " (ports that last)\n";
      }
      for (const ProbeMemberStats& m : r.members) {
        s << "    from " << EscapeControl(m.name) << ": sent "
          << m.probes_sent
          << ", retries " << m.retries << ", answered " << m.answered
          << ", lost " << m.timed_out << "\n";
      }
    }
  }
  if (peer && s.str().find("peer " + ToString(*peer)) == std::string::npos) {
    s << "peer " << ToString(*peer) << ": not probed\n";
  }
  return s.str();
}

std::string ProbeService::Metrics() const {
  std::ostringstream s;
  auto help = [&](const char* name, const char* type, const char* text) {
    s << "# HELP " << name << " " << text << "\n# TYPE " << name << " "
      << type << "\n";
  };
  std::ostringstream sent, answered, lost, validated, inconsistent, refused,
      peers, dropped;
  for (const auto& [name, probe] : impl_->bonds) {
    const std::string bond = "bond=\"" + LabelValue(name) + "\"";
    const PathProberStats& st = probe->prober->stats();
    uint64_t unconfirmed = 0, stale = 0;
    size_t confirmed_peers = 0, unconfirmed_peers = 0;
    for (const PeerProbeReport& r : probe->prober->Reports()) {
      unconfirmed += r.unconfirmed;
      stale += r.stale;
      (r.confirmed ? confirmed_peers : unconfirmed_peers)++;
    }
    for (const auto& [reason, count] :
         {std::pair{"unauthenticated", st.unauthenticated},
          {"unsupported_version", st.unsupported_version},
          {"malformed", st.malformed},
          {"identity_mismatch", st.identity_mismatch},
          {"rate_limited", st.rate_limited},
          {"unknown_peer", st.unknown_peer},
          {"unconfirmed", unconfirmed},
          {"stale", stale}}) {
      refused << "rdma_bond_probe_frames_refused_total{" << bond
              << ",reason=\"" << reason << "\"} " << count << "\n";
    }
    peers << "rdma_bond_probe_peers{" << bond << ",state=\"confirmed\"} "
          << confirmed_peers << "\n"
          << "rdma_bond_probe_peers{" << bond << ",state=\"unconfirmed\"} "
          << unconfirmed_peers << "\n";
    for (const auto& [reason, count] :
         {std::pair{"refused", st.peers_refused},
          {"evicted", st.peers_evicted},
          {"expired", st.peers_expired}}) {
      dropped << "rdma_bond_probe_peers_dropped_total{" << bond
              << ",reason=\"" << reason << "\"} " << count << "\n";
    }
    for (const PeerProbeReport& r : probe->prober->Reports()) {
      std::string labels = "bond=\"" + LabelValue(name) + "\",peer=\"" +
                           ToString(r.ip) + "\"";
      for (const ProbeMemberStats& m : r.members) {
        std::string l = "{" + labels + ",member=\"" + LabelValue(m.name) +
                        "\"} ";
        sent << "rdma_bond_probes_sent_total" << l << m.probes_sent + m.retries
             << "\n";
        answered << "rdma_bond_probes_answered_total" << l << m.answered
                 << "\n";
        lost << "rdma_bond_probes_lost_total" << l << m.timed_out << "\n";
      }
      for (const ProbePairReport& pair : r.pairs) {
        validated << "rdma_bond_paths_validated_sports{" << labels
                  << ",local=\"" << LabelValue(pair.local_name)
                  << "\",remote=\"" << LabelValue(pair.remote_name) << "\"} "
                  << pair.sports.size() << "\n";
      }
      inconsistent << "rdma_bond_probe_inconsistent_total{" << labels << "} "
                   << r.inconsistent << "\n";
    }
  }
  help("rdma_bond_probes_sent_total", "counter",
       "RoCEv2-shaped probes sent to a peer from a member (retries "
       "included).");
  s << sent.str();
  help("rdma_bond_probes_answered_total", "counter",
       "Probes the peer's agent answered.");
  s << answered.str();
  help("rdma_bond_probes_lost_total", "counter",
       "Probes unanswered after every try.");
  s << lost.str();
  help("rdma_bond_paths_validated_sports", "gauge",
       "Source ports validated by probing, per local and remote member.");
  s << validated.str();
  help("rdma_bond_probe_inconsistent_total", "counter",
       "5-tuples reported on two different members (the switch moved them).");
  s << inconsistent.str();
  help("rdma_bond_probe_frames_refused_total", "counter",
       "Probe frames dropped, by reason: no valid tag, another protocol "
       "version, malformed, a peer's address from another MAC, beyond a "
       "rate, an answer from no known peer, an identity not confirmed, "
       "stale.");
  s << refused.str();
  help("rdma_bond_probe_peers", "gauge",
       "Peers the prober holds, confirmed by an exchange or not yet.");
  s << peers.str();
  help("rdma_bond_probe_peers_dropped_total", "counter",
       "Sources not kept as peers: refused (every learned peer confirmed), "
       "evicted or expired unconfirmed.");
  s << dropped.str();
  help("rdma_bond_probe_keys", "gauge",
       "Shared probe keys held (0: probes are not authenticated).");
  s << "rdma_bond_probe_keys " << impl_->options.keys.size() << "\n";
  return s.str();
}

}  // namespace rdma_bond::agent
