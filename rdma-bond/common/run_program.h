// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// RunProgram(): runs a helper program (ovs-vsctl) and collects its output,
// safely from a multithreaded process.
//
// The child is started with posix_spawnp() (glibc: clone(CLONE_VFORK) and
// execve, nothing allocated or locked in between, unlike fork() followed
// by C++ in the child), with
//   - standard input from /dev/null, standard output (and, if asked,
//     standard error) into a pipe, every other descriptor closed by
//     O_CLOEXEC;
//   - a clean environment: PATH and the caller's OVS_* variables only
//     (ovs-vsctl finds its database through OVS_RUNDIR);
//   - default signal dispositions and an empty signal mask.
// The calling thread waits at most 'timeout', then kills the child.
//
// Capabilities: an unprivileged caller's ambient capabilities would pass
// to the child across execve().  Callers that hold some (the agent holds
// CAP_NET_RAW) call DropAmbientCapabilities() on the thread that spawns
// first; capabilities are per thread, so the others keep theirs.

#ifndef RDMA_BOND_COMMON_RUN_PROGRAM_H_
#define RDMA_BOND_COMMON_RUN_PROGRAM_H_

#include <chrono>
#include <string>
#include <vector>

#include "rdma_bond/status.h"

namespace rdma_bond {

struct RunProgramOptions {
  std::chrono::milliseconds timeout{10000};
  bool merge_stderr = false;    // false: standard error goes to /dev/null.
  std::size_t max_output = 1 << 20;  // Bytes kept; the rest is read, dropped.
  // Its standard input ("ip -batch -"); empty: /dev/null.  At most
  // kMaxProgramInput bytes, so that it fits the pipe before the child runs.
  std::string input;
};

// What a pipe holds without a reader (Linux's default pipe capacity).
inline constexpr std::size_t kMaxProgramInput = 65536;

struct ProgramOutput {
  std::string out;              // Standard output (and error, if merged).
  int exit_code = 0;            // Its exit status (it exited normally).
};

// Runs 'argv' (argv[0] searched in PATH).  Fails with InvalidArgument
// when options.input is longer than kMaxProgramInput.  Fails with Unavailable when it
// cannot be started, is killed by a signal or runs past the timeout (then
// it is killed); otherwise returns its output and exit code, whatever the
// code (127: not found).
Result<ProgramOutput> RunProgram(const std::vector<std::string>& argv,
                                 const RunProgramOptions& options = {});

// The environment RunProgram() gives: "PATH=..." (ours, or a standard one)
// and our OVS_* variables.
std::vector<std::string> CleanEnvironment();

// Clears the calling thread's ambient capability set, so that programs it
// spawns start without capabilities.  Returns an error from prctl().
Status DropAmbientCapabilities();

}  // namespace rdma_bond

#endif  // RDMA_BOND_COMMON_RUN_PROGRAM_H_
