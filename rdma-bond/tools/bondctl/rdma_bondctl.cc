// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bondctl: command-line access to the rdma-bond table.
//
// This file only parses arguments and reports; reading the table is
// TableReader's job and rendering it table_format's (predict_command's for
// predict and pick-sport).  The commands, options, output formats and exit
// statuses are documented in rdma-bondctl(8).
//
// Exit status: 0 on success (warnings about the writer included), 1 if the
// command failed, 2 for a usage error.  Every failure is exactly one line
// on stderr, "rdma-bondctl: MESSAGE".

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"
#include "table/table_format.h"
#include "tools/bondctl/ctl_watch.h"
#include "tools/bondctl/predict_command.h"

#ifndef PACKAGE_VERSION  // Defined by configure; absent in a bare g++ build.
#define PACKAGE_VERSION "unknown"
#endif

namespace rdma_bond {
namespace {

constexpr char kProgram[] = "rdma-bondctl";

// Exit statuses.
constexpr int kExitSuccess = 0;
constexpr int kExitFailure = 1;   // The command failed.
constexpr int kExitUsage = 2;     // The command line is wrong.

struct Options {
  bool help = false;
  bool version = false;
  bool json = false;
  std::optional<std::string> shm;   // --shm PATH.
  std::vector<std::string> args;    // Command and its arguments.
  PredictOptions predict;           // Options of predict and pick-sport.
};

void PrintUsage() {
  std::printf(
      "%s: inspect the rdma-bond table published by ovs-vswitchd\n"
      "usage: %s [OPTIONS] COMMAND [ARG...]\n"
      "\n"
      "Commands:\n"
      "  dump [BOND]        show every published bond, or only BOND\n"
      "  predict BOND SRC DST SPORT\n"
      "                     the member OVS sends a UDP flow on\n"
      "  pick-sport BOND SRC DST MEMBER\n"
      "                     UDP source ports whose flows take MEMBER\n"
      "  watch [BOND]       print each change as ovs-vswitchd publishes it\n"
      "\n"
      "Options:\n"
      "  --json             machine-readable output (see rdma-bondctl(8))\n"
      "  --shm PATH         table file (default: $OVS_RUNDIR/%s,\n"
      "                     or %s/%s without OVS_RUNDIR)\n"
      "  -h, --help         display this help message\n"
      "  -V, --version      display version information\n"
      "\n"
      "Options of predict and pick-sport:\n"
      "  --dport N          UDP destination port (default 4791, RoCEv2)\n"
      "  --count N          pick-sport: N different ports (default 1)\n"
      "  --spread-key K     pick-sport: which of MEMBER's ports, e.g. a QP\n"
      "                     number (default 0)\n"
      "  --src-mac MAC      balance-slb: the source MAC that OVS hashes\n"
      "  --vlan VID         balance-slb: the VLAN it outputs in (default 0)\n"
      "  --canonical-hash   kernel datapath: predict with the canonical\n"
      "                     hash (unverified) instead of refusing\n"
      "\n"
      "Options of watch (after the word watch):\n"
      "  --count N          exit after N changes\n"
      "  --timeout SEC      exit after SEC seconds\n"
      "  --realtime         wait at real-time priority (needs root)\n",
      kProgram, kProgram, RDMA_BOND_TABLE_NAME,
      std::string(kDefaultOvsRunDir).c_str(), RDMA_BOND_TABLE_NAME);
}

void PrintVersion() {
  std::printf("%s (ovs-rdma-bond) %s\nrdma-bond table ABI version %d\n",
              kProgram, PACKAGE_VERSION, RDMA_BOND_ABI_VERSION);
}

// One line on stderr: "rdma-bondctl: MESSAGE" or "rdma-bondctl: warning:
// MESSAGE".
void Report(std::string_view message, bool warning = false) {
  std::fprintf(stderr, "%s: %s%.*s\n", kProgram, warning ? "warning: " : "",
               static_cast<int>(message.size()), message.data());
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options options;
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    const std::string_view arg = argv[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      options.args.emplace_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (arg == "-h" || arg == "--help") {
      options.help = true;
    } else if (arg == "-V" || arg == "--version") {
      options.version = true;
    } else if (!options.args.empty() && options.args[0] == "watch" &&
               IsWatchOption(arg)) {
      options.args.emplace_back(arg);  // ParseWatchArgs() parses it.
    } else if (IsPredictOption(arg)) {
      Status status = ParsePredictOption(argc, argv, &i, &options.predict);
      if (!status.ok()) {
        return status;
      }
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "--shm") {
      if (i + 1 >= argc) {
        return Status::InvalidArgument("option --shm needs a PATH");
      }
      options.shm = argv[++i];
    } else if (arg.starts_with("--shm=")) {
      options.shm = std::string(arg.substr(sizeof "--shm=" - 1));
    } else {
      return Status::InvalidArgument("unknown option \"" + std::string(arg) +
                                     "\" (use --help)");
    }
  }
  if (options.shm && options.shm->empty()) {
    return Status::InvalidArgument("option --shm needs a non-empty PATH");
  }
  return options;
}

// Writes 'text' to stdout and flushes it, so that a full disk or a closed
// pipe is an error rather than lost output.
Status WriteStdout(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
      std::fflush(stdout) != 0) {
    return Status::FromErrno("write to standard output", errno);
  }
  return Status::OK();
}

// "dump [BOND]".
// REQUIRES: options.args is {"dump"} or {"dump", BOND}.
Status RunDump(const Options& options) {
  const std::string path = options.shm.value_or(DefaultTablePath());
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(path);
  if (!reader.ok()) {
    return reader.status();
  }
  Result<TableSnapshot> snapshot = (*reader)->Snapshot();
  if (!snapshot.ok()) {
    return snapshot.status();
  }
  if (options.args.size() == 2) {
    const std::string& name = options.args[1];
    const Bond* bond = snapshot->FindBond(name);
    if (bond == nullptr) {
      return Status::NotFound("bond \"" + name + "\" is not published in " +
                              path + " (set other_config:rdma-bond=true on "
                              "its port)");
    }
    std::vector<Bond> only{*bond};
    snapshot->bonds = std::move(only);
  }
  for (const std::string& warning : TableWarnings(*snapshot)) {
    Report(warning, /*warning=*/true);
  }
  return WriteStdout(options.json ? FormatTableJson(*snapshot)
                                  : FormatTableText(*snapshot));
}

// "predict" and "pick-sport" (predict_command.h).
int RunPredict(const Options& options) {
  Result<PredictRequest> request =
      ParsePredictRequest(options.args, options.predict, options.json);
  if (!request.ok()) {
    Report(request.status().ToString());
    return kExitUsage;
  }
  Result<CommandOutput> output = RunPredictRequest(
      *request, options.shm.value_or(DefaultTablePath()));
  if (!output.ok()) {
    Report(output.status().ToString());
    return kExitFailure;
  }
  for (const std::string& warning : output->warnings) {
    Report(warning, /*warning=*/true);
  }
  Status status = WriteStdout(output->text);
  if (!status.ok()) {
    Report(status.ToString());
    return kExitFailure;
  }
  return kExitSuccess;
}

// "watch" (ctl_watch.h).
int RunWatchCommand(const Options& options) {
  Result<WatchOptions> watch = ParseWatchArgs(options.args);
  if (watch.ok() && options.predict.any()) {
    watch = Status::InvalidArgument(
        "watch takes no predict or pick-sport option; give --count and "
        "--timeout after \"watch\" (use --help)");
  }
  if (!watch.ok()) {
    Report(watch.status().ToString());
    return kExitUsage;
  }
  watch->path = options.shm.value_or(DefaultTablePath());
  watch->json = options.json;
  WatchOutput output;
  output.line = WriteStdout;
  output.warning = [](const std::string& warning) {
    Report(warning, /*warning=*/true);
  };
  Status status = RunWatch(*watch, output);
  if (!status.ok()) {
    Report(status.ToString());
    return kExitFailure;
  }
  return kExitSuccess;
}

int Main(int argc, char** argv) {
  Result<Options> options = ParseArgs(argc, argv);
  if (!options.ok()) {
    Report(options.status().ToString());
    return kExitUsage;
  }
  if (options->help) {
    PrintUsage();
    return WriteStdout("").ok() ? kExitSuccess : kExitFailure;
  }
  if (options->version) {
    PrintVersion();
    return WriteStdout("").ok() ? kExitSuccess : kExitFailure;
  }
  if (options->args.empty()) {
    Report("missing command (use --help)");
    return kExitUsage;
  }
  const std::string& command = options->args[0];
  if (IsPredictCommand(command)) {
    return RunPredict(*options);
  }
  if (command == "watch") {
    return RunWatchCommand(*options);
  }
  if (command != "dump") {
    Report("unknown command \"" + command + "\" (use --help)");
    return kExitUsage;
  }
  if (options->predict.any()) {
    Report("dump takes no predict or pick-sport option (use --help)");
    return kExitUsage;
  }
  if (options->args.size() > 2) {
    Report("dump takes at most one argument, the bond name (use --help)");
    return kExitUsage;
  }
  Status status = RunDump(*options);
  if (!status.ok()) {
    Report(status.ToString());
    return kExitFailure;
  }
  return kExitSuccess;
}

}  // namespace
}  // namespace rdma_bond

int main(int argc, char** argv) { return rdma_bond::Main(argc, argv); }
