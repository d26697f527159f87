"""Logs an operator can use (issue 12): the JSON lease log against real clients, and one
process per data directory, end to end with the real binary.

- perfdhcp -6 runs N exchanges against tandem with log_format = "json": every log line is
  a JSON object, and there is exactly one "granted" lease event (target tandem::lease)
  per Reply perfdhcp received, each with address, duid, iaid and lifetimes;
- dhclient -6 gets an address, renews it, and `dhclient -6 -r` releases it: "granted",
  "renewed" and "released" lines name it;
- a 20-address pool fills: pool-use warnings and one "pool exhausted" error;
- a pair: the primary logs "granted" and "sent_to_partner", the secondary
  "received_from_partner";
- a second `tandem serve` on the same data directory is refused with a clear error naming
  the first process, which keeps serving.
"""

import json
import os
import re
import subprocess
import time

from clients import Capture, Dhclient, perfdhcp
from harness import POOL, Tandem, Topology, target, tandem_binary, tandem_config
from pair import Member, PairTopology

EXCHANGES = 3000


def _json_server(topo, edit=None, **lifetimes):
    data = os.path.join(topo.tmp, "data")
    os.makedirs(data, exist_ok=True)
    path = tandem_config(topo, data, **lifetimes)
    with open(path) as f:
        text = f.read()
    text = text.replace('log_level = "info"', 'log_level = "info"\nlog_format = "json"')
    if edit:
        text = edit(text)
    with open(path, "w") as f:
        f.write(text)
    return Tandem(topo, data, config=path)


def _log_lines(server):
    with open(server.log_path) as f:
        return [line for line in f.read().splitlines() if line.strip()]


def _events(server, kind):
    """(every line parsed as JSON, the lease events of `kind`)."""
    parsed = []
    for line in _log_lines(server):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"log line is not JSON: {line[:300]!r}")
    return parsed, [e for e in parsed if e.get("target") == "tandem::lease" and e.get("event") == kind]


def _wait_events(server, kind, n, timeout=15):
    deadline = time.time() + timeout
    while True:
        parsed, events = _events(server, kind)
        if len(events) >= n or time.time() > deadline:
            return parsed, events
        time.sleep(0.3)


def _replies_with_an_address(pcap):
    """(Reply messages carrying an IA address, the addresses) in a capture."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-Y", "dhcpv6.msgtype == 7 && dhcpv6.iaaddr.ip",
                          "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "dhcpv6.iaaddr.ip"],
                         capture_output=True, text=True, check=True)
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    return len(lines), {a for line in lines for a in line.split(",") if a}


def ops_json_lease_log_has_one_granted_line_per_perfdhcp_reply():
    """perfdhcp -6, N exchanges, log_format = "json": every log line is JSON, and the
    "granted" lines are exactly the Replies that carried an address — as perfdhcp counted
    them, and as captured on the client's link (the exact reference when perfdhcp itself
    lost some on a loaded machine)."""
    if target() != "tandem":
        return "skipped: tandem only"
    with Topology("jl") as topo:
        server = _json_server(topo).start()
        cap = Capture(topo, "replies").start()
        stats, out = perfdhcp(topo, clients=4_000_000, exchanges=EXCHANGES, rate=500, extra=["-u"])
        pcap = cap.stop()
        rr = stats.get("REQUEST-REPLY")
        assert rr, f"perfdhcp printed no statistics:\n{out[-2000:]}\n{server.log()}"
        replies = int(rr["received packets"])
        assert replies >= EXCHANGES * 0.95, f"only {replies} of {EXCHANGES} exchanges completed\n{out[-1500:]}"
        on_wire, wire_addrs = _replies_with_an_address(pcap)
        _wait_events(server, "granted", on_wire)
        time.sleep(1.0)  # a late duplicate would show up now
        parsed, granted = _events(server, "granted")
        for e in granted:
            for field in ("address", "duid", "iaid", "preferred_lifetime", "valid_lifetime", "expires",
                          "subnet", "timestamp", "level"):
                assert field in e, f"granted line without {field}: {e}"
            assert e["level"] == "INFO" and e["valid_lifetime"] == 4000 and e["preferred_lifetime"] == 3000, e
        addresses = {e["address"] for e in granted}
        assert len(granted) == on_wire, \
            f"{len(granted)} granted lines for {on_wire} Replies with an address on the wire\n{server.log()}"
        assert addresses == wire_addrs, \
            f"logged not replied: {sorted(addresses - wire_addrs)[:5]}, replied not logged: {sorted(wire_addrs - addresses)[:5]}"
        lost = int(rr.get("drops", 0))
        if lost == 0:
            assert len(granted) == replies, f"{len(granted)} granted lines for {replies} Replies perfdhcp received"
        else:
            # perfdhcp gave up on some exchanges whose Reply the server still sent.
            assert replies <= len(granted), f"perfdhcp received {replies} Replies, only {len(granted)} lines"
        leases = server.leases()
        missing = [a for a in addresses if a not in leases]
        assert not missing, f"logged but not in the store: {missing[:5]}"
        return (f"{replies} Replies received by perfdhcp ({lost} it counted as lost), {on_wire} on the wire, "
                f"{len(granted)} granted lines naming exactly those addresses (all {len(parsed)} lines JSON), "
                f"every logged address in the store")


def ops_renew_and_release_get_their_lines():
    """dhclient -6 gets an address (T1 4 s): "granted", then "renewed" when it renews, then
    `dhclient -6 -r`: "released" — each naming the address, the same DUID and IAID."""
    if target() != "tandem":
        return "skipped: tandem only"
    with Topology("jr") as topo:
        server = _json_server(topo, preferred=20, valid=30, renew=4, rebind=8).start()
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True)
        addr = next(iter(addrs))
        _, granted = _wait_events(server, "granted", 1)
        assert [e["address"] for e in granted] == [addr], f"granted lines {granted} for {addr}"
        g = granted[0]
        assert g["interface"] == topo.srv_if and g["from"].startswith("fe80::"), g
        _, renewed = _wait_events(server, "renewed", 1, timeout=15)
        assert renewed and renewed[0]["address"] == addr, f"no renewed line for {addr}\n{server.log()}"
        assert renewed[0]["expires"] > g["expires"], (g, renewed[0])
        res = client.release()
        assert res.returncode == 0, f"dhclient -r failed: {res.stderr}"
        _, released = _wait_events(server, "released", 1)
        assert [e["address"] for e in released] == [addr], f"released lines {released} for {addr}\n{server.log()}"
        r = released[0]
        assert r["duid"] == g["duid"] and r["iaid"] == g["iaid"] and r["state"] == "RELEASED", (g, r)
        return f"{addr}: granted, renewed, released, same duid {r['duid']} and iaid {r['iaid']}"


def ops_second_server_on_one_data_dir_is_refused():
    """A second `tandem serve` on the same data_dir exits 1 naming the first; the first keeps serving."""
    if target() != "tandem":
        return "skipped: tandem only"
    with Topology("dd") as topo:
        server = _json_server(topo).start()
        second = topo.ns(topo.srv_ns, ["timeout", "20", tandem_binary(), "serve", "--config", server.config],
                         check=False)
        assert second.returncode == 1, f"second server exited {second.returncode}: {second.stderr}"
        msg = second.stderr
        assert "is in use by another tandem process" in msg and f"pid {server.proc.pid}" in msg, msg
        assert server.proc.poll() is None, "the first server must keep running"
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True)
        client.stop()
        first_line = msg.strip().splitlines()[-1]
        return f"refused: {first_line[:160]}...; the first still served {next(iter(addrs))}"


def ops_pool_use_warnings_and_exhaustion_error():
    """A 20-address pool named "small", pool_warn_percent = 50: perfdhcp's 30 clients fill it;
    warn lines as it passes 50% and the critical 95% (each level once; one line when a check
    finds both passed), and one "pool exhausted" error (the refusals after it are summed up
    once a minute, not logged each)."""
    if target() != "tandem":
        return "skipped: tandem only"

    def small_pool(text):
        text = text.replace('log_format = "json"', 'log_format = "json"\npool_warn_percent = 50')
        big = f'pools = [{{ first = "{POOL[0]}", last = "{POOL[1]}" }}]'
        assert big in text, text
        return text.replace(big, 'pools = [{ name = "small", first = "2001:db8:1::1000", last = "2001:db8:1::1013" }]', 1)

    with Topology("pw") as topo:
        server = _json_server(topo, edit=small_pool).start()
        stats, out = perfdhcp(topo, clients=4_000_000, exchanges=30, rate=10, period=20, timeout=60, extra=["-u"])
        deadline = time.time() + 15
        while True:
            parsed, _ = _events(server, "granted")
            warns = [e for e in parsed if e.get("level") == "WARN" and e.get("pool") == "small"]
            errors = [e for e in parsed if e.get("level") == "ERROR" and "pool exhausted" in e.get("message", "")]
            if (warns and warns[-1].get("pool_level") == "critical" and errors) or time.time() > deadline:
                break
            time.sleep(0.5)
        got = [(w["pool_level"], w["percent"]) for w in warns]
        assert warns and all(w["subnet"] == 1 and w["kind"] == "address" for w in warns), f"{warns}\n{server.log()}"
        assert got[-1][0] == "critical" and got[-1][1] >= 95, f"pool full, no critical warning: {got}"
        assert len({lvl for lvl, _ in got}) == len(got), f"a level warned twice: {got}"
        kinds = [p for _, p in got]
        assert len(errors) == 1, f"one exhaustion error, then summaries: {errors}"
        assert errors[0]["subnet"] == 1 and errors[0]["kind"] == "addresses", errors[0]
        granted = len(_events(server, "granted")[1])
        assert granted == 20, f"{granted} granted from a 20-address pool"
        return (f"warn lines {got} for pool \"small\", one exhaustion error, {granted} leases granted")


def _text_lease_events(text):
    """{event: [resource, ...]} from text-format lease lines (target tandem::lease)."""
    out = {}
    for m in re.finditer(r"tandem::lease: lease (\S+) (?:address|prefix)=(\S+)", text):
        out.setdefault(m.group(1), []).append(m.group(2))
    return out


def ops_pair_lease_log_sent_and_received_from_partner():
    """A pair in NORMAL; dhclient gets an address and a prefix from the primary: the primary
    logs them granted and sent_to_partner, the secondary received_from_partner; neither
    logs a partner's acknowledgement as a lease event."""
    if target() != "tandem":
        return "skipped: tandem only"
    with PairTopology("pl") as topo:
        sec = Member(topo, "sec").start()
        pri = Member(topo, "pri").start()
        pri.wait_state("NORMAL")
        sec.wait_state("NORMAL")
        client = Dhclient(topo, "c1", address=True, prefix=True).start()
        addrs, prefixes = client.wait_bound(want_address=True, want_prefix=True)
        (addr,), (prefix,) = addrs, prefixes
        deadline = time.time() + 15
        while time.time() < deadline:
            p, s_ = _text_lease_events(pri.log_text()), _text_lease_events(sec.log_text())
            if {addr, prefix} <= set(s_.get("received_from_partner", [])):
                break
            time.sleep(0.3)
        client.stop()
        for what in (addr, prefix):
            assert what in p.get("granted", []), f"primary granted lines: {p}\n{pri.log()}"
            assert what in p.get("sent_to_partner", []), f"primary sent lines: {p}\n{pri.log()}"
            assert what in s_.get("received_from_partner", []), f"secondary lines: {s_}\n{sec.log()}"
            assert what not in s_.get("granted", []), f"the secondary granted {what}: {s_}"
        assert not p.get("received_from_partner"), \
            f"the primary logged the partner's acknowledgement as a lease event: {p}"
        assert set(s_.get("received_from_partner", [])) == {addr, prefix}, \
            f"the secondary logged more than the client's two leases (pool shares?): {s_}"
        return (f"{addr} and {prefix}: granted and sent_to_partner on the primary, received_from_partner "
                f"on the secondary")


OPS_LOG_SCENARIOS = [
    ops_pair_lease_log_sent_and_received_from_partner,
    ops_pool_use_warnings_and_exhaustion_error,
    ops_json_lease_log_has_one_granted_line_per_perfdhcp_reply,
    ops_renew_and_release_get_their_lines,
    ops_second_server_on_one_data_dir_is_refused,
]
