// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Test helpers: rdma-bond table files written the way ovs-vswitchd writes
// them, for the reader, seqlock and format tests.
//
// WritableTable creates a valid table file under a temporary name, renames
// it into place (as the writer does, so a reader never sees a half-built
// header) and keeps it mapped read-write.  Tests store records through the
// writer's own rdma_bond_record_store() (lib/rdma-bond-table.c) and may
// also scribble on the header or a record directly to build invalid tables.
//
// Thread-safety: a WritableTable has one writer thread, like the real
// table; direct scribbling is only for single-threaded setup.

#ifndef RDMA_BOND_TABLE_TEST_UTIL_H_
#define RDMA_BOND_TABLE_TEST_UTIL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "rdma-bond-table-writer.h"
#include "rdma-bond-table.h"

namespace rdma_bond::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents
// when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(std::string_view name) const;

 private:
  std::string path_;
};

// Header values of a new table.
struct TableOptions {
  uint64_t instance_id = UINT64_C(0x0123456789abcdef);
  uint64_t start_ns = 1000;
  uint32_t writer_pid = 0;        // 0: the test process.
  uint32_t hash_impl = RDMA_BOND_HASH_MHASH;
  const char* ovs_version = "3.1.0";
  uint64_t heartbeat_ns = 0;      // 0: now (CLOCK_MONOTONIC).
  // ABI v1.1: the location area and its header fields, as ovs-vswitchd
  // writes them.  false: a v1.0 table, as a writer before them.
  bool locations = false;
};

class WritableTable {
 public:
  // Creates 'path' (mode 0640, replacing any file there by rename) with a
  // valid header and free records.  Returns nullptr after reporting a
  // gtest failure if a system call fails.
  static std::unique_ptr<WritableTable> Create(
      const std::string& path, const TableOptions& options = {});
  ~WritableTable();
  WritableTable(const WritableTable&) = delete;
  WritableTable& operator=(const WritableTable&) = delete;

  rdma_bond_table_header* header() { return header_; }
  rdma_bond_record* record(size_t slot);
  void* base() { return header_; }
  size_t size() const { return size_; }

  // Stores 'record' into 'slot' with rdma_bond_record_store().
  void Store(size_t slot, const rdma_bond_record& record);
  // Stores 'record' and its RDMA_BOND_MAX_MEMBERS member locations 'locs'
  // with rdma_bond_record_store_locations().
  // REQUIRES: created with options.locations.
  void Store(size_t slot, const rdma_bond_record& record,
             const rdma_bond_member_location* locs);

 private:
  WritableTable() = default;
  rdma_bond_table_header* header_ = nullptr;
  size_t size_ = RDMA_BOND_TABLE_SIZE;
};

// RDMA_BOND_MAX_MEMBERS zeroed locations (dpdk_port UINT32_MAX), as the
// writer starts them.
std::array<rdma_bond_member_location, RDMA_BOND_MAX_MEMBERS> EmptyLocations();

// Copies 'text' into a fixed-size name field, null-terminated (truncated
// if needed).
template <size_t N>
void SetName(char (&field)[N], std::string_view text) {
  std::memset(field, 0, N);
  std::memcpy(field, text.data(), text.size() < N ? text.size() : N - 1);
}

// A valid in-use record: active-backup bond 'name' on datapath "netdev"
// with the given members (ofport i + 1, MAC aa:55:aa:55:00:<i+1>, enabled,
// may-enable, carrier), the first one active, generation 1, reason
// "added", no buckets assigned, no vectors.
rdma_bond_record MakeRecord(std::string_view name,
                            std::initializer_list<std::string_view> members = {
                                "p1", "p2"});

}  // namespace rdma_bond::testing

#endif  // RDMA_BOND_TABLE_TEST_UTIL_H_
