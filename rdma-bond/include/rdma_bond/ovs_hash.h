// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// OVS hashing, bit for bit.
//
// The member of a balance-tcp bond that carries a flow is chosen by a 32-bit
// hash that ovs-vswitchd or its datapath computes with Open vSwitch's own
// functions: hash_add(), hash_add64(), hash_finish(), hash_int() (lib/hash.h),
// flow_hash_5tuple() (lib/flow.c) and hash_mac() (lib/packets.h).  This
// header reproduces them exactly, for OVS 3.1.0 (FLOW_WC_SEQ 42).
//
// lib/hash.h has three implementations of hash_add()/hash_add64()/
// hash_finish(), and OVS picks one when it is compiled:
//
//   mhash        MurmurHash3 steps; the portable default (Debian's build).
//   x86-crc32    CRC32C instructions, when built with -msse4.2 on x86-64.
//   arm64-crc32  CRC32C instructions, on aarch64 with the CRC extension.
//
// hash_int() and hash_mac() are composed differently by mhash and by the
// crc32 implementations (hash_2words(), hash_uint64_basis()).  The table
// names the implementation compiled into its writer (header 'hash_impl');
// a reader must use the same one, on a CPU that has its instructions:
// HashImplAvailable() says whether this one can.
//
// Where the bucket hash H of a flow is computed decides how (HashRegime,
// bond.h): recirc H = hash_int(flow_hash_5tuple(t, 0), basis); lb-output
// H = flow_hash_5tuple(t, 0); xlate H = flow_hash_5tuple(t, basis); kernel:
// not reproducible (the skb hash), only the canonical flow_hash_5tuple(t, 0)
// on explicit request; slb H = hash_mac(eth_src, vlan, basis).
//
// The per-flow path: a RegimeHasher is created once for an (implementation,
// regime, basis).  It holds a pointer to a function instantiated for that
// implementation and regime, in which every hash step is inlined: hashing a
// flow is one indirect call with no allocation and no branch on the
// implementation or the regime, and HashBatch() amortizes even that call.
// The crc32 functions are compiled for their instruction set extension
// (target attributes) and only called after HashImplAvailable() said yes.
//
// Thread-safety: pure functions; a RegimeHasher is an immutable value that
// any number of threads may use.

#ifndef RDMA_BOND_OVS_HASH_H_
#define RDMA_BOND_OVS_HASH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "rdma-bond-table.h"
#include "rdma_bond/bond.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// enum rdma_bond_hash_impl.
enum class HashImpl : uint32_t {
  kMhash = RDMA_BOND_HASH_MHASH,
  kX86Crc32 = RDMA_BOND_HASH_X86_CRC32,
  kArm64Crc32 = RDMA_BOND_HASH_ARM64_CRC32,
};

// The enum of a table header's 'hash_impl', or nullopt if this reader does
// not know the value.
std::optional<HashImpl> ParseHashImpl(uint32_t raw);

// "mhash", "x86-crc32", "arm64-crc32" (as HashImplName() in bond.h).
std::string_view ToString(HashImpl impl);

// OK if 'impl' can run in this process, otherwise NotSupported saying why:
// "this CPU lacks SSE4.2", or that the implementation exists only on
// another architecture.  mhash is always available.
Status HashImplAvailable(HashImpl impl);

// The fields of OVS's struct flow that flow_hash_5tuple() reads, held as
// the words it reads them: loaded from memory in host order, so on a
// little-endian host the 32-bit word of IPv4 10.0.0.1 is 0x0100000a.
// Build one with the constructor; it is a plain value of 48 bytes.
struct FlowKey {
  uint8_t ip_version = 4;           // 4 or 6: picks the address words.
  uint8_t nw_proto = kIpProtoUdp;
  // tp_src then tp_dst (each big-endian) read as one 32-bit word, as
  // flow_hash_5tuple() "adds both ports at once".
  uint32_t ports = 0;
  uint32_t nw_src = 0;              // IPv4 source, as read from memory.
  uint32_t nw_dst = 0;
  // IPv6: ipv6_src then ipv6_dst as the four 64-bit words at
  // offsetof(struct flow, ipv6_src) / 8.  Zero for IPv4.
  std::array<uint64_t, 4> ipv6{};

  FlowKey() = default;
  explicit FlowKey(const FiveTuple& tuple);

  // Replaces the source port: PickSport() walks the ports of one flow.
  void SetSourcePort(uint16_t sport) {
    uint8_t bytes[sizeof ports];
    std::memcpy(bytes, &ports, sizeof bytes);
    bytes[0] = static_cast<uint8_t>(sport >> 8);
    bytes[1] = static_cast<uint8_t>(sport);
    std::memcpy(&ports, bytes, sizeof bytes);
  }
};

// The constant that flow_hash_5tuple() finishes with ("Arbitrary number").
inline constexpr uint32_t kFlowHash5TupleFinal = 42;

// The primitives and compositions of lib/hash.h, lib/flow.c and
// lib/packets.h for implementation 'impl'.  Each call dispatches on 'impl'
// (tests and cold paths; the per-flow path is RegimeHasher).
// REQUIRES: HashImplAvailable(impl).ok() (a crc32 implementation on a CPU
// without the instructions would die of SIGILL).
uint32_t HashAdd(HashImpl impl, uint32_t hash, uint32_t data);
uint32_t HashAdd64(HashImpl impl, uint32_t hash, uint64_t data);
uint32_t HashFinish(HashImpl impl, uint32_t hash, uint64_t final_value);
uint32_t HashInt(HashImpl impl, uint32_t x, uint32_t basis);
uint32_t FlowHash5Tuple(HashImpl impl, const FlowKey& key, uint32_t basis);
// hash_mac(ea, vlan, basis): 'vlan' is the 12-bit VLAN ID the bond outputs
// the frame in (0 if untagged).
uint32_t HashMac(HashImpl impl, const std::array<uint8_t, 6>& mac,
                 uint16_t vlan, uint32_t basis);

// Hashes flows the way one bond's datapath does: the bucket hash H of a
// regime that hashes the 5-tuple (recirc, lb-output, xlate, and kernel as
// the canonical flow_hash_5tuple(t, 0)).
class RegimeHasher {
 public:
  // Fails with NotSupported if 'impl' is not available here (the message
  // says why) or if 'regime' does not hash the 5-tuple (none, slb), and
  // for the kernel regime unless 'accept_canonical' is true: the kernel
  // hashes the skb hash, which cannot be reproduced.
  static Result<RegimeHasher> Create(HashImpl impl, HashRegime regime,
                                     uint32_t basis, bool accept_canonical);

  // H(key).  One indirect call; no allocation.
  uint32_t Hash(const FlowKey& key) const { return one_(key, basis_); }

  // out[i] = Hash(keys[i]).
  // REQUIRES: out.size() == keys.size().
  void HashBatch(std::span<const FlowKey> keys,
                 std::span<uint32_t> out) const {
    batch_(keys.data(), keys.size(), basis_, out.data());
  }

  // out[i] = Hash(key with ports word ports[i]): the flow's addresses are
  // hashed once.  PickSport() walks the source ports of one flow with it.
  // REQUIRES: out.size() == ports.size().
  void HashPorts(const FlowKey& key, std::span<const uint32_t> ports,
                 std::span<uint32_t> out) const {
    ports_(key, ports.data(), ports.size(), basis_, out.data());
  }

  HashImpl impl() const { return impl_; }
  HashRegime regime() const { return regime_; }
  uint32_t basis() const { return basis_; }
  // False for the kernel regime: Hash() is the canonical hash, which the
  // kernel datapath does not use.
  bool verified() const { return regime_ != HashRegime::kKernel; }

  using OneFn = uint32_t (*)(const FlowKey& key, uint32_t basis);
  using BatchFn = void (*)(const FlowKey* keys, size_t n, uint32_t basis,
                           uint32_t* out);
  using PortsFn = void (*)(const FlowKey& key, const uint32_t* ports,
                           size_t n, uint32_t basis, uint32_t* out);

 private:
  RegimeHasher(HashImpl impl, HashRegime regime, uint32_t basis, OneFn one,
               BatchFn batch, PortsFn ports)
      : impl_(impl), regime_(regime), basis_(basis), one_(one),
        batch_(batch), ports_(ports) {}

  HashImpl impl_;
  HashRegime regime_;
  uint32_t basis_;
  OneFn one_;
  BatchFn batch_;
  PortsFn ports_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_OVS_HASH_H_
