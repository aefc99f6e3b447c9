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
#include <string>
#include <string_view>
#include <vector>

#include "json_writer.h"
#include "perf_net.h"
#include "perf_options.h"
#include "perf_session.h"
#include "perf_timeline.h"
#include "rdma_bond/connection.h"
#include "rdma_bond/emulated_rnic.h"
#include "rdma_bond/status.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

namespace rdma_bond {
namespace {

constexpr int kExitSuccess = 0;
constexpr int kExitFailure = 1;     // The run failed or lost messages.
constexpr int kExitUsage = 2;

constexpr char kPreamble[] = "RDMA-BOND-PERF/1";

// The first byte of every message of this tool.
enum class Kind : uint8_t {
  kData = 1,      // seq (7 bytes), send time (8 bytes), filler.
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

// What the receiver of data messages finds, per connection.
struct Receipts {
  std::vector<bool> seen;
  uint64_t unique = 0;
  uint64_t duplicates = 0;
  uint64_t expected = 0;           // From kDone; 0 until then.
  bool done = false;
  uint64_t bytes = 0;

  void Add(uint64_t seq, size_t size) {
    if (seq >= seen.size()) {
      seen.resize(std::max<size_t>(seq + 1, seen.size() * 2), false);
    }
    if (seen[seq]) {
      duplicates++;
    } else {
      seen[seq] = true;
      unique++;
      bytes += size;
    }
  }
  uint64_t lost() const { return expected > unique ? expected - unique : 0; }
};

void PutU64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }
uint64_t GetU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Message layout: byte 0 kind, bytes 1-7 the sequence number (56 bits),
// bytes 8-15 the sender's CLOCK_MONOTONIC (ns), then filler.
void FillHeader(std::vector<uint8_t>* msg, Kind kind, uint64_t seq,
                uint64_t now) {
  PutU64(msg->data(), (seq << 8) | static_cast<uint8_t>(kind));
  PutU64(msg->data() + 8, now);
}

struct Totals {
  uint64_t sent = 0, delivered = 0, duplicates_dropped = 0, resent = 0;
  uint64_t repins = 0, path_failures = 0;
  std::map<std::string, uint64_t> per_member_sent, per_member_received;
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
    for (const PathStats& p : s.paths) {
      t.per_member_sent[p.local_member] += p.messages_sent;
      t.per_member_received[p.local_member] += p.messages_received;
      t.paths.push_back(p);
    }
  }
  return t;
}

// The server's findings for one connection, as sent back in kResult.
struct ServerResult {
  uint64_t expected = 0, unique = 0, duplicates = 0, lost = 0, bytes = 0;
  double longest_stall_ms = 0;
  std::map<std::string, uint64_t> per_member_received;
  uint64_t repins = 0, path_failures = 0, resent = 0, bond_changes = 0;
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
  add("bytes", r.bytes);
  add("stall_us", static_cast<uint64_t>(r.longest_stall_ms * 1000));
  add("repins", r.repins);
  add("path_failures", r.path_failures);
  add("resent", r.resent);
  add("bond_changes", r.bond_changes);
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
    else if (key == "bytes") r.bytes = v;
    else if (key == "stall_us") r.longest_stall_ms = double(v) / 1000;
    else if (key == "repins") r.repins = v;
    else if (key == "path_failures") r.path_failures = v;
    else if (key == "resent") r.resent = v;
    else if (key == "bond_changes") r.bond_changes = v;
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

int RunServer(const Options& o) {
  Result<int> listener = Listen(o.local, o.port);
  if (!listener.ok()) {
    return Fail(listener.status());
  }
  Session session(o);
  std::vector<Receipts> receipts;
  int expected_qps = 1;
  for (int i = 0; i < expected_qps; i++) {
    // Wait for the next connection, keeping the ones made running.
    for (;;) {
      pollfd p{*listener, POLLIN, 0};
      if (poll(&p, 1, 1) > 0) break;
      session.KeepAlive();
    }
    const int fd = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      return Fail(Status::FromErrno("accept", errno));
    }
    (void)SetNoDelay(fd);
    Result<std::string> preamble =
        ReadLine(fd, 5000, [&session] { session.KeepAlive(); });
    if (!preamble.ok()) {
      close(fd);
      return Fail(preamble.status());
    }
    unsigned qps = 0, index = 0, baseline = 0;
    char test[8] = "";
    if (std::sscanf(preamble->c_str(),
                    "RDMA-BOND-PERF/1 qps=%u index=%u test=%7s baseline=%u",
                    &qps, &index, test, &baseline) != 4 ||
        qps < 1 || qps > kMaxQps || index != unsigned(i)) {
      close(fd);
      return Fail(Status::Corruption("unexpected preamble \"" + *preamble +
                                     "\" (another program or version?)"));
    }
    if ((baseline != 0) != o.baseline) {
      (void)WriteAll(fd, "ERROR --baseline on one side only\n");
      close(fd);
      return Fail(Status::InvalidArgument(
          "the client runs with" + std::string(baseline ? "" : "out") +
          " --baseline and this server with" +
          std::string(o.baseline ? "" : "out") + ": give it to both"));
    }
    expected_qps = static_cast<int>(qps);
    if (i == 0) {
      Result<IpAddress> local = SocketAddress(fd, false);
      if (!local.ok()) return Fail(local.status());
      if (Status s = session.Open(*local); !s.ok()) {
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
    if (Status s = session.Connect(fd, false, *remote, i); !s.ok()) {
      return FailWithReport(o, session, s);
    }
  }
  close(*listener);

  receipts.resize(session.conns().size());
  uint64_t last_delivery = 0, longest_gap = 0;
  std::optional<Timeline> timeline;
  if (o.timeline_ms) timeline.emplace(o.timeline_ms, NowNs());
  size_t results_sent = 0;
  for (size_t c = 0; c < session.conns().size(); c++) {
    Connection* conn = session.conns()[c].get();
    Receipts* r = &receipts[c];
    conn->OnMessage([&, conn, r](std::span<const uint8_t> m) {
      if (m.size() < kMinSize) return;
      const uint64_t word = GetU64(m.data());
      const Kind kind = static_cast<Kind>(word & 0xff);
      const uint64_t seq = word >> 8;
      const uint64_t now = NowNs();
      if (kind == Kind::kData) {
        if (last_delivery != 0) {
          longest_gap = std::max(longest_gap, now - last_delivery);
        }
        last_delivery = now;
        if (timeline) timeline->Delivered(now);
        r->Add(seq, m.size());
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
    });
  }
  std::vector<bool> answered(session.conns().size(), false);
  while (results_sent < session.conns().size()) {
    if (Status s = session.Step(1000); !s.ok()) {
      return FailWithReport(o, session, s,
                            timeline ? &*timeline : nullptr);
    }
    if (const uint64_t now = NowNs(); timeline && timeline->SampleDue(now)) {
      timeline->SampleMembers(now, Sum(session.conns()).per_member_received);
      uint64_t frames = 0, wrong = 0;
      for (const auto& rnic : session.rnics()) {
        if (const auto* e = dynamic_cast<const EmulatedRnic*>(rnic.get())) {
          const EmulatedRnicStats st = e->stats();
          frames += st.frames_received;
          wrong += st.dropped_wrong_qpn;
        }
      }
      timeline->SampleFrames(now, frames, wrong);
    }
    for (size_t c = 0; c < session.conns().size(); c++) {
      if (answered[c] || !receipts[c].done) continue;
      ServerResult res;
      res.expected = receipts[c].expected;
      res.unique = receipts[c].unique;
      res.duplicates = receipts[c].duplicates;
      res.lost = receipts[c].lost();
      res.bytes = receipts[c].bytes;
      res.longest_stall_ms = double(longest_gap) / 1e6;
      ConnectionStats cs = session.conns()[c]->stats();
      for (const PathStats& p : cs.paths) {
        res.per_member_received[p.local_member] += p.messages_received;
      }
      res.repins = cs.repins;
      res.path_failures = cs.path_failures;
      res.resent = cs.resent;
      res.bond_changes = session.bond_changes();
      const std::string text = EncodeResult(res);
      std::vector<uint8_t> msg(kMinSize + text.size());
      FillHeader(&msg, Kind::kResult, 0, NowNs());
      std::memcpy(msg.data() + kMinSize, text.data(), text.size());
      Status s = session.conns()[c]->Send(msg);
      if (s.code() == Status::Code::kUnavailable) continue;
      if (!s.ok()) {
        return FailWithReport(o, session, s,
                              timeline ? &*timeline : nullptr);
      }
      answered[c] = true;
      results_sent++;
    }
  }
  for (auto& conn : session.conns()) {
    (void)conn->Close(std::chrono::milliseconds(5000));
  }
  if (o.json) {
    Totals totals = Sum(session.conns());
    JsonWriter j;
    j.BeginObject();
    j.Key("role");
    j.String("server");
    j.Key("backend");
    j.String(o.backend);
    j.Key("emulation");
    j.Bool(!session.rnics().empty() && session.rnics()[0]->is_emulation());
    j.Key("baseline");
    j.Bool(o.baseline);
    j.Key("bond");
    j.String(session.found().bond.name);
    j.Key("delivered");
    uint64_t unique = 0, duplicates = 0, lost = 0;
    for (const Receipts& r : receipts) {
      unique += r.unique;
      duplicates += r.duplicates;
      lost += r.lost();
    }
    j.Uint(unique);
    j.Key("lost");
    j.Uint(lost);
    j.Key("duplicated");
    j.Uint(duplicates);
    j.Key("longest_stall_ms");
    j.Double(double(longest_gap) / 1e6, 3);
    j.Key("repins");
    j.Uint(totals.repins);
    j.Key("bond_changes");
    j.Uint(session.bond_changes());
    j.Key("agent");
    j.String(session.agent_state());
    WritePaths(j, totals.paths);
    WriteRnics(j, session.rnics());
    if (timeline) timeline->Write(j);
    j.EndObject();
    std::fputs(j.Finish().c_str(), stdout);
  } else {
    for (size_t c = 0; c < receipts.size(); c++) {
      std::printf("connection %zu: %" PRIu64 " of %" PRIu64
                  " messages, %" PRIu64 " duplicated, %" PRIu64 " lost\n",
                  c, receipts[c].unique, receipts[c].expected,
                  receipts[c].duplicates, receipts[c].lost());
    }
  }
  return kExitSuccess;
}

// --- Client -----------------------------------------------------------------

int RunClient(const Options& o) {
  Session session(o);
  auto fail = [&](const Status& status) {
    return FailWithReport(o, session, status);
  };
  for (int i = 0; i < o.qps; i++) {
    Result<int> fd = ConnectTcp(o.client_host, o.port, kConnectRetryMs);
    if (!fd.ok()) return fail(fd.status());
    char preamble[96];
    std::snprintf(preamble, sizeof preamble,
                  "%s qps=%d index=%d test=%s baseline=%d\n", kPreamble,
                  o.qps, i, o.test.c_str(), o.baseline ? 1 : 0);
    if (Status s = WriteAll(*fd, preamble); !s.ok()) return fail(s);
    if (i == 0) {
      Result<IpAddress> local = SocketAddress(*fd, false);
      if (!local.ok()) return fail(local.status());
      if (Status s = session.Open(*local); !s.ok()) {
        close(*fd);
        return fail(s);
      }
    }
    Result<std::string> answer =
        ReadLine(*fd, 10000, [&session] { session.KeepAlive(); });
    if (!answer.ok()) return fail(answer.status().WithPrefix("server"));
    if (answer->rfind("ERROR ", 0) == 0) {
      close(*fd);
      return fail(Status::Unavailable("server: " + answer->substr(6)));
    }
    Result<IpAddress> remote = SocketAddress(*fd, true);
    if (!remote.ok()) return fail(remote.status());
    if (Status s = session.Connect(*fd, true, *remote, i); !s.ok()) {
      return fail(s);
    }
  }
  auto& conns = session.conns();
  std::vector<ServerResult> results(conns.size());
  std::vector<bool> have_result(conns.size(), false);
  std::vector<double> rtts_us;
  uint64_t pongs = 0;
  for (size_t c = 0; c < conns.size(); c++) {
    conns[c]->OnMessage([&, c](std::span<const uint8_t> m) {
      if (m.size() < kMinSize) return;
      const Kind kind = static_cast<Kind>(GetU64(m.data()) & 0xff);
      if (kind == Kind::kResult) {
        results[c] = DecodeResult(std::string_view(
            reinterpret_cast<const char*>(m.data()) + kMinSize,
            m.size() - kMinSize));
        have_result[c] = true;
      } else if (kind == Kind::kPong) {
        rtts_us.push_back(double(NowNs() - GetU64(m.data() + 8)) / 1000);
        pongs++;
      }
    });
  }

  // Warm-up: paths other than the first come up while the first carries;
  // give every path that may carry up to 2 s to be probed, so that the
  // run measures the steady state.
  const uint64_t warm_until = NowNs() + 2000000000ull;
  for (;;) {
    bool all_up = true;
    for (auto& conn : conns) {
      for (const PathStats& p : conn->stats().paths) {
        all_up = all_up && (!p.carries || p.up);
      }
    }
    if (all_up || NowNs() > warm_until) break;
    if (Status e = session.Step(1000); !e.ok()) return fail(e);
  }

  std::vector<uint8_t> msg(o.size, 0x5a);
  std::vector<uint64_t> next_seq(conns.size(), 0);
  const uint64_t start = NowNs();
  const uint64_t end_ns =
      o.duration_s > 0 ? start + uint64_t(o.duration_s * 1e9) : 0;
  uint64_t sent = 0;
  size_t rr = 0;
  auto more = [&]() {
    return end_ns ? NowNs() < end_ns : sent < o.iters;
  };
  if (o.test == "lat") {
    while (more()) {
      const uint64_t want = pongs + 1;
      FillHeader(&msg, Kind::kPing, next_seq[0]++, NowNs());
      Status s = conns[0]->Send(msg);
      while (s.code() == Status::Code::kUnavailable) {
        if (Status e = session.Step(100); !e.ok()) return fail(e);
        s = conns[0]->Send(msg);
      }
      if (!s.ok()) return fail(s);
      sent++;
      while (pongs < want) {
        if (Status e = session.Step(o.busy_poll ? 0 : 100); !e.ok()) {
          return fail(e);
        }
      }
    }
  } else {
    while (more()) {
      const size_t c = rr++ % conns.size();
      FillHeader(&msg, Kind::kData, next_seq[c], NowNs());
      Status s = conns[c]->Send(msg);
      if (s.code() == Status::Code::kUnavailable) {
        if (Status e = session.Step(o.busy_poll ? 0 : 200); !e.ok()) {
          return fail(e);
        }
        continue;
      }
      if (!s.ok()) return fail(s);
      next_seq[c]++;
      sent++;
      if ((sent & 63) == 0) {
        if (Status e = session.Step(0); !e.ok()) return fail(e);
      }
    }
  }
  // Tell each server connection how many it should have, then wait for
  // everything to be acknowledged and for the findings.
  for (size_t c = 0; c < conns.size(); c++) {
    FillHeader(&msg, Kind::kDone, next_seq[c], NowNs());
    Status s = conns[c]->Send(msg);
    while (s.code() == Status::Code::kUnavailable) {
      if (Status e = session.Step(200); !e.ok()) return fail(e);
      s = conns[c]->Send(msg);
    }
    if (!s.ok()) return fail(s);
  }
  uint64_t drained_at = 0;
  const uint64_t wait_start = NowNs();
  while (std::count(have_result.begin(), have_result.end(), true) <
         static_cast<long>(conns.size())) {
    if (Status e = session.Step(1000); !e.ok()) return fail(e);
    if (drained_at == 0) {
      bool drained = true;
      for (auto& conn : conns) drained = drained && conn->InFlight() == 0;
      if (drained) drained_at = NowNs();
    }
    if (NowNs() - wait_start > 60e9) {
      return fail(Status::Unavailable(
          "the server sent no findings within 60 s of the last message"));
    }
  }
  const uint64_t finish = drained_at ? drained_at : NowNs();
  Totals totals = Sum(conns);
  const std::string agent = session.agent_state();
  for (auto& conn : conns) {
    (void)conn->Close(std::chrono::milliseconds(5000));
  }

  // The report.
  ServerResult server;
  for (const ServerResult& r : results) {
    server.expected += r.expected;
    server.unique += r.unique;
    server.duplicates += r.duplicates;
    server.lost += r.lost;
    server.bytes += r.bytes;
    server.longest_stall_ms = std::max(server.longest_stall_ms,
                                       r.longest_stall_ms);
    server.repins += r.repins;   // Per connection, as the client's own.
    server.bond_changes = std::max(server.bond_changes, r.bond_changes);
    for (const auto& [m, n] : r.per_member_received) {
      server.per_member_received[m] += n;
    }
  }
  const double seconds = double(finish - start) / 1e9;
  const bool lat = o.test == "lat";
  const double rate = lat ? double(pongs) / seconds : double(sent) / seconds;
  const double gbits = double(sent) * double(o.size) * 8 / seconds / 1e9;
  std::sort(rtts_us.begin(), rtts_us.end());
  const bool emulated = !session.rnics().empty() &&
                        session.rnics()[0]->is_emulation();
  const uint64_t lost = server.lost;
  const uint64_t duplicated = server.duplicates;
  const DiscoveredBond& found = session.found();
  const std::string mode = session.has_bond()
                               ? std::string(ToString(found.bond.mode))
                               : "none (--netdev)";

  if (o.json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("backend");
    j.String(o.backend);
    j.Key("emulation");
    j.Bool(emulated);
    j.Key("test");
    j.String(o.test);
    j.Key("bond");
    j.String(found.bond.name);
    j.Key("mode");
    j.String(mode);
    j.Key("local");
    j.String(ToString(session.local()));
    j.Key("remote");
    j.String(ToString(session.remote()));
    j.Key("connections");
    j.Uint(conns.size());
    j.Key("size");
    j.Uint(o.size);
    j.Key("messages_sent");
    j.Uint(sent);
    j.Key("seconds");
    j.Double(seconds, 6);
    j.Key("messages_per_second");
    j.Double(rate, 1);
    j.Key("gbit_per_second");
    j.Double(lat ? 0 : gbits, 6);
    j.Key("latency_us");
    j.BeginObject();
    j.Key("samples");
    j.Uint(rtts_us.size());
    j.Key("p50");
    j.Double(Percentile(rtts_us, 0.50), 2);
    j.Key("p99");
    j.Double(Percentile(rtts_us, 0.99), 2);
    j.Key("p999");
    j.Double(Percentile(rtts_us, 0.999), 2);
    j.Key("max");
    j.Double(rtts_us.empty() ? NAN : rtts_us.back(), 2);
    j.EndObject();
    j.Key("sent_per_member");
    j.BeginObject();
    for (const auto& [m, n] : totals.per_member_sent) {
      j.Key(m);
      j.Uint(n);
    }
    j.EndObject();
    j.Key("received_per_member");
    j.BeginObject();
    for (const auto& [m, n] : server.per_member_received) {
      j.Key(m);
      j.Uint(n);
    }
    j.EndObject();
    j.Key("repins");
    j.Uint(totals.repins);
    j.Key("server_repins");
    j.Uint(server.repins);
    j.Key("path_failures");
    j.Uint(totals.path_failures);
    j.Key("resent");
    j.Uint(totals.resent);
    j.Key("bond_changes");
    j.Uint(session.bond_changes());
    j.Key("longest_stall_ms");
    j.Double(server.longest_stall_ms, 3);
    j.Key("delivered");
    j.Uint(server.unique);
    j.Key("lost");
    j.Uint(lost);
    j.Key("duplicated");
    j.Uint(duplicated);
    j.Key("agent");
    j.String(agent);
    WritePaths(j, totals.paths);
    WriteRnics(j, session.rnics());
    j.EndObject();
    std::fputs(j.Finish().c_str(), stdout);
  } else {
    std::printf("backend:        %s%s\n", o.backend.c_str(),
                emulated ? " (EMULATED RNIC: RoCEv2 frames over AF_PACKET, "
                           "not RDMA hardware)"
                         : "");
    std::printf("bond:           %s (%s), %s -> %s, %zu connection(s)\n",
                session.has_bond() ? found.bond.name.c_str() : "none",
                mode.c_str(),
                ToString(session.local()).c_str(),
                ToString(session.remote()).c_str(), conns.size());
    if (lat) {
      std::printf("latency (us):   p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f "
                  "(%zu round trips)\n",
                  Percentile(rtts_us, 0.5), Percentile(rtts_us, 0.99),
                  Percentile(rtts_us, 0.999),
                  rtts_us.empty() ? NAN : rtts_us.back(), rtts_us.size());
    } else {
      std::printf("throughput:     %" PRIu64 " x %zu B in %.3f s: %.0f msg/s, "
                  "%.3f Gbit/s\n",
                  sent, o.size, seconds, rate, gbits);
    }
    std::printf("sent per member:");
    for (const auto& [m, n] : totals.per_member_sent) {
      std::printf(" %s %" PRIu64, m.c_str(), n);
    }
    std::printf("\nrecv per member:");
    for (const auto& [m, n] : server.per_member_received) {
      std::printf(" %s %" PRIu64, m.c_str(), n);
    }
    std::printf("\nre-pins:        %" PRIu64 " here, %" PRIu64
                " at the server; %" PRIu64 " bond change(s) seen\n",
                totals.repins, server.repins, session.bond_changes());
    std::printf("path failures:  %" PRIu64 ", messages re-sent %" PRIu64 "\n",
                totals.path_failures, totals.resent);
    std::printf("longest stall:  %.3f ms\n", server.longest_stall_ms);
    size_t hinted = 0;
    for (const PathStats& p : totals.paths) {
      hinted += p.up && p.agent_hint;
    }
    std::printf("agent:          %s (%zu of %zu paths up on ports it "
                "validated)\n",
                agent.c_str(), hinted, totals.paths.size());
    std::printf("lost:           %" PRIu64 "\nduplicated:     %" PRIu64 "\n",
                lost, duplicated);
  }
  if (!lat && (lost != 0 || duplicated != 0 || server.expected != sent)) {
    std::fprintf(stderr, "%s: %" PRIu64 " lost, %" PRIu64
                 " duplicated of %" PRIu64 " messages\n",
                 kProgram, lost, duplicated, sent);
    return kExitFailure;
  }
  return kExitSuccess;
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
