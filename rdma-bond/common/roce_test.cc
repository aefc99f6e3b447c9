// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The kernel's flow label <-> UDP source port helpers (roce.h).  Expected
// values were computed by hand from include/rdma/ib_verbs.h's formulas.

#include "rdma_bond/roce.h"

#include <vector>

#include <gtest/gtest.h>

namespace rdma_bond {
namespace {

TEST(RoceTest, FlowLabelToUdpSportFoldsTheHighBits) {
  // 0x12345: low 14 bits 0x2345, high 6 bits 0x10000 >> 14 = 0x4.
  EXPECT_EQ(FlowLabelToUdpSport(0x12345), 0xc000 | (0x2345 ^ 0x4));
  EXPECT_EQ(FlowLabelToUdpSport(0x12345), 0xe341);
  EXPECT_EQ(FlowLabelToUdpSport(0x00001), 0xc001);
  EXPECT_EQ(FlowLabelToUdpSport(0x3fff), 0xffff);
  EXPECT_EQ(FlowLabelToUdpSport(0xfc000), 0xc03f);
}

TEST(RoceTest, FlowLabelToUdpSportIgnoresBitsAbove20) {
  EXPECT_EQ(FlowLabelToUdpSport(0x112345), FlowLabelToUdpSport(0x12345));
  EXPECT_EQ(FlowLabelToUdpSport(0xfff00001), FlowLabelToUdpSport(0x00001));
}

TEST(RoceTest, EveryFlowLabelGivesARoceSportAndEachSportEqually) {
  std::vector<int> hits(kRoceSportCount, 0);
  for (uint32_t fl = 0; fl <= kFlowLabelMask; fl++) {
    const uint16_t sport = FlowLabelToUdpSport(fl);
    ASSERT_TRUE(IsRoceSport(sport)) << "flow label " << fl;
    hits[sport - kRoceSportMin]++;
  }
  // 2^20 labels onto 2^14 ports: the 6 folded bits give 64 labels each.
  for (uint32_t i = 0; i < kRoceSportCount; i++) {
    ASSERT_EQ(hits[i], 64) << "port " << kRoceSportMin + i;
  }
}

TEST(RoceTest, UdpSportToFlowLabelRoundTripsOverAllRocePorts) {
  for (uint32_t port = kRoceSportMin; port <= 0xffff; port++) {
    const uint32_t fl = UdpSportToFlowLabel(static_cast<uint16_t>(port));
    ASSERT_NE(fl, 0u) << "port " << port << ": flow label 0 means none set";
    ASSERT_EQ(fl & ~kFlowLabelMask, 0u) << "port " << port;
    ASSERT_EQ(FlowLabelToUdpSport(fl), port) << "flow label " << fl;
  }
}

TEST(RoceTest, UdpSportToFlowLabelIsTheLowBitsExceptForTheFirstPort) {
  EXPECT_EQ(UdpSportToFlowLabel(0xc001), 0x0001u);
  EXPECT_EQ(UdpSportToFlowLabel(0xd5a3), 0x15a3u);
  EXPECT_EQ(UdpSportToFlowLabel(0xffff), 0x3fffu);
  EXPECT_EQ(UdpSportToFlowLabel(0xc000), 0x4001u);
}

TEST(RoceTest, CalcFlowLabelMatchesTheKernelFormula) {
  EXPECT_EQ(CalcFlowLabel(0x11, 0x22), 0x242u);
  EXPECT_EQ(CalcFlowLabel(0xabcdef, 0x123456), 0xac3e3u);
  EXPECT_EQ(CalcFlowLabel(0xffffff, 0xffffff), 0xfff1eu);
  EXPECT_EQ(CalcFlowLabel(0x1c3, 0x2a7), 0x4ac35u);
  EXPECT_EQ(CalcFlowLabel(0, 0x123456), 0u);
}

TEST(RoceTest, CalcFlowLabelIsSymmetric) {
  for (uint32_t a = 1; a < 0x1000000; a = a * 3 + 7) {
    for (uint32_t b = 1; b < 0x1000000; b = b * 5 + 11) {
      ASSERT_EQ(CalcFlowLabel(a, b), CalcFlowLabel(b, a)) << a << " " << b;
      ASSERT_EQ(CalcFlowLabel(a, b) & ~kFlowLabelMask, 0u);
    }
  }
}

TEST(RoceTest, QpUdpSportUsesTheQpNumbersOnlyWithoutAFlowLabel) {
  EXPECT_EQ(QpUdpSport(0x12345, 0xabcdef, 0x123456), 0xe341);
  EXPECT_EQ(QpUdpSport(0, 0xabcdef, 0x123456), 0xc3c8);
  EXPECT_EQ(QpUdpSport(0, 0x11, 0x22), 0xc242);
}

}  // namespace
}  // namespace rdma_bond
