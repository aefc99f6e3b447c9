// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// rdma-bond-perf: a perftest-style tool over librdmabond's multipath
// connections.
//
//   server:  rdma-bond-perf --server [--port N] [--backend B]
//   client:  rdma-bond-perf --client HOST [--size N] [--iters N |
//            --duration S] [--qps N] [--test bw|lat] [--json]
//
// The client opens --qps logical connections to the server (each a full
// mesh of QPs over the bond members of both hosts, see connection.h) and
// sends numbered messages; the server checks every number (lost,
// duplicated) and the gaps between deliveries (the longest stall), and
// sends its findings back over the connection; the client prints one
// report.  Both sides follow their bond through the table that the
// patched ovs-vswitchd publishes, and re-pin as it changes.
//
// The bond is found from the local IP address (the OVS internal port that
// holds it, its bridge, the published bond) and the table is
// $OVS_RUNDIR/rdma-bond.shm; --bond and --shm override.  The QPs are
// registered with the host's ovs-rdma-bond-agent when its socket is next
// to the table (--agent-socket, --no-agent).  Options, output and exit
// statuses: rdma-bond-perf(1).

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_writer.h"
#include "rdma_bond/connection.h"
#include "rdma_bond/status.h"
#include "rnic/emulated/emulated_rnic.h"
#include "tools/perf/perf_message.h"
#include "tools/perf/perf_net.h"
#include "tools/perf/perf_options.h"
#include "tools/perf/perf_session.h"
#include "tools/perf/perf_timeline.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

namespace rdma_bond {
namespace {

constexpr int kExitSuccess = 0;
constexpr int kExitFailure = 1;     // The run failed or lost messages.
constexpr int kExitUsage = 2;

constexpr char kPreamble[] = "RDMA-BOND-PERF/2";  // 2: checked messages.
static_assert(kMinSize >= kMessageHeaderSize, "room for the check");

// The first byte of every message of this tool.
enum class Kind : uint8_t {
  kData = 1,      // seq (7 bytes), send time, check, filler
                  // (perf_message.h).
  kDone = 2,      // Client -> server: how many data messages it sent.
  kResult = 3,    // Server -> client: its findings, as JSON text.
  kPing = 4,      // Latency test: echoed back as kPong.
  kPong = 5,
};

int Fail(const Status& status) {
  std::fprintf(stderr, "%s: %s\n", kProgram, status.ToString().c_str());
  return kExitFailure;
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "%s: %s (see --help)\n", kProgram, message.c_str());
  return kExitUsage;
}

// --- The run ----------------------------------------------------------------


void PutU64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }
uint64_t GetU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Message layout: byte 0 kind, bytes 1-7 the sequence number (56 bits),
// bytes 8-15 the sender's CLOCK_MONOTONIC (ns); data messages then their
// check and filler (SealMessage(), perf_message.h), others anything.
void FillHeader(std::vector<uint8_t>* msg, Kind kind, uint64_t seq,
                uint64_t now) {
  PutU64(msg->data(), (seq << 8) | static_cast<uint8_t>(kind));
  PutU64(msg->data() + 8, now);
}

struct Totals {
  uint64_t sent = 0, delivered = 0, duplicates_dropped = 0, resent = 0;
  uint64_t repins = 0, path_failures = 0, side_nudges = 0;
  uint64_t views_sent_on_paths = 0, views_from_paths = 0, ups_before_ack = 0;
  uint64_t side_rto_min_us = 0;  // The highest of the connections'.
  uint64_t tcp_sent = 0, tcp_received = 0, tcp_fallbacks = 0, tcp_resent = 0;
  uint64_t shares_followed = 0;
  std::map<std::string, uint64_t> per_member_sent, per_member_received;
  std::map<std::string, uint64_t> per_member_bytes_sent;
  std::vector<PathStats> paths;
};

Totals Sum(std::vector<std::unique_ptr<Connection>>& conns) {
  Totals t;
  for (auto& conn : conns) {
    ConnectionStats s = conn->stats();
    t.sent += s.messages_sent;
    t.delivered += s.messages_delivered;
    t.duplicates_dropped += s.duplicates_dropped;
    t.resent += s.resent;
    t.repins += s.repins;
    t.path_failures += s.path_failures;
    t.side_nudges += s.side_nudges;
    t.views_sent_on_paths += s.views_sent_on_paths;
    t.views_from_paths += s.views_from_paths;
    t.ups_before_ack += s.ups_before_ack;
    t.side_rto_min_us = std::max(t.side_rto_min_us, s.side_rto_min_us);
    t.tcp_sent += s.tcp_messages_sent;
    t.tcp_received += s.tcp_messages_received;
    t.tcp_fallbacks += s.tcp_fallbacks;
    t.tcp_resent += s.tcp_resent;
    t.shares_followed += s.shares_followed;
    for (const PathStats& p : s.paths) {
      t.per_member_sent[p.local_member] += p.messages_sent;
      t.per_member_bytes_sent[p.local_member] += p.bytes_sent;
      t.per_member_received[p.local_member] += p.messages_received;
      t.paths.push_back(p);
    }
  }
  return t;
}

// The server's findings for one connection, as sent back in kResult.
struct ServerResult {
  uint64_t expected = 0, unique = 0, duplicates = 0, lost = 0, bytes = 0;
  uint64_t corrupted = 0;
  double longest_stall_ms = 0;
  std::map<std::string, uint64_t> per_member_received;
  uint64_t repins = 0, path_failures = 0, resent = 0, bond_changes = 0;
  uint64_t tcp_received = 0;     // Over the side channel (TCP fallback).
};

std::string EncodeResult(const ServerResult& r) {
  // "key=value" lines: simple to parse back, no JSON parser needed.
  std::string text;
  auto add = [&](const std::string& k, uint64_t v) {
    text += k + "=" + std::to_string(v) + "\n";
  };
  add("expected", r.expected);
  add("unique", r.unique);
  add("duplicates", r.duplicates);
  add("lost", r.lost);
  add("corrupted", r.corrupted);
  add("bytes", r.bytes);
  add("stall_us", static_cast<uint64_t>(r.longest_stall_ms * 1000));
  add("repins", r.repins);
  add("path_failures", r.path_failures);
  add("resent", r.resent);
  add("bond_changes", r.bond_changes);
  add("tcp_received", r.tcp_received);
  for (const auto& [member, n] : r.per_member_received) {
    add("received." + member, n);
  }
  return text;
}

ServerResult DecodeResult(std::string_view text) {
  ServerResult r;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? "" : text.substr(nl + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string key(line.substr(0, eq));
    const uint64_t v = std::strtoull(std::string(line.substr(eq + 1)).c_str(),
                                     nullptr, 10);
    if (key == "expected") r.expected = v;
    else if (key == "unique") r.unique = v;
    else if (key == "duplicates") r.duplicates = v;
    else if (key == "lost") r.lost = v;
    else if (key == "corrupted") r.corrupted = v;
    else if (key == "bytes") r.bytes = v;
    else if (key == "stall_us") r.longest_stall_ms = double(v) / 1000;
    else if (key == "repins") r.repins = v;
    else if (key == "path_failures") r.path_failures = v;
    else if (key == "resent") r.resent = v;
    else if (key == "bond_changes") r.bond_changes = v;
    else if (key == "tcp_received") r.tcp_received = v;
    else if (key.rfind("received.", 0) == 0) {
      r.per_member_received[key.substr(9)] = v;
    }
  }
  return r;
}

double Percentile(std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  const size_t i = std::min(sorted.size() - 1,
                            static_cast<size_t>(q * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

// The "rnics" member of a JSON report: the emulated RNICs' own counters
// (where frames went); nothing for verbs.
void WriteRnics(JsonWriter& j, const std::vector<std::unique_ptr<Rnic>>& rnics) {
  j.Key("rnics");
  j.BeginArray();
  for (const auto& rnic : rnics) {
    const auto* emulated = dynamic_cast<const EmulatedRnic*>(rnic.get());
    if (emulated == nullptr) continue;
    const EmulatedRnicStats st = emulated->stats();
    j.BeginObject();
    j.Key("name");
    j.String(rnic->name());
    j.Key("frames_sent");
    j.Uint(st.frames_sent);
    j.Key("frames_received");
    j.Uint(st.frames_received);
    j.Key("send_dropped");
    j.Uint(st.send_dropped);
    j.Key("dropped_wrong_qpn");
    j.Uint(st.dropped_wrong_qpn);
    j.Key("dropped_not_local");
    j.Uint(st.dropped_not_local);
    j.Key("dropped_bad_icrc");
    j.Uint(st.dropped_bad_icrc);
    j.Key("dropped_malformed");
    j.Uint(st.dropped_malformed);
    j.Key("retransmits");
    j.Uint(st.transport.retransmits);
    j.Key("timeouts");
    j.Uint(st.transport.timeouts);
    j.EndObject();
  }
  j.EndArray();
}

// The "paths" member of a JSON report.
// The "fatal" member (--inject-fatal): when the RNICs failed and
// recovered (CLOCK_MONOTONIC ns; 0: not), or nothing without the option.
void WriteFatal(JsonWriter& j, const Session& session) {
  if (session.fatal_start_ns() == 0 && session.fatal_end_ns() == 0) return;
  j.Key("fatal");
  j.BeginObject();
  j.Key("start_ns");
  j.Uint(session.fatal_start_ns());
  j.Key("end_ns");
  j.Uint(session.fatal_end_ns());
  j.EndObject();
}

void WritePaths(JsonWriter& j, const std::vector<PathStats>& paths) {
  j.Key("paths");
  j.BeginArray();
  for (const PathStats& p : paths) {
    j.BeginObject();
    j.Key("local_member");
    j.String(p.local_member);
    j.Key("remote_member");
    j.String(p.remote_member);
    j.Key("rnic");
    j.String(p.rnic);
    j.Key("state");
    j.String(p.state);
    j.Key("qpn");
    j.Uint(p.qpn);
    j.Key("up");
    j.Bool(p.up);
    j.Key("carries");
    j.Bool(p.carries);
    j.Key("sport");
    j.Uint(p.sport);
    j.Key("messages_sent");
    j.Uint(p.messages_sent);
    j.Key("bytes_sent");
    j.Uint(p.bytes_sent);
    j.Key("share");
    j.Double(p.share, 3);
    j.Key("failures");
    j.Uint(p.failures);
    j.Key("repins");
    j.Uint(p.repins);
    j.Key("agent_hint");
    j.Bool(p.agent_hint);
    j.Key("last_error");
    j.String(p.last_error);
    // Every QP and source port the path used: what the wire may show.
    j.Key("pinnings");
    j.BeginArray();
    for (const QpPinning& pin : p.pinnings) {
      j.BeginObject();
      j.Key("qpn");
      j.Uint(pin.qpn);
      j.Key("sport");
      j.Uint(pin.sport);
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
  }
  j.EndArray();
}

// --- Server -----------------------------------------------------------------

// An exit code to stop with, or nullopt to go on with the next step.
using MaybeExit = std::optional<int>;

// A side that fails still reports, with --json, what its RNICs saw (the
// lab's --baseline runs often end so) and why it stopped.
int FailWithReport(const Options& o, Session& session, const Status& status,
                   const Timeline* timeline = nullptr) {
  if (o.json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("role");
    j.String(o.server ? "server" : "client");
    j.Key("error");
    j.String(status.ToString());
    j.Key("baseline");
    j.Bool(o.baseline);
    j.Key("emulation");
    j.Bool(!session.rnics().empty() && session.rnics()[0]->is_emulation());
    WriteRnics(j, session.rnics());
    if (timeline) timeline->Write(j);
    j.EndObject();
    std::fputs(j.Finish().c_str(), stdout);
  }
  return Fail(status);
}

// One server run: the client's connections, what arrives on them, and the
// findings sent back.
class ServerRun {
 public:
  explicit ServerRun(const Options& o) : o_(o), session_(o) {}

  // Accepts the client's connections, as many as its preamble says.
  MaybeExit AcceptClients(int listener) {
    int expected_qps = 1;
    for (int i = 0; i < expected_qps; i++) {
      WaitForConnection(listener);
      if (MaybeExit e = AcceptClient(listener, i, &expected_qps)) return e;
    }
    return std::nullopt;
  }

  // Counts the messages that arrive on every connection, answers pings.
  void ListenForMessages() {
    receipts_.resize(session_.conns().size());
    if (o_.timeline_ms) timeline_.emplace(o_.timeline_ms, NowNs());
    for (size_t c = 0; c < session_.conns().size(); c++) {
      Connection* conn = session_.conns()[c].get();
      Receipts* r = &receipts_[c];
      conn->OnMessage([this, conn, r, c](std::span<const uint8_t> m) {
        OnMessage(conn, c, r, m);
      });
    }
    last_delivery_.assign(session_.conns().size(), 0);
    answered_.assign(session_.conns().size(), false);
  }

  // Runs the connections until each has had its findings sent back.
  MaybeExit ServeUntilAnswered() {
    while (results_sent_ < session_.conns().size()) {
      if (Status s = session_.Step(1000); !s.ok()) {
        return FailWithTimeline(s);
      }
      SampleTimeline();
      if (MaybeExit e = SendResults()) return e;
    }
    return std::nullopt;
  }

  // Closes every connection, giving each up to 5 s.
  void CloseConnections() {
    for (auto& conn : session_.conns()) {
      (void)conn->Close(std::chrono::milliseconds(5000));
    }
  }

  // Prints the report: JSON, or one line per connection.
  void Report() {
    if (o_.json) {
      WriteJson();
    } else {
      PrintText();
    }
  }

 private:
  // Waits for the next connection, keeping the ones made running.
  void WaitForConnection(int listener) {
    for (;;) {
      pollfd p{listener, POLLIN, 0};
      if (poll(&p, 1, 1) > 0) break;
      session_.KeepAlive();
    }
  }

  // Accepts connection 'i' of the client and adds it to the session; the
  // first also opens the session.  Sets '*expected_qps' from the preamble.
  MaybeExit AcceptClient(int listener, int i, int* expected_qps) {
    const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      return Fail(Status::FromErrno("accept", errno));
    }
    (void)SetNoDelay(fd);
    unsigned qps = 0;
    if (MaybeExit e = CheckPreamble(fd, i, &qps)) return e;
    *expected_qps = static_cast<int>(qps);
    if (i == 0) {
      Result<IpAddress> local = SocketAddress(fd, false);
      if (!local.ok()) return Fail(local.status());
      if (Status s = session_.Open(*local); !s.ok()) {
        (void)WriteAll(fd, std::string("ERROR ") + s.ToString() + "\n");
        close(fd);
        return Fail(s);
      }
    }
    if (Status s = WriteAll(fd, std::string(kPreamble) + " ok\n"); !s.ok()) {
      close(fd);
      return Fail(s);
    }
    Result<IpAddress> remote = SocketAddress(fd, true);
    if (!remote.ok()) return Fail(remote.status());
    if (Status s = session_.Connect(fd, false, *remote, i); !s.ok()) {
      return FailWithReport(o_, session_, s);
    }
    return std::nullopt;
  }

  // Reads the preamble of connection 'i' on 'fd' and checks it against this
  // server; sets '*qps' to the client's number of connections.
  MaybeExit CheckPreamble(int fd, int i, unsigned* qps) {
    Result<std::string> preamble =
        ReadLine(fd, 5000, [this] { session_.KeepAlive(); });
    if (!preamble.ok()) {
      close(fd);
      return Fail(preamble.status());
    }
    unsigned index = 0, baseline = 0;
    char test[8] = "";
    if (std::sscanf(preamble->c_str(),
                    "RDMA-BOND-PERF/2 qps=%u index=%u test=%7s baseline=%u",
                    qps, &index, test, &baseline) != 4 ||
        *qps < 1 || *qps > kMaxQps || index != unsigned(i)) {
      close(fd);
      return Fail(Status::Corruption("unexpected preamble \"" + *preamble +
                                     "\" (another program or version?)"));
    }
    if ((baseline != 0) != o_.baseline) {
      (void)WriteAll(fd, "ERROR --baseline on one side only\n");
      close(fd);
      return Fail(Status::InvalidArgument(
          "the client runs with" + std::string(baseline ? "" : "out") +
          " --baseline and this server with" +
          std::string(o_.baseline ? "" : "out") + ": give it to both"));
    }
    return std::nullopt;
  }

  // Handles one message of 'conn' (the index-th connection): counts data,
  // echoes a ping, notes done.
  void OnMessage(Connection* conn, size_t index, Receipts* r,
                 std::span<const uint8_t> m) {
    if (m.size() < kMinSize) return;
    const uint64_t word = GetU64(m.data());
    const Kind kind = static_cast<Kind>(word & 0xff);
    const uint64_t seq = word >> 8;
    const uint64_t now = NowNs();
    if (kind == Kind::kData) {
      // Stalls are per connection: one that stands still is not hidden
      // by the others' deliveries.
      uint64_t& last = last_delivery_[index];
      if (last != 0) longest_gap_ = std::max(longest_gap_, now - last);
      last = now;
      if (timeline_) timeline_->Delivered(now, index);
      if (MessageIntact(m)) {
        r->Add(seq, m.size());
      } else {
        r->corrupted++;
      }
    } else if (kind == Kind::kPing) {
      std::vector<uint8_t> pong(m.begin(), m.end());
      PutU64(pong.data(), (seq << 8) | uint8_t(Kind::kPong));
      while (conn->Send(pong).code() == Status::Code::kUnavailable) {
        (void)conn->Progress();
      }
    } else if (kind == Kind::kDone) {
      r->expected = seq;
      r->done = true;
    }
  }

  // Adds the members' and the RNICs' counts to the timeline when its bin
  // is due.
  void SampleTimeline() {
    const uint64_t now = NowNs();
    if (!timeline_ || !timeline_->SampleDue(now)) return;
    timeline_->SampleMembers(now, Sum(session_.conns()).per_member_received);
    uint64_t frames = 0, wrong = 0;
    for (const auto& rnic : session_.rnics()) {
      if (const auto* e = dynamic_cast<const EmulatedRnic*>(rnic.get())) {
        const EmulatedRnicStats st = e->stats();
        frames += st.frames_received;
        wrong += st.dropped_wrong_qpn;
      }
    }
    timeline_->SampleFrames(now, frames, wrong);
  }

  // The findings for connection 'c'.
  ServerResult ResultFor(size_t c) {
    ServerResult res;
    res.expected = receipts_[c].expected;
    res.unique = receipts_[c].unique;
    res.duplicates = receipts_[c].duplicates;
    res.lost = receipts_[c].lost();
    res.corrupted = receipts_[c].corrupted;
    res.bytes = receipts_[c].bytes;
    res.longest_stall_ms = double(longest_gap_) / 1e6;
    ConnectionStats cs = session_.conns()[c]->stats();
    for (const PathStats& p : cs.paths) {
      res.per_member_received[p.local_member] += p.messages_received;
    }
    res.repins = cs.repins;
    res.path_failures = cs.path_failures;
    res.resent = cs.resent;
    res.tcp_received = cs.tcp_messages_received;
    res.bond_changes = session_.bond_changes();
    return res;
  }

  // Sends its findings on each connection whose client is done and that
  // has not had them yet.
  MaybeExit SendResults() {
    for (size_t c = 0; c < session_.conns().size(); c++) {
      if (answered_[c] || !receipts_[c].done) continue;
      const std::string text = EncodeResult(ResultFor(c));
      std::vector<uint8_t> msg(kMinSize + text.size());
      FillHeader(&msg, Kind::kResult, 0, NowNs());
      std::memcpy(msg.data() + kMinSize, text.data(), text.size());
      Status s = session_.conns()[c]->Send(msg);
      if (s.code() == Status::Code::kUnavailable) continue;
      if (!s.ok()) return FailWithTimeline(s);
      answered_[c] = true;
      results_sent_++;
    }
    return std::nullopt;
  }

  // FailWithReport() with the timeline, if there is one.
  int FailWithTimeline(const Status& s) {
    return FailWithReport(o_, session_, s, timeline_ ? &*timeline_ : nullptr);
  }

  // Prints the JSON report.
  void WriteJson() {
    Totals totals = Sum(session_.conns());
    JsonWriter j;
    j.BeginObject();
    j.Key("role");
    j.String("server");
    j.Key("backend");
    j.String(o_.backend);
    j.Key("emulation");
    j.Bool(!session_.rnics().empty() && session_.rnics()[0]->is_emulation());
    j.Key("baseline");
    j.Bool(o_.baseline);
    j.Key("bond");
    j.String(session_.found().bond.name);
    j.Key("delivered");
    uint64_t unique = 0, duplicates = 0, lost = 0, corrupted = 0;
    for (const Receipts& r : receipts_) {
      unique += r.unique;
      duplicates += r.duplicates;
      lost += r.lost();
      corrupted += r.corrupted;
    }
    j.Uint(unique);
    j.Key("lost");
    j.Uint(lost);
    j.Key("duplicated");
    j.Uint(duplicates);
    j.Key("corrupted");
    j.Uint(corrupted);
    j.Key("longest_stall_ms");
    j.Double(double(longest_gap_) / 1e6, 3);
    j.Key("repins");
    j.Uint(totals.repins);
    j.Key("bond_changes");
    j.Uint(session_.bond_changes());
    j.Key("side_rto_min_us");
    j.Uint(totals.side_rto_min_us);
    j.Key("agent");
    j.String(session_.agent_state());
    WriteFatal(j, session_);
    j.Key("received_over_tcp");
    j.Uint(totals.tcp_received);
    WritePaths(j, totals.paths);
    WriteRnics(j, session_.rnics());
    if (timeline_) timeline_->Write(j);
    j.EndObject();
    std::fputs(j.Finish().c_str(), stdout);
  }

  // Prints one line per connection.
  void PrintText() {
    for (size_t c = 0; c < receipts_.size(); c++) {
      std::printf("connection %zu: %" PRIu64 " of %" PRIu64
                  " messages, %" PRIu64 " duplicated, %" PRIu64
                  " lost, %" PRIu64 " corrupted\n",
                  c, receipts_[c].unique, receipts_[c].expected,
                  receipts_[c].duplicates, receipts_[c].lost(),
                  receipts_[c].corrupted);
    }
  }

  const Options& o_;
  Session session_;  // Before what its connections' callbacks use.
  std::vector<Receipts> receipts_;
  std::vector<uint64_t> last_delivery_;  // Per connection.
  uint64_t longest_gap_ = 0;             // The longest of any connection.
  std::optional<Timeline> timeline_;
  std::vector<bool> answered_;
  size_t results_sent_ = 0;
};

int RunServer(const Options& o) {
  Result<int> listener = Listen(o.local, o.port);
  if (!listener.ok()) {
    return Fail(listener.status());
  }
  ServerRun run(o);
  if (MaybeExit e = run.AcceptClients(*listener)) return *e;
  close(*listener);
  run.ListenForMessages();
  if (MaybeExit e = run.ServeUntilAnswered()) return *e;
  run.CloseConnections();
  run.Report();
  return kExitSuccess;
}

// --- Client -----------------------------------------------------------------

// The figures of the client's report, from the run and the findings.
struct ClientFigures {
  ServerResult server;  // Every connection's findings, added up.
  double seconds = 0;
  double rate = 0;      // Messages (or, --test lat, round trips) per second.
  double gbits = 0;
  bool lat = false;
  bool emulated = false;
  std::string mode;     // The bond's mode.
};

// One client run: its connections, the messages it sends, and what comes
// back.
class ClientRun {
 public:
  explicit ClientRun(const Options& o) : o_(o), session_(o) {}

  // Opens the --qps connections to the server.
  MaybeExit ConnectAll() {
    for (int i = 0; i < o_.qps; i++) {
      if (MaybeExit e = Connect(i)) return e;
    }
    return std::nullopt;
  }

  // Collects the findings and the pongs that come back on each connection.
  void ListenForReplies() {
    auto& conns = session_.conns();
    results_.resize(conns.size());
    have_result_.assign(conns.size(), false);
    for (size_t c = 0; c < conns.size(); c++) {
      conns[c]->OnMessage(
          [this, c](std::span<const uint8_t> m) { OnReply(c, m); });
    }
  }

  // Warm-up: paths other than the first come up while the first carries;
  // give every path that may carry up to 2 s to be probed, so that the
  // run measures the steady state.
  MaybeExit WarmUp() {
    const uint64_t warm_until = NowNs() + 2000000000ull;
    for (;;) {
      bool all_up = true;
      for (auto& conn : session_.conns()) {
        for (const PathStats& p : conn->stats().paths) {
          all_up = all_up && (!p.carries || p.up);
        }
      }
      if (all_up || NowNs() > warm_until) break;
      if (Status e = session_.Step(1000); !e.ok()) return FailRun(e);
    }
    return std::nullopt;
  }

  // Sends the messages: ping-pong for --test lat, a stream for bw.
  MaybeExit SendMessages() {
    msg_.assign(o_.size, 0x5a);
    next_seq_.assign(session_.conns().size(), 0);
    start_ = NowNs();
    end_ns_ = o_.duration_s > 0 ? start_ + uint64_t(o_.duration_s * 1e9) : 0;
    return o_.test == "lat" ? PingPong() : Stream();
  }

  // Tells each server connection how many it should have.  A connection
  // whose send buffers stay full for 60 s (nothing acknowledged, not even
  // over the TCP fallback) fails the run rather than hanging it.
  MaybeExit SendDone() {
    auto& conns = session_.conns();
    for (size_t c = 0; c < conns.size(); c++) {
      FillHeader(&msg_, Kind::kDone, next_seq_[c], NowNs());
      Status s = conns[c]->Send(msg_);
      const uint64_t wait_start = NowNs();
      while (s.code() == Status::Code::kUnavailable) {
        if (NowNs() - wait_start > 60e9) {
          return FailRun(s.WithPrefix(
              "connection " + std::to_string(c) +
              ": the last message could not be queued within 60 s"));
        }
        if (Status e = session_.Step(200); !e.ok()) return FailRun(e);
        s = conns[c]->Send(msg_);
      }
      if (!s.ok()) return FailRun(s);
    }
    return std::nullopt;
  }

  // Waits for everything to be acknowledged and for the findings.
  MaybeExit AwaitFindings() {
    auto& conns = session_.conns();
    uint64_t drained_at = 0;
    const uint64_t wait_start = NowNs();
    while (std::count(have_result_.begin(), have_result_.end(), true) <
           static_cast<long>(conns.size())) {
      if (Status e = session_.Step(1000); !e.ok()) return FailRun(e);
      if (drained_at == 0) {
        bool drained = true;
        for (auto& conn : conns) drained = drained && conn->InFlight() == 0;
        if (drained) drained_at = NowNs();
      }
      if (NowNs() - wait_start > 60e9) {
        return FailRun(Status::Unavailable(
            "the server sent no findings within 60 s of the last message"));
      }
    }
    finish_ = drained_at ? drained_at : NowNs();
    return std::nullopt;
  }

  // Notes the agent's state, closes the connections, then notes their
  // totals: a path may still be reset while a connection closes, and its
  // new QP and source port belong in the report (what the wire may show).
  void CloseConnections() {
    agent_ = session_.agent_state();
    for (auto& conn : session_.conns()) {
      (void)conn->Close(std::chrono::milliseconds(5000));
    }
    totals_ = Sum(session_.conns());
  }

  // Prints the report; returns the exit code: failure if messages were
  // lost or duplicated.
  int Report() {
    const ClientFigures f = Figures();
    if (o_.json) {
      WriteJson(f);
    } else {
      PrintText(f);
    }
    const uint64_t lost = f.server.lost;
    const uint64_t duplicated = f.server.duplicates;
    const uint64_t corrupted = f.server.corrupted;
    if (!f.lat && (lost != 0 || duplicated != 0 || corrupted != 0 ||
                   f.server.expected != sent_)) {
      std::fprintf(stderr, "%s: %" PRIu64 " lost, %" PRIu64
                   " duplicated, %" PRIu64 " corrupted of %" PRIu64
                   " messages\n",
                   kProgram, lost, duplicated, corrupted, sent_);
      return kExitFailure;
    }
    return kExitSuccess;
  }

 private:
  // FailWithReport() for this run.
  int FailRun(const Status& status) {
    return FailWithReport(o_, session_, status);
  }

  // Opens connection 'i': the side channel, the preamble and the server's
  // answer; the first also opens the session.
  MaybeExit Connect(int i) {
    Result<int> fd = ConnectTcp(o_.client_host, o_.port, kConnectRetryMs);
    if (!fd.ok()) return FailRun(fd.status());
    char preamble[96];
    std::snprintf(preamble, sizeof preamble,
                  "%s qps=%d index=%d test=%s baseline=%d\n", kPreamble,
                  o_.qps, i, o_.test.c_str(), o_.baseline ? 1 : 0);
    if (Status s = WriteAll(*fd, preamble); !s.ok()) return FailRun(s);
    if (i == 0) {
      Result<IpAddress> local = SocketAddress(*fd, false);
      if (!local.ok()) return FailRun(local.status());
      if (Status s = session_.Open(*local); !s.ok()) {
        close(*fd);
        return FailRun(s);
      }
    }
    Result<std::string> answer =
        ReadLine(*fd, 10000, [this] { session_.KeepAlive(); });
    if (!answer.ok()) return FailRun(answer.status().WithPrefix("server"));
    if (answer->rfind("ERROR ", 0) == 0) {
      close(*fd);
      return FailRun(Status::Unavailable("server: " + answer->substr(6)));
    }
    Result<IpAddress> remote = SocketAddress(*fd, true);
    if (!remote.ok()) return FailRun(remote.status());
    if (Status s = session_.Connect(*fd, true, *remote, i); !s.ok()) {
      return FailRun(s);
    }
    return std::nullopt;
  }

  // Handles one message of connection 'c': the findings, or a pong.
  void OnReply(size_t c, std::span<const uint8_t> m) {
    if (m.size() < kMinSize) return;
    const Kind kind = static_cast<Kind>(GetU64(m.data()) & 0xff);
    if (kind == Kind::kResult) {
      results_[c] = DecodeResult(std::string_view(
          reinterpret_cast<const char*>(m.data()) + kMinSize,
          m.size() - kMinSize));
      have_result_[c] = true;
    } else if (kind == Kind::kPong) {
      rtts_us_.push_back(double(NowNs() - GetU64(m.data() + 8)) / 1000);
      pongs_++;
    }
  }

  // Whether to send another message: before --duration ends, or until
  // --iters are sent.
  bool More() const { return end_ns_ ? NowNs() < end_ns_ : sent_ < o_.iters; }

  // --test lat: one ping at a time on the first connection, each waiting
  // for its pong.
  MaybeExit PingPong() {
    Connection* conn = session_.conns()[0].get();
    while (More()) {
      const uint64_t want = pongs_ + 1;
      FillHeader(&msg_, Kind::kPing, next_seq_[0]++, NowNs());
      Status s = conn->Send(msg_);
      while (s.code() == Status::Code::kUnavailable) {
        if (Status e = session_.Step(100); !e.ok()) return FailRun(e);
        s = conn->Send(msg_);
      }
      if (!s.ok()) return FailRun(s);
      sent_++;
      const uint64_t ping_at = NowNs();
      while (pongs_ < want) {
        if (Status e = session_.Step(o_.busy_poll ? 0 : 100); !e.ok()) {
          return FailRun(e);
        }
        if (NowNs() - ping_at > 60e9) {
          return FailRun(Status::Unavailable(
              "ping " + std::to_string(sent_) + " had no pong within 60 s"));
        }
      }
    }
    return std::nullopt;
  }

  // --test bw: data messages round-robin over the connections.
  MaybeExit Stream() {
    auto& conns = session_.conns();
    size_t rr = 0;
    while (More()) {
      if (o_.rate != 0) {
        // Paced: message k (from 0) is due k / rate seconds after the
        // start; until then the connections progress.
        const uint64_t due =
            start_ + static_cast<uint64_t>(double(sent_) * 1e9 /
                                           double(o_.rate));
        const uint64_t now = NowNs();
        if (now < due) {
          const int wait_us = static_cast<int>(
              std::min<uint64_t>((due - now) / 1000, 200));
          if (Status e = session_.Step(o_.busy_poll ? 0 : wait_us);
              !e.ok()) {
            return FailRun(e);
          }
          continue;
        }
      }
      const size_t c = rr++ % conns.size();
      FillHeader(&msg_, Kind::kData, next_seq_[c], NowNs());
      SealMessage(msg_, next_seq_[c]);
      Status s = conns[c]->Send(msg_);
      if (s.code() == Status::Code::kUnavailable) {
        if (Status e = session_.Step(o_.busy_poll ? 0 : 200); !e.ok()) {
          return FailRun(e);
        }
        continue;
      }
      if (!s.ok()) return FailRun(s);
      next_seq_[c]++;
      sent_++;
      if ((sent_ & 63) == 0) {
        if (Status e = session_.Step(0); !e.ok()) return FailRun(e);
      }
    }
    return std::nullopt;
  }

  // Adds up the findings of every connection.
  ServerResult SumServerResults() const {
    ServerResult server;
    for (const ServerResult& r : results_) {
      server.expected += r.expected;
      server.unique += r.unique;
      server.duplicates += r.duplicates;
      server.lost += r.lost;
      server.corrupted += r.corrupted;
      server.tcp_received += r.tcp_received;
      server.bytes += r.bytes;
      server.longest_stall_ms = std::max(server.longest_stall_ms,
                                         r.longest_stall_ms);
      server.repins += r.repins;   // Per connection, as the client's own.
      server.bond_changes = std::max(server.bond_changes, r.bond_changes);
      for (const auto& [m, n] : r.per_member_received) {
        server.per_member_received[m] += n;
      }
    }
    return server;
  }

  // Works out the report's figures; sorts the round-trip times.
  ClientFigures Figures() {
    ClientFigures f;
    f.server = SumServerResults();
    f.seconds = double(finish_ - start_) / 1e9;
    f.lat = o_.test == "lat";
    f.rate = f.lat ? double(pongs_) / f.seconds : double(sent_) / f.seconds;
    f.gbits = double(sent_) * double(o_.size) * 8 / f.seconds / 1e9;
    std::sort(rtts_us_.begin(), rtts_us_.end());
    f.emulated = !session_.rnics().empty() &&
                 session_.rnics()[0]->is_emulation();
    f.mode = session_.has_bond()
                 ? std::string(ToString(session_.found().bond.mode))
                 : "none (--netdev)";
    return f;
  }

  // Prints the JSON report.
  void WriteJson(const ClientFigures& f) {
    JsonWriter j;
    j.BeginObject();
    WriteJsonRun(j, f);
    WriteJsonLatency(j);
    WriteJsonMembers(j, f);
    WriteJsonOutcome(j, f);
    WritePaths(j, totals_.paths);
    WriteRnics(j, session_.rnics());
    j.EndObject();
    std::fputs(j.Finish().c_str(), stdout);
  }

  // The JSON report's members that say what ran, and how fast.
  void WriteJsonRun(JsonWriter& j, const ClientFigures& f) {
    j.Key("backend");
    j.String(o_.backend);
    j.Key("emulation");
    j.Bool(f.emulated);
    j.Key("test");
    j.String(o_.test);
    j.Key("bond");
    j.String(session_.found().bond.name);
    j.Key("mode");
    j.String(f.mode);
    j.Key("local");
    j.String(ToString(session_.local()));
    j.Key("remote");
    j.String(ToString(session_.remote()));
    j.Key("connections");
    j.Uint(session_.conns().size());
    j.Key("size");
    j.Uint(o_.size);
    j.Key("messages_sent");
    j.Uint(sent_);
    j.Key("seconds");
    j.Double(f.seconds, 6);
    j.Key("messages_per_second");
    j.Double(f.rate, 1);
    j.Key("gbit_per_second");
    j.Double(f.lat ? 0 : f.gbits, 6);
  }

  // The JSON report's "latency_us" member.
  void WriteJsonLatency(JsonWriter& j) {
    j.Key("latency_us");
    j.BeginObject();
    j.Key("samples");
    j.Uint(rtts_us_.size());
    j.Key("p50");
    j.Double(Percentile(rtts_us_, 0.50), 2);
    j.Key("p99");
    j.Double(Percentile(rtts_us_, 0.99), 2);
    j.Key("p999");
    j.Double(Percentile(rtts_us_, 0.999), 2);
    j.Key("max");
    j.Double(rtts_us_.empty() ? NAN : rtts_us_.back(), 2);
    j.EndObject();
  }

  // The JSON report's messages sent and received per bond member.
  void WriteJsonMembers(JsonWriter& j, const ClientFigures& f) {
    j.Key("sent_per_member");
    j.BeginObject();
    for (const auto& [m, n] : totals_.per_member_sent) {
      j.Key(m);
      j.Uint(n);
    }
    j.EndObject();
    j.Key("received_per_member");
    j.BeginObject();
    for (const auto& [m, n] : f.server.per_member_received) {
      j.Key(m);
      j.Uint(n);
    }
    j.EndObject();
  }

  // The JSON report's re-pins, failures, stall, losses and agent state.
  void WriteJsonOutcome(JsonWriter& j, const ClientFigures& f) {
    j.Key("repins");
    j.Uint(totals_.repins);
    j.Key("shares_followed");
    j.Uint(totals_.shares_followed);
    j.Key("bytes_sent_per_member");
    j.BeginObject();
    for (const auto& [m, n] : totals_.per_member_bytes_sent) {
      j.Key(m);
      j.Uint(n);
    }
    j.EndObject();
    j.Key("server_repins");
    j.Uint(f.server.repins);
    j.Key("path_failures");
    j.Uint(totals_.path_failures);
    j.Key("side_nudges");
    j.Uint(totals_.side_nudges);
    j.Key("views_sent_on_paths");
    j.Uint(totals_.views_sent_on_paths);
    j.Key("views_from_paths");
    j.Uint(totals_.views_from_paths);
    j.Key("ups_before_ack");
    j.Uint(totals_.ups_before_ack);
    j.Key("side_rto_min_us");
    j.Uint(totals_.side_rto_min_us);
    // TCP fallback: messages this side sent over the side channel, the
    // server received over it, and the times it started carrying.
    j.Key("sent_over_tcp");
    j.Uint(totals_.tcp_sent);
    j.Key("received_over_tcp");
    j.Uint(f.server.tcp_received);
    j.Key("tcp_fallbacks");
    j.Uint(totals_.tcp_fallbacks);
    // Sent over TCP, then on a path too (TCP had not delivered them).
    j.Key("tcp_resent");
    j.Uint(totals_.tcp_resent);
    j.Key("resent");
    j.Uint(totals_.resent);
    j.Key("bond_changes");
    j.Uint(session_.bond_changes());
    j.Key("longest_stall_ms");
    j.Double(f.server.longest_stall_ms, 3);
    j.Key("delivered");
    j.Uint(f.server.unique);
    j.Key("lost");
    j.Uint(f.server.lost);
    j.Key("duplicated");
    j.Uint(f.server.duplicates);
    j.Key("corrupted");
    j.Uint(f.server.corrupted);
    j.Key("agent");
    j.String(agent_);
  }

  // Prints the text report: what ran, and how fast.
  void PrintText(const ClientFigures& f) {
    std::printf("backend:        %s%s\n", o_.backend.c_str(),
                f.emulated ? " (EMULATED RNIC: RoCEv2 frames over AF_PACKET, "
                             "not RDMA hardware)"
                           : "");
    std::printf("bond:           %s (%s), %s -> %s, %zu connection(s)\n",
                session_.has_bond() ? session_.found().bond.name.c_str()
                                    : "none",
                f.mode.c_str(),
                ToString(session_.local()).c_str(),
                ToString(session_.remote()).c_str(),
                session_.conns().size());
    if (f.lat) {
      std::printf("latency (us):   p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f "
                  "(%zu round trips)\n",
                  Percentile(rtts_us_, 0.5), Percentile(rtts_us_, 0.99),
                  Percentile(rtts_us_, 0.999),
                  rtts_us_.empty() ? NAN : rtts_us_.back(), rtts_us_.size());
    } else {
      std::printf("throughput:     %" PRIu64 " x %zu B in %.3f s: %.0f msg/s, "
                  "%.3f Gbit/s\n",
                  sent_, o_.size, f.seconds, f.rate, f.gbits);
    }
    PrintTextOutcome(f);
  }

  // Prints the text report's per-member counts, re-pins, failures, stall,
  // agent state and losses.
  void PrintTextOutcome(const ClientFigures& f) {
    std::printf("sent per member:");
    for (const auto& [m, n] : totals_.per_member_sent) {
      std::printf(" %s %" PRIu64, m.c_str(), n);
    }
    std::printf("\nrecv per member:");
    for (const auto& [m, n] : f.server.per_member_received) {
      std::printf(" %s %" PRIu64, m.c_str(), n);
    }
    std::printf("\nre-pins:        %" PRIu64 " here, %" PRIu64
                " at the server; %" PRIu64 " bond change(s) seen\n",
                totals_.repins, f.server.repins, session_.bond_changes());
    std::printf("path failures:  %" PRIu64 ", messages re-sent %" PRIu64 "\n",
                totals_.path_failures, totals_.resent);
    std::printf("over TCP:       %" PRIu64 " sent, %" PRIu64
                " received at the server (%" PRIu64 " fallback(s)), %" PRIu64
                " sent on a path too\n",
                totals_.tcp_sent, f.server.tcp_received,
                totals_.tcp_fallbacks, totals_.tcp_resent);
    std::printf("longest stall:  %.3f ms\n", f.server.longest_stall_ms);
    size_t hinted = 0;
    for (const PathStats& p : totals_.paths) {
      hinted += p.up && p.agent_hint;
    }
    std::printf("agent:          %s (%zu of %zu paths up on ports it "
                "validated)\n",
                agent_.c_str(), hinted, totals_.paths.size());
    std::printf("lost:           %" PRIu64 "\nduplicated:     %" PRIu64
                "\ncorrupted:      %" PRIu64 "\n",
                f.server.lost, f.server.duplicates, f.server.corrupted);
  }

  const Options& o_;
  Session session_;  // Before what its connections' callbacks use.
  std::vector<ServerResult> results_;  // Per connection.
  std::vector<bool> have_result_;
  std::vector<double> rtts_us_;
  uint64_t pongs_ = 0;
  std::vector<uint8_t> msg_;
  std::vector<uint64_t> next_seq_;
  uint64_t start_ = 0;
  uint64_t end_ns_ = 0;   // --duration: when to stop; 0 with --iters.
  uint64_t sent_ = 0;
  uint64_t finish_ = 0;   // When everything was acknowledged.
  Totals totals_;
  std::string agent_;
};

int RunClient(const Options& o) {
  ClientRun run(o);
  if (MaybeExit e = run.ConnectAll()) return *e;
  run.ListenForReplies();
  if (MaybeExit e = run.WarmUp()) return *e;
  if (MaybeExit e = run.SendMessages()) return *e;
  if (MaybeExit e = run.SendDone()) return *e;
  if (MaybeExit e = run.AwaitFindings()) return *e;
  run.CloseConnections();
  return run.Report();
}

}  // namespace
}  // namespace rdma_bond

int main(int argc, char** argv) {
  using namespace rdma_bond;
  Options options;
  const std::string error = ParseOptions(argc, argv, &options);
  if (!error.empty()) {
    return UsageError(error);
  }
  if (options.help) {
    PrintUsage();
    return kExitSuccess;
  }
  if (options.version) {
    std::printf("%s (ovs-rdma-bond) %s\n", kProgram, PACKAGE_VERSION);
    return kExitSuccess;
  }
  return options.server ? RunServer(options) : RunClient(options);
}
