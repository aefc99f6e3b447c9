// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "testing/fake_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "conn/registry_protocol.h"

namespace rdma_bond::testing {

namespace {

// Keys every QP line must have (docs/agent.md).
constexpr const char* kQpKeys[] = {"qpn", "bond", "member", "src",
                                   "dst", "sport", "role"};

void SendAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n =
        send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      (void)poll(&p, 1, 100);
    } else {
      return;
    }
  }
}

}  // namespace

FakeAgent::FakeAgent(Mode mode) : FakeAgent(mode, "") {}

FakeAgent::FakeAgent(Mode mode, const std::string& directory) : mode_(mode) {
  if (directory.empty()) {
    char dir[] = "/tmp/rdma-bond-agent-test.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir_ = dir;
  } else {
    if (mkdir(directory.c_str(), 0755) != 0) {
      std::perror(directory.c_str());
      std::abort();
    }
    dir_ = directory;
  }
  socket_path_ = dir_ + "/registry.sock";
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s",
                socket_path_.c_str());
  if (listen_fd_ < 0 ||
      bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr),
           sizeof addr) != 0 ||
      listen(listen_fd_, 16) != 0 || pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    std::perror("fake agent socket");
    std::abort();
  }
  thread_ = std::thread([this] { Run(); });
}

FakeAgent::~FakeAgent() {
  (void)!write(stop_pipe_[1], "x", 1);
  thread_.join();
  for (Client& c : clients_) close(c.fd);
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  unlink(socket_path_.c_str());
  rmdir(dir_.c_str());
}

void FakeAgent::SetMode(Mode mode) {
  std::lock_guard<std::mutex> lock(mu_);
  mode_ = mode;
}

void FakeAgent::SetPaths(const std::string& dst,
                         std::vector<std::string> lines) {
  std::lock_guard<std::mutex> lock(mu_);
  paths_[dst] = std::move(lines);
}

void FakeAgent::RefuseQp(uint32_t qpn) {
  std::lock_guard<std::mutex> lock(mu_);
  refused_qpns_.insert(qpn);
}

void FakeAgent::SetKnowsLoad(bool knows) {
  std::lock_guard<std::mutex> lock(mu_);
  knows_load_ = knows;
}

void FakeAgent::DropClients() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Client& c : clients_) {
    // The thread sees the end and closes it; the client sees EPIPE or EOF
    // at once.
    shutdown(c.fd, SHUT_RDWR);
    for (uint32_t qpn : c.qpns) registry_.erase(qpn);
    c.qpns.clear();
  }
}

std::vector<std::string> FakeAgent::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<std::string> FakeAgent::requests(std::string_view verb) const {
  std::vector<std::string> out;
  for (const std::string& line : requests()) {
    if (RegistryVerb(line) == verb) {
      out.push_back(line);
    }
  }
  return out;
}

void FakeAgent::Settle(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool idle = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 0) > 0) idle = false;
      for (const Client& c : clients_) {
        int unread = 0;
        if (ioctl(c.fd, FIONREAD, &unread) == 0 && unread > 0) idle = false;
      }
    }
    if (idle) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::map<uint32_t, std::map<std::string, std::string>> FakeAgent::registry()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_;
}

size_t FakeAgent::connections_accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

std::map<std::string, std::string> FakeAgent::Fields(std::string_view line) {
  std::map<std::string, std::string> fields;
  Result<RegistryRequest> request = ParseRegistryRequest(line);
  if (!request.ok()) return fields;  // Empty: the test's checks fail.
  fields[""] = request->verb;
  for (const auto& [key, value] : request->fields) fields[key] = value;
  return fields;
}

void FakeAgent::Run() {
  for (;;) {
    std::vector<pollfd> fds = {{stop_pipe_[0], POLLIN, 0},
                               {listen_fd_, POLLIN, 0}};
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Client& c : clients_) fds.push_back({c.fd, POLLIN, 0});
    }
    (void)poll(fds.data(), fds.size(), 50);
    if (fds[0].revents) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (fds[1].revents) {
      const int fd = accept4(listen_fd_, nullptr, nullptr,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        Client c;
        c.fd = fd;
        clients_.push_back(std::move(c));
        accepted_++;
      }
    }
    for (size_t k = 0; k < clients_.size();) {
      if (Serve(clients_[k])) {
        k++;
      } else {
        Drop(clients_[k]);
        clients_.erase(clients_.begin() + static_cast<long>(k));
      }
    }
  }
}

bool FakeAgent::Serve(Client& c) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return false;
    }
    c.input.append(buffer, static_cast<size_t>(n));
  }
  size_t nl;
  while ((nl = c.input.find('\n')) != std::string::npos) {
    const std::string line = c.input.substr(0, nl);
    c.input.erase(0, nl + 1);
    requests_.push_back(line);
    bool close_after = false;
    std::string reply;
    for (const std::string& r : Answer(c, line, &close_after)) {
      if (!r.empty()) reply += r + "\n";
    }
    if (!reply.empty()) SendAll(c.fd, reply);
    if (close_after) return false;
  }
  return true;
}

std::vector<std::string> FakeAgent::Answer(Client& c, const std::string& line,
                                           bool* close_after) {
  std::map<std::string, std::string> f = Fields(line);
  const std::string& verb = f[""];
  if (mode_ == Mode::kSilent) return {};
  if (verb == "HELLO") {
    if (mode_ == Mode::kRefuse) {
      *close_after = true;
      return {std::string("ERR ") + kRefusal};
    }
    if (f["version"] != "1") return {"ERR unsupported version"};
    c.hello = true;
    return {"OK version=1 agent=" + std::to_string(kPid)};
  }
  if (mode_ == Mode::kSilentAfterHello) return {};
  if (!c.hello) return {"ERR say HELLO first"};
  if (verb == "QP") {
    for (const char* key : kQpKeys) {
      if (f.count(key) == 0 || f[key].empty()) {
        return {std::string("ERR missing key ") + key};
      }
    }
    const std::string& role = f["role"];
    if (role != "active" && role != "standby" && role != "down") {
      return {"ERR bad role " + role};
    }
    const uint32_t qpn =
        static_cast<uint32_t>(std::strtoul(f["qpn"].c_str(), nullptr, 10));
    if (refused_qpns_.erase(qpn) > 0) {
      return {"ERR QP " + std::to_string(qpn) + " refused by the test"};
    }
    f.erase("");
    registry_[qpn] = f;
    if (std::find(c.qpns.begin(), c.qpns.end(), qpn) == c.qpns.end()) {
      c.qpns.push_back(qpn);
    }
    return {"OK"};
  }
  if (verb == "DEL") {
    if (f.count("qpn") == 0) return {"ERR missing key qpn"};
    const uint32_t qpn =
        static_cast<uint32_t>(std::strtoul(f["qpn"].c_str(), nullptr, 10));
    registry_.erase(qpn);
    c.qpns.erase(std::remove(c.qpns.begin(), c.qpns.end(), qpn),
                 c.qpns.end());
    return {"OK"};
  }
  if (verb == "LOAD" && knows_load_) {
    if (f.count("qpn") == 0 || f.count("tx_bytes") == 0) {
      return {"ERR LOAD: missing key qpn or tx_bytes"};
    }
    const uint32_t qpn =
        static_cast<uint32_t>(std::strtoul(f["qpn"].c_str(), nullptr, 10));
    if (registry_.count(qpn) == 0) return {"ERR LOAD: no QP"};
    return {"OK"};
  }
  if (verb == "PATHS") {
    if (f.count("bond") == 0 || f.count("dst") == 0) {
      return {"ERR missing key bond or dst"};
    }
    std::vector<std::string> lines = paths_[f["dst"]];
    // A scripted ERR is the whole reply.
    if (lines.size() != 1 || lines[0].rfind("ERR", 0) != 0) {
      lines.push_back("END");
    }
    return lines;
  }
  return {"ERR unknown request " + verb};
}

void FakeAgent::Drop(Client& c) {
  for (uint32_t qpn : c.qpns) registry_.erase(qpn);
  close(c.fd);
}

AgentClientOptions TestClientOptions(std::string name) {
  AgentClientOptions o;
  o.name = std::move(name);
  o.retry_interval = std::chrono::hours(1);
  o.max_retry_interval = std::chrono::hours(1);
  return o;
}

}  // namespace rdma_bond::testing
