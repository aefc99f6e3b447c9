// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// PacketSocketLink: the frame link of an emulated RNIC on a bond member, an
// AF_PACKET socket that a BPF filter limits to the member's RoCEv2 frames.

#include "rnic/emulated/emulated_rnic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace rdma_bond {

namespace {

// Socket buffers of the AF_PACKET socket: a window of 256 4 KiB packets
// per QP, a few QPs.
constexpr int kSocketBufferBytes = 8 << 20;

// Classic BPF: keep UDP to port 4791 and 'ip', drop everything else, so
// that the socket does not copy the member's other traffic.
std::vector<sock_filter> RoceFilter(const IpAddress& ip) {
  constexpr uint32_t kAccept = 0x40000;   // Bytes to keep: all.
  std::vector<sock_filter> f;
  // Jumps to the final "drop" are patched once the program is complete:
  // those taken when the test fails, and those taken when it holds.
  std::vector<size_t> to_drop;
  std::vector<size_t> drop_if_equal;
  const auto stmt = [&f](uint16_t code, uint32_t k) {
    f.push_back(BPF_STMT(code, k));
  };
  const auto expect = [&f, &to_drop](uint16_t code, uint32_t k) {
    to_drop.push_back(f.size());
    f.push_back(BPF_JUMP(BPF_JMP | code | BPF_K, k, 0, 0));
  };
  stmt(BPF_LD | BPF_H | BPF_ABS, 12);                    // Ethertype.
  if (ip.version == 4) {
    expect(BPF_JEQ, kEthertypeIpv4);
    stmt(BPF_LD | BPF_B | BPF_ABS, 23);                  // Protocol.
    expect(BPF_JEQ, kIpProtoUdp);
    stmt(BPF_LD | BPF_H | BPF_ABS, 20);                  // Flags, offset.
    to_drop.push_back(f.size());                         // Fragments out.
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 0, 0));
    stmt(BPF_LD | BPF_W | BPF_ABS, 30);                  // Destination.
    uint32_t word;
    std::memcpy(&word, ip.bytes.data(), 4);
    expect(BPF_JEQ, ntohl(word));
    stmt(BPF_LDX | BPF_B | BPF_MSH, 14);                 // IHL * 4.
    stmt(BPF_LD | BPF_H | BPF_IND, 14 + 2);              // UDP dport.
    expect(BPF_JEQ, kRoceV2UdpPort);
    // The emulation has no UD QP: a UD SEND_ONLY (the agents' probes, or
    // anyone's) is dropped here, as a hardware RNIC drops a frame for a
    // QP it does not have, without the program reading it.
    stmt(BPF_LD | BPF_B | BPF_IND, 14 + kUdpHeaderBytes);  // BTH opcode.
    drop_if_equal.push_back(f.size());
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                         static_cast<uint32_t>(BthOpcode::kUdSendOnly), 0,
                         0));
  } else {
    expect(BPF_JEQ, kEthertypeIpv6);
    stmt(BPF_LD | BPF_B | BPF_ABS, 20);                  // Next header.
    expect(BPF_JEQ, kIpProtoUdp);
    stmt(BPF_LD | BPF_H | BPF_ABS, 56);                  // UDP dport.
    expect(BPF_JEQ, kRoceV2UdpPort);
    for (int i = 0; i < 4; i++) {
      stmt(BPF_LD | BPF_W | BPF_ABS, 38 + 4 * i);        // Destination.
      uint32_t word;
      std::memcpy(&word, ip.bytes.data() + 4 * i, 4);
      expect(BPF_JEQ, ntohl(word));
    }
  }
  stmt(BPF_RET | BPF_K, kAccept);
  const size_t drop = f.size();
  stmt(BPF_RET | BPF_K, 0);
  for (size_t at : drop_if_equal) {
    f[at].jt = static_cast<uint8_t>(drop - at - 1);
  }
  for (size_t at : to_drop) {
    const uint8_t offset = static_cast<uint8_t>(drop - at - 1);
    if ((f[at].code & 0xf0) == BPF_JSET) {
      f[at].jt = offset;
    } else {
      f[at].jf = offset;
    }
  }
  return f;
}

}  // namespace

struct PacketSocketLink::Batch {
  static constexpr size_t kFrames = 64;
  static constexpr size_t kSlotBytes = 9216 + 64;  // A jumbo frame.
  std::vector<uint8_t> rx_buffer = std::vector<uint8_t>(kFrames * kSlotBytes);
  mmsghdr rx_msgs[kFrames];
  iovec rx_iov[kFrames];
  sockaddr_ll rx_addr[kFrames];
  mmsghdr tx_msgs[kFrames];
  iovec tx_iov[kFrames];
};

PacketSocketLink::PacketSocketLink(int fd)
    : fd_(fd), batch_(std::make_unique<Batch>()) {}

PacketSocketLink::~PacketSocketLink() { close(fd_); }

Result<std::unique_ptr<PacketSocketLink>> PacketSocketLink::Open(
    const std::string& netdev, const IpAddress& local_ip) {
  const unsigned ifindex = if_nametoindex(netdev.c_str());
  if (ifindex == 0) {
    return Status::NotFound("emulated RNIC: netdev \"" + netdev +
                            "\" does not exist (name a bond member, see "
                            "ovs-appctl bond/show)");
  }
  // Protocol 0: nothing is queued before the filter is attached and the
  // socket bound.
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    Status s = Status::FromErrno(
        "emulated RNIC on \"" + netdev + "\": AF_PACKET socket", err);
    if (err == EPERM || err == EACCES) {
      s = s.WithHint("(it needs CAP_NET_RAW: run as root or grant it, e.g. "
                     "setcap cap_net_raw+ep PROGRAM)");
    }
    return s;
  }
  std::unique_ptr<PacketSocketLink> link(new PacketSocketLink(fd));
  std::vector<sock_filter> filter = RoceFilter(local_ip);
  sock_fprog program{static_cast<unsigned short>(filter.size()),
                     filter.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program,
                 sizeof program) < 0) {
    return Status::FromErrno("emulated RNIC on \"" + netdev +
                                 "\": attaching the RoCEv2 BPF filter",
                             errno);
  }
  // Best effort: larger buffers (FORCE needs CAP_NET_ADMIN), no qdisc, no
  // copies of our own frames.
  const int buffer = kSocketBufferBytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) < 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer) < 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  }
  const int one = 1;
  (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
#ifdef PACKET_IGNORE_OUTGOING
  (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#endif
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return Status::FromErrno(
        "emulated RNIC: binding AF_PACKET to \"" + netdev + "\"", errno);
  }

  Batch& b = *link->batch_;
  for (size_t i = 0; i < Batch::kFrames; i++) {
    b.rx_iov[i] = {b.rx_buffer.data() + i * Batch::kSlotBytes,
                   Batch::kSlotBytes};
    std::memset(&b.rx_msgs[i], 0, sizeof b.rx_msgs[i]);
    b.rx_msgs[i].msg_hdr.msg_iov = &b.rx_iov[i];
    b.rx_msgs[i].msg_hdr.msg_iovlen = 1;
    b.rx_msgs[i].msg_hdr.msg_name = &b.rx_addr[i];
    b.rx_msgs[i].msg_hdr.msg_namelen = sizeof b.rx_addr[i];
    std::memset(&b.tx_msgs[i], 0, sizeof b.tx_msgs[i]);
    b.tx_msgs[i].msg_hdr.msg_iov = &b.tx_iov[i];
    b.tx_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return link;
}

size_t PacketSocketLink::Send(
    std::span<const std::span<const uint8_t>> frames) {
  Batch& b = *batch_;
  size_t done = 0;
  while (done < frames.size()) {
    const size_t n = std::min(frames.size() - done, Batch::kFrames);
    for (size_t i = 0; i < n; i++) {
      b.tx_iov[i].iov_base = const_cast<uint8_t*>(frames[done + i].data());
      b.tx_iov[i].iov_len = frames[done + i].size();
    }
    const int sent = sendmmsg(fd_, b.tx_msgs, static_cast<unsigned>(n), 0);
    if (sent <= 0) {
      if (sent < 0 && errno == EINTR) continue;
      send_errors_ += frames.size() - done;
      break;
    }
    done += static_cast<size_t>(sent);
  }
  return done;
}

size_t PacketSocketLink::Receive(std::span<std::span<const uint8_t>> frames) {
  Batch& b = *batch_;
  const size_t want = std::min(frames.size(), Batch::kFrames);
  for (size_t i = 0; i < want; i++) {
    b.rx_msgs[i].msg_hdr.msg_namelen = sizeof b.rx_addr[i];
    b.rx_msgs[i].msg_hdr.msg_flags = 0;
  }
  const int got =
      recvmmsg(fd_, b.rx_msgs, static_cast<unsigned>(want), MSG_DONTWAIT,
               nullptr);
  if (got <= 0) return 0;
  size_t n = 0;
  for (int i = 0; i < got; i++) {
    const mmsghdr& m = b.rx_msgs[i];
    if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0) continue;
    if (b.rx_addr[i].sll_pkttype == PACKET_OUTGOING) continue;
    frames[n++] = {static_cast<const uint8_t*>(b.rx_iov[i].iov_base),
                   m.msg_len};
  }
  return n;
}

}  // namespace rdma_bond
