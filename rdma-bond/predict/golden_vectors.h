// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Test helpers: the golden hash values that Open vSwitch's own compiled
// code printed (rdma-bond/tools/golden/ovs-hash-golden.c), for
// ovs_hash_test.cc and predictor_test.cc.
//
// The build (rdma-bond/tools/golden/automake.mk) writes one file per
// variant into the build tree's rdma-bond/tools/golden/:
//
//   ovs-hash-golden-native.txt  libopenvswitch.a as OVS compiled it;
//   ovs-hash-golden-mhash.txt   lib/flow.c recompiled for mhash;
//   ovs-hash-golden-crc32.txt   lib/flow.c recompiled for this machine's
//                               crc32 implementation (x86-crc32 with
//                               -msse4.2), or "unavailable" without one.
//
// LoadGolden() looks for them in $RDMA_BOND_GOLDEN_DIR if set, otherwise
// in the nearest tools/golden/ above the running test program
// (/proc/self/exe), so that both predict/predict-tests and
// testing/tests-asan find them from any working directory.
//
// Thread-safety: LoadGolden() is a pure function of the files; a
// GoldenFile is a plain value.

#ifndef RDMA_BOND_GOLDEN_VECTORS_H_
#define RDMA_BOND_GOLDEN_VECTORS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/ovs_hash.h"
#include "rdma_bond/status.h"

namespace rdma_bond::testing {

// The variants the build generates.
inline constexpr std::string_view kGoldenVariants[] = {"native", "mhash",
                                                       "crc32"};

// Fewest tuples of each IP version a golden file must hold: the generator
// prints 2000 plus the publisher's self-test tuples.
inline constexpr size_t kMinGoldenTuples = 2000;

// "add HASH DATA RESULT", "add64 ...", "finish HASH FINAL RESULT" and
// "int X BASIS RESULT" records.
struct GoldenOp {
  uint32_t a = 0;
  uint64_t b = 0;
  uint32_t result = 0;
};

// "mac MAC VLAN BASIS RESULT".
struct GoldenMac {
  std::array<uint8_t, 6> mac{};
  uint16_t vlan = 0;
  uint32_t basis = 0;
  uint32_t result = 0;
};

// "tuple VERSION SRC DST PROTO SPORT DPORT BASIS H0 HBASIS HINT MF0".
struct GoldenTuple {
  FiveTuple tuple;
  uint32_t basis = 0;
  uint32_t hash_basis0 = 0;            // flow_hash_5tuple(t, 0).
  uint32_t hash_basis = 0;             // flow_hash_5tuple(t, basis).
  uint32_t hash_int = 0;               // hash_int(hash_basis0, basis).
  std::optional<uint32_t> miniflow0;   // miniflow_hash_5tuple(mf, 0).
  int line = 0;                        // Line number, for messages.
};

struct GoldenFile {
  std::string path;
  // Why the generator could not run this variant here ("" if it ran).
  std::string unavailable;
  HashImpl impl = HashImpl::kMhash;    // From the "impl" line.
  std::vector<GoldenOp> adds, add64s, finishes, ints;
  std::vector<GoldenMac> macs;
  std::vector<GoldenTuple> tuples;

  size_t CountTuples(uint8_t ip_version) const;
};

// The directory that holds the golden files (see above).
std::string GoldenDir();

// Reads and checks the golden file of 'variant': every line parsed, the
// "end" record present with the right count.  A missing or malformed file
// is an error naming the file and line (the test must fail, not skip).
Result<GoldenFile> LoadGolden(std::string_view variant);

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_GOLDEN_VECTORS_H_
