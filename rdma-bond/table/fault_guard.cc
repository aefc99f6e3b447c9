// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "table/fault_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <mutex>

namespace rdma_bond {
namespace {

// One RunGuardedCall() of a thread, innermost first through 'outer'.
struct FaultGuard {
  sigjmp_buf env;
  const void* begin = nullptr;
  const void* end = nullptr;
  FaultGuard* outer = nullptr;
};

struct sigaction replaced;

// initial-exec: reading it in the handler must not allocate (a dynamic TLS
// block is allocated on a thread's first access, which is not
// async-signal-safe).
__attribute__((tls_model("initial-exec"))) thread_local FaultGuard*
    current_guard = nullptr;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  // The innermost guard that covers the address (an outer one's jump
  // abandons the inner ones with it).
  for (FaultGuard* guard = current_guard; guard && info;
       guard = guard->outer) {
    if (info->si_addr >= guard->begin && info->si_addr < guard->end) {
      siglongjmp(guard->env, 1);
    }
  }
  // Not a read of ours: what would have happened without us.
  if (replaced.sa_flags & SA_SIGINFO) {
    if (replaced.sa_sigaction != nullptr) {
      replaced.sa_sigaction(sig, info, context);
      return;
    }
  } else if (replaced.sa_handler != SIG_DFL &&
             replaced.sa_handler != SIG_IGN) {
    replaced.sa_handler(sig);
    return;
  }
  // Default (or ignored, which a fault cannot be): restore it and return;
  // the faulting instruction runs again and the kernel kills the process
  // with SIGBUS, core and all.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
}

void InstallFaultHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &replaced);
  });
}

}  // namespace

namespace internal {

__attribute__((noinline)) bool RunGuardedCall(const void* base,
                                              std::size_t size,
                                              void (*fn)(void*), void* arg) {
  if constexpr (!kFaultGuardAvailable) {
    fn(arg);
    return true;
  }
  InstallFaultHandler();
  FaultGuard guard;
  guard.begin = base;
  guard.end = static_cast<const char*>(base) + size;
  guard.outer = current_guard;
  // No mask saved (no system call): the handler is SA_NODEFER with an
  // empty sa_mask, so it runs with the thread's own mask, which the jump
  // out of it leaves as it was.
  if (sigsetjmp(guard.env, 0) != 0) {
    current_guard = guard.outer;
    return false;
  }
  current_guard = &guard;
  fn(arg);
  current_guard = guard.outer;
  return true;
}

}  // namespace internal
}  // namespace rdma_bond
