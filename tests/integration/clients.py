"""Real DHCPv6 clients driven from the client namespace: ISC dhclient and Kea's perfdhcp."""

import os
import re
import signal
import subprocess
import time


class Dhclient:
    """One `dhclient -6` in the foreground (-d), with its own lease, pid and config files;
    on the topology's client link, or on the link named by `ns` and `iface` (a pair
    topology's relayed client: ns=topo.rcli_ns, iface=topo.rcli_if)."""

    def __init__(self, topo, name, prefix=False, address=True, ns=None, iface=None):
        self.topo = topo
        self.ns = ns or topo.cli_ns
        self.iface = iface or topo.cli_if
        self.flags = (["-N"] if address else []) + (["-P"] if prefix else [])
        base = os.path.join(topo.tmp, name)
        self.lease_file = base + ".leases"
        self.pid_file = base + ".pid"
        self.conf_file = base + ".conf"
        with open(self.conf_file, "w") as f:
            f.write("")
        self.proc = None
        self.log_path = base + ".log"

    def _cmd(self, *extra):
        return ["dhclient", "-6", "-v", "-1", *self.flags, "-lf", self.lease_file, "-pf", self.pid_file,
                "-cf", self.conf_file, *extra, self.iface]

    def start(self):
        log = open(self.log_path, "a")
        self.proc = self.topo.spawn(self.ns, self._cmd("-d"), stdout=log, stderr=log)
        return self

    def stop(self):
        """Stop without releasing (SIGTERM: dhclient exits and keeps its lease file)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def release(self, timeout=20):
        """`dhclient -6 -r`: send Release for what the lease file holds."""
        self.stop()
        return self.topo.ns(self.ns, ["timeout", str(timeout)] + self._cmd("-r"), check=False)

    def leases_text(self):
        try:
            with open(self.lease_file) as f:
                return f.read()
        except OSError:
            return ""

    def last_lease(self):
        """(addresses, prefixes) of the newest lease6 block in the lease file."""
        leases = self.leases()
        return leases[-1][:2] if leases else (set(), set())

    def leases(self):
        """Every lease6 block in the lease file, oldest first: (addresses, prefixes,
        server-id as lower-case hex without colons)."""
        out = []
        for block in self.leases_text().split("lease6 {")[1:]:
            addrs = set(re.findall(r"iaaddr ([0-9a-f:]+) \{", block))
            prefixes = set(re.findall(r"iaprefix ([0-9a-f:]+/\d+) \{", block))
            m = re.search(r"option dhcp6\.server-id ([0-9a-f:]+);", block)
            # dhclient writes bytes without leading zeros (0:1:0:1:...).
            sid = "".join(f"{int(b, 16):02x}" for b in m.group(1).split(":")) if m else ""
            out.append((addrs, prefixes, sid))
        return out

    def wait_bound(self, want_address=True, want_prefix=False, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            addrs, prefixes = self.last_lease()
            if (addrs or not want_address) and (prefixes or not want_prefix):
                return addrs, prefixes
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"dhclient got no lease within {timeout}s; log:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-3000:]
        except OSError:
            return ""


def parse_perfdhcp(text):
    """perfdhcp's per-exchange statistics: {"SOLICIT-ADVERTISE": {"sent packets": n, ...}}."""
    stats = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line.strip())
        if m:
            current = stats.setdefault(m.group(1), {})
            continue
        m = re.match(r"\s*([a-z ]+): ([0-9.]+)", line)
        if m and current is not None:
            current[m.group(1).strip()] = float(m.group(2))
    return stats


def perfdhcp(topo, *, clients, exchanges, rate, lease_type="address-only", relayed=False, seed=1,
             period=120, extra=(), timeout=300):
    """Run perfdhcp -6 from the client namespace and return (stats, raw output)."""
    cmd = ["timeout", str(timeout), "perfdhcp", "-6", "-l", topo.cli_if, "-R", str(clients),
           "-n", str(exchanges), "-r", str(rate), "-p", str(period), "-s", str(seed), "-e", lease_type,
           "-W", "2000000", *extra]
    if relayed:
        cmd += ["-A", "1"]
    res = topo.ns(topo.cli_ns, cmd, check=False)
    out = res.stdout + res.stderr
    return parse_perfdhcp(out), out


def udp6_counters(topo, ns):
    """The namespace's UDP/IPv6 counters from /proc/net/snmp6 (Udp6InDatagrams,
    Udp6OutDatagrams, Udp6RcvbufErrors, ...): what its kernel received, sent and dropped."""
    out = topo.ns(ns, ["cat", "/proc/net/snmp6"]).stdout
    return {f[0]: int(f[1]) for f in (l.split() for l in out.splitlines()) if len(f) == 2 and f[0].startswith("Udp6")}


class KernelUdp6:
    """The UDP/IPv6 counters of the server's and the client's namespaces around a load run."""

    def __init__(self, topo):
        self.topo = topo
        self.srv0, self.cli0 = udp6_counters(topo, topo.srv_ns), udp6_counters(topo, topo.cli_ns)

    def delta(self, ns, before):
        after = udp6_counters(self.topo, ns)
        return {k: after[k] - before.get(k, 0) for k in after}

    def check_answered(self, stats, context=""):
        """Every exchange perfdhcp started was answered by the server. The server's kernel
        shows it exactly: no receive-buffer overflow and one datagram out per datagram in.
        perfdhcp counts as dropped an answer its own socket overflowed on (perfdhcp not
        scheduled for a while, e.g. on a loaded 2-core CI machine): those are allowed, up to
        1% of the exchanges, and only as many as its kernel counted. Returns the drops."""
        srv = self.delta(self.topo.srv_ns, self.srv0)
        cli = self.delta(self.topo.cli_ns, self.cli0)
        assert srv.get("Udp6RcvbufErrors", 0) == 0, f"server socket overflowed: {srv}{context}"
        assert srv["Udp6OutDatagrams"] == srv["Udp6InDatagrams"], f"unanswered datagrams at the server: {srv}{context}"
        sa, rr = stats["SOLICIT-ADVERTISE"], stats["REQUEST-REPLY"]
        overflow = cli.get("Udp6RcvbufErrors", 0)
        assert overflow <= sa.get("sent packets", 0) / 100, f"perfdhcp's socket dropped {overflow} answers (> 1%): {cli}"
        drops = sa.get("drops", 1) + rr.get("drops", 1)
        assert drops <= overflow, \
            f"{drops:.0f} exchanges unanswered, {overflow} of them lost in perfdhcp's socket: {sa} {rr}{context}"
        return drops


class PerfdhcpLoad:
    """perfdhcp -6 in the background at a steady `rate` (exchanges per second, new clients
    each time), bounded in count (rate * seconds), in time (-p seconds, and `timeout`) and
    stopped by PID when the test is done with it."""

    def __init__(self, topo, *, rate, seconds, name="load", clients=1_000_000, seed=7):
        self.topo, self.rate, self.seconds = topo, rate, seconds
        self.out_path = os.path.join(topo.tmp, name + ".perfdhcp")
        self.cmd = ["timeout", str(seconds + 30), "perfdhcp", "-6", "-l", topo.cli_if, "-R", str(clients),
                    "-n", str(rate * seconds), "-r", str(rate), "-p", str(seconds), "-s", str(seed),
                    "-e", "address-only", "-W", "2000000", "-u"]
        self.proc = None
        self.started = self.stopped = None

    def start(self):
        out = open(self.out_path, "w")
        self.proc = self.topo.spawn(self.topo.cli_ns, self.cmd, stdout=out, stderr=out)
        self.started = time.time()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGINT: perfdhcp prints its statistics and exits. Returns (stats, raw output)."""
        if self.running():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.stopped is None:
            self.stopped = time.time()
        try:
            with open(self.out_path) as f:
                out = f.read()
        except OSError:
            out = ""
        return parse_perfdhcp(out), out


def replied_resources(pcap):
    """Every address and "prefix/len" carried in a Reply (message type 7) in a capture.

    Relay-reply encapsulation is unwrapped by tshark's dissector, so relayed runs work too."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "dhcpv6.msgtype == 7", "-T", "fields",
                          "-E", "occurrence=a", "-E", "aggregator=,",
                          "-e", "dhcpv6.iaaddr.ip", "-e", "dhcpv6.iaprefix.pref_addr",
                          "-e", "dhcpv6.iaprefix.pref_len"], capture_output=True, text=True, check=True)
    replied = set()
    for line in res.stdout.splitlines():
        addr, pfx, plen = (line.split("\t") + ["", "", ""])[:3]
        replied.update(a for a in addr.split(",") if a)
        for p, n in zip([p for p in pfx.split(",") if p], [n for n in plen.split(",") if n]):
            replied.add(f"{p}/{n}")
    return replied


def reply_lifetimes(pcap):
    """(T1, T2, preferred, valid) of every IA_NA address in a Reply (message type 7)."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "dhcpv6.msgtype == 7", "-T", "fields",
                          "-E", "occurrence=f", "-e", "dhcpv6.iaid.t1", "-e", "dhcpv6.iaid.t2",
                          "-e", "dhcpv6.iaaddr.pref_lifetime", "-e", "dhcpv6.iaaddr.valid_lifetime"],
                         capture_output=True, text=True, check=True)
    out = []
    for line in res.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and all(fields):
            out.append(tuple(int(f, 0) for f in fields))
    return out


def outer_message_types(pcap):
    """{message type of the outermost DHCPv6 header: packet count} for the server's
    messages in a capture (2 Advertise, 7 Reply, 13 Relay-reply; client messages ignored)."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "dhcpv6", "-T", "fields", "-E", "occurrence=f",
                          "-e", "dhcpv6.msgtype"], capture_output=True, text=True, check=True)
    counts = {}
    for line in res.stdout.split():
        if int(line) in (2, 7, 13):
            counts[int(line)] = counts.get(int(line), 0) + 1
    return counts


class Capture:
    """dumpcap on the client's veth (or on `iface` in `ns`): DHCPv6 both ways (UDP 546 and
    547; a Relay-reply goes to the relay agent's port 547), or what `bpf` selects."""

    def __init__(self, topo, name, ns=None, iface=None, bpf="udp port 546 or udp port 547"):
        self.topo, self.path = topo, os.path.join(topo.tmp, name + ".pcapng")
        self.ns, self.iface = ns or topo.cli_ns, iface or topo.cli_if
        self.bpf = bpf
        self.proc = None

    def start(self):
        self.proc = self.topo.spawn(self.ns, ["dumpcap", "-q", "-i", self.iface, "-f", self.bpf,
                                              "-w", self.path])
        deadline = time.time() + 10
        while not os.path.exists(self.path) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # dumpcap creates the file a moment before it captures
        return self

    def stop(self):
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)  # dumpcap finishes the file
        self.proc.wait(timeout=10)
        return self.path


def malformed_packets(pcap):
    """Frames tshark flags as malformed or with an expert error: an independent check of
    the server's DHCPv6 encoding. Returns (count, first few descriptions)."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity >= error",
                          "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"],
                         capture_output=True, text=True, check=True)
    lines = [l for l in res.stdout.splitlines() if l.strip()]
    return len(lines), lines[:3]


def relay_messages(pcap):
    """Every RELAY-FORW (12) and RELAY-REPL (13) in a capture, oldest first, as dicts: time
    (Unix seconds), src, dst, types (outer first: [12, 6] is a relayed Rebind), link
    (the link-address), ifid (Interface-ID, hex), addrs and prefixes ("p/len") inside."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "dhcpv6.msgtype == 12 || dhcpv6.msgtype == 13",
                          "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
                          "-e", "frame.time_epoch", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "dhcpv6.msgtype",
                          "-e", "dhcpv6.linkaddr", "-e", "dhcpv6.interface_id", "-e", "dhcpv6.iaaddr.ip",
                          "-e", "dhcpv6.iaprefix.pref_addr", "-e", "dhcpv6.iaprefix.pref_len"],
                         capture_output=True, text=True, check=True)
    out = []
    for line in res.stdout.splitlines():
        f = (line.split("\t") + [""] * 9)[:9]
        split = lambda v: [x for x in v.split(",") if x]  # noqa: E731
        out.append(dict(time=float(f[0]), src=f[1], dst=f[2], types=[int(t) for t in split(f[3])],
                        link=(split(f[4]) or [""])[0], ifid=f[5].replace(":", "").lower(),
                        addrs=set(split(f[6])),
                        prefixes={f"{p}/{n}" for p, n in zip(split(f[7]), split(f[8]))}))
    return out
