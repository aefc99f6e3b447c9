// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "predict/golden_vectors.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

namespace rdma_bond::testing {

namespace {

// Parses a decimal or 0x-prefixed hexadecimal number below 2^bits.
std::optional<uint64_t> ParseNum(const std::string& text, int bits) {
  if (text.empty()) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 0);
  if (errno != 0 || *end != '\0' ||
      (bits < 64 && value >> bits != 0)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::array<uint8_t, 6>> ParseMacText(const std::string& text) {
  unsigned int b[6];
  char extra;
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2],
                  &b[3], &b[4], &b[5], &extra) != 6) {
    return std::nullopt;
  }
  std::array<uint8_t, 6> mac{};
  for (size_t i = 0; i < mac.size(); i++) {
    mac[i] = static_cast<uint8_t>(b[i]);
  }
  return mac;
}

// The parser of one file: each method parses the fields of one record
// kind and returns false on a malformed field.
class Parser {
 public:
  explicit Parser(GoldenFile* file) : file_(file) {}

  bool Op(const std::vector<std::string>& f, int data_bits,
          std::vector<GoldenOp>* out) {
    if (f.size() != 4) return false;
    auto a = ParseNum(f[1], 32), b = ParseNum(f[2], data_bits),
         r = ParseNum(f[3], 32);
    if (!a || !b || !r) return false;
    out->push_back({static_cast<uint32_t>(*a), *b,
                    static_cast<uint32_t>(*r)});
    return true;
  }

  bool Mac(const std::vector<std::string>& f) {
    if (f.size() != 5) return false;
    auto mac = ParseMacText(f[1]);
    auto vlan = ParseNum(f[2], 16), basis = ParseNum(f[3], 32),
         r = ParseNum(f[4], 32);
    if (!mac || !vlan || !basis || !r) return false;
    file_->macs.push_back({*mac, static_cast<uint16_t>(*vlan),
                           static_cast<uint32_t>(*basis),
                           static_cast<uint32_t>(*r)});
    return true;
  }

  bool Tuple(const std::vector<std::string>& f, int line) {
    if (f.size() != 12) return false;
    Result<IpAddress> src = ParseIpAddress(f[2]);
    Result<IpAddress> dst = ParseIpAddress(f[3]);
    auto version = ParseNum(f[1], 8), proto = ParseNum(f[4], 8),
         sport = ParseNum(f[5], 16), dport = ParseNum(f[6], 16),
         basis = ParseNum(f[7], 32), h0 = ParseNum(f[8], 32),
         hb = ParseNum(f[9], 32), hint = ParseNum(f[10], 32);
    if (!src.ok() || !dst.ok() || !version || !proto || !sport || !dport ||
        !basis || !h0 || !hb || !hint) {
      return false;
    }
    // An IPv6 tuple whose addresses happen to be IPv4-mapped must stay
    // IPv6: OVS hashed it as such.
    for (IpAddress* address : {&*src, &*dst}) {
      if (*version == 6 && address->version == 4) {
        std::array<uint8_t, 16> bytes{};
        bytes[10] = bytes[11] = 0xff;
        std::copy_n(address->bytes.begin(), 4, bytes.begin() + 12);
        address->version = 6;
        address->bytes = bytes;
      }
    }
    if (src->version != *version || dst->version != *version) return false;
    GoldenTuple t;
    t.tuple.src = *src;
    t.tuple.dst = *dst;
    t.tuple.proto = static_cast<uint8_t>(*proto);
    t.tuple.sport = static_cast<uint16_t>(*sport);
    t.tuple.dport = static_cast<uint16_t>(*dport);
    t.basis = static_cast<uint32_t>(*basis);
    t.hash_basis0 = static_cast<uint32_t>(*h0);
    t.hash_basis = static_cast<uint32_t>(*hb);
    t.hash_int = static_cast<uint32_t>(*hint);
    if (f[11] != "-") {
      auto mf0 = ParseNum(f[11], 32);
      if (!mf0) return false;
      t.miniflow0 = static_cast<uint32_t>(*mf0);
    }
    t.line = line;
    file_->tuples.push_back(t);
    return true;
  }

 private:
  GoldenFile* file_;
};

}  // namespace

size_t GoldenFile::CountTuples(uint8_t ip_version) const {
  size_t n = 0;
  for (const GoldenTuple& t : tuples) {
    n += t.tuple.src.version == ip_version;
  }
  return n;
}

std::string GoldenDir() {
  if (const char* dir = std::getenv("RDMA_BOND_GOLDEN_DIR");
      dir != nullptr && *dir != '\0') {
    return dir;
  }
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    return ".";
  }
  // The build writes the files into rdma-bond/tools/golden/; the test
  // programs live in other folders of rdma-bond/ (predict/, testing/):
  // the nearest folder above the program that holds them.
  const std::filesystem::path program(
      std::string(exe, static_cast<size_t>(n)));
  for (std::filesystem::path dir = program.parent_path(); !dir.empty();
       dir = dir.parent_path()) {
    for (const std::filesystem::path& candidate :
         {dir / "tools" / "golden", dir / "rdma-bond" / "tools" / "golden",
          dir}) {
      std::error_code ec;
      if (std::filesystem::exists(candidate / "ovs-hash-golden-native.txt",
                                  ec)) {
        return candidate.string();
      }
    }
    if (dir == dir.root_path()) break;
  }
  return program.parent_path().string();
}

Result<GoldenFile> LoadGolden(std::string_view variant) {
  GoldenFile file;
  file.path =
      GoldenDir() + "/ovs-hash-golden-" + std::string(variant) + ".txt";
  std::ifstream in(file.path);
  if (!in) {
    return Status::NotFound(
        file.path + ": cannot open the golden hash file (build it with "
        "\"make rdma-bond/tools/golden/ovs-hash-golden-" +
        std::string(variant) +
        ".txt\", or set RDMA_BOND_GOLDEN_DIR)");
  }
  Parser parser(&file);
  std::string text;
  int line = 0;
  size_t records = 0;
  bool have_impl = false, ended = false;
  while (std::getline(in, text)) {
    line++;
    std::istringstream words(text);
    std::vector<std::string> f;
    for (std::string word; words >> word;) {
      f.push_back(word);
    }
    const std::string where = file.path + ":" + std::to_string(line);
    if (f.empty() || ended) {
      return Status::Corruption(where + ": unexpected line \"" + text + "\"");
    }
    const std::string& kind = f[0];
    bool ok = true;
    if (kind == "unavailable" && line == 1) {
      file.unavailable = text.substr(sizeof "unavailable");
      return file;
    } else if (kind == "impl" && line == 1 && f.size() == 2) {
      const std::pair<const char*, HashImpl> impls[] = {
          {"mhash", HashImpl::kMhash},
          {"x86-crc32", HashImpl::kX86Crc32},
          {"arm64-crc32", HashImpl::kArm64Crc32}};
      for (const auto& [name, impl] : impls) {
        if (f[1] == name) {
          file.impl = impl;
          have_impl = true;
        }
      }
      ok = have_impl;
    } else if (!have_impl) {
      ok = false;
    } else if (kind == "end" && f.size() == 2) {
      ended = true;
      if (f[1] != std::to_string(records)) {
        return Status::Corruption(where + ": end of " + f[1] +
                                  " records, but " + std::to_string(records) +
                                  " were read");
      }
    } else {
      records++;
      if (kind == "add") {
        ok = parser.Op(f, 32, &file.adds);
      } else if (kind == "add64") {
        ok = parser.Op(f, 64, &file.add64s);
      } else if (kind == "finish") {
        ok = parser.Op(f, 32, &file.finishes);
      } else if (kind == "int") {
        ok = parser.Op(f, 32, &file.ints);
      } else if (kind == "mac") {
        ok = parser.Mac(f);
      } else if (kind == "tuple") {
        ok = parser.Tuple(f, line);
      } else {
        ok = false;
      }
    }
    if (!ok) {
      return Status::Corruption(where + ": malformed record \"" + text +
                                "\"");
    }
  }
  if (!ended) {
    return Status::Corruption(file.path + ": no \"end\" record (truncated)");
  }
  return file;
}

}  // namespace rdma_bond::testing
