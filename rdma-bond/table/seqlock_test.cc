// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Concurrency test of the table's seqlock, in the style of leveldb's
// skiplist_test: one writer stores records with the real writer code
// (rdma_bond_record_store() from lib/rdma-bond-table.c) as fast as it can,
// every field derived from a stamp k; reader threads take snapshots with
// TableReader and check that each record they get is exactly the record of
// one k (never a mix of two stores), and that k never goes backwards.
//
// Run it under ThreadSanitizer too ("make check-tsan").  The same-mapping
// test is the one TSan can check: TSan tracks memory by virtual address,
// so it only sees the writer's and readers' accesses collide when both use
// the same mapping.

#include <arpa/inet.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "rdma_bond/table_reader.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::SetName;

// Snapshots per reader thread: enough to overlap many stores, small enough
// for TSan on two cores.
constexpr int kSnapshotsPerReader = 3000;
constexpr int kReaders = 3;

// Slot 0 is always in use; slot 1 is freed every kFreeEvery stores, so
// readers also race with slots that come and go.
constexpr size_t kSlot = 0;
constexpr size_t kFlappingSlot = 1;
constexpr uint64_t kFreeEvery = 5;

// The writer wakes readers every so many stores (a futex syscall per store
// would slow it down and reduce the contention this test is after).
constexpr uint64_t kNotifyEvery = 64;

// The record of stamp 'k' for 'slot': every field is a function of k, and
// the record is valid for any k (indexes stay in range).
rdma_bond_record StampedRecord(uint64_t k, size_t slot) {
  rdma_bond_record r;
  std::memset(&r, 0, sizeof r);
  r.generation = k;
  r.change_ns = k * 3;
  r.reasons = static_cast<uint32_t>(k & 0xff);
  r.in_use = slot == kFlappingSlot && k % kFreeEvery == 0 ? 0 : 1;
  SetName(r.name, "bond" + std::to_string(slot) + "-" + std::to_string(k));
  SetName(r.dp_type, k % 2 ? "netdev" : "system");
  r.mode = static_cast<uint8_t>(1 + k % 3);
  r.lacp_status = static_cast<uint8_t>(1 + (k / 3) % 3);
  r.lacp_fallback_ab = static_cast<uint8_t>(k % 2);
  r.regime = static_cast<uint8_t>(1 + k % 6);
  r.n_members = static_cast<uint8_t>(2 + k % (RDMA_BOND_MAX_MEMBERS - 1));
  r.active_member = k % 4 == 0 ? RDMA_BOND_NO_MEMBER
                               : static_cast<uint8_t>(k % r.n_members);
  r.n_vectors = static_cast<uint8_t>(k % (RDMA_BOND_N_VECTORS + 1));
  r.basis = static_cast<uint32_t>(k) ^ 0x5a5a5a5a;
  r.flags = static_cast<uint32_t>(k & 0x7f);
  r.recirc_id = static_cast<uint32_t>(k * 7);
  for (uint8_t i = 0; i < r.n_members; i++) {
    rdma_bond_member& m = r.members[i];
    SetName(m.name, "m" + std::to_string(k) + "-" + std::to_string(i));
    m.ifindex = static_cast<uint32_t>(k + i);
    m.ofport = static_cast<uint32_t>(k * 2 + i);
    for (int b = 0; b < 6; b++) {
      m.mac[b] = static_cast<uint8_t>(k >> (8 * b)) ^ i;
    }
    m.flags = static_cast<uint16_t>((k + i) & 0xf);
  }
  for (size_t j = 0; j < RDMA_BOND_BUCKETS; j++) {
    r.buckets[j] = j % 16 == 15 ? RDMA_BOND_NO_MEMBER
                                : static_cast<uint8_t>((k + j) % r.n_members);
  }
  for (uint8_t v = 0; v < r.n_vectors; v++) {
    rdma_bond_hash_vector& vec = r.vectors[v];
    vec.ip_version = (k + v) % 2 ? 4 : 6;
    const size_t addr_len = vec.ip_version == 4 ? 4 : 16;
    for (size_t b = 0; b < addr_len; b++) {
      vec.src[b] = static_cast<uint8_t>(k + v + b);
      vec.dst[b] = static_cast<uint8_t>(k * 5 + v + b);
    }
    vec.sport_be = htons(static_cast<uint16_t>(0xc000 | ((k + v) & 0x3fff)));
    vec.dport_be = htons(4791);
    vec.nw_proto = 17;
    vec.hash_basis0 = static_cast<uint32_t>(k * 31 + v);
    vec.hash_basis = static_cast<uint32_t>(k * 37 + v);
    vec.hash_regime = static_cast<uint32_t>(k * 41 + v);
  }
  return r;
}

// What a reader may see: for each in-use slot, one stamp k at the time.
struct ReaderReport {
  int snapshots = 0;
  int failures = 0;            // Snapshot() errors.
  int mixed = 0;               // Records that are not StampedRecord(k).
  int backwards = 0;           // A k lower than the previous one.
  std::set<uint64_t> stamps;   // Distinct k seen in kSlot.
  std::string first_problem;
};

void CheckSnapshot(const TableSnapshot& snapshot,
                   std::vector<uint64_t>* last_k, ReaderReport* report) {
  for (const Bond& bond : snapshot.bonds) {
    const uint64_t k = bond.generation;
    Result<Bond> expected = DecodeBondRecord(bond.slot,
                                             StampedRecord(k, bond.slot));
    bool same = expected.ok();
    if (same) {
      expected->seq = bond.seq;  // The only field not derived from k.
      same = *expected == bond;
    }
    if (!same || (bond.slot != kSlot && bond.slot != kFlappingSlot)) {
      if (report->mixed++ == 0) {
        report->first_problem = "slot " + std::to_string(bond.slot) +
                                ": record is not the one of stamp " +
                                std::to_string(k) + " (name " + bond.name +
                                ")";
      }
      continue;
    }
    if (k < (*last_k)[bond.slot]) {
      if (report->backwards++ == 0) {
        report->first_problem = "slot " + std::to_string(bond.slot) +
                                ": stamp went back from " +
                                std::to_string((*last_k)[bond.slot]) +
                                " to " + std::to_string(k);
      }
    }
    (*last_k)[bond.slot] = k;
    if (bond.slot == kSlot) {
      report->stamps.insert(k);
    }
  }
}

// The readers' handle on a TableReader: their own, or one shared by all.
using SharedReader = Result<std::shared_ptr<const TableReader>>;

SharedReader Share(Result<std::unique_ptr<TableReader>> reader) {
  if (!reader.ok()) {
    return reader.status();
  }
  return std::shared_ptr<const TableReader>(std::move(*reader));
}

// Runs the writer against 'writable' and kReaders reader threads, each
// with the reader returned by 'open_reader', and checks what they saw.
void RunWriterAndReaders(testing::WritableTable* writable,
                         const std::function<SharedReader()>& open_reader) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> stored{0};

  std::thread writer([&] {
    for (uint64_t k = 1; !stop.load(std::memory_order_relaxed); k++) {
      writable->Store(kSlot, StampedRecord(k, kSlot));
      writable->Store(kFlappingSlot, StampedRecord(k, kFlappingSlot));
      if (k % kNotifyEvery == 0) {
        rdma_bond_table_notify(writable->header());
      }
      stored.store(k, std::memory_order_release);
    }
  });
  // Readers start once the first records are published.
  while (stored.load(std::memory_order_acquire) == 0) {
    std::this_thread::yield();
  }

  std::vector<ReaderReport> reports(kReaders);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; r++) {
    readers.emplace_back([&, r] {
      ReaderReport& report = reports[r];
      SharedReader reader = open_reader();
      if (!reader.ok()) {
        report.failures++;
        report.first_problem = reader.status().ToString();
        return;
      }
      std::vector<uint64_t> last_k(RDMA_BOND_MAX_BONDS, 0);
      uint32_t last_change_word = 0;
      for (int i = 0; i < kSnapshotsPerReader; i++) {
        Result<TableSnapshot> snapshot = (*reader)->Snapshot();
        report.snapshots++;
        if (!snapshot.ok()) {
          if (report.failures++ == 0) {
            report.first_problem = snapshot.status().ToString();
          }
          continue;
        }
        CheckSnapshot(*snapshot, &last_k, &report);
        const uint32_t change_word = (*reader)->ChangeWord();
        if (change_word < last_change_word) {
          report.backwards++;
          report.first_problem = "change word went backwards";
        }
        last_change_word = change_word;
      }
    });
  }
  for (std::thread& reader : readers) {
    reader.join();
  }
  stop.store(true, std::memory_order_relaxed);
  writer.join();

  std::set<uint64_t> all_stamps;
  for (int r = 0; r < kReaders; r++) {
    SCOPED_TRACE("reader " + std::to_string(r));
    const ReaderReport& report = reports[r];
    EXPECT_EQ(report.snapshots, kSnapshotsPerReader);
    EXPECT_EQ(report.failures, 0) << report.first_problem;
    EXPECT_EQ(report.mixed, 0) << report.first_problem;
    EXPECT_EQ(report.backwards, 0) << report.first_problem;
    all_stamps.insert(report.stamps.begin(), report.stamps.end());
  }
  // The test only means something if readers overlapped with stores.
  EXPECT_GT(all_stamps.size(), 1u) << "readers never saw the writer move";
  EXPECT_GT(stored.load(), 1u);
}

TEST(SeqlockTest, ReadersNeverSeeAMixSameMapping) {
  testing::TempDir dir;
  std::unique_ptr<testing::WritableTable> writable =
      testing::WritableTable::Create(dir.File(RDMA_BOND_TABLE_NAME));
  ASSERT_NE(writable, nullptr);
  RunWriterAndReaders(writable.get(), [&] {
    return Share(TableReader::FromMemory(writable->base(), writable->size(),
                                         "same-mapping"));
  });
}

TEST(SeqlockTest, ReadersNeverSeeAMixSeparateMappings) {
  testing::TempDir dir;
  const std::string path = dir.File(RDMA_BOND_TABLE_NAME);
  std::unique_ptr<testing::WritableTable> writable =
      testing::WritableTable::Create(path);
  ASSERT_NE(writable, nullptr);
  RunWriterAndReaders(writable.get(),
                      [&] { return Share(TableReader::Open(path)); });
}

TEST(SeqlockTest, ReadersShareOneTableReader) {
  // Snapshot() is const and may be called from many threads on one reader.
  testing::TempDir dir;
  const std::string path = dir.File(RDMA_BOND_TABLE_NAME);
  std::unique_ptr<testing::WritableTable> writable =
      testing::WritableTable::Create(path);
  ASSERT_NE(writable, nullptr);
  Result<std::unique_ptr<TableReader>> opened = TableReader::Open(path);
  ASSERT_TRUE(opened.ok());
  std::shared_ptr<const TableReader> shared = std::move(*opened);
  RunWriterAndReaders(writable.get(), [&] { return SharedReader(shared); });
}

}  // namespace
}  // namespace rdma_bond
