// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Status and Result: errors as values.
//
// A Status is the outcome of an operation: OK, or an error code with one
// human-readable line that names the thing, the value and the way out, for
// example
//
//   /var/run/openvswitch/rdma-bond.shm: ABI version 2, this reader
//   understands 1: upgrade ovs-rdma-bond
//
// A Result<T> is either a T or a non-OK Status.  Library code never throws
// on a normal path and never calls exit(): it returns one of these and lets
// the caller (a CLI, the agent) decide what to do.
//
// Modelled on leveldb's include/leveldb/status.h.
//
// Thread-safety: Status and Result are values.  Const methods may be called
// concurrently; a non-const method needs external synchronization, as for
// any standard library type.

#ifndef RDMA_BOND_STATUS_H_
#define RDMA_BOND_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace rdma_bond {

class [[nodiscard]] Status {
 public:
  // What kind of error this is, for callers that act on the kind (for
  // example, a missing table file is retried by the agent while a corrupt
  // one is not).  The message is what is shown to people.
  enum class Code {
    kOk = 0,
    kNotFound,          // A file, bond or member does not exist.
    kInvalidArgument,   // The caller passed something unusable.
    kCorruption,        // Shared data failed validation.
    kNotSupported,      // A valid but incompatible format (ABI version).
    kIOError,           // A system call failed; see errno_value().
    kUnavailable,       // Transient: retry later (e.g. a writer stuck).
  };

  // Creates an OK status.
  Status() noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status Corruption(std::string message) {
    return Status(Code::kCorruption, std::move(message));
  }
  static Status NotSupported(std::string message) {
    return Status(Code::kNotSupported, std::move(message));
  }
  static Status Unavailable(std::string message) {
    return Status(Code::kUnavailable, std::move(message));
  }

  // Wraps a failed system call: the message is "CONTEXT: strerror(ERRNUM)",
  // for example FromErrno("open /run/x", ENOENT) gives
  // "open /run/x: No such file or directory".  ENOENT maps to kNotFound,
  // everything else to kIOError.
  // REQUIRES: errnum != 0.
  static Status FromErrno(std::string_view context, int errnum);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }

  // The errno wrapped by FromErrno(), 0 for any other status.
  int errno_value() const { return errno_; }

  // The message alone ("" when OK).
  const std::string& message() const { return message_; }

  // "OK", or the message: one line, no trailing newline, no prefix, so
  // that a program can print "PROGRAM: " + ToString().
  std::string ToString() const;

  // Returns a copy of this status whose message is "PREFIX: message".  Used
  // to add context while an error travels up.  OK stays OK.
  Status WithPrefix(std::string_view prefix) const;

  // Returns a copy whose message has " SUFFIX" appended, for a hint on the
  // way out ("(is ovs-vswitchd running ...?)").  OK stays OK.
  Status WithHint(std::string_view hint) const;

 private:
  Status(Code code, std::string message)
      : code_(code), message_(std::move(message)) {
    assert(code != Code::kOk);
  }

  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string message_;
};

// Either a value of type T or an error Status.
//
// Usage:
//   Result<int> r = Parse(text);
//   if (!r.ok()) return r.status();
//   Use(*r);
template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit on purpose, so that "return value;" and "return status;" both
  // work in a function returning Result<T>.
  Result(T value) : value_(std::move(value)) {}  // NOLINT
  // REQUIRES: !status.ok().  An OK status without a value is a programming
  // error; it asserts in debug builds and becomes an error otherwise.
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok());
    if (status_.ok()) {
      status_ = Status::InvalidArgument("Result built from an OK status");
    }
  }

  bool ok() const { return value_.has_value(); }

  // OK when a value is present.
  const Status& status() const { return status_; }

  // REQUIRES: ok().
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace rdma_bond

#endif  // RDMA_BOND_STATUS_H_
