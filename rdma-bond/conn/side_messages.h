// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The side channel's typed messages and their wire encoding: what the two
// ends of a multipath connection say to each other in the bodies of the
// frames that SideChannel (rdma_bond/side_channel.h) carries.  Every
// integer is big-endian; strings are length-prefixed.  HELLO carries the
// protocol version (kSideChannelVersion), and DecodeHello() refuses any
// other version with a message naming both.
//
// Internal to librdmabond: Connection and its tests use it.

#ifndef RDMA_BOND_CONN_SIDE_MESSAGES_H_
#define RDMA_BOND_CONN_SIDE_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rdma_bond/bond.h"
#include "rdma_bond/rnic.h"
#include "rdma_bond/side_channel.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// A path named across the channel: the sender's member index (its
// position in the sender's HELLO) and the receiver's.  The receiver finds
// its own path (receiver_member, sender_member).
struct PathId {
  uint8_t sender_member = 0;
  uint8_t receiver_member = 0;
  friend bool operator==(const PathId&, const PathId&) = default;
};

// What a side says of its bond (PathPlanner's view of it): which members
// may have a connected path at all (bit i of 'usable_mask': member i, an
// index into the sender's HELLO, is enabled and, in balance-tcp, owns a
// bucket this flow can reach), and whether only the active member may
// send (active-backup, LACP fallback), in which case 'active' names it
// (nullopt: none is active, nothing may send).  Without 'active_only',
// every usable member may send.
struct BondView {
  std::optional<BondMode> mode;     // nullopt: no bond snapshot.
  bool active_only = false;
  std::optional<uint8_t> active;
  uint32_t usable_mask = 0;
  // Bit i: member i is enabled (alive), usable or not: paths to it are
  // kept connected, ready for when it becomes usable (version 4).
  uint32_t alive_mask = 0;

  // Whether member 'i' of this side may send traffic.
  bool Carries(size_t i) const {
    if (i >= 32 || !(usable_mask & (1u << i))) return false;
    return !active_only || active == i;
  }
  friend bool operator==(const BondView&, const BondView&) = default;
};

struct HelloMessage {
  uint16_t version = kSideChannelVersion;
  // Path order: the sender's RNICs; none for a side without RDMA (the
  // connection then runs over TCP only).
  std::vector<std::string> members;
  BondView bond;
  // The largest payload the sender sends in one message: the receiver's
  // buffers must hold it.
  uint32_t max_message_size = 0;
  // The bytes of the sender's write region (what writes over TCP may
  // reach when there is no path to tell it).
  uint64_t write_region_size = 0;
};

// One path's QP and the write region behind the sender's RNIC of that path
// (registered there: the rkey is that RNIC's).
struct PathEndpoint {
  PathId path;
  QpEndpoint qp;
  uint64_t region_addr = 0;
  uint64_t region_length = 0;
  uint32_t region_rkey = 0;
};

struct EndpointsMessage {
  std::vector<PathEndpoint> paths;
};

// ACTIVE: the sender's bond after a change, and the change's number
// (1, 2, ...; HELLO's view is number 0).  The same ACTIVE may arrive twice
// and out of order (the side channel and the paths both carry it, and
// nudges repeat it): the receiver takes only a number above the last it
// took.  Body: the BondView, then u64 seq (version 4).
struct ActiveMessage {
  BondView bond;
  uint64_t seq = 0;
};

// REPICK: the sender did not receive the receiver's probe on 'path' in
// time; 'incarnation' is the path's connection count, so that a request
// about a QP pair that was since replaced is ignored.
struct RepickMessage {
  PathId path;
  uint32_t incarnation = 0;
};

// PATH_RESET and PATH_RESET_ACK: the sender's new QP for 'path', whose
// new connection will be number 'incarnation'.
struct PathResetMessage {
  PathId path;
  uint32_t incarnation = 0;
  QpEndpoint qp;
};

// BYE: the sender sends nothing more.  'last_seq' is the sequence number
// of its last message or write (0: none), so that the receiver, whose
// messages travel on the paths and not on this channel, knows when it has
// them all.  An empty body (a peer that predates it) leaves it unset.
struct ByeMessage {
  std::optional<uint64_t> last_seq;
};

// DATA: a message (type 1, 'payload' is it) or an RDMA write (type 3,
// 'payload' is the data written at 'offset' of the receiver's write
// region, then its notice) carried on the side channel while no path can
// carry: the connection's sequence number orders it with the messages on
// the paths.  Body: u64 seq, u8 type, u64 offset, u32 length, the bytes.
struct DataMessage {
  uint64_t seq = 0;
  uint8_t type = 0;
  uint64_t offset = 0;
  std::span<const uint8_t> payload;  // Decode: points into the body.
};

std::vector<uint8_t> EncodeHello(const HelloMessage& message);
std::vector<uint8_t> EncodeEndpoints(const EndpointsMessage& message);
std::vector<uint8_t> EncodeActive(const ActiveMessage& message);
std::vector<uint8_t> EncodeRepick(const RepickMessage& message);
std::vector<uint8_t> EncodePathReset(const PathResetMessage& message);
std::vector<uint8_t> EncodeBye(const ByeMessage& message);
std::vector<uint8_t> EncodeData(const DataMessage& message);

// Each fails with Corruption naming the message and the field when the
// body is truncated, too long or holds an invalid value.  DecodeHello()
// fails with NotSupported when the version is not kSideChannelVersion.
Result<HelloMessage> DecodeHello(std::span<const uint8_t> body);
Result<EndpointsMessage> DecodeEndpoints(std::span<const uint8_t> body);
Result<ActiveMessage> DecodeActive(std::span<const uint8_t> body);
Result<RepickMessage> DecodeRepick(std::span<const uint8_t> body);
Result<PathResetMessage> DecodePathReset(std::span<const uint8_t> body);
Result<ByeMessage> DecodeBye(std::span<const uint8_t> body);
// Checks the framing only; the type, offset and length are the
// connection's to check against its own limits.
Result<DataMessage> DecodeData(std::span<const uint8_t> body);

}  // namespace rdma_bond

#endif  // RDMA_BOND_CONN_SIDE_MESSAGES_H_
