// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The load table: the agent's writer (load_table.cc) against
// ovs-vswitchd's reader (lib/rdma-bond-load.c), and what the reader
// refuses.

#include "agent/load_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "rdma-bond-load.h"
#include "testing/table_test_util.h"

namespace rdma_bond::agent {
namespace {

using rdma_bond::testing::TempDir;

constexpr uint64_t kNow = 1000ull * 1000 * 1000 * 1000;  // 1000 s.
constexpr uint64_t kMs = 1000 * 1000;

class LoadTableTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File(RDMA_BOND_LOAD_NAME); }

  void Create() {
    Result<std::unique_ptr<LoadTable>> table = LoadTable::Create(path_, kNow);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    table_ = std::move(*table);
  }

  // rdma_bond_load_read() of 'bond' at 'now'; 'why_' says why not.
  int Read(const char* bond, uint64_t now = kNow) {
    why_[0] = '\0';
    instance_ = 0;
    return rdma_bond_load_read(path_.c_str(), bond, now, &rec_, &instance_,
                               why_);
  }

  // The mapped file, writable, to break it.
  char* MapForDamage() {
    int fd = open(path_.c_str(), O_RDWR);
    EXPECT_GE(fd, 0);
    void* p = mmap(nullptr, RDMA_BOND_LOAD_SIZE, PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
    close(fd);
    EXPECT_NE(p, MAP_FAILED);
    return static_cast<char*>(p);
  }
  rdma_bond_load_record* Slot(char* base, size_t i) {
    return reinterpret_cast<rdma_bond_load_record*>(
        base + sizeof(rdma_bond_load_header)) + i;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<LoadTable> table_;
  rdma_bond_load_record rec_{};
  uint64_t instance_ = 0;
  char why_[RDMA_BOND_LOAD_WHY_LEN] = "";
};

BondLoad SomeLoad() {
  BondLoad load;
  load.buckets[0] = 1;
  load.buckets[17] = 5000000000ull;
  load.buckets[255] = 42;
  load.pinned["nic1"] = 123456;
  load.movable_qps = 4;
  load.pinned_qps = 1;
  return load;
}

TEST_F(LoadTableTest, WhatTheAgentWritesOvsReads) {
  Create();
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_size, static_cast<off_t>(RDMA_BOND_LOAD_SIZE));
  // A table without the bond (yet).
  EXPECT_EQ(Read("bond0"), ESRCH) << why_;

  table_->Publish({{"bond0", SomeLoad()}, {"bond1", BondLoad{}}},
                  kNow + 10 * kMs);
  ASSERT_EQ(Read("bond0", kNow + 20 * kMs), 0) << why_;
  EXPECT_EQ(instance_, table_->instance_id());
  EXPECT_NE(instance_, 0u);
  EXPECT_STREQ(rec_.bond, "bond0");
  EXPECT_EQ(rec_.in_use, 1u);
  EXPECT_EQ(rec_.update_ns, kNow + 10 * kMs);
  EXPECT_EQ(rec_.bucket_bytes[0], 1u);
  EXPECT_EQ(rec_.bucket_bytes[17], 5000000000ull);
  EXPECT_EQ(rec_.bucket_bytes[255], 42u);
  EXPECT_EQ(rec_.bucket_bytes[18], 0u);
  EXPECT_EQ(rec_.movable_qps, 4u);
  EXPECT_EQ(rec_.pinned_qps, 1u);
  ASSERT_EQ(rec_.n_members, 1u);
  EXPECT_STREQ(rec_.members[0].name, "nic1");
  EXPECT_EQ(rec_.members[0].pinned_bytes, 123456u);
  ASSERT_EQ(Read("bond1", kNow + 20 * kMs), 0) << why_;
  EXPECT_EQ(rec_.bucket_bytes[17], 0u);

  // bond1 goes: its slot is released; bond0 keeps its own.
  table_->Publish({{"bond0", SomeLoad()}}, kNow + 30 * kMs);
  EXPECT_EQ(Read("bond1", kNow + 30 * kMs), ESRCH) << why_;
  EXPECT_EQ(Read("bond0", kNow + 30 * kMs), 0) << why_;

  // The agent exits: the file goes with it.
  table_.reset();
  EXPECT_EQ(Read("bond0"), ENOENT);
}

TEST_F(LoadTableTest, StaleIsIgnored) {
  Create();
  table_->Publish({{"bond0", SomeLoad()}}, kNow);
  const uint64_t stale = kNow + (RDMA_BOND_LOAD_STALE_MS + 1) * kMs;
  EXPECT_EQ(Read("bond0", stale), ESTALE);
  EXPECT_NE(std::string(why_).find("heartbeat is stale"), std::string::npos)
      << why_;
  EXPECT_EQ(Read("bond0", kNow + (RDMA_BOND_LOAD_STALE_MS - 1) * kMs), 0)
      << why_;
  // A heartbeat from the future is not a table to believe.
  EXPECT_EQ(Read("bond0", kNow - kMs), EINVAL);
  EXPECT_NE(std::string(why_).find("in the future"), std::string::npos);

  // A fresh heartbeat, but a record nobody brought up to date.
  char* base = MapForDamage();
  reinterpret_cast<rdma_bond_load_header*>(base)->heartbeat_ns = stale;
  EXPECT_EQ(Read("bond0", stale), ESTALE);
  EXPECT_NE(std::string(why_).find("too long ago"), std::string::npos)
      << why_;
  munmap(base, RDMA_BOND_LOAD_SIZE);
}

TEST_F(LoadTableTest, GarbageIsRefused) {
  Create();
  table_->Publish({{"bond0", SomeLoad()}}, kNow);
  char* base = MapForDamage();
  auto* h = reinterpret_cast<rdma_bond_load_header*>(base);

  h->magic ^= 1;
  EXPECT_EQ(Read("bond0"), EINVAL);
  EXPECT_NE(std::string(why_).find("not a load table"), std::string::npos);
  h->magic ^= 1;
  for (uint32_t* field : {&h->abi_version, &h->header_size, &h->record_size,
                          &h->n_slots, &h->n_buckets, &h->max_members}) {
    (*field)++;
    EXPECT_EQ(Read("bond0"), EINVAL);
    EXPECT_NE(std::string(why_).find("this reader knows ABI 1"),
              std::string::npos)
        << why_;
    (*field)--;
  }
  ASSERT_EQ(Read("bond0"), 0) << why_;

  // Records that break the rules, even in another slot.
  rdma_bond_load_record* other = Slot(base, 5);
  other->in_use = 2;
  EXPECT_EQ(Read("bond0"), EINVAL);
  other->in_use = 1;
  std::memset(other->bond, 'x', sizeof other->bond);
  EXPECT_EQ(Read("bond0"), EINVAL);
  std::strcpy(other->bond, "bondx");
  other->n_members = RDMA_BOND_MAX_MEMBERS + 1;
  EXPECT_EQ(Read("bond0"), EINVAL);
  other->n_members = 1;
  EXPECT_EQ(Read("bond0"), EINVAL) << "a member without a name";
  std::strcpy(other->members[0].name, "nic0");
  other->update_ns = kNow;
  EXPECT_EQ(Read("bond0"), 0) << why_;
  // An odd count that never ends: a writer that died mid-record.
  Slot(base, 0)->seq |= 1;
  EXPECT_EQ(Read("bond0"), EAGAIN);
  munmap(base, RDMA_BOND_LOAD_SIZE);
}

TEST_F(LoadTableTest, UntrustedOrWrongFilesAreRefused) {
  Create();
  table_->Publish({{"bond0", SomeLoad()}}, kNow);
  ASSERT_EQ(chmod(path_.c_str(), 0664), 0);
  EXPECT_EQ(Read("bond0"), EPERM);
  EXPECT_NE(std::string(why_).find("not trusted"), std::string::npos);
  ASSERT_EQ(chmod(path_.c_str(), 0646), 0);
  EXPECT_EQ(Read("bond0"), EPERM);
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  EXPECT_EQ(Read("bond0"), 0) << why_;

  ASSERT_EQ(truncate(path_.c_str(), RDMA_BOND_LOAD_SIZE + 8), 0);
  EXPECT_EQ(Read("bond0"), EINVAL);
  ASSERT_EQ(truncate(path_.c_str(), 64), 0);
  EXPECT_EQ(Read("bond0"), EINVAL);

  // A packaged agent runs as a user of its own: a table owned by the
  // owner of its directory is believed while only that owner may write
  // the directory; not when another user owns the file.
  if (geteuid() == 0) {
    const std::string dir = dir_.File("agent");
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    const std::string moved = dir + "/" RDMA_BOND_LOAD_NAME;
    table_.reset();   // The one broken above goes; a new one is made.
    Create();
    table_->Publish({{"bond0", SomeLoad()}}, kNow);
    ASSERT_EQ(rename(path_.c_str(), moved.c_str()), 0);
    auto read = [&] {
      return rdma_bond_load_read(moved.c_str(), "bond0", kNow, &rec_,
                                 &instance_, why_);
    };
    ASSERT_EQ(chown(dir.c_str(), 4321, 4321), 0);
    ASSERT_EQ(chown(moved.c_str(), 4321, 4321), 0);
    EXPECT_EQ(read(), 0) << why_;
    ASSERT_EQ(chmod(dir.c_str(), 0775), 0);
    EXPECT_EQ(read(), EPERM) << "a directory others may write";
    ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
    ASSERT_EQ(chown(moved.c_str(), 4322, 4322), 0);
    EXPECT_EQ(read(), EPERM) << "a file of another user than the directory's";
    ASSERT_EQ(chown(moved.c_str(), 0, 0), 0);
    EXPECT_EQ(read(), 0) << why_;
  }

  // A symbolic link is not followed.
  const std::string link = dir_.File("link.shm");
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  EXPECT_EQ(rdma_bond_load_read(link.c_str(), "bond0", kNow, &rec_,
                                &instance_, why_),
            ELOOP);
}

TEST_F(LoadTableTest, BondsBeyondTheSlotsAreDropped) {
  Create();
  std::map<std::string, BondLoad> loads;
  for (int i = 0; i < RDMA_BOND_LOAD_MAX_BONDS + 3; i++) {
    loads["b" + std::to_string(1000 + i)] = SomeLoad();
  }
  loads[std::string(RDMA_BOND_NAME_LEN, 'n')] = SomeLoad();
  BondLoad many;
  for (int m = 0; m < RDMA_BOND_MAX_MEMBERS + 2; m++) {
    many.pinned["m" + std::to_string(10 + m)] = 1;
  }
  loads["b1000"] = many;
  table_->Publish(loads, kNow);
  EXPECT_EQ(table_->dropped(), 3u + 1u + 2u);
  ASSERT_EQ(Read("b1000"), 0) << why_;
  EXPECT_EQ(rec_.n_members, static_cast<uint32_t>(RDMA_BOND_MAX_MEMBERS));
  EXPECT_EQ(Read("b1063"), 0) << why_;
  EXPECT_EQ(Read("b1064"), ESRCH) << why_;
}

TEST_F(LoadTableTest, EachStartHasItsOwnInstance) {
  Create();
  const uint64_t first = table_->instance_id();
  table_.reset();
  Create();
  EXPECT_NE(table_->instance_id(), first);
}

}  // namespace
}  // namespace rdma_bond::agent
