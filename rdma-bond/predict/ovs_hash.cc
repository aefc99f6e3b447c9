// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The three hash implementations of OVS 3.1.0's lib/hash.h (mhash inline,
// hash-aarch64.h, and the SSE4.2 branch), and the compositions of
// lib/hash.h, lib/flow.c and lib/packets.h built on them.  Each function
// names the OVS function it reproduces; rdma-bond/predict/ovs_hash_test.cc
// checks them against values printed by OVS's own compiled code.

#include "rdma_bond/ovs_hash.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#endif

#include <cassert>

namespace rdma_bond {

namespace {

#if defined(__x86_64__)
constexpr char kBuildArch[] = "x86-64";
#elif defined(__aarch64__)
constexpr char kBuildArch[] = "aarch64";
#else
constexpr char kBuildArch[] = "an architecture other than x86-64 and aarch64";
#endif

// The finishing multiplier of both crc32 implementations' hash_finish():
// "experimentally derived to pass the testsuite hash tests".
constexpr uint32_t kCrcFinishMultiplier = 0x805204f3;

// The 'final' value of hash_2words() and hash_uint64_basis(): the number of
// bytes hashed for mhash, "'23' chosen to mix bits enough" for crc32.
constexpr uint32_t kMhashFinal64 = 8;
constexpr uint32_t kCrcFinal64 = 23;

// hash_rot().
constexpr uint32_t Rotate(uint32_t x, int k) {
  return (x << k) | (x >> (32 - k));
}

// mhash_add__(), mhash_add(), mhash_finish() and the mhash branch of
// lib/hash.h.
struct MhashOps {
  static uint32_t Add(uint32_t hash, uint32_t data) {
    // "zero-valued 'data' will not change the 'hash' value" (but the
    // rotation and multiplication below still happen).
    if (data != 0) {
      data *= 0xcc9e2d51;
      data = Rotate(data, 15);
      data *= 0x1b873593;
      hash ^= data;
    }
    hash = Rotate(hash, 13);
    return hash * 5 + 0xe6546b64;
  }
  static uint32_t Add64(uint32_t hash, uint64_t data) {
    return Add(Add(hash, static_cast<uint32_t>(data)),
               static_cast<uint32_t>(data >> 32));
  }
  // hash_finish(hash, final) takes a 32-bit 'final' in this branch.
  static uint32_t Finish(uint32_t hash, uint64_t final_value) {
    hash ^= static_cast<uint32_t>(final_value);
    hash ^= hash >> 16;
    hash *= 0x85ebca6b;
    hash ^= hash >> 13;
    hash *= 0xc2b2ae35;
    hash ^= hash >> 16;
    return hash;
  }
  // hash_int() = hash_2words(x, basis).
  static uint32_t HashInt(uint32_t x, uint32_t basis) {
    return Finish(Add(Add(x, 0), basis), kMhashFinal64);
  }
  // hash_uint64_basis().
  static uint32_t HashUint64Basis(uint64_t x, uint32_t basis) {
    return Finish(Add64(basis, x), kMhashFinal64);
  }
};

#if defined(__x86_64__)
#define RDMA_BOND_X86_CRC32 __attribute__((target("sse4.2")))

// The __SSE4_2__ && __x86_64__ branch of lib/hash.h.
struct X86Crc32Ops {
  RDMA_BOND_X86_CRC32 static uint32_t Add(uint32_t hash, uint32_t data) {
    return _mm_crc32_u32(hash, data);
  }
  // "Add the halves of 'data' in the memory order."
  RDMA_BOND_X86_CRC32 static uint32_t Add64(uint32_t hash, uint64_t data) {
    return static_cast<uint32_t>(_mm_crc32_u64(hash, data));
  }
  // hash_finish(uint64_t hash, uint64_t final): the product is 64-bit, but
  // only its low 32 bits reach the (uint32_t) result and the shift, which
  // works on '(uint32_t) hash'.
  RDMA_BOND_X86_CRC32 static uint32_t Finish(uint32_t hash,
                                             uint64_t final_value) {
    const uint64_t product =
        _mm_crc32_u64(hash, final_value) * uint64_t{kCrcFinishMultiplier};
    const uint32_t low = static_cast<uint32_t>(product);
    return low ^ (low >> 16);
  }
  // hash_int() = hash_2words(x, basis) = hash_uint64(basis << 32 | x).
  RDMA_BOND_X86_CRC32 static uint32_t HashInt(uint32_t x, uint32_t basis) {
    return HashUint64Basis(uint64_t{basis} << 32 | x, 0);
  }
  RDMA_BOND_X86_CRC32 static uint32_t HashUint64Basis(uint64_t x,
                                                      uint32_t basis) {
    return Finish(Add64(basis, x), kCrcFinal64);
  }
};
#endif  // __x86_64__

#if defined(__aarch64__)
// The CRC extension, enabled for single functions.  GCC's arm_acle.h
// declares __crc32cw()/__crc32cd() for any target (under its own target
// pragma); clang's only when the whole file is built with +crc, so clang
// uses its builtins.
#if defined(__clang__)
#define RDMA_BOND_ARM64_TARGET "crc"
#define RDMA_BOND_CRC32CW __builtin_arm_crc32cw
#define RDMA_BOND_CRC32CD __builtin_arm_crc32cd
#else
#define RDMA_BOND_ARM64_TARGET "+crc"
#define RDMA_BOND_CRC32CW __crc32cw
#define RDMA_BOND_CRC32CD __crc32cd
#endif
#define RDMA_BOND_ARM64_CRC32 __attribute__((target(RDMA_BOND_ARM64_TARGET)))

// lib/hash-aarch64.h.
struct Arm64Crc32Ops {
  RDMA_BOND_ARM64_CRC32 static uint32_t Add(uint32_t hash, uint32_t data) {
    return RDMA_BOND_CRC32CW(hash, data);
  }
  RDMA_BOND_ARM64_CRC32 static uint32_t Add64(uint32_t hash, uint64_t data) {
    return RDMA_BOND_CRC32CD(hash, data);
  }
  RDMA_BOND_ARM64_CRC32 static uint32_t Finish(uint32_t hash,
                                               uint64_t final_value) {
    hash = RDMA_BOND_CRC32CD(hash, final_value) * kCrcFinishMultiplier;
    return hash ^ hash >> 16;
  }
  RDMA_BOND_ARM64_CRC32 static uint32_t HashInt(uint32_t x, uint32_t basis) {
    return HashUint64Basis(uint64_t{basis} << 32 | x, 0);
  }
  RDMA_BOND_ARM64_CRC32 static uint32_t HashUint64Basis(uint64_t x,
                                                        uint32_t basis) {
    return Finish(Add64(basis, x), kCrcFinal64);
  }
};
#endif  // __aarch64__

// True if flow_hash_5tuple() adds the ports for IP protocol 'proto'.
constexpr bool HashesPorts(uint8_t proto) {
  return proto == kIpProtoTcp || proto == kIpProtoUdp ||
         proto == kIpProtoSctp || proto == kIpProtoIcmp ||
         proto == kIpProtoIcmpv6;
}

// flow_hash_5tuple() of lib/flow.c up to the ports: the addresses and the
// protocol.  FlowHash5TupleT() = FlowHashPortsT(FlowHashPrefixT()).
template <typename Ops>
inline uint32_t FlowHashPrefixT(const FlowKey& key, uint32_t basis) {
  uint32_t hash = basis;
  if (key.ip_version == 6) {
    for (uint64_t word : key.ipv6) {
      hash = Ops::Add64(hash, word);
    }
  } else {
    hash = Ops::Add(hash, key.nw_src);
    hash = Ops::Add(hash, key.nw_dst);
  }
  return Ops::Add(hash, key.nw_proto);
}

// The rest of flow_hash_5tuple() from the prefix of the flow's addresses
// and protocol 'proto', for the ports word 'ports'.
template <typename Ops>
inline uint32_t FlowHashPortsT(uint32_t prefix, uint8_t proto,
                               uint32_t ports) {
  uint32_t hash = prefix;
  if (HashesPorts(proto)) {
    hash = Ops::Add(hash, ports);  // "Add both ports at once."
  }
  return Ops::Finish(hash, kFlowHash5TupleFinal);
}

// flow_hash_5tuple() of lib/flow.c for an IPv4 or IPv6 flow.
template <typename Ops>
inline uint32_t FlowHash5TupleT(const FlowKey& key, uint32_t basis) {
  return FlowHashPortsT<Ops>(FlowHashPrefixT<Ops>(key, basis), key.nw_proto,
                             key.ports);
}

// hash_mac() of lib/packets.h: hash_uint64_basis(eth_addr_vlan_to_uint64()).
template <typename Ops>
inline uint32_t HashMacT(const std::array<uint8_t, 6>& mac, uint16_t vlan,
                         uint32_t basis) {
  uint64_t value = 0;
  for (uint8_t byte : mac) {  // eth_addr_to_uint64(): big-endian, 48 bits.
    value = value << 8 | byte;
  }
  value |= uint64_t{vlan} << 48;  // eth_addr_vlan_to_uint64().
  return Ops::HashUint64Basis(value, basis);
}

// H(key) of a 5-tuple regime.
template <typename Ops, HashRegime kRegime>
inline uint32_t RegimeHashT(const FlowKey& key, uint32_t basis) {
  if constexpr (kRegime == HashRegime::kRecirc) {
    return Ops::HashInt(FlowHash5TupleT<Ops>(key, 0), basis);
  } else if constexpr (kRegime == HashRegime::kXlate) {
    return FlowHash5TupleT<Ops>(key, basis);
  } else {
    static_assert(kRegime == HashRegime::kLbOutput ||
                  kRegime == HashRegime::kKernel);
    return FlowHash5TupleT<Ops>(key, 0);  // The basis is ignored.
  }
}

// H() of a 5-tuple regime for the flow of 'key' with each ports word of
// 'ports': the addresses are hashed once.
template <typename Ops, HashRegime kRegime>
inline void RegimeHashPortsT(const FlowKey& key, const uint32_t* ports,
                             size_t n, uint32_t basis, uint32_t* out) {
  if constexpr (kRegime == HashRegime::kRecirc) {
    const uint32_t prefix = FlowHashPrefixT<Ops>(key, 0);
    for (size_t i = 0; i < n; i++) {
      out[i] = Ops::HashInt(FlowHashPortsT<Ops>(prefix, key.nw_proto,
                                                ports[i]),
                            basis);
    }
  } else {
    static_assert(kRegime == HashRegime::kXlate ||
                  kRegime == HashRegime::kLbOutput ||
                  kRegime == HashRegime::kKernel);
    const uint32_t prefix = FlowHashPrefixT<Ops>(
        key, kRegime == HashRegime::kXlate ? basis : 0);
    for (size_t i = 0; i < n; i++) {
      out[i] = FlowHashPortsT<Ops>(prefix, key.nw_proto, ports[i]);
    }
  }
}

// The entry points that RegimeHasher points to, per implementation and
// regime.  ATTRIBUTES compile them for the implementation's instruction
// set; 'flatten' inlines every hash step into them, so that the crc32
// instructions are inlined although RegimeHashT() itself is compiled for
// the baseline instruction set.
#define RDMA_BOND_DEFINE_ENTRY_POINTS(PREFIX, OPS, ATTRIBUTES)              \
  template <HashRegime kRegime>                                             \
  ATTRIBUTES uint32_t PREFIX##One(const FlowKey& key, uint32_t basis) {     \
    return RegimeHashT<OPS, kRegime>(key, basis);                           \
  }                                                                         \
  template <HashRegime kRegime>                                             \
  ATTRIBUTES void PREFIX##Batch(const FlowKey* keys, size_t n,              \
                                uint32_t basis, uint32_t* out) {            \
    for (size_t i = 0; i < n; i++) {                                        \
      out[i] = RegimeHashT<OPS, kRegime>(keys[i], basis);                   \
    }                                                                       \
  }                                                                         \
  template <HashRegime kRegime>                                             \
  ATTRIBUTES void PREFIX##Ports(const FlowKey& key, const uint32_t* ports,  \
                                size_t n, uint32_t basis, uint32_t* out) {  \
    RegimeHashPortsT<OPS, kRegime>(key, ports, n, basis, out);              \
  }

RDMA_BOND_DEFINE_ENTRY_POINTS(Mhash, MhashOps, __attribute__((flatten)))
#if defined(__x86_64__)
RDMA_BOND_DEFINE_ENTRY_POINTS(X86, X86Crc32Ops,
                              __attribute__((flatten, target("sse4.2"))))
#endif
#if defined(__aarch64__)
RDMA_BOND_DEFINE_ENTRY_POINTS(
    Arm64, Arm64Crc32Ops,
    __attribute__((flatten, target(RDMA_BOND_ARM64_TARGET))))
#endif

struct EntryPoints {
  RegimeHasher::OneFn one = nullptr;
  RegimeHasher::BatchFn batch = nullptr;
  RegimeHasher::PortsFn ports = nullptr;
};

#define RDMA_BOND_SELECT_ENTRY_POINTS(PREFIX, REGIME)                       \
  switch (REGIME) {                                                         \
    case HashRegime::kRecirc:                                               \
      return {PREFIX##One<HashRegime::kRecirc>,                             \
              PREFIX##Batch<HashRegime::kRecirc>,                           \
              PREFIX##Ports<HashRegime::kRecirc>};                          \
    case HashRegime::kXlate:                                                \
      return {PREFIX##One<HashRegime::kXlate>,                              \
              PREFIX##Batch<HashRegime::kXlate>,                            \
              PREFIX##Ports<HashRegime::kXlate>};                           \
    case HashRegime::kLbOutput:                                             \
    case HashRegime::kKernel:                                               \
      return {PREFIX##One<HashRegime::kLbOutput>,                           \
              PREFIX##Batch<HashRegime::kLbOutput>,                         \
              PREFIX##Ports<HashRegime::kLbOutput>};                        \
    case HashRegime::kNone:                                                 \
    case HashRegime::kSlb:                                                  \
      break;                                                                \
  }                                                                         \
  return {}

EntryPoints SelectEntryPoints(HashImpl impl, HashRegime regime) {
  switch (impl) {
    case HashImpl::kMhash:
      RDMA_BOND_SELECT_ENTRY_POINTS(Mhash, regime);
    case HashImpl::kX86Crc32:
#if defined(__x86_64__)
      RDMA_BOND_SELECT_ENTRY_POINTS(X86, regime);
#else
      return {};
#endif
    case HashImpl::kArm64Crc32:
#if defined(__aarch64__)
      RDMA_BOND_SELECT_ENTRY_POINTS(Arm64, regime);
#else
      return {};
#endif
  }
  return {};
}

// Calls OPS::EXPR's function for the implementation 'impl'.  Implementations
// not built on this architecture cannot pass HashImplAvailable().
#if defined(__x86_64__)
#define RDMA_BOND_DISPATCH_X86(CALL) \
  case HashImpl::kX86Crc32:          \
    return X86Crc32Ops::CALL;
#else
#define RDMA_BOND_DISPATCH_X86(CALL)
#endif
#if defined(__aarch64__)
#define RDMA_BOND_DISPATCH_ARM64(CALL) \
  case HashImpl::kArm64Crc32:          \
    return Arm64Crc32Ops::CALL;
#else
#define RDMA_BOND_DISPATCH_ARM64(CALL)
#endif
#define RDMA_BOND_DISPATCH(IMPL, CALL)                     \
  assert(HashImplAvailable(IMPL).ok());                    \
  switch (IMPL) {                                          \
    RDMA_BOND_DISPATCH_X86(CALL)                           \
    RDMA_BOND_DISPATCH_ARM64(CALL)                         \
    default:                                               \
      return MhashOps::CALL;                               \
  }

// The same for a template function of this file.
#if defined(__x86_64__)
#define RDMA_BOND_DISPATCH_T_X86(FN, ARGS) \
  case HashImpl::kX86Crc32:                \
    return FN<X86Crc32Ops> ARGS;
#else
#define RDMA_BOND_DISPATCH_T_X86(FN, ARGS)
#endif
#if defined(__aarch64__)
#define RDMA_BOND_DISPATCH_T_ARM64(FN, ARGS) \
  case HashImpl::kArm64Crc32:                \
    return FN<Arm64Crc32Ops> ARGS;
#else
#define RDMA_BOND_DISPATCH_T_ARM64(FN, ARGS)
#endif
#define RDMA_BOND_DISPATCH_T(IMPL, FN, ARGS)               \
  assert(HashImplAvailable(IMPL).ok());                    \
  switch (IMPL) {                                          \
    RDMA_BOND_DISPATCH_T_X86(FN, ARGS)                     \
    RDMA_BOND_DISPATCH_T_ARM64(FN, ARGS)                   \
    default:                                               \
      return FN<MhashOps> ARGS;                            \
  }

}  // namespace

std::optional<HashImpl> ParseHashImpl(uint32_t raw) {
  switch (raw) {
    case RDMA_BOND_HASH_MHASH:
    case RDMA_BOND_HASH_X86_CRC32:
    case RDMA_BOND_HASH_ARM64_CRC32:
      return static_cast<HashImpl>(raw);
  }
  return std::nullopt;
}

std::string_view ToString(HashImpl impl) {
  switch (impl) {
    case HashImpl::kMhash: return "mhash";
    case HashImpl::kX86Crc32: return "x86-crc32";
    case HashImpl::kArm64Crc32: return "arm64-crc32";
  }
  return "unknown";
}

Status HashImplAvailable(HashImpl impl) {
  switch (impl) {
    case HashImpl::kMhash:
      return Status::OK();
    case HashImpl::kX86Crc32:
#if defined(__x86_64__)
      __builtin_cpu_init();
      if (__builtin_cpu_supports("sse4.2")) {
        return Status::OK();
      }
      return Status::NotSupported(
          "this CPU lacks SSE4.2 (the crc32 instructions)");
#else
      return Status::NotSupported(
          std::string("x86-crc32 needs an x86-64 CPU; this reader was built "
                      "for ") + kBuildArch);
#endif
    case HashImpl::kArm64Crc32:
#if defined(__aarch64__)
      if (getauxval(AT_HWCAP) & HWCAP_CRC32) {
        return Status::OK();
      }
      return Status::NotSupported(
          "this CPU lacks the ARMv8 CRC32 extension");
#else
      return Status::NotSupported(
          std::string("arm64-crc32 needs an aarch64 CPU; this reader was "
                      "built for ") + kBuildArch);
#endif
  }
  return Status::NotSupported("unknown hash implementation " +
                              std::to_string(static_cast<uint32_t>(impl)));
}

FlowKey::FlowKey(const FiveTuple& tuple)
    : ip_version(tuple.src.version), nw_proto(tuple.proto) {
  const uint8_t port_bytes[sizeof ports] = {
      static_cast<uint8_t>(tuple.sport >> 8),
      static_cast<uint8_t>(tuple.sport),
      static_cast<uint8_t>(tuple.dport >> 8),
      static_cast<uint8_t>(tuple.dport)};
  std::memcpy(&ports, port_bytes, sizeof ports);
  if (ip_version == 6) {
    static_assert(sizeof ipv6 == 2 * sizeof tuple.src.bytes,
                  "ipv6_src and ipv6_dst fill the four words");
    std::memcpy(&ipv6[0], tuple.src.bytes.data(), sizeof tuple.src.bytes);
    std::memcpy(&ipv6[2], tuple.dst.bytes.data(), sizeof tuple.dst.bytes);
  } else {
    std::memcpy(&nw_src, tuple.src.bytes.data(), sizeof nw_src);
    std::memcpy(&nw_dst, tuple.dst.bytes.data(), sizeof nw_dst);
  }
}

uint32_t HashAdd(HashImpl impl, uint32_t hash, uint32_t data) {
  RDMA_BOND_DISPATCH(impl, Add(hash, data));
}

uint32_t HashAdd64(HashImpl impl, uint32_t hash, uint64_t data) {
  RDMA_BOND_DISPATCH(impl, Add64(hash, data));
}

uint32_t HashFinish(HashImpl impl, uint32_t hash, uint64_t final_value) {
  RDMA_BOND_DISPATCH(impl, Finish(hash, final_value));
}

uint32_t HashInt(HashImpl impl, uint32_t x, uint32_t basis) {
  RDMA_BOND_DISPATCH(impl, HashInt(x, basis));
}

uint32_t FlowHash5Tuple(HashImpl impl, const FlowKey& key, uint32_t basis) {
  RDMA_BOND_DISPATCH_T(impl, FlowHash5TupleT, (key, basis));
}

uint32_t HashMac(HashImpl impl, const std::array<uint8_t, 6>& mac,
                 uint16_t vlan, uint32_t basis) {
  RDMA_BOND_DISPATCH_T(impl, HashMacT, (mac, vlan, basis));
}

Result<RegimeHasher> RegimeHasher::Create(HashImpl impl, HashRegime regime,
                                          uint32_t basis,
                                          bool accept_canonical) {
  if (Status available = HashImplAvailable(impl); !available.ok()) {
    return available;
  }
  if (regime == HashRegime::kKernel && !accept_canonical) {
    return Status::NotSupported(
        std::string(kKernelRegimeNote) +
        "; predicting with the canonical flow_hash_5tuple(flow, 0) must be "
        "accepted explicitly");
  }
  const EntryPoints entry = SelectEntryPoints(impl, regime);
  if (entry.one == nullptr) {
    return Status::NotSupported("hash regime " +
                                std::string(ToString(regime)) +
                                " does not hash the 5-tuple");
  }
  return RegimeHasher(impl, regime, basis, entry.one, entry.batch,
                      entry.ports);
}

}  // namespace rdma_bond
