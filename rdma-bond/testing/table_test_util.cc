// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "testing/table_test_util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "rdma_bond/table_reader.h"

namespace rdma_bond::testing {

TempDir::TempDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
      "/rdma-bond-test-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << templ << ": " << std::strerror(errno);
    std::abort();  // Nothing else in a test can work without it.
  }
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(std::string_view name) const {
  return path_ + "/" + std::string(name);
}

std::unique_ptr<WritableTable> WritableTable::Create(
    const std::string& path, const TableOptions& options) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    ADD_FAILURE() << "open " << tmp << ": " << std::strerror(errno);
    return nullptr;
  }
  // open() applies the umask; the writer's file is 0640 exactly.
  const size_t size = options.locations ? RDMA_BOND_TABLE_FILE_SIZE
                                         : RDMA_BOND_TABLE_SIZE;
  if (fchmod(fd, 0640) < 0 || ftruncate(fd, size) < 0) {
    ADD_FAILURE() << "fchmod/ftruncate " << tmp << ": "
                  << std::strerror(errno);
    close(fd);
    return nullptr;
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    ADD_FAILURE() << "mmap " << tmp << ": " << std::strerror(errno);
    return nullptr;
  }

  std::unique_ptr<WritableTable> table(new WritableTable());
  table->header_ = static_cast<rdma_bond_table_header*>(base);
  table->size_ = size;
  rdma_bond_table_header* h = table->header_;
  h->magic = RDMA_BOND_TABLE_MAGIC;
  h->abi_version = RDMA_BOND_ABI_VERSION;
  h->header_size = sizeof(rdma_bond_table_header);
  h->record_size = sizeof(rdma_bond_record);
  h->n_slots = RDMA_BOND_MAX_BONDS;
  h->max_members = RDMA_BOND_MAX_MEMBERS;
  h->n_buckets = RDMA_BOND_BUCKETS;
  h->instance_id = options.instance_id;
  h->start_ns = options.start_ns;
  h->writer_pid = options.writer_pid != 0 ? options.writer_pid
                                          : static_cast<uint32_t>(getpid());
  h->hash_impl = options.hash_impl;
  SetName(h->ovs_version, options.ovs_version);
  h->heartbeat_ns =
      options.heartbeat_ns != 0 ? options.heartbeat_ns : MonotonicNowNs();
  if (options.locations) {
    h->minor_version = RDMA_BOND_ABI_MINOR;
    h->features = RDMA_BOND_FEATURE_LOCATIONS;
    h->locations_offset = RDMA_BOND_LOCATIONS_OFFSET;
    h->location_size = sizeof(rdma_bond_member_location);
  }

  if (rename(tmp.c_str(), path.c_str()) < 0) {
    ADD_FAILURE() << "rename " << tmp << " to " << path << ": "
                  << std::strerror(errno);
    return nullptr;
  }
  return table;
}

WritableTable::~WritableTable() {
  munmap(header_, size_);
}

rdma_bond_record* WritableTable::record(size_t slot) {
  return reinterpret_cast<rdma_bond_record*>(
      reinterpret_cast<char*>(header_) + sizeof(rdma_bond_table_header) +
      slot * sizeof(rdma_bond_record));
}

void WritableTable::Store(size_t slot, const rdma_bond_record& record) {
  rdma_bond_record_store(this->record(slot), &record);
}

void WritableTable::Store(size_t slot, const rdma_bond_record& record,
                          const rdma_bond_member_location* locs) {
  auto* area = reinterpret_cast<rdma_bond_member_location*>(
      reinterpret_cast<char*>(header_) + RDMA_BOND_LOCATIONS_OFFSET);
  rdma_bond_record_store_locations(this->record(slot), &record,
                                   area + slot * RDMA_BOND_MAX_MEMBERS, locs);
}

std::array<rdma_bond_member_location, RDMA_BOND_MAX_MEMBERS>
EmptyLocations() {
  std::array<rdma_bond_member_location, RDMA_BOND_MAX_MEMBERS> locs;
  std::memset(locs.data(), 0, sizeof locs);
  for (rdma_bond_member_location& l : locs) l.dpdk_port = UINT32_MAX;
  return locs;
}

rdma_bond_record MakeRecord(std::string_view name,
                            std::initializer_list<std::string_view> members) {
  rdma_bond_record record;
  std::memset(&record, 0, sizeof record);
  record.generation = 1;
  record.change_ns = 1000;
  record.reasons = RDMA_BOND_REASON_ADDED;
  record.in_use = 1;
  SetName(record.name, name);
  SetName(record.dp_type, "netdev");
  record.mode = RDMA_BOND_MODE_ACTIVE_BACKUP;
  record.lacp_status = RDMA_BOND_LACP_OFF;
  record.regime = RDMA_BOND_REGIME_NONE;
  record.active_member = 0;
  uint8_t i = 0;
  for (std::string_view member_name : members) {
    rdma_bond_member& member = record.members[i];
    SetName(member.name, member_name);
    member.ofport = i + 1u;
    const uint8_t mac[6] = {0xaa, 0x55, 0xaa, 0x55, 0x00,
                            static_cast<uint8_t>(i + 1)};
    std::memcpy(member.mac, mac, sizeof mac);
    member.flags =
        RDMA_BOND_M_ENABLED | RDMA_BOND_M_MAY_ENABLE | RDMA_BOND_M_CARRIER;
    i++;
  }
  record.n_members = i;
  std::memset(record.buckets, RDMA_BOND_NO_MEMBER, sizeof record.buckets);
  return record;
}

}  // namespace rdma_bond::testing
