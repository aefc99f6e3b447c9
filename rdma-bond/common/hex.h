// Copyright (c) 2026 The ovs-rdma-bond authors.
// Licensed under the Apache License, Version 2.0.
//
// Hex text, the one copy for the whole tree: numbers ("0x11", QP numbers
// "0x000011", 64-bit values as the table prints them "0x00000000deadbeef"),
// byte strings in groups (MAC
// addresses "aa:55:aa:55:00:01", GIDs "fe80:0000:...:0001") both ways, and
// control characters escaped as \xNN for one-line output.

#ifndef RDMA_BOND_COMMON_HEX_H_
#define RDMA_BOND_COMMON_HEX_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace rdma_bond {

// "0x" and at least 'min_digits' lowercase hex digits, more only as the
// value needs: HexPrefixed(0x11) is "0x11", HexPrefixed(0x11, 6)
// "0x000011", HexPrefixed(0) "0x0".
std::string HexPrefixed(uint64_t value, int min_digits = 1);

// "0x" and 16 lowercase hex digits: HexPrefixed(value, 16).
std::string Hex64(uint64_t value);

// The value of hex digit 'c' (either case), or -1.
int HexDigitValue(char c);

// 'bytes' as lowercase hex, 'group_bytes' bytes (two digits each) per
// group, groups separated by 'separator': group 1 for a MAC address, 2 for
// a GID.  'group_bytes' must be at least 1.
std::string FormatHexGroups(std::span<const uint8_t> bytes,
                            size_t group_bytes, char separator = ':');

// The reverse of FormatHexGroups() for exactly out.size() bytes: true and
// 'out' filled if 'text' is that many bytes of hex digits (either case) in
// groups of 'group_bytes' separated by 'separator', and nothing else.
bool ParseHexGroups(std::string_view text, size_t group_bytes,
                    char separator, std::span<uint8_t> out);

// 'text' with every control character (below 0x20, and 0x7f) written as
// \xNN, so that it stays on one line.
std::string EscapeControl(std::string_view text);

// Whether 'text' is a PCI address as the kernel writes it, "0000:03:00.0"
// (domain:bus:device.function, lower-case hex): safe to make a sysfs path
// of.
bool IsPciAddress(std::string_view text);

}  // namespace rdma_bond

#endif  // RDMA_BOND_COMMON_HEX_H_
