// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// The probe key file (ovs-rdma-bond-agent --probe-key-file): the shared
// keys that sign and check probe frames (probe_frame.h, "Keyed probes").
//
// Format: one key per line, at most two; a key is the line's bytes (at
// least kMinProbeKeyBytes, for example 32 random bytes in base64:
// "head -c 32 /dev/urandom | base64"); empty lines and lines starting
// with '#' are skipped.  The first key signs every frame sent; both are
// accepted.  A rotation on every host: add the new key as the second
// line (accepted everywhere), then make it the first (signing), then
// remove the old one.  The agent reads the file again when it changes.
//
// The file must be a regular file that group and others can neither read
// nor write (chmod 600), not a symbolic link.
//
// Thread-safety: pure functions.

#ifndef RDMA_BOND_PROBE_KEYS_H_
#define RDMA_BOND_PROBE_KEYS_H_

#include <string>
#include <string_view>
#include <vector>

#include "probe/probe_frame.h"
#include "rdma_bond/status.h"

namespace rdma_bond {

// Keys in one file at most: the one in use and the next (or previous).
inline constexpr size_t kMaxProbeKeys = 2;

// Parses the content of a key file ('what' names it in errors): 1 or 2
// keys, distinct, each of at least kMinProbeKeyBytes.
Result<std::vector<ProbeKey>> ParseProbeKeys(std::string_view text,
                                             const std::string& what);

// Reads and parses the key file at 'path', refusing (one line naming the
// file) a symbolic link, anything but a regular file, a file that group
// or others may read or write, or one larger than 64 KiB.
Result<std::vector<ProbeKey>> ReadProbeKeyFile(const std::string& path);

// "0x1a2b3c4d" for each key, the signing one first, comma separated; or
// "none".
std::string DescribeProbeKeys(const std::vector<ProbeKey>& keys);

}  // namespace rdma_bond

#endif  // RDMA_BOND_PROBE_KEYS_H_
