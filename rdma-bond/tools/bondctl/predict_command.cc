// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/bondctl/predict_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

#include "common/json_writer.h"
#include "table/table_format.h"

namespace rdma_bond {

namespace {

// Arguments after the command word: BOND SRC DST SPORT|MEMBER.
constexpr size_t kPositionalArgs = 4;

// The highest 802.1Q VLAN ID.
constexpr uint64_t kMaxVlanId = 4095;

// Columns of the pick-sport table are separated by this many spaces.
constexpr size_t kColumnGap = 2;

struct OptionName {
  std::string_view name;
  bool takes_value;
};

constexpr OptionName kOptions[] = {
    {"--dport", true},  {"--count", true},  {"--spread-key", true},
    {"--src-mac", true}, {"--vlan", true},  {"--canonical-hash", false},
};

// The value slot of option 'name' in 'options'.
std::optional<std::string>* ValueSlot(std::string_view name,
                                      PredictOptions* options) {
  if (name == "--dport") return &options->dport;
  if (name == "--count") return &options->count;
  if (name == "--spread-key") return &options->spread_key;
  if (name == "--src-mac") return &options->src_mac;
  if (name == "--vlan") return &options->vlan;
  return nullptr;
}

// Parses a decimal or 0x-prefixed hexadecimal number in [min, max].
Result<uint64_t> ParseNumber(std::string_view what, const std::string& text,
                             uint64_t min, uint64_t max) {
  const std::string range = " (expected " + std::to_string(min) + " to " +
                            std::to_string(max) + ")";
  if (text.empty() || text[0] == '-' || text[0] == '+' || text[0] == ' ') {
    return Status::InvalidArgument("bad " + std::string(what) + " \"" +
                                   text + "\"" + range);
  }
  // Base 10, or 16 after "0x": a leading zero does not mean octal.
  const bool hex = text.starts_with("0x") || text.starts_with("0X");
  errno = 0;
  char* end = nullptr;
  const unsigned long long value =
      std::strtoull(text.c_str(), &end, hex ? 16 : 10);
  if (errno != 0 || end == text.c_str() || *end != '\0' || value < min ||
      value > max) {
    return Status::InvalidArgument("bad " + std::string(what) + " \"" +
                                   text + "\"" + range);
  }
  return static_cast<uint64_t>(value);
}

Result<std::array<uint8_t, 6>> ParseMac(const std::string& text) {
  std::array<uint8_t, 6> mac{};
  unsigned int bytes[6];
  char extra;
  if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &bytes[0],
                  &bytes[1], &bytes[2], &bytes[3], &bytes[4], &bytes[5],
                  &extra) != 6 ||
      text.size() != sizeof "xx:xx:xx:xx:xx:xx" - 1) {
    return Status::InvalidArgument("bad MAC address \"" + text +
                                   "\" (expected xx:xx:xx:xx:xx:xx)");
  }
  for (size_t i = 0; i < mac.size(); i++) {
    mac[i] = static_cast<uint8_t>(bytes[i]);
  }
  return mac;
}

std::string Hex(uint32_t value, int digits) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%0*x", digits,
                static_cast<unsigned>(value));
  return text;
}
std::string Hex32(uint32_t value) { return Hex(value, 8); }
// Flow labels have 20 bits: 5 hexadecimal digits.
std::string HexLabel(uint32_t value) { return Hex(value, 5); }

// Lines "key:<padding> value" whose values start in one column, as in
// "rdma-bondctl dump".
std::string KeyValueLines(
    const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& row : rows) {
    width = std::max(width, row.first.size());
  }
  std::string out;
  for (const auto& [key, value] : rows) {
    out += key + ":";
    out.append(width - key.size() + 1, ' ');
    out += value + "\n";
  }
  return out;
}

// The note shown with every prediction from the kernel regime's canonical
// hash.
std::string UnverifiedNote() {
  return "unverified: " + std::string(kKernelRegimeNote) +
         "; this is the canonical flow_hash_5tuple(flow, 0): confirm the "
         "path by probing";
}

std::string MemberNames(const Bond& bond) {
  std::string names;
  for (const Member& member : bond.members) {
    names += (names.empty() ? "" : ", ") + member.name;
  }
  return names.empty() ? "none" : names;
}

// 'tuple' without the source port: "udp 10.0.0.1 -> 10.0.0.2:4791".
std::string FlowWithoutSport(const PredictRequest& request) {
  const std::string dst = ToString(request.dst);
  return "udp " + ToString(request.src) + " -> " +
         (request.dst.version == 6 ? "[" + dst + "]" : dst) + ":" +
         std::to_string(request.dport);
}

}  // namespace

bool IsPredictCommand(std::string_view command) {
  return command == "predict" || command == "pick-sport";
}

bool IsPredictOption(std::string_view arg) {
  for (const OptionName& option : kOptions) {
    if (arg == option.name ||
        (option.takes_value && arg.starts_with(option.name) &&
         arg.size() > option.name.size() &&
         arg[option.name.size()] == '=')) {
      return true;
    }
  }
  return false;
}

Status ParsePredictOption(int argc, char** argv, int* i,
                          PredictOptions* options) {
  const std::string_view arg = argv[*i];
  if (arg == "--canonical-hash") {
    options->canonical_hash = true;
    return Status::OK();
  }
  const size_t equals = arg.find('=');
  const std::string_view name = arg.substr(0, equals);
  std::optional<std::string>* slot = ValueSlot(name, options);
  if (slot == nullptr) {
    return Status::InvalidArgument("unknown option \"" + std::string(arg) +
                                   "\" (use --help)");
  }
  if (equals != std::string_view::npos) {
    *slot = std::string(arg.substr(equals + 1));
  } else if (*i + 1 < argc) {
    *slot = std::string(argv[++*i]);
  } else {
    return Status::InvalidArgument("option " + std::string(name) +
                                   " needs a value");
  }
  return Status::OK();
}

Result<PredictRequest> ParsePredictRequest(
    const std::vector<std::string>& args, const PredictOptions& options,
    bool json) {
  PredictRequest request;
  request.json = json;
  request.kind = args.at(0) == "predict" ? PredictRequest::Kind::kPredict
                                         : PredictRequest::Kind::kPickSport;
  const bool predict = request.kind == PredictRequest::Kind::kPredict;
  const std::string usage =
      predict ? "predict takes BOND SRC DST SPORT"
              : "pick-sport takes BOND SRC DST MEMBER";
  if (args.size() != 1 + kPositionalArgs) {
    return Status::InvalidArgument(usage + " (use --help)");
  }
  if (predict && (options.count || options.spread_key)) {
    return Status::InvalidArgument(
        "--count and --spread-key are options of pick-sport, not predict");
  }
  if (options.vlan && !options.src_mac) {
    return Status::InvalidArgument("--vlan needs --src-mac");
  }
  request.bond = args[1];
  Result<IpAddress> src = ParseIpAddress(args[2]);
  if (!src.ok()) {
    return src.status().WithPrefix("source");
  }
  Result<IpAddress> dst = ParseIpAddress(args[3]);
  if (!dst.ok()) {
    return dst.status().WithPrefix("destination");
  }
  if (Result<FiveTuple> tuple = MakeUdpTuple(*src, *dst, 0); !tuple.ok()) {
    return tuple.status();
  }
  request.src = *src;
  request.dst = *dst;
  if (predict) {
    Result<uint64_t> sport = ParseNumber("source port", args[4], 0, 0xffff);
    if (!sport.ok()) {
      return sport.status();
    }
    request.sport = static_cast<uint16_t>(*sport);
  } else {
    request.member = args[4];
  }
  if (options.dport) {
    Result<uint64_t> dport =
        ParseNumber("destination port", *options.dport, 0, 0xffff);
    if (!dport.ok()) {
      return dport.status();
    }
    request.dport = static_cast<uint16_t>(*dport);
  }
  if (options.count) {
    Result<uint64_t> count =
        ParseNumber("count", *options.count, 1, Predictor::kMaxSports);
    if (!count.ok()) {
      return count.status();
    }
    request.count = *count;
  }
  if (options.spread_key) {
    Result<uint64_t> key =
        ParseNumber("spread key", *options.spread_key, 0, UINT64_MAX);
    if (!key.ok()) {
      return key.status();
    }
    request.spread_key = *key;
  }
  if (options.src_mac) {
    Result<std::array<uint8_t, 6>> mac = ParseMac(*options.src_mac);
    if (!mac.ok()) {
      return mac.status();
    }
    SlbSource slb;
    slb.mac = *mac;
    if (options.vlan) {
      Result<uint64_t> vlan =
          ParseNumber("VLAN ID", *options.vlan, 0, kMaxVlanId);
      if (!vlan.ok()) {
        return vlan.status();
      }
      slb.vlan = static_cast<uint16_t>(*vlan);
    }
    request.slb = slb;
  }
  request.canonical_hash = options.canonical_hash;
  return request;
}

Result<CommandOutput> RunPredictRequest(const PredictRequest& request,
                                        const std::string& table_path) {
  Result<std::unique_ptr<TableReader>> reader = TableReader::Open(table_path);
  if (!reader.ok()) {
    return reader.status();
  }
  Result<TableSnapshot> snapshot = (*reader)->Snapshot();
  if (!snapshot.ok()) {
    return snapshot.status();
  }
  return RunPredictRequest(request, *snapshot);
}

Result<CommandOutput> RunPredictRequest(const PredictRequest& request,
                                        const TableSnapshot& snapshot) {
  CommandOutput output;
  output.warnings = TableWarnings(snapshot);
  const Bond* bond = snapshot.FindBond(request.bond);
  if (bond == nullptr) {
    return Status::NotFound("bond \"" + request.bond +
                            "\" is not published in " + snapshot.table.path +
                            " (set other_config:rdma-bond=true on its port)");
  }
  Predictor::Options options;
  options.accept_canonical_hash = request.canonical_hash;
  Result<Predictor> predictor =
      Predictor::Create(*bond, snapshot.table.hash_impl, options);
  if (!predictor.ok()) {
    if (bond->regime == HashRegime::kKernel && !request.canonical_hash) {
      return predictor.status().WithHint(
          "(--canonical-hash accepts it; predictions are then unverified)");
    }
    return predictor.status();
  }
  const SlbSource* slb = request.slb ? &*request.slb : nullptr;
  if (slb != nullptr && bond->mode != BondMode::kBalanceSlb) {
    output.warnings.push_back("--src-mac is ignored: bond \"" + bond->name +
                              "\" is " + std::string(ToString(bond->mode)) +
                              ", not balance-slb");
  }

  if (request.kind == PredictRequest::Kind::kPredict) {
    Result<FiveTuple> tuple =
        MakeUdpTuple(request.src, request.dst, request.sport, request.dport);
    if (!tuple.ok()) {
      return tuple.status();
    }
    const Prediction prediction = predictor->Predict(FlowKey(*tuple), slb);
    if (prediction.outcome == Outcome::kNeedsSourceMac) {
      return Status::InvalidArgument(
          "bond \"" + bond->name + "\" is balance-slb: OVS hashes the "
          "source MAC and VLAN, not the 5-tuple: give --src-mac (and "
          "--vlan)");
    }
    output.text = request.json
                      ? FormatPredictionJson(*predictor, *tuple, prediction)
                      : FormatPredictionText(*predictor, *tuple, prediction);
    return output;
  }

  const std::optional<size_t> member = predictor->FindMember(request.member);
  if (!member) {
    return Status::NotFound("bond \"" + bond->name + "\" has no member \"" +
                            request.member + "\" (members: " +
                            MemberNames(*bond) + ")");
  }
  Result<std::vector<SportChoice>> choices =
      predictor->PickSports(*member, request.src, request.dst, request.count,
                            request.spread_key, request.dport, slb);
  if (!choices.ok()) {
    return choices.status();
  }
  output.text =
      request.json
          ? FormatSportsJson(*predictor, *member, request, *choices)
          : FormatSportsText(*predictor, *member, request, *choices);
  return output;
}

std::string FormatPredictionText(const Predictor& predictor,
                                 const FiveTuple& tuple,
                                 const Prediction& prediction) {
  const Bond& bond = predictor.bond();
  std::vector<std::pair<std::string, std::string>> rows = {
      {"bond", bond.name},
      {"flow", ToString(tuple)},
      {"regime", std::string(ToString(bond.regime))},
      {"hash", prediction.hashed ? Hex32(prediction.hash) : "-"},
      {"bucket",
       prediction.hashed ? std::to_string(prediction.bucket) : "-"},
      {"member", prediction.has_member()
                     ? bond.members[prediction.member].name
                     : "none (" + predictor.Reason(prediction) + ")"},
  };
  if (prediction.hashed && !prediction.verified) {
    rows.emplace_back("note", UnverifiedNote());
  }
  return KeyValueLines(rows);
}

std::string FormatPredictionJson(const Predictor& predictor,
                                 const FiveTuple& tuple,
                                 const Prediction& prediction) {
  const Bond& bond = predictor.bond();
  JsonWriter json;
  json.BeginObject();
  json.Key("bond"); json.String(bond.name);
  json.Key("src"); json.String(ToString(tuple.src));
  json.Key("dst"); json.String(ToString(tuple.dst));
  json.Key("sport"); json.Uint(tuple.sport);
  json.Key("dport"); json.Uint(tuple.dport);
  json.Key("regime"); json.String(ToString(bond.regime));
  json.Key("hash");
  prediction.hashed ? json.Uint(prediction.hash) : json.Null();
  json.Key("bucket");
  prediction.hashed ? json.Uint(prediction.bucket) : json.Null();
  json.Key("member");
  if (prediction.has_member()) {
    json.String(bond.members[prediction.member].name);
  } else {
    json.Null();
  }
  json.Key("reason");
  if (prediction.has_member()) {
    json.Null();
  } else {
    json.String(predictor.Reason(prediction));
  }
  json.Key("outcome"); json.String(ToString(prediction.outcome));
  json.Key("verified"); json.Bool(prediction.verified);
  json.EndObject();
  return json.Finish();
}

std::string FormatSportsText(const Predictor& predictor, size_t member,
                             const PredictRequest& request,
                             const std::vector<SportChoice>& choices) {
  const Bond& bond = predictor.bond();
  std::vector<std::pair<std::string, std::string>> rows = {
      {"bond", bond.name},
      {"member", bond.members[member].name},
      {"flow", FlowWithoutSport(request)},
      {"regime", std::string(ToString(bond.regime))},
  };
  if (!choices.empty() && choices[0].prediction.hashed &&
      !choices[0].prediction.verified) {
    rows.emplace_back("note", UnverifiedNote());
  }
  std::string out = KeyValueLines(rows) + "sports:\n";

  // Right-aligned columns, the header included.
  std::vector<std::array<std::string, 4>> table = {
      {"sport", "flow-label", "bucket", "hash"}};
  for (const SportChoice& choice : choices) {
    const Prediction& p = choice.prediction;
    table.push_back({std::to_string(choice.sport),
                     HexLabel(choice.flow_label),
                     p.hashed ? std::to_string(p.bucket) : "-",
                     p.hashed ? Hex32(p.hash) : "-"});
  }
  std::array<size_t, 4> widths{};
  for (const auto& row : table) {
    for (size_t i = 0; i < row.size(); i++) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : table) {
    std::string line(kColumnGap, ' ');
    for (size_t i = 0; i < row.size(); i++) {
      line.append(widths[i] - row[i].size() + (i ? kColumnGap : 0), ' ');
      line += row[i];
    }
    out += line + "\n";
  }
  return out;
}

std::string FormatSportsJson(const Predictor& predictor, size_t member,
                             const PredictRequest& request,
                             const std::vector<SportChoice>& choices) {
  const Bond& bond = predictor.bond();
  JsonWriter json;
  json.BeginObject();
  json.Key("bond"); json.String(bond.name);
  json.Key("member"); json.String(bond.members[member].name);
  json.Key("src"); json.String(ToString(request.src));
  json.Key("dst"); json.String(ToString(request.dst));
  json.Key("dport"); json.Uint(request.dport);
  json.Key("regime"); json.String(ToString(bond.regime));
  json.Key("verified");
  json.Bool(choices.empty() || choices[0].prediction.verified);
  json.Key("sports");
  json.BeginArray();
  for (const SportChoice& choice : choices) {
    const Prediction& p = choice.prediction;
    json.BeginObject();
    json.Key("sport"); json.Uint(choice.sport);
    json.Key("flow_label"); json.Uint(choice.flow_label);
    json.Key("bucket");
    p.hashed ? json.Uint(p.bucket) : json.Null();
    json.Key("hash");
    p.hashed ? json.Uint(p.hash) : json.Null();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.Finish();
}

}  // namespace rdma_bond
