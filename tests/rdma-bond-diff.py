#! /usr/bin/env python3
# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
"""Differential test of the bond prediction on the dummy datapath.

For N random RoCEv2 5-tuples (random IPv4 addresses, random UDP source
ports in 0xc000..0xffff, destination port 4791) this injects one packet per
tuple into the bridge's ingress port, reads from the members' tx_pcap files
the member each packet really left on, and compares it, tuple by tuple,
with "ovs-appctl rdma-bond/lookup" (OVS's own answer) and "rdma-bondctl
predict" (the library's).  With --pick it also asks "rdma-bondctl
pick-sport" for ports of every member and checks that each left on it.

  rdma-bond-diff.py --bond bond0 --ingress p7 --ingress-ofport 7
                    --members "p1 p2 p3" --shm PATH --ctl PATH [-n N]
                    [--seed S] [--pick K] [--down M1,M2]

Prints one summary line and, on a mismatch, the first differing tuples;
exits 1 on any mismatch or unless exactly the members not --down carried
traffic.  Uses OVS's Python unixctl client, so thousands of
lookups cost one connection rather than thousands of processes.
"""

import argparse
import json
import random
import subprocess
import sys
import time

import ovs.daemon
import ovs.unixctl
import ovs.unixctl.client

ROCE_PORT = 4791


def appctl(client, command, *args):
    error, failure, result = client.transact(command, list(args))
    if error or failure is not None:
        raise SystemExit("rdma-bond-diff: %s: %s" % (command,
                                                     failure or error))
    return result


def odp_flow(ingress_ofport, src, dst, sport):
    return ("in_port(%d),eth(src=50:54:00:00:00:07,dst=50:54:00:00:01:00),"
            "eth_type(0x0800),ipv4(src=%s,dst=%s,proto=17,tos=0,ttl=64,"
            "frag=no),udp(src=%d,dst=%d)"
            % (ingress_ofport, src, dst, sport, ROCE_PORT))


def inject(client, ingress, ingress_ofport, tuples, members, batch=50):
    """Injects 'tuples' in batches, each once the previous one reached the
    members' pcaps: netdev-dummy's receive queue holds only about a hundred
    packets and drops the rest.  Returns {tuple: set of members}."""
    sent = set()
    on_wire = {}
    for i in range(0, len(tuples), batch):
        chunk = tuples[i:i + batch]
        appctl(client, "netdev-dummy/receive", ingress,
               *[odp_flow(ingress_ofport, *t) for t in chunk])
        sent.update(chunk)
        deadline = time.monotonic() + 10
        while True:
            on_wire = wire(members, sent)
            if len(on_wire) == len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    return on_wire


def wire(members, tag):
    """Returns {(src, dst, sport): member} from the members' pcaps."""
    seen = {}
    for m in members:
        out = subprocess.run(["ovs-ofctl", "parse-pcap", "%s.pcap" % m],
                             check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            if "tp_dst=%d" % ROCE_PORT not in line:
                continue
            fields = dict(f.split("=", 1) for f in line.split(",")
                          if "=" in f)
            key = (fields["nw_src"], fields["nw_dst"], int(fields["tp_src"]))
            if key in tag:
                seen.setdefault(key, set()).add(m)
    return seen


def lookups(client, bond, tuples):
    result = {}
    for src, dst, sport in tuples:
        reply = appctl(client, "rdma-bond/lookup", bond,
                       "udp,nw_src=%s,nw_dst=%s,tp_src=%d,tp_dst=%d"
                       % (src, dst, sport, ROCE_PORT))
        member = [line.split(": ", 1)[1] for line in reply.splitlines()
                  if line.startswith("member: ")][0]
        result[(src, dst, sport)] = member
    return result


def predictions(ctl, shm, bond, tuples):
    result = {}
    for src, dst, sport in tuples:
        out = subprocess.run([ctl, "predict", "--json", "--shm", shm, bond,
                              src, dst, str(sport)], check=True,
                             capture_output=True, text=True).stdout
        p = json.loads(out)
        result[(src, dst, sport)] = p["member"] or "none"
    return result


def picks(ctl, shm, bond, members, count, seed):
    """Returns [(src, dst, sport, member)] chosen by pick-sport, for address
    pairs of their own (per seed and member, so that the pcaps of earlier
    runs, which keep growing, cannot match)."""
    chosen = []
    for i, m in enumerate(members):
        src = "172.16.%d.%d" % (seed % 256, i + 1)
        dst = "172.17.%d.%d" % (seed % 256, i + 1)
        out = subprocess.run([ctl, "pick-sport", "--json", "--count",
                              str(count), "--shm", shm, bond, src, dst, m],
                             check=True, capture_output=True,
                             text=True).stdout
        doc = json.loads(out)
        for s in doc["sports"]:
            chosen.append((src, dst, s["sport"], m))
    return chosen


def compare(name, wire_members, other, limit=5):
    """Compares the member on the wire with 'other' (the member that the
    check 'name' gives) for every tuple of 'other'."""
    bad = [(k, wire_members.get(k), other[k]) for k in sorted(other)
           if wire_members.get(k) != other[k]]
    for k, w, o in bad[:limit]:
        print("  %s: %s %s sport %d: wire %s, %s %s"
              % (name, k[0], k[1], k[2], w, name, o))
    return not bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bond", default="bond0")
    ap.add_argument("--ingress", default="p7")
    ap.add_argument("--ingress-ofport", type=int, default=7)
    ap.add_argument("--members", required=True)
    ap.add_argument("--shm", required=True)
    ap.add_argument("--ctl", default="rdma-bondctl")
    ap.add_argument("--target", default="ovs-vswitchd")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pick", type=int, default=0)
    ap.add_argument("--down", default="",
                    help="members expected to carry nothing (failed)")
    args = ap.parse_args()
    members = args.members.replace(",", " ").split()
    down = set(args.down.replace(",", " ").split())
    rng = random.Random(args.seed)

    tuples = set()
    while len(tuples) < args.n:
        tuples.add(("10.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255),
                                     rng.randint(1, 254)),
                    "10.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255),
                                     rng.randint(1, 254)),
                    rng.randint(0xc000, 0xffff)))
    tuples = sorted(tuples)

    error, socket_name = ovs.unixctl.socket_name_from_target(args.target)
    if error:
        raise SystemExit("rdma-bond-diff: %s: %s" % (args.target, socket_name))
    error, client = ovs.unixctl.client.UnixctlClient.create(socket_name)
    if error:
        raise SystemExit("rdma-bond-diff: cannot connect to %s" % socket_name)
    up = [m for m in members if m not in down]
    chosen = (picks(args.ctl, args.shm, args.bond, up, args.pick, args.seed)
              if args.pick else [])

    sent = tuples + [(s, d, p) for s, d, p, _ in chosen]
    on_wire = inject(client, args.ingress, args.ingress_ofport, sent,
                     members)
    missing = [t for t in sent if t not in on_wire]
    twice = [t for t in sent if len(on_wire.get(t, ())) > 1]
    on_wire = {t: min(ms) for t, ms in on_wire.items()}

    expected = {t: on_wire.get(t, "none") for t in tuples}
    ok = not missing and not twice
    ok = compare("lookup", expected, lookups(client, args.bond, tuples)) and ok
    ok = compare("predict", expected,
                 predictions(args.ctl, args.shm, args.bond, tuples)) and ok
    if chosen:
        ok = compare("pick-sport", on_wire,
                     {(s, d, p): m for s, d, p, m in chosen}) and ok
    used = sorted(set(expected.values()))
    print("%d flows, %d picked ports: %s; members used: %s%s%s"
          % (len(tuples), len(chosen), "agree" if ok else "MISMATCH",
             ",".join(used),
             "; %d not on the wire" % len(missing) if missing else "",
             "; %d on two members" % len(twice) if twice else ""))
    return 0 if ok and used == sorted(up) else 1


if __name__ == "__main__":
    sys.exit(main())
