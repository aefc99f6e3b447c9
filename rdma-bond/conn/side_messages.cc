// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The side channel's messages on the wire (side_messages.h).

#include "conn/side_messages.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rdma_bond {

namespace {

// Value of "no active member" and "no bond" on the wire.
constexpr uint8_t kWireNone = 0xff;
// Longest member name carried (IFNAMSIZ is 16; leave room for others).
constexpr size_t kMaxWireString = 255;
// Most members per side (the table's limit is far lower).
constexpr size_t kMaxWireMembers = 32;
static_assert(kMaxWireMembers <= 32, "usable_mask has 32 bits");

// Appends big-endian integers and length-prefixed strings.
class WireWriter {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) {
    U8(static_cast<uint8_t>(v >> 8));
    U8(static_cast<uint8_t>(v));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Bytes(std::span<const uint8_t> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
  }
  void String(const std::string& s) {
    const size_t n = std::min(s.size(), kMaxWireString);
    U8(static_cast<uint8_t>(n));
    out_.insert(out_.end(), s.begin(), s.begin() + n);
  }
  std::vector<uint8_t> Take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// Reads what WireWriter wrote; the first overrun makes ok() false and every
// later read return zeros.
class WireReader {
 public:
  explicit WireReader(std::span<const uint8_t> in) : in_(in) {}
  uint8_t U8() {
    if (pos_ + 1 > in_.size()) {
      ok_ = false;
      return 0;
    }
    return in_[pos_++];
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() {
    const uint32_t hi = U16();
    return hi << 16 | U16();
  }
  uint64_t U64() {
    const uint64_t hi = U32();
    return hi << 32 | U32();
  }
  template <size_t N>
  void Bytes(std::array<uint8_t, N>* out) {
    for (size_t i = 0; i < N; i++) (*out)[i] = U8();
  }
  std::string String() {
    const size_t n = U8();
    if (pos_ + n > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  // OK if every read was in bounds and the body was consumed exactly.
  Status Finish(std::string_view what) const {
    if (!ok_) {
      return Status::Corruption("side channel: " + std::string(what) +
                                " message is truncated (" +
                                std::to_string(in_.size()) + " bytes)");
    }
    if (pos_ != in_.size()) {
      return Status::Corruption(
          "side channel: " + std::string(what) + " message has " +
          std::to_string(in_.size() - pos_) + " trailing bytes");
    }
    return Status::OK();
  }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void WriteBondView(const BondView& view, WireWriter* w) {
  w->U8(view.mode ? static_cast<uint8_t>(*view.mode) : kWireNone);
  w->U8(view.active_only ? 1 : 0);
  w->U8(view.active ? *view.active : kWireNone);
  w->U32(view.usable_mask);
  w->U32(view.alive_mask);
}

Status ReadBondView(WireReader* r, std::string_view what, BondView* view) {
  const uint8_t mode = r->U8();
  const uint8_t active_only = r->U8();
  const uint8_t active = r->U8();
  if (active_only > 1) {
    return Status::Corruption("side channel: " + std::string(what) +
                              " has active-only flag " +
                              std::to_string(active_only));
  }
  view->active_only = active_only == 1;
  view->usable_mask = r->U32();
  view->alive_mask = r->U32();
  view->mode.reset();
  if (mode != kWireNone) {
    view->mode = ParseBondMode(mode);
    if (!view->mode) {
      return Status::Corruption("side channel: " + std::string(what) +
                                " names unknown bond mode " +
                                std::to_string(mode));
    }
  }
  view->active.reset();
  if (active != kWireNone) view->active = active;
  return Status::OK();
}

void WriteQpEndpoint(const QpEndpoint& ep, WireWriter* w) {
  w->U32(ep.qpn);
  w->U32(ep.psn);
  w->U8(ep.ip.version);
  w->Bytes(ep.ip.bytes);
  w->Bytes(ep.gid);
  w->Bytes(ep.mac);
  w->U32(ep.mtu);
}

Status ReadQpEndpoint(WireReader* r, std::string_view what, QpEndpoint* ep) {
  ep->qpn = r->U32();
  ep->psn = r->U32();
  ep->ip.version = r->U8();
  r->Bytes(&ep->ip.bytes);
  r->Bytes(&ep->gid);
  r->Bytes(&ep->mac);
  ep->mtu = r->U32();
  if (ep->ip.version != 4 && ep->ip.version != 6) {
    return Status::Corruption("side channel: " + std::string(what) +
                              " carries IP version " +
                              std::to_string(ep->ip.version));
  }
  return Status::OK();
}

void WritePathId(const PathId& path, WireWriter* w) {
  w->U8(path.sender_member);
  w->U8(path.receiver_member);
}

PathId ReadPathId(WireReader* r) {
  PathId path;
  path.sender_member = r->U8();
  path.receiver_member = r->U8();
  return path;
}

}  // namespace

std::vector<uint8_t> EncodeHello(const HelloMessage& message) {
  WireWriter w;
  w.U16(message.version);
  WriteBondView(message.bond, &w);
  w.U8(static_cast<uint8_t>(message.members.size()));
  for (const std::string& name : message.members) w.String(name);
  w.U32(message.max_message_size);
  w.U64(message.write_region_size);
  return w.Take();
}

Result<HelloMessage> DecodeHello(std::span<const uint8_t> body) {
  WireReader r(body);
  HelloMessage m;
  // The version comes first and is checked before anything else, so that a
  // future layout of the rest is reported as a version mismatch.
  m.version = r.U16();
  if (body.size() >= 2 && m.version != kSideChannelVersion) {
    return Status::NotSupported(
        "side channel: the peer speaks protocol version " +
        std::to_string(m.version) + ", this librdmabond speaks " +
        std::to_string(kSideChannelVersion) +
        ": run the same rdma-bond release on both hosts");
  }
  Status s = ReadBondView(&r, "HELLO", &m.bond);
  if (!s.ok()) return s;
  const size_t n = r.U8();
  if (n > kMaxWireMembers) {
    return Status::Corruption("side channel: HELLO lists " +
                              std::to_string(n) + " members (0.." +
                              std::to_string(kMaxWireMembers) + ")");
  }
  for (size_t i = 0; i < n; i++) m.members.push_back(r.String());
  m.max_message_size = r.U32();
  m.write_region_size = r.U64();
  s = r.Finish("HELLO");
  if (!s.ok()) return s;
  if (m.bond.active && *m.bond.active >= n) {
    return Status::Corruption("side channel: HELLO names active member " +
                              std::to_string(*m.bond.active) + " of " +
                              std::to_string(n));
  }
  return m;
}

std::vector<uint8_t> EncodeEndpoints(const EndpointsMessage& message) {
  WireWriter w;
  w.U16(static_cast<uint16_t>(message.paths.size()));
  for (const PathEndpoint& p : message.paths) {
    WritePathId(p.path, &w);
    WriteQpEndpoint(p.qp, &w);
    w.U64(p.region_addr);
    w.U64(p.region_length);
    w.U32(p.region_rkey);
  }
  return w.Take();
}

Result<EndpointsMessage> DecodeEndpoints(std::span<const uint8_t> body) {
  WireReader r(body);
  EndpointsMessage m;
  const size_t n = r.U16();
  for (size_t i = 0; i < n && i <= kMaxWireMembers * kMaxWireMembers; i++) {
    PathEndpoint p;
    p.path = ReadPathId(&r);
    Status s = ReadQpEndpoint(&r, "ENDPOINTS", &p.qp);
    if (!s.ok()) return s;
    p.region_addr = r.U64();
    p.region_length = r.U64();
    p.region_rkey = r.U32();
    m.paths.push_back(p);
  }
  Status s = r.Finish("ENDPOINTS");
  if (!s.ok()) return s;
  return m;
}

std::vector<uint8_t> EncodeActive(const ActiveMessage& message) {
  WireWriter w;
  WriteBondView(message.bond, &w);
  w.U64(message.seq);
  return w.Take();
}

Result<ActiveMessage> DecodeActive(std::span<const uint8_t> body) {
  WireReader r(body);
  ActiveMessage m;
  Status s = ReadBondView(&r, "ACTIVE", &m.bond);
  if (!s.ok()) return s;
  m.seq = r.U64();
  s = r.Finish("ACTIVE");
  if (!s.ok()) return s;
  return m;
}

std::vector<uint8_t> EncodeRepick(const RepickMessage& message) {
  WireWriter w;
  WritePathId(message.path, &w);
  w.U32(message.incarnation);
  return w.Take();
}

Result<RepickMessage> DecodeRepick(std::span<const uint8_t> body) {
  WireReader r(body);
  RepickMessage m;
  m.path = ReadPathId(&r);
  m.incarnation = r.U32();
  Status s = r.Finish("REPICK");
  if (!s.ok()) return s;
  return m;
}

std::vector<uint8_t> EncodePathReset(const PathResetMessage& message) {
  WireWriter w;
  WritePathId(message.path, &w);
  w.U32(message.incarnation);
  WriteQpEndpoint(message.qp, &w);
  return w.Take();
}

Result<PathResetMessage> DecodePathReset(std::span<const uint8_t> body) {
  WireReader r(body);
  PathResetMessage m;
  m.path = ReadPathId(&r);
  m.incarnation = r.U32();
  Status s = ReadQpEndpoint(&r, "PATH_RESET", &m.qp);
  if (!s.ok()) return s;
  s = r.Finish("PATH_RESET");
  if (!s.ok()) return s;
  return m;
}

std::vector<uint8_t> EncodeBye(const ByeMessage& message) {
  WireWriter w;
  if (message.last_seq) w.U64(*message.last_seq);
  return w.Take();
}

std::vector<uint8_t> EncodeData(const DataMessage& message) {
  WireWriter w;
  w.U64(message.seq);
  w.U8(message.type);
  w.U64(message.offset);
  w.U32(static_cast<uint32_t>(message.payload.size()));
  w.Bytes(message.payload);
  return w.Take();
}

Result<DataMessage> DecodeData(std::span<const uint8_t> body) {
  constexpr size_t kFixed = 8 + 1 + 8 + 4;
  WireReader r(body.first(std::min(body.size(), kFixed)));
  DataMessage m;
  m.seq = r.U64();
  m.type = r.U8();
  m.offset = r.U64();
  const uint32_t length = r.U32();
  Status s = r.Finish("DATA");
  if (!s.ok()) return s;
  if (body.size() - kFixed != length) {
    return Status::Corruption("side channel: DATA says " +
                              std::to_string(length) + " bytes and carries " +
                              std::to_string(body.size() - kFixed));
  }
  m.payload = body.subspan(kFixed);
  return m;
}

Result<ByeMessage> DecodeBye(std::span<const uint8_t> body) {
  ByeMessage m;
  if (body.empty()) return m;
  WireReader r(body);
  m.last_seq = r.U64();
  Status s = r.Finish("BYE");
  if (!s.ok()) return s;
  return m;
}

}  // namespace rdma_bond
