// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/load_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace rdma_bond::agent {

namespace {

static_assert(std::atomic_ref<uint64_t>::is_always_lock_free,
              "readers in other processes share the table's words");

std::atomic_ref<uint64_t> Word(uint64_t* p) {
  return std::atomic_ref<uint64_t>(*p);
}

// Copies 'name' into a RDMA_BOND_NAME_LEN field; false if it does not fit.
bool CopyName(char (&to)[RDMA_BOND_NAME_LEN], const std::string& name) {
  if (name.empty() || name.size() >= RDMA_BOND_NAME_LEN) return false;
  std::memcpy(to, name.c_str(), name.size() + 1);
  return true;
}

}  // namespace

uint64_t BondLoad::movable_total() const {
  uint64_t total = 0;
  for (uint64_t b : buckets) total += b;
  return total;
}

uint64_t BondLoad::pinned_total() const {
  uint64_t total = 0;
  for (const auto& [member, bytes] : pinned) total += bytes;
  return total;
}

LoadTable::LoadTable(std::string path, void* base, uint64_t instance_id)
    : path_(std::move(path)), base_(base), instance_id_(instance_id) {}

LoadTable::~LoadTable() {
  munmap(base_, RDMA_BOND_LOAD_SIZE);
  unlink(path_.c_str());
}

Result<std::unique_ptr<LoadTable>> LoadTable::Create(const std::string& path,
                                                     uint64_t now_ns) {
  const std::string where = "load table " + path;
  std::string tmp = path + ".XXXXXX";
  int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(where + ": create", errno);
  void* base = MAP_FAILED;
  // mkostemp() made it 0600; readers may be another user (OVS's).
  if (fchmod(fd, 0644) == 0 && ftruncate(fd, RDMA_BOND_LOAD_SIZE) == 0) {
    base = mmap(nullptr, RDMA_BOND_LOAD_SIZE, PROT_READ | PROT_WRITE,
                MAP_SHARED, fd, 0);
  }
  const int error = base == MAP_FAILED ? errno : 0;
  close(fd);
  if (base == MAP_FAILED) {
    unlink(tmp.c_str());
    return Status::FromErrno(where + ": size or map", error);
  }
  uint64_t instance_id = 0;
  while (instance_id == 0) {
    if (getrandom(&instance_id, sizeof instance_id, 0) !=
        sizeof instance_id) {
      instance_id = static_cast<uint64_t>(now_ns) ^
                    (static_cast<uint64_t>(getpid()) << 32);
    }
  }
  // Nobody else sees the file before the rename: plain stores.
  auto* h = static_cast<rdma_bond_load_header*>(base);
  h->magic = RDMA_BOND_LOAD_MAGIC;
  h->abi_version = RDMA_BOND_LOAD_ABI_VERSION;
  h->header_size = sizeof(rdma_bond_load_header);
  h->record_size = sizeof(rdma_bond_load_record);
  h->n_slots = RDMA_BOND_LOAD_MAX_BONDS;
  h->n_buckets = RDMA_BOND_BUCKETS;
  h->max_members = RDMA_BOND_MAX_MEMBERS;
  h->instance_id = instance_id;
  h->start_ns = now_ns;
  h->writer_pid = static_cast<uint32_t>(getpid());
  h->heartbeat_ns = now_ns;
  if (rename(tmp.c_str(), path.c_str()) < 0) {
    const int e = errno;
    munmap(base, RDMA_BOND_LOAD_SIZE);
    unlink(tmp.c_str());
    return Status::FromErrno(where + ": rename", e);
  }
  return std::unique_ptr<LoadTable>(new LoadTable(path, base, instance_id));
}

void LoadTable::Store(size_t slot, const rdma_bond_load_record& record) {
  auto* records = reinterpret_cast<rdma_bond_load_record*>(
      static_cast<char*>(base_) + sizeof(rdma_bond_load_header));
  auto* to = reinterpret_cast<uint64_t*>(&records[slot]);
  const auto* from = reinterpret_cast<const uint64_t*>(&record);
  constexpr size_t kWords = sizeof record / sizeof(uint64_t);
  // The seqlock of lib/rdma-bond-load.h, as lib/rdma-bond-table.c writes
  // it: odd count, release fence, the words, even count with release.
  const uint64_t seq = Word(&to[0]).load(std::memory_order_relaxed);
  Word(&to[0]).store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 1; i < kWords; i++) {
    Word(&to[i]).store(from[i], std::memory_order_relaxed);
  }
  Word(&to[0]).store(seq + 2, std::memory_order_release);
}

void LoadTable::Publish(const std::map<std::string, BondLoad>& loads,
                        uint64_t now_ns) {
  // Release the slots of bonds that are gone.
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (loads.count(it->first)) {
      ++it;
      continue;
    }
    Store(it->second, rdma_bond_load_record{});
    it = slots_.erase(it);
  }
  std::vector<bool> used(RDMA_BOND_LOAD_MAX_BONDS, false);
  for (const auto& [bond, slot] : slots_) used[slot] = true;
  for (const auto& [bond, load] : loads) {
    rdma_bond_load_record record{};
    if (!CopyName(record.bond, bond)) {
      dropped_++;
      continue;
    }
    auto it = slots_.find(bond);
    if (it == slots_.end()) {
      size_t free = 0;
      while (free < used.size() && used[free]) free++;
      if (free == used.size()) {
        dropped_++;
        continue;
      }
      used[free] = true;
      it = slots_.emplace(bond, free).first;
    }
    record.in_use = 1;
    record.update_ns = now_ns;
    record.movable_qps = load.movable_qps;
    record.pinned_qps = load.pinned_qps;
    for (size_t b = 0; b < RDMA_BOND_BUCKETS; b++) {
      record.bucket_bytes[b] = load.buckets[b];
    }
    for (const auto& [member, bytes] : load.pinned) {
      if (record.n_members == RDMA_BOND_MAX_MEMBERS ||
          !CopyName(record.members[record.n_members].name, member)) {
        dropped_++;
        continue;
      }
      record.members[record.n_members++].pinned_bytes = bytes;
    }
    Store(it->second, record);
  }
  auto* h = static_cast<rdma_bond_load_header*>(base_);
  Word(&h->heartbeat_ns).store(now_ns, std::memory_order_relaxed);
}

}  // namespace rdma_bond::agent
