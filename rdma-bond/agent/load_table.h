// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The RDMA load the agent measured, per bond, and the writer of the load
// table (lib/rdma-bond-load.h) through which ovs-vswitchd's rebalancing
// counts it (docs/rebalance.md).
//
// The applications report how many bytes each registered QP was handed to
// send (registry LOAD).  The agent adds each difference to its bond:
//   - to the bucket of the QP's 5-tuple when the QP belongs to a
//     librdmabond connection (conn=) on a bond that hashes its flows in a
//     way the agent reproduces (not the kernel datapath's): such
//     a connection holds a path on every member and moves the traffic of
//     a bucket that OVS moves onto its path on the bucket's new member;
//   - otherwise to the QP's member, as load that no bucket move shifts.
// LoadTable publishes the counts every second.
//
// Thread-safety: none; the agent's main loop owns both.

#ifndef RDMA_BOND_AGENT_LOAD_TABLE_H_
#define RDMA_BOND_AGENT_LOAD_TABLE_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "rdma-bond-load.h"
#include "rnic/verbs/rdma_sysfs.h"
#include "rdma_bond/status.h"

namespace rdma_bond::agent {

// How often the agent writes the load table.
inline constexpr uint64_t kLoadPublishMs = 1000;
// How often the agent looks again for a member's RDMA port it did not
// find (its device counter is read with every publication).
inline constexpr uint64_t kDeviceResolveMs = 60000;

// A member's RDMA device counter (RdmaSysfs::ReadPortXmitBytes()), where
// the device has one the agent trusts (mlx5: it counts the RoCE traffic
// only): what the RNIC really sent.  The part of it that no QP reported
// (READ responses, ACKs, headers, kernel consumers, programs run without
// the preload) is the member's pinned load too.
struct MemberDeviceLoad {
  std::string error;         // Why it is not counted now; "" when it is.
  uint64_t tx_bytes = 0;     // Sent, counted since the agent read it first.
  uint64_t unreported = 0;   // Of those, beyond the QPs' reports: pinned.

  // The port found for the member's netdev and PCI function ('identity'),
  // looked for again only when they change, or kDeviceResolveMs after it
  // was not found: finding it reads the devices' GID tables, thousands of
  // sysfs files with rxe, which delayed the agent's answers by more than
  // 100 ms in a TCG guest when it was done every second.
  std::string identity;
  std::optional<RdmaPortRef> where;
  std::string where_error;
  uint64_t next_resolve_ms = 0;
  // "mlx5_0:1"; "" when none was found.
  std::string port() const { return where ? ToString(*where) : ""; }

  // Since the counter was last (re)started: its last value, the member's
  // reported bytes then, the bytes it counted and the unreported ones.
  bool counting = false;
  uint64_t last_raw = 0;
  uint64_t reported_base = 0;
  uint64_t epoch_tx = 0;
  uint64_t epoch_unreported = 0;
};

// Cumulative bytes of one bond since the agent started.
struct BondLoad {
  std::array<uint64_t, RDMA_BOND_BUCKETS> buckets{};  // Movable, by bucket.
  std::map<std::string, uint64_t> pinned;             // By member.
  // Every byte counted, movable or not, by the member that carried it
  // (the QP's, which OVS agreed with when it was pinned): for the
  // metrics, not in the table.
  std::map<std::string, uint64_t> by_member;
  // The members' device counters, by member (AgentCore
  // ReadDeviceCounters()); 'pinned' includes their unreported bytes.
  std::map<std::string, MemberDeviceLoad> devices;
  uint32_t movable_qps = 0;     // QPs counted in 'buckets' now.
  uint32_t pinned_qps = 0;      // QPs counted in 'pinned' now.

  uint64_t movable_total() const;
  uint64_t pinned_total() const;
};

class LoadTable {
 public:
  // Creates the table at 'path' (through a temporary file and rename(),
  // mode 0644), its heartbeat 'now_ns', with a new random instance id.
  static Result<std::unique_ptr<LoadTable>> Create(const std::string& path,
                                                   uint64_t now_ns);
  // Unmaps the table and removes the file: a reader then finds no table
  // rather than a stale one.
  ~LoadTable();
  LoadTable(const LoadTable&) = delete;
  LoadTable& operator=(const LoadTable&) = delete;

  // Writes one record per bond of 'loads' (a bond keeps its slot while it
  // is there), releases the slots of the bonds that are gone, refreshes
  // the heartbeat.  Bonds beyond RDMA_BOND_LOAD_MAX_BONDS, and members
  // beyond RDMA_BOND_MAX_MEMBERS, are left out (counted in 'dropped()').
  void Publish(const std::map<std::string, BondLoad>& loads,
               uint64_t now_ns);

  const std::string& path() const { return path_; }
  uint64_t instance_id() const { return instance_id_; }
  uint64_t dropped() const { return dropped_; }

 private:
  LoadTable(std::string path, void* base, uint64_t instance_id);
  void Store(size_t slot, const rdma_bond_load_record& record);

  std::string path_;
  void* base_;
  uint64_t instance_id_;
  std::map<std::string, size_t> slots_;   // Bond name -> slot.
  uint64_t dropped_ = 0;
};

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_LOAD_TABLE_H_
