"""Bad input on the DHCPv4 failover link (draft-ietf-dhc-failover-12 as ISC dhcpd 4.4
speaks it), against a real dhcpd 4.4 partner: a clock skew over 60 s, a wrong
relationship name, a connection from a stranger, malformed and oversized messages.

Each must be refused with the reason dhcpd would give (draft-12 §12.21 reject reasons:
4 time mismatch, 8 invalid failover partner), logged with its detail, counted
(`tandem ctl status` protocol_errors / the metrics endpoint), without the link flapping in
a tight loop (connection attempts bounded by the reconnect backoff) and while clients are
still served where the state allows (COMMUNICATIONS-INTERRUPTED: from tandem's own pool,
draft-12 §9.6).

Every scenario first brings a tandem/dhcpd pair to NORMAL with the good configuration,
then changes one thing, so the state tandem serves in is known (COMMUNICATIONS-INTERRUPTED).
"""

import glob
import json
import os
import re
import struct
import subprocess
import time

from dhcpd import Dhcpd
from pair4 import (FO4, LINK4, PEER, Member4, PairTopology4, dhcpd_failover_conf, dhcpd_member,
                   failover_capture, link_summary, wait_for)

FO_PORT = 647
# draft-12 §12.21 reject reasons (ISC dhcpd 4.4: FTR_* in includes/failover.h).
TIME_MISMATCH, INVALID_PARTNER = 4, 8
# draft-12 §6.1 message types.
CONNECT, CONNECTACK, STATE, DISCONNECT = 5, 6, 10, 12
# Clock skew used: over dhcpd's hard 60 s limit (server/failover.c, A.1 of dhcpd-failover.md).
SKEW = 120
# A client whose RFC 3074 bucket (split 128) is the secondary's (see pair4.py).
SEC_CLIENT = "1:0:c:1:2:3:6"
# How long the link is watched for reconnect loops.
WINDOW = 24


def faketime(offset):
    """libfaketime (Debian `faketime`) shifting the wall clock by `offset` seconds, preloaded
    through env (which execs: the process started is the server itself, so stop() and the
    topology's teardown signal it; the `faketime` wrapper would fork and leave it running).
    The monotonic clock stays real, so timers run at their normal pace."""
    libs = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    if not libs:
        raise RuntimeError("libfaketime not found: install Debian's faketime (scripts/install-deps.sh)")
    return ["env", f"LD_PRELOAD={libs[0]}", f"FAKETIME={offset:+d}s", "FAKETIME_DONT_FAKE_MONOTONIC=1"]


class SkewedDhcpd(Dhcpd):
    """dhcpd whose clock runs `offset` seconds off (LD_PRELOAD libfaketime)."""

    def __init__(self, *a, offset, **kw):
        super().__init__(*a, **kw)
        self.offset = offset

    def launch(self):
        orig = self.topo.spawn
        self.topo.spawn = lambda ns, cmd, **kw: orig(ns, faketime(self.offset) + cmd, **kw)
        try:
            return super().launch()
        finally:
            del self.topo.spawn


class SkewedMember4(Member4):
    """A tandem member whose clock runs `offset` seconds off: Rust's std reads the clock
    through libc's clock_gettime, which libfaketime replaces."""

    def __init__(self, topo, who, offset, **kw):
        super().__init__(topo, who, **kw)
        self.offset = offset

    def start(self):
        orig = self.topo.spawn
        self.topo.spawn = lambda ns, cmd, **kw: orig(ns, faketime(self.offset) + cmd, **kw)
        try:
            return super().start()
        finally:
            del self.topo.spawn


def other_dhcpd(topo, who, name, **conf):
    """A dhcpd for `who` in a fresh data dir whose failover peer is called `name`."""
    data = os.path.join(topo.tmp, f"dhcpd-{who}-{name}")
    os.makedirs(data, exist_ok=True)
    text = dhcpd_failover_conf(who, **conf).replace(f'"{PEER}"', f'"{name}"')
    return Dhcpd(topo, data, text, ns=topo.nss[who], iface=topo.srv_if[who])


# ------------------------------------------------------------------ draft-12 messages

def fo_message(mtype, options=(), when=None, xid=0, length=None, payoff=12):
    """One draft-12 message (§6.1): length (counting itself), type, payload offset 12 (as
    dhcpd sends), time, xid, then (code, value) options. `length` overrides the length."""
    body = b"".join(struct.pack("!HH", c, len(v)) + v for c, v in options)
    n = 12 + len(body) if length is None else length
    return struct.pack("!HBBII", n, mtype, payoff, int(time.time()) if when is None else when, xid) + body


def connect_message(name=PEER, when=None):
    """A CONNECT as dhcpd 4.4's primary sends it ([22 14 19 28 20 27 15 11], split 128)."""
    return fo_message(CONNECT, [(22, name.encode()), (14, struct.pack("!I", 10)), (19, struct.pack("!I", 10)),
                                (28, b"isc-4.4.3-P1"), (20, b"\x01"), (27, b"\x00"), (15, struct.pack("!I", 60)),
                                (11, b"\xff" * 16 + b"\x00" * 16)], when=when)


def parse_messages(data):
    """[(type, {code: value})] of a byte stream (stops at anything unframeable)."""
    out, i = [], 0
    while i + 12 <= len(data):
        n, mtype, payoff = struct.unpack("!HBB", data[i:i + 4])
        if n < 12 or i + n > len(data):
            break
        opts, j = {}, i + payoff
        while j + 4 <= i + n:
            code, ln = struct.unpack("!HH", data[j:j + 4])
            opts[code] = data[j + 4:j + 4 + ln]
            j += 4 + ln
        out.append((mtype, opts))
        i += n
    return out


# A TCP client run inside a namespace: connect from `src` to `dst`:647, send, read until
# the server closes (or `wait` s pass); prints what happened as JSON.
_CLIENT = r"""
import json, socket, sys, time
src, dst, payload, wait = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), float(sys.argv[4])
s = socket.socket()
s.bind((src, 0))
s.settimeout(5)
out = {"connected": False, "received": "", "closed": False, "reset": False}
try:
    s.connect((dst, 647))
    out["connected"] = True
    if payload:
        s.sendall(payload)
    end, data = time.time() + wait, b""
    while time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            out["closed"] = True
            break
        data += b
    out["received"] = data.hex()
except ConnectionResetError:
    out["reset"] = out["closed"] = True
except OSError as e:
    out["error"] = str(e)
print(json.dumps(out))
"""


def fo_client(topo, ns, src, dst, payload=b"", wait=5.0):
    """Connect from `src` (in namespace `ns`) to `dst`:647, send `payload`, read until the
    server closes or `wait` s pass: {connected, closed, reset, received (bytes), messages}."""
    res = topo.ns(ns, ["python3", "-c", _CLIENT, src, dst, payload.hex(), str(wait)], check=True)
    out = json.loads(res.stdout)
    out["received"] = bytes.fromhex(out["received"])
    out["messages"] = parse_messages(out["received"])
    return out


# ------------------------------------------------------------------ observations

def link_counts(pcap, since=0.0):
    """From a failover-link capture: {src: [SYN times]} (connection attempts) and
    {src: [CONNECT times]} after `since` (Unix time)."""
    base = ["tshark", "-n", "-r", pcap, "-d", f"tcp.port=={FO_PORT},dhcpfo"]
    syn = subprocess.run(base + ["-Y", f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && frame.time_epoch >= {since}",
                                 "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src"],
                         capture_output=True, text=True, check=True)
    fo = subprocess.run(base + ["-Y", f"dhcpfo && frame.time_epoch >= {since}", "-T", "fields", "-E", "occurrence=a",
                                "-E", "aggregator=,", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "dhcpfo.type",
                                "-e", "dhcpfo.rejectreason"],
                        capture_output=True, text=True, check=True)
    syns, connects, rejects = {}, {}, []
    for line in syn.stdout.splitlines():
        t, src = line.split("\t")[:2]
        syns.setdefault(src, []).append(float(t))
    for line in fo.stdout.splitlines():
        f = (line.split("\t") + ["", "", "", ""])[:4]
        types = [x for x in f[2].split(",") if x]
        for ty in types:
            if ty == str(CONNECT):
                connects.setdefault(f[1], []).append(float(f[0]))
        if f[3]:
            rejects.append((float(f[0]), f[1], [int(r) for r in f[3].split(",") if r]))
    return syns, connects, rejects


def check_no_tight_loop(syns, connects, window, tandem_ip, what, detail):
    """No reconnect loop. tandem's own connection attempts: at most one per 4 s over the
    window (its backoff is 1 s doubling to 30 s, and a session refused in the handshake
    counts as a failed attempt; the loop this catches redialled every second: 24 in 24 s).
    CONNECTs (one per connection, either direction; dhcpd itself retries 5 s after a
    loss): at most one per 2 s."""
    mine = len(syns.get(tandem_ip, []))
    assert mine <= max(3, window // 4), f"{what}: tandem made {mine} connection attempts in {window} s\n{detail()}"
    total = sum(len(ts) for ts in connects.values())
    assert total <= window // 2, f"{what}: {total} CONNECTs in {window} s\n{detail()}"


def served_by(topo, member_ip, name, cid=SEC_CLIENT):
    """A dhclient -4 gets a lease, answered by `member_ip` (its server identifier). With
    the link down dhcpd serves every client too (COMMUNICATIONS-INTERRUPTED, draft-12 §9.6),
    so the scenarios stop it first where both would answer."""
    from dhcp4 import Dhclient4
    client = Dhclient4(topo, name, client_id=cid).start()
    try:
        addr = wait_for(lambda: (client.addresses() or [None])[-1], 30, f"dhclient -4 ({name}) got no lease",
                        client.log)
        server = client.server_ids()[-1]
        assert server == member_ip, f"{name} was answered by {server}, not {member_ip}"
        return addr
    finally:
        client.stop()


def errors(t):
    return t.status()["protocol_errors"]


METRICS_LISTEN = "127.0.0.1:9547"


def with_metrics(member):
    """Serve the member's metrics on its namespace's loopback (docs/metrics.md)."""
    with open(member.config, "a") as f:
        f.write(f'\n[metrics]\nlisten = "{METRICS_LISTEN}"\n')
    return member


def metrics(t):
    """`GET /metrics` of member `t`, from inside its namespace: {series: value}."""
    code = ("import urllib.request; "
            f"print(urllib.request.urlopen('http://{METRICS_LISTEN}/metrics', timeout=10).read().decode())")
    out = t.topo.ns(t.topo.nss[t.who], ["python3", "-c", code]).stdout
    series = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            series[name] = float(value)
    return series


def normal_pair(topo, tandem_role, tandem=None):
    """tandem (`tandem_role`) and a good dhcpd, both NORMAL. Returns (tandem, dhcpd)."""
    dhcpd_role = "sec" if tandem_role == "pri" else "pri"
    d = dhcpd_member(topo, dhcpd_role).start()
    t = with_metrics(tandem or Member4(topo, tandem_role)).start()
    t.wait_state("NORMAL", timeout=60)
    wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd NORMAL with tandem",
             lambda: f"tandem:\n{t.log()}\ndhcpd:\n{d.log()}")
    return t, d


# ------------------------------------------------------------------ 1. clock skew

def tandem_refuses_connect_from_dhcpd_with_clock_skew_time_mismatch():
    """ISC dhcpd 4.4 behaviour (draft-12 §7.8.2; reject reason 4 of §12.21): a CONNECT whose
    time is more than 60 s from the receiver's clock is refused. tandem (secondary) and
    dhcpd (primary) reach NORMAL; dhcpd is restarted with its clock 120 s ahead
    (libfaketime). tandem must answer every CONNECT with a CONNECTACK carrying reject
    reason 4, log the offset, count it, not reconnect in a tight loop (≤ 1 attempt per 2 s
    from either side over the window), stay COMMUNICATIONS-INTERRUPTED and serve a
    dhclient -4 from its own pool."""
    with PairTopology4("fo4skew") as topo:
        cap = failover_capture(topo)
        t, d = normal_pair(topo, "sec")
        logs = lambda: f"tandem:\n{t.log()}\ndhcpd:\n{skewed.log()}\nlink:\n{link_summary(cap)}"  # noqa: E731
        before = errors(t)
        mark = len(t.log_text())
        d.stop()
        t.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=20)
        skewed = SkewedDhcpd(topo, d.data_dir, open(d.config).read(), ns=topo.nss["pri"], iface=topo.srv_if["pri"],
                             offset=SKEW)
        skewed.start()
        since = time.time()
        wait_for(lambda: "clocks differ" in t.log_text()[mark:], 20, "tandem logs the clock offset", logs)
        time.sleep(WINDOW - (time.time() - since))
        log = t.log_text()[mark:]
        m = re.search(r"refused CONNECT: clocks differ by (\d+) s", log)
        assert m and abs(int(m.group(1)) - SKEW) <= 5, f"tandem logs the offset (~{SKEW} s)\n{logs()}"
        syns, connects, rejects = link_counts(cap.stop(), since)
        assert rejects, f"a CONNECTACK with a reject reason from tandem\n{logs()}"
        reasons = {r for _, src, rs in rejects if src == FO4["sec"] for r in rs}
        assert reasons == {TIME_MISMATCH}, f"tandem's reject reasons {reasons}, want {{{TIME_MISMATCH}}}\n{logs()}"
        check_no_tight_loop(syns, connects, WINDOW, FO4["sec"], "clock skew", logs)
        refused = len(rejects)
        counted = errors(t) - before
        assert counted >= refused, f"protocol_errors went up by {counted} for {refused} refusals\n{logs()}"
        assert re.search(r"WARN .*partner protocol error error=refused CONNECT: clocks differ", log), \
            f"the refusal is logged at warn\n{logs()}"
        st = t.status()
        assert st["state"] == "COMMUNICATIONS-INTERRUPTED" and not st["communications_ok"], st
        skewed.stop()  # in COMM-INT it answers every client too
        addr = served_by(topo, LINK4["sec"], "c4skew")
        return (f"{refused} CONNECTs refused with reason 4 over {WINDOW} s; attempts "
                f"{ {k: len(v) for k, v in syns.items()} }; counted {counted}; COMM-INT served {addr}")


def dhcpd_refuses_connect_from_skewed_tandem_and_tandem_logs_reason():
    """The other direction (draft-12 §7.9; dhcpd's reason 4): tandem is the primary and is
    restarted with its clock 120 s ahead. The dhcpd secondary answers tandem's CONNECT with
    a CONNECTACK carrying reject reason 4; tandem logs the partner's reason, counts it,
    redials only at its backoff (not after each refusal at once), stays
    COMMUNICATIONS-INTERRUPTED and serves a dhclient -4."""
    with PairTopology4("fo4skewp") as topo:
        cap = failover_capture(topo)
        t, d = normal_pair(topo, "pri")
        logs = lambda: f"tandem:\n{s.log()}\ndhcpd:\n{d.log()}\nlink:\n{link_summary(cap)}"  # noqa: E731
        t.stop()
        s = with_metrics(SkewedMember4(topo, "pri", offset=SKEW))
        mark = len(s.log_text())
        s.start()
        since = time.time()
        wait_for(lambda: "reject reason 4" in s.log_text()[mark:], 25, "tandem logs dhcpd's reason 4", logs)
        time.sleep(max(0, WINDOW - (time.time() - since)))
        syns, connects, rejects = link_counts(cap.stop(), since)
        reasons = {r for _, src, rs in rejects if src == FO4["sec"] for r in rs}
        assert reasons == {TIME_MISMATCH}, f"dhcpd's reject reasons {reasons}, want {{{TIME_MISMATCH}}}\n{logs()}"
        check_no_tight_loop(syns, connects, WINDOW, FO4["pri"], "skewed tandem", logs)
        counted = errors(s)
        assert counted >= len(rejects), f"protocol_errors {counted} after {len(rejects)} refusals by the partner"
        assert re.search(r"WARN .*partner protocol error error=partner refused the connection: time offset too large "
                         r"\(reject reason 4", s.log_text()[mark:]), f"dhcpd's refusal logged at warn\n{logs()}"
        st = s.status()
        assert st["state"] == "COMMUNICATIONS-INTERRUPTED" and not st["communications_ok"], st
        d.stop()  # in COMM-INT it answers every client too
        addr = served_by(topo, LINK4["pri"], "c4skewp", cid="1:0:c:1:2:3:4")
        return (f"dhcpd refused {len(rejects)} CONNECTs with reason 4 over {WINDOW} s; attempts "
                f"{ {k: len(v) for k, v in syns.items()} }; counted {counted}; COMM-INT served {addr}")



# ------------------------------------------------------------------ 2. relationship name

def tandem_refuses_connect_for_unknown_relationship_invalid_partner():
    """draft-12 §7.8.2 / §12.21 reason 8 (dhcpd: "unknown failover relationship name" ->
    FTR_INVALID_PARTNER): tandem (secondary) and dhcpd (primary) reach NORMAL; dhcpd is
    replaced by one whose peer is `failover peer "other-name"`. tandem must answer its
    CONNECTs with reject reason 8 naming both relationships, count them, not loop, stay
    COMMUNICATIONS-INTERRUPTED and serve a dhclient -4."""
    with PairTopology4("fo4name") as topo:
        cap = failover_capture(topo)
        t, d = normal_pair(topo, "sec")
        logs = lambda: f"tandem:\n{t.log()}\ndhcpd:\n{o.log()}\nlink:\n{link_summary(cap)}"  # noqa: E731
        before, mark = errors(t), len(t.log_text())
        d.stop()
        t.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=20)
        o = other_dhcpd(topo, "pri", "other-name").start()
        since = time.time()
        wait_for(lambda: "other-name" in t.log_text()[mark:], 20, "tandem logs the unknown relationship", logs)
        time.sleep(max(0, WINDOW - (time.time() - since)))
        log = t.log_text()[mark:]
        assert re.search(r'refused CONNECT: relationship "other-name" is not configured here \(ours is "tandem-it"\)',
                         log), f"tandem logs both names\n{logs()}"
        syns, connects, rejects = link_counts(cap.stop(), since)
        reasons = {r for _, src, rs in rejects if src == FO4["sec"] for r in rs}
        assert reasons == {INVALID_PARTNER}, f"tandem's reject reasons {reasons}, want {{{INVALID_PARTNER}}}\n{logs()}"
        check_no_tight_loop(syns, connects, WINDOW, FO4["sec"], "unknown relationship", logs)
        counted = errors(t) - before
        assert counted >= len(rejects), f"protocol_errors up by {counted} for {len(rejects)} refusals\n{logs()}"
        st = t.status()
        assert st["state"] == "COMMUNICATIONS-INTERRUPTED" and not st["communications_ok"], st
        o.stop()
        addr = served_by(topo, LINK4["sec"], "c4name")
        return (f"{len(rejects)} CONNECTs refused with reason 8 over {WINDOW} s; attempts "
                f"{ {k: len(v) for k, v in syns.items()} }; counted {counted}; COMM-INT served {addr}")


def dhcpd_refuses_tandem_connect_for_unknown_relationship_and_tandem_logs_reason():
    """The other role: tandem is the primary, the dhcpd secondary knows only
    "other-name". dhcpd refuses tandem's CONNECT (reason 8); tandem logs the partner's
    reason, counts it, redials only at its backoff, and serves from COMMUNICATIONS-INTERRUPTED."""
    with PairTopology4("fo4namep") as topo:
        cap = failover_capture(topo)
        t, d = normal_pair(topo, "pri")
        logs = lambda: f"tandem:\n{t.log()}\ndhcpd:\n{o.log()}\nlink:\n{link_summary(cap)}"  # noqa: E731
        before, mark = errors(t), len(t.log_text())
        d.stop()
        t.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=20)
        o = other_dhcpd(topo, "sec", "other-name").start()
        since = time.time()
        wait_for(lambda: "reject reason 8" in t.log_text()[mark:], 25, "tandem logs dhcpd's reason 8", logs)
        time.sleep(max(0, WINDOW - (time.time() - since)))
        syns, connects, rejects = link_counts(cap.stop(), since)
        reasons = {r for _, src, rs in rejects if src == FO4["sec"] for r in rs}
        assert reasons == {INVALID_PARTNER}, f"dhcpd's reject reasons {reasons}, want {{{INVALID_PARTNER}}}\n{logs()}"
        check_no_tight_loop(syns, connects, WINDOW, FO4["pri"], "unknown relationship at dhcpd", logs)
        counted = errors(t) - before
        assert counted >= len(rejects), f"protocol_errors up by {counted} for {len(rejects)} refusals by dhcpd\n{logs()}"
        assert re.search(r"WARN .*partner protocol error error=partner refused the connection: .*\(reject reason 8",
                         t.log_text()[mark:]), f"dhcpd's refusal logged at warn\n{logs()}"
        st = t.status()
        assert st["state"] == "COMMUNICATIONS-INTERRUPTED" and not st["communications_ok"], st
        o.stop()
        addr = served_by(topo, LINK4["pri"], "c4namep", cid="1:0:c:1:2:3:4")
        return (f"dhcpd refused {len(rejects)} CONNECTs with reason 8 over {WINDOW} s; attempts "
                f"{ {k: len(v) for k, v in syns.items()} }; counted {counted}; COMM-INT served {addr}")


# ------------------------------------------------------------------ 3. a stranger

STRANGER = "192.0.2.77"


def _stranger_route(topo):
    """The client namespace gets 192.0.2.77 and a route to the failover link through
    tandem's (the secondary's) client-link address."""
    topo.ns(topo.cli_ns, ["ip", "addr", "add", f"{STRANGER}/24", "dev", topo.cli_if])
    topo.ns(topo.cli_ns, ["ip", "route", "add", "203.0.113.0/24", "via", LINK4["sec"], "dev", topo.cli_if])


def tandem_closes_failover_connection_from_unexpected_address():
    """ISC dhcpd 4.4 behaviour (A.4: "failover: listener: no matching state" -> close): a
    failover connection from an address other than the partner's is closed at once, with
    no CONNECTACK, however good its CONNECT. Checked both while the link to the real dhcpd
    is up (NORMAL) and while it is down; tandem must log the stranger's address at warn,
    count it, and the real partner's session must carry on (no reconnect, still NORMAL on
    both, a dhclient -4 in tandem's hash bucket answered by tandem)."""
    with PairTopology4("fo4strg") as topo:
        t, d = normal_pair(topo, "sec")
        _stranger_route(topo)
        logs = lambda: f"tandem:\n{t.log()}\ndhcpd:\n{d.log()}"  # noqa: E731
        mark = len(t.log_text())
        before = _strangers(t)
        got = [fo_client(topo, topo.cli_ns, STRANGER, FO4["sec"], connect_message(), wait=3) for _ in range(3)]
        for g in got:
            assert g["connected"], f"the stranger could not even connect: {g}"
            assert g["closed"], f"tandem kept the stranger's connection open: {g}"
            assert not g["messages"], f"tandem answered the stranger: {g['messages']}"
        log = t.log_text()[mark:]
        warned = [l for l in log.splitlines() if " WARN " in l and STRANGER in l]
        assert warned, f"no warning naming {STRANGER} while the link was up\n{logs()}"
        assert "partner connection lost" not in log, f"the real partner's link was reset\n{logs()}"
        st = t.status()
        assert st["state"] == "NORMAL" and st["communications_ok"], st
        assert d.failover_state(PEER) == ("normal", "normal"), d.failover_state(PEER)
        counted_up = _strangers(t) - before
        assert counted_up == 3, f"3 stranger connections while up, counted {counted_up}\n{logs()}"
        addr = served_by(topo, LINK4["sec"], "c4strg")
        # And while the link is down (the accept path rather than the duplicate path).
        d.stop()
        t.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=20)
        mark = len(t.log_text())
        g = fo_client(topo, topo.cli_ns, STRANGER, FO4["sec"], connect_message(), wait=3)
        assert g["connected"] and g["closed"] and not g["messages"], g
        log = t.log_text()[mark:]
        assert any(" WARN " in l and STRANGER in l for l in log.splitlines()), f"no warning while down\n{logs()}"
        assert "partner connected" not in log, f"the stranger was taken for the partner\n{logs()}"
        counted = _strangers(t) - before
        assert counted == 4, f"4 stranger connections, counted {counted}"
        return f"4 stranger connections closed unanswered, warned with {STRANGER}, counted {int(counted)}; " \
               f"link stayed NORMAL; NORMAL served {addr}"


def _strangers(t):
    return metrics(t).get("tandem_failover_connections_refused_total", 0)


# ------------------------------------------------------------------ 4. malformed input

BAD_INPUTS = [
    # (name, bytes, what tandem's log must say)
    ("length below the 12-byte header", struct.pack("!HBB", 8, CONNECT, 12) + bytes(4), "below minimum 12"),
    ("length above 2048", struct.pack("!HBBII", 4096, CONNECT, 12, 0, 0) + bytes(64), "exceeds maximum 2048"),
    # Option 22 says 9 bytes, 2 follow before the message's end.
    ("truncated option", struct.pack("!HBBII", 12 + 4 + 2, CONNECT, 12, 0, 0) + struct.pack("!HH", 22, 9) + b"ta",
     "runs past the end"),
    ("unknown message type 200", fo_message(200, [(22, PEER.encode())]), "unexpected message type 200"),
    # 0xdead as the next message's length.
    ("garbage after a valid CONNECT", None, "exceeds maximum 2048"),
]


def tandem_drops_malformed_failover_messages_and_recovers():
    """draft-12 §6.1 / ISC dhcpd 4.4 (A.1): a length outside 12..2048, an option running
    past the end, a message type above 12 are protocol errors that drop the connection.
    tandem (secondary) and dhcpd (primary) reach NORMAL; dhcpd is stopped and, from its
    address, a small TCP client sends each bad message. tandem must drop only that
    connection, log a clear reason, count each one, stay up (`tandem ctl status` answers),
    serve a dhclient -4 (COMMUNICATIONS-INTERRUPTED), and afterwards the real dhcpd must
    reconnect and both reach NORMAL."""
    with PairTopology4("fo4bad") as topo:
        t, d = normal_pair(topo, "sec")
        logs = lambda: f"tandem:\n{t.log()}\ndhcpd:\n{d.log()}"  # noqa: E731
        d.stop()
        t.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=20)
        results = []
        for name, payload, needle in BAD_INPUTS:
            if payload is None:
                payload = connect_message() + b"\xde\xad\xbe\xef" * 8
            before, mark = errors(t), len(t.log_text())
            g = fo_client(topo, topo.nss["pri"], FO4["pri"], FO4["sec"], payload, wait=4)
            assert g["connected"] and g["closed"], f"{name}: tandem did not drop the connection: {g}\n{logs()}"
            assert t.proc.poll() is None, f"{name}: tandem exited\n{logs()}"
            st = t.status()
            assert st["state"] == "COMMUNICATIONS-INTERRUPTED", f"{name}: {st}"
            log = t.log_text()[mark:]
            lost = [l for l in log.splitlines() if "partner connection lost" in l or "protocol error" in l]
            assert lost and any(needle in l for l in lost), f"{name}: no clear reason ({needle!r}) in\n{log[-2000:]}"
            counted = st["protocol_errors"] - before
            assert counted == 1, f"{name}: protocol_errors went up by {counted}, not 1\n{log[-2000:]}"
            kinds = [m for m, _ in g["messages"]]
            assert CONNECTACK not in kinds or name.startswith("garbage"), f"{name}: answered with {kinds}"
            results.append(f"{name}: {re.sub(r'.*reason=', '', lost[-1])[:80]}")
        total = metrics(t).get("tandem_failover_protocol_errors_total")
        assert total == errors(t) >= len(BAD_INPUTS), f"metrics {total}, ctl status {errors(t)}"
        addr = served_by(topo, LINK4["sec"], "c4bad")
        d.start()
        t.wait_state("NORMAL", timeout=45)
        wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd back in NORMAL", logs)
        return f"{len(BAD_INPUTS)} bad inputs each dropped and counted; COMM-INT served {addr}; NORMAL again"


PAIR4_BAD_INPUT_SCENARIOS = [
    tandem_refuses_connect_from_dhcpd_with_clock_skew_time_mismatch,
    dhcpd_refuses_connect_from_skewed_tandem_and_tandem_logs_reason,
    tandem_refuses_connect_for_unknown_relationship_invalid_partner,
    dhcpd_refuses_tandem_connect_for_unknown_relationship_and_tandem_logs_reason,
    tandem_closes_failover_connection_from_unexpected_address,
    tandem_drops_malformed_failover_messages_and_recovers,
]
