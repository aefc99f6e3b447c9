// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "conn/registry_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace rdma_bond {
namespace {

TEST(RegistryProtocolTest, Tokens) {
  EXPECT_TRUE(IsRegistryToken("bond0"));
  EXPECT_TRUE(IsRegistryToken("fake:p1"));
  EXPECT_FALSE(IsRegistryToken(""));
  EXPECT_FALSE(IsRegistryToken("a b"));
  EXPECT_FALSE(IsRegistryToken("a=b"));
  EXPECT_FALSE(IsRegistryToken("tab\there"));
  EXPECT_FALSE(IsRegistryToken("\xc3\xa9"));  // Not ASCII.
  EXPECT_TRUE(IsRegistryToken(std::string(kRegistryMaxToken, 'x')));
  EXPECT_FALSE(IsRegistryToken(std::string(kRegistryMaxToken + 1, 'x')));
}

TEST(RegistryProtocolTest, ParsesLines) {
  Result<RegistryRequest> r =
      ParseRegistryRequest("OK version=1 agent=42\r");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->verb, "OK");
  EXPECT_EQ(*r->Get("agent"), "42");
  EXPECT_EQ(r->Get("nope").status().message(), "OK: missing nope=");
  EXPECT_EQ(RegistryVerb("ERR no such bond"), "ERR");
  EXPECT_EQ(RegistryReason("ERR no such bond"), "no such bond");
  EXPECT_EQ(RegistryReason("ERR"), "no reason given");
  EXPECT_EQ(*RegistryField("PATH local=0 remote=1", "remote"), "1");
  EXPECT_FALSE(RegistryField("PATH local=0", "loc").has_value());
  EXPECT_FALSE(RegistryField("local=0", "local").has_value());  // A verb.
  EXPECT_FALSE(ParseRegistryRequest(std::string(kAgentMaxLine + 1, 'x')).ok());
}

TEST(RegistryProtocolTest, Numbers) {
  EXPECT_EQ(*ParseRegistryNumber("49152", 0xffff), 49152u);
  EXPECT_EQ(*ParseRegistryNumber("0xC000", 0xffff), 0xc000u);
  EXPECT_EQ(*ParseRegistryNumber("18446744073709551615", UINT64_MAX),
            UINT64_MAX);
  EXPECT_FALSE(ParseRegistryNumber("18446744073709551616", UINT64_MAX));
  EXPECT_FALSE(ParseRegistryNumber("65536", 0xffff));
  EXPECT_FALSE(ParseRegistryNumber("0x", 0xffff));
  EXPECT_FALSE(ParseRegistryNumber("12a", 0xffff));
  EXPECT_FALSE(ParseRegistryNumber("-1", 0xffff));
  EXPECT_FALSE(ParseRegistryNumber("", 0xffff));
}

}  // namespace
}  // namespace rdma_bond
