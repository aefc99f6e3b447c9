// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Names from outside the agent made safe for its outputs.  Bond and member
// names come from the table, client names from a process's comm (any bytes
// but NUL: prctl(PR_SET_NAME)), peer member names from probe frames.  In
// "ovs-appctl" text they go through EscapeControl() (common/hex.h), in
// Prometheus label values through LabelValue().

#ifndef RDMA_BOND_AGENT_REPORT_TEXT_H_
#define RDMA_BOND_AGENT_REPORT_TEXT_H_

#include <string>
#include <string_view>
#include <vector>

namespace rdma_bond::agent {

// 'value' as a Prometheus label value (without the quotes): backslash,
// double quote and line feed escaped as the text format wants (\\, \",
// \n), every other control byte written as the four characters \\xNN (so
// that the value reads \xNN and no terminal escape sequence or carriage
// return gets through).
std::string LabelValue(std::string_view value);

// Rows as left-aligned columns, two spaces apart, one line each.
std::string Columns(const std::vector<std::vector<std::string>>& rows);

}  // namespace rdma_bond::agent

#endif  // RDMA_BOND_AGENT_REPORT_TEXT_H_
