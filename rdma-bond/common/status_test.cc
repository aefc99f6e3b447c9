// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/status.h"

#include <cerrno>
#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::kOk);
  EXPECT_EQ(status.ToString(), "OK");
  EXPECT_EQ(status.errno_value(), 0);
}

TEST(StatusTest, FromErrnoNamesContextAndError) {
  Status status = Status::FromErrno("open /run/x", ENOENT);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.IsNotFound());
  EXPECT_EQ(status.errno_value(), ENOENT);
  EXPECT_EQ(status.ToString(), "open /run/x: No such file or directory");

  Status denied = Status::FromErrno("mmap /run/x", EACCES);
  EXPECT_EQ(denied.code(), Status::Code::kIOError);
  EXPECT_EQ(denied.ToString(), "mmap /run/x: Permission denied");
}

TEST(StatusTest, PrefixAndHintKeepCodeAndErrno) {
  Status status = Status::FromErrno("x", EIO).WithPrefix("file").WithHint(
      "(try again)");
  EXPECT_EQ(status.ToString(), "file: x: Input/output error (try again)");
  EXPECT_EQ(status.code(), Status::Code::kIOError);
  EXPECT_EQ(status.errno_value(), EIO);
  EXPECT_TRUE(Status::OK().WithPrefix("p").WithHint("h").ok());
}

TEST(StatusTest, FactoriesSetTheirCodes) {
  EXPECT_TRUE(Status::Corruption("c").IsCorruption());
  EXPECT_TRUE(Status::NotSupported("n").IsNotSupported());
  EXPECT_EQ(Status::InvalidArgument("i").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Status::Unavailable("u").code(), Status::Code::kUnavailable);
  EXPECT_EQ(Status::Corruption("bad magic").message(), "bad magic");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<std::string> value(std::string("bond0"));
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(value.status().ok());
  EXPECT_EQ(*value, "bond0");
  EXPECT_EQ(value->size(), 5u);

  Result<std::string> error(Status::NotFound("no bond"));
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().ToString(), "no bond");
}

TEST(ResultTest, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> result(std::make_unique<int>(7));
  ASSERT_TRUE(result.ok());
  std::unique_ptr<int> owned = std::move(result).value();
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, 7);
}

}  // namespace
}  // namespace rdma_bond
