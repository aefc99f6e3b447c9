// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/trusted_file.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace rdma_bond {
namespace {

// An unused uid and gid, as a member of the agent's group would be.
constexpr uid_t kStranger = 54321;

class TrustedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") +
                        "/rdma-bond-trusted.XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr) << std::strerror(errno);
    dir_ = templ;
    file_ = dir_ + "/rdma-bond.shm";
    int fd = open(file_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(fchmod(fd, 0640), 0);
    close(fd);
    // Whatever holds TMPDIR must itself pass, or no test here means much.
    ASSERT_TRUE(CheckTrustedPath("table", file_, FileKind::kRegular).ok())
        << CheckTrustedPath("table", file_, FileKind::kRegular).message();
  }
  void TearDown() override {
    nftw(
        dir_.c_str(),
        [](const char* path, const struct stat*, int, struct FTW*) {
          return remove(path);
        },
        8, FTW_DEPTH | FTW_PHYS);
  }

  Status Check() { return CheckTrustedPath("table", file_, FileKind::kRegular); }

  std::string dir_;
  std::string file_;
};

TEST_F(TrustedFileTest, GroupWritableFileIsRefused) {
  ASSERT_EQ(chmod(file_.c_str(), 0660), 0);
  Status s = Check();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(file_), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("writable by group or others (mode 0660"),
            std::string::npos)
      << s.message();
  ASSERT_EQ(chmod(file_.c_str(), 0644), 0);
  EXPECT_TRUE(Check().ok());
}

TEST_F(TrustedFileTest, SymbolicLinkIsRefused) {
  std::string link = dir_ + "/link.shm";
  ASSERT_EQ(symlink(file_.c_str(), link.c_str()), 0);
  Status s = CheckTrustedPath("table", link, FileKind::kRegular);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("symbolic link"), std::string::npos)
      << s.message();
}

TEST_F(TrustedFileTest, WrongKindIsRefused) {
  Status s = CheckTrustedPath("socket", file_, FileKind::kSocket);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a socket"), std::string::npos)
      << s.message();
}

TEST_F(TrustedFileTest, DirectoryOthersCanWriteIsRefusedUnlessSticky) {
  ASSERT_EQ(chmod(dir_.c_str(), 0775), 0);
  Status s = Check();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("directory " + dir_), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("without the sticky bit (mode 0775"),
            std::string::npos)
      << s.message();

  // Sticky: only a file's owner may remove or rename it there.
  ASSERT_EQ(chmod(dir_.c_str(), 01777), 0);
  EXPECT_TRUE(Check().ok()) << Check().message();
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
}

TEST_F(TrustedFileTest, SubdirectoryOfAnOpenDirectoryIsRefused) {
  // The agent's directory is only as safe as the one that holds it.
  std::string sub = dir_ + "/rdma-bond-agent";
  ASSERT_EQ(mkdir(sub.c_str(), 0755), 0);
  std::string sock = sub + "/registry.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock.data(), sock.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  close(fd);

  EXPECT_TRUE(CheckTrustedPath("socket", sock, FileKind::kSocket).ok());
  ASSERT_EQ(chmod(dir_.c_str(), 0770), 0);
  Status s = CheckTrustedPath("socket", sock, FileKind::kSocket);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("directory " + dir_ + " is writable"),
            std::string::npos)
      << s.message();
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
}

TEST_F(TrustedFileTest, FileOfAnotherUserIsRefusedUnlessItOwnsTheDirectory) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to give the file to another uid";
  }
  ASSERT_EQ(chown(file_.c_str(), kStranger, kStranger), 0);
  Status s = Check();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("table " + file_ + ": owned by uid 54321"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);

  // The directory's owner (the OVS user for the run directory) is trusted.
  ASSERT_EQ(chown(dir_.c_str(), kStranger, kStranger), 0);
  EXPECT_TRUE(Check().ok()) << Check().message();
}

TEST(TrustedFilePathTest, DirectoryOf) {
  EXPECT_EQ(DirectoryOf("/run/openvswitch/rdma-bond.shm"), "/run/openvswitch");
  EXPECT_EQ(DirectoryOf("/x"), "/");
  EXPECT_EQ(DirectoryOf("x"), ".");
  EXPECT_EQ(DirectoryOf("a/b"), "a");
}

TEST(TrustedFilePathTest, DescribeUidNamesRoot) {
  EXPECT_EQ(DescribeUid(0), "uid 0 (root)");
  EXPECT_EQ(DescribeUid(kStranger).rfind("uid 54321", 0), 0u);
}

}  // namespace
}  // namespace rdma_bond
