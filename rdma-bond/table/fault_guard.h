// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RunGuarded(): reads of the mapped table that survive the table being
// truncated under them.
//
// Motivation.  Reading a page of a MAP_SHARED mapping that lies past the
// end of its file raises SIGBUS, which kills the reader: the agent and
// every application.  TableReader checks the file's size with fstat()
// before it reads, but the writer (or whoever can write the file) may
// truncate it between that check and the reads.  Inside RunGuarded(), a
// SIGBUS whose address lies in the guarded range returns from RunGuarded()
// with false instead.
//
// How.  The first RunGuarded() installs a SIGBUS handler (SA_SIGINFO,
// SA_NODEFER, SA_ONSTACK) that remembers the handler it replaced.  A
// thread-local chain of guards holds a sigjmp_buf and a range each; a fault
// inside the range of one of the current thread's guards siglongjmp()s
// back to the innermost such guard.  Any other SIGBUS
// goes to the replaced handler, or, if that was the default, kills the
// process as it would have.  The guarded code must be a plain copy: no
// locks, no allocation, nothing that a jump out of it would leave half
// done.  A program that installs its own SIGBUS handler afterwards loses
// the guard (reads then fail as they did before it), never its handler.
//
// Under ThreadSanitizer (tests-tsan) there is no guard: the reads are its
// own atomic loads, and it cannot return from a SIGBUS raised inside them.
// kFaultGuardAvailable says which.

#ifndef RDMA_BOND_TABLE_FAULT_GUARD_H_
#define RDMA_BOND_TABLE_FAULT_GUARD_H_

#include <cstddef>
#include <type_traits>

namespace rdma_bond {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kFaultGuardAvailable = false;
#else
inline constexpr bool kFaultGuardAvailable = true;
#endif

namespace internal {
// Runs fn(arg) under a guard over [base, base + size); false if it
// faulted there.  Out of line, so that the frame that calls sigsetjmp()
// holds nothing a jump could clobber.
bool RunGuardedCall(const void* base, std::size_t size, void (*fn)(void*),
                    void* arg);
}  // namespace internal

// Runs 'read()', which reads only from [base, base + size).  Returns true
// if it completed, false if it faulted there with SIGBUS (the file behind
// the mapping was truncated).
template <typename Read>
bool RunGuarded(const void* base, std::size_t size, Read&& read) {
  return internal::RunGuardedCall(
      base, size,
      [](void* arg) { (*static_cast<std::remove_reference_t<Read>*>(arg))(); },
      const_cast<void*>(static_cast<const void*>(&read)));
}

}  // namespace rdma_bond

#endif  // RDMA_BOND_TABLE_FAULT_GUARD_H_
