#! /usr/bin/env python3
# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
"""Sends RoCEv2-shaped UDP flows and observes which link carries each one.

  send --src IP [--dst IP] [--dport N] FLOW...
      Sends one UDP datagram from SRC:SPORT to DST:DPORT (default 4791) for
      each FLOW, written DST:SPORT, SPORT or FIRST-LAST (with --dst),
      through the host's IP stack.
  capture --out FILE [--dport N] IFACE...
      Listens on each IFACE with AF_PACKET and writes "DST SPORT IFACE" for
      every IPv4 UDP frame to DPORT that arrives, until SIGTERM or SIGINT.
      Prints "ready" on stdout once every socket is bound.

Used by tests/system-rdma-bond in network namespaces that the test created;
it talks to no other address.
"""

import argparse
import select
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100


def parse_flows(args, default_dst):
    for arg in args:
        dst = default_dst
        if ":" in arg:
            dst, arg = arg.split(":", 1)
        if dst is None:
            raise SystemExit("rdma-bond-egress: %s: no destination (--dst)"
                             % arg)
        if "-" in arg:
            first, last = arg.split("-", 1)
            for sport in range(int(first), int(last) + 1):
                yield dst, sport
        else:
            yield dst, int(arg)


def send(args):
    for dst, sport in parse_flows(args.flows, args.dst):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.src, sport))
        s.sendto(b"rdma-bond egress probe %d" % sport, (dst, args.dport))
        s.close()


def udp_flow(frame, dport):
    """Returns (destination address, UDP source port) of 'frame' if it is
    IPv4/UDP to 'dport', else None."""
    if len(frame) < 14:
        return None
    ethertype, = struct.unpack_from("!H", frame, 12)
    offset = 14
    if ethertype == ETH_P_8021Q and len(frame) >= 18:
        ethertype, = struct.unpack_from("!H", frame, 16)
        offset = 18
    if ethertype != ETH_P_IP or len(frame) < offset + 20:
        return None
    ihl = (frame[offset] & 0x0f) * 4
    if frame[offset + 9] != socket.IPPROTO_UDP:
        return None
    udp = offset + ihl
    if len(frame) < udp + 8:
        return None
    sport, dst_port = struct.unpack_from("!HH", frame, udp)
    if dst_port != dport:
        return None
    return socket.inet_ntoa(frame[offset + 16:offset + 20]), sport


SO_RCVBUFFORCE = 33       # <asm-generic/socket.h>
SOL_PACKET = 263          # <linux/socket.h>
PACKET_STATISTICS = 6     # <linux/if_packet.h>


def capture(args):
    socks = {}
    for iface in args.ifaces:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                          socket.htons(ETH_P_ALL))
        # Room for a burst: a DPDK datapath sends the frames of a poll
        # at once, faster than this loop reads them, and a frame dropped
        # here would count as one that never left.  (SO_RCVBUFFORCE: as
        # root, past net.core.rmem_max.)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        s.bind((iface, 0))
        socks[s.fileno()] = (s, iface)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    with open(args.out, "w") as out:
        while not stop:
            try:
                ready, _, _ = select.select(list(socks), [], [], 0.1)
            except InterruptedError:
                continue
            for fd in ready:
                s, iface = socks[fd]
                frame, addr = s.recvfrom(65535)
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                flow = udp_flow(frame, args.dport)
                if flow is not None:
                    out.write("%s %d %s\n" % (flow[0], flow[1], iface))
                    out.flush()
    # Frames the kernel could not queue to us (struct tpacket_stats), so
    # that a short capture says where the frames went.
    for s, iface in socks.values():
        _, drops = struct.unpack("II", s.getsockopt(SOL_PACKET,
                                                    PACKET_STATISTICS, 8))
        if drops:
            print("capture: %s: %d frames dropped by the socket"
                  % (iface, drops), file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("--src", required=True)
    p.add_argument("--dst")
    p.add_argument("--dport", type=int, default=4791)
    p.add_argument("flows", nargs="+")
    p = sub.add_parser("capture")
    p.add_argument("--out", required=True)
    p.add_argument("--dport", type=int, default=4791)
    p.add_argument("ifaces", nargs="+")
    args = parser.parse_args()
    if args.cmd == "send":
        send(args)
    else:
        capture(args)


if __name__ == "__main__":
    sys.exit(main())
