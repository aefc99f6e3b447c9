// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RnicMux: one RNIC shared by several users (connections), each with its
// own completions.
//
// An Rnic has one completion queue for all its QPs, as a verbs CQ does.  A
// Connection polls the completions of the RNICs it was given and takes
// every one it finds as its own, so two connections over the same RNIC
// would take each other's completions.  RnicMux sits between: each user
// gets a view (an Rnic of its own) whose PollCompletions() polls the
// shared RNIC once and sorts what it finds by QP number into the queues of
// the views that created those QPs.
//
// Usage:
//   RnicMux mux(rnic.get());                  // 'rnic' outlives 'mux'.
//   std::unique_ptr<Rnic> a = mux.NewView(), b = mux.NewView();
//   Connection::Establish(..., {a.get()}, ...);
//   Connection::Establish(..., {b.get()}, ...);
//
// Lifetime: QPs before their view, views before the mux, the mux before
// the RNIC.  Completions of a QP that no longer exists are dropped.
//
// Thread-safety: none; the mux, its views and the RNIC are used from one
// thread, like an Rnic.
#ifndef RDMA_BOND_RNIC_MUX_H_
#define RDMA_BOND_RNIC_MUX_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>

#include "rdma_bond/rnic.h"

namespace rdma_bond {

class RnicMux {
 public:
  // REQUIRES: base != nullptr; it outlives the mux.
  explicit RnicMux(Rnic* base) : base_(base) {}
  ~RnicMux();
  RnicMux(const RnicMux&) = delete;
  RnicMux& operator=(const RnicMux&) = delete;

  // A new view.  Ownership: the caller's; destroy it before the mux.
  std::unique_ptr<Rnic> NewView();

  // Completions dropped because their QP was gone (for tests).
  uint64_t orphaned() const { return orphaned_; }

 private:
  class View;
  class ViewQp;
  friend class View;
  friend class ViewQp;

  // Polls the base RNIC once and queues its completions on their views.
  void Pump();

  Rnic* const base_;
  std::unordered_map<uint32_t, View*> owners_;  // QP number -> its view.
  uint64_t orphaned_ = 0;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_RNIC_MUX_H_
