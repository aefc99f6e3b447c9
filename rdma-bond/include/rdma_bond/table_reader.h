// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// TableReader: a read-only view of the rdma-bond table.
//
// ovs-vswitchd publishes the decisions of every bond configured with
// other_config:rdma-bond=true into a fixed-size shared-memory file,
// $OVS_RUNDIR/rdma-bond.shm, whose layout and protocol are defined by
// lib/rdma-bond-table.h (ABI version 1).  A TableReader maps that file
// read-only (O_RDONLY, PROT_READ: a reader can never corrupt the writer),
// checks that its layout is the one this reader was built for, and takes
// snapshots: every in-use record copied out under its seqlock, validated
// and decoded into a Bond, together with the header and the health of the
// writer (heartbeat age, clean exit, process alive, file replaced by a
// restarted writer).
//
// Usage:
//   Result<std::unique_ptr<TableReader>> reader =
//       TableReader::Open(DefaultTablePath());
//   if (!reader.ok()) return reader.status();
//   Result<TableSnapshot> snapshot = (*reader)->Snapshot();
//
// Signals: a table truncated under the reader makes reads of the mapping
// raise SIGBUS.  Snapshot(), Health(), ChangeWord(), WaitForChange() and
// Reattach() read under a fault guard and report it as an error instead:
// the first of them installs a SIGBUS handler that turns a fault inside
// the table into that error and hands every other SIGBUS to the handler
// it replaced (or to the default action).  docs/security.md.
//
// Thread-safety: Snapshot(), ChangeWord(), WaitForChange(), WakeWaiters(),
// Health() and the accessors are const and may be called concurrently from
// any number of threads, while the writer (another process, or another
// thread) updates the table.  Reattach() replaces the mapping: it needs
// external synchronization, i.e. no other call on the same TableReader may
// run concurrently with it.

#ifndef RDMA_BOND_TABLE_READER_H_
#define RDMA_BOND_TABLE_READER_H_

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdma-bond-table.h"
#include "rdma_bond/bond.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// Where ovs-vswitchd keeps its run-time files when OVS_RUNDIR is not set
// (Debian's and most distributions' --localstatedir).
inline constexpr std::string_view kDefaultOvsRunDir = "/var/run/openvswitch";

// $OVS_RUNDIR/rdma-bond.shm if OVS_RUNDIR is set and not empty, otherwise
// kDefaultOvsRunDir/rdma-bond.shm.
std::string DefaultTablePath();

// CLOCK_MONOTONIC in nanoseconds: the clock of the table's heartbeat and
// change times.
uint64_t MonotonicNowNs();

// The table header as read at one moment.
struct TableInfo {
  std::string path;             // File path, or the label of FromMemory().
  uint32_t abi_version = 0;
  uint64_t instance_id = 0;     // Random per writer start.
  uint64_t start_ns = 0;        // CLOCK_MONOTONIC at writer start.
  uint32_t writer_pid = 0;
  uint32_t hash_impl = 0;       // enum rdma_bond_hash_impl (not validated).
  std::string ovs_version;
  // Atomic fields.  'change_word' was read (acquire) before the records:
  // the records of the snapshot are at least as new as this value.
  uint64_t heartbeat_ns = 0;
  uint32_t change_word = 0;
  uint32_t n_used = 0;
  uint32_t flags = 0;           // enum rdma_bond_table_flag.
  // ABI v1 additions: the writer's minor version and feature bits
  // (enum rdma_bond_table_feature), 0 from a writer before them.
  uint32_t minor_version = 0;
  uint32_t features = 0;
  // The members carry their locations (RDMA_BOND_FEATURE_LOCATIONS, in
  // a file long enough for them).
  bool locations = false;
};

// What the reader can tell about the writer.
struct WriterHealth {
  // Reader's CLOCK_MONOTONIC minus the heartbeat, in ms (0 if the
  // heartbeat is ahead of the reader's "now").
  uint64_t heartbeat_age_ms = 0;
  // heartbeat_age_ms > RDMA_BOND_STALE_MS: the writer is hung or dead.
  bool stale = false;
  // RDMA_BOND_TABLE_WRITER_EXITED is set: the table will not change.
  bool exited = false;
  // kill(writer_pid, 0) did not fail with ESRCH (pid 0 counts as dead).
  // Only meaningful in the writer's PID namespace.
  bool alive = false;
  // The path no longer names the mapped table (a restarted writer renamed
  // a new file into place, or the file was removed), or the mapped table's
  // instance id changed: call Reattach().  For FromMemory() only the
  // instance id is checked.
  bool replaced = false;
  // The path does not exist any more (implies 'replaced').
  bool removed = false;
};

// A consistent copy of the table: each Bond is one untorn version of its
// record (different records may be from different moments).
struct TableSnapshot {
  TableInfo table;
  WriterHealth health;
  uint64_t now_ns = 0;          // The "now" that ages are computed against.
  std::vector<Bond> bonds;      // In-use slots, in slot order.

  // The bond named 'name', or nullptr.  The pointer is into 'bonds'.
  const Bond* FindBond(std::string_view name) const;
};

// The outcome of TableReader::Reattach().
struct Reattachment {
  bool restarted = false;       // A new table is mapped now.
  uint64_t old_instance_id = 0;
  uint64_t new_instance_id = 0; // == old_instance_id when !restarted.
};

// The outcome of a TableReader::WaitForChange() that did not fail.
struct ChangeWait {
  enum class Outcome {
    kChanged,    // The change word differs from 'seen'.
    kTimedOut,   // The timeout passed and the change word is still 'seen'.
    kCancelled,  // '*cancel' was true after a wake-up; nothing changed.
  };
  Outcome outcome = Outcome::kTimedOut;
  uint32_t change_word = 0;     // The value read last (acquire).

  bool changed() const { return outcome == Outcome::kChanged; }
};

class TableReader {
 public:
  // How long a record may stay odd (being written) with the same sequence
  // count before Snapshot() gives up: a record store takes microseconds,
  // so this only happens if the writer died in the middle of one.
  static constexpr uint64_t kStuckWriterTimeoutMs = 1000;
  // Copy attempts that spin (with a CPU pause) before attempts yield the
  // CPU to let a preempted writer finish.
  static constexpr unsigned kSpinsBeforeYield = 1000;
  // The longest one Snapshot() waits for consistent records in all, however
  // busy the writer: a writer whose records never hold still for one copy
  // makes it fail with Unavailable instead of waiting without bound.
  static constexpr uint64_t kSnapshotDeadlineMs = 2000;
  static_assert(kSnapshotDeadlineMs > kStuckWriterTimeoutMs,
                "a dead writer is reported as such, not as a busy one");
  static_assert(kStuckWriterTimeoutMs >= 2 * RDMA_BOND_HEARTBEAT_MS,
                "a writer that still refreshes its heartbeat must never be "
                "taken for one that died in the middle of a store");

  // Opens the table file at 'path' (O_RDONLY), checks its header and maps
  // it PROT_READ, MAP_SHARED.  Each failure is one message that names the
  // file, the field, the value seen and the value expected.
  // Ownership: the caller owns the returned reader; it unmaps the table
  // when destroyed.  No file descriptor stays open.
  static Result<std::unique_ptr<TableReader>> Open(std::string path);

  // Attaches to a table that the caller has already mapped (for example
  // the writer itself, or a test that must show the reader and the writer
  // the same addresses).  'label' stands for the path in messages.
  // Restart detection is limited to the instance id (there is no file to
  // stat) and Reattach() fails.
  // REQUIRES: 'table' is 8-byte aligned, 'size' bytes are readable and
  // stay mapped for the lifetime of the reader.  Ownership: borrowed.
  static Result<std::unique_ptr<TableReader>> FromMemory(const void* table,
                                                         size_t size,
                                                         std::string label);

  ~TableReader();
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  // The path given to Open(), or the label given to FromMemory().
  const std::string& path() const { return label_; }

  // The instance id of the mapped table when it was opened.
  uint64_t instance_id() const { return instance_id_; }

  // Copies the header and every in-use record (seqlock reader protocol of
  // lib/rdma-bond-table.h), validates and decodes them, and checks the
  // writer's health against 'now_ns' (CLOCK_MONOTONIC; the other overload
  // reads the clock).  Never returns a torn record.  Fails if a record is
  // invalid (naming the slot and the field) or if a record stays half
  // written for kStuckWriterTimeoutMs.
  Result<TableSnapshot> Snapshot() const;
  Result<TableSnapshot> Snapshot(uint64_t now_ns) const;

  // The table's change word (acquire load): it changes whenever the writer
  // publishes.  A reader that compares it with the value of an earlier
  // snapshot knows whether to take a new one.  It is a 32-bit counter that
  // wraps: compare it for equality only.  A table truncated under the
  // reader reads as kUnreadableChangeWord (the next Snapshot() says why).
  uint32_t ChangeWord() const;
  static constexpr uint32_t kUnreadableChangeWord = UINT32_MAX;

  // Sleeps until the change word differs from 'seen' or 'timeout' passes,
  // without polling: FUTEX_WAIT on the header's 'change_word', which the
  // writer's rdma_bond_table_notify() increments and then FUTEX_WAKEs.
  // The futex is shared (no FUTEX_PRIVATE_FLAG): the kernel keys it by the
  // file's inode and offset, so the writer's wake reaches readers in other
  // processes through their own mappings; FUTEX_WAIT only reads the word,
  // so the PROT_READ mapping suffices.
  //
  // Returns kChanged and the new value as soon as the change word differs
  // from 'seen' (at once if it already does: pass the value of the last
  // snapshot and no publish in between is missed), kTimedOut once
  // 'timeout' has passed without a change (at once for a timeout <= 0).
  // Several publishes may coalesce into one kChanged.  Signals (EINTR), a
  // change that raced with going to sleep (EAGAIN), spurious wake-ups and
  // wakes that leave the word as it was (WakeWaiters() by another reader)
  // are absorbed: the wait goes on for what remains of 'timeout'.  Fails
  // only if the futex system call does (naming it and the table).
  //
  // If 'cancel' is not null, the wait also ends, with kCancelled, when
  // '*cancel' is true (checked before each sleep and after each wake-up).
  // To cancel a waiter in another thread, store true and call
  // WakeWaiters(); the store may land between the waiter's check and its
  // sleep, so repeat WakeWaiters() until the waiter is known to have
  // returned (ChangeNotifier's destructor does).
  //
  // Contract for callers: the change word of a table whose writer died or
  // restarted never moves again.  A restarted ovs-vswitchd publishes into
  // a new file (a wake on it does not reach a futex on the old one), a dead
  // one publishes nothing, and the heartbeat does not move the change word
  // (a hung writer wakes no one).  So never wait forever: wait in bounded
  // slices (ChangeNotifier uses 250 ms), and after each slice that timed
  // out check Health() and Reattach() when it says 'replaced'.  A clean
  // exit does move the change word (with RDMA_BOND_TABLE_WRITER_EXITED).
  Result<ChangeWait> WaitForChange(
      uint32_t seen, std::chrono::nanoseconds timeout,
      const std::atomic<bool>* cancel = nullptr) const;

  // Wakes every thread, in any process, that sleeps in WaitForChange() on
  // this table (FUTEX_WAKE on the change word: it writes nothing, so the
  // read-only mapping suffices).  Waiters whose change word did not move
  // go back to sleep; one whose 'cancel' is set returns.
  Status WakeWaiters() const;

  // The writer's health as Snapshot() would report it, read from the
  // header alone (no record is copied): cheap enough for every wait slice.
  WriterHealth Health() const;
  WriterHealth Health(uint64_t now_ns) const;

  // Checks whether the path still names the mapped table.  If the file was
  // replaced (new inode) or its instance id changed, a restarted writer
  // published a new table: maps it in place of the old one (which is
  // unmapped) and reports both instance ids.  On error the old mapping
  // stays.
  // REQUIRES: no concurrent call on this TableReader.
  Result<Reattachment> Reattach();

 private:
  TableReader() = default;

  const rdma_bond_table_header* header() const {
    return reinterpret_cast<const rdma_bond_table_header*>(base_);
  }
  const uint64_t* RecordWords(size_t slot) const;

  // Copies slot 'slot' into '*out' under its seqlock.  Returns whether the
  // slot is in use ('*out' is only written if it is).
  // Gives up with Unavailable at MonotonicNowNs() 'deadline_ns'.
  // With the location area, 'locations' (RDMA_BOND_MAX_MEMBERS entries)
  // gets the slot's member locations under the same seqlock.
  Result<bool> CopyRecord(size_t slot, rdma_bond_record* out,
                          rdma_bond_member_location* locations,
                          uint64_t deadline_ns) const;
  const uint64_t* LocationWords(size_t slot) const;

  // Reads the header's static and atomic fields.
  // The header's fields; std::nullopt if the file was truncated under the
  // mapping (the read faulted).
  std::optional<TableInfo> ReadInfo() const;
  std::optional<uint32_t> LoadChangeWord() const;
  Status TruncatedError() const;

  // Fills 'health' for a snapshot whose header is 'info'.
  WriterHealth CheckHealth(const TableInfo& info, uint64_t now_ns) const;

  void Swap(TableReader& other) noexcept;
  // Corruption if the mapped file is now shorter than the mapping.
  Status CheckStillMapped() const;

  std::string label_;
  const std::byte* base_ = nullptr;   // The table, 'readable_' bytes.
  size_t readable_ = 0;               // RDMA_BOND_TABLE_SIZE, or
                                      // RDMA_BOND_TABLE_FILE_SIZE with
                                      // the location area.
  bool locations_ = false;            // The location area is read.
  size_t mapped_size_ = 0;            // munmap() size if 'owns_mapping_'.
  bool owns_mapping_ = false;
  bool has_file_ = false;             // Opened from a path (not memory).
  int mapped_fd_ = -1;                // The mapped file, kept for fstat().
  dev_t dev_ = 0;                     // Identity of the mapped file.
  ino_t ino_ = 0;
  uint64_t instance_id_ = 0;          // Instance id when mapped.
  // Per slot, the odd sequence count of a record found half written for
  // over kStuckWriterTimeoutMs (0: none): the next snapshot that sees the
  // same count fails at once instead of waiting again.
  mutable std::array<std::atomic<uint64_t>, RDMA_BOND_MAX_BONDS> dead_seq_{};
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_TABLE_READER_H_
