// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/hex.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace rdma_bond {
namespace {

TEST(HexTest, Hex64IsZeroPadded) {
  EXPECT_EQ(Hex64(0), "0x0000000000000000");
  EXPECT_EQ(Hex64(0x5242deadbeefULL), "0x00005242deadbeef");
  EXPECT_EQ(Hex64(UINT64_MAX), "0xffffffffffffffff");
}

TEST(HexTest, GroupsRoundTrip) {
  const std::array<uint8_t, 6> mac = {0xaa, 0x55, 0xaa, 0x55, 0x00, 0x01};
  EXPECT_EQ(FormatHexGroups(mac, 1), "aa:55:aa:55:00:01");
  std::array<uint8_t, 6> back{};
  ASSERT_TRUE(ParseHexGroups("AA:55:aa:55:00:01", 1, ':', back));
  EXPECT_EQ(back, mac);

  std::array<uint8_t, 16> gid{};
  gid[0] = 0xfe;
  gid[1] = 0x80;
  gid[15] = 0x01;
  const std::string text = FormatHexGroups(gid, 2);
  EXPECT_EQ(text, "fe80:0000:0000:0000:0000:0000:0000:0001");
  std::array<uint8_t, 16> gid_back{};
  ASSERT_TRUE(ParseHexGroups(text, 2, ':', gid_back));
  EXPECT_EQ(gid_back, gid);
}

TEST(HexTest, ParseRejectsWrongShapes) {
  std::array<uint8_t, 6> mac{};
  EXPECT_FALSE(ParseHexGroups("aa:55:aa:55:00", 1, ':', mac));     // Short.
  EXPECT_FALSE(ParseHexGroups("aa:55:aa:55:00:011", 1, ':', mac));  // Long.
  EXPECT_FALSE(ParseHexGroups("aa-55-aa-55-00-01", 1, ':', mac));   // Sep.
  EXPECT_FALSE(ParseHexGroups("ag:55:aa:55:00:01", 1, ':', mac));   // Digit.
  EXPECT_FALSE(ParseHexGroups("", 1, ':', mac));
  EXPECT_EQ(HexDigitValue('F'), 15);
  EXPECT_EQ(HexDigitValue('g'), -1);
}

TEST(HexTest, EscapeControlKeepsOneLine) {
  EXPECT_EQ(EscapeControl("eth0"), "eth0");
  EXPECT_EQ(EscapeControl(std::string("a\nb\x7f", 4)), "a\\x0ab\\x7f");
  EXPECT_EQ(EscapeControl(std::string("\0", 1)), "\\x00");
}

}  // namespace
}  // namespace rdma_bond
