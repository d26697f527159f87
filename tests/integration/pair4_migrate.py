"""Migrating a running ISC dhcpd 4.4 failover pair to tandem with no downtime, one server
at a time (docs/migrating-from-dhcpd.md §4-§6), against real dhcpd in the namespaces of
pair4.PairTopology4, with real clients bound and renewing throughout:

- four dhclient -4 on the client link (client ids in both RFC 3074 hash halves under
  split 128, so each server answers two of them), with a short lease (T1/T2 come during
  every phase, so they renew and, when their server goes away, rebind);
- perfdhcp -4 as a relay agent binding ~130 clients on the relayed link (long leases:
  bindings that only the failover protocol carries from one server to the next).

A phase replaces one dhcpd with a tandem whose store is empty (or, in the second
scenario, holds dhcpd's imported lease file): tandem goes RECOVER, asks for every binding
(UPDREQALL, draft-12 §7.7), the partner sends them (BNDUPD) and UPDDONE (§7.8), tandem
waits RECOVER-WAIT (MCLT, §8.6.2), RECOVER-DONE, and both go NORMAL (§8.7). Throughout:
no client ever loses its address (no DHCPNAK, no DISCOVER after the first bind, one
address per client in its lease file) and no address is ACTIVE for two clients on any
server.
"""

import os
import re
import sqlite3
import subprocess
import time

from dhcpd import Dhcpd, subnet_decl
from dhcp4 import Dhclient4
from harness import ACTIVE, tandem_binary
from pair4 import (FO4, GIADDR, LINK4, PEER, SUBNET4, Member4, PairTopology4, dhcpd_failover_conf,
                   failover_capture, link_summary, wait_for)

# The shortest tandem allows (RFC 8156 §1: no failover lease under 30 s). RECOVER-WAIT
# (MCLT from tandem's start) then outlasts a client's T2 (7/8 of its lease): every client
# of the server being replaced must rebind to the other one.
MCLT = 30
SHORT = 30   # the client link's lease (dhclient): T1 15 s, T2 26 s
LONG = 600   # the relayed link's lease (perfdhcp's clients do not renew)
# (name, client id, the server of its hash bucket under split 128; checked in tandem-wire
# against the server a real dhcpd pair picked, dhcpfo/tests.rs).
DHCLIENTS = (("c4a", "1:0:c:1:2:3:4", "pri"), ("c4b", "1:0:c:1:2:3:5", "pri"),
             ("c4c", "1:0:c:1:2:3:6", "sec"), ("c4d", "1:0:c:1:2:3:8", "sec"))
# draft-12 §7 message type codes as tshark's dhcpfo dissector prints them.
BNDUPD, UPDREQALL, UPDDONE = "3", "7", "8"


def _dhcpd(topo, who):
    """A dhcpd pair member: mclt MCLT, the client link's lease SHORT, the relayed one LONG."""
    data = os.path.join(topo.tmp, f"dhcpd-{who}")
    os.makedirs(data, exist_ok=True)
    # dhcp-cache-threshold 0: dhcpd otherwise answers a client seen again within 25% of its
    # lease with the unaltered lease (perfdhcp's second round would keep the MCLT-capped one).
    conf = dhcpd_failover_conf(who, mclt=MCLT, lease_time=LONG, extra="dhcp-cache-threshold 0;")
    head = f"{subnet_decl(SUBNET4)} {{\n"
    assert head in conf
    conf = conf.replace(head, f"{head}    default-lease-time {SHORT};\n    max-lease-time {SHORT};\n", 1)
    return Dhcpd(topo, data, conf, ns=topo.nss[who], iface=topo.srv_if[who])


def _tandem(topo, who):
    """A tandem member with the same addresses, pools and lease times as _dhcpd's."""
    m = Member4(topo, who, mclt=MCLT, lease_time=LONG)
    _edit(m.config, f'interface = "{topo.srv_if[who]}"\nlease_time = {LONG}\n',
          f'interface = "{topo.srv_if[who]}"\nlease_time = {SHORT}\n')
    return m


def _edit(path, old, new):
    with open(path) as f:
        text = f.read()
    assert old in text, (old, path)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def _tls(topo, m):
    """Switch member m's configuration to the TLS link (pair.make_pki's certificates)."""
    pki = os.path.join(topo.tmp, "pki")
    name, other = ("primary", "secondary") if m.who == "pri" else ("secondary", "primary")
    _edit(m.config, "[failover.tls]\ninsecure = true\n",
          f'[failover.tls]\ncert = "{pki}/{name}.crt"\nkey = "{pki}/{name}.key"\nca = "{pki}/ca.crt"\n'
          f'server_name = "tandem-{other}"\n')


def _unescape(s):
    """A dhcpd.leases(5) quoted string (octal escapes) as bytes."""
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            if s[i + 1] in "01234567":
                j = i + 1
                while j < len(s) and j < i + 4 and s[j] in "01234567":
                    j += 1
                out.append(int(s[i + 1:j], 8))
                i = j
                continue
            out.append(ord(s[i + 1]))
            i += 2
            continue
        out.append(ord(s[i]))
        i += 1
    return bytes(out)


def active_dhcpd(d):
    """{address: (client id hex, htype+chaddr hex)} of the ACTIVE leases in dhcpd's lease
    file (a journal: the last block of an address wins)."""
    last = {}
    for m in re.finditer(r"^lease ([0-9.]+) \{(.*?)^\}", d.lease_text(), re.S | re.M):
        last[m.group(1)] = m.group(2)
    out = {}
    for addr, body in last.items():
        if not re.search(r"^\s*binding state active;", body, re.M):
            continue
        uid = re.search(r'^\s*uid "((?:[^"\\]|\\.)*)";', body, re.M)
        hw = re.search(r"hardware ethernet ([0-9a-f:]+);", body)
        out[addr] = (_unescape(uid.group(1)).hex() if uid else "",
                     ("01" + hw.group(1).replace(":", "")) if hw else "")
    return out


def ends_dhcpd(d):
    """{address: lease end (Unix seconds; dhcpd writes UTC)} of dhcpd's lease file."""
    import calendar
    out = {}
    for addr, l in d.leases().items():
        if l["ends"] and l["ends"] != "never":
            out[addr] = calendar.timegm(time.strptime(l["ends"], "%Y/%m/%d %H:%M:%S"))
    return out


def active_tandem(m):
    """The same view of a tandem member's database (status ACTIVE, DHCPv4 rows)."""
    path = os.path.join(m.data_dir, "leases.db")
    if not os.path.exists(path):
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT addr, hex(duid), hex(hwaddr) FROM leases WHERE kind = 2 AND status = ?",
                            (ACTIVE,)).fetchall()
    finally:
        conn.close()
    return {".".join(str(b) for b in bytes(a)): (duid.lower(), hw.lower()) for a, duid, hw in rows}


def no_address_for_two_clients(views):
    """Every address is ACTIVE for at most one client across all views {name: active map};
    and no client holds two ACTIVE addresses in one view."""
    holders = {}
    for name, view in views.items():
        for addr, (cid, hw) in view.items():
            holders.setdefault(addr, set()).add(cid or hw)
        by_client = {}
        for addr, (cid, hw) in view.items():
            by_client.setdefault(cid or hw, []).append(addr)
        two = {c: a for c, a in by_client.items() if len(a) > 1}
        assert not two, f"{name}: clients with two ACTIVE addresses: {two}"
    dup = {a: h for a, h in holders.items() if len(h) > 1}
    assert not dup, f"addresses ACTIVE for two clients: {dup}"


def missing_or_changed(expected, got):
    """Addresses of `expected` that `got` lacks or holds for another client."""
    return sorted(a for a, who in expected.items() if got.get(a) != who)


def _full_log(c):
    try:
        with open(c.log_path) as f:
            return f.read()
    except OSError:
        return ""


def acked_requests(text):
    """[(kind, address, server)] of every DHCPREQUEST dhclient logged an ACK for: kind
    "unicast" (RENEWING, RFC 2131 §4.4.5) or "broadcast" (SELECTING, REBINDING, INIT-REBOOT)."""
    out, last = [], None
    for line in text.splitlines():
        m = re.search(r"DHCPREQUEST for ([0-9.]+) on \S+ to ([0-9.]+) port 67", line)
        if m:
            last = "broadcast" if m.group(2) == "255.255.255.255" else "unicast"
            continue
        m = re.search(r"DHCPACK of ([0-9.]+) from ([0-9.]+)", line)
        if m and last:
            out.append((last, m.group(1), m.group(2)))
            last = None
    return out


def client_kept_address(c, addr):
    """dhclient c still holds addr: every lease block is addr, its log has no DHCPNAK and no
    DISCOVER after the first bind, every ACK was for addr."""
    text = _full_log(c)
    first = text.find("bound to ")
    assert first >= 0, f"{c.name} never bound:\n{text[-2000:]}"
    after = text[first:]
    assert "DHCPNAK" not in after, f"{c.name} was NAKed:\n{after[-2000:]}"
    assert "DHCPDISCOVER" not in after, f"{c.name} lost {addr} and sent DISCOVER again:\n{after[-2000:]}"
    assert set(c.addresses()) == {addr}, f"{c.name}: lease file holds {c.addresses()}, not only {addr}"
    bad = [x for x in acked_requests(text) if x[1] != addr]
    assert not bad, f"{c.name} was ACKed other addresses: {bad}"


def fo_messages(pcap):
    """[(frame time, src, draft-12 type code)] of the failover capture so far, as tshark's
    dhcpfo dissector reads it (pair4.dhcpfo_messages, but on a file still being written:
    a cut-short last frame is no error)."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-d", "tcp.port==647,dhcpfo", "-Y", "dhcpfo", "-T", "fields",
                          "-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.time_epoch", "-e", "ip.src",
                          "-e", "dhcpfo.type"], capture_output=True, text=True, check=False)
    msgs = []
    for line in res.stdout.splitlines():
        f = (line.split("\t") + ["", "", ""])[:3]
        msgs += [(float(f[0]), f[1], t) for t in f[2].split(",") if t]
    return msgs


def _perfdhcp_bind(topo, server, clients, exchanges, seed):
    """perfdhcp -4 relaying (giaddr GIADDR) DORA to one server; bounded by count and time.
    Its clients' MACs (and client ids, 01+MAC) vary the base 00:0c:01:99:00:00, away from
    perfdhcp's default base, which the dhclients' client ids are taken from."""
    cmd = ["timeout", "60", "perfdhcp", "-4", "-l", GIADDR, "-R", str(clients), "-n", str(exchanges),
           "-r", "250", "-p", "20", "-s", str(seed), "-b", "mac=00:0c:01:99:00:00", "-W", "1000000", server]
    res = topo.ns(topo.cli_ns, cmd, check=False)
    return res.stdout + res.stderr


class Run:
    """What one scenario drives: the topology, the servers, the clients, the capture."""

    def __init__(self, topo):
        self.topo = topo
        self.cap = failover_capture(topo)
        self.servers = {}   # who -> Dhcpd or Member4 currently serving
        self.clients = {}   # name -> (Dhclient4, address, bucket server)
        self.expected = {}  # every binding recorded before the migration
        self.timings = []
        self.rejected = {}  # who -> tandem's updates_rejected at the last check

    def logs(self):
        out = [f"{who} ({type(s).__name__}):\n{s.log()}" for who, s in self.servers.items()]
        return "\n".join(out) + f"\nlink:\n{link_summary(self.cap)}"

    def views(self):
        out = {}
        for who, s in self.servers.items():
            out[f"{who} {type(s).__name__}"] = active_dhcpd(s) if isinstance(s, Dhcpd) else active_tandem(s)
        return out

    def dhcpd_pair_with_clients(self):
        """Step 1: a dhcpd pair in NORMAL with its pool balanced, the dhclients bound, the
        perfdhcp clients bound; every binding on both servers."""
        t0 = time.time()
        pri, sec = _dhcpd(self.topo, "pri").start(), _dhcpd(self.topo, "sec").start()
        self.servers = {"pri": pri, "sec": sec}
        wait_for(lambda: pri.failover_state(PEER) == ("normal", "normal")
                 and sec.failover_state(PEER) == ("normal", "normal"), 60, "both dhcpd in NORMAL", self.logs)

        def balanced():
            states = [l["state"] for a, l in pri.leases().items() if a.startswith("192.0.2.")]
            return states.count("free") + states.count("backup") == 100 and states.count("backup") >= 40
        wait_for(balanced, 30, "the primary's pool split FREE/BACKUP", self.logs)
        for name, cid, bucket in DHCLIENTS:
            c = Dhclient4(self.topo, name, client_id=cid)
            c.name = name
            # Retransmit every 1-2 s (dhclient.conf(5)): with the default backoff (up to
            # 15 s) a 30 s lease's window from T2 to expiry (4 s) can pass between two
            # unicast retries, and the client never rebinds.
            with open(c.conf_file, "a") as f:
                f.write("initial-interval 1;\nbackoff-cutoff 2;\n")
            self.clients[name] = [c.start(), None, bucket]
        for name, entry in self.clients.items():
            c = entry[0]
            entry[1] = wait_for(lambda: (c.addresses() or [None])[-1], 30, f"{name} got no lease",
                                lambda: c.log() + self.logs())
            server = c.server_ids()[-1]
            assert server == LINK4[entry[2]], f"{name} answered by {server}, not its bucket's {LINK4[entry[2]]}"
        # The relay forwards each client's messages to both servers; perfdhcp talks to one,
        # so it runs once per server with the same seed (the same clients): each server
        # answers its own hash bucket.
        # Twice each: a first lease is capped at the MCLT (draft-12 §5.2.1, dhcpd gives
        # MCLT), the second DORA, once the partner has acknowledged the first, gets LONG.
        for who in ("pri", "sec", "pri", "sec"):
            _perfdhcp_bind(self.topo, LINK4[who], clients=200, exchanges=250, seed=7)
        self.timings.append(f"perfdhcp done {time.time() - t0:.0f}s")
        relayed = lambda v: {a: w for a, w in v.items() if a.startswith("198.51.100.")}  # noqa: E731

        def agreed():
            p, s = active_dhcpd(pri), active_dhcpd(sec)
            long = {a for a, end in ends_dhcpd(pri).items() if end > time.time() + LONG / 2}
            return p if p == s and len(long & set(relayed(p))) >= 100 and set(relayed(p)) <= long else None
        self.expected = wait_for(agreed, 20, "both dhcpd lease files hold the same >= 100 relayed bindings",
                                 lambda: f"{len(active_dhcpd(pri))} vs {len(active_dhcpd(sec))}\n{self.logs()}")
        for name, (c, addr, _) in self.clients.items():
            assert self.expected.get(addr, ("",))[0] == c_id_hex(name), (name, addr, self.expected.get(addr))
        no_address_for_two_clients(self.views())
        self.timings.append(f"dhcpd pair + {len(self.expected)} bindings {time.time() - t0:.0f}s")

    def replace_with_tandem(self, who, import_leases=False):
        """Stop the server in role `who` (SIGTERM), start a tandem in its place (empty store,
        or with the stopped dhcpd's lease file imported first), and follow it to NORMAL:
        RECOVER, UPDREQALL, every binding, UPDDONE, RECOVER-WAIT, NORMAL on both."""
        other = "sec" if who == "pri" else "pri"
        old, partner = self.servers[who], self.servers[other]
        t0 = time.time()
        old.stop()
        if isinstance(partner, Dhcpd):
            wait_for(lambda: (partner.failover_state(PEER) or ("",))[0] == "communications-interrupted", 20,
                     f"dhcpd {other} in COMMUNICATIONS-INTERRUPTED", self.logs)
        else:
            partner.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=20)
        new = _tandem(self.topo, who)
        assert not os.listdir(new.data_dir), f"{new.data_dir} not empty"
        imported = ""
        if import_leases:
            ti = time.time()
            res = subprocess.run([tandem_binary(), "migrate", "dhcpd-leases", "--config", new.config,
                                  old.lease_file], capture_output=True, text=True)
            assert res.returncode == 0, f"tandem migrate dhcpd-leases: {res.stdout}{res.stderr}"
            before = active_tandem(new)
            gone = missing_or_changed(self.expected, before)
            assert not gone, f"the import lacks {len(gone)} of {len(self.expected)} bindings, e.g. {gone[:5]}"
            imported = f"imported {len(before)} in {time.time() - ti:.1f}s, "
        start = time.time()
        new.start()
        self.servers[who] = new
        # The recovered bindings, as of the first moment tandem leaves RECOVER (UPDDONE came).
        st = wait_for(lambda: (lambda s: s if s and s["state"] not in ("STARTUP", "RECOVER") else None)(
            _status(new)), 30, f"tandem {who} leaves RECOVER", self.logs)
        got = active_tandem(new)
        gone = missing_or_changed(self.expected, got)
        assert not gone, (f"tandem {who} left RECOVER ({st['state']}) without {len(gone)} of "
                          f"{len(self.expected)} bindings (or with another client), e.g. "
                          f"{[(a, self.expected[a], got.get(a)) for a in gone[:3]]}")
        new.wait_state("NORMAL", timeout=MCLT + 20)
        if isinstance(partner, Dhcpd):
            wait_for(lambda: partner.failover_state(PEER) == ("normal", "normal"), 20,
                     f"dhcpd {other} in NORMAL with tandem", self.logs)
        else:
            partner.wait_state("NORMAL", timeout=20)
        normal = time.time()
        changes = new.state_changes()
        for s in ("RECOVER", "RECOVER-WAIT", "NORMAL"):
            assert s in changes, f"tandem {who} never entered {s}: {changes}"
        # The link: tandem asked for everything, the partner sent every binding and UPDDONE.
        msgs = [m for m in fo_messages(self.cap.path) if m[0] >= start]
        asks = [m for m in msgs if m[1] == FO4[who] and m[2] == UPDREQALL]
        assert asks, f"no UPDREQALL from tandem {who}: {sorted({k for _, _, k in msgs})}\n{self.logs()}"
        sent = [m for m in msgs if m[1] == FO4[other] and m[2] == BNDUPD and m[0] >= asks[0][0]]
        done = [m for m in msgs if m[1] == FO4[other] and m[2] == UPDDONE]
        assert done, f"no UPDDONE from {other}\n{self.logs()}"
        assert len(sent) >= len(self.expected), f"{len(sent)} BNDUPDs for {len(self.expected)} bindings"
        at = {s: new.entered_at(s) for s in ("RECOVER", "RECOVER-WAIT", "RECOVER-DONE", "NORMAL")}
        ph = (f"{who}: {imported}dhcpd stop->tandem start {start - t0:.1f}s, RECOVER {at['RECOVER-WAIT'] - at['RECOVER']:.1f}s "
              f"({len(sent)} BNDUPDs), RECOVER-WAIT {(at['RECOVER-DONE'] or at['NORMAL']) - at['RECOVER-WAIT']:.1f}s, "
              f"start->NORMAL {normal - start:.1f}s")
        self.timings.append(ph)
        self.check_pair()
        return new

    def check_pair(self):
        """Every recorded binding on every server; no address for two clients; no tandem
        counted a protocol error, a rejected update or a displaced binding."""
        # Known tandem issue (reported with this test): a server that comes out of
        # RECOVER-DONE expires, in the same moment, the leases its partner renewed while it
        # waited (the partner's BNDUPDs arrive right behind its STATE NORMAL) and then
        # rejects those renewals as outdated; the two agree again at the client's next
        # renewal. So the dhclients' bindings get one lease time to agree; the relayed
        # (long) ones must be there at once. The wait is recorded in the detail line.
        t0 = time.time()
        views = self.views()
        for name, view in views.items():
            gone = [a for a in missing_or_changed(self.expected, view) if a.startswith("198.51.100.")]
            assert not gone, f"{name} lacks {len(gone)} recorded relayed bindings, e.g. {gone[:5]}"

        def agreed():
            v = self.views()
            return v if all(not missing_or_changed(self.expected, x) for x in v.values()) else None
        views = wait_for(agreed, SHORT, "every recorded binding ACTIVE, same client, on every server",
                         lambda: "\n".join(f"{n} lacks {missing_or_changed(self.expected, v)}"
                                           for n, v in self.views().items()) + self.logs())
        if time.time() - t0 > 1:
            self.timings.append(f"dhclient bindings agreed {time.time() - t0:.0f}s after NORMAL")
        no_address_for_two_clients(views)
        for who, s in self.servers.items():
            if isinstance(s, Member4):
                st = s.status()
                for k in ("protocol_errors", "bindings_displaced", "commit_failures"):
                    assert st[k] == 0, f"tandem {who}: {k} = {st[k]}\n{s.log()}"
                # The known issue above (counted since the last restart): at most the dhclients' renewals, once each.
                assert st["updates_rejected"] <= len(self.clients), \
                    f"tandem {who}: {st['updates_rejected']} updates rejected\n{s.log()}"
                self.rejected[who] = max(self.rejected.get(who, 0), st["updates_rejected"])
            else:
                assert "rejected" not in s.log(100000), f"dhcpd {who} rejected an update:\n{s.log()}"
        for name, (c, addr, _) in self.clients.items():
            client_kept_address(c, addr)

    def clients_served_since(self, t, timeout=SHORT):
        """Each dhclient has an ACK for its address logged after wall time t (the pair in
        NORMAL serves it), within one lease time."""
        marks = {}
        for name, (c, addr, _) in self.clients.items():
            with open(c.log_path, "a") as f:
                f.write(f"--- mark {t:.0f} ---\n")
            marks[name] = len(_full_log(c))
        wait_for(lambda: all(f"DHCPACK of {addr}" in _full_log(c)[marks[n]:]
                             for n, (c, addr, _) in self.clients.items()), timeout,
                 "every dhclient renewed by the pair in NORMAL",
                 lambda: "\n".join(f"{n}: {_full_log(c)[marks[n]:]}" for n, (c, _, _) in self.clients.items())
                 + self.logs())
        for name, (c, addr, _) in self.clients.items():
            client_kept_address(c, addr)

    def init_reboot_all(self):
        """Restart every dhclient: INIT-REBOOT (RFC 2131 §4.3.2) is ACKed with its address."""
        for name, (c, addr, _) in self.clients.items():
            c.stop()
            with open(c.log_path, "a") as f:
                f.write("--- restart ---\n")
            c.start()
        for name, (c, addr, _) in self.clients.items():
            wait_for(lambda: f"DHCPACK of {addr}" in _full_log(c).split("--- restart ---")[-1], 20,
                     f"{name} not ACKed {addr} after a restart", lambda: c.log() + self.logs())
            after = _full_log(c).split("--- restart ---")[-1]
            assert "DHCPDISCOVER" not in after and "DHCPNAK" not in after, f"{name}:\n{after}"


def c_id_hex(name):
    cid = dict((n, c) for n, c, _ in DHCLIENTS)[name]
    return "".join(f"{int(b, 16):02x}" for b in cid.split(":"))


def _status(m):
    try:
        return m.status()
    except (AssertionError, ValueError):
        return None


def renews_and_rebinds(run, rebinders):
    """Before any restart: each client renewed by unicast (RENEWING) and kept its address;
    each in `rebinders` also rebound by broadcast (REBINDING) after its first bind."""
    counts = {}
    for name, (c, addr, _) in run.clients.items():
        acks = acked_requests(_full_log(c).split("--- restart ---")[0])
        uni = sum(1 for k, _, _ in acks if k == "unicast")
        rebind = sum(1 for k, _, _ in acks[1:] if k == "broadcast")
        assert uni >= 1, f"{name} never renewed: {acks}"
        if name in rebinders:
            assert rebind >= 1, f"{name} never rebound when its server went away: {acks}\n{_full_log(c)[-3000:]}"
        counts[name] = (uni, rebind)
    return counts


def migrate_running_dhcpd_pair_to_tandem_one_server_at_a_time():
    """The headline migration (docs/migrating-from-dhcpd.md §4-§6): a running dhcpd 4.4
    pair with 4 dhclients and ~130 relayed clients bound. The dhcpd secondary is replaced
    by a tandem with an empty store: RECOVER, UPDREQALL (draft-12 §7.7), every binding
    from dhcpd (BNDUPDs, UPDDONE §7.8), all in tandem's database with the same client id
    and hardware address before it leaves RECOVER, RECOVER-WAIT, NORMAL on both (§8.6,
    §8.7). Then the dhcpd primary, recovering from the tandem secondary. Then the link
    goes to TLS, one member restarted at a time (brief COMMUNICATIONS-INTERRUPTED, no
    RECOVER). Throughout, every dhclient keeps its address through renewals and, when its
    server is replaced, a rebind; every recorded binding stays on every server; no address
    is ACTIVE for two clients."""
    with PairTopology4("mig") as topo:
        t0 = time.time()
        run = Run(topo)
        run.dhcpd_pair_with_clients()
        run.replace_with_tandem("sec")
        run.replace_with_tandem("pri")
        # Step 4: both tandem; switch the link to TLS, one restart at a time.
        ttls = time.time()
        pri, sec = run.servers["pri"], run.servers["sec"]
        since = {m.who: len(m.log_text()) for m in (pri, sec)}
        _tls(topo, sec)
        _tls(topo, pri)
        sec.stop()
        sec.start()
        sec.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=20)
        pri.stop()
        pri.start()
        pri.wait_state("NORMAL", timeout=30)
        sec.wait_state("NORMAL", timeout=30)
        tls_normal = time.time()
        for m in (pri, sec):
            ch = m.state_changes(since[m.who])
            assert "RECOVER" not in ch and "COMMUNICATIONS-INTERRUPTED" in ch, f"{m.who}: {ch}"
        hs = subprocess.run(["tshark", "-n", "-r", run.cap.path, "-d", "tcp.port==647,tls", "-Y",
                             f"tls.handshake.type == 1 && frame.time_epoch >= {ttls}", "-T", "fields",
                             "-e", "ip.src"], capture_output=True, text=True)
        assert hs.stdout.strip(), f"no TLS ClientHello on the failover link after the switch: {hs.stderr}"
        run.timings.append(f"TLS switch {tls_normal - ttls:.1f}s")
        run.check_pair()
        run.clients_served_since(tls_normal)
        counts = renews_and_rebinds(run, rebinders=set(run.clients))
        run.init_reboot_all()
        run.check_pair()
        relayed = sum(1 for a in run.expected if a.startswith("198.51.100."))
        return (f"{relayed} relayed + {len(run.clients)} dhclient bindings kept through dhcpd->tandem sec, pri, "
                f"TLS; renew/rebind per client {counts}; " + "; ".join(run.timings)
                + f"; updates rejected {run.rejected}; total {time.time() - t0:.0f}s")


def migrate_dhcpd_secondary_with_its_lease_file_imported_first():
    """The secondary's replacement with `tandem migrate dhcpd-leases` run on the stopped
    dhcpd's lease file before tandem starts (docs/migrating-from-dhcpd.md §4.3): the new
    tandem holds every binding before it connects; it still recovers (the import clears
    the failover state: a server whose bindings came from elsewhere must not claim NORMAL),
    the UPDREQALL overwrites nothing with another client, and both reach NORMAL with the
    clients keeping their addresses. The detail line records each phase's duration."""
    with PairTopology4("migi") as topo:
        t0 = time.time()
        run = Run(topo)
        run.dhcpd_pair_with_clients()
        run.replace_with_tandem("sec", import_leases=True)
        run.clients_served_since(time.time())
        counts = renews_and_rebinds(run, rebinders={n for n, (_, _, b) in run.clients.items() if b == "sec"})
        run.init_reboot_all()
        run.check_pair()
        return f"renew/rebind per client {counts}; " + "; ".join(run.timings) + f"; total {time.time() - t0:.0f}s"


PAIR4_MIGRATE_SCENARIOS = [
    migrate_running_dhcpd_pair_to_tandem_one_server_at_a_time,
    migrate_dhcpd_secondary_with_its_lease_file_imported_first,
]
