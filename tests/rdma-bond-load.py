#! /usr/bin/env python3
# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
#
# Writes an rdma-bond load table (lib/rdma-bond-load.h) the way
# ovs-rdma-bond-agent does, for the tests of ovs-vswitchd's reader and of
# rdma-bond-rebalance: an independent writer of the same ABI, from its
# documentation.
#
# Usage:
#   rdma-bond-load.py FILE BOND [BUCKET=BYTES]... [MEMBER:BYTES]...
#       [--instance N] [--age-ms MS] [--magic N] [--mode OCTAL]
#
# BUCKET=BYTES sets bond BOND's cumulative bytes in that bucket ("0-127"
# names a range); MEMBER:BYTES a member's cumulative pinned bytes.  The
# heartbeat and the record's update time are now (CLOCK_MONOTONIC), or
# --age-ms in the past.  --magic writes another magic (a broken table).
# The file is written under a temporary name and renamed into place.

import os
import struct
import sys
import time

MAGIC = 0x31444f4c414d4452
ABI = 1
MAX_BONDS = 64
BUCKETS = 256
MAX_MEMBERS = 16
NAME_LEN = 64
HEADER = struct.Struct("<QIIIIIIQQII Q 6Q")
MEMBER = struct.Struct("<64sQ")
RECORD_HEAD = struct.Struct("<QQIIII64s")
RECORD_SIZE = RECORD_HEAD.size + 8 * BUCKETS + MEMBER.size * MAX_MEMBERS
assert HEADER.size == 112 and RECORD_SIZE == 3296


def main(argv):
    args = argv[1:]
    opts = {"--instance": "1", "--age-ms": "0", "--magic": str(MAGIC),
            "--mode": "644"}
    rest = []
    while args:
        a = args.pop(0)
        if a in opts:
            opts[a] = args.pop(0)
        else:
            rest.append(a)
    if len(rest) < 2:
        sys.exit(__doc__ or "usage: rdma-bond-load.py FILE BOND ...")
    path, bond = rest[0], rest[1]
    buckets = [0] * BUCKETS
    members = []
    for spec in rest[2:]:
        if "=" in spec:
            which, value = spec.split("=")
            first, _, last = which.partition("-")
            for b in range(int(first), int(last or first) + 1):
                buckets[b] = int(value)
        else:
            name, value = spec.split(":")
            members.append((name.encode(), int(value)))
    now = time.monotonic_ns() - int(opts["--age-ms"]) * 1000000
    header = HEADER.pack(int(opts["--magic"]), ABI, HEADER.size, RECORD_SIZE,
                         MAX_BONDS, BUCKETS, MAX_MEMBERS,
                         int(opts["--instance"]), now, os.getpid(), 0, now,
                         *([0] * 6))
    record = RECORD_HEAD.pack(2, now, 1, len(members), 1, 0, bond.encode())
    record += struct.pack("<%dQ" % BUCKETS, *buckets)
    for i in range(MAX_MEMBERS):
        name, value = members[i] if i < len(members) else (b"", 0)
        record += MEMBER.pack(name, value)
    empty = b"\0" * RECORD_SIZE
    data = header + record + empty * (MAX_BONDS - 1)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, int(opts["--mode"], 8))
    os.rename(tmp, path)


if __name__ == "__main__":
    main(sys.argv)
