// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// PreloadCore: the decisions of librdmabond-preload.so, apart from the
// interposed symbols (preload.cc) so that they can be tested without
// rdma-core.
//
// librdmabond-preload.so gives programs that were not written for
// librdmabond the same pinning (docs/preload.md): it interposes
// ibv_open_device() and ibv_modify_qp() and decides, with this class,
//
//   - which RDMA device a program gets when it opens one that sits behind
//     a member of a published bond (RedirectFor()): in active-backup the
//     active member's, so that no frame leaves a standby NIC;
//   - which RoCEv2 flow label a connected QP gets when it moves to RTR
//     (PlanQp()): one whose UDP source port OVS sends out of the member
//     whose RNIC holds the QP;
//   - whether a QP it pinned is still pinned after the bond changed
//     (Check()).
//
// What a QP sends from is read from sysfs (rdma_sysfs.h): the GID table
// entry its address vector names gives the source address and the netdev,
// which is the bond member.  The bond comes from the table's snapshot
// (SetTable()).
//
// Thread-safety: none; the preload serializes calls with its own mutex.

#ifndef RDMA_BOND_PRELOAD_PRELOAD_CORE_H_
#define RDMA_BOND_PRELOAD_PRELOAD_CORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"
#include "rnic/verbs/rdma_sysfs.h"

namespace rdma_bond {

// What to do with a QP that a bond change left on the wrong member and
// that cannot be moved in place (RDMA_BOND_PRELOAD_ON_MISPIN).
enum class MispinPolicy : uint8_t {
  kKeep,      // Leave it (it keeps sending from the wrong member); warn.
  kError,     // Move it to the error state: the program's error handling
              // (reconnect or exit) rebuilds it on the right member.
};
std::string_view ToString(MispinPolicy policy);

enum class PreloadLog : uint8_t { kQuiet, kInfo, kDebug };

// The preload's settings, from its environment (docs/preload.md).
struct PreloadConfig {
  bool disabled = false;            // RDMA_BOND_PRELOAD_DISABLE=1.
  std::string bond;                 // RDMA_BOND_PRELOAD_BOND ("" = any).
  MispinPolicy on_mispin = MispinPolicy::kKeep;
  PreloadLog log = PreloadLog::kInfo;
  bool redirect = true;             // RDMA_BOND_PRELOAD_REDIRECT=0: off.
  std::string table_path;           // RDMA_BOND_PRELOAD_SHM, else the
                                    // default table ($OVS_RUNDIR).
  std::string sysfs_root = std::string(kDefaultSysfsRoot);
  // One line per variable that had a bad value; the preload then stays
  // out of the way (disabled) and says why once.
  std::vector<std::string> errors;
};

// Reads the variables through 'getenv' (a function so that tests need
// not touch the process's environment).
PreloadConfig ParsePreloadConfig(
    const std::function<const char*(const char*)>& getenv);

// RDMA_BOND_PRELOAD_* variable names.
inline constexpr const char* kPreloadEnvDisable = "RDMA_BOND_PRELOAD_DISABLE";
inline constexpr const char* kPreloadEnvBond = "RDMA_BOND_PRELOAD_BOND";
inline constexpr const char* kPreloadEnvOnMispin =
    "RDMA_BOND_PRELOAD_ON_MISPIN";
inline constexpr const char* kPreloadEnvLog = "RDMA_BOND_PRELOAD_LOG";
inline constexpr const char* kPreloadEnvRedirect =
    "RDMA_BOND_PRELOAD_REDIRECT";
inline constexpr const char* kPreloadEnvShm = "RDMA_BOND_PRELOAD_SHM";
inline constexpr const char* kPreloadEnvSysfs = "RDMA_BOND_PRELOAD_SYSFS";

// Open 'device' as 'to' instead (RedirectFor()).
struct DeviceRedirect {
  std::string bond;
  std::string from_member;          // The member behind the asked device.
  std::string to_device;
  std::string to_member;            // The active member.
};

// A connected QP's address vector at its move to RTR.
struct QpPinRequest {
  std::string device;               // The device the QP is on.
  uint32_t port = 1;
  uint32_t sgid_index = 0;
  Gid dgid{};
  uint32_t flow_label = 0;          // What the program set (0: none).
  uint32_t qpn = 0, dest_qpn = 0;
  // When the program opened another device and got 'device'
  // (RedirectFor()): that device; its GID index 'sgid_index' names the
  // address the program meant.
  std::string asked_device;
};

// What PlanQp() decided.
struct QpPinPlan {
  std::string bond, member;         // The member whose RNIC holds the QP.
  IpAddress src, dst;
  uint32_t sgid_index = 0;          // To use (differs when remapped).
  uint32_t flow_label = 0;          // To use (the program's if it fits).
  uint16_t sport = 0;               // The UDP source port it gives.
  // OVS sends the QP's 5-tuple out of 'member'.  False when no port can
  // (active-backup and the member is not active, a disabled member...):
  // 'why' says so, and the program's flow label is left as it was.
  bool pinned = false;
  std::string why;
  // Not pinned because OVS sends none of its flows out of 'member' (a
  // standby in active-backup, a disabled member...), as opposed to a bond
  // that cannot be predicted.
  bool wrong_member = false;
};

// The members whose RNICs have a RoCEv2 GID of an address (BondOfAddress()).
struct AddressOwner {
  std::string bond;
  std::vector<std::string> members;
};

class PreloadCore {
 public:
  explicit PreloadCore(PreloadConfig config);

  const PreloadConfig& config() const { return config_; }

  // The table as last read; nullopt when there is none (no ovs-vswitchd
  // or no published bond): then nothing is redirected or pinned.
  void SetTable(std::optional<TableSnapshot> snapshot);
  const std::optional<TableSnapshot>& table() const { return table_; }

  // The device to open instead of 'device', or nullopt (open it): only
  // in active-backup (or balance-tcp in the LACP fallback), for a device
  // behind a member other than the active one, when the active member
  // has an RDMA device.
  std::optional<DeviceRedirect> RedirectFor(std::string_view device) const;

  // The pin of a connected QP.  NotFound when its GID is on no member of
  // a published bond (the preload then leaves it alone); other errors
  // say what could not be read.  'validated': source ports the agent
  // validated from the QP's member toward the peer (tried first; empty
  // when it has none).
  Result<QpPinPlan> PlanQp(const QpPinRequest& request,
                           std::span<const uint16_t> validated = {}) const;

  // Whether OVS still sends 'plan's 5-tuple out of its member under the
  // current table.  nullopt: yes (or the bond is gone: nothing to say).
  // Otherwise the reason, one sentence.
  std::optional<std::string> Check(const QpPinPlan& plan) const;

  // The published bond (honouring config.bond) whose members' RNICs have
  // a RoCEv2 GID of 'ip' (the agent's RoCE plumbing puts the bridge's
  // addresses there), or nullopt.
  std::optional<AddressOwner> BondOfAddress(const IpAddress& ip) const;

  // rdma_cm source ports P (1024..65535, starting at a place 'seed'
  // chooses) whose connection's UDP source port, RdmaCmUdpSport(P,
  // 'dport'), OVS sends out of 'member' of 'bond' for src -> dst; at most
  // 'count'.  Every port when OVS sends all of them out of 'member'.
  // NotFound (saying why) when no port does.
  Result<std::vector<uint16_t>> CmPortsFor(const std::string& bond,
                                           const std::string& member,
                                           const IpAddress& src,
                                           const IpAddress& dst,
                                           uint16_t dport, size_t count,
                                           uint32_t seed) const;

  // The bond (by name) whose members include 'netdev', honouring
  // config.bond; nullptr if none.
  // The RDMA port of member 'm' (through its published location).
  Result<RdmaPortRef> PortOf(const Member& m) const;
  const Bond* BondOfMember(std::string_view netdev) const;

  // The netdev behind RDMA device 'device' port 'port' among the members
  // of the published bonds, or "".
  std::string MemberOfDevice(std::string_view device, uint32_t port) const;

 private:
  Result<Predictor> PredictorFor(const Bond& bond) const;

  PreloadConfig config_;
  RdmaSysfs sysfs_;
  std::optional<TableSnapshot> table_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PRELOAD_PRELOAD_CORE_H_
