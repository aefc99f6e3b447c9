// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// "rdma-bondctl predict" and "rdma-bondctl pick-sport": their options and
// arguments, their run against a table, and their text and JSON outputs.
//
//   predict BOND SRC DST SPORT [--dport N] [--src-mac MAC [--vlan VID]]
//           [--canonical-hash]
//   pick-sport BOND SRC DST MEMBER [--count N] [--spread-key K]
//           [--dport N] [--src-mac MAC [--vlan VID]] [--canonical-hash]
//
// rdma_bondctl.cc only hands the options and arguments over; the outputs
// are interfaces documented in rdma-bondctl(8) and compared byte for byte
// by predict_command_test.cc.  Errors follow rdma-bondctl's exit statuses:
// ParsePredictOption() and ParsePredictRequest() fail with InvalidArgument
// (a wrong command line, exit status 2), RunPredictRequest() with any
// other failure (exit status 1).
//
// Thread-safety: pure functions, except RunPredictRequest(), which reads
// the table file.

#ifndef RDMA_BOND_PREDICT_COMMAND_H_
#define RDMA_BOND_PREDICT_COMMAND_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdma_bond/five_tuple.h"
#include "rdma_bond/predictor.h"
#include "rdma_bond/status.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond {

// The options of predict and pick-sport, as given (validated by
// ParsePredictRequest()).
struct PredictOptions {
  std::optional<std::string> dport;       // --dport N.
  std::optional<std::string> count;       // --count N.
  std::optional<std::string> spread_key;  // --spread-key K.
  std::optional<std::string> src_mac;     // --src-mac MAC.
  std::optional<std::string> vlan;        // --vlan VID.
  bool canonical_hash = false;            // --canonical-hash.

  // True if any option was given.
  bool any() const {
    return dport || count || spread_key || src_mac || vlan || canonical_hash;
  }
};

// True for "predict" and "pick-sport".
bool IsPredictCommand(std::string_view command);

// True if 'arg' is one of the options above ("--dport" or "--dport=N"...).
bool IsPredictOption(std::string_view arg);

// Stores the option at argv[*i] in '*options', taking its value from
// argv[*i + 1] (and advancing *i) unless it was given as --name=value.
// REQUIRES: IsPredictOption(argv[*i]).
Status ParsePredictOption(int argc, char** argv, int* i,
                          PredictOptions* options);

// A validated predict or pick-sport command.
struct PredictRequest {
  enum class Kind { kPredict, kPickSport };

  Kind kind = Kind::kPredict;
  bool json = false;
  std::string bond;
  IpAddress src;
  IpAddress dst;                  // Same IP version as 'src'.
  uint16_t sport = 0;             // predict only.
  uint16_t dport = kRoceV2UdpPort;
  std::string member;             // pick-sport only.
  size_t count = 1;               // pick-sport only.
  uint64_t spread_key = 0;        // pick-sport only.
  std::optional<SlbSource> slb;   // --src-mac and --vlan.
  bool canonical_hash = false;
};

// Checks 'args' ({"predict", BOND, SRC, DST, SPORT} or {"pick-sport",
// BOND, SRC, DST, MEMBER}) and 'options'.  Fails with InvalidArgument
// naming the bad value: "bad source port "70000" (expected 0 to 65535)".
Result<PredictRequest> ParsePredictRequest(
    const std::vector<std::string>& args, const PredictOptions& options,
    bool json);

// What a command prints.
struct CommandOutput {
  std::string text;                    // Standard output.
  std::vector<std::string> warnings;   // One line each, no prefix.
};

// Runs 'request' on the table at 'table_path': opens it, takes a
// snapshot, finds the bond, builds a Predictor (which checks the hash
// self-test vectors) and predicts or picks.  Writer problems (a stale
// heartbeat...) are warnings, not failures.
Result<CommandOutput> RunPredictRequest(const PredictRequest& request,
                                        const std::string& table_path);

// The same on a snapshot already taken (for tests).
Result<CommandOutput> RunPredictRequest(const PredictRequest& request,
                                        const TableSnapshot& snapshot);

// The outputs of predict and pick-sport (see rdma-bondctl(8)).
std::string FormatPredictionText(const Predictor& predictor,
                                 const FiveTuple& tuple,
                                 const Prediction& prediction);
std::string FormatPredictionJson(const Predictor& predictor,
                                 const FiveTuple& tuple,
                                 const Prediction& prediction);
std::string FormatSportsText(const Predictor& predictor, size_t member,
                             const PredictRequest& request,
                             const std::vector<SportChoice>& choices);
std::string FormatSportsJson(const Predictor& predictor, size_t member,
                             const PredictRequest& request,
                             const std::vector<SportChoice>& choices);

}  // namespace rdma_bond

#endif  // RDMA_BOND_PREDICT_COMMAND_H_
