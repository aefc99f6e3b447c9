// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "rdma_bond/rdmabond.h"

namespace {

TEST(CApiVerbsTest, BadArgumentsAreRefused) {
  rdma_bond_rnic* rnic = reinterpret_cast<rdma_bond_rnic*>(1);
  EXPECT_EQ(rdma_bond_rnic_open_verbs("eth1", "10.0.0.300", &rnic), -EINVAL);
  EXPECT_EQ(rnic, nullptr);
  EXPECT_NE(std::string(rdma_bond_last_error()).find("10.0.0.300"),
            std::string::npos);
  EXPECT_EQ(rdma_bond_rnic_open_verbs(nullptr, "10.0.0.1", &rnic), -EINVAL);
}

// This machine has no RDMA device behind its interfaces (CI and the
// development VM; the device paths run in the VM lab): opening one fails
// with a line that names the member, not a crash or a silent success.
TEST(CApiVerbsTest, NoDeviceBehindTheMemberIsAClearError) {
  rdma_bond_rnic* rnic = nullptr;
  const int rc = rdma_bond_rnic_open_verbs("lo", "127.0.0.1", &rnic);
  if (rc == 0) {
    rdma_bond_rnic_close(rnic);
    GTEST_SKIP() << "an RDMA device sits behind lo here";
  }
  EXPECT_EQ(rnic, nullptr);
  const std::string error = rdma_bond_last_error();
#if RDMA_BOND_HAVE_VERBS
  EXPECT_NE(rc, -ENOSYS);
  EXPECT_TRUE(error.find("lo") != std::string::npos ||
              error.find("no RDMA devices") != std::string::npos)
      << error;
#else
  EXPECT_EQ(rc, -ENOSYS);
  EXPECT_NE(error.find("without libibverbs"), std::string::npos) << error;
#endif
}

}  // namespace
