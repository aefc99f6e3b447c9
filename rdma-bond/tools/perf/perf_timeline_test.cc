// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's timeline keeps the stalls of each connection: one that
// stands still is not hidden by the others' deliveries.

#include "tools/perf/perf_timeline.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/json_writer.h"

namespace rdma_bond {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kStart = 1000 * kMs;

std::string Report(const Timeline& t) {
  JsonWriter j;
  j.BeginObject();
  t.Write(j);
  j.EndObject();
  std::string json = j.Finish();
  std::erase_if(json, [](char c) { return c == ' ' || c == '\n'; });
  return json;
}

TEST(PerfTimelineTest, AConnectionThatStandsStillIsAStall) {
  Timeline t(10, kStart);
  // Connection 0 delivers every millisecond for 200 ms; connection 1
  // delivers at 0, 1 and 2 ms, then not until 120 ms.
  for (uint64_t ms = 0; ms <= 200; ms++) t.Delivered(kStart + ms * kMs, 0);
  for (uint64_t ms : {0, 1, 2, 120, 121}) t.Delivered(kStart + ms * kMs, 1);
  const std::string json = Report(t);
  EXPECT_NE(json.find("\"stalls\":[{\"start_ns\":" +
                      std::to_string(kStart + 2 * kMs) +
                      ",\"ms\":118.000,\"connection\":1}]"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"stalls_dropped\":0"), std::string::npos) << json;
}

TEST(PerfTimelineTest, GapsShorterThanAStallAreNotKept) {
  Timeline t(10, kStart);
  for (uint64_t ms = 0; ms < 100; ms += 4) {
    t.Delivered(kStart + ms * kMs, 0);
    t.Delivered(kStart + ms * kMs, 1);
  }
  EXPECT_NE(Report(t).find("\"stalls\":[]"), std::string::npos)
      << Report(t);
}

}  // namespace
}  // namespace rdma_bond
