// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf's timeline (--timeline-ms): what the server received over
// time, for the lab's report and plot.  Deliveries are counted per bin and,
// sampled from the connections' path counters, per local member; every gap
// between two deliveries on one connection of at least kStallNs is kept
// with its start and connection, so that a stall can be matched with the
// cable cut that caused it.  (Per connection: another connection's
// deliveries do not hide a connection that stands still.)  Times
// are CLOCK_MONOTONIC nanoseconds, the clock of every process on the host
// (and of every network namespace).
#ifndef RDMA_BOND_PERF_TIMELINE_H_
#define RDMA_BOND_PERF_TIMELINE_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json_writer.h"

namespace rdma_bond {

class Timeline {
 public:
  static constexpr uint64_t kStallNs = 5'000'000;  // Gaps worth keeping.
  // Memory bound (16 bytes each): a 30-minute storm has some 11,000.
  static constexpr size_t kMaxStalls = 200000;
  static constexpr size_t kMaxBins = 1'000'000;    // 1000 s of 1 ms bins.

  Timeline(uint32_t bin_ms, uint64_t start_ns)
      : bin_ns_(uint64_t{bin_ms} * 1'000'000), start_ns_(start_ns) {}

  // A data message was delivered on connection 'connection' at 'now_ns'.
  void Delivered(uint64_t now_ns, size_t connection) {
    if (last_ns_.size() <= connection) last_ns_.resize(connection + 1, 0);
    uint64_t& last = last_ns_[connection];
    if (last != 0 && now_ns - last >= kStallNs) {
      if (stalls_.size() < kMaxStalls) {
        stalls_.push_back({last, now_ns - last, connection});
      } else {
        stalls_dropped_++;
      }
    }
    last = now_ns;
    if (size_t bin = Bin(now_ns); bin < kMaxBins) {
      Grow(&delivered_, bin);
      delivered_[bin]++;
    }
  }

  // The messages received so far on each local member ('totals', summed
  // over the connections' paths): what arrived since the last sample is
  // put in the bin of 'now_ns'.
  void SampleMembers(uint64_t now_ns,
                     const std::map<std::string, uint64_t>& totals) {
    const size_t bin = Bin(now_ns);
    if (bin >= kMaxBins) return;
    for (const auto& [member, total] : totals) {
      uint64_t& seen = sampled_[member];
      std::vector<uint64_t>& bins = members_[member];
      Grow(&bins, bin);
      bins[bin] += total - std::min(seen, total);
      seen = total;
    }
  }

  // The RoCEv2 frames this host's (emulated) RNICs took so far, and those
  // they dropped because they arrived on a member that does not host the
  // frame's QP: what arrived since the last sample goes to the bin of
  // 'now_ns'.
  void SampleFrames(uint64_t now_ns, uint64_t frames, uint64_t wrong) {
    const size_t bin = Bin(now_ns);
    if (bin >= kMaxBins) return;
    Grow(&frames_, bin);
    Grow(&wrong_, bin);
    frames_[bin] += frames - std::min(frames_seen_, frames);
    wrong_[bin] += wrong - std::min(wrong_seen_, wrong);
    frames_seen_ = frames;
    wrong_seen_ = wrong;
  }

  // Whether a member sample is due at 'now_ns' (once per bin).
  bool SampleDue(uint64_t now_ns) {
    const size_t bin = Bin(now_ns);
    if (sampled_bin_ && *sampled_bin_ == bin) return false;
    sampled_bin_ = bin;
    return true;
  }

  // "timeline" and "stalls" members of the report.
  void Write(JsonWriter& j) const {
    const size_t n = std::max({delivered_.size(), LongestMember(),
                               frames_.size()});
    j.Key("timeline");
    j.BeginObject();
    j.Key("clock");
    j.String("CLOCK_MONOTONIC");
    j.Key("start_ns");
    j.Uint(start_ns_);
    j.Key("bin_ms");
    j.Uint(bin_ns_ / 1'000'000);
    j.Key("delivered");
    WriteBins(j, delivered_, n);
    j.Key("members");
    j.BeginObject();
    for (const auto& [member, bins] : members_) {
      j.Key(member);
      WriteBins(j, bins, n);
    }
    j.EndObject();
    j.Key("frames");
    WriteBins(j, frames_, n);
    j.Key("wrong_member");
    WriteBins(j, wrong_, n);
    j.EndObject();
    // Stalls beyond kMaxStalls are counted, not listed: the list is then
    // incomplete, and says so.
    j.Key("stalls_dropped");
    j.Uint(stalls_dropped_);
    j.Key("stalls");
    j.BeginArray();
    for (const Stall& s : stalls_) {
      j.BeginObject();
      j.Key("start_ns");
      j.Uint(s.start_ns);
      j.Key("ms");
      j.Double(double(s.length_ns) / 1e6, 3);
      j.Key("connection");
      j.Uint(s.connection);
      j.EndObject();
    }
    j.EndArray();
  }

 private:
  uint64_t stalls_dropped_ = 0;
  struct Stall {
    uint64_t start_ns, length_ns;
    size_t connection;
  };

  size_t Bin(uint64_t now_ns) const {
    return now_ns < start_ns_ ? 0 : (now_ns - start_ns_) / bin_ns_;
  }
  static void Grow(std::vector<uint64_t>* bins, size_t bin) {
    if (bins->size() <= bin) bins->resize(bin + 1, 0);
  }
  size_t LongestMember() const {
    size_t n = 0;
    for (const auto& [member, bins] : members_) n = std::max(n, bins.size());
    return n;
  }
  static void WriteBins(JsonWriter& j, const std::vector<uint64_t>& bins,
                        size_t n) {
    j.BeginArray();
    for (size_t i = 0; i < n; i++) j.Uint(i < bins.size() ? bins[i] : 0);
    j.EndArray();
  }

  const uint64_t bin_ns_;
  const uint64_t start_ns_;
  std::vector<uint64_t> last_ns_;   // Per connection; 0: none yet.
  std::vector<uint64_t> delivered_;
  std::map<std::string, std::vector<uint64_t>> members_;
  std::map<std::string, uint64_t> sampled_;
  std::vector<uint64_t> frames_, wrong_;
  uint64_t frames_seen_ = 0, wrong_seen_ = 0;
  std::optional<size_t> sampled_bin_;
  std::vector<Stall> stalls_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PERF_TIMELINE_H_
