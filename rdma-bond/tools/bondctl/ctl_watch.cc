// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "tools/bondctl/ctl_watch.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

#include "common/hex.h"
#include "common/json_writer.h"

namespace rdma_bond {

namespace {

constexpr uint64_t kNsPerUs = 1000;
constexpr double kNsPerSec = 1e9;
// The longest --timeout: far beyond any use, and small enough that its
// nanoseconds fit in 64 bits.
constexpr double kMaxTimeoutSec = 1e9;
static_assert(kMaxTimeoutSec * kNsPerSec < 9.2e18,
              "the longest timeout must fit in std::chrono::nanoseconds");

// A JSON object on one line, without spaces: one line of JSON Lines.  The
// documented "dump --json" layout (JsonWriter) spreads nested containers
// over several lines, which JSON Lines cannot have.
class JsonLine {
 public:
  JsonLine() { Begin('{'); }

  void Key(std::string_view key) {
    Separate();
    JsonWriter::AppendQuoted(key, &out_);
    out_ += ':';
    after_key_ = true;
  }
  void String(std::string_view value) {
    Separate();
    JsonWriter::AppendQuoted(value, &out_);
  }
  void Uint(uint64_t value) {
    Separate();
    out_ += std::to_string(value);
  }
  void Bool(bool value) {
    Separate();
    out_ += value ? "true" : "false";
  }
  void Null() {
    Separate();
    out_ += "null";
  }
  void Begin(char open) {
    Separate();
    out_ += open;
    first_ = true;
  }
  void End(char close) {
    out_ += close;
    first_ = false;
  }
  // Closes the object and returns the line.
  std::string Finish() {
    End('}');
    return out_ + "\n";
  }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
    } else if (!first_) {
      out_ += ',';
    }
    first_ = false;
  }

  std::string out_;
  bool first_ = true;       // No element yet in the innermost container.
  bool after_key_ = false;  // A key was written; its value comes next.
};

// "--NAME VALUE" or "--NAME=VALUE" at args[*i]: stores VALUE and advances
// *i past it.  Returns false if args[*i] is not this option.
Result<bool> TakeOption(const std::vector<std::string>& args, size_t* i,
                        std::string_view name, std::string* value) {
  const std::string& arg = args[*i];
  if (arg == name) {
    if (*i + 1 >= args.size()) {
      return Status::InvalidArgument("watch: option " + std::string(name) +
                                     " needs a value (use --help)");
    }
    *value = args[++*i];
    return true;
  }
  if (arg.size() > name.size() && arg.starts_with(name) &&
      arg[name.size()] == '=') {
    *value = arg.substr(name.size() + 1);
    return true;
  }
  return false;
}

Result<uint64_t> ParseCount(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] < '0' || text[0] > '9' || *end != '\0' ||
      errno == ERANGE || n == 0) {
    return Status::InvalidArgument(
        "watch: --count needs a positive integer, "
        "not \"" +
        text + "\"");
  }
  return static_cast<uint64_t>(n);
}

Result<std::chrono::nanoseconds> ParseTimeout(const std::string& text) {
  char* end = nullptr;
  const double sec = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(sec) || sec < 0 ||
      sec > kMaxTimeoutSec || text.find_first_of("xXnN") != std::string::npos) {
    return Status::InvalidArgument(
        "watch: --timeout needs a number of "
        "seconds, not \"" +
        text + "\"");
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(sec * kNsPerSec));
}

std::string MemberList(const Bond& bond) {
  std::string text;
  for (const Member& member : bond.members) {
    if (!text.empty()) {
      text += ", ";
    }
    text += EscapeControl(member.name) +
            (member.enabled() ? " enabled" : " disabled");
    if (!member.carrier()) {
      text += " (no carrier)";
    }
  }
  return text.empty() ? "none" : text;
}

std::string BucketList(const Bond& bond) {
  const std::vector<size_t> counts = bond.BucketCounts();
  std::string text;
  for (size_t i = 0; i < bond.members.size(); i++) {
    text += EscapeControl(bond.members[i].name) + " " +
            std::to_string(counts[i]) + ", ";
  }
  return text + "unassigned " + std::to_string(bond.UnassignedBuckets());
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string text;
  for (const std::string& item : items) {
    if (!text.empty()) {
      text += sep;
    }
    text += item;
  }
  return text;
}

constexpr std::string_view kWatchOptions[] = {"--count", "--timeout"};

}  // namespace

bool IsWatchOption(std::string_view arg) {
  if (arg == "--realtime") {
    return true;
  }
  for (std::string_view option : kWatchOptions) {
    if (arg == option ||
        (arg.starts_with(option) && arg.size() > option.size() &&
         arg[option.size()] == '=')) {
      return true;
    }
  }
  return false;
}

Result<WatchOptions> ParseWatchArgs(const std::vector<std::string>& args) {
  WatchOptions options;
  for (size_t i = 1; i < args.size(); i++) {
    std::string value;
    Result<bool> count = TakeOption(args, &i, "--count", &value);
    if (!count.ok()) {
      return count.status();
    }
    if (*count) {
      Result<uint64_t> n = ParseCount(value);
      if (!n.ok()) {
        return n.status();
      }
      options.count = *n;
      continue;
    }
    Result<bool> timeout = TakeOption(args, &i, "--timeout", &value);
    if (!timeout.ok()) {
      return timeout.status();
    }
    if (*timeout) {
      Result<std::chrono::nanoseconds> t = ParseTimeout(value);
      if (!t.ok()) {
        return t.status();
      }
      options.timeout = *t;
      continue;
    }
    const std::string& arg = args[i];
    if (arg == "--realtime") {
      options.realtime = true;
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      return Status::InvalidArgument("watch: unknown option \"" + arg +
                                     "\" (use --help)");
    }
    if (options.bond) {
      return Status::InvalidArgument(
          "watch takes at most one argument, the bond name (got \"" +
          *options.bond + "\" and \"" + arg + "\")");
    }
    options.bond = arg;
  }
  return options;
}

std::vector<BondChange> DiffBonds(const std::vector<Bond>& before,
                                  const std::vector<Bond>& now,
                                  const std::optional<std::string>& only) {
  std::map<std::string, const Bond*> old_bonds;
  for (const Bond& bond : before) {
    old_bonds[bond.name] = &bond;
  }
  std::map<std::string, BondChange> changes;  // Sorted by name.
  for (const Bond& bond : now) {
    auto old = old_bonds.find(bond.name);
    if (old == old_bonds.end() || old->second->slot != bond.slot ||
        old->second->generation != bond.generation) {
      changes[bond.name] = BondChange{bond.name, bond};
    }
    if (old != old_bonds.end()) {
      old_bonds.erase(old);
    }
  }
  for (const auto& [name, bond] : old_bonds) {
    changes[name] = BondChange{name, std::nullopt};
  }
  std::vector<BondChange> result;
  for (auto& [name, change] : changes) {
    if (!only || name == *only) {
      result.push_back(std::move(change));
    }
  }
  return result;
}

uint64_t WakeFor(const std::vector<uint64_t>& wakes_ns, uint64_t change_ns,
                 uint64_t seen_ns) {
  auto wake = std::lower_bound(wakes_ns.begin(), wakes_ns.end(), change_ns);
  return wake != wakes_ns.end() ? *wake : seen_ns;
}

std::string FormatChange(const BondChange& change, uint32_t change_word,
                         uint64_t wake_ns, bool json) {
  if (!change.bond) {
    if (!json) {
      return "change " + std::to_string(change_word) + ": " +
             EscapeControl(change.name) + " removed\n";
    }
    JsonLine line;
    line.Key("event");
    line.String("change");
    line.Key("change_word");
    line.Uint(change_word);
    line.Key("bond");
    line.String(change.name);
    line.Key("removed");
    line.Bool(true);
    line.Key("wake_ns");
    line.Uint(wake_ns);
    return line.Finish();
  }

  const Bond& bond = *change.bond;
  const uint64_t delay_us =
      wake_ns > bond.change_ns ? (wake_ns - bond.change_ns) / kNsPerUs : 0;
  const std::vector<std::string> reasons = ReasonNames(bond.reasons);
  if (!json) {
    return "change " + std::to_string(change_word) + ": " +
           EscapeControl(bond.name) + " generation " +
           std::to_string(bond.generation) + " (" +
           (reasons.empty() ? std::string("no reason") : Join(reasons, ", ")) +
           "): active " +
           (bond.active() ? EscapeControl(bond.active()->name) : "none") +
           "; members " + MemberList(bond) + "; buckets " + BucketList(bond) +
           "; delay " + std::to_string(delay_us) + " us\n";
  }

  JsonLine line;
  line.Key("event");
  line.String("change");
  line.Key("change_word");
  line.Uint(change_word);
  line.Key("bond");
  line.String(bond.name);
  line.Key("removed");
  line.Bool(false);
  line.Key("slot");
  line.Uint(bond.slot);
  line.Key("generation");
  line.Uint(bond.generation);
  line.Key("reasons");
  line.Begin('[');
  for (const std::string& reason : reasons) {
    line.String(reason);
  }
  line.End(']');
  line.Key("mode");
  line.String(ToString(bond.mode));
  line.Key("active_member");
  if (bond.active()) {
    line.String(bond.active()->name);
  } else {
    line.Null();
  }
  line.Key("members");
  line.Begin('[');
  for (const Member& member : bond.members) {
    line.Begin('{');
    line.Key("name");
    line.String(member.name);
    line.Key("enabled");
    line.Bool(member.enabled());
    line.Key("may_enable");
    line.Bool(member.may_enable());
    line.Key("carrier");
    line.Bool(member.carrier());
    line.End('}');
  }
  line.End(']');
  line.Key("bucket_counts");
  line.Begin('{');
  const std::vector<size_t> counts = bond.BucketCounts();
  for (size_t i = 0; i < bond.members.size(); i++) {
    line.Key(bond.members[i].name);
    line.Uint(counts[i]);
  }
  line.End('}');
  line.Key("unassigned_buckets");
  line.Uint(bond.UnassignedBuckets());
  line.Key("change_ns");
  line.Uint(bond.change_ns);
  line.Key("wake_ns");
  line.Uint(wake_ns);
  line.Key("delay_us");
  line.Uint(delay_us);
  return line.Finish();
}

std::string FormatAttach(const TableSnapshot& snapshot, bool json) {
  std::vector<std::string> names;
  for (const Bond& bond : snapshot.bonds) {
    names.push_back(bond.name);
  }
  std::sort(names.begin(), names.end());
  const TableInfo& table = snapshot.table;
  if (!json) {
    return "watching " + table.path + ": instance " + Hex64(table.instance_id) +
           ", writer pid " + std::to_string(table.writer_pid) +
           ", change word " + std::to_string(table.change_word) + ", bonds: " +
           (names.empty() ? std::string("none")
                          : EscapeControl(Join(names, " "))) +
           "\n";
  }
  JsonLine line;
  line.Key("event");
  line.String("attach");
  line.Key("path");
  line.String(table.path);
  line.Key("instance_id");
  line.String(Hex64(table.instance_id));
  line.Key("writer_pid");
  line.Uint(table.writer_pid);
  line.Key("change_word");
  line.Uint(table.change_word);
  line.Key("bonds");
  line.Begin('[');
  for (const std::string& name : names) {
    line.String(name);
  }
  line.End(']');
  return line.Finish();
}

std::string FormatRestart(const TableSnapshot& snapshot,
                          uint64_t old_instance_id, bool json) {
  const TableInfo& table = snapshot.table;
  if (!json) {
    return "restart: " + table.path +
           " was replaced by a restarted ovs-vswitchd (instance " +
           Hex64(old_instance_id) + " -> " + Hex64(table.instance_id) +
           ", writer pid " + std::to_string(table.writer_pid) +
           "): reattached\n";
  }
  JsonLine line;
  line.Key("event");
  line.String("restart");
  line.Key("path");
  line.String(table.path);
  line.Key("old_instance_id");
  line.String(Hex64(old_instance_id));
  line.Key("instance_id");
  line.String(Hex64(table.instance_id));
  line.Key("writer_pid");
  line.Uint(table.writer_pid);
  line.Key("change_word");
  line.Uint(table.change_word);
  return line.Finish();
}

std::string FormatTableRemoved(std::string_view path, bool json) {
  if (!json) {
    return "removed: " + std::string(path) +
           " no longer exists: waiting for ovs-vswitchd to create it again\n";
  }
  JsonLine line;
  line.Key("event");
  line.String("table-removed");
  line.Key("path");
  line.String(path);
  return line.Finish();
}

std::string FormatStale(uint64_t heartbeat_age_ms, bool stale, bool json) {
  if (!json) {
    return stale ? "stale: heartbeat is " + std::to_string(heartbeat_age_ms) +
                       " ms old: ovs-vswitchd is hung or dead\n"
                 : "fresh: heartbeat is moving again (" +
                       std::to_string(heartbeat_age_ms) + " ms old)\n";
  }
  JsonLine line;
  line.Key("event");
  line.String(stale ? "stale" : "fresh");
  line.Key("heartbeat_age_ms");
  line.Uint(heartbeat_age_ms);
  return line.Finish();
}

std::string FormatExited(const TableSnapshot& snapshot, bool json) {
  if (!json) {
    return "exited: ovs-vswitchd (pid " +
           std::to_string(snapshot.table.writer_pid) +
           ") exited cleanly: the table will not change until it restarts\n";
  }
  JsonLine line;
  line.Key("event");
  line.String("exited");
  line.Key("writer_pid");
  line.Uint(snapshot.table.writer_pid);
  return line.Finish();
}

std::string FormatError(const Status& error, bool json) {
  if (!json) {
    return "error: " + error.ToString() + "\n";
  }
  JsonLine line;
  line.Key("event");
  line.String("error");
  line.Key("message");
  line.String(error.ToString());
  return line.Finish();
}

namespace {

// The state of a running watch.
class Watch {
 public:
  Watch(const WatchOptions& options, const WatchOutput& output)
      : options_(options), output_(output) {}

  Status Run();

 private:
  // Handles one batch of notifier events.  Sets '*done' when --count is
  // reached.
  Status Handle(const TableEvents& events, bool* done);
  // Takes a snapshot and prints the bonds that changed since the last one.
  Status PrintChanges(const std::vector<uint64_t>& wakes_ns, bool* done);
  // Milliseconds to the deadline for poll(): -1 without --timeout, 0 when
  // it has passed.
  int PollTimeoutMs() const;

  const WatchOptions& options_;
  const WatchOutput& output_;
  std::unique_ptr<ChangeNotifier> notifier_;
  std::unique_ptr<TableReader> reader_;
  TableSnapshot last_;
  uint64_t printed_ = 0;
  std::chrono::steady_clock::time_point deadline_;
};

Status Watch::Run() {
  if (options_.timeout) {
    deadline_ = std::chrono::steady_clock::now() + *options_.timeout;
  }
  // The notifier first: every change after it started is signalled, so
  // none can fall between the first snapshot and the first wait.
  ChangeNotifierOptions notifier_options;
  if (options_.realtime) {
    notifier_options.realtime_priority = kWatchRealtimePriority;
  }
  Result<std::unique_ptr<ChangeNotifier>> notifier =
      ChangeNotifier::Start(options_.path, notifier_options);
  if (!notifier.ok()) {
    return notifier.status();
  }
  notifier_ = std::move(*notifier);
  Result<std::unique_ptr<TableReader>> reader =
      TableReader::Open(options_.path);
  if (!reader.ok()) {
    return reader.status();
  }
  reader_ = std::move(*reader);
  Result<TableSnapshot> snapshot = reader_->Snapshot();
  if (!snapshot.ok()) {
    return snapshot.status();
  }
  last_ = std::move(*snapshot);
  if (options_.bond && last_.FindBond(*options_.bond) == nullptr) {
    output_.warning("bond \"" + *options_.bond + "\" is not published in " +
                    options_.path +
                    " yet: waiting for it (set "
                    "other_config:rdma-bond=true on its port)");
  }
  Status status = output_.line(FormatAttach(last_, options_.json));
  if (!status.ok()) {
    return status;
  }

  for (;;) {
    struct pollfd pfd = {notifier_->Fd(), POLLIN, 0};
    const int n = poll(&pfd, 1, PollTimeoutMs());
    if (n < 0 && errno != EINTR) {
      return Status::FromErrno("poll on the change notifier", errno);
    }
    if (n == 0 && options_.timeout &&
        std::chrono::steady_clock::now() >= deadline_) {
      return Status::OK();
    }
    if (n <= 0) {
      continue;  // EINTR, or poll() woke a little before the deadline.
    }
    bool done = false;
    status = Handle(notifier_->Consume(), &done);
    if (!status.ok() || done) {
      return status;
    }
  }
}

int Watch::PollTimeoutMs() const {
  if (!options_.timeout) {
    return -1;
  }
  const auto left = deadline_ - std::chrono::steady_clock::now();
  if (left <= std::chrono::nanoseconds::zero()) {
    return 0;
  }
  // Rounded up, so that poll() does not return just before the deadline;
  // capped at what an int holds.
  const int64_t ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, INT32_MAX));
}

Status Watch::Handle(const TableEvents& events, bool* done) {
  const bool json = options_.json;
  if (events.stopped) {
    return events.error;
  }
  Status status;
  if (!events.error.ok()) {
    status = output_.line(FormatError(events.error, json));
  }
  if (status.ok() && events.removed) {
    status = output_.line(FormatTableRemoved(options_.path, json));
  }
  if (status.ok() && events.restarted) {
    const uint64_t old_id = reader_->instance_id();
    Result<Reattachment> reattached = reader_->Reattach();
    Result<TableSnapshot> snapshot =
        reattached.ok() ? reader_->Snapshot()
                        : Result<TableSnapshot>(reattached.status());
    if (!snapshot.ok()) {
      // The notifier will report the next restart or removal.
      status = output_.line(FormatError(snapshot.status(), json));
    } else if (reattached->restarted) {
      status = output_.line(FormatRestart(*snapshot, old_id, json));
      last_.bonds.clear();  // Every bond of the new table is news.
    }
  }
  if (status.ok() && events.stale) {
    status = output_.line(FormatStale(events.heartbeat_age_ms, true, json));
  }
  if (status.ok() && events.fresh) {
    status = output_.line(FormatStale(events.heartbeat_age_ms, false, json));
  }
  if (status.ok() && events.exited) {
    status = output_.line(FormatExited(last_, json));
  }
  if (status.ok() && (events.changed || events.restarted)) {
    status = PrintChanges(events.change_wake_ns, done);
  }
  return status;
}

Status Watch::PrintChanges(const std::vector<uint64_t>& wakes_ns, bool* done) {
  Result<TableSnapshot> snapshot = reader_->Snapshot();
  if (!snapshot.ok()) {
    return snapshot.status();
  }
  for (const BondChange& change :
       DiffBonds(last_.bonds, snapshot->bonds, options_.bond)) {
    const uint64_t change_ns = change.bond ? change.bond->change_ns : 0;
    const uint64_t wake_ns = WakeFor(wakes_ns, change_ns, snapshot->now_ns);
    Status status = output_.line(FormatChange(
        change, snapshot->table.change_word, wake_ns, options_.json));
    if (!status.ok()) {
      return status;
    }
    if (options_.count && ++printed_ >= *options_.count) {
      *done = true;
      break;
    }
  }
  last_ = std::move(*snapshot);
  return Status::OK();
}

}  // namespace

Status RunWatch(const WatchOptions& options, const WatchOutput& output) {
  Watch watch(options, output);
  return watch.Run();
}

}  // namespace rdma_bond
