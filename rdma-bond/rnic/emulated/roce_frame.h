// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RoceFrame: building and parsing RoCEv2 frames, for the emulated RNIC.
//
// A RoCEv2 packet of a reliable-connected (RC) queue pair is, on Ethernet:
//
//   Ethernet II   dst MAC, src MAC, ethertype 0x0800 (or 0x86dd)
//   IPv4 / IPv6   DF, TTL 64, protocol 17 (or IPv6 next header 17)
//   UDP           source port = the QP's pinned port, destination 4791,
//                 checksum 0 (RoCEv2 allows it; the ICRC covers the data)
//   BTH           12 bytes: opcode, SE/M/pad/tver, P_Key, dest QPN, AckReq,
//                 PSN
//   RETH          16 bytes, RDMA WRITE FIRST/ONLY: VA, R_Key, DMA length
//   ImmDt         4 bytes, *_WITH_IMMEDIATE
//   AETH          4 bytes, ACKNOWLEDGE: syndrome, MSN
//   DETH          8 bytes, UD SEND_ONLY: Q_Key, source QPN
//   payload       padded to a multiple of 4 (pad count in the BTH)
//   ICRC          4 bytes, CRC-32 over the packet with the fields that
//                 routers change masked to ones
//
// The ICRC is computed exactly as the Linux soft-RoCE driver does
// (drivers/infiniband/sw/rxe/rxe_icrc.c, rxe_icrc_hdr() and
// rxe_icrc_generate()), so that frames interoperate with rxe and with
// RoCE hardware: zlib's crc32() over 8 bytes of 0xff (the masked LRH), the
// IP header with IPv4 TOS, TTL and header checksum (IPv6 traffic class,
// flow label and hop limit) set to ones, the UDP header with its checksum
// set to 0xffff, the BTH with its 8 reserved bits before the QPN set to
// ones, the extension headers, the payload and the pad.  The 4 bytes are
// stored little-endian, as rxe writes them on x86.
//
// Only what an RC QP of the emulation uses is supported: the SEND and RDMA
// WRITE opcodes and ACKNOWLEDGE; and one unreliable-datagram (UD) opcode,
// SEND_ONLY, which the agents' path probes use (path_prober.h) so that
// they look to the network like RoCEv2 traffic.  No VLAN tags, no IP
// options.
//
// Usage:
//   FrameAddress addr{...};  RocePacket p{...};
//   Result<size_t> n = BuildFrame(addr, p, buffer);        // no allocation
//   Status s = ParseFrame(frame, &addr_in, &packet_in);    // views 'frame'
//
// Thread-safety: pure functions over caller-owned buffers.

#ifndef RDMA_BOND_ROCE_FRAME_H_
#define RDMA_BOND_ROCE_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// Header sizes on the wire.
inline constexpr size_t kEthHeaderBytes = 14;
inline constexpr size_t kIpv4HeaderBytes = 20;   // IHL 5: no options.
inline constexpr size_t kIpv6HeaderBytes = 40;
inline constexpr size_t kUdpHeaderBytes = 8;
inline constexpr size_t kBthBytes = 12;
inline constexpr size_t kRethBytes = 16;
inline constexpr size_t kImmDtBytes = 4;
inline constexpr size_t kAethBytes = 4;
inline constexpr size_t kDethBytes = 8;
inline constexpr size_t kIcrcBytes = 4;

inline constexpr uint16_t kEthertypeIpv4 = 0x0800;
inline constexpr uint16_t kEthertypeIpv6 = 0x86dd;
inline constexpr uint8_t kRoceIpTtl = 64;        // As the Linux stack.
inline constexpr uint16_t kDefaultPkey = 0xffff;  // The default partition.
inline constexpr uint32_t kQpnMask = 0xffffff;    // QPNs have 24 bits.
inline constexpr uint32_t kPsnMask = 0xffffff;    // PSNs have 24 bits.
inline constexpr uint32_t kMsnMask = 0xffffff;    // So do MSNs.

// The largest path MTU (IB MTU 4096) and the largest frame it gives: IPv6,
// RETH + ImmDt + AETH (more than any opcode has), 4096 bytes of payload,
// pad, ICRC.
inline constexpr uint32_t kMaxRoceMtu = 4096;
inline constexpr size_t kMaxRoceFrameBytes =
    kEthHeaderBytes + kIpv6HeaderBytes + kUdpHeaderBytes + kBthBytes +
    kRethBytes + kImmDtBytes + kAethBytes + kMaxRoceMtu + 3 + kIcrcBytes;
static_assert(kMaxRoceFrameBytes < 4352, "a frame fits a 4352-byte slot");
static_assert(kDethBytes <= kRethBytes + kImmDtBytes + kAethBytes,
              "the UD headers fit within the largest RC headers");

// Base Transport Header opcodes (IBA table 38): the RC transport's (prefix
// 000, so these are the whole opcode byte) and UD SEND_ONLY (prefix 011).
enum class BthOpcode : uint8_t {
  kSendFirst = 0x00,
  kSendMiddle = 0x01,
  kSendLast = 0x02,
  kSendLastWithImmediate = 0x03,
  kSendOnly = 0x04,
  kSendOnlyWithImmediate = 0x05,
  kRdmaWriteFirst = 0x06,
  kRdmaWriteMiddle = 0x07,
  kRdmaWriteLast = 0x08,
  kRdmaWriteLastWithImmediate = 0x09,
  kRdmaWriteOnly = 0x0a,
  kRdmaWriteOnlyWithImmediate = 0x0b,
  kAcknowledge = 0x11,
  // Unreliable datagram, a whole message in one packet, with a DETH.  Only
  // the path probes use it; the RC opcode classes below answer false.
  kUdSendOnly = 0x64,
};

// True for the opcodes above (the ones this emulation speaks).
bool IsSupportedOpcode(uint8_t opcode);
// "SEND_FIRST", ..., "ACKNOWLEDGE", "UD_SEND_ONLY".
std::string_view ToString(BthOpcode opcode);

// Which headers and roles an opcode has.  The roles are those of the RC
// transport: a UD opcode is none of them.
bool OpcodeHasReth(BthOpcode op);       // RDMA_WRITE_FIRST, _ONLY(_IMM).
bool OpcodeHasImmDt(BthOpcode op);      // *_WITH_IMMEDIATE.
bool OpcodeHasAeth(BthOpcode op);       // ACKNOWLEDGE.
bool OpcodeHasDeth(BthOpcode op);       // UD_SEND_ONLY.
bool OpcodeIsUd(BthOpcode op);          // UD_SEND_ONLY: not for an RC QP.
bool OpcodeIsSend(BthOpcode op);        // RC SEND_*.
bool OpcodeIsWrite(BthOpcode op);       // RDMA_WRITE_*.
bool OpcodeStartsMessage(BthOpcode op);  // RC *_FIRST, *_ONLY*.
bool OpcodeEndsMessage(BthOpcode op);    // RC *_LAST*, *_ONLY*.

// Base Transport Header.
struct Bth {
  BthOpcode opcode = BthOpcode::kSendOnly;
  bool solicited = false;           // SE.
  bool mig_req = false;             // M.
  uint8_t pad = 0;                  // 0..3 pad bytes after the payload.
  uint8_t tver = 0;                 // Transport header version: 0.
  uint16_t pkey = kDefaultPkey;
  uint32_t dest_qpn = 0;            // 24 bits.
  bool ack_req = false;             // A: the responder must acknowledge.
  uint32_t psn = 0;                 // 24 bits.
  friend bool operator==(const Bth&, const Bth&) = default;
};

// RDMA Extended Transport Header.
struct Reth {
  uint64_t va = 0;                  // Remote virtual address.
  uint32_t rkey = 0;
  uint32_t dma_length = 0;          // Bytes of the whole message.
  friend bool operator==(const Reth&, const Reth&) = default;
};

// ACK Extended Transport Header: the syndrome says what kind of
// acknowledgement this is (IBA 9.7.5.2.1, rxe_hdr.h's AETH_* values).
inline constexpr uint8_t kAethTypeMask = 0xe0;
inline constexpr uint8_t kAethTypeAck = 0x00;      // Low 5 bits: credits.
inline constexpr uint8_t kAethTypeRnrNak = 0x20;   // Low 5 bits: timer.
inline constexpr uint8_t kAethTypeNak = 0x60;      // Low 5 bits: code.
inline constexpr uint8_t kAethValueMask = 0x1f;
inline constexpr uint8_t kAethCreditsUnlimited = 0x1f;
inline constexpr uint8_t kAethNakPsnSequenceError = 0x00;
inline constexpr uint8_t kAethNakInvalidRequest = 0x01;
inline constexpr uint8_t kAethNakRemoteAccessError = 0x02;
inline constexpr uint8_t kAethNakRemoteOperationalError = 0x03;

struct Aeth {
  uint8_t syndrome = kAethTypeAck | kAethCreditsUnlimited;
  uint32_t msn = 0;                 // 24 bits: messages completed.

  uint8_t type() const { return syndrome & kAethTypeMask; }
  uint8_t value() const { return syndrome & kAethValueMask; }
  static Aeth Ack(uint32_t msn) {
    return {kAethTypeAck | kAethCreditsUnlimited, msn & kMsnMask};
  }
  static Aeth RnrNak(uint32_t msn, uint8_t timer) {
    return {static_cast<uint8_t>(kAethTypeRnrNak | (timer & kAethValueMask)),
            msn & kMsnMask};
  }
  static Aeth Nak(uint32_t msn, uint8_t code) {
    return {static_cast<uint8_t>(kAethTypeNak | (code & kAethValueMask)),
            msn & kMsnMask};
  }
  friend bool operator==(const Aeth&, const Aeth&) = default;
};

// Datagram Extended Transport Header (IBA 9.3.3): the Q_Key that the
// receiving UD QP checks, a reserved byte (sent as 0, ignored), and the
// sender's QPN.
struct Deth {
  uint32_t qkey = 0;
  uint32_t src_qpn = 0;             // 24 bits.
  friend bool operator==(const Deth&, const Deth&) = default;
};

// The RNR NAK timer field (5 bits) in microseconds (IBA table 45): 0 is
// 655.36 ms, 1 is 0.01 ms, ..., 31 is 491.52 ms.
uint32_t RnrTimerMicros(uint8_t timer);

// The transport part of a packet: what the RC state machine produces and
// consumes.  Only the extension headers that the opcode has are used.
struct RocePacket {
  Bth bth;
  Reth reth;                        // OpcodeHasReth().
  uint32_t imm = 0;                 // OpcodeHasImmDt(); host order.
  Aeth aeth;                        // OpcodeHasAeth().
  Deth deth;                        // OpcodeHasDeth().
  // The payload without its pad.  BuildFrame() reads it; ParseFrame()
  // points it into the parsed frame.  bth.pad is derived by BuildFrame().
  std::span<const uint8_t> payload;
};

// The link and network part of a frame.
struct FrameAddress {
  MacAddress dst_mac{};
  MacAddress src_mac{};
  IpAddress src_ip;                 // Both of the same version.
  IpAddress dst_ip;
  uint16_t udp_sport = kRoceSportMin;
  uint16_t udp_dport = kRoceV2UdpPort;  // Always 4791 when built.
  uint16_t ip_id = 0;               // IPv4 identification.
};

// Bytes of the frame that BuildFrame() writes for 'packet' over IP
// 'ip_version' (4 or 6), ICRC included.
size_t FrameLength(int ip_version, const RocePacket& packet);

// Writes the frame into 'out' (no allocation) and returns its length.
// InvalidArgument if 'out' is too small, the addresses are of different or
// unknown versions, or the opcode is not supported.
Result<size_t> BuildFrame(const FrameAddress& address,
                          const RocePacket& packet, std::span<uint8_t> out);

// Why ParseFrame() refused a frame, for counters (the Status says it for
// people).
enum class FrameDefect : uint8_t {
  kNone,
  kNotRoce,        // Not IP, not UDP, not to port 4791: someone else's.
  kMalformed,      // Truncated, inconsistent lengths, bad IPv4 checksum.
  kUnsupported,    // An opcode, version or IP option the emulation lacks.
  kBadIcrc,        // Well-formed, but the ICRC does not match.
};

// Parses and validates 'frame': Ethernet II with IPv4 (version 4, IHL 5,
// not fragmented, header checksum) or IPv6, UDP to port 4791 with a
// consistent length, a supported opcode with tver 0, and the ICRC.  Bytes
// after the IP packet (Ethernet padding) are ignored.  On success, fills
// '*address' and '*packet' (whose payload views 'frame').  Corruption
// naming what is wrong otherwise; never reads outside 'frame'.
// If 'defect' is not null it receives the kind of failure (kNone on
// success).
Status ParseFrame(std::span<const uint8_t> frame, FrameAddress* address,
                  RocePacket* packet, FrameDefect* defect = nullptr);

// The ICRC of an IP packet: 'ip_packet' runs from the first byte of the
// IPv4/IPv6 header to the end of the payload pad (ICRC excluded) and must
// be a well-formed RoCEv2 packet (ParseFrame() and BuildFrame() check
// that before calling it).
uint32_t ComputeIcrc(std::span<const uint8_t> ip_packet);

// zlib's crc32(crc, data): CRC-32/IEEE, reflected, with the pre- and
// post-inversion.  Start with crc = 0.
uint32_t Crc32(uint32_t crc, std::span<const uint8_t> data);

// RFC 1071 checksum of an IPv4 header (the value to store in its checksum
// field when that field is zero; 0 when verifying a correct header).
uint16_t Ipv4HeaderChecksum(std::span<const uint8_t> header);

}  // namespace rdma_bond

#endif  // RDMA_BOND_ROCE_FRAME_H_
