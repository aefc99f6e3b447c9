// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Writes the seed corpus of table_reader_fuzz: valid tables built with the
// test helpers (table_test_util.h) and the writer's own record store, in
// the three input layouts of the fuzzer, plus a few invalid ones.
//
// Usage: make-seed-corpus DIR     writes DIR/NAME files (DIR must exist)
//        make-seed-corpus --max-len
//                                 prints the longest useful input (the
//                                 layout byte and a whole table), for
//                                 libFuzzer's -max_len

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "rdma-bond-table-writer.h"
#include "rdma-bond-table.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::MakeRecord;
using testing::SetName;
using testing::TableOptions;
using testing::TempDir;
using testing::WritableTable;

// The fuzzer's layouts (table_reader_fuzz.cc).
constexpr char kRaw = 0;
constexpr char kRecords = 1;
constexpr char kOverlay = 2;

// A balance-tcp bond with negotiated LACP, 'n' members, buckets assigned
// round-robin and self-test vectors of both IP versions.
rdma_bond_record BalanceTcpRecord(const std::string& name, size_t n) {
  rdma_bond_record r = MakeRecord(name, {});
  r.mode = RDMA_BOND_MODE_BALANCE_TCP;
  r.lacp_status = RDMA_BOND_LACP_NEGOTIATED;
  r.regime = RDMA_BOND_REGIME_RECIRC;
  r.basis = 12345;
  r.recirc_id = 7;
  r.flags = RDMA_BOND_F_MAY_RECIRC | RDMA_BOND_F_DP_RECIRC |
            RDMA_BOND_F_USERSPACE_DP;
  r.n_members = static_cast<uint8_t>(n);
  r.active_member = 1 % n;
  for (size_t i = 0; i < n; i++) {
    rdma_bond_member& m = r.members[i];
    SetName(m.name, "eth" + std::to_string(i));
    m.ifindex = static_cast<uint32_t>(10 + i);
    m.ofport = static_cast<uint32_t>(i + 1);
    m.mac[5] = static_cast<uint8_t>(i);
    m.flags = RDMA_BOND_M_ENABLED | RDMA_BOND_M_MAY_ENABLE |
              RDMA_BOND_M_CARRIER | (i == 0 ? RDMA_BOND_M_PRIMARY : 0);
  }
  for (size_t b = 0; b < RDMA_BOND_BUCKETS; b++) {
    r.buckets[b] = b % 17 == 16 ? RDMA_BOND_NO_MEMBER
                                : static_cast<uint8_t>(b % n);
  }
  r.n_vectors = RDMA_BOND_N_VECTORS;
  for (uint8_t v = 0; v < RDMA_BOND_N_VECTORS; v++) {
    rdma_bond_hash_vector& vec = r.vectors[v];
    vec.ip_version = v % 2 ? 6 : 4;
    vec.src[0] = 10;
    vec.src[3] = 1;
    vec.dst[0] = 10;
    vec.dst[3] = 2;
    if (vec.ip_version == 6) {
      vec.src[0] = vec.dst[0] = 0xfe;
      vec.src[1] = vec.dst[1] = 0x80;
    }
    vec.sport_be = htons(static_cast<uint16_t>(0xc000 + v));
    vec.dport_be = htons(4791);
    vec.nw_proto = 17;
    vec.hash_basis0 = 0x1000u + v;
    vec.hash_basis = 0x2000u + v;
    vec.hash_regime = 0x3000u + v;
  }
  return r;
}

// One table: a name and how to fill it.
struct TableSeed {
  std::string name;
  TableOptions options;
  std::function<void(WritableTable*)> fill;
};

std::vector<TableSeed> Tables() {
  std::vector<TableSeed> seeds;
  seeds.push_back({"empty", {}, [](WritableTable*) {}});
  seeds.push_back({"active-backup", {}, [](WritableTable* t) {
                     t->Store(0, MakeRecord("bond0"));
                   }});
  seeds.push_back({"balance-tcp", {}, [](WritableTable* t) {
                     t->Store(0, BalanceTcpRecord("bond0", 4));
                     rdma_bond_record lb = BalanceTcpRecord("bond1", 2);
                     lb.regime = RDMA_BOND_REGIME_LB_OUTPUT;
                     lb.flags |= RDMA_BOND_F_LB_OUTPUT_CONFIGURED |
                                 RDMA_BOND_F_LB_OUTPUT_ACTIVE;
                     t->Store(3, lb);
                   }});
  seeds.push_back({"slb-kernel-xlate", {}, [](WritableTable* t) {
                     rdma_bond_record slb = BalanceTcpRecord("slb0", 3);
                     slb.mode = RDMA_BOND_MODE_BALANCE_SLB;
                     slb.lacp_status = RDMA_BOND_LACP_OFF;
                     slb.regime = RDMA_BOND_REGIME_SLB;
                     t->Store(0, slb);
                     rdma_bond_record kernel = BalanceTcpRecord("kern0", 2);
                     kernel.regime = RDMA_BOND_REGIME_KERNEL;
                     SetName(kernel.dp_type, "system");
                     t->Store(1, kernel);
                     rdma_bond_record xlate = BalanceTcpRecord("xl0", 2);
                     xlate.regime = RDMA_BOND_REGIME_XLATE;
                     xlate.lacp_status = RDMA_BOND_LACP_FAILED;
                     xlate.lacp_fallback_ab = 1;
                     t->Store(2, xlate);
                   }});
  TableOptions exited;
  exited.writer_pid = 1;
  exited.heartbeat_ns = 1;  // Long stale.
  exited.hash_impl = 99;    // Unknown to this reader.
  seeds.push_back({"exited-stale", exited, [](WritableTable* t) {
                     rdma_bond_record r = MakeRecord("bond0", {"p1", "p2"});
                     r.active_member = RDMA_BOND_NO_MEMBER;
                     r.members[0].flags = 0;
                     r.reasons = RDMA_BOND_REASON_MEMBER_STATE |
                                 RDMA_BOND_REASON_ACTIVE_MEMBER | (1u << 12);
                     t->Store(0, r);
                     rdma_bond_table_set_flags(t->header(),
                                               RDMA_BOND_TABLE_WRITER_EXITED);
                   }});
  seeds.push_back({"full", {}, [](WritableTable* t) {
                     for (size_t slot = 0; slot < RDMA_BOND_MAX_BONDS; slot++) {
                       rdma_bond_record r = BalanceTcpRecord(
                           "bond" + std::to_string(slot),
                           RDMA_BOND_MAX_MEMBERS);
                       // Names that need escaping, truncation, bad UTF-8.
                       if (slot % 4 == 1) {
                         SetName(r.name, "b\xc3\xa9\"\\\n\x01\xff");
                       } else if (slot % 4 == 2) {
                         std::memset(r.members[0].name, 'x',
                                     sizeof r.members[0].name - 1);
                         r.flags |= RDMA_BOND_F_NAME_TRUNCATED |
                                    RDMA_BOND_F_TOO_MANY_MEMBERS;
                       }
                       r.generation = slot + 1;
                       t->Store(slot, r);
                     }
                     rdma_bond_table_set_n_used(t->header(),
                                                RDMA_BOND_MAX_BONDS);
                   }});
  // Invalid tables: every one must be rejected cleanly.
  seeds.push_back({"bad-magic", {}, [](WritableTable* t) {
                     t->header()->magic ^= 1;
                   }});
  seeds.push_back({"bad-abi", {}, [](WritableTable* t) {
                     t->header()->abi_version = 2;
                   }});
  seeds.push_back({"bad-record-size", {}, [](WritableTable* t) {
                     t->header()->record_size += 8;
                   }});
  seeds.push_back({"bad-active-member", {}, [](WritableTable* t) {
                     rdma_bond_record r = MakeRecord("bond0");
                     r.active_member = 5;
                     t->Store(0, r);
                   }});
  seeds.push_back({"bad-bucket", {}, [](WritableTable* t) {
                     rdma_bond_record r = BalanceTcpRecord("bond0", 2);
                     r.buckets[9] = 3;
                     t->Store(0, r);
                   }});
  seeds.push_back({"bad-enums", {}, [](WritableTable* t) {
                     rdma_bond_record r = BalanceTcpRecord("bond0", 2);
                     r.mode = 9;
                     t->Store(0, r);
                     r = BalanceTcpRecord("bond1", 2);
                     r.vectors[2].ip_version = 5;
                     t->Store(1, r);
                   }});
  return seeds;
}

bool WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "make-seed-corpus: %s: write failed\n", path.c_str());
    return false;
  }
  return true;
}

int Run(const std::string& dir) {
  TempDir scratch;
  int written = 0;
  for (const TableSeed& seed : Tables()) {
    const std::string path = scratch.File(seed.name + ".shm");
    {
      std::unique_ptr<WritableTable> table =
          WritableTable::Create(path, seed.options);
      if (table == nullptr) {
        return 1;
      }
      seed.fill(table.get());
      rdma_bond_table_notify(table->header());
    }
    std::ifstream in(path, std::ios::binary);
    const std::string table((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    if (table.size() != RDMA_BOND_TABLE_SIZE) {
      std::fprintf(stderr, "make-seed-corpus: %s: %zu bytes\n", path.c_str(),
                   table.size());
      return 1;
    }
    const size_t header = sizeof(rdma_bond_table_header);
    const size_t record = sizeof(rdma_bond_record);
    const std::string base = dir + "/" + seed.name;
    if (!WriteFile(base + "-raw", kRaw + table) ||
        !WriteFile(base + "-records", kRecords + table.substr(header, 4 * record)) ||
        !WriteFile(base + "-overlay", kOverlay + table.substr(0, header + 2 * record))) {
      return 1;
    }
    written += 3;
  }
  // Short and truncated raw tables: rejected by size.
  if (!WriteFile(dir + "/short-raw", std::string(1, kRaw) + "RDMABND1") ||
      !WriteFile(dir + "/empty-records", std::string(1, kRecords))) {
    return 1;
  }
  written += 2;
  std::printf("make-seed-corpus: %d inputs in %s\n", written, dir.c_str());
  return 0;
}

}  // namespace
}  // namespace rdma_bond

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--max-len") == 0) {
    std::printf("%zu\n", 1 + RDMA_BOND_TABLE_SIZE);
    return 0;
  }
  if (argc != 2) {
    std::fprintf(stderr, "usage: make-seed-corpus DIR | --max-len\n");
    return 2;
  }
  return rdma_bond::Run(argv[1]);
}
