// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/table_reader.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "common/hex.h"
#include "common/trusted_file.h"
#include "table/fault_guard.h"

namespace rdma_bond {

namespace {

constexpr uint64_t kNsPerMs = 1000 * 1000;

// The record is copied as 64-bit words (see lib/rdma-bond-table.h).
constexpr size_t kRecordWords = sizeof(rdma_bond_record) / sizeof(uint64_t);
// Words up to and including 'in_use': a free slot is recognized after
// copying only these.
// The member locations of one slot (ABI v1.1), copied the same way.
constexpr size_t kLocationWords = RDMA_BOND_MAX_MEMBERS *
                                  sizeof(rdma_bond_member_location) /
                                  sizeof(uint64_t);
static_assert(sizeof(rdma_bond_member_location) % sizeof(uint64_t) == 0 &&
                  RDMA_BOND_LOCATIONS_OFFSET % sizeof(uint64_t) == 0,
              "locations are copied as whole, aligned 64-bit words");
constexpr size_t kInUseWords =
    offsetof(rdma_bond_record, in_use) / sizeof(uint64_t) + 1;

static_assert(sizeof(rdma_bond_record) % sizeof(uint64_t) == 0,
              "records are copied as whole 64-bit words");
static_assert(offsetof(rdma_bond_record, seq) == 0,
              "the sequence count is the first word");
static_assert(kInUseWords > 1 && kInUseWords <= kRecordWords,
              "'in_use' lies in the record, after 'seq'");
static_assert(sizeof(rdma_bond_table_header) % alignof(uint64_t) == 0,
              "records start 64-bit aligned after the header");
// A lock-free 64-bit atomic load is a plain load.  A locked (or 16-byte
// cmpxchg-based) one would write to the PROT_READ mapping and fault.
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free,
              "64-bit loads from the read-only mapping must be lock-free");
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free,
              "32-bit loads from the read-only mapping must be lock-free");

// Loads a word of the read-only mapping atomically.  std::atomic_ref<const
// T> is C++26, so the constness is cast away; only load() is ever called,
// and load() of a lock-free atomic never stores.
template <typename T>
T AtomicLoad(const T* word, std::memory_order order) {
  return std::atomic_ref<T>(*const_cast<T*>(word)).load(order);
}

// Tells the CPU that this is a spin-wait loop.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Closes a file descriptor when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string Num(uint64_t value) { return std::to_string(value); }

// The hint that follows "No such file or directory" and similar.
std::string_view HintFor(int errnum) {
  switch (errnum) {
    case ENOENT:
      return "(is ovs-vswitchd running with a bond configured "
             "other_config:rdma-bond=true?)";
    case EACCES:
      return "(run as root or as a member of the file's group)";
  }
  return "";
}

Status ErrnoWithHint(std::string_view context, int errnum) {
  Status status = Status::FromErrno(context, errnum);
  std::string_view hint = HintFor(errnum);
  return hint.empty() ? status : status.WithHint(hint);
}

// Checks one fixed-size header field against this reader's layout.
Status CheckLayoutField(const std::string& label, const char* field,
                        uint32_t seen, uint32_t expected) {
  if (seen == expected) {
    return Status::OK();
  }
  return Status::NotSupported(
      label + ": " + field + " " + Num(seen) + ", expected " + Num(expected) +
      " for ABI version " + Num(RDMA_BOND_ABI_VERSION) +
      ": the writer was built from a different lib/rdma-bond-table.h");
}

// Validates a header copied out of a table of 'size' bytes.
Status ValidateHeader(const std::string& label,
                      const rdma_bond_table_header& header, uint64_t size) {
  if (header.magic != RDMA_BOND_TABLE_MAGIC) {
    return Status::Corruption(label + ": magic " + Hex64(header.magic) +
                              ", expected " + Hex64(RDMA_BOND_TABLE_MAGIC) +
                              " (\"RDMABND1\"): not an rdma-bond table");
  }
  if (header.abi_version != RDMA_BOND_ABI_VERSION) {
    const char* way_out = header.abi_version > RDMA_BOND_ABI_VERSION
                              ? "upgrade ovs-rdma-bond"
                              : "ovs-vswitchd is older than this reader: "
                                "install matching ovs-rdma-bond packages";
    return Status::NotSupported(label + ": ABI version " +
                                Num(header.abi_version) +
                                ", this reader understands " +
                                Num(RDMA_BOND_ABI_VERSION) + ": " + way_out);
  }
  const struct {
    const char* field;
    uint32_t seen;
    uint32_t expected;
  } layout[] = {
      {"header_size", header.header_size, sizeof(rdma_bond_table_header)},
      {"record_size", header.record_size, sizeof(rdma_bond_record)},
      {"n_slots", header.n_slots, RDMA_BOND_MAX_BONDS},
      {"max_members", header.max_members, RDMA_BOND_MAX_MEMBERS},
      {"n_buckets", header.n_buckets, RDMA_BOND_BUCKETS},
  };
  for (const auto& f : layout) {
    Status status = CheckLayoutField(label, f.field, f.seen, f.expected);
    if (!status.ok()) {
      return status;
    }
  }
  if (size < RDMA_BOND_TABLE_SIZE) {
    return Status::Corruption(label + ": file is " + Num(size) +
                              " bytes, expected at least " +
                              Num(RDMA_BOND_TABLE_SIZE) + ": truncated table");
  }
  return Status::OK();
}

// Whether a table of 'size' bytes with 'header' (validated) has the
// location area of ABI v1.1 where this reader knows it.  A writer's
// feature bit with another offset or entry size is a layout this reader
// does not know: read without it, as from an old writer.
bool HasLocations(const rdma_bond_table_header& header, uint64_t size) {
  return (header.features & RDMA_BOND_FEATURE_LOCATIONS) &&
         header.locations_offset == RDMA_BOND_LOCATIONS_OFFSET &&
         header.location_size == sizeof(rdma_bond_member_location) &&
         size >= RDMA_BOND_TABLE_FILE_SIZE;
}

// Whether process 'pid' exists.  EPERM means it exists but belongs to
// someone else; any error but ESRCH is taken as "alive" rather than raise a
// false alarm.
bool ProcessAlive(uint32_t pid) {
  if (pid == 0 || pid > static_cast<uint32_t>(INT_MAX)) {
    return false;  // kill(0, ...) would address our own process group.
  }
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

}  // namespace

std::string DefaultTablePath() {
  const char* rundir = std::getenv("OVS_RUNDIR");
  std::string path = rundir != nullptr && *rundir != '\0'
                         ? std::string(rundir)
                         : std::string(kDefaultOvsRunDir);
  return path + "/" + RDMA_BOND_TABLE_NAME;
}

uint64_t MonotonicNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 * kNsPerMs +
         static_cast<uint64_t>(ts.tv_nsec);
}

const Bond* TableSnapshot::FindBond(std::string_view name) const {
  for (const Bond& bond : bonds) {
    if (bond.name == name) {
      return &bond;
    }
  }
  return nullptr;
}

Result<std::unique_ptr<TableReader>> TableReader::Open(std::string path) {
  // O_NONBLOCK: a FIFO or device named by mistake must not block the open
  // (it is then refused as not a regular file); regular files ignore it.
  // O_NOFOLLOW: a symbolic link at the table's name is refused, not
  // followed (docs/security.md).
  ScopedFd fd(open(path.c_str(),
                   O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      return Status::InvalidArgument("rdma-bond table " + path +
                                     ": is a symbolic link; refusing it");
    }
    return ErrnoWithHint(path, errno);
  }
  struct stat st;
  if (fstat(fd.get(), &st) < 0) {
    return Status::FromErrno("fstat " + path, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path + ": not a regular file");
  }
  // Only root, the reader itself or the run directory's owner (the OVS
  // user) may have written it, and nobody else may change it.
  Status trusted = CheckTrustedFile("rdma-bond table", path, st,
                                    FileKind::kRegular);
  if (!trusted.ok()) {
    return trusted;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < sizeof(rdma_bond_table_header)) {
    return Status::Corruption(
        path + ": file is " + Num(size) + " bytes, too short for the " +
        Num(sizeof(rdma_bond_table_header)) +
        "-byte header: not an rdma-bond table");
  }

  // Validate a private copy of the header before mapping, so that a file of
  // another layout or a truncated one is never touched through the mapping
  // (reading past the end of a mapped file raises SIGBUS).
  rdma_bond_table_header header;
  ssize_t n = pread(fd.get(), &header, sizeof header, 0);
  if (n < 0) {
    return Status::FromErrno("read " + path, errno);
  }
  if (static_cast<size_t>(n) != sizeof header) {
    return Status::Corruption(path + ": short read of the header (" +
                              Num(static_cast<uint64_t>(n)) + " bytes)");
  }
  Status status = ValidateHeader(path, header, size);
  if (!status.ok()) {
    return status;
  }

  const bool locations = HasLocations(header, size);
  const size_t readable =
      locations ? RDMA_BOND_TABLE_FILE_SIZE : RDMA_BOND_TABLE_SIZE;
  void* base = mmap(nullptr, readable, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) {
    return Status::FromErrno("mmap " + path, errno);
  }

  std::unique_ptr<TableReader> reader(new TableReader());
  reader->label_ = std::move(path);
  reader->base_ = static_cast<const std::byte*>(base);
  reader->readable_ = readable;
  reader->locations_ = locations;
  reader->mapped_size_ = readable;
  reader->owns_mapping_ = true;
  reader->has_file_ = true;
  reader->mapped_fd_ = fd.release();
  reader->dev_ = st.st_dev;
  reader->ino_ = st.st_ino;
  // Relaxed: 'instance_id' is written before the file is renamed into
  // place and never changes; atomic only so that an in-place rewrite (a
  // broken writer) would be a detected change rather than a data race.
  reader->instance_id_ =
      AtomicLoad(&reader->header()->instance_id, std::memory_order_relaxed);
  return reader;
}

Result<std::unique_ptr<TableReader>> TableReader::FromMemory(
    const void* table, size_t size, std::string label) {
  if (table == nullptr ||
      reinterpret_cast<uintptr_t>(table) % alignof(uint64_t) != 0) {
    return Status::InvalidArgument(label +
                                   ": table memory is not 8-byte aligned");
  }
  if (size < sizeof(rdma_bond_table_header)) {
    return Status::Corruption(
        label + ": " + Num(size) + " bytes, too short for the " +
        Num(sizeof(rdma_bond_table_header)) + "-byte header");
  }
  rdma_bond_table_header header;
  std::memcpy(&header, table, sizeof header);
  Status status = ValidateHeader(label, header, size);
  if (!status.ok()) {
    return status;
  }
  std::unique_ptr<TableReader> reader(new TableReader());
  reader->label_ = std::move(label);
  reader->base_ = static_cast<const std::byte*>(table);
  reader->locations_ = HasLocations(header, size);
  reader->readable_ =
      reader->locations_ ? RDMA_BOND_TABLE_FILE_SIZE : RDMA_BOND_TABLE_SIZE;
  reader->instance_id_ = header.instance_id;
  return reader;
}

TableReader::~TableReader() {
  if (owns_mapping_) {
    munmap(const_cast<std::byte*>(base_), mapped_size_);
  }
  if (mapped_fd_ >= 0) close(mapped_fd_);
}

Status TableReader::CheckStillMapped() const {
  if (mapped_fd_ < 0) return Status::OK();
  struct stat st;
  if (fstat(mapped_fd_, &st) < 0) {
    return Status::FromErrno("fstat " + label_, errno);
  }
  if (static_cast<uint64_t>(st.st_size) < mapped_size_) {
    return Status::Corruption(
        label_ + ": the table was truncated to " +
        Num(static_cast<uint64_t>(st.st_size)) + " bytes under this reader "
        "(it maps " + Num(mapped_size_) + "): ovs-vswitchd never does that, "
        "and reading the mapping now would crash (SIGBUS)");
  }
  return Status::OK();
}

void TableReader::Swap(TableReader& other) noexcept {
  std::swap(label_, other.label_);
  std::swap(base_, other.base_);
  std::swap(readable_, other.readable_);
  std::swap(locations_, other.locations_);
  std::swap(mapped_size_, other.mapped_size_);
  std::swap(owns_mapping_, other.owns_mapping_);
  std::swap(has_file_, other.has_file_);
  std::swap(mapped_fd_, other.mapped_fd_);
  std::swap(dev_, other.dev_);
  std::swap(ino_, other.ino_);
  std::swap(instance_id_, other.instance_id_);
  // Another table: what was found dead in the old one says nothing.
  for (size_t slot = 0; slot < RDMA_BOND_MAX_BONDS; slot++) {
    dead_seq_[slot].store(0, std::memory_order_relaxed);
    other.dead_seq_[slot].store(0, std::memory_order_relaxed);
  }
}

const uint64_t* TableReader::RecordWords(size_t slot) const {
  return reinterpret_cast<const uint64_t*>(
      base_ + sizeof(rdma_bond_table_header) +
      slot * sizeof(rdma_bond_record));
}

const uint64_t* TableReader::LocationWords(size_t slot) const {
  return reinterpret_cast<const uint64_t*>(
      base_ + RDMA_BOND_LOCATIONS_OFFSET +
      slot * RDMA_BOND_MAX_MEMBERS * sizeof(rdma_bond_member_location));
}

std::optional<uint32_t> TableReader::LoadChangeWord() const {
  uint32_t word = 0;
  // Acquire: synchronizes with the release increment in
  // rdma_bond_table_notify(), so records published before that increment
  // are visible (they are still read under their seqlocks).
  if (!RunGuarded(base_, readable_, [&] {
        word = AtomicLoad(&header()->change_word, std::memory_order_acquire);
      })) {
    return std::nullopt;
  }
  return word;
}

uint32_t TableReader::ChangeWord() const {
  return LoadChangeWord().value_or(kUnreadableChangeWord);
}

namespace {

// FUTEX_WAIT on the shared 32-bit word 'word' while it holds 'expected',
// for at most 'timeout' (relative, CLOCK_MONOTONIC).  Returns 0 when woken
// (perhaps spuriously), otherwise the errno: EAGAIN (the word did not hold
// 'expected'), ETIMEDOUT, EINTR, or a real failure.
int FutexWait(const uint32_t* word, uint32_t expected,
              const struct timespec* timeout) {
  // Not FUTEX_PRIVATE_FLAG: the writer is another process with its own
  // mapping.  The kernel only reads the word (the mapping is PROT_READ).
  long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, nullptr,
                    0);
  return rc == 0 ? 0 : errno;
}

struct timespec ToTimespec(std::chrono::nanoseconds duration) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(duration);
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(secs.count());
  ts.tv_nsec = static_cast<long>((duration - secs).count());
  return ts;
}

}  // namespace

Result<ChangeWait> TableReader::WaitForChange(
    uint32_t seen, std::chrono::nanoseconds timeout,
    const std::atomic<bool>* cancel) const {
  // steady_clock is CLOCK_MONOTONIC, the clock of FUTEX_WAIT's timeout.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const std::chrono::nanoseconds budget =
      std::max(timeout, std::chrono::nanoseconds::zero());
  ChangeWait result;

  for (;;) {
    // Acquire (in ChangeWord()): synchronizes with the release increment in
    // rdma_bond_table_notify(), so the records published before it are
    // visible to the caller's next snapshot.
    std::optional<uint32_t> word = LoadChangeWord();
    if (!word) return TruncatedError();
    result.change_word = *word;
    if (result.change_word != seen) {
      result.outcome = ChangeWait::Outcome::kChanged;
      return result;
    }
    // Acquire: synchronizes with the canceller's release store of 'true',
    // made before its WakeWaiters().
    if (cancel != nullptr && cancel->load(std::memory_order_acquire)) {
      result.outcome = ChangeWait::Outcome::kCancelled;
      return result;
    }
    const std::chrono::nanoseconds elapsed = Clock::now() - start;
    if (elapsed >= budget) {
      result.outcome = ChangeWait::Outcome::kTimedOut;
      return result;
    }
    const struct timespec remaining = ToTimespec(budget - elapsed);
    const int error = FutexWait(&header()->change_word, seen, &remaining);
    switch (error) {
      case 0:          // Woken by the writer, by WakeWaiters() or spuriously.
      case EAGAIN:     // The word moved before the kernel queued us.
      case EINTR:      // A signal handler ran.
      case ETIMEDOUT:  // The loop re-checks the word, then times out.
        continue;
      default:
        return Status::FromErrno(
            "futex wait on the change word of " + label_, error);
    }
  }
}

Status TableReader::WakeWaiters() const {
  long rc = syscall(SYS_futex, &header()->change_word, FUTEX_WAKE, INT_MAX,
                    nullptr, nullptr, 0);
  if (rc < 0) {
    return Status::FromErrno("futex wake on the change word of " + label_,
                             errno);
  }
  return Status::OK();
}

Result<bool> TableReader::CopyRecord(size_t slot, rdma_bond_record* out,
                                     rdma_bond_member_location* locations,
                                     uint64_t deadline_ns) const {
  const uint64_t* shared = RecordWords(slot);
  const uint64_t* shared_locations =
      locations && locations_ ? LocationWords(slot) : nullptr;
  std::array<uint64_t, kRecordWords> copy{};
  std::array<uint64_t, kLocationWords> location_copy{};
  uint64_t stuck_seq = 0;        // Odd count seen on the last attempt...
  uint64_t stuck_since_ns = 0;   // ...and since when (0: not timing).

  for (unsigned attempt = 0;; attempt++) {
    // Acquire: synchronizes with the release store of the even count that
    // ends rdma_bond_record_store(): every field stored before it is
    // visible to the loads below.
    const uint64_t seq = AtomicLoad(&shared[0], std::memory_order_acquire);
    if (seq % 2 == 0) {
      copy[0] = seq;
      // Relaxed: the writer stores every word with relaxed atomic stores;
      // the acquire fence below orders these loads before the re-check.
      for (size_t i = 1; i < kInUseWords; i++) {
        copy[i] = AtomicLoad(&shared[i], std::memory_order_relaxed);
      }
      uint32_t in_use;
      std::memcpy(&in_use,
                  reinterpret_cast<const std::byte*>(copy.data()) +
                      offsetof(rdma_bond_record, in_use),
                  sizeof in_use);
      if (in_use != 0) {
        for (size_t i = kInUseWords; i < kRecordWords; i++) {
          copy[i] = AtomicLoad(&shared[i], std::memory_order_relaxed);
        }
        // Written under the record's count, like its own fields.
        for (size_t i = 0; shared_locations && i < kLocationWords; i++) {
          location_copy[i] =
              AtomicLoad(&shared_locations[i], std::memory_order_relaxed);
        }
      }
      // Acquire fence: synchronizes with the release fence that follows
      // the writer's odd count in rdma_bond_record_store().  If any load
      // above saw a field of a later store, the count loaded below is that
      // store's odd count or later, so the copy is retried.
      std::atomic_thread_fence(std::memory_order_acquire);
      // Relaxed: ordered after the copy by the fence above.
      if (AtomicLoad(&shared[0], std::memory_order_relaxed) == seq) {
        if (dead_seq_[slot].load(std::memory_order_relaxed) != 0) {
          dead_seq_[slot].store(0, std::memory_order_relaxed);
        }
        if (in_use != 0) {
          *out = std::bit_cast<rdma_bond_record>(copy);
          if (shared_locations) {
            std::memcpy(locations, location_copy.data(),
                        sizeof location_copy);
          }
        }
        return in_use != 0;
      }
    }

    if (attempt < kSpinsBeforeYield) {
      CpuRelax();
      continue;
    }
    // The writer is slow (preempted) or dead.  Give up only if the count
    // stays odd with the same value: a writer that makes progress, however
    // busy, is waited for.
    const uint64_t now = MonotonicNowNs();
    if (seq % 2 == 1) {
      // Found dead by an earlier snapshot, and no store since: say so now
      // rather than spend another kStuckWriterTimeoutMs on every snapshot.
      if (seq == dead_seq_[slot].load(std::memory_order_relaxed)) {
        return Status::Unavailable(
            label_ + ": slot " + Num(slot) + ": record is still half " +
            "written (seq " + Num(seq) + ", as at the last snapshot): " +
            "ovs-vswitchd died or hangs in the middle of an update; "
            "restart it");
      }
      if (stuck_since_ns == 0 || seq != stuck_seq) {
        stuck_seq = seq;
        stuck_since_ns = now;
      } else if (now - stuck_since_ns > kStuckWriterTimeoutMs * kNsPerMs) {
        dead_seq_[slot].store(seq, std::memory_order_relaxed);
        return Status::Unavailable(
            label_ + ": slot " + Num(slot) + ": record has been half written " +
            "for over " + Num(kStuckWriterTimeoutMs) + " ms (seq " + Num(seq) +
            " stays odd): ovs-vswitchd died or hangs in the middle of an "
            "update; restart it");
      }
    } else {
      stuck_since_ns = 0;
    }
    if (now > deadline_ns) {
      return Status::Unavailable(
          label_ + ": slot " + Num(slot) + ": record kept changing for " +
          "over " + Num(kSnapshotDeadlineMs) + " ms (seq " + Num(seq) +
          "): its writer stores faster than a reader can copy it; "
          "ovs-vswitchd misbehaves");
    }
    std::this_thread::yield();
  }
}

std::optional<TableInfo> TableReader::ReadInfo() const {
  // Copied under the guard into plain memory first; the strings are built
  // from the copy, so that a fault never interrupts an allocation.
  rdma_bond_table_header h;
  const bool read = RunGuarded(base_, readable_, [&] {
    const rdma_bond_table_header* shared = header();
    // The fields up to 'ovs_version' are written before the file is
    // renamed into place and never change.
    h.abi_version = shared->abi_version;
    h.instance_id =
        AtomicLoad(&shared->instance_id, std::memory_order_relaxed);
    h.start_ns = shared->start_ns;
    h.writer_pid = shared->writer_pid;
    h.hash_impl = shared->hash_impl;
    std::memcpy(h.ovs_version, shared->ovs_version, sizeof h.ovs_version);
    h.minor_version = shared->minor_version;
    h.features = shared->features;
    // Acquire: synchronizes with the release store in
    // rdma_bond_table_set_flags(): a reader that sees WRITER_EXITED sees
    // the final records, which are read after this.
    h.flags = AtomicLoad(&shared->flags, std::memory_order_acquire);
    // Acquire: synchronizes with the release increment in
    // rdma_bond_table_notify(); read before the records, so the snapshot
    // is at least as new as this value.
    h.change_word =
        AtomicLoad(&shared->change_word, std::memory_order_acquire);
    // Relaxed: a count for display, and a clock value compared with ours;
    // neither orders other memory.
    h.n_used = AtomicLoad(&shared->n_used, std::memory_order_relaxed);
    h.heartbeat_ns =
        AtomicLoad(&shared->heartbeat_ns, std::memory_order_relaxed);
  });
  if (!read) return std::nullopt;

  TableInfo info;
  info.path = label_;
  info.abi_version = h.abi_version;
  info.instance_id = h.instance_id;
  info.start_ns = h.start_ns;
  info.writer_pid = h.writer_pid;
  info.hash_impl = h.hash_impl;
  info.ovs_version.assign(h.ovs_version,
                          strnlen(h.ovs_version, sizeof h.ovs_version));
  info.flags = h.flags;
  info.minor_version = h.minor_version;
  info.features = h.features;
  info.locations = locations_;
  info.change_word = h.change_word;
  info.n_used = h.n_used;
  info.heartbeat_ns = h.heartbeat_ns;
  return info;
}

Status TableReader::TruncatedError() const {
  return Status::Corruption(
      label_ + ": the table was truncated under this reader (a read of it "
               "faulted): ovs-vswitchd restarted or something else rewrote "
               "the file");
}

WriterHealth TableReader::CheckHealth(const TableInfo& info,
                                      uint64_t now_ns) const {
  WriterHealth health;
  health.heartbeat_age_ms =
      now_ns > info.heartbeat_ns ? (now_ns - info.heartbeat_ns) / kNsPerMs : 0;
  health.stale = health.heartbeat_age_ms > RDMA_BOND_STALE_MS;
  health.exited = info.flags & RDMA_BOND_TABLE_WRITER_EXITED;
  health.alive = ProcessAlive(info.writer_pid);
  if (has_file_) {
    struct stat st;
    if (stat(label_.c_str(), &st) < 0) {
      // Any other error (EACCES on a directory...) says nothing about
      // the file: do not raise an alarm.
      health.removed = errno == ENOENT;
      health.replaced = health.removed;
    } else {
      health.replaced = st.st_dev != dev_ || st.st_ino != ino_;
    }
  }
  if (info.instance_id != instance_id_) {
    health.replaced = true;
  }
  return health;
}

WriterHealth TableReader::Health() const { return Health(MonotonicNowNs()); }

WriterHealth TableReader::Health(uint64_t now_ns) const {
  if (!CheckStillMapped().ok()) {
    // Nothing of the mapping can be read: a table that is not the one
    // mapped any more (Reattach() opens it again, or says why not).
    WriterHealth health;
    health.stale = true;
    health.replaced = true;
    return health;
  }
  std::optional<TableInfo> info = ReadInfo();
  if (!info) {
    WriterHealth health;
    health.stale = true;
    health.replaced = true;
    return health;
  }
  return CheckHealth(*info, now_ns);
}

Result<TableSnapshot> TableReader::Snapshot() const {
  // A heartbeat stored after this clock read gives an age of 0, which is
  // right: the writer is alive.
  return Snapshot(MonotonicNowNs());
}

Result<TableSnapshot> TableReader::Snapshot(uint64_t now_ns) const {
  // A truncated file would make every read of the mapping below raise
  // SIGBUS.  (A truncation between this check and the reads still can:
  // only root or the OVS user may write the table.)
  if (Status status = CheckStillMapped(); !status.ok()) return status;
  // On the real clock, whatever 'now_ns' says.
  const uint64_t deadline_ns = MonotonicNowNs() + kSnapshotDeadlineMs * kNsPerMs;
  // A truncation after that check faults in a guarded read, which is
  // reported like the check's own finding (fault_guard.h).
  std::optional<TableInfo> info = ReadInfo();
  if (!info) return TruncatedError();
  TableSnapshot snapshot;
  snapshot.table = std::move(*info);
  for (size_t slot = 0; slot < RDMA_BOND_MAX_BONDS; slot++) {
    rdma_bond_record record;
    std::array<rdma_bond_member_location, RDMA_BOND_MAX_MEMBERS> locations;
    Result<bool> in_use = false;
    if (!RunGuarded(base_, readable_, [&] {
          in_use = CopyRecord(slot, &record, locations.data(), deadline_ns);
        })) {
      return TruncatedError();
    }
    if (!in_use.ok()) {
      return in_use.status();
    }
    if (!*in_use) {
      continue;
    }
    Result<Bond> bond = DecodeBondRecord(
        slot, record, locations_ ? locations.data() : nullptr);
    if (!bond.ok()) {
      return bond.status().WithPrefix(label_);
    }
    snapshot.bonds.push_back(std::move(*bond));
  }
  snapshot.now_ns = now_ns;
  snapshot.health = CheckHealth(snapshot.table, snapshot.now_ns);
  return snapshot;
}

Result<Reattachment> TableReader::Reattach() {
  if (!has_file_) {
    return Status::InvalidArgument(
        label_ + ": attached to memory, not to a file: cannot reattach");
  }
  Reattachment result;
  result.old_instance_id = instance_id_;
  result.new_instance_id = instance_id_;

  struct stat st;
  if (stat(label_.c_str(), &st) < 0) {
    return ErrnoWithHint(label_, errno);
  }
  uint64_t mapped_id = 0;
  const bool read = RunGuarded(base_, readable_, [&] {
    mapped_id = AtomicLoad(&header()->instance_id, std::memory_order_relaxed);
  });
  if (read && st.st_dev == dev_ && st.st_ino == ino_ &&
      mapped_id == instance_id_) {
    return result;
  }

  // Map whatever file the path names now (it may have been replaced again
  // since the stat() above; Open() records the identity it mapped).
  Result<std::unique_ptr<TableReader>> fresh = Open(label_);
  if (!fresh.ok()) {
    return fresh.status();
  }
  Swap(**fresh);  // '*fresh' now holds the old mapping and unmaps it.
  result.restarted = true;
  result.new_instance_id = instance_id_;
  return result;
}

}  // namespace rdma_bond
