// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/run_program.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

extern char** environ;

namespace rdma_bond {
namespace {

constexpr char kDefaultPath[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string Shown(const std::vector<std::string>& argv) {
  std::string shown;
  for (size_t i = 0; i < argv.size(); i++) {
    if (i) shown += ' ';
    shown += argv[i];
  }
  return "\"" + shown + "\"";
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Owns what posix_spawn needs and releases it on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    ok_ = posix_spawn_file_actions_init(&actions_) == 0;
    ok_ = posix_spawnattr_init(&attr_) == 0 && ok_;
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  bool ok() const { return ok_; }
  posix_spawn_file_actions_t* actions() { return &actions_; }
  posix_spawnattr_t* attr() { return &attr_; }

 private:
  bool ok_ = false;
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

}  // namespace

std::vector<std::string> CleanEnvironment() {
  std::vector<std::string> env;
  const char* path = std::getenv("PATH");
  env.push_back(path && *path ? std::string("PATH=") + path : kDefaultPath);
  for (char** e = environ; e && *e; e++) {
    if (std::strncmp(*e, "OVS_", 4) == 0) env.emplace_back(*e);
  }
  return env;
}

Status DropAmbientCapabilities() {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    return Status::FromErrno("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno);
  }
  return Status::OK();
}

Result<ProgramOutput> RunProgram(const std::vector<std::string>& argv,
                                 const RunProgramOptions& options) {
  if (argv.empty()) return Status::InvalidArgument("RunProgram: no program");
  const std::string shown = Shown(argv);
  if (options.input.size() > kMaxProgramInput) {
    return Status::InvalidArgument("cannot run " + shown + ": its input is " +
                                   std::to_string(options.input.size()) +
                                   " bytes, more than " +
                                   std::to_string(kMaxProgramInput));
  }
  // Its standard input: the caller's text through a pipe, or /dev/null.
  int inputfd[2] = {-1, -1};
  if (!options.input.empty() && pipe2(inputfd, O_CLOEXEC) < 0) {
    return Status::FromErrno("cannot run " + shown + ": pipe", errno);
  }
  struct InputPipe {
    int* fd;
    ~InputPipe() {
      for (int i = 0; i < 2; i++) {
        if (fd[i] >= 0) close(fd[i]);
      }
    }
  } input_pipe{inputfd};
  // The input goes into the pipe before the child exists: no SIGPIPE if
  // it never reads, and nothing to wait for.  Non-blocking: a pipe that
  // holds less (the user's pipe pages are used up) fails cleanly.
  if (inputfd[1] >= 0) {
    size_t done = 0;
    fcntl(inputfd[1], F_SETFL, O_NONBLOCK);
    while (done < options.input.size()) {
      ssize_t n = write(inputfd[1], options.input.data() + done,
                        options.input.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Status::FromErrno("cannot run " + shown +
                                     ": its input does not fit a pipe",
                                 n < 0 ? errno : EIO);
      }
      done += n;
    }
    close(std::exchange(inputfd[1], -1));
  }

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) {
    return Status::FromErrno("cannot run " + shown + ": pipe", errno);
  }
  SpawnSetup setup;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  // Every signal to its default (SIGKILL and SIGSTOP are ignored by glibc
  // here), none blocked: the agent ignores SIGPIPE, and the child must
  // not inherit that.
  bool ok =
      setup.ok() &&
      posix_spawnattr_setflags(setup.attr(), POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF) == 0 &&
      posix_spawnattr_setsigmask(setup.attr(), &none) == 0 &&
      posix_spawnattr_setsigdefault(setup.attr(), &all) == 0 &&
      (inputfd[0] >= 0
           ? posix_spawn_file_actions_adddup2(setup.actions(), inputfd[0], 0)
           : posix_spawn_file_actions_addopen(setup.actions(), 0, "/dev/null",
                                              O_RDONLY, 0)) == 0 &&
      posix_spawn_file_actions_adddup2(setup.actions(), pipefd[1], 1) == 0 &&
      (options.merge_stderr
           ? posix_spawn_file_actions_adddup2(setup.actions(), pipefd[1], 2)
           : posix_spawn_file_actions_addopen(setup.actions(), 2, "/dev/null",
                                              O_WRONLY, 0)) == 0;
  if (!ok) {
    close(pipefd[0]);
    close(pipefd[1]);
    return Status::Unavailable("cannot run " + shown +
                               ": posix_spawn setup failed");
  }

  std::vector<std::string> env = CleanEnvironment();
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args(argv);
  std::vector<char*> argp;
  for (std::string& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  pid_t pid;
  const int error = posix_spawnp(&pid, argp[0], setup.actions(), setup.attr(),
                                 argp.data(), envp.data());
  close(pipefd[1]);
  if (error != 0) {
    close(pipefd[0]);
    if (error == ENOENT) {
      ProgramOutput missing;
      missing.exit_code = 127;
      return missing;
    }
    return Status::FromErrno("cannot run " + shown, error);
  }
  if (inputfd[0] >= 0) close(std::exchange(inputfd[0], -1));

  ProgramOutput output;
  const int64_t deadline = NowMs() + options.timeout.count();
  bool timed_out = false;
  char buffer[4096];
  for (;;) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p = {pipefd[0], POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      timed_out = rc == 0;
      break;
    }
    ssize_t n = read(pipefd[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child closed its output.
    const size_t room = options.max_output - std::min(options.max_output,
                                                      output.out.size());
    output.out.append(buffer, std::min(room, static_cast<size_t>(n)));
  }
  close(pipefd[0]);

  // It may close its output and go on running: the deadline holds here too.
  int status = 0;
  for (;;) {
    if (timed_out) kill(pid, SIGKILL);
    const pid_t done = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      return Status::FromErrno("waitpid for " + shown, errno);
    }
    if (done == 0) {
      if (NowMs() >= deadline) {
        timed_out = true;
      } else {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, nullptr);
      }
    }
  }
  if (timed_out) {
    return Status::Unavailable(shown + " ran for more than " +
                               std::to_string(options.timeout.count()) +
                               " ms and was killed");
  }
  if (!WIFEXITED(status)) {
    return Status::Unavailable(
        shown + " was killed by signal " +
        std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  }
  output.exit_code = WEXITSTATUS(status);
  return output;
}

}  // namespace rdma_bond
