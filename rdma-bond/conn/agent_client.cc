// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "rdma_bond/agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/poll_deadline.h"
#include "common/trusted_file.h"
#include "conn/registry_protocol.h"
#include "rdma_bond/roce.h"
#include "rdma_bond/table_reader.h"

namespace rdma_bond {

namespace {

// PATH lines accepted in one reply: a pair of members each, and a bond has
// at most 32 members (RDMA_BOND_MAX_MEMBERS) on each host.
constexpr size_t kMaxPathLines = 32 * 32;
// Bytes read per recv().
constexpr size_t kReadChunk = 1024;

using Clock = std::chrono::steady_clock;

// "sports=P1,P2,...": RoCEv2 source ports (0xc000..0xffff; others are
// not ports a QP can use and are dropped).
std::optional<std::vector<uint16_t>> ParseSports(std::string_view text) {
  std::vector<uint16_t> sports;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::optional<uint64_t> n =
        ParseRegistryNumber(text.substr(0, comma), 0xffff);
    if (!n) return std::nullopt;
    if (*n >= kRoceSportMin) sports.push_back(static_cast<uint16_t>(*n));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return sports;
}

// The program's name, made a field value.
std::string ProgramName() {
  std::string name = program_invocation_short_name;
  for (char& c : name) {
    if (!IsRegistryToken(std::string_view(&c, 1))) c = '_';
  }
  if (name.size() > kRegistryMaxToken) name.resize(kRegistryMaxToken);
  return name.empty() ? "librdmabond" : name;
}

// The QP request line (no newline), or InvalidArgument.
Result<std::string> FormatQp(const QpRegistration& reg) {
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string*>{"bond", &reg.bond},
        {"member", &reg.member}}) {
    if (!IsRegistryToken(*value)) {
      return Status::InvalidArgument(
          std::string("agent registration of QP ") + std::to_string(reg.qpn) +
          ": " + key + " \"" + *value +
          "\" is empty or has a space, '=' or a control character");
    }
  }
  if (!reg.rnic.empty() && !IsRegistryToken(reg.rnic)) {
    return Status::InvalidArgument(
        "agent registration of QP " + std::to_string(reg.qpn) + ": rnic \"" +
        reg.rnic + "\" has a space, '=' or a control character");
  }
  std::string line = "QP qpn=" + std::to_string(reg.qpn) +
                     " bond=" + reg.bond + " member=" + reg.member +
                     " src=" + ToString(reg.src) +
                     " dst=" + ToString(reg.dst) +
                     " sport=" + std::to_string(reg.sport) +
                     " role=" + std::string(ToString(reg.role));
  if (!reg.rnic.empty()) line += " rnic=" + reg.rnic;
  if (reg.conn) line += " conn=" + std::to_string(*reg.conn);
  if (reg.path) {
    line += " path=" + std::to_string(reg.path->first) + "," +
            std::to_string(reg.path->second);
  }
  if (reg.repin_ns) line += " repin_ns=" + std::to_string(*reg.repin_ns);
  if (line.size() + 1 > kAgentMaxLine) {
    return Status::InvalidArgument("agent registration of QP " +
                                   std::to_string(reg.qpn) + ": line of " +
                                   std::to_string(line.size() + 1) +
                                   " bytes exceeds " +
                                   std::to_string(kAgentMaxLine));
  }
  return line;
}

}  // namespace

std::string DefaultAgentDirectory(std::string_view table_path) {
  std::string table(table_path.empty() ? DefaultTablePath()
                                       : std::string(table_path));
  const size_t slash = table.rfind('/');
  if (slash == std::string::npos) return std::string(kAgentDirName);
  return table.substr(0, slash + 1) + std::string(kAgentDirName);
}

std::string DefaultAgentSocketPath(std::string_view table_path) {
  return DefaultAgentDirectory(table_path) + "/" +
         std::string(kAgentSocketName);
}

std::string_view ToString(AgentQpRole role) {
  switch (role) {
    case AgentQpRole::kActive: return "active";
    case AgentQpRole::kStandby: return "standby";
    case AgentQpRole::kDown: return "down";
  }
  return "down";
}

AgentClient::AgentClient(const AgentClientOptions& options)
    : options_(options),
      name_(options.name.empty() || !IsRegistryToken(options.name)
                ? ProgramName()
                : options.name),
      last_error_(Status::Unavailable("no agent socket given yet")) {}

AgentClient::~AgentClient() { Disconnect(); }

void AgentClient::Disconnect() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  input_.clear();
  out_.clear();
  building_.clear();
  // A PATHS under way is answered with why it ended (Fail()); the others
  // have nothing to say.
  pending_.clear();
}

void AgentClient::Maintain() {
  if (fd_ >= 0 && !pending_.empty()) Poll();
  const Clock::time_point now = Clock::now();
  if (now < next_maintain_) return;
  next_maintain_ = now + kMaintainInterval;
  if (fd_ >= 0) {
    // Nothing due: a readable socket means the agent closed the
    // connection (or broke the protocol).
    Poll();
    return;
  }
  if (!registrations_.empty()) {
    (void)EnsureConnected(now + options_.timeout, std::nullopt);
  }
}

Status AgentClient::Fail(Status status) {
  for (const Pending& p : pending_) {
    if (p.ask == Ask::kPaths) Answer(p.paths_key, status);
  }
  Disconnect();
  // The first failure after a success waits retry_interval; each failed
  // reconnection doubles the wait, up to max_retry_interval.
  backoff_ = backoff_.count() == 0
                 ? options_.retry_interval
                 : std::min(backoff_ * 2, options_.max_retry_interval);
  next_attempt_ = Clock::now() + backoff_;
  last_error_ = status;
  return status;
}

Status AgentClient::Connect(const std::string& path,
                            std::chrono::milliseconds timeout) {
  Disconnect();
  path_ = path;
  options_.timeout = timeout;
  return Open(Clock::now() + timeout, std::nullopt);
}

Status AgentClient::EnsureConnected(Clock::time_point deadline,
                                    std::optional<Key> skip_qpn) {
  if (fd_ >= 0) return Status::OK();
  if (path_.empty() || Clock::now() < next_attempt_) {
    return Status::Unavailable("agent: not connected (" +
                               last_error_.message() + ")");
  }
  return Open(deadline, skip_qpn);
}

Status AgentClient::Open(Clock::time_point deadline,
                         std::optional<Key> skip_qpn) {
  const std::string where = "agent " + path_;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof addr.sun_path) {
    return Fail(Status::InvalidArgument(
        where + ": not a usable socket path (empty or longer than " +
        std::to_string(sizeof addr.sun_path - 1) + " bytes)"));
  }
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  // Only an agent of root, of this program's user or of the directory's
  // owner: a socket planted by anyone else would collect our QPs and feed
  // us paths (docs/security.md).
  if (Status trusted = CheckTrustedPath("agent socket", path_,
                                        FileKind::kSocket);
      !trusted.ok()) {
    return Fail(trusted.IsNotFound()
                    ? trusted.WithHint("(is ovs-rdma-bond-agent running?)")
                    : trusted);
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Fail(Status::FromErrno(where + ": socket", errno));
  // Non-blocking: a hung agent with a full backlog gives EAGAIN instead of
  // blocking here.
  if (connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) !=
      0) {
    const int err = errno;
    Status s = Status::FromErrno(where, err);
    if (err == ECONNREFUSED) {
      s = s.WithHint("(is ovs-rdma-bond-agent running?)");
    }
    return Fail(s);
  }
  std::string reply;
  Status s = Request("HELLO version=" + std::to_string(kAgentProtocolVersion) +
                         " name=" + name_,
                     deadline, &reply);
  if (!s.ok()) return s;  // Failed already.
  if (RegistryVerb(reply) == "ERR") {
    return Fail(Status::Unavailable(where + ": " + RegistryReason(reply)));
  }
  if (RegistryVerb(reply) != "OK") {
    return Fail(Status::Corruption(where + ": unexpected reply to HELLO: \"" +
                                   reply + "\""));
  }
  if (std::optional<std::string_view> v = RegistryField(reply, "version");
      v && *v != std::to_string(kAgentProtocolVersion)) {
    return Fail(Status::NotSupported(
        where + ": the agent speaks protocol version " + std::string(*v) +
        ", this library " + std::to_string(kAgentProtocolVersion) +
        ": upgrade ovs-rdma-bond"));
  }
  agent_pid_ = 0;
  if (std::optional<std::string_view> pid = RegistryField(reply, "agent")) {
    if (std::optional<uint64_t> n = ParseRegistryNumber(*pid, 0x7fffffff)) {
      agent_pid_ = static_cast<pid_t>(*n);
    }
  }
  backoff_ = std::chrono::milliseconds(0);
  last_error_ = Status::OK();
  // This agent may be newer than the one that refused LOAD.
  load_supported_ = true;
  // The agent forgot our QPs with the old connection: tell it again
  // (answers read by Poll(); a refusal forgets the registration).
  for (auto it = registrations_.begin(); it != registrations_.end();) {
    if (skip_qpn && it->first == *skip_qpn) {
      ++it;
      continue;
    }
    Result<std::string> line = FormatQp(it->second);
    if (!line.ok()) {
      generations_.erase(it->first);
      it = registrations_.erase(it);
      continue;
    }
    s = Send(*line, Pending{Ask::kQp, it->first, generations_[it->first],
                            {}, {}});
    if (!s.ok()) return s;
    ++it;
  }
  return Status::OK();
}

Status AgentClient::SendLine(const std::string& line,
                             Clock::time_point deadline) {
  std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Fail(Status::FromErrno("agent " + path_ + ": send", errno));
    }
    pollfd p{fd_, POLLOUT, 0};
    const int wait = MillisLeft(deadline);
    if (wait == 0 || poll(&p, 1, wait) == 0) {
      return Fail(Status::Unavailable(
          "agent " + path_ + ": request not taken within " +
          std::to_string(options_.timeout.count()) + " ms"));
    }
  }
  return Status::OK();
}

Status AgentClient::ReadLine(Clock::time_point deadline, std::string* line) {
  for (;;) {
    const size_t nl = input_.find('\n');
    if (nl != std::string::npos) {
      *line = input_.substr(0, nl);
      input_.erase(0, nl + 1);
      return Status::OK();
    }
    if (input_.size() >= kAgentMaxLine) {
      return Fail(Status::Corruption(
          "agent " + path_ + ": reply line longer than " +
          std::to_string(kAgentMaxLine) + " bytes"));
    }
    char buffer[kReadChunk];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
      input_.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      return Fail(Status::Unavailable("agent " + path_ +
                                      ": the agent closed the connection"));
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Fail(Status::FromErrno("agent " + path_ + ": recv", errno));
    }
    pollfd p{fd_, POLLIN, 0};
    const int wait = MillisLeft(deadline);
    if (wait == 0 || poll(&p, 1, wait) == 0) {
      return Fail(Status::Unavailable(
          "agent " + path_ + ": no answer within " +
          std::to_string(options_.timeout.count()) + " ms"));
    }
  }
}

Status AgentClient::Request(const std::string& line,
                            Clock::time_point deadline, std::string* reply) {
  if (!input_.empty()) {
    return Fail(Status::Corruption("agent " + path_ +
                                   ": a reply nobody asked for: \"" +
                                   input_.substr(0, input_.find('\n')) +
                                   "\""));
  }
  Status s = SendLine(line, deadline);
  if (!s.ok()) return s;
  return ReadLine(deadline, reply);
}

Status AgentClient::Send(const std::string& line, Pending pending) {
  // The agent reads every request at once; what it has not taken after
  // this much is an agent that no longer reads.
  constexpr size_t kMaxQueued = 1 << 20;
  if (out_.size() + line.size() + 1 > kMaxQueued) {
    return Fail(Status::Unavailable("agent " + path_ + ": " +
                                    std::to_string(out_.size()) +
                                    " bytes of requests not taken"));
  }
  out_ += line;
  out_ += '\n';
  pending.sent = Clock::now();
  pending_.push_back(std::move(pending));
  return Flush();
}

Status AgentClient::Flush() {
  while (!out_.empty()) {
    const ssize_t n = send(fd_, out_.data(), out_.size(),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return Fail(Status::FromErrno("agent " + path_ + ": send",
                                  n < 0 ? errno : EPIPE));
  }
  return Status::OK();
}

void AgentClient::Poll() {
  if (fd_ < 0) return;
  if (!Flush().ok()) return;
  for (;;) {
    char buffer[kReadChunk];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      input_.append(buffer, static_cast<size_t>(n));
      size_t nl;
      while ((nl = input_.find('\n')) != std::string::npos) {
        const std::string line = input_.substr(0, nl);
        input_.erase(0, nl + 1);
        if (!TakeAnswer(line)) return;
      }
      if (input_.size() >= kAgentMaxLine) {
        (void)Fail(Status::Corruption(
            "agent " + path_ + ": reply line longer than " +
            std::to_string(kAgentMaxLine) + " bytes"));
        return;
      }
      continue;
    }
    if (n == 0) {
      (void)Fail(Status::Unavailable("agent " + path_ +
                                     ": the agent closed the connection"));
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      (void)Fail(Status::FromErrno("agent " + path_ + ": recv", errno));
      return;
    }
    break;
  }
  if (!pending_.empty() &&
      Clock::now() - pending_.front().sent >= options_.timeout) {
    (void)Fail(Status::Unavailable(
        "agent " + path_ + ": no answer within " +
        std::to_string(options_.timeout.count()) + " ms"));
  }
}

void AgentClient::Answer(const std::string& paths_key,
                         Result<std::vector<AgentPath>> paths) {
  AgentPathsAnswer& answer = answers_[paths_key];
  answer.number = ++answers_made_;
  answer.paths = std::move(paths);
}

bool AgentClient::TakeAnswer(const std::string& line) {
  if (pending_.empty()) {
    (void)Fail(Status::Corruption("agent " + path_ +
                                  ": a reply nobody asked for: \"" + line +
                                  "\""));
    return false;
  }
  const Pending& p = pending_.front();
  const std::string_view verb = RegistryVerb(line);
  switch (p.ask) {
    case Ask::kQp:
    case Ask::kDel: {
      const bool qp = p.ask == Ask::kQp;
      if (verb == "ERR") {
        last_refusal_ = Status::InvalidArgument(
            "agent " + path_ + ": " + (qp ? "QP " : "DEL ") +
            std::to_string(p.key.second) + ": " + RegistryReason(line));
        // Refused: not replayed, unless a newer version was made since.
        if (auto g = generations_.find(p.key);
            qp && g != generations_.end() && g->second == p.generation) {
          generations_.erase(g);
          registrations_.erase(p.key);
        }
      } else if (verb != "OK") {
        (void)Fail(Status::Corruption("agent " + path_ +
                                      ": unexpected reply to " +
                                      (qp ? "QP" : "DEL") + ": \"" + line +
                                      "\""));
        return false;
      }
      pending_.pop_front();
      return true;
    }
    case Ask::kLoad:
      if (verb == "ERR") {
        // An agent older than LOAD; the others refuse only a QP they no
        // longer hold (a DEL or a reconnection crossed the report).
        if (RegistryReason(line).rfind("unknown request", 0) == 0) {
          load_supported_ = false;
        }
      } else if (verb != "OK") {
        (void)Fail(Status::Corruption("agent " + path_ +
                                      ": unexpected reply to LOAD: \"" +
                                      line + "\""));
        return false;
      }
      pending_.pop_front();
      return true;
    case Ask::kPaths:
      break;
  }
  if (verb == "END") {
    Answer(p.paths_key, std::exchange(building_, {}));
    pending_.pop_front();
    return true;
  }
  if (verb == "ERR" && building_.empty()) {
    Answer(p.paths_key, Status::InvalidArgument("agent " + path_ +
                                                ": PATHS: " +
                                                RegistryReason(line)));
    pending_.pop_front();
    return true;
  }
  std::optional<std::string_view> local = RegistryField(line, "local");
  std::optional<std::string_view> remote = RegistryField(line, "remote");
  std::optional<std::string_view> sports = RegistryField(line, "sports");
  std::optional<std::vector<uint16_t>> ports;
  if (sports) ports = ParseSports(*sports);
  if (verb != "PATH" || !local || !remote || !ports ||
      building_.size() >= kMaxPathLines) {
    (void)Fail(Status::Corruption("agent " + path_ +
                                  ": malformed reply to PATHS: \"" + line +
                                  "\""));
    return false;
  }
  building_.push_back(
      AgentPath{std::string(*local), std::string(*remote), std::move(*ports)});
  return true;
}

Status AgentClient::RegisterQp(const QpRegistration& reg) {
  Result<std::string> line = FormatQp(reg);
  if (!line.ok()) return line.status();
  const Key key{reg.rnic, reg.qpn};
  QpRegistration kept = reg;
  kept.repin_ns.reset();   // A replay is not a re-pin.
  registrations_[key] = kept;
  const uint64_t generation = next_generation_++;
  generations_[key] = generation;
  Status s = EnsureConnected(Clock::now() + options_.timeout, key);
  if (!s.ok()) return s;
  return Send(*line, Pending{Ask::kQp, key, generation, {}, {}});
}

Status AgentClient::RemoveQp(uint32_t qpn, const std::string& rnic) {
  const Key key{rnic, qpn};
  generations_.erase(key);
  if (registrations_.erase(key) == 0 && fd_ < 0) {
    // Never registered here, and a reconnection forgets it anyway.
    return Status::OK();
  }
  if (fd_ < 0) {
    // Reconnecting replays what is left: the agent does not have 'qpn'.
    return EnsureConnected(Clock::now() + options_.timeout, std::nullopt);
  }
  std::string line = "DEL qpn=" + std::to_string(qpn);
  if (!rnic.empty()) line += " rnic=" + rnic;
  return Send(line, Pending{Ask::kDel, key, 0, {}, {}});
}

Status AgentClient::ReportLoad(uint32_t qpn, const std::string& rnic,
                               uint64_t tx_bytes) {
  if (fd_ < 0) return Status::Unavailable("agent: not connected");
  if (!load_supported_) return Status::NotSupported("agent: no LOAD");
  if (!rnic.empty() && !IsRegistryToken(rnic)) {
    return Status::InvalidArgument("agent LOAD of QP " +
                                   std::to_string(qpn) + ": rnic \"" + rnic +
                                   "\" has a space, '=' or a control "
                                   "character");
  }
  std::string line = "LOAD qpn=" + std::to_string(qpn);
  if (!rnic.empty()) line += " rnic=" + rnic;
  line += " tx_bytes=" + std::to_string(tx_bytes);
  return Send(line, Pending{Ask::kLoad, {rnic, qpn}, 0, {}, {}});
}

std::string AgentClient::PathsKey(std::string_view bond,
                                  const IpAddress& dst) {
  return std::string(bond) + " " + ToString(dst);
}

const AgentPathsAnswer* AgentClient::LatestPaths(std::string_view bond,
                                                 const IpAddress& dst) const {
  auto it = answers_.find(PathsKey(bond, dst));
  return it == answers_.end() ? nullptr : &it->second;
}

Status AgentClient::RequestPaths(std::string_view bond, const IpAddress& dst) {
  if (!IsRegistryToken(bond)) {
    return Status::InvalidArgument("agent PATHS: bond \"" + std::string(bond) +
                                   "\" is empty or has a space or '='");
  }
  Status s = EnsureConnected(Clock::now() + options_.timeout, std::nullopt);
  if (!s.ok()) return s;
  const std::string key = PathsKey(bond, dst);
  for (const Pending& p : pending_) {
    if (p.ask == Ask::kPaths && p.paths_key == key) return Status::OK();
  }
  return Send("PATHS bond=" + std::string(bond) + " dst=" + ToString(dst),
              Pending{Ask::kPaths, {}, 0, key, {}});
}

Result<std::vector<AgentPath>> AgentClient::Paths(std::string_view bond,
                                                  const IpAddress& dst) {
  const uint64_t before = answers_made_;
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  Status s = RequestPaths(bond, dst);
  if (!s.ok()) return s;
  const std::string key = PathsKey(bond, dst);
  for (;;) {
    if (auto it = answers_.find(key);
        it != answers_.end() && it->second.number > before) {
      return it->second.paths;
    }
    // (Fail() answers every PATHS under way.)
    if (fd_ < 0) return last_error_;
    pollfd p{fd_, static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)),
             0};
    const int wait = MillisLeft(deadline);
    if (wait == 0 || poll(&p, 1, wait) == 0) {
      return Fail(Status::Unavailable(
          "agent " + path_ + ": no answer within " +
          std::to_string(options_.timeout.count()) + " ms"));
    }
    Poll();
  }
}

}  // namespace rdma_bond
