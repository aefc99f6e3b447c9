// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/hex.h"

namespace rdma_bond {

namespace {

constexpr char kDigits[] = "0123456789abcdef";

void AppendByte(std::string* text, uint8_t byte) {
  *text += kDigits[byte >> 4];
  *text += kDigits[byte & 0xf];
}

}  // namespace

std::string HexPrefixed(uint64_t value, int min_digits) {
  int digits = 1;
  while (digits < 16 && (value >> (4 * digits)) != 0) digits++;
  if (min_digits > digits) digits = min_digits > 16 ? 16 : min_digits;
  std::string text = "0x";
  for (int i = digits - 1; i >= 0; i--) {
    text += kDigits[(value >> (4 * i)) & 0xf];
  }
  return text;
}

std::string Hex64(uint64_t value) { return HexPrefixed(value, 16); }

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FormatHexGroups(std::span<const uint8_t> bytes,
                            size_t group_bytes, char separator) {
  std::string text;
  text.reserve(bytes.size() * 3);
  for (size_t i = 0; i < bytes.size(); i++) {
    if (i != 0 && i % group_bytes == 0) text += separator;
    AppendByte(&text, bytes[i]);
  }
  return text;
}

bool ParseHexGroups(std::string_view text, size_t group_bytes,
                    char separator, std::span<uint8_t> out) {
  if (group_bytes == 0 || out.empty()) return false;
  const size_t groups = (out.size() + group_bytes - 1) / group_bytes;
  if (text.size() != out.size() * 2 + (groups - 1)) return false;
  size_t at = 0;
  for (size_t i = 0; i < out.size(); i++) {
    if (i != 0 && i % group_bytes == 0) {
      if (text[at++] != separator) return false;
    }
    const int hi = HexDigitValue(text[at]);
    const int lo = HexDigitValue(text[at + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
    at += 2;
  }
  return true;
}

std::string EscapeControl(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      escaped += "\\x";
      AppendByte(&escaped, byte);
    } else {
      escaped += c;
    }
  }
  return escaped;
}

bool IsPciAddress(std::string_view text) {
  // dddd:bb:dd.f
  static constexpr std::string_view kForm = "xxxx:xx:xx.x";
  if (text.size() != kForm.size()) return false;
  for (size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (kForm[i] != 'x') {
      if (c != kForm[i]) return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace rdma_bond
