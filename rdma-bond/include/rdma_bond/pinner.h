// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Pinner: keeps every registered RDMA queue pair on the member that Open
// vSwitch uses for the QP's flow.
//
// A RoCEv2 QP sends from one RNIC, whose port is one member of an OVS bond,
// with one UDP source port.  OVS sends the same 5-tuple out of the member
// its bond chooses.  A QP is *pinned* when the two agree: its RNIC's member
// is the member OVS would use for (local IP, remote IP, UDP source port,
// 4791).  The pinner holds a registry of QPs with their current pin
// (member, source port) and, whenever the bond changes (a new table
// snapshot passed to Update()), works out incrementally which QPs are now
// mispinned and hands each a new pin:
//
//   - active-backup (and the LACP fallback): every QP goes to the active
//     member, its source port unchanged;
//   - balance-tcp: only QPs whose bucket changed owner (or whose hash
//     changed: basis, regime) are looked at.  A QP whose member is still
//     enabled keeps its RNIC and gets a new source port that maps to it; a
//     QP whose member went down moves to the member that now owns its
//     bucket, source port unchanged (or, if that bucket is not usable, to
//     the least-loaded usable member with a new port);
//   - no QP is ever left on a disabled member: if no member can carry it
//     (the bond drops everything), the QP is marked unpinnable.
//
// Re-pins are delivered through a callback and also queued
// (TakeRepins()); the backends apply them.  The registry records the new
// pin at once: it holds the pins the QPs should have.
//
// Usage:
//   Pinner pinner;
//   RETURN_IF_ERROR(pinner.Update(bond, table_hash_impl));
//   Result<Pin> pin = pinner.Choose(qp_num, local, remote);  // new QP
//   ... on every table change:
//   pinner.Update(new_bond, table_hash_impl);
//   for (const Repin& r : pinner.TakeRepins()) backend.Apply(r);
//
// Thread-safety: none; one thread at a time (the owner serializes calls,
// e.g. on its event loop).  The callback runs inside Update(),
// Register() and Choose(), on the caller's thread, and must not call back
// into the Pinner.

#ifndef RDMA_BOND_PINNER_H_
#define RDMA_BOND_PINNER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rdma_bond/bond.h"
#include "rdma_bond/five_tuple.h"
#include "rdma_bond/ovs_hash.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// Identifies a QP in the registry (a QP number, or any unique key).
using QpId = uint64_t;

// Where a QP sends from: the bond member whose RNIC hosts it, and its
// RoCEv2 UDP source port.
struct Pin {
  std::string member;               // Member interface name.
  uint16_t sport = 0;               // 0xc000..0xffff.

  friend bool operator==(const Pin&, const Pin&) = default;
};

// Why a QP was re-pinned.
enum class RepinReason : uint8_t {
  kRegistered,        // Its pin at registration did not match the bond.
  kActiveMember,      // Active-backup: the active member changed.
  kMemberDown,        // Its member was disabled or left the bond.
  kBucketMoved,       // balance-tcp: its bucket moved to another member.
  kHashChanged,       // The basis, regime or mode changed its bucket.
};
std::string_view ToString(RepinReason reason);

// One re-pin: QP 'qp' must move from 'from' to 'to'.
struct Repin {
  QpId qp = 0;
  Pin from;
  Pin to;
  RepinReason reason = RepinReason::kRegistered;
};

// A registered QP as the pinner sees it.
struct QpView {
  QpId id = 0;
  IpAddress local;
  IpAddress remote;
  Pin pin;
  bool unpinnable = false;          // No member can carry it now.
};

class Pinner {
 public:
  struct Options {
    // Kernel-regime bonds: pin by the canonical hash (unverified; see
    // Predictor::Options) instead of refusing.
    bool accept_canonical_hash = false;
  };
  using Callback = std::function<void(const Repin&)>;

  Pinner() : Pinner(Options()) {}
  explicit Pinner(const Options& options) : options_(options) {}

  // Calls 'callback' for every re-pin, in addition to queuing it.
  void SetCallback(Callback callback) { callback_ = std::move(callback); }

  // Takes a new snapshot of the bond (from TableReader::Snapshot(); the
  // table header's hash_impl).  Re-pins every QP that the change
  // mispinned.  On error (the snapshot cannot be predicted: vector
  // mismatch, unavailable hash, kernel regime...), nothing changes and the
  // previous snapshot stays in force.
  Status Update(const Bond& bond, uint32_t table_hash_impl);

  // Registers a QP that already exists with pin 'current'.  If the bond
  // would not send its flow out of 'current.member', a re-pin follows at
  // once.  Fails if 'id' is registered, the addresses mix IP versions, or
  // no snapshot was given yet.
  Status Register(QpId id, const IpAddress& local, const IpAddress& remote,
                  const Pin& current);

  // Chooses a pin for a new QP and registers it: the active member in
  // active-backup; in balance-tcp the usable member with the fewest QPs
  // and a source port that maps to it (spread by 'id').  Fails if no
  // member can carry the flow (the reason says why).
  Result<Pin> Choose(QpId id, const IpAddress& local,
                     const IpAddress& remote);

  // Forgets QP 'id'.  Fails with NotFound if it is not registered.
  Status Unregister(QpId id);

  // The re-pins since the last call, in the order they were decided.
  std::vector<Repin> TakeRepins();

  // The QP 'id', or nullopt.
  std::optional<QpView> Find(QpId id) const;

  // Number of registered QPs.
  size_t size() const { return qps_.size(); }
  // QPs that no member can carry now.
  size_t CountUnpinnable() const;
  // QPs whose pin disagrees with the current snapshot (recomputed from
  // scratch: for tests and metrics; must be CountUnpinnable() after every
  // Update()).
  size_t CountMispinned() const;
  // QPs per member of the current snapshot (indexed like its members).
  std::vector<size_t> MemberLoads() const;

  // The current snapshot's bond, or nullptr before the first Update().
  const Bond* bond() const {
    return predictor_ ? &predictor_->bond() : nullptr;
  }

 private:
  // Member index value for "no member".
  static constexpr uint8_t kNone = RDMA_BOND_NO_MEMBER;

  struct Qp {
    QpId id = 0;
    IpAddress local;
    IpAddress remote;
    FlowKey key;                    // The flow with the current sport.
    uint16_t sport = 0;
    uint8_t member = kNone;         // Index into the snapshot's members.
    uint8_t bucket = 0;             // Under the current hash, if hashed.
    bool unpinnable = false;
  };

  // How the current snapshot maps flows, to tell what an update changed.
  struct HashParams {
    bool hashed = false;            // Buckets decide (balance-tcp/slb).
    HashRegime regime = HashRegime::kNone;
    uint32_t basis = 0;
    uint32_t impl = 0;
    friend bool operator==(const HashParams&, const HashParams&) = default;
  };

  HashParams ParamsOf(const Bond& bond, uint32_t impl) const;
  // Checks 'qp' against the current predictor; re-pins it if needed.
  void Check(Qp& qp, RepinReason reason);
  // A usable member for a QP that cannot stay on its own, with a port.
  std::optional<SportChoice> Relocate(const Qp& qp, uint8_t* member) const;
  void Emit(Qp& qp, uint8_t member, uint16_t sport, RepinReason reason);
  Pin PinOf(const Qp& qp) const;
  // The name of member 'member' of the current snapshot, or "".
  const std::string& MemberName(uint8_t member) const;

  Options options_;
  Callback callback_;
  std::optional<Predictor> predictor_;
  HashParams params_;
  // Who carries each bucket in the current snapshot, as "member name" or
  // "" (unassigned or disabled owner), to find the buckets an update
  // moved; and the active member's name.
  std::array<std::string, RDMA_BOND_BUCKETS> carriers_;
  std::string active_;
  std::vector<Qp> qps_;
  std::unordered_map<QpId, size_t> index_;  // id -> position in qps_.
  std::vector<size_t> loads_;               // QPs per member.
  std::vector<Repin> pending_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_PINNER_H_
