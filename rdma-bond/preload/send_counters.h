// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The bytes each QP the preload pins was handed to send, for the agent's
// LOAD (docs/rebalance.md).
//
// ibv_post_send() is inline in <infiniband/verbs.h> and calls
// qp->context->ops.post_send.  WrapPostSend() puts CountingPostSend() there
// (once per context; the provider's function is kept and called), which
// adds the payload of every send and RDMA write the provider took to the
// QP's counter.  The posting path takes no lock: a fixed table of slots
// found by the QP's address, with atomic counters.  Programs that post with
// ibv_wr_*() (extended QPs) are not counted.
//
// A header of its own so that rdma-bond/bench/post_send_bench.cc measures
// this very code: each program that includes it has its own table (inline
// variables).  The preload is its only user in a product.

#ifndef RDMA_BOND_PRELOAD_SEND_COUNTERS_H_
#define RDMA_BOND_PRELOAD_SEND_COUNTERS_H_

#include <infiniband/verbs.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace rdma_bond::preload {

class SendCounters {
 public:
  static constexpr size_t kSlots = 8192;   // A power of 2.

  // Starts counting 'qp' from 0.  REQUIRES: one caller at a time for
  // Add() and Remove() (the preload's mutex).  False when full.
  bool Add(ibv_qp* qp) {
    if (Find(qp)) return true;
    for (size_t i = 0, h = Hash(qp); i < kSlots; i++) {
      Slot& s = slots_[(h + i) & (kSlots - 1)];
      ibv_qp* cur = s.qp.load(std::memory_order_relaxed);
      if (cur == nullptr || cur == Tombstone()) {
        s.bytes.store(0, std::memory_order_relaxed);
        s.qp.store(qp, std::memory_order_release);
        size_++;
        return true;
      }
    }
    return false;
  }
  // Stops counting 'qp'.  REQUIRES: as Add(), and nobody posts on 'qp'
  // any more (it is being destroyed).
  //
  // Its slot becomes a tombstone, so that lookups probe past it, unless
  // the next slot is empty: then it and the tombstones before it become
  // empty too (no QP's probe sequence runs through them), and so does the
  // whole table once it holds no QP.  Otherwise tombstones left by QPs
  // that came and went would lengthen the lookup of QPs not counted.
  void Remove(ibv_qp* qp) {
    Slot* s = Find(qp);
    if (!s) return;
    s->qp.store(Tombstone(), std::memory_order_release);
    if (--size_ == 0) {
      for (Slot& t : slots_) t.qp.store(nullptr, std::memory_order_release);
      return;
    }
    size_t i = s - slots_;
    if (slots_[(i + 1) & (kSlots - 1)].qp.load(std::memory_order_relaxed)) {
      return;
    }
    while (slots_[i].qp.load(std::memory_order_relaxed) == Tombstone()) {
      slots_[i].qp.store(nullptr, std::memory_order_release);
      i = (i - 1) & (kSlots - 1);
    }
  }
  // Lock-free: adds 'bytes' to 'qp''s count if it is counted.
  void Count(ibv_qp* qp, uint64_t bytes) {
    if (Slot* s = Find(qp)) s->bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  std::optional<uint64_t> Read(ibv_qp* qp) {
    Slot* s = Find(qp);
    if (!s) return std::nullopt;
    return s->bytes.load(std::memory_order_relaxed);
  }
  // For tests: the slots of removed QPs that lookups still probe past.
  size_t tombstones() const {
    size_t n = 0;
    for (const Slot& s : slots_) {
      n += s.qp.load(std::memory_order_relaxed) == Tombstone();
    }
    return n;
  }

 private:
  struct Slot {
    std::atomic<ibv_qp*> qp{nullptr};
    std::atomic<uint64_t> bytes{0};
  };
  static ibv_qp* Tombstone() { return reinterpret_cast<ibv_qp*>(1); }
  static size_t Hash(const ibv_qp* qp) {
    return (reinterpret_cast<uintptr_t>(qp) >> 4) * 0x9e3779b97f4a7c15ull >>
           51;
  }
  Slot* Find(const ibv_qp* qp) {
    for (size_t i = 0, h = Hash(qp); i < kSlots; i++) {
      Slot& s = slots_[(h + i) & (kSlots - 1)];
      ibv_qp* cur = s.qp.load(std::memory_order_acquire);
      if (cur == qp) return &s;
      if (cur == nullptr) return nullptr;
    }
    return nullptr;
  }
  Slot slots_[kSlots];
  size_t size_ = 0;   // QPs counted.  Guarded as Add() and Remove().
};

inline SendCounters g_send_counters;

using PostSendFn = int (*)(ibv_qp*, ibv_send_wr*, ibv_send_wr**);

// The provider's post_send of each context that was wrapped.
struct WrappedContext {
  std::atomic<ibv_context*> context{nullptr};
  std::atomic<PostSendFn> post_send{nullptr};
};
inline constexpr size_t kMaxWrappedContexts = 64;
inline WrappedContext g_wrapped[kMaxWrappedContexts];

// The payload bytes of a send work request that leave this host.
inline uint64_t SendBytes(const ibv_send_wr& wr) {
  switch (wr.opcode) {
    case IBV_WR_SEND:
    case IBV_WR_SEND_WITH_IMM:
    case IBV_WR_SEND_WITH_INV:
    case IBV_WR_RDMA_WRITE:
    case IBV_WR_RDMA_WRITE_WITH_IMM: {
      uint64_t n = 0;
      for (int i = 0; i < wr.num_sge; i++) n += wr.sg_list[i].length;
      return n;
    }
    default:
      return 0;   // Reads and atomics: their data comes from the peer.
  }
}

// What a wrapped context's ops.post_send is: the provider's, then the
// count of the work requests it took (all of them, or those before
// *bad_wr when it failed).
inline int CountingPostSend(ibv_qp* qp, ibv_send_wr* wr,
                            ibv_send_wr** bad_wr) {
  PostSendFn real = nullptr;
  for (WrappedContext& w : g_wrapped) {
    if (w.context.load(std::memory_order_acquire) == qp->context) {
      real = w.post_send.load(std::memory_order_acquire);
      break;
    }
  }
  if (!real) return ENOSYS;   // Never: only wrapped contexts come here.
  const int rc = real(qp, wr, bad_wr);
  uint64_t bytes = 0;
  for (ibv_send_wr* w = wr; w && !(rc != 0 && bad_wr && w == *bad_wr);
       w = w->next) {
    bytes += SendBytes(*w);
  }
  if (bytes) g_send_counters.Count(qp, bytes);
  return rc;
}

// Puts CountingPostSend in 'context''s ops, once.  REQUIRES: one caller
// at a time (the preload's mutex).  nullptr, or why it cannot.
inline const char* WrapPostSend(ibv_context* context) {
  PostSendFn current = context->ops.post_send;
  if (current == CountingPostSend) return nullptr;
  if (current == nullptr) return "its device has no post_send";
  // A context at the address of one wrapped before is a new one (the old
  // one was closed: nobody posts on it), maybe of another provider.
  WrappedContext* slot = nullptr;
  for (WrappedContext& w : g_wrapped) {
    if (w.context.load(std::memory_order_relaxed) == context) {
      slot = &w;
      break;
    }
  }
  if (slot) {
    slot->post_send.store(current, std::memory_order_release);
    __atomic_store_n(&context->ops.post_send, &CountingPostSend,
                     __ATOMIC_RELEASE);
    return nullptr;
  }
  for (WrappedContext& w : g_wrapped) {
    if (w.context.load(std::memory_order_relaxed) == nullptr) {
      w.post_send.store(current, std::memory_order_relaxed);
      w.context.store(context, std::memory_order_release);
      // Other threads may post on the context's other QPs meanwhile: one
      // aligned pointer store (they read it without a lock either way).
      __atomic_store_n(&context->ops.post_send, &CountingPostSend,
                       __ATOMIC_RELEASE);
      return nullptr;
    }
  }
  return "more than 64 devices";
}

}  // namespace rdma_bond::preload

#endif  // RDMA_BOND_PRELOAD_SEND_COUNTERS_H_
