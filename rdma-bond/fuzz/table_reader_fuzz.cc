// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// libFuzzer target: arbitrary bytes as an rdma-bond table.
//
// The table is shared memory written by another program, so its reader
// must survive any content: it must reject what is invalid with a Status,
// never read outside the table, and hand out only Bonds whose every index
// is in range.  This target feeds bytes to TableReader::FromMemory(),
// takes a snapshot, checks the invariants that bond.h promises, and
// renders the result the way rdma-bondctl does (dump text and JSON, watch
// lines).  Any crash, sanitizer report or broken invariant is a bug.
//
// The first input byte chooses how the rest becomes a table, so that
// small inputs also reach the record decoder:
//
//   0  raw      The rest is the whole table, in a heap buffer of exactly
//               its size (ASan catches a read past it).  A buffer shorter
//               than RDMA_BOND_TABLE_SIZE must be rejected.
//   1  records  A valid header, then the rest as the records.
//   2  overlay  The rest laid over a valid table that holds two bonds.
//
// Buffers are 8-byte aligned, as FromMemory() requires (a misaligned one
// is checked to be rejected).  Every record's sequence count is made even:
// an odd one means "being written", which TableReader waits out for a
// second before giving up (tested by the unit tests), and would make the
// fuzzer crawl.
//
// Build and run: "make check-fuzz" (rdma-bond/fuzz/automake.mk).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "rdma-bond-table.h"
#include "rdma_bond/bond.h"
#include "rdma_bond/table_reader.h"
#include "table/table_format.h"
#include "tools/bondctl/ctl_watch.h"

namespace rdma_bond {
namespace {

enum Layout : uint8_t { kRaw = 0, kRecords = 1, kOverlay = 2, kLayouts = 3 };

// The dump renderings of a full table (64 bonds of 16 members) take about
// 100 ms under ASan, which would starve the fuzzer of executions; every
// rendering path is reached by a table of one bond, so tables with more
// than this many bonds are decoded and checked but not rendered by dump.
constexpr size_t kMaxRenderedBonds = 4;

// A fixed "now" keeps runs reproducible (ages are computed against it).
constexpr uint64_t kNowNs = UINT64_C(5000000000);

// Fails the run: libFuzzer reports the input that got here.
#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) {       \
      __builtin_trap();  \
    }                    \
  } while (0)

// An 8-byte aligned heap buffer of exactly 'size' bytes.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n)
      : size(n),
        data(static_cast<std::byte*>(
            ::operator new (n == 0 ? 1 : n, std::align_val_t{8}))) {}
  ~AlignedBuffer() { ::operator delete (data, std::align_val_t{8}); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  size_t size;
  std::byte* data;
};

void SetName(char* field, size_t size, const char* text) {
  std::memset(field, 0, size);
  std::strncpy(field, text, size - 1);
}

void FillHeader(rdma_bond_table_header* h) {
  std::memset(h, 0, sizeof *h);
  h->magic = RDMA_BOND_TABLE_MAGIC;
  h->abi_version = RDMA_BOND_ABI_VERSION;
  h->header_size = sizeof(rdma_bond_table_header);
  h->record_size = sizeof(rdma_bond_record);
  h->n_slots = RDMA_BOND_MAX_BONDS;
  h->max_members = RDMA_BOND_MAX_MEMBERS;
  h->n_buckets = RDMA_BOND_BUCKETS;
  h->instance_id = 1;
  h->writer_pid = 0;  // kill() is never asked about a real process.
  h->hash_impl = RDMA_BOND_HASH_MHASH;
  SetName(h->ovs_version, sizeof h->ovs_version, "3.1.0");
  h->heartbeat_ns = kNowNs;
  h->change_word = 1;
  h->n_used = 2;
}

void FillRecord(rdma_bond_record* r, const char* name, uint8_t mode) {
  std::memset(r, 0, sizeof *r);
  r->seq = 2;
  r->generation = 1;
  r->change_ns = kNowNs - 1000;
  r->reasons = RDMA_BOND_REASON_ADDED;
  r->in_use = 1;
  SetName(r->name, sizeof r->name, name);
  SetName(r->dp_type, sizeof r->dp_type, "netdev");
  r->mode = mode;
  r->lacp_status = RDMA_BOND_LACP_OFF;
  r->regime = mode == RDMA_BOND_MODE_BALANCE_TCP ? RDMA_BOND_REGIME_RECIRC
                                                 : RDMA_BOND_REGIME_NONE;
  r->n_members = 2;
  r->active_member = 0;
  for (uint8_t i = 0; i < 2; i++) {
    SetName(r->members[i].name, sizeof r->members[i].name,
            i == 0 ? "p1" : "p2");
    r->members[i].ofport = i + 1u;
    r->members[i].flags = RDMA_BOND_M_ENABLED | RDMA_BOND_M_CARRIER;
  }
  for (size_t b = 0; b < RDMA_BOND_BUCKETS; b++) {
    r->buckets[b] = static_cast<uint8_t>(b % 2);
  }
  r->n_vectors = 1;
  r->vectors[0].ip_version = 4;
  r->vectors[0].nw_proto = 17;
}

// A valid table with an active-backup and a balance-tcp bond.
void FillTable(std::byte* table) {
  auto* header = reinterpret_cast<rdma_bond_table_header*>(table);
  auto* records = reinterpret_cast<rdma_bond_record*>(header + 1);
  FillHeader(header);
  std::memset(records, 0, RDMA_BOND_MAX_BONDS * sizeof *records);
  FillRecord(&records[0], "bond0", RDMA_BOND_MODE_ACTIVE_BACKUP);
  FillRecord(&records[1], "bond1", RDMA_BOND_MODE_BALANCE_TCP);
}

// Clears bit 0 of every record's sequence count that lies in the buffer.
void MakeSeqsEven(std::byte* table, size_t size) {
  for (size_t slot = 0; slot < RDMA_BOND_MAX_BONDS; slot++) {
    const size_t offset = sizeof(rdma_bond_table_header) +
                          slot * sizeof(rdma_bond_record) +
                          offsetof(rdma_bond_record, seq);
    if (offset + sizeof(uint64_t) <= size) {
      uint64_t seq;
      std::memcpy(&seq, table + offset, sizeof seq);
      seq &= ~UINT64_C(1);
      std::memcpy(table + offset, &seq, sizeof seq);
    }
  }
}

// The promises of bond.h about a decoded Bond.
void CheckBond(const Bond& bond) {
  FUZZ_CHECK(bond.slot < RDMA_BOND_MAX_BONDS);
  FUZZ_CHECK(bond.seq % 2 == 0);
  FUZZ_CHECK(bond.name.size() < RDMA_BOND_NAME_LEN);
  FUZZ_CHECK(bond.members.size() <= RDMA_BOND_MAX_MEMBERS);
  FUZZ_CHECK(bond.vectors.size() <= RDMA_BOND_N_VECTORS);
  FUZZ_CHECK(!bond.active_member || *bond.active_member < bond.members.size());
  for (uint8_t owner : bond.buckets) {
    FUZZ_CHECK(owner == RDMA_BOND_NO_MEMBER || owner < bond.members.size());
  }
  size_t assigned = 0;
  for (size_t count : bond.BucketCounts()) {
    assigned += count;
  }
  FUZZ_CHECK(assigned + bond.UnassignedBuckets() == RDMA_BOND_BUCKETS);
  for (const Member& member : bond.members) {
    FUZZ_CHECK(member.name.size() < RDMA_BOND_NAME_LEN);
  }
  for (const HashVector& vector : bond.vectors) {
    FUZZ_CHECK(vector.ip_version == 4 || vector.ip_version == 6);
    FUZZ_CHECK(!FormatAddress(vector.ip_version, vector.src).empty());
  }
  FUZZ_CHECK(!ToString(bond.mode).empty());
  FUZZ_CHECK(!ToString(bond.lacp).empty());
  FUZZ_CHECK(!ToString(bond.regime).empty());
}

// A JSON Lines line is one line, whatever bytes the names hold.
void CheckOneLine(const std::string& line) {
  FUZZ_CHECK(!line.empty() && line.back() == '\n');
  FUZZ_CHECK(line.find('\n') == line.size() - 1);
}

// Reads the table at 'table' ('size' bytes) every way rdma-bondctl does.
void Exercise(const std::byte* table, size_t size) {
  Result<std::unique_ptr<TableReader>> reader =
      TableReader::FromMemory(table, size, "fuzz");
  if (size < RDMA_BOND_TABLE_SIZE) {
    FUZZ_CHECK(!reader.ok());
  }
  if (!reader.ok()) {
    FUZZ_CHECK(!reader.status().message().empty());
    return;
  }
  const TableReader& r = **reader;
  const uint32_t word = r.ChangeWord();
  // Without waiting: one look at the word, no system call.
  Result<ChangeWait> wait =
      r.WaitForChange(word + 1, std::chrono::nanoseconds(0));
  FUZZ_CHECK(wait.ok() && wait->changed());
  (void)r.Health(kNowNs);

  Result<TableSnapshot> snapshot = r.Snapshot(kNowNs);
  if (!snapshot.ok()) {
    FUZZ_CHECK(!snapshot.status().message().empty());
    return;
  }
  for (const Bond& bond : snapshot->bonds) {
    CheckBond(bond);
    CheckOneLine(FormatChange(BondChange{bond.name, bond}, word, kNowNs,
                              /*json=*/true));
    CheckOneLine(FormatChange(BondChange{bond.name, bond}, word, kNowNs,
                              /*json=*/false));
  }
  CheckOneLine(FormatAttach(*snapshot, /*json=*/true));
  CheckOneLine(FormatAttach(*snapshot, /*json=*/false));
  (void)TableWarnings(*snapshot);
  if (snapshot->bonds.size() > kMaxRenderedBonds) {
    return;
  }
  FUZZ_CHECK(!FormatTableText(*snapshot).empty());
  const std::string json = FormatTableJson(*snapshot);
  FUZZ_CHECK(!json.empty() && json.back() == '\n');
}

}  // namespace
}  // namespace rdma_bond

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rdma_bond;
  if (size == 0) {
    return 0;
  }
  const uint8_t layout = data[0] % kLayouts;
  const uint8_t* rest = data + 1;
  const size_t rest_size = size - 1;

  if (layout == kRaw) {
    AlignedBuffer buffer(rest_size);
    if (rest_size > 0) {
      std::memcpy(buffer.data, rest, rest_size);
    }
    MakeSeqsEven(buffer.data, rest_size);
    Exercise(buffer.data, rest_size);
    if (rest_size > 1) {
      // Misaligned memory is refused before it is read.
      FUZZ_CHECK(
          !TableReader::FromMemory(buffer.data + 1, rest_size - 1, "m").ok());
    }
    return 0;
  }

  AlignedBuffer buffer(RDMA_BOND_TABLE_SIZE);
  FillTable(buffer.data);
  const size_t offset = layout == kRecords ? sizeof(rdma_bond_table_header) : 0;
  if (layout == kRecords) {
    std::memset(buffer.data + offset, 0, RDMA_BOND_TABLE_SIZE - offset);
  }
  const size_t n = rest_size < RDMA_BOND_TABLE_SIZE - offset
                       ? rest_size
                       : RDMA_BOND_TABLE_SIZE - offset;
  if (n > 0) {
    std::memcpy(buffer.data + offset, rest, n);
  }
  MakeSeqsEven(buffer.data, RDMA_BOND_TABLE_SIZE);
  Exercise(buffer.data, RDMA_BOND_TABLE_SIZE);
  return 0;
}
