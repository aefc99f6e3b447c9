// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "table/fault_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "rdma_bond/table_reader.h"
#include "testing/table_test_util.h"

namespace rdma_bond {
namespace {

using testing::TempDir;
using testing::WritableTable;

// Two pages of a file, mapped shared, as the table is.
class FaultGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/rdma-bond-fault.XXXXXX";
    fd_ = mkstemp(path);
    ASSERT_GE(fd_, 0) << std::strerror(errno);
    unlink(path);
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    ASSERT_EQ(ftruncate(fd_, 2 * page_), 0);
    map_ = static_cast<const char*>(
        mmap(nullptr, 2 * page_, PROT_READ, MAP_SHARED, fd_, 0));
    ASSERT_NE(map_, MAP_FAILED);
  }
  void TearDown() override {
    munmap(const_cast<char*>(map_), 2 * page_);
    close(fd_);
  }

  // Reads one byte of the second page, as a table reader reads a record.
  char ReadSecondPage() const {
    return std::atomic_ref<const char>(map_[page_ + 8])
        .load(std::memory_order_relaxed);
  }

  int fd_ = -1;
  size_t page_ = 0;
  const char* map_ = nullptr;
};

TEST_F(FaultGuardTest, ReadsOfAWholeFileComplete) {
  char seen = 1;
  EXPECT_TRUE(RunGuarded(map_, 2 * page_, [&] { seen = ReadSecondPage(); }));
  EXPECT_EQ(seen, 0);
}

TEST_F(FaultGuardTest, AReadPastATruncationFailsInsteadOfKilling) {
  ASSERT_EQ(ftruncate(fd_, page_), 0);  // The second page is gone.
  char seen = 1;
  bool completed = true;
  for (int i = 0; i < 3; i++) {  // Again and again: the guard is re-armed.
    completed = RunGuarded(map_, 2 * page_, [&] { seen = ReadSecondPage(); });
    EXPECT_FALSE(completed);
  }
  EXPECT_EQ(seen, 1);
  // The first page is still there.
  EXPECT_TRUE(RunGuarded(map_, 2 * page_, [&] {
    seen = std::atomic_ref<const char>(map_[0]).load(std::memory_order_relaxed);
  }));
  EXPECT_EQ(seen, 0);
}

TEST_F(FaultGuardTest, TheOuterGuardCatchesWhatTheInnerDoesNotCover) {
  ASSERT_EQ(ftruncate(fd_, page_), 0);
  bool inner_completed = true;
  const bool outer = RunGuarded(map_, 2 * page_, [&] {
    inner_completed = RunGuarded(map_, page_, [&] { (void)ReadSecondPage(); });
  });
  EXPECT_FALSE(outer);
  EXPECT_TRUE(inner_completed);  // Never returned: the outer guard jumped.
}

// Killed by SIGBUS, or, under ASan, by ASan's report of it (the handler
// that was there before the guard's).
bool Died(int status) {
  return (WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
         (WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

// Only reads inside a guard are caught: any other SIGBUS still kills, as it
// would without the guard's handler.
TEST_F(FaultGuardTest, AFaultOutsideAnyGuardStillKills) {
  EXPECT_TRUE(RunGuarded(map_, page_, [] {}));  // Handler installed.
  ASSERT_EQ(ftruncate(fd_, page_), 0);
  EXPECT_EXIT(
      {
        (void)ReadSecondPage();
        std::exit(0);
      },
      Died, "");
  // Nor does a guard over other memory catch it.
  EXPECT_EXIT(
      {
        char other[16];
        RunGuarded(other, sizeof other, [&] { (void)ReadSecondPage(); });
        std::exit(0);
      },
      Died, "");
}

// The table reader's own uses (ChangeWord(), WaitForChange() and Health()
// read the mapping with no fstat() first).
// A truncation under them used to kill the reader with SIGBUS.
TEST(TableReaderFaultTest, ChangeWordOfATruncatedTableIsAnErrorNotACrash) {
  TempDir dir;
  const std::string path = dir.File(RDMA_BOND_TABLE_NAME);
  std::unique_ptr<WritableTable> table = WritableTable::Create(path, {});
  ASSERT_NE(table, nullptr);
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const uint32_t seen = (*reader)->ChangeWord();
  ASSERT_EQ(truncate(path.c_str(), 0), 0);
  EXPECT_EXIT(
      {
        const uint32_t word = (*reader)->ChangeWord();
        Result<ChangeWait> wait =
            (*reader)->WaitForChange(seen, std::chrono::milliseconds(10));
        const WriterHealth health = (*reader)->Health();
        const bool ok =
            word == TableReader::kUnreadableChangeWord && !wait.ok() &&
            wait.status().IsCorruption() &&
            wait.status().message().find("truncated under this reader") !=
                std::string::npos &&
            health.replaced;
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace rdma_bond
