"""A tandem failover pair in network namespaces: primary, secondary and a client on one
link (a bridge), plus a separate server-to-server link that the tests can cut.

    it-<id>-pri  --pri0--+                      +--fo-- it-<id>-sec (2001:db8:ff::2)
    (2001:db8:1::1,      |  bridge in it-<id>-br |
     2001:db8:ff::1)     +--sec0-- it-<id>-sec   |
                         +--cli0-- it-<id>-cli   (dhclient, perfdhcp)

With `relay=True` a second client link sits behind a real DHCPv6 relay agent (ISC
dhcrelay -6) in its own namespace, hung off the same bridge:

    it-<id>-rcli --rc-- it-<id>-rly --ru-- bridge
    (dhclient)          (lower 2001:db8:2::1/64, upper 2001:db8:1::3/64)

The relay forwards to each member's address on the servers' link and puts 2001:db8:2::1
in link-address, which selects the members' relayed subnet (RELAY_SUBNET, no
`interface`); with -I it also sends an Interface-ID. Routes stay inside 2001:db8::/32:
the servers reach 2001:db8:2::/64 through the relay.

The failover link is a veth pair directly between the two server namespaces; "cutting" it
sets both ends down (packets vanish, as in a real partition). A "silent" cut leaves the
link up and drops the failover TCP traffic (port 647) with nftables in both server
namespaces: no RST, no ICMP, no link-down event, so only the failover keep-alive timers can
notice. Nothing routes out.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import (PD_LEN, POOL, RELAY_LINK_ADDR, RELAY_POOL, RELAY_SUBNET, REPO, SUBNET, run, tandem_binary,
                     wait_link_local_in)

PD_POOL = "2001:db8:100::/48"
# Prefixes delegated to clients of the relayed link (subnet6 id 2): 1,024 /56s, so that
# 400 perfdhcp clients during a partition fit in either member's share even though both
# members answer every Solicit and each holds what it offered.
RELAY_PD_POOL = "2001:db8:200::/46"
LINK_ADDRS = {"pri": "2001:db8:1::1", "sec": "2001:db8:1::2"}
# The relay agent's address on the servers' link (its upper interface).
RELAY_UPPER_ADDR = "2001:db8:1::3"
FO_ADDRS = {"pri": "2001:db8:ff::1", "sec": "2001:db8:ff::2"}
# The failover TCP port (RFC 8156 §6) and the nftables table of a silent cut.
FO_PORT = 647
NFT_TABLE = "tandem_it_partition"

_seq = 0


class PairTopology:
    def __init__(self, tag, srv_if=None, relay=False):
        global _seq
        _seq += 1
        sfx = f"{os.getpid() % 100000}{_seq}"
        self.id = sfx
        self.relay = relay
        self.nss = {k: f"it-{sfx}-{k}" for k in ("pri", "sec", "cli", "br") + (("rly", "rcli") if relay else ())}
        self.cli_ns = self.nss["cli"]
        self.cli_if = f"it{sfx}c"[:15]
        # Behind the relay (relay=True): the relayed client's interface, the relay's lower
        # (client-side) and upper (server-side) interfaces.
        self.rcli_ns = self.nss.get("rcli")
        self.rcli_if = f"it{sfx}rc"[:15]
        self.rly_lower = f"it{sfx}rl"[:15]
        self.rly_upper = f"it{sfx}ru"[:15]
        self.relay_proc = None
        # Each member's client-side interface; one name for both is fine (own namespaces).
        self.srv_if = {"pri": srv_if or f"it{sfx}p"[:15], "sec": srv_if or f"it{sfx}s"[:15]}
        self.fo_if = {"pri": f"it{sfx}fp"[:15], "sec": f"it{sfx}fs"[:15]}
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix=f"tandem-pair-{tag}-")
        os.chmod(self.tmp, 0o755)

    def ns(self, ns, cmd, check=True, **kw):
        return run(["ip", "netns", "exec", ns] + cmd, check=check, **kw)

    def spawn(self, ns, cmd, stdout=None, stderr=None, env=None):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=stdout or subprocess.DEVNULL,
                             stderr=stderr or subprocess.DEVNULL, env=env)
        self.procs.append(p)
        return p

    def __enter__(self):
        try:
            for ns in self.nss.values():
                os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
                open(f"/etc/netns/{ns}/resolv.conf", "w").close()
                run(["ip", "netns", "add", ns])
                self.ns(ns, ["ip", "link", "set", "lo", "up"])
            br = self.nss["br"]
            self.ns(br, ["ip", "link", "add", "br0", "type", "bridge"])
            self.ns(br, ["ip", "link", "set", "br0", "up"])
            # Client link: each member and the client hang off the bridge.
            for who, dev, ns in (("pri", self.srv_if["pri"], self.nss["pri"]),
                                 ("sec", self.srv_if["sec"], self.nss["sec"]),
                                 ("cli", self.cli_if, self.nss["cli"])):
                peer = f"b{self.id}{who}"[:15]
                run(["ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer, "netns", br])
                self.ns(br, ["ip", "link", "set", peer, "master", "br0"])
                self.ns(br, ["ip", "link", "set", peer, "up"])
                self.ns(ns, ["ip", "link", "set", dev, "up"])
                if who in LINK_ADDRS:
                    self.ns(ns, ["ip", "-6", "addr", "add", f"{LINK_ADDRS[who]}/64", "dev", dev, "nodad"])
            if self.relay:
                self._relay_link(br)
            # Server-to-server link.
            run(["ip", "link", "add", self.fo_if["pri"], "netns", self.nss["pri"], "type", "veth",
                 "peer", "name", self.fo_if["sec"], "netns", self.nss["sec"]])
            for who in ("pri", "sec"):
                self.ns(self.nss[who], ["ip", "-6", "addr", "add", f"{FO_ADDRS[who]}/64", "dev",
                                        self.fo_if[who], "nodad"])
                self.ns(self.nss[who], ["ip", "link", "set", self.fo_if[who], "up"])
            # Kea binds its link-local address at start; tandem does not need it yet.
            for who, dev in (("cli", self.cli_if), ("pri", self.srv_if["pri"]), ("sec", self.srv_if["sec"])):
                wait_link_local_in(self, self.nss[who], dev)
            if self.relay:
                for who, dev in (("rcli", self.rcli_if), ("rly", self.rly_lower), ("rly", self.rly_upper)):
                    wait_link_local_in(self, self.nss[who], dev)
            make_pki(self)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _relay_link(self, br):
        """The relay namespace: upper interface on the bridge, lower one to the relayed
        client's namespace; a route to the relayed link in each server namespace."""
        rly, rcli = self.nss["rly"], self.nss["rcli"]
        peer = f"b{self.id}rly"[:15]
        run(["ip", "link", "add", self.rly_upper, "netns", rly, "type", "veth", "peer", "name", peer, "netns", br])
        self.ns(br, ["ip", "link", "set", peer, "master", "br0"])
        self.ns(br, ["ip", "link", "set", peer, "up"])
        run(["ip", "link", "add", self.rly_lower, "netns", rly, "type", "veth", "peer", "name", self.rcli_if,
             "netns", rcli])
        self.ns(rly, ["ip", "-6", "addr", "add", f"{RELAY_UPPER_ADDR}/64", "dev", self.rly_upper, "nodad"])
        self.ns(rly, ["ip", "-6", "addr", "add", f"{RELAY_LINK_ADDR}/64", "dev", self.rly_lower, "nodad"])
        for ns, dev in ((rly, self.rly_upper), (rly, self.rly_lower), (rcli, self.rcli_if)):
            self.ns(ns, ["ip", "link", "set", dev, "up"])
        for who in ("pri", "sec"):
            self.ns(self.nss[who], ["ip", "-6", "route", "add", RELAY_SUBNET, "via", RELAY_UPPER_ADDR,
                                    "dev", self.srv_if[who]])

    def start_relay(self, interface_id=True):
        """ISC dhcrelay -6 in the foreground (-d): clients' messages from the lower
        interface go to All_DHCP_Relay_Agents_and_Servers (ff02::1:2) on the upper one, as
        RELAY-FORW with link-address 2001:db8:2::1 and (-I) an Interface-ID (RFC 8415 §19.1)."""
        self.relay_log = os.path.join(self.tmp, "dhcrelay.log")
        # dhcrelay's default destination is All_DHCP_Servers (ff05::1:3, RFC 8415 §7.1),
        # which tandem does not join (it listens on ff02::1:2 and unicast): name each
        # member's address on the upper link instead, as a relay of a failover pair is
        # usually set up.
        cmd = ["dhcrelay", "-6", "-d", "--no-pid"] + (["-I"] if interface_id else []) + \
            ["-l", self.rly_lower] + \
            [a for who in ("pri", "sec") for a in ("-u", f"{LINK_ADDRS[who]}%{self.rly_upper}")]
        log = open(self.relay_log, "a")
        self.relay_proc = self.spawn(self.nss["rly"], cmd, stdout=log, stderr=log)
        # Up once its port 547 socket exists (it binds before it relays anything).
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.relay_proc.poll() is not None:
                raise RuntimeError(f"dhcrelay exited with {self.relay_proc.returncode}:\n{self.relay_log_text()}")
            if ":547 " in self.ns(self.nss["rly"], ["ss", "-u", "-l", "-n", "-H"]).stdout:
                return self.relay_proc
            time.sleep(0.1)
        raise RuntimeError(f"dhcrelay did not bind port 547:\n{self.relay_log_text()}")

    def relay_log_text(self):
        try:
            with open(self.relay_log) as f:
                return f.read()[-3000:]
        except (OSError, AttributeError):
            return ""

    def link_local(self, who, dev=None):
        """The link-local address of `who`'s interface on the servers' link."""
        import re
        dev = dev or self.srv_if[who]
        out = self.ns(self.nss[who], ["ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link"]).stdout
        m = re.search(r"inet6 (fe80::[0-9a-f:]+)/", out)
        return m.group(1) if m else None

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for ns in self.nss.values():
            run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        if os.environ.get("IT_KEEP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def cut(self):
        for who in ("pri", "sec"):
            self.ns(self.nss[who], ["ip", "link", "set", self.fo_if[who], "down"])

    def heal(self):
        for who in ("pri", "sec"):
            self.ns(self.nss[who], ["ip", "link", "set", self.fo_if[who], "up"])
            self.ns(self.nss[who], ["ip", "-6", "addr", "replace", f"{FO_ADDRS[who]}/64", "dev",
                                    self.fo_if[who], "nodad"])

    def silent_cut(self):
        """Drop (never reject) every failover TCP segment in and out of both servers, in
        one nftables transaction per namespace: the connections stay ESTABLISHED and
        nothing tells either side that the partner is gone."""
        ruleset = (f"table inet {NFT_TABLE} {{\n"
                   "  chain in { type filter hook input priority 0; policy accept;\n"
                   f"    tcp dport {FO_PORT} drop\n    tcp sport {FO_PORT} drop\n  }}\n"
                   "  chain out { type filter hook output priority 0; policy accept;\n"
                   f"    tcp dport {FO_PORT} drop\n    tcp sport {FO_PORT} drop\n  }}\n"
                   "}\n")
        for who in ("pri", "sec"):
            self.ns(self.nss[who], ["nft", "-f", "-"], input=ruleset)

    def silent_heal(self):
        for who in ("pri", "sec"):
            self.ns(self.nss[who], ["nft", "delete", "table", "inet", NFT_TABLE], check=False)

    def client_addresses(self, relayed=False):
        """Global addresses on the direct client's interface (or, relayed=True, on the
        relayed client's)."""
        import re
        ns, dev = (self.rcli_ns, self.rcli_if) if relayed else (self.cli_ns, self.cli_if)
        out = self.ns(ns, ["ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "global"]).stdout
        return set(re.findall(r"inet6 ([0-9a-f:]+)/", out))


def make_pki(topo, name="pki"):
    """A test CA and member certificates (scripts/make-test-ca.sh) under the topology's dir."""
    d = os.path.join(topo.tmp, name)
    run(["bash", os.path.join(REPO, "scripts", "make-test-ca.sh"), d])
    return d


def member_config(topo, who, data_dir, mclt=30, auto_partner_down=None, valid=120, renew=10, rebind=20,
                  pki="pki", insecure=False, keepalive=6):
    role = "primary" if who == "pri" else "secondary"
    if insecure:
        tls = "insecure = true"
    else:
        pki_dir = os.path.join(topo.tmp, pki)
        name = "primary" if who == "pri" else "secondary"
        tls = (f'cert = "{pki_dir}/{name}.crt"\nkey = "{pki_dir}/{name}.key"\nca = "{pki_dir}/ca.crt"\n'
               f'server_name = "tandem-{"secondary" if who == "pri" else "primary"}"')
    other = "sec" if who == "pri" else "pri"
    apd = f"auto_partner_down = {auto_partner_down}" if auto_partner_down else ""
    text = f"""
[server]
interfaces = ["{topo.srv_if[who]}"]
data_dir = "{data_dir}"
log_level = "info,tandem_server=debug"

[[subnet6]]
id = 1
prefix = "{SUBNET}"
interface = "{topo.srv_if[who]}"
preferred_lifetime = {valid // 2}
valid_lifetime = {valid}
renew_time = {renew}
rebind_time = {rebind}
pools = [{{ first = "{POOL[0]}", last = "{POOL[1]}" }}]
pd_pools = [{{ prefix = "{PD_POOL}", delegated_len = {PD_LEN} }}]

# The link behind a relay agent: no interface; chosen by the RELAY-FORW's link-address.
[[subnet6]]
id = 2
prefix = "{RELAY_SUBNET}"
preferred_lifetime = {valid // 2}
valid_lifetime = {valid}
renew_time = {renew}
rebind_time = {rebind}
pools = [{{ first = "{RELAY_POOL[0]}", last = "{RELAY_POOL[1]}" }}]
pd_pools = [{{ prefix = "{RELAY_PD_POOL}", delegated_len = {PD_LEN} }}]

[failover]
role = "{role}"
relationship = "it"
peer_address = "{FO_ADDRS[other]}"
listen_address = "{FO_ADDRS[who]}"
mclt = {mclt}
keepalive = {keepalive}
startup = 3
{apd}

[failover.tls]
{tls}
"""
    path = os.path.join(topo.tmp, f"{who}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Member:
    """One tandem pair member in its namespace."""

    def __init__(self, topo, who, **kw):
        self.topo, self.who = topo, who
        self.data_dir = os.path.join(topo.tmp, f"{who}-data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.config = member_config(topo, who, self.data_dir, **kw)
        self.log_path = os.path.join(topo.tmp, f"{who}.log")
        self.proc = None

    def start(self):
        # A kill -9 leaves the control socket file behind; the new process replaces it.
        try:
            os.unlink(os.path.join(self.data_dir, "tandem.ctl"))
        except FileNotFoundError:
            pass
        log = open(self.log_path, "a")
        self.proc = self.topo.spawn(self.topo.nss[self.who], [tandem_binary(), "serve", "--config", self.config],
                                    stdout=log, stderr=log, env=dict(os.environ, NO_COLOR="1"))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.who} exited with {self.proc.returncode}:\n{self.log()}")
            if os.path.exists(os.path.join(self.data_dir, "tandem.ctl")):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.who} did not come up:\n{self.log()}")

    def start_plain(self):
        """Start without waiting for the control socket (a configuration without [failover])."""
        log = open(self.log_path, "a")
        self.proc = self.topo.spawn(self.topo.nss[self.who], [tandem_binary(), "serve", "--config", self.config],
                                    stdout=log, stderr=log, env=dict(os.environ, NO_COLOR="1"))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.who} exited with {self.proc.returncode}:\n{self.log()}")
            out = self.topo.ns(self.topo.nss[self.who], ["ss", "-u", "-l", "-n", "-H"]).stdout
            if ":547 " in out:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.who} did not bind port 547:\n{self.log()}")

    def log(self):
        return self.log_text()[-5000:]

    def log_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def state_changes(self, since=0):
        """The states entered, in order, from the log (from byte offset `since`)."""
        import re
        return re.findall(r"failover state changed from=\S+ to=(\S+)", self.log_text()[since:])

    def entered_at(self, state, since=0):
        """Wall-clock time (Unix seconds, from the log line's timestamp) at which the member
        first entered `state` after log byte offset `since`, or None."""
        import datetime
        import re
        m = re.search(r"^(\S+)\s+INFO .*failover state changed from=\S+ to=" + re.escape(state) + r"\b",
                      self.log_text()[since:], re.M)
        if not m:
            return None
        return datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()

    def ctl(self, *args, check=True):
        out = self.topo.ns(self.topo.nss[self.who], [tandem_binary(), "ctl", "--socket",
                                                     os.path.join(self.data_dir, "tandem.ctl"), "--json", *args],
                           check=False)
        if check and out.returncode != 0:
            raise AssertionError(f"tandem ctl {' '.join(args)} on {self.who} failed: {out.stdout}{out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def status(self):
        return self.ctl("status")

    def wait_state(self, state, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.who} died:\n{self.log()}")
            try:
                last = self.status()
            except (AssertionError, ValueError):
                last = None
            if last and last["state"] == state:
                return last
            time.sleep(0.3)
        raise AssertionError(f"{self.who} not {state} within {timeout}s (last: {last})\n{self.log()}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def leases(self):
        from harness import read_leases
        return read_leases(os.path.join(self.data_dir, "leases.db"))

    def server_duid(self):
        """The member's server DUID (kept in its lease database), lower-case hex."""
        import sqlite3
        conn = sqlite3.connect(f"file:{os.path.join(self.data_dir, 'leases.db')}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("SELECT hex(value) FROM meta WHERE key = 'server_duid'").fetchone()
        finally:
            conn.close()
        return row[0].lower() if row else None
