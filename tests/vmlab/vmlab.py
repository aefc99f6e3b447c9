# Copyright (c) 2026 The ovs-rdma-bond authors.
# Licensed under the Apache License, Version 2.0.
"""The VM lab's machinery: qemu guests, their command channel, the switch.

Two qemu guests (TCG, Debian's kernel) are the two hosts.  Each has two
virtio NICs whose host ends are taps in the network namespace of the
switch, an OVS instance of the build tree on the host (userspace
datapath).  Nothing else is connected: the guests have no route anywhere
but each other, and the switch namespace has no address at all.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

SWITCH_NS = "rbv-sw"
SWITCH_HASH_BASIS = 97531
# LACP's slow rate (a PDU every 30 s, partner timed out after 90 s): a
# TCG guest saturated by rxe traffic on its one vCPU was seen to miss the
# fast rate's 3 s timeout and disable a member in the middle of a run.  A
# pulled cable is a carrier loss, which disables the member at once either
# way.
LACP_TIME = "slow"
NET = "10.79.0"
# What the migration scenarios' Linux bond carries besides its address.
LINUX_BOND_ROUTE = "10.79.9.0/24"
LINUX_BOND_NEIGHBOUR = "10.79.0.250"


class LabError(Exception):
    pass


def host_ip(n):
    return "%s.%d" % (NET, n)


def host_mac(n):
    """The host's MAC: its bridge, and its NICs (whose RNICs send it)."""
    return "02:79:00:00:00:%02x" % n


def nic_name(n, i):
    """The switch side (tap) of host N's NIC I."""
    return "h%d-nic%d" % (n, i)


def sh(cmd, check=True, timeout=60, **kw):
    """Runs a host command (a list); returns its stdout."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and p.returncode != 0:
        raise LabError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                (p.stderr or p.stdout).strip()))
    return p.stdout


class Guest:
    """One qemu guest: host N of the lab."""

    def __init__(self, lab, n, mem_mb=768):
        self.lab = lab
        self.n = n
        self.name = "h%d" % n
        self.dir = lab.dir
        self.mem_mb = mem_mb
        self.proc = None
        self.chan = None
        self.buf = b""
        self.next_id = 1
        self.kernel = None
        self.console = os.path.join(self.dir, self.name + ".console")
        self.ctl_path = os.path.join(self.dir, self.name + ".ctl")
        self.qmp_path = os.path.join(self.dir, self.name + ".qmp")
        self.pidfile = os.path.join(self.dir, self.name + ".pid")

    def boot(self):
        for p in (self.ctl_path, self.qmp_path):
            if os.path.exists(p):
                os.unlink(p)
        img = self.lab.image
        cmd = ["ip", "netns", "exec", SWITCH_NS,
               "qemu-system-x86_64", "-accel", "tcg,thread=multi,tb-size=128",
               "-cpu", "max", "-m", str(self.mem_mb), "-smp", "1",
               "-nodefaults", "-display", "none", "-no-reboot",
               "-kernel", os.path.join(img, "vmlinuz"),
               "-initrd", os.path.join(img, "initrd.gz"),
               "-append", "console=ttyS0 quiet panic=-1 vmlab=%s" % self.name,
               "-serial", "file:" + self.console,
               "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
               "-chardev", "socket,id=ctl,path=%s,server=on,wait=off"
               % self.ctl_path,
               "-device", "virtio-serial-pci",
               "-device", "virtserialport,chardev=ctl,name=vmlab",
               "-pidfile", self.pidfile]
        for i in (0, 1):
            cmd += ["-netdev", "tap,id=n%d,ifname=%s,script=no,downscript=no"
                    % (i, nic_name(self.n, i)),
                    "-device", "virtio-net-pci,netdev=n%d,mac=52:54:00:79:%02x:%02x%s"
                    % (i, self.n, i,
                       "" if not self.lab.linux_bond_nics
                       else ",csum=off,speed=10000,duplex=full")]
        log = open(os.path.join(self.dir, self.name + ".qemu.log"), "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def connect(self, timeout=90):
        """Waits for the guest's command channel; returns the seconds taken."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            if self.proc.poll() is not None:
                raise LabError("%s: qemu exited with %d (see %s)" % (
                    self.name, self.proc.returncode,
                    os.path.join(self.dir, self.name + ".qemu.log")))
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.ctl_path)
                self.chan = s
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise LabError("%s: no command channel" % self.name)
                time.sleep(0.05)
        line = self._readline(deadline)
        if not line.startswith("READY"):
            raise LabError("%s: unexpected greeting %r" % (self.name, line))
        self.kernel = line.split()[1] if len(line.split()) > 1 else "?"
        return time.monotonic() - start

    def _readline(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError("%s: command timed out" % self.name)
            self.chan.settimeout(left)
            try:
                data = self.chan.recv(65536)
            except socket.timeout:
                raise LabError("%s: command timed out" % self.name)
            if not data:
                raise LabError("%s: command channel closed (guest died? see %s)"
                               % (self.name, self.console))
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def run(self, script, timeout=60, check=True):
        """Runs a shell script in the guest; returns (status, output)."""
        cid = self.next_id
        self.next_id += 1
        payload = base64.b64encode(script.encode()).decode()
        self.chan.sendall(("%d %s\n" % (cid, payload)).encode())
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0] == "OUT" and parts[1] == str(cid):
                rc = int(parts[2])
                out = base64.b64decode(parts[3]).decode(errors="replace") \
                    if len(parts) > 3 else ""
                break
        self.lab.log("[%s] $ %s\n%s[%s] status %d\n" % (
            self.name, script.strip().replace("\n", "\n    "), out,
            self.name, rc))
        if check and rc != 0:
            raise LabError("%s: `%s` failed (%d): %s" % (
                self.name, script.strip().splitlines()[0], rc,
                out.strip()[-600:]))
        return rc, out

    def qmp(self, command, **arguments):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.qmp_path)
        f = s.makefile("rw")
        json.loads(f.readline())                      # the greeting
        for req in ({"execute": "qmp_capabilities"},
                    {"execute": command, "arguments": arguments}):
            f.write(json.dumps(req) + "\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "return" in reply or "error" in reply:
                    break
            if "error" in reply:
                raise LabError("%s: qmp %s: %s" % (self.name, command,
                                                    reply["error"]))
        s.close()

    def set_link(self, i, up):
        """Pulls (or plugs back) the cable of NIC I at the guest's end."""
        self.qmp("set_link", name="n%d" % i, up=up)

    def start_ovs(self):
        self.run("""
ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server /etc/openvswitch/conf.db --remote=punix:/run/openvswitch/db.sock \\
    --pidfile --detach --log-file
ovs-vsctl --no-wait init
ovs-vswitchd --pidfile --detach --log-file --disable-system-route
""")

    def configure(self, mode, datapath="netdev"):
        """Makes the guest host N of the lab: br0 with bond0 = eth0 + eth1
        (published), the host's address on br0, and on each NIC the RNIC
        an rxe device plays."""
        n = self.n
        bond_opts = "bond_mode=active-backup"
        if mode == "balance-tcp":
            # No rebalance by load: the run checks that every frame left on
            # the member the bond's published buckets name, and traffic that
            # goes through OVS (the side channel, TCP fallback under TCG's
            # slowness) would make OVS move buckets in the middle of it.
            bond_opts = ("bond_mode=balance-tcp lacp=active "
                         "other_config:lacp-time=" + LACP_TIME +
                         " other_config:bond-rebalance-interval=0")
        self.run(f"""
set -e
for i in 0 1; do
    ip link set eth$i address {host_mac(n)}
    ip link set eth$i up
done
ovs-vsctl add-br br0 -- set bridge br0 datapath_type={datapath} \\
        other_config:hwaddr={host_mac(n)} \\
    -- add-bond br0 bond0 eth0 eth1 {bond_opts} other_config:rdma-bond=true
# The RNICs take the RoCEv2 that arrives on their port: OVS drops it.
for i in 0 1; do
    ovs-ofctl add-flow br0 "priority=100,in_port=eth$i,udp,tp_dst=4791,actions=drop"
done
ip addr add {host_ip(n)}/24 dev br0
ip link set br0 up

# The RNIC of each NIC: an rxe device on it.  Its GIDs, neighbours and IP
# input are the agent's RoCE plumbing (docs/agent.md), started by the lab
# once the bonds are up: nothing of it here.
for i in 0 1; do
    rdma link add rxe$i type rxe netdev eth$i
done
""")

    def configure_linux_bond(self, mode):
        """Makes the guest host N on a Linux bond, the migration scenarios'
        starting point: bond0 = eth0 + eth1 (active-backup with primary
        eth0, or 802.3ad at the lab's LACP rate), the host's address on
        it, a static route and a permanent neighbour through it, and the
        rxe devices on the NICs.  ovs-vswitchd runs with no bridge."""
        n = self.n
        if mode == "balance-tcp":
            opts = ("mode 802.3ad miimon 100 lacp_rate %s "
                    "xmit_hash_policy layer3+4" % LACP_TIME)
        else:
            opts = "mode active-backup miimon 100 primary eth0"
        self.run(f"""
set -e
modprobe bonding max_bonds=0
ip link add bond0 type bond {opts}
for i in 0 1; do
    ip link set eth$i down
    ip link set eth$i address {host_mac(n)}
    ip link set eth$i master bond0
done
ip link set bond0 up
ip addr add {host_ip(n)}/24 dev bond0
ip route add {LINUX_BOND_ROUTE} via {host_ip(3 - n)} dev bond0
ip neigh replace {LINUX_BOND_NEIGHBOUR} lladdr 02:79:00:00:00:fa nud permanent dev bond0
for i in 0 1; do
    rdma link add rxe$i type rxe netdev eth$i
done
""")

    def kill(self):
        if self.chan:
            self.chan.close()
            self.chan = None
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Lab:
    """The switch namespace, its OVS instance and the two guests."""

    def __init__(self, top, workdir, image):
        self.top = top
        self.dir = workdir
        self.image = image
        self.ovs = os.path.join(top, "ovs")
        self.swdir = os.path.join(workdir, "sw")
        self.guests = {}
        self.captures = []
        self.capture_drops = {}
        # NICs for a Linux bond (the migration scenarios), set before boot:
        #  - without checksum offload: the switch (AF_PACKET, no vnet
        #    header) forwards a frame whose checksum was left to the device
        #    as it is, and a Linux bond's TCP goes straight out of a NIC
        #    (guests on OVS's userspace datapath send through its internal
        #    port, which completes the checksum);
        #  - with a speed and full duplex: virtio reports neither by
        #    default, and bonding's 802.3ad makes a port of unknown duplex
        #    individual (not aggregatable), so LACP never aggregates.
        self.linux_bond_nics = False
        os.makedirs(self.swdir, exist_ok=True)
        self.logf = open(os.path.join(workdir, "commands.log"), "a")

    def log(self, text):
        self.logf.write(text)
        self.logf.flush()

    # --- the switch --------------------------------------------------------

    def sw_env(self):
        env = dict(os.environ)
        env.update(OVS_RUNDIR=self.swdir, OVS_DBDIR=self.swdir,
                   OVS_LOGDIR=self.swdir, OVS_SYSCONFDIR=self.swdir)
        env["PATH"] = ":".join([os.path.join(self.ovs, d) for d in
                                ("utilities", "vswitchd", "ovsdb")] +
                               [env.get("PATH", "/usr/bin:/bin")])
        return env

    def sw(self, *cmd, check=True, timeout=30):
        out = sh(["ip", "netns", "exec", SWITCH_NS] + list(cmd), check=check,
                 timeout=timeout, env=self.sw_env())
        self.log("[sw] $ %s\n%s" % (" ".join(cmd), out))
        return out

    def vsctl(self, *args):
        return self.sw("ovs-vsctl", "--timeout=10",
                       "--db=unix:%s/db.sock" % self.swdir, *args)

    def start_switch(self):
        shutil.rmtree(self.swdir, ignore_errors=True)
        os.makedirs(self.swdir)
        sh(["ip", "netns", "add", SWITCH_NS])
        sh(["ip", "-n", SWITCH_NS, "link", "set", "lo", "up"])
        db = os.path.join(self.swdir, "conf.db")
        self.sw("ovsdb-tool", "create", db,
                os.path.join(self.ovs, "vswitchd", "vswitch.ovsschema"))
        self.sw("ovsdb-server", db, "--remote=punix:%s/db.sock" % self.swdir,
                "--pidfile", "--detach",
                "--log-file=%s/ovsdb-server.log" % self.swdir)
        self.vsctl("--no-wait", "init")
        self.sw("ovs-vswitchd", "unix:%s/db.sock" % self.swdir, "--pidfile",
                "--detach", "--log-file=%s/ovs-vswitchd.log" % self.swdir,
                "--disable-system-route")

    def configure_switch(self, mode):
        """Plain learning ports (active-backup) or an LACP port-channel per
        host whose IP is spread by the 5-tuple hash of a select group, as
        the namespace lab's switch does (docs/lab.md)."""
        self.vsctl("--if-exists", "del-br", "sw")
        for n in (1, 2):
            for i in (0, 1):
                sh(["ip", "-n", SWITCH_NS, "link", "set", nic_name(n, i), "up"])
        args = ["add-br", "sw", "--", "set", "bridge", "sw",
                "datapath_type=netdev"]
        if mode == "balance-tcp":
            for n in (1, 2):
                # A switch's port-channel hash is static: no rebalance
                # by load (which would move the flows the hosts probed).
                args += ["--", "add-bond", "sw", "h%d" % n, nic_name(n, 0),
                         nic_name(n, 1), "bond_mode=balance-tcp",
                         "lacp=active", "other_config:lacp-time=" + LACP_TIME,
                         "other_config:bond-rebalance-interval=0"]
        else:
            for n in (1, 2):
                for i in (0, 1):
                    args += ["--", "add-port", "sw", nic_name(n, i)]
        self.vsctl(*args)
        if mode == "balance-tcp":
            for n in (1, 2):
                buckets = ",".join(
                    "bucket=watch_port:%s,output:%s" % (nic_name(n, i),
                                                        nic_name(n, i))
                    for i in (0, 1))
                self.sw("ovs-ofctl", "-O", "OpenFlow15", "add-group", "sw",
                        "group_id=%d,type=select,selection_method=hash,"
                        "selection_method_param=%d,fields(ip_src,ip_dst,"
                        "tcp_src,tcp_dst,udp_src,udp_dst),%s"
                        % (n, SWITCH_HASH_BASIS, buckets))
                self.sw("ovs-ofctl", "-O", "OpenFlow15", "add-flow", "sw",
                        "priority=100,ip,nw_dst=%s,actions=group:%d"
                        % (host_ip(n), n))
            self.sw("ovs-ofctl", "add-flow", "sw", "priority=0,actions=NORMAL")

    def mac_moves(self):
        out = self.sw("ovs-appctl", "--timeout=10", "fdb/stats-show", "sw")
        for line in out.splitlines():
            if "moved" in line.lower():
                return int(line.rsplit(":", 1)[1])
        raise LabError("no moved MAC entries in fdb/stats-show: %r" % out)

    def start_capture(self, name):
        """tcpdump of RoCEv2 on every switch port; returns the pcap paths."""
        paths = {}
        for n in (1, 2):
            for i in (0, 1):
                port = nic_name(n, i)
                path = os.path.join(self.dir, "%s-%s.pcap" % (name, port))
                # A 32 MiB buffer: on a loaded host tcpdump may not run for
                # a while, and the kernel drops what its buffer cannot hold.
                p = subprocess.Popen(
                    ["ip", "netns", "exec", SWITCH_NS, "tcpdump", "-i", port,
                     "-n", "-s", "128", "-B", "32768", "-U", "-w", path,
                     "udp dst port 4791"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    start_new_session=True)
                p.path = path
                self.captures.append(p)
                paths[port] = path
        # tcpdump says "listening on" once its socket is open.
        for p in self.captures[-4:]:
            p.stderr.readline()
        return paths

    def stop_captures(self):
        """Stops the captures once they have written what they received:
        tcpdump stops at SIGINT without reading the frames still in its
        socket's buffer, so it is sent once no file has grown for 1 s
        (10 s at most).  Frames the kernel dropped are counted in
        self.capture_drops ({path: n}, from tcpdump's last words)."""
        if not self.captures:
            return
        sizes, still_since = None, time.monotonic()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = [os.path.getsize(p.path) if os.path.exists(p.path) else 0
                   for p in self.captures]
            if now != sizes:
                sizes, still_since = now, time.monotonic()
            elif time.monotonic() - still_since >= 1.0:
                break
            time.sleep(0.2)
        for p in self.captures:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in self.captures:
            try:
                _, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                _, err = p.communicate()
            m = re.search(rb"(\d+) packets? dropped by kernel", err or b"")
            self.capture_drops[p.path] = int(m.group(1)) if m else None
        self.captures = []

    # --- everything --------------------------------------------------------

    def boot(self, timeout=120):
        for n in (1, 2):
            self.guests[n] = Guest(self, n)
            self.guests[n].boot()
        took = {}
        for n in (1, 2):
            took[n] = self.guests[n].connect(timeout)
        return took

    def collect(self, tag):
        """Copies each guest's logs (OVS, agent, kernel) into the lab's
        directory, for a failure's post-mortem."""
        for g in self.guests.values():
            if not g.chan:
                continue
            try:
                _, out = g.run("for f in /var/log/openvswitch/*.log; do "
                               "echo \"=== $f\"; cat $f; done; "
                               "for f in /tmp/*.err; do [ -f $f ] || continue; "
                               "echo \"=== $f\"; tail -n 200 $f; done; "
                               "echo '=== dmesg'; dmesg | tail -100",
                               timeout=20, check=False)
            except LabError as e:
                out = "cannot collect: %s\n" % e
            with open(os.path.join(self.dir, "%s.%s.guest-logs" % (tag, g.name)),
                      "w") as f:
                f.write(out)

    def teardown(self):
        self.stop_captures()
        for g in self.guests.values():
            g.kill()
        self.guests = {}
        cleanup(self.dir)


def cleanup(workdir):
    """Kills what a lab in WORKDIR left running (this run's or an earlier
    one's) and removes the switch namespace."""
    for name in ("h1.pid", "h2.pid", "sw/ovs-vswitchd.pid",
                 "sw/ovsdb-server.pid"):
        path = os.path.join(workdir, name)
        try:
            pid = int(open(path).read().strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
    # qemu processes whose pidfile was not written yet.
    subprocess.run(["pkill", "-KILL", "-f", "qemu-system-x86_64 .*vmlab=h[12]"],
                   capture_output=True)
    subprocess.run(["ip", "netns", "del", SWITCH_NS], capture_output=True)
