// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.

#include "common/json_writer.h"

#include <cassert>
#include <cmath>
#include <cstdio>
#include <utility>

namespace rdma_bond {

namespace {

// Spaces per nesting level of a multi-line container.
constexpr size_t kIndent = 2;

// "\ufffd", written for each byte that is not valid UTF-8.
constexpr std::string_view kReplacement = "\\ufffd";

// Length of the valid UTF-8 sequence at the start of 'text', or 0 if it
// does not start with one (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF).
size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](size_t i) {
    return static_cast<unsigned char>(text[i]);
  };
  const auto continuation = [&](size_t i) {
    return i < text.size() && (byte(i) & 0xc0) == 0x80;
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xc2 && lead <= 0xdf) {
    return continuation(1) ? 2 : 0;
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    if (!continuation(1) || !continuation(2)) {
      return 0;
    }
    if ((lead == 0xe0 && byte(1) < 0xa0) ||   // Overlong.
        (lead == 0xed && byte(1) >= 0xa0)) {  // Surrogate.
      return 0;
    }
    return 3;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) {
      return 0;
    }
    if ((lead == 0xf0 && byte(1) < 0x90) ||   // Overlong.
        (lead == 0xf4 && byte(1) >= 0x90)) {  // Above U+10FFFF.
      return 0;
    }
    return 4;
  }
  return 0;
}

}  // namespace

void JsonWriter::AppendQuoted(std::string_view text, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"': *out += "\\\""; i++; continue;
      case '\\': *out += "\\\\"; i++; continue;
      case '\b': *out += "\\b"; i++; continue;
      case '\f': *out += "\\f"; i++; continue;
      case '\n': *out += "\\n"; i++; continue;
      case '\r': *out += "\\r"; i++; continue;
      case '\t': *out += "\\t"; i++; continue;
    }
    if (c < 0x20) {
      char escape[sizeof "\\u0000"];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      *out += escape;
      i++;
      continue;
    }
    const size_t len = Utf8SequenceLength(text.substr(i));
    if (len == 0) {
      *out += kReplacement;
      i++;
    } else {
      out->append(text.substr(i, len));
      i += len;
    }
  }
  out->push_back('"');
}

void JsonWriter::Value(std::string text, bool is_container) {
  if (stack_.empty()) {
    assert(!has_document_ && "only one top-level value");
    document_ = std::move(text);
    has_document_ = true;
    return;
  }
  Level& level = stack_.back();
  if (level.close == '}') {
    assert(level.has_key && "object members need a Key()");
    text = std::move(level.key) + text;
    level.key.clear();
    level.has_key = false;
  }
  level.items.push_back(std::move(text));
  level.flat = level.flat && !is_container;
}

void JsonWriter::Key(std::string_view key) {
  assert(!stack_.empty() && stack_.back().close == '}' &&
         !stack_.back().has_key);
  Level& level = stack_.back();
  level.key.clear();
  AppendQuoted(key, &level.key);
  level.key += ": ";
  level.has_key = true;
}

void JsonWriter::Begin(char open) {
  Level level;
  level.close = open == '{' ? '}' : ']';
  stack_.push_back(std::move(level));
}

void JsonWriter::End(char close) {
  assert(!stack_.empty() && stack_.back().close == close &&
         !stack_.back().has_key);
  Level level = std::move(stack_.back());
  stack_.pop_back();
  const char open = close == '}' ? '{' : '[';
  const size_t depth = stack_.size();  // Nesting level of this container.

  std::string text(1, open);
  if (level.flat) {
    for (size_t i = 0; i < level.items.size(); i++) {
      if (i > 0) {
        text += ", ";
      }
      text += level.items[i];
    }
  } else {
    const std::string inner = "\n" + std::string((depth + 1) * kIndent, ' ');
    for (size_t i = 0; i < level.items.size(); i++) {
      text += inner;
      text += level.items[i];
      if (i + 1 < level.items.size()) {
        text += ',';
      }
    }
    text += '\n';
    text.append(depth * kIndent, ' ');
  }
  text += close;
  Value(std::move(text), /*is_container=*/true);
}

void JsonWriter::String(std::string_view value) {
  std::string text;
  AppendQuoted(value, &text);
  Value(std::move(text), false);
}

void JsonWriter::Int(int64_t value) { Value(std::to_string(value), false); }

void JsonWriter::Uint(uint64_t value) { Value(std::to_string(value), false); }

void JsonWriter::Double(double value, int decimals) {
  if (!std::isfinite(value)) {
    Null();
    return;
  }
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  Value(text, false);
}

void JsonWriter::Bool(bool value) { Value(value ? "true" : "false", false); }

void JsonWriter::Null() { Value("null", false); }

std::string JsonWriter::Finish() {
  assert(stack_.empty() && has_document_);
  std::string text = std::move(document_);
  text += '\n';
  document_.clear();
  has_document_ = false;
  return text;
}

}  // namespace rdma_bond
