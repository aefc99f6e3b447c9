#! /usr/bin/env python3
# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
"""Reads "rdma-bondctl dump --json" on stdin for the rdma-bond tests.

  summary            one stable block per bond (no times, ids, generations)
  get PATH           one value, PATH like table.instance_id or
                     bonds.bond0.generation (bonds are addressed by name)
  buckets BOND       "BUCKET MEMBER" for each of the 256 buckets
  vectors BOND       "SRC DST SPORT HASH_BASIS0 HASH_BASIS HASH_REGIME"
"""

import json
import sys


def bond_by_name(doc, name):
    for bond in doc["bonds"]:
        if bond["name"] == name:
            return bond
    sys.stderr.write("rdma-bond-json: no bond %s in the dump\n" % name)
    sys.exit(1)


def summary(doc):
    for b in doc["bonds"]:
        print("%s: mode=%s lacp=%s fallback=%s regime=%s basis=%d "
              "lb-output=%s active=%s"
              % (b["name"], b["mode"], b["lacp"],
                 str(b["lacp_fallback_ab"]).lower(), b["regime"], b["basis"],
                 str(b["lb_output_action"]).lower(),
                 b["active_member"] or "none"))
        for m in b["members"]:
            state = [k for k in ("enabled", "may_enable", "carrier", "primary")
                     if m[k]]
            print("  %s: ofport=%d %s" % (m["name"], m["ofport"],
                                          ",".join(state) or "-"))
        if b["mode"] != "active-backup":
            counts = dict(b["bucket_counts"])
            counts["unassigned"] = sum(1 for x in b["buckets"] if x is None)
            print("  buckets: " + " ".join(
                "%s=%d" % (k, counts.get(k, 0))
                for k in [m["name"] for m in b["members"]] + ["unassigned"]))


def get(doc, path):
    node = doc
    for key in path.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif key == path.split(".")[1] and path.startswith("bonds."):
            node = bond_by_name(doc, key)
        else:
            sys.stderr.write("rdma-bond-json: no %s in the dump\n" % path)
            sys.exit(1)
    if isinstance(node, bool):
        print(str(node).lower())
    elif isinstance(node, (dict, list)):
        print(json.dumps(node))
    else:
        print(node)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    doc = json.load(sys.stdin)
    cmd = sys.argv[1]
    if cmd == "summary":
        summary(doc)
    elif cmd == "get" and len(sys.argv) == 3:
        get(doc, sys.argv[2])
    elif cmd == "buckets" and len(sys.argv) == 3:
        for i, m in enumerate(bond_by_name(doc, sys.argv[2])["buckets"]):
            print(i, m if m is not None else "none")
    elif cmd == "vectors" and len(sys.argv) == 3:
        for v in bond_by_name(doc, sys.argv[2])["vectors"]:
            print(v["src"], v["dst"], v["sport"], v["hash_basis0"],
                  v["hash_basis"], v["hash_regime"])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
