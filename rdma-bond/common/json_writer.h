// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// JsonWriter: builds one JSON document as text, for rdma-bondctl --json.
//
// The layout is fixed, because rdma-bondctl's JSON output is a documented
// interface that tests compare byte for byte and scripts grep:
//
//   - An array or object whose values are all scalars (strings, numbers,
//     booleans, null), or that is empty, is written on one line:
//     [], {}, ["p1", null], {"name": "p1", "ofport": 1}.
//   - Any other array or object has one element or member per line,
//     indented by two spaces per nesting level, the closing bracket on a
//     line of its own at the opening line's indentation.
//   - Members are written "key": value, elements are separated by ", " on
//     one line and by "," at the end of the line otherwise.  The document
//     ends with a newline.
//
// Strings are escaped as RFC 8259 requires (quote, backslash, control
// characters).  Valid UTF-8 is kept as it is; each byte that is not part of
// a valid UTF-8 sequence becomes U+FFFD, so the output is always valid
// JSON whatever bytes a name in the table holds.
//
// Usage:
//   JsonWriter json;
//   json.BeginObject();
//   json.Key("name"); json.String("bond0");
//   json.EndObject();
//   std::string text = json.Finish();   // "{\"name\": \"bond0\"}\n"
//
// Thread-safety: none; one writer per thread.  Calls must form a valid
// document (Key() only directly inside an object, before each of its
// values; every Begin matched by an End); misuse asserts in debug builds.

#ifndef RDMA_BOND_JSON_WRITER_H_
#define RDMA_BOND_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rdma_bond {

class JsonWriter {
 public:
  JsonWriter() = default;

  void BeginObject() { Begin('{'); }
  void EndObject() { End('}'); }
  void BeginArray() { Begin('['); }
  void EndArray() { End(']'); }

  // Starts a member of the current object; the next call writes its value.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Int(int64_t value);
  void Uint(uint64_t value);
  // A number with 'decimals' digits after the point; null if not finite.
  void Double(double value, int decimals);
  void Bool(bool value);
  void Null();

  // Returns the document followed by a newline.
  // REQUIRES: exactly one top-level value, every container closed.
  std::string Finish();

  // Appends 'text' to 'out' as a quoted, escaped JSON string.
  static void AppendQuoted(std::string_view text, std::string* out);

 private:
  // An open container.  Its items are kept until it is closed, when it is
  // known whether it holds only scalars and so goes on one line.
  struct Level {
    char close = ']';                 // '}' or ']'.
    bool flat = true;                 // No item is a container.
    std::vector<std::string> items;   // Rendered elements or members.
    std::string key;                  // Pending "key": prefix, objects only.
    bool has_key = false;
  };

  void Begin(char open);
  void End(char close);
  // Adds a rendered value to the current container (or makes it the
  // document).
  void Value(std::string text, bool is_container);

  std::vector<Level> stack_;
  std::string document_;
  bool has_document_ = false;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_JSON_WRITER_H_
