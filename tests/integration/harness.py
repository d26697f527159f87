"""Network-namespace harness for tandem's integration tests.

Every test gets its own namespaces (a server and a client, joined by a veth pair, no
route out), a generated configuration and a fresh data directory. Everything started
here is stopped by PID and every namespace is deleted on exit, whatever happens.
Only the Python standard library is used so CI needs nothing from PyPI.

The server under test is tandem by default. `IT_TARGET=kea` runs the very same
scenarios against Kea's kea-dhcp6 (memfile, persist) instead: that is how the harness
itself was proven before tandem existed, and how the durability check was shown to be
able to fail (Kea with `persist: false` loses every lease at kill -9).
"""

import ipaddress
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_ADDR = "2001:db8:1::1"
SUBNET = "2001:db8:1::/64"
POOL = ("2001:db8:1::1000", "2001:db8:1::ffff:ffff")
# IT_PD_POOL: the benchmark needs more than the 65,536 /56s of the default pool.
PD_POOL, PD_LEN = os.environ.get("IT_PD_POOL", "2001:db8:100::/40"), 56
# A link behind a relay agent: no interface; chosen by the Relay-forward's link-address.
RELAY_SUBNET, RELAY_LINK_ADDR = "2001:db8:2::/64", "2001:db8:2::1"
RELAY_POOL = ("2001:db8:2::1000", "2001:db8:2::ffff:ffff")
# RFC 8156 binding status codes, as stored by tandem (see crates/tandem-store).
ACTIVE, RELEASED = 1, 3

_seq = 0


def run(cmd, check=True, **kw):
    """Run a command, raising with its output when it fails."""
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


def cleanup_on_signals():
    """Turn SIGTERM and SIGHUP into SystemExit, so that every open Topology still kills
    its processes and deletes its namespaces (`with` blocks run their __exit__)."""
    def _exit(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


def target():
    return os.environ.get("IT_TARGET", "tandem")


def tandem_binary():
    path = os.environ.get("TANDEM_BIN") or os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target"), "release", "tandem")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"tandem binary not found at {path}; build it with cargo build --release -p tandem")
    return path


class Topology:
    """Two namespaces, server and client, on one veth link.

    Namespaces are named it-<pid><n>-srv / it-<pid><n>-cli. The server side has
    2001:db8:1::1/64 (nodad); the client side has only its link-local address until
    DHCPv6 gives it more. Neither namespace has a route out.
    """

    def __init__(self, tag, srv_if=None):
        global _seq
        _seq += 1
        suffix = f"{os.getpid() % 100000}{_seq}"
        self.srv_ns = f"it-{suffix}-srv"
        self.cli_ns = f"it-{suffix}-cli"
        self.srv_if = srv_if or f"it{suffix}s0"[:15]
        self.cli_if = f"it{suffix}c0"[:15]
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix=f"tandem-it-{tag}-")
        os.chmod(self.tmp, 0o755)

    def __enter__(self):
        try:
            for ns in (self.srv_ns, self.cli_ns):
                # `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf,
                # so dhclient-script's DNS update lands there and not in the host's file.
                os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
                open(f"/etc/netns/{ns}/resolv.conf", "w").close()
                run(["ip", "netns", "add", ns])
                self.ns(ns, ["ip", "link", "set", "lo", "up"])
            run(["ip", "link", "add", self.srv_if, "netns", self.srv_ns, "type", "veth",
                 "peer", "name", self.cli_if, "netns", self.cli_ns])
            self.ns(self.srv_ns, ["ip", "-6", "addr", "add", f"{SERVER_ADDR}/64", "dev", self.srv_if, "nodad"])
            for ns, dev in ((self.srv_ns, self.srv_if), (self.cli_ns, self.cli_if)):
                self.ns(ns, ["ip", "link", "set", dev, "up"])
            self.wait_link_local(self.cli_ns, self.cli_if)
            self.wait_link_local(self.srv_ns, self.srv_if)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for ns in (self.srv_ns, self.cli_ns):
            run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        if os.environ.get("IT_KEEP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def ns(self, ns, cmd, check=True, **kw):
        return run(["ip", "netns", "exec", ns] + cmd, check=check, **kw)

    def spawn(self, ns, cmd, stdout=None, stderr=None, env=None):
        """Start a process in a namespace; it is killed (by PID) when the topology closes."""
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=stdout or subprocess.DEVNULL,
                             stderr=stderr or subprocess.DEVNULL, env=env)
        self.procs.append(p)
        return p

    def wait_link_local(self, ns, dev, timeout=10):
        wait_link_local_in(self, ns, dev, timeout)

    def client_addresses(self):
        out = self.ns(self.cli_ns, ["ip", "-6", "-o", "addr", "show", "dev", self.cli_if, "scope", "global"]).stdout
        return set(re.findall(r"inet6 ([0-9a-f:]+)/", out))


def wait_link_local_in(topo, ns, dev, timeout=10):
    """Until `dev` in `ns` has a usable (non-tentative) link-local address."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = topo.ns(ns, ["ip", "-6", "addr", "show", "dev", dev, "scope", "link"]).stdout
        if "fe80::" in out and "tentative" not in out:
            return
        time.sleep(0.1)
    raise RuntimeError(f"no link-local address on {dev} in {ns}")


def read_leases(path):
    """Leases in a tandem SQLite database: {"addr" or "prefix/len": row dict}."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT kind, addr, plen, status, hex(duid), iaid, cltt, valid, state_expiration "
                            "FROM leases").fetchall()
    finally:
        conn.close()
    out = {}
    for kind, addr, plen, status, duid, iaid, cltt, valid, state_expiration in rows:
        # kind 2: a DHCPv4 address (4 bytes), keyed as a dotted quad.
        ip = ipaddress.IPv4Address(bytes(addr)) if kind == 2 else ipaddress.IPv6Address(bytes(addr))
        key = str(ip) if kind in (0, 2) else f"{ip}/{plen}"
        # A failover partner's copy has no client transaction time of its own (cltt 0):
        # the state's expiration is the lease end on both.
        expires = state_expiration if state_expiration is not None else cltt + valid
        out[key] = dict(status=status, duid=duid.lower(), iaid=iaid, cltt=cltt, expires=expires)
    return out


def tandem_config(topo, data_dir, preferred=3000, valid=4000, renew=1000, rebind=2000):
    """A tandem configuration for the topology's server side (see examples/tandem.toml)."""
    cfg = f"""
[server]
interfaces = ["{topo.srv_if}"]
data_dir = "{data_dir}"
log_level = "info"

[options]
dns_servers = ["2001:db8:1::53"]
domain_search = ["example.org"]

[[subnet6]]
id = 1
prefix = "{SUBNET}"
interface = "{topo.srv_if}"
preferred_lifetime = {preferred}
valid_lifetime = {valid}
renew_time = {renew}
rebind_time = {rebind}
pools = [{{ first = "{POOL[0]}", last = "{POOL[1]}" }}]
pd_pools = [{{ prefix = "{PD_POOL}", delegated_len = {PD_LEN} }}]

[[subnet6]]
id = 2
prefix = "{RELAY_SUBNET}"
preferred_lifetime = {preferred}
valid_lifetime = {valid}
renew_time = {renew}
rebind_time = {rebind}
pools = [{{ first = "{RELAY_POOL[0]}", last = "{RELAY_POOL[1]}" }}]
"""
    path = os.path.join(topo.tmp, "tandem.toml")
    with open(path, "w") as f:
        f.write(cfg)
    return path


def wait_port(topo, proc, what, log, port=547, ns=None):
    """Ready when the server's UDP socket on `port` (547 DHCPv6, 67 DHCPv4) exists in its
    namespace (default: the topology's server namespace)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log()}")
        out = topo.ns(ns or topo.srv_ns, ["ss", "-u", "-l", "-n", "-H"]).stdout
        if re.search(rf":{port}\s", out):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not bind port {port}:\n{log()}")


class ServerProcess:
    """Stop and crash a server started in a namespace (tandem or Kea alike)."""

    name = "server"
    proc = None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError(f"{self.name} did not stop within {timeout}s after {sig}")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


class Tandem(ServerProcess):
    """One tandem process in the server namespace, with its SQLite lease store."""

    name = "tandem"

    def __init__(self, topo, data_dir, cpu=None, config=None, **lifetimes):
        self.topo, self.data_dir, self.cpu = topo, data_dir, cpu
        self.config = config or tandem_config(topo, data_dir, **lifetimes)
        self.proc = None
        self.log_path = os.path.join(topo.tmp, "tandem.log")

    def launch(self):
        """Start the process without waiting for it to bind (see start)."""
        log = open(self.log_path, "a")
        cmd = [tandem_binary(), "serve", "--config", self.config]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        # NO_COLOR: plain log text in the log file and in failure messages.
        self.proc = self.topo.spawn(self.topo.srv_ns, cmd, stdout=log, stderr=log, env=dict(os.environ, NO_COLOR="1"))
        return self

    def start(self):
        self.launch()
        wait_port(self.topo, self.proc, "tandem", self.log)
        return self

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def leases(self):
        """Leases in tandem's SQLite database: {"addr" or "prefix/len": row dict}."""
        return read_leases(os.path.join(self.data_dir, "leases.db"))


def make_server(topo, data_dir, cpu=None, **lifetimes):
    """The server under test (IT_TARGET: tandem, the default, or kea)."""
    if target() == "kea":
        from kea import Kea
        return Kea(topo, data_dir, cpu=cpu, persist=os.environ.get("IT_KEA_PERSIST", "1") == "1", **lifetimes)
    return Tandem(topo, data_dir, cpu=cpu, **lifetimes)
