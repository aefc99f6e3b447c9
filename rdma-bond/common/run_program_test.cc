// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/run_program.h"

#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace rdma_bond {
namespace {

using std::chrono::milliseconds;

TEST(RunProgramTest, CollectsOutputAndExitCode) {
  Result<ProgramOutput> r = RunProgram({"sh", "-c", "echo hi; echo oops >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "hi\n");  // Standard error went to /dev/null.
  EXPECT_EQ(r->exit_code, 3);

  RunProgramOptions merged;
  merged.merge_stderr = true;
  r = RunProgram({"sh", "-c", "echo hi; echo oops >&2"}, merged);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "hi\noops\n");
  EXPECT_EQ(r->exit_code, 0);
}

TEST(RunProgramTest, GivesItsInputOrNothing) {
  RunProgramOptions fed;
  fed.input = "link set dev eth0 up\nlink set dev eth1 up\n";
  Result<ProgramOutput> r = RunProgram({"sh", "-c", "wc -l; cat"}, fed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "2\n");  // wc read it all: cat found its end.

  // Without input, standard input is /dev/null: at its end at once.
  r = RunProgram({"sh", "-c", "cat; echo end"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "end\n");

  // A child that never reads it does not hang us.
  r = RunProgram({"true"}, fed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0);

  fed.input.assign(kMaxProgramInput + 1, 'x');
  r = RunProgram({"cat"}, fed);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("more than 65536"), std::string::npos)
      << r.status().ToString();
}

TEST(RunProgramTest, MissingProgramIs127) {
  // A PATH of directories anyone may search (a directory we may not search
  // makes the lookup EACCES, as for execvp()).
  const std::string old_path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", "/usr/bin:/bin", 1);
  Result<ProgramOutput> r = RunProgram({"rdma-bond-no-such-program"});
  setenv("PATH", old_path.c_str(), 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 127);
}

TEST(RunProgramTest, GivesACleanEnvironment) {
  setenv("RDMA_BOND_TEST_SECRET", "hunter2", 1);
  setenv("OVS_RUNDIR", "/tmp/rdma-bond-test-rundir", 1);
  Result<ProgramOutput> r = RunProgram({"env"});
  unsetenv("RDMA_BOND_TEST_SECRET");
  unsetenv("OVS_RUNDIR");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->out.find("OVS_RUNDIR=/tmp/rdma-bond-test-rundir\n"),
            std::string::npos)
      << r->out;
  std::istringstream lines(r->out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    n++;
    EXPECT_TRUE(line.rfind("PATH=", 0) == 0 || line.rfind("OVS_", 0) == 0)
        << "leaked into the child: " << line;
  }
  EXPECT_GE(n, 2);
}

TEST(RunProgramTest, SignalsAreResetForTheChild) {
  // The agent ignores SIGPIPE (as OVS daemons do); its children must not.
  struct sigaction old;
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old), 0);
  Result<ProgramOutput> r = RunProgram({"grep", "^SigIgn:", "/proc/self/status"});
  sigaction(SIGPIPE, &old, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->out.rfind("SigIgn:\t", 0), 0u) << r->out;
  const unsigned long long ignored =
      std::strtoull(r->out.c_str() + 8, nullptr, 16);
  EXPECT_EQ(ignored & (1ull << (SIGPIPE - 1)), 0u) << r->out;
}

TEST(RunProgramTest, KillsAProgramPastItsTimeout) {
  RunProgramOptions quick;
  quick.timeout = milliseconds(200);
  Result<ProgramOutput> r = RunProgram({"sleep", "30"}, quick);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(),
            "\"sleep 30\" ran for more than 200 ms and was killed");
  // One that closes its output and goes on.
  r = RunProgram({"sh", "-c", "exec >&-; sleep 30"}, quick);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("was killed"), std::string::npos);
}

// issue 15, finding 7: the agent runs as its own user with CAP_NET_RAW in
// its ambient set, which execve() hands to every program it runs.
TEST(RunProgramTest, DroppedAmbientCapabilitiesDoNotReachTheChild) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to set up capabilities";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // As the agent: an unprivileged uid keeping CAP_NET_RAW, ambient.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgid(65534) ||
        setuid(65534)) {
      _exit(10);
    }
    __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    const uint32_t raw = 1u << CAP_NET_RAW;
    data[0].effective = data[0].permitted = data[0].inheritable = raw;
    if (syscall(SYS_capset, &header, data) ||
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0)) {
      _exit(11);
    }
    const std::vector<std::string> argv = {"grep", "^CapEff:",
                                           "/proc/self/status"};
    Result<ProgramOutput> before = RunProgram(argv);
    // CAP_NET_RAW is bit 13.
    if (!before.ok() || before->out != "CapEff:\t0000000000002000\n") {
      _exit(12);  // The test itself would prove nothing.
    }
    if (!DropAmbientCapabilities().ok()) _exit(13);
    Result<ProgramOutput> after = RunProgram(argv);
    if (!after.ok() || after->out != "CapEff:\t0000000000000000\n") {
      _exit(14);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "12: ambient CAP_NET_RAW did not reach the child to begin with; "
         "14: it still did after DropAmbientCapabilities()";
}

}  // namespace
}  // namespace rdma_bond
