// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Text and JSON renderings of a table snapshot, for "rdma-bondctl dump".
//
// Both formats are interfaces: people read the text one (aligned, bonds
// sorted by name), programs read the JSON one, whose keys, order and
// layout are documented in rdma-bondctl(8) and compared byte for byte by
// table_format_test.cc.  Neither reads a clock or the table: everything
// comes from the snapshot (ages are computed against snapshot.now_ns), so
// the output of a given snapshot is always the same.
//
// Thread-safety: pure functions of their arguments.

#ifndef RDMA_BOND_TABLE_FORMAT_H_
#define RDMA_BOND_TABLE_FORMAT_H_

#include <string>
#include <vector>

#include "rdma_bond/table_reader.h"

namespace rdma_bond {

// Problems with the writer that a reader should be told about, one line
// each without a prefix: heartbeat stale (with its age and the writer's
// pid), writer exited, writer pid not running, file replaced or removed.
// Empty when all is well.
std::vector<std::string> TableWarnings(const TableSnapshot& snapshot);

// The text rendering: a header block (path, instance id, writer pid, OVS
// version, hash implementation, heartbeat age, warnings), then one block
// per bond in 'snapshot.bonds', sorted by name.
std::string FormatTableText(const TableSnapshot& snapshot);

// The JSON rendering (one document in JsonWriter's layout, newline-
// terminated): {"table": {...}, "bonds": [...]} with the bonds in
// 'snapshot.bonds' sorted by name.
std::string FormatTableJson(const TableSnapshot& snapshot);

}  // namespace rdma_bond

#endif  // RDMA_BOND_TABLE_FORMAT_H_
