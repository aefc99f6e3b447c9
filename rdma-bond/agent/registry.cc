// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "agent/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "rdma_bond/table_reader.h"

namespace rdma_bond::agent {
namespace {

template <typename T>
bool ParseNumber(std::string_view text, T* out, int base = 10) {
  if (text.empty()) return false;
  if (base == 0) {
    base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      text.remove_prefix(2);
      base = 16;
    }
  }
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out, base);
  return ec == std::errc() && ptr == end;
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t pos = text.find(sep);
    parts.push_back(text.substr(0, pos));
    if (pos == std::string_view::npos) break;
    text.remove_prefix(pos + 1);
  }
  return parts;
}

// The supplementary groups of the process at the other end of 'fd', as
// they were when it connected (SO_PEERGROUPS): unlike /proc/PID/status,
// they cannot belong to another process that reused the pid.
std::vector<gid_t> PeerGroups(int fd) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; attempt++) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    // 'len' is now the size needed.
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return {};
}

// The comm of 'pid', as the process set it: any bytes but NUL, a newline
// included (the reports escape them), without the newline the kernel adds.
std::string ProcessName(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name((std::istreambuf_iterator<char>(comm)),
                   std::istreambuf_iterator<char>());
  if (!name.empty() && name.back() == '\n') name.pop_back();
  return name.empty() ? "?" : name;
}


}  // namespace

bool AccessPolicy::Allows(const ClientCreds& creds) const {
  if (creds.uid == 0 || creds.uid == agent_uid) return true;
  if (std::find(allowed_uids.begin(), allowed_uids.end(), creds.uid) !=
      allowed_uids.end()) {
    return true;
  }
  for (gid_t gid : allowed_gids) {
    if (creds.gid == gid ||
        std::find(creds.groups.begin(), creds.groups.end(), gid) !=
            creds.groups.end()) {
      return true;
    }
  }
  return false;
}

std::string AccessPolicy::RefusalMessage(const ClientCreds& creds) const {
  return "registration refused: uid " + std::to_string(creds.uid) +
         " is not allowed (start the agent with --allow-user=" +
         std::to_string(creds.uid) + " or --allow-group=GROUP)";
}

Result<std::vector<uid_t>> ParseUserList(std::string_view text) {
  std::vector<uid_t> uids;
  for (std::string_view name : Split(text, ',')) {
    uid_t uid;
    if (ParseNumber(name, &uid)) {
      uids.push_back(uid);
      continue;
    }
    std::string copy(name);
    struct passwd* pw = getpwnam(copy.c_str());
    if (!pw) {
      return Status::InvalidArgument("--allow-user: no user \"" + copy +
                                     "\" (give a user name or a uid)");
    }
    uids.push_back(pw->pw_uid);
  }
  return uids;
}

Result<std::vector<gid_t>> ParseGroupList(std::string_view text) {
  std::vector<gid_t> gids;
  for (std::string_view name : Split(text, ',')) {
    gid_t gid;
    if (ParseNumber(name, &gid)) {
      gids.push_back(gid);
      continue;
    }
    std::string copy(name);
    struct group* gr = getgrnam(copy.c_str());
    if (!gr) {
      return Status::InvalidArgument("--allow-group: no group \"" + copy +
                                     "\" (give a group name or a gid)");
    }
    gids.push_back(gr->gr_gid);
  }
  return gids;
}

std::string_view ToString(QpRole role) {
  switch (role) {
    case QpRole::kActive: return "active";
    case QpRole::kStandby: return "standby";
    case QpRole::kDown: return "down";
  }
  return "?";
}

std::optional<QpRole> ParseQpRole(std::string_view text) {
  if (text == "active") return QpRole::kActive;
  if (text == "standby") return QpRole::kStandby;
  if (text == "down") return QpRole::kDown;
  return std::nullopt;
}

Result<QpRecord> QpFromRequest(const RegistryRequest& request) {
  QpRecord qp;
  auto field = [&](std::string_view key) { return request.Get(key); };
  auto bad = [&](std::string_view key, const std::string& value,
                 std::string_view want) {
    return Status::InvalidArgument("QP: malformed " + std::string(key) + "=" +
                                   value + " (want " + std::string(want) +
                                   ")");
  };

  Result<std::string> qpn = field("qpn");
  if (!qpn.ok()) return qpn.status();
  std::optional<uint64_t> qpn_value = ParseRegistryNumber(*qpn, 0xffffff);
  if (!qpn_value) return bad("qpn", *qpn, "a 24-bit QP number");
  qp.qpn = static_cast<uint32_t>(*qpn_value);
  for (auto [key, out] : {std::pair<std::string_view, std::string*>{
                              "bond", &qp.bond},
                          {"member", &qp.member}}) {
    Result<std::string> value = field(key);
    if (!value.ok()) return value.status();
    if (!IsRegistryToken(*value)) return bad(key, *value, "a name");
    *out = *value;
  }
  for (auto [key, out] : {std::pair<std::string_view, IpAddress*>{
                              "src", &qp.src},
                          {"dst", &qp.dst}}) {
    Result<std::string> value = field(key);
    if (!value.ok()) return value.status();
    Result<IpAddress> ip = ParseIpAddress(*value);
    if (!ip.ok()) return bad(key, *value, "an IP address");
    *out = *ip;
  }
  if (qp.src.version != qp.dst.version) {
    return Status::InvalidArgument("QP: src= and dst= are of different IP "
                                   "versions");
  }
  Result<std::string> sport = field("sport");
  if (!sport.ok()) return sport.status();
  std::optional<uint64_t> sport_value = ParseRegistryNumber(*sport, 0xffff);
  if (!sport_value || *sport_value == 0) {
    return bad("sport", *sport, "a UDP port");
  }
  qp.sport = static_cast<uint16_t>(*sport_value);
  Result<std::string> role = field("role");
  if (!role.ok()) return role.status();
  std::optional<QpRole> parsed_role = ParseQpRole(*role);
  if (!parsed_role) return bad("role", *role, "active, standby or down");
  qp.role = *parsed_role;

  for (auto [key, out] : {std::pair<std::string_view, std::string*>{
                              "rnic", &qp.rnic},
                          {"conn", &qp.conn},
                          {"path", &qp.path}}) {
    auto it = request.fields.find(key);
    if (it == request.fields.end()) continue;
    if (!IsRegistryToken(it->second)) return bad(key, it->second, "a token");
    *out = it->second;
  }
  auto repin = request.fields.find("repin_ns");
  if (repin != request.fields.end()) {
    std::optional<uint64_t> ns =
        ParseRegistryNumber(repin->second, UINT64_MAX);
    if (!ns) {
      return bad("repin_ns", repin->second, "nanoseconds");
    }
    qp.repin_ns = *ns;
  }
  return qp;
}

// ---------------------------------------------------------------------------
// RegistryServer.

struct RegistryServer::Client {
  uint64_t id = 0;
  int fd = -1;
  ClientCreds creds;
  std::string name;
  bool greeted = false;
  std::string in;               // Bytes received, not yet a whole line.
  std::string out;              // Reply bytes not yet sent.
  size_t qps = 0;
  uint64_t accepted_ns = 0;     // MonotonicNowNs() at accept.

  ~Client() {
    if (fd >= 0) close(fd);
  }
};

Result<std::unique_ptr<RegistryServer>> RegistryServer::Listen(
    Options options) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (options.path.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument("registry socket path too long: " +
                                   options.path);
  }
  std::memcpy(addr.sun_path, options.path.c_str(), options.path.size() + 1);

  struct stat st;
  if (lstat(options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::InvalidArgument(options.path +
                                     " exists and is not a socket (remove "
                                     "it or choose another --socket)");
    }
    unlink(options.path.c_str());
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket(AF_UNIX)", errno);
  auto fail = [&](const char* call) {
    int error = errno;
    close(fd);
    return Status::FromErrno(
        "registry socket " + options.path + ": " + call, error);
  };
  // bind() creates the file with the socket's own mode less the umask, so
  // the mode is set here, before the name exists: the socket is never
  // reachable with more permissions than 'mode'.
  if (fchmod(fd, options.mode) < 0) return fail("fchmod");
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0) {
    return fail("bind");
  }
  // A umask can only have narrowed it; widen it to 'mode' without
  // following a link (the name is in the agent's own directory).
  if (lstat(options.path.c_str(), &st) < 0) return fail("lstat");
  if ((st.st_mode & 07777) != options.mode &&
      fchmodat(AT_FDCWD, options.path.c_str(), options.mode,
               AT_SYMLINK_NOFOLLOW) < 0) {
    return fail("chmod");
  }
  if (listen(fd, 64) < 0) return fail("listen");
  return std::unique_ptr<RegistryServer>(
      new RegistryServer(std::move(options), fd));
}

RegistryServer::RegistryServer(Options options, int listen_fd)
    : options_(std::move(options)), listen_fd_(listen_fd) {}

RegistryServer::~RegistryServer() {
  clients_.clear();
  close(listen_fd_);
  unlink(options_.path.c_str());
}

namespace {
constexpr uint64_t kNsPerMs = 1000 * 1000;
}  // namespace

void RegistryServer::AppendFds(std::vector<int>* fds) const {
  if (MonotonicNowNs() >= accept_paused_until_ns_) {
    fds->push_back(listen_fd_);
  }
  for (const auto& [id, client] : clients_) fds->push_back(client->fd);
}

uint64_t RegistryServer::SleepMs() const {
  const uint64_t now = MonotonicNowNs();
  uint64_t next = UINT64_MAX;
  if (accept_paused_until_ns_ > now) next = accept_paused_until_ns_;
  for (const auto& [id, client] : clients_) {
    if (!client->greeted) {
      next = std::min(next, client->accepted_ns +
                                options_.hello_timeout_ms * kNsPerMs);
    }
  }
  if (next == UINT64_MAX) return UINT64_MAX;
  return next > now ? (next - now + kNsPerMs - 1) / kNsPerMs : 0;
}

void RegistryServer::Run() {
  const uint64_t now = MonotonicNowNs();
  if (now >= accept_paused_until_ns_) Accept();
  std::vector<uint64_t> dead;
  for (auto& [id, client] : clients_) {
    if (!Read(*client)) dead.push_back(id);
  }
  for (uint64_t id : dead) Drop(id);
  DropSilentClients(MonotonicNowNs());
}

void RegistryServer::DropSilentClients(uint64_t now_ns) {
  std::vector<uint64_t> silent;
  for (const auto& [id, client] : clients_) {
    if (!client->greeted && now_ns >= client->accepted_ns &&
        now_ns - client->accepted_ns >=
            options_.hello_timeout_ms * kNsPerMs) {
      silent.push_back(id);
    }
  }
  for (uint64_t id : silent) {
    Client& client = *clients_.at(id);
    client.out += "ERR no HELLO within " +
                  std::to_string(options_.hello_timeout_ms) + " ms\n";
    hello_timeouts_++;
    Drop(id);
  }
}

void RegistryServer::Refuse(int fd, const std::string& why) {
  const std::string line = "ERR " + why + "\n";
  (void)!send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
  refused_++;
}

void RegistryServer::Accept() {
  while (true) {
    int fd = accept4(listen_fd_, nullptr, nullptr,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // The connection stays queued and the socket readable: polling it
        // would spin until a descriptor is freed.  Pause instead.
        const int error = errno;
        accept_paused_until_ns_ =
            MonotonicNowNs() + kAcceptPauseMs * kNsPerMs;
        if (options_.log) {
          options_.log(1, "registry: cannot accept: " +
                              std::string(std::strerror(error)) +
                              " (raise LimitNOFILE=); pausing " +
                              std::to_string(kAcceptPauseMs) + " ms");
        }
      }
      return;  // EAGAIN, or an aborted connection.
    }
    struct ucred cred = {};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
      close(fd);
      continue;
    }
    if (clients_.size() >= kMaxClients) {
      Refuse(fd, "too many registry clients");
      continue;
    }
    size_t& of_uid = clients_per_uid_[cred.uid];
    if (cred.uid != 0 && of_uid >= options_.max_clients_per_uid) {
      Refuse(fd, "too many registry clients of uid " +
                     std::to_string(cred.uid) + " (limit " +
                     std::to_string(options_.max_clients_per_uid) + ")");
      continue;
    }
    of_uid++;
    auto client = std::make_unique<Client>();
    client->id = next_client_++;
    client->fd = fd;
    client->accepted_ns = MonotonicNowNs();
    client->creds = {cred.pid, cred.uid, cred.gid, PeerGroups(fd)};
    client->name = ProcessName(cred.pid);
    clients_.emplace(client->id, std::move(client));
  }
}

bool RegistryServer::Read(Client& client) {
  char buffer[4096];
  bool eof = false;
  while (true) {
    ssize_t n = recv(client.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      client.in.append(buffer, n);
      if (client.in.size() > kMaxPendingBytes) return false;
      continue;
    }
    if (n == 0) eof = true;
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      eof = true;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }

  size_t start = 0;
  bool keep = true;
  while (keep) {
    size_t nl = client.in.find('\n', start);
    if (nl == std::string::npos) break;
    keep = Handle(client, std::string_view(client.in).substr(start,
                                                             nl - start));
    start = nl + 1;
  }
  client.in.erase(0, start);
  if (keep && client.in.size() > kAgentMaxLine) {
    client.out += "ERR request longer than " + std::to_string(kAgentMaxLine) +
                  " bytes\n";
    keep = false;
  }

  if (!client.out.empty()) {
    ssize_t n = send(client.fd, client.out.data(), client.out.size(),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) client.out.erase(0, n);
    if (client.out.size() > kMaxPendingBytes) return false;
  }
  return keep && !eof;
}

bool RegistryServer::Handle(Client& client, std::string_view line) {
  Result<RegistryRequest> request = ParseRegistryRequest(line);
  if (!request.ok()) {
    bad_requests_++;
    client.out += "ERR " + request.status().message() + "\n";
    return true;
  }
  const std::string& verb = request->verb;
  if (verb == "HELLO") return HandleHello(client, *request);
  if (!client.greeted) {
    client.out += "ERR send HELLO version=" +
                  std::to_string(kAgentProtocolVersion) + " first\n";
    return true;
  }
  if (verb == "QP") return HandleQp(client, *request);
  if (verb == "DEL") return HandleDel(client, *request);
  if (verb == "PATHS") return HandlePaths(client, *request);
  if (verb == "LOAD") return HandleLoad(client, *request);
  bad_requests_++;
  client.out += "ERR unknown request " + verb +
                " (expected HELLO, QP, DEL, PATHS or LOAD)\n";
  return true;
}

// HELLO: the version, the access policy, the client's name.
bool RegistryServer::HandleHello(Client& client, const RegistryRequest& request) {
  Result<std::string> version = request.Get("version");
  if (!version.ok()) {
    client.out += "ERR " + version.status().message() + "\n";
    return true;
  }
  if (*version != std::to_string(kAgentProtocolVersion)) {
    client.out += "ERR protocol version " + *version +
                  " is not supported (the agent speaks version " +
                  std::to_string(kAgentProtocolVersion) + ")\n";
    return true;
  }
  if (!options_.policy.Allows(client.creds)) {
    refused_++;
    std::string why = options_.policy.RefusalMessage(client.creds);
    client.out += "ERR " + why + "\n";
    if (options_.log) {
      options_.log(1, "pid " + std::to_string(client.creds.pid) + " (" +
                          client.name + "): " + why);
    }
    return false;
  }
  auto name = request.fields.find("name");
  if (name != request.fields.end() && IsRegistryToken(name->second)) {
    client.name = name->second;
  }
  client.greeted = true;
  client.out += "OK version=" + std::to_string(kAgentProtocolVersion) +
                " agent=" + std::to_string(getpid()) + "\n";
  return true;
}

// QP: registers or updates one of the client's QPs.
bool RegistryServer::HandleQp(Client& client, const RegistryRequest& request) {
  Result<QpRecord> qp = QpFromRequest(request);
  if (!qp.ok()) {
    bad_requests_++;
    client.out += "ERR " + qp.status().message() + "\n";
    return true;
  }
  uint64_t now = MonotonicNowNs();
  const bool repin_reported = qp->repin_ns.has_value();
  bool repinned = false;
  QpKey key{client.id, qp->rnic, qp->qpn};
  auto it = qps_.find(key);
  if (it == qps_.end()) {
    if (client.qps >= kMaxQpsPerClient) {
      client.out += "ERR more than " + std::to_string(kMaxQpsPerClient) +
                    " QPs for one client\n";
      return true;
    }
    if (client.creds.uid != 0) {
      size_t& of_uid = qps_per_uid_[client.creds.uid];
      if (of_uid >= options_.max_qps_per_uid) {
        client.out += "ERR too many QPs of uid " +
                      std::to_string(client.creds.uid) + " (limit " +
                      std::to_string(options_.max_qps_per_uid) + ")\n";
        return true;
      }
      of_uid++;
    }
    client.qps++;
    qp->registered_ns = now;
  } else {
    const QpRecord& old = it->second;
    qp->registered_ns = old.registered_ns;
    qp->updates = old.updates + 1;
    repinned = old.member != qp->member || old.sport != qp->sport ||
               old.role != qp->role;
    qp->repins = old.repins + repinned;
    if (!qp->repin_ns) qp->repin_ns = old.repin_ns;
    qp->tx_bytes = old.tx_bytes;
    qp->tx_reported = old.tx_reported;
    qp->load_reports = old.load_reports;
  }
  qp->client = client.id;
  qp->pid = client.creds.pid;
  qp->client_name = client.name;
  qp->updated_ns = now;
  const QpRecord& stored = qps_[key] = std::move(*qp);
  client.out += "OK\n";
  if (options_.updated) options_.updated(stored, repinned, repin_reported);
  Changed();
  return true;
}

// DEL: forgets one of the client's QPs.
std::variant<QpMap::iterator, std::string> RegistryServer::FindClientQp(
    const Client& client, const RegistryRequest& request) {
  const std::string& verb = request.verb;
  Result<std::string> text = request.Get("qpn");
  std::optional<uint64_t> qpn_value =
      text.ok() ? ParseRegistryNumber(*text, UINT32_MAX) : std::nullopt;
  if (!qpn_value) {
    bad_requests_++;
    return "ERR " + verb + ": missing or malformed qpn=\n";
  }
  const uint32_t qpn = static_cast<uint32_t>(*qpn_value);
  // rnic= names the QP's RNIC; without it the QP number must be unique
  // among the client's QPs.
  auto rnic = request.fields.find("rnic");
  std::vector<QpMap::iterator> matches;
  for (auto it = qps_.lower_bound({client.id, "", 0});
       it != qps_.end() && std::get<0>(it->first) == client.id; ++it) {
    if (std::get<2>(it->first) == qpn &&
        (rnic == request.fields.end() ||
         std::get<1>(it->first) == rnic->second)) {
      matches.push_back(it);
    }
  }
  if (matches.empty()) {
    return "ERR " + verb + ": no QP qpn=" + *text +
           " registered on this connection\n";
  }
  if (matches.size() > 1) {
    return "ERR " + verb + ": qpn=" + *text +
           " is registered on several RNICs (add rnic=)\n";
  }
  return matches[0];
}

bool RegistryServer::HandleDel(Client& client, const RegistryRequest& request) {
  auto found = FindClientQp(client, request);
  if (std::string* err = std::get_if<std::string>(&found)) {
    client.out += *err;
    return true;
  }
  qps_.erase(std::get<QpMap::iterator>(found));
  client.qps--;
  ForgetQps(client.creds.uid, 1);
  client.out += "OK\n";
  Changed();
  return true;
}

// LOAD: the bytes one of the client's QPs sent since it was created.
bool RegistryServer::HandleLoad(Client& client,
                                const RegistryRequest& request) {
  Result<std::string> text = request.Get("tx_bytes");
  std::optional<uint64_t> tx =
      text.ok() ? ParseRegistryNumber(*text, UINT64_MAX) : std::nullopt;
  if (!tx) {
    bad_requests_++;
    client.out += "ERR LOAD: missing or malformed tx_bytes=\n";
    return true;
  }
  auto found = FindClientQp(client, request);
  if (std::string* err = std::get_if<std::string>(&found)) {
    client.out += *err;
    return true;
  }
  QpRecord& qp = std::get<QpMap::iterator>(found)->second;
  // A count lower than the last one is a QP whose counter started again:
  // what it says now is all new.
  const uint64_t bytes = !qp.tx_reported ? 0
                         : *tx >= qp.tx_bytes ? *tx - qp.tx_bytes
                                              : *tx;
  qp.tx_bytes = *tx;
  qp.tx_reported = true;
  qp.load_reports++;
  client.out += "OK\n";
  if (options_.load) options_.load(qp, bytes);
  return true;
}

// PATHS: the validated paths toward a peer (the probe service).
bool RegistryServer::HandlePaths(Client& client, const RegistryRequest& request) {
  Result<std::string> bond = request.Get("bond");
  Result<std::string> dst = request.Get("dst");
  if (!bond.ok() || !dst.ok()) {
    bad_requests_++;
    client.out += "ERR " +
                  (bond.ok() ? dst.status() : bond.status()).message() +
                  "\n";
    return true;
  }
  Result<IpAddress> ip = ParseIpAddress(*dst);
  if (!ip.ok()) {
    bad_requests_++;
    client.out += "ERR PATHS: malformed dst=" + *dst + "\n";
    return true;
  }
  client.out += options_.paths ? options_.paths(*bond, *ip) : "END\n";
  return true;
}

void RegistryServer::Drop(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  if (!it->second->out.empty()) {
    (void)!send(it->second->fd, it->second->out.data(),
                it->second->out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  bool had_qps = it->second->qps > 0;
  ForgetQps(it->second->creds.uid, it->second->qps);
  if (auto of_uid = clients_per_uid_.find(it->second->creds.uid);
      of_uid != clients_per_uid_.end() && --of_uid->second == 0) {
    clients_per_uid_.erase(of_uid);
  }
  std::erase_if(qps_, [id](const auto& entry) {
    return std::get<0>(entry.first) == id;
  });
  clients_.erase(it);
  if (had_qps) Changed();
}

void RegistryServer::ForgetQps(uid_t uid, size_t n) {
  auto it = qps_per_uid_.find(uid);
  if (it == qps_per_uid_.end()) return;
  it->second -= std::min(it->second, n);
  if (it->second == 0) qps_per_uid_.erase(it);
}

void RegistryServer::Changed() {
  if (options_.changed) options_.changed();
}

}  // namespace rdma_bond::agent
