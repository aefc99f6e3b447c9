// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rnic/emulated/roce_frame.h"

#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string>

namespace rdma_bond {

namespace {

// IPv4 flags and fragment offset: DF set, nothing else.
constexpr uint16_t kIpv4DontFragment = 0x4000;
constexpr uint16_t kIpv4MoreFragments = 0x2000;
constexpr uint16_t kIpv4FragmentOffsetMask = 0x1fff;
constexpr uint8_t kIpv4VersionIhl5 = 0x45;

// BTH byte 1.
constexpr uint8_t kBthSolicited = 0x80;
constexpr uint8_t kBthMigReq = 0x40;
constexpr uint8_t kBthPadShift = 4;
constexpr uint8_t kBthPadMask = 0x3;
constexpr uint8_t kBthTverMask = 0x0f;
// BTH bytes 8..11: AckReq in the top bit, the PSN in the low 24.
constexpr uint32_t kBthAckReq = 0x80000000;

// The ICRC starts over 8 bytes of ones: the LRH that RoCE does not have,
// masked (rxe's seed 0xdebb20e3 is the CRC state after these bytes).
constexpr size_t kMaskedLrhBytes = 8;

inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
inline uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// Slicing-by-8 tables for the reflected IEEE polynomial.
struct Crc32Tables {
  uint32_t t[8][256];
  constexpr Crc32Tables() : t{} {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
      for (int s = 1; s < 8; s++) {
        t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
      }
    }
  }
};
constexpr Crc32Tables kCrc32Tables;

// Extension header bytes after the BTH for 'op'.
size_t ExtensionBytes(BthOpcode op) {
  return (OpcodeHasReth(op) ? kRethBytes : 0) +
         (OpcodeHasDeth(op) ? kDethBytes : 0) +
         (OpcodeHasImmDt(op) ? kImmDtBytes : 0) +
         (OpcodeHasAeth(op) ? kAethBytes : 0);
}

size_t IpHeaderBytes(int version) {
  return version == 4 ? kIpv4HeaderBytes : kIpv6HeaderBytes;
}

std::string Hex(unsigned value, int digits) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%0*x", digits, value);
  return text;
}

Status Malformed(std::string what) {
  return Status::Corruption("RoCEv2 frame: " + what);
}

// What ParseFrame has learned of a frame so far, header by header.
struct ParsedHeaders {
  const uint8_t* ip = nullptr;   // The IP header.
  size_t ip_bytes = 0;
  size_t udp_length = 0;         // From the IP header.
  const uint8_t* udp = nullptr;  // The UDP header.
  uint16_t dport = 0;
  size_t transport = 0;          // Bytes after the UDP header.
  const uint8_t* bth = nullptr;  // The BTH.
  BthOpcode op = BthOpcode::kSendOnly;
  uint8_t tver = 0;
  uint8_t pad = 0;
  size_t payload_and_pad = 0;
};

constexpr FrameDefect kMalformed = FrameDefect::kMalformed;
constexpr FrameDefect kNotRoce = FrameDefect::kNotRoce;
constexpr FrameDefect kUnsupported = FrameDefect::kUnsupported;

// Records 'kind' in 'why' and returns the Corruption status for 'what'.
Status Reject(FrameDefect& why, FrameDefect kind, std::string what) {
  why = kind;
  return Malformed(std::move(what));
}

// Checks the IPv4 header at h->ip ('avail' bytes) and reads its addresses.
Status ParseIpv4(size_t avail, ParsedHeaders* h, FrameAddress* address,
                 FrameDefect& why) {
  const uint8_t* ip = h->ip;
  h->ip_bytes = kIpv4HeaderBytes;
  if (avail < h->ip_bytes) {
    return Reject(why, kMalformed, "truncated IPv4 header");
  }
  if ((ip[0] >> 4) != 4) {
    return Reject(why, kMalformed, "IP version " +
                                       std::to_string(ip[0] >> 4) +
                                       " under ethertype 0x0800");
  }
  if (ip[0] != kIpv4VersionIhl5) {
    return Reject(why, kUnsupported, "IPv4 options present");
  }
  const uint16_t total = Get16(ip + 2);
  if (total < h->ip_bytes || total > avail) {
    return Reject(why, kMalformed,
                  "IPv4 total length " + std::to_string(total) +
                      " does not match the frame (" + std::to_string(avail) +
                      " bytes)");
  }
  const uint16_t frag = Get16(ip + 6);
  if ((frag & (kIpv4MoreFragments | kIpv4FragmentOffsetMask)) != 0) {
    return Reject(why, kUnsupported, "IPv4 fragment");
  }
  if (ip[9] != kIpProtoUdp) {
    return Reject(why, kNotRoce,
                  "IP protocol " + std::to_string(ip[9]) + ", not UDP");
  }
  if (Ipv4HeaderChecksum({ip, kIpv4HeaderBytes}) != 0) {
    return Reject(why, kMalformed, "bad IPv4 header checksum");
  }
  h->udp_length = total - h->ip_bytes;
  address->src_ip = IpAddress{};
  address->dst_ip = IpAddress{};
  std::memcpy(address->src_ip.bytes.data(), ip + 12, 4);
  std::memcpy(address->dst_ip.bytes.data(), ip + 16, 4);
  address->ip_id = Get16(ip + 4);
  return Status::OK();
}

// Checks the IPv6 header at h->ip ('avail' bytes) and reads its addresses.
Status ParseIpv6(size_t avail, ParsedHeaders* h, FrameAddress* address,
                 FrameDefect& why) {
  const uint8_t* ip = h->ip;
  h->ip_bytes = kIpv6HeaderBytes;
  if (avail < h->ip_bytes) {
    return Reject(why, kMalformed, "truncated IPv6 header");
  }
  if ((ip[0] >> 4) != 6) {
    return Reject(why, kMalformed, "IP version " +
                                       std::to_string(ip[0] >> 4) +
                                       " under ethertype 0x86dd");
  }
  if (ip[6] != kIpProtoUdp) {
    return Reject(why, kNotRoce,
                  "IPv6 next header " + std::to_string(ip[6]) + ", not UDP");
  }
  h->udp_length = Get16(ip + 4);
  if (h->udp_length > avail - h->ip_bytes) {
    return Reject(why, kMalformed, "IPv6 payload length " +
                                       std::to_string(h->udp_length) +
                                       " exceeds the frame");
  }
  address->src_ip = IpAddress{.version = 6};
  address->dst_ip = IpAddress{.version = 6};
  std::memcpy(address->src_ip.bytes.data(), ip + 8, 16);
  std::memcpy(address->dst_ip.bytes.data(), ip + 24, 16);
  address->ip_id = 0;
  return Status::OK();
}

// Checks the Ethernet header and parses the IP header its ethertype names.
Status ParseEthernetAndIp(std::span<const uint8_t> frame, ParsedHeaders* h,
                          FrameAddress* address, FrameDefect& why) {
  if (frame.size() < kEthHeaderBytes) {
    return Reject(why, kMalformed, "truncated Ethernet header (" +
                                       std::to_string(frame.size()) +
                                       " bytes)");
  }
  const uint16_t ethertype = Get16(frame.data() + 12);
  h->ip = frame.data() + kEthHeaderBytes;
  const size_t avail = frame.size() - kEthHeaderBytes;
  if (ethertype == kEthertypeIpv4) return ParseIpv4(avail, h, address, why);
  if (ethertype == kEthertypeIpv6) return ParseIpv6(avail, h, address, why);
  return Reject(why, kNotRoce,
                "ethertype " + Hex(ethertype, 4) + " is not IP");
}

// Checks the UDP header: RoCEv2's port, and the length the IP header gave.
Status ParseUdp(ParsedHeaders* h, FrameDefect& why) {
  if (h->udp_length < kUdpHeaderBytes) {
    return Reject(why, kMalformed, "truncated UDP header");
  }
  h->udp = h->ip + h->ip_bytes;
  h->dport = Get16(h->udp + 2);
  if (h->dport != kRoceV2UdpPort) {
    return Reject(
        why, FrameDefect::kNotRoce,
        "UDP destination port " + std::to_string(h->dport) + ", not 4791");
  }
  if (Get16(h->udp + 4) != h->udp_length) {
    return Reject(why, kMalformed,
                  "UDP length " + std::to_string(Get16(h->udp + 4)) +
                      " does not match the IP length " +
                      std::to_string(h->udp_length));
  }
  h->transport = h->udp_length - kUdpHeaderBytes;
  return Status::OK();
}

// Checks the BTH and that the extension headers, payload and pad fit.
Status ParseBthLayout(ParsedHeaders* h, FrameDefect& why) {
  if (h->transport < kBthBytes + kIcrcBytes) {
    return Reject(why, FrameDefect::kMalformed,
                  "truncated BTH (" + std::to_string(h->transport) +
                      " bytes after UDP)");
  }
  const uint8_t* bth = h->bth = h->udp + kUdpHeaderBytes;
  if (!IsSupportedOpcode(bth[0])) {
    return Reject(why, kUnsupported, "opcode " + Hex(bth[0], 2) +
                                         " is not supported by the emulation");
  }
  h->op = static_cast<BthOpcode>(bth[0]);
  h->tver = bth[1] & kBthTverMask;
  if (h->tver != 0) {
    return Reject(why, kUnsupported,
                  "BTH transport version " + std::to_string(h->tver));
  }
  h->pad = (bth[1] >> kBthPadShift) & kBthPadMask;
  const size_t headers = kBthBytes + ExtensionBytes(h->op);
  if (h->transport < headers + h->pad + kIcrcBytes) {
    return Reject(why, kMalformed,
                  "truncated " + std::string(ToString(h->op)) + " (" +
                      std::to_string(h->transport) + " bytes after UDP)");
  }
  h->payload_and_pad = h->transport - headers - kIcrcBytes;
  if (h->payload_and_pad % 4 != 0) {
    return Reject(why, kMalformed,
                  "payload of " + std::to_string(h->payload_and_pad) +
                      " bytes is not padded to 4");
  }
  return Status::OK();
}

// Checks the ICRC at the end of the transport bytes.
Status CheckIcrc(const ParsedHeaders& h, FrameDefect& why) {
  const uint8_t* icrc_at = h.bth + h.transport - kIcrcBytes;
  const uint32_t icrc = static_cast<uint32_t>(icrc_at[0]) |
                        static_cast<uint32_t>(icrc_at[1]) << 8 |
                        static_cast<uint32_t>(icrc_at[2]) << 16 |
                        static_cast<uint32_t>(icrc_at[3]) << 24;
  const size_t ip_packet = h.ip_bytes + h.udp_length - kIcrcBytes;
  if (ComputeIcrc({h.ip, ip_packet}) != icrc) {
    return Reject(why, FrameDefect::kBadIcrc, "bad ICRC");
  }
  return Status::OK();
}

// Reads the MACs and UDP ports of a frame that passed every check.
void ReadEthernetAndUdp(const uint8_t* frame, const ParsedHeaders& h,
                        FrameAddress* address) {
  std::memcpy(address->dst_mac.data(), frame, 6);
  std::memcpy(address->src_mac.data(), frame + 6, 6);
  address->udp_sport = Get16(h.udp);
  address->udp_dport = h.dport;
}

// Reads the BTH's fields into 'b'.
void ReadBth(const ParsedHeaders& h, Bth* b) {
  const uint8_t* bth = h.bth;
  b->opcode = h.op;
  b->solicited = (bth[1] & kBthSolicited) != 0;
  b->mig_req = (bth[1] & kBthMigReq) != 0;
  b->pad = h.pad;
  b->tver = h.tver;
  b->pkey = Get16(bth + 2);
  b->dest_qpn = Get32(bth + 4) & kQpnMask;
  const uint32_t apsn = Get32(bth + 8);
  b->ack_req = (apsn & kBthAckReq) != 0;
  b->psn = apsn & kPsnMask;
}

// Reads the extension headers 'op' has, at 'q'; returns where they end.
const uint8_t* ReadExtensionHeaders(BthOpcode op, const uint8_t* q,
                                    RocePacket* packet) {
  if (OpcodeHasReth(op)) {
    packet->reth.va = static_cast<uint64_t>(Get32(q)) << 32 | Get32(q + 4);
    packet->reth.rkey = Get32(q + 8);
    packet->reth.dma_length = Get32(q + 12);
    q += kRethBytes;
  }
  if (OpcodeHasDeth(op)) {
    packet->deth.qkey = Get32(q);
    packet->deth.src_qpn = Get32(q + 4) & kQpnMask;
    q += kDethBytes;
  }
  if (OpcodeHasImmDt(op)) {
    packet->imm = Get32(q);
    q += kImmDtBytes;
  }
  if (OpcodeHasAeth(op)) {
    const uint32_t aeth = Get32(q);
    packet->aeth.syndrome = static_cast<uint8_t>(aeth >> 24);
    packet->aeth.msn = aeth & kMsnMask;
    q += kAethBytes;
  }
  return q;
}

}  // namespace

bool IsSupportedOpcode(uint8_t opcode) {
  return opcode <=
             static_cast<uint8_t>(BthOpcode::kRdmaWriteOnlyWithImmediate) ||
         opcode == static_cast<uint8_t>(BthOpcode::kAcknowledge) ||
         opcode == static_cast<uint8_t>(BthOpcode::kUdSendOnly);
}

std::string_view ToString(BthOpcode opcode) {
  switch (opcode) {
    case BthOpcode::kSendFirst: return "SEND_FIRST";
    case BthOpcode::kSendMiddle: return "SEND_MIDDLE";
    case BthOpcode::kSendLast: return "SEND_LAST";
    case BthOpcode::kSendLastWithImmediate: return "SEND_LAST_WITH_IMMEDIATE";
    case BthOpcode::kSendOnly: return "SEND_ONLY";
    case BthOpcode::kSendOnlyWithImmediate: return "SEND_ONLY_WITH_IMMEDIATE";
    case BthOpcode::kRdmaWriteFirst: return "RDMA_WRITE_FIRST";
    case BthOpcode::kRdmaWriteMiddle: return "RDMA_WRITE_MIDDLE";
    case BthOpcode::kRdmaWriteLast: return "RDMA_WRITE_LAST";
    case BthOpcode::kRdmaWriteLastWithImmediate:
      return "RDMA_WRITE_LAST_WITH_IMMEDIATE";
    case BthOpcode::kRdmaWriteOnly: return "RDMA_WRITE_ONLY";
    case BthOpcode::kRdmaWriteOnlyWithImmediate:
      return "RDMA_WRITE_ONLY_WITH_IMMEDIATE";
    case BthOpcode::kAcknowledge: return "ACKNOWLEDGE";
    case BthOpcode::kUdSendOnly: return "UD_SEND_ONLY";
  }
  return "UNKNOWN";
}

bool OpcodeHasReth(BthOpcode op) {
  return op == BthOpcode::kRdmaWriteFirst || op == BthOpcode::kRdmaWriteOnly ||
         op == BthOpcode::kRdmaWriteOnlyWithImmediate;
}

bool OpcodeHasImmDt(BthOpcode op) {
  return op == BthOpcode::kSendLastWithImmediate ||
         op == BthOpcode::kSendOnlyWithImmediate ||
         op == BthOpcode::kRdmaWriteLastWithImmediate ||
         op == BthOpcode::kRdmaWriteOnlyWithImmediate;
}

bool OpcodeHasAeth(BthOpcode op) { return op == BthOpcode::kAcknowledge; }

bool OpcodeHasDeth(BthOpcode op) { return op == BthOpcode::kUdSendOnly; }

bool OpcodeIsUd(BthOpcode op) { return op == BthOpcode::kUdSendOnly; }

bool OpcodeIsSend(BthOpcode op) {
  return op <= BthOpcode::kSendOnlyWithImmediate;
}

bool OpcodeIsWrite(BthOpcode op) {
  return op >= BthOpcode::kRdmaWriteFirst &&
         op <= BthOpcode::kRdmaWriteOnlyWithImmediate;
}

bool OpcodeStartsMessage(BthOpcode op) {
  switch (op) {
    case BthOpcode::kSendFirst:
    case BthOpcode::kSendOnly:
    case BthOpcode::kSendOnlyWithImmediate:
    case BthOpcode::kRdmaWriteFirst:
    case BthOpcode::kRdmaWriteOnly:
    case BthOpcode::kRdmaWriteOnlyWithImmediate:
      return true;
    default:
      return false;
  }
}

bool OpcodeEndsMessage(BthOpcode op) {
  switch (op) {
    case BthOpcode::kSendLast:
    case BthOpcode::kSendLastWithImmediate:
    case BthOpcode::kSendOnly:
    case BthOpcode::kSendOnlyWithImmediate:
    case BthOpcode::kRdmaWriteLast:
    case BthOpcode::kRdmaWriteLastWithImmediate:
    case BthOpcode::kRdmaWriteOnly:
    case BthOpcode::kRdmaWriteOnlyWithImmediate:
      return true;
    default:
      return false;
  }
}

uint32_t RnrTimerMicros(uint8_t timer) {
  static constexpr uint32_t kMicros[32] = {
      655360, 10,    20,    30,    40,    60,     80,     120,
      160,    240,   320,   480,   640,   960,    1280,   1920,
      2560,   3840,  5120,  7680,  10240, 15360,  20480,  30720,
      40960,  61440, 81920, 122880, 163840, 245760, 327680, 491520};
  return kMicros[timer & kAethValueMask];
}

uint32_t Crc32(uint32_t crc, std::span<const uint8_t> data) {
  const auto& t = kCrc32Tables.t;
  uint32_t c = ~crc;
  const uint8_t* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint32_t lo;
    uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    if constexpr (std::endian::native == std::endian::big) {
      lo = __builtin_bswap32(lo);
      hi = __builtin_bswap32(hi);
    }
    lo ^= c;
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
        t[4][lo >> 24] ^ t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
        t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

uint16_t Ipv4HeaderChecksum(std::span<const uint8_t> header) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < header.size(); i += 2) sum += Get16(&header[i]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint32_t ComputeIcrc(std::span<const uint8_t> ip_packet) {
  static constexpr std::array<uint8_t, kMaskedLrhBytes> kOnes = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const int version = ip_packet[0] >> 4;
  const size_t ip_bytes = IpHeaderBytes(version);
  const size_t masked_bytes = ip_bytes + kUdpHeaderBytes + kBthBytes;
  uint8_t pseudo[kIpv6HeaderBytes + kUdpHeaderBytes + kBthBytes];
  std::memcpy(pseudo, ip_packet.data(), masked_bytes);
  if (version == 4) {
    pseudo[1] = 0xff;                 // TOS (DSCP and ECN).
    pseudo[8] = 0xff;                 // TTL.
    pseudo[10] = pseudo[11] = 0xff;   // Header checksum.
  } else {
    pseudo[0] |= 0x0f;                // Traffic class (high nibble) ...
    pseudo[1] = pseudo[2] = pseudo[3] = 0xff;  // ... and flow label.
    pseudo[7] = 0xff;                 // Hop limit.
  }
  uint8_t* udp = pseudo + ip_bytes;
  udp[6] = udp[7] = 0xff;             // UDP checksum.
  uint8_t* bth = udp + kUdpHeaderBytes;
  bth[4] = 0xff;                      // The reserved byte before the QPN.
  uint32_t crc = Crc32(0, kOnes);
  crc = Crc32(crc, std::span<const uint8_t>(pseudo, masked_bytes));
  return Crc32(crc, ip_packet.subspan(masked_bytes));
}

size_t FrameLength(int ip_version, const RocePacket& packet) {
  const size_t payload = packet.payload.size();
  const size_t pad = (4 - payload % 4) % 4;
  return kEthHeaderBytes + IpHeaderBytes(ip_version) + kUdpHeaderBytes +
         kBthBytes + ExtensionBytes(packet.bth.opcode) + payload + pad +
         kIcrcBytes;
}

Result<size_t> BuildFrame(const FrameAddress& address,
                          const RocePacket& packet, std::span<uint8_t> out) {
  const int version = address.src_ip.version;
  if ((version != 4 && version != 6) || address.dst_ip.version != version) {
    return Status::InvalidArgument(
        "RoCEv2 frame: source and destination addresses must both be IPv4 "
        "or both IPv6");
  }
  const BthOpcode op = packet.bth.opcode;
  if (!IsSupportedOpcode(static_cast<uint8_t>(op))) {
    return Status::InvalidArgument("RoCEv2 frame: opcode " +
                                   std::to_string(static_cast<int>(op)) +
                                   " is not supported by the emulation");
  }
  const size_t length = FrameLength(version, packet);
  if (out.size() < length) {
    return Status::InvalidArgument("RoCEv2 frame: " + std::to_string(length) +
                                   " bytes do not fit a buffer of " +
                                   std::to_string(out.size()));
  }
  const size_t payload = packet.payload.size();
  const uint8_t pad = static_cast<uint8_t>((4 - payload % 4) % 4);
  const size_t ip_bytes = IpHeaderBytes(version);
  const size_t udp_length = length - kEthHeaderBytes - ip_bytes;

  uint8_t* p = out.data();
  std::memcpy(p, address.dst_mac.data(), 6);
  std::memcpy(p + 6, address.src_mac.data(), 6);
  Put16(p + 12, version == 4 ? kEthertypeIpv4 : kEthertypeIpv6);

  uint8_t* ip = p + kEthHeaderBytes;
  if (version == 4) {
    ip[0] = kIpv4VersionIhl5;
    ip[1] = 0;                        // DSCP 0, ECN 0.
    Put16(ip + 2, static_cast<uint16_t>(ip_bytes + udp_length));
    Put16(ip + 4, address.ip_id);
    Put16(ip + 6, kIpv4DontFragment);
    ip[8] = kRoceIpTtl;
    ip[9] = kIpProtoUdp;
    Put16(ip + 10, 0);
    std::memcpy(ip + 12, address.src_ip.bytes.data(), 4);
    std::memcpy(ip + 16, address.dst_ip.bytes.data(), 4);
    Put16(ip + 10, Ipv4HeaderChecksum({ip, kIpv4HeaderBytes}));
  } else {
    // Traffic class 0; the flow label that gives this source port, as a
    // RoCE NIC sets it from the address handle.
    const uint32_t label = IsRoceSport(address.udp_sport)
                               ? UdpSportToFlowLabel(address.udp_sport)
                               : 0;
    Put32(ip, 0x60000000u | label);
    Put16(ip + 4, static_cast<uint16_t>(udp_length));
    ip[6] = kIpProtoUdp;
    ip[7] = kRoceIpTtl;
    std::memcpy(ip + 8, address.src_ip.bytes.data(), 16);
    std::memcpy(ip + 24, address.dst_ip.bytes.data(), 16);
  }

  uint8_t* udp = ip + ip_bytes;
  Put16(udp, address.udp_sport);
  Put16(udp + 2, kRoceV2UdpPort);
  Put16(udp + 4, static_cast<uint16_t>(udp_length));
  Put16(udp + 6, 0);                  // No UDP checksum: the ICRC covers it.

  uint8_t* bth = udp + kUdpHeaderBytes;
  const Bth& b = packet.bth;
  bth[0] = static_cast<uint8_t>(op);
  bth[1] = static_cast<uint8_t>(
      (b.solicited ? kBthSolicited : 0) | (b.mig_req ? kBthMigReq : 0) |
      (pad << kBthPadShift) | (b.tver & kBthTverMask));
  Put16(bth + 2, b.pkey);
  Put32(bth + 4, b.dest_qpn & kQpnMask);
  Put32(bth + 8, (b.ack_req ? kBthAckReq : 0) | (b.psn & kPsnMask));

  uint8_t* q = bth + kBthBytes;
  if (OpcodeHasReth(op)) {
    Put32(q, static_cast<uint32_t>(packet.reth.va >> 32));
    Put32(q + 4, static_cast<uint32_t>(packet.reth.va));
    Put32(q + 8, packet.reth.rkey);
    Put32(q + 12, packet.reth.dma_length);
    q += kRethBytes;
  }
  if (OpcodeHasDeth(op)) {
    Put32(q, packet.deth.qkey);
    Put32(q + 4, packet.deth.src_qpn & kQpnMask);  // Reserved byte: 0.
    q += kDethBytes;
  }
  if (OpcodeHasImmDt(op)) {
    Put32(q, packet.imm);
    q += kImmDtBytes;
  }
  if (OpcodeHasAeth(op)) {
    Put32(q, static_cast<uint32_t>(packet.aeth.syndrome) << 24 |
                 (packet.aeth.msn & kMsnMask));
    q += kAethBytes;
  }
  if (payload > 0) std::memcpy(q, packet.payload.data(), payload);
  q += payload;
  for (uint8_t i = 0; i < pad; i++) *q++ = 0;

  const uint32_t icrc = ComputeIcrc({ip, static_cast<size_t>(q - ip)});
  q[0] = static_cast<uint8_t>(icrc);
  q[1] = static_cast<uint8_t>(icrc >> 8);
  q[2] = static_cast<uint8_t>(icrc >> 16);
  q[3] = static_cast<uint8_t>(icrc >> 24);
  return length;
}

Status ParseFrame(std::span<const uint8_t> frame, FrameAddress* address,
                  RocePacket* packet, FrameDefect* defect) {
  FrameDefect ignored;
  FrameDefect& why = defect ? *defect : ignored;
  why = FrameDefect::kNone;
  ParsedHeaders h;
  Status status = ParseEthernetAndIp(frame, &h, address, why);
  if (status.ok()) status = ParseUdp(&h, why);
  if (status.ok()) status = ParseBthLayout(&h, why);
  if (status.ok()) status = CheckIcrc(h, why);
  if (!status.ok()) return status;

  ReadEthernetAndUdp(frame.data(), h, address);
  ReadBth(h, &packet->bth);
  const uint8_t* q = ReadExtensionHeaders(h.op, h.bth + kBthBytes, packet);
  packet->payload = {q, h.payload_and_pad - h.pad};
  return Status::OK();
}

}  // namespace rdma_bond
