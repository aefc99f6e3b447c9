// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "rdma_bond/rdmabond.h"

namespace {

TEST(CApiEmulatedTest, OpenFailsWithOneLineNamingTheProblem) {
  rdma_bond_rnic* rnic = reinterpret_cast<rdma_bond_rnic*>(1);
  EXPECT_EQ(rdma_bond_rnic_open_emulated("lo", "not-an-ip", &rnic), -EINVAL);
  EXPECT_EQ(rnic, nullptr);
  EXPECT_NE(std::string(rdma_bond_last_error()).find("not-an-ip"),
            std::string::npos);
  // No interface holds this address here (TEST-NET-3).
  EXPECT_EQ(rdma_bond_rnic_open_emulated("lo", "203.0.113.77", &rnic),
            -ENOENT);
  EXPECT_NE(std::string(rdma_bond_last_error()).find("203.0.113.77"),
            std::string::npos);
  EXPECT_EQ(rdma_bond_rnic_open_emulated(nullptr, "127.0.0.1", &rnic),
            -EINVAL);
}

TEST(CApiEmulatedTest, OpensOnLoopbackAsRoot) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "AF_PACKET needs CAP_NET_RAW (run as root)";
  }
  rdma_bond_rnic* rnic = nullptr;
  ASSERT_EQ(rdma_bond_rnic_open_emulated("lo", "127.0.0.1", &rnic), 0)
      << rdma_bond_last_error();
  ASSERT_NE(rnic, nullptr);
  rdma_bond_rnic_close(rnic);
}

}  // namespace
