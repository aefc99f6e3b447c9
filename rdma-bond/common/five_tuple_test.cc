// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/five_tuple.h"

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

TEST(FiveTupleTest, ParsesIpv4) {
  Result<IpAddress> a = ParseIpAddress("10.0.0.1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->version, 4);
  EXPECT_EQ(a->bytes[0], 10);
  EXPECT_EQ(a->bytes[3], 1);
  for (size_t i = 4; i < a->bytes.size(); i++) {
    EXPECT_EQ(a->bytes[i], 0) << i;
  }
  EXPECT_EQ(ToString(*a), "10.0.0.1");
}

TEST(FiveTupleTest, ParsesIpv6) {
  Result<IpAddress> a = ParseIpAddress("fd00::abcd:1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->version, 6);
  EXPECT_EQ(a->bytes[0], 0xfd);
  EXPECT_EQ(a->bytes[13], 0xcd);
  EXPECT_EQ(a->bytes[15], 1);
  EXPECT_EQ(ToString(*a), "fd00::abcd:1");
}

TEST(FiveTupleTest, TakesAnIpv4MappedGidAsIpv4) {
  Result<IpAddress> mapped = ParseIpAddress("::ffff:10.0.0.1");
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(*mapped, *ParseIpAddress("10.0.0.1"));
  // Not mapped: stays IPv6.
  EXPECT_EQ(ParseIpAddress("::fffe:10.0.0.1")->version, 6);
}

TEST(FiveTupleTest, RefusesBadAddresses) {
  for (const char* bad : {"", "10.0.0.300", "10.0.0", "fd00:::1", "bond0",
                          "10.0.0.1 "}) {
    Result<IpAddress> a = ParseIpAddress(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(a.status().message().find("\"" + std::string(bad) + "\""),
              std::string::npos)
        << a.status().ToString();
  }
  EXPECT_FALSE(ParseIpAddress(std::string_view("10.0.0.1\0x", 10)).ok());
}

TEST(FiveTupleTest, MakeUdpTupleRefusesMixedVersions) {
  Result<FiveTuple> t = MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                                     *ParseIpAddress("fd00::1"), 49152);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().ToString(),
            "source 10.0.0.1 is IPv4 but destination fd00::1 is IPv6: a "
            "flow has one IP version");
}

TEST(FiveTupleTest, FormatsTuples) {
  Result<FiveTuple> v4 = MakeUdpTuple(*ParseIpAddress("10.0.0.1"),
                                      *ParseIpAddress("10.0.0.2"), 49152);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->dport, kRoceV2UdpPort);
  EXPECT_EQ(v4->proto, kIpProtoUdp);
  EXPECT_EQ(ToString(*v4), "udp 10.0.0.1:49152 -> 10.0.0.2:4791");
  Result<FiveTuple> v6 = MakeUdpTuple(*ParseIpAddress("fd00::1"),
                                      *ParseIpAddress("fd00::2"), 1, 2);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(ToString(*v6), "udp [fd00::1]:1 -> [fd00::2]:2");
  v6->proto = 47;
  EXPECT_EQ(ToString(*v6), "proto 47 [fd00::1]:1 -> [fd00::2]:2");
}

}  // namespace
}  // namespace rdma_bond
