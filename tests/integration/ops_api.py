"""Control API and reload scenarios (issue 12): every `tandem ctl` command against a
single server and against a pair (a lease added or deleted on one member appears or
disappears on the other, seen through the other member's API), reload while perfdhcp
runs (no drop, no lost lease), SIGHUP applies a changed option and never stops the
server, and a bad configuration is refused while the old one keeps serving.
See docs/control-api.md."""

import json
import os
import random
import signal
import socket
import struct
import subprocess
import time

from clients import Dhclient, KernelUdp6, PerfdhcpLoad
from harness import ACTIVE, Tandem, Topology, tandem_binary, tandem_config
from pair import Member, PairTopology

DUID = "00:03:00:01:02:00:00:00:a1:01"


def ctl(ns_runner, ns, socket_path, *args, json_out=True):
    """tandem ctl in a namespace; (exit code, parsed JSON or text, stderr)."""
    cmd = [tandem_binary(), "ctl", "--socket", socket_path] + (["--json"] if json_out else []) + list(args)
    out = ns_runner(ns, cmd, check=False)
    body = out.stdout
    if json_out and out.returncode == 0 and body.strip().startswith(("{", "[")):
        body = json.loads(body)
    return out.returncode, body, out.stderr


class Single:
    """A single server and its control socket."""

    def __init__(self, topo, **kw):
        self.topo = topo
        self.data_dir = os.path.join(topo.tmp, "data")
        self.server = Tandem(topo, self.data_dir, **kw).start()
        self.socket = os.path.join(self.data_dir, "tandem.ctl")

    def ctl(self, *args, json_out=True):
        return ctl(self.topo.ns, self.topo.srv_ns, self.socket, *args, json_out=json_out)

    def ok(self, *args, json_out=True):
        code, body, err = self.ctl(*args, json_out=json_out)
        assert code == 0, f"tandem ctl {' '.join(args)}: exit {code}: {body}{err}\n{self.server.log()}"
        return body


def member_ctl(m, *args, json_out=True):
    return ctl(m.topo.ns, m.topo.nss[m.who], os.path.join(m.data_dir, "tandem.ctl"), *args, json_out=json_out)


def member_ok(m, *args):
    code, body, err = member_ctl(m, *args)
    assert code == 0, f"tandem ctl {' '.join(args)} on {m.who}: exit {code}: {body}{err}\n{m.log()}"
    return body


def _wait(pred, what, timeout=30, detail=lambda: ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{detail()}")


def information_request(topo, timeout=3.0):
    """One Information-request (RFC 8415 §18.2.6) from the client namespace asking for DNS
    servers (ORO 23); returns the DNS servers of the Reply, or None without a Reply."""
    script = r"""
import socket, struct, sys, random, ipaddress
ifname = sys.argv[1]
idx = socket.if_nametoindex(ifname)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 546, 0, idx))
s.settimeout(float(sys.argv[2]))
xid = random.randrange(1 << 24)
duid = bytes.fromhex("00030001020000000099")
opts = struct.pack("!HH", 1, len(duid)) + duid + struct.pack("!HHH", 6, 2, 23) + struct.pack("!HHH", 8, 2, 0)
s.sendto(bytes([11]) + xid.to_bytes(3, "big") + opts, ("ff02::1:2", 547, 0, idx))
try:
    while True:
        data, _ = s.recvfrom(2000)
        if data[0] == 7 and int.from_bytes(data[1:4], "big") == xid:
            break
except socket.timeout:
    print("NOREPLY"); sys.exit(0)
i, dns = 4, []
while i + 4 <= len(data):
    code, ln = struct.unpack("!HH", data[i:i + 4])
    if code == 23:
        dns = [str(ipaddress.IPv6Address(data[i + 4 + k:i + 20 + k])) for k in range(0, ln, 16)]
    i += 4 + ln
print(",".join(dns))
"""
    out = topo.ns(topo.cli_ns, ["python3", "-c", script, topo.cli_if, str(timeout)]).stdout.strip()
    if out == "NOREPLY":
        return None
    return out.split(",") if out else []


def ops_api_single_server_every_command():
    """Against one server: status, leases add/get/list/get --duid/export json+csv/delete/
    import, partner-down (refused: no partner), reload; bad input gets a clear error and
    changes nothing; a dhclient lease shows in the list."""
    with Topology("api1") as topo:
        s = Single(topo)
        st = s.ok("status")
        assert st["role"] == "standalone", st
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True, want_prefix=False)
        (caddr,) = addrs
        added = s.ok("leases", "add", "2001:db8:1::2000", "--duid", DUID, "--iaid", "5", "--valid", "900")
        assert added["leases"][0]["state"] == "ACTIVE" and added["leases"][0]["valid_lifetime"] == 900, added
        # Durable before the answer: the store already has it.
        assert s.server.leases()["2001:db8:1::2000"]["status"] == ACTIVE
        got = s.ok("leases", "get", "2001:db8:1::2000")
        assert got["iaid"] == 5 and got["duid"] == DUID, got
        by_duid = s.ok("leases", "get", "--duid", DUID)
        assert [l["address"] for l in by_duid["leases"]] == ["2001:db8:1::2000"], by_duid
        pfx = s.ok("leases", "add", "2001:db8:100:ff00::/56", "--duid", DUID, "--iaid", "6")
        assert pfx["leases"][0]["prefix"] == "2001:db8:100:ff00::/56", pfx
        listed = s.ok("leases", "list", "--state", "active")
        shown = {l.get("address") or l.get("prefix") for l in listed["leases"]}
        assert {caddr, "2001:db8:1::2000", "2001:db8:100:ff00::/56"} <= shown, listed
        page = s.ok("leases", "list", "--limit", "1")
        assert len(page["leases"]) == 1 and page["next"], page
        exported = os.path.join(topo.tmp, "export.json")
        s.ok("leases", "export", "--output", exported)
        with open(exported) as f:
            assert len(json.load(f)["leases"]) >= 3
        csv = s.ok("leases", "export", "--format", "csv", json_out=False)
        assert csv.splitlines()[0].startswith("address,prefix,duid,iaid"), csv[:200]
        assert any(l.startswith("2001:db8:1::2000,,") for l in csv.splitlines()), csv
        # Bad input: a clear error, exit 1, nothing changed.
        before = s.server.leases()
        for args, want in [
            (("leases", "add", "2001:db8:9::1", "--duid", DUID), "outside every address pool"),
            (("leases", "add", "2001:db8:1::2000", "--duid", "00:03:00:01:99:99"), "delete that lease first"),
            (("leases", "list", "--limit", "5000"), "1 to 1000"),
            (("leases", "get", "2001:db8:1::7777"), "no lease record"),
            (("partner-down",), "no failover partner"),
        ]:
            code, body, err = s.ctl(*args)
            assert code == 1 and want in err, f"{args}: exit {code}, {body} {err}"
        assert s.server.leases() == before, "a refused request changed the store"
        deleted = s.ok("leases", "delete", "2001:db8:1::2000")
        assert "2001:db8:1::2000" not in s.server.leases(), deleted
        code, _, err = s.ctl("leases", "get", "2001:db8:1::2000")
        assert code == 1 and "no lease record" in err, err
        # Import the export back: the deleted lease returns, the rest is an update.
        imported = s.ok("leases", "import", exported)
        assert len(imported["leases"]) >= 3, imported
        assert s.server.leases()["2001:db8:1::2000"]["status"] == ACTIVE
        reloaded = s.ok("reload")
        assert reloaded["changes"] == [], reloaded
        human = s.ok("status", json_out=False)
        assert "state       standalone" in human, human
        assert s.server.proc.poll() is None
        client.stop()
        return f"every command answered; dhclient's {caddr} listed; refused input left the store as it was"


def ops_api_pair_add_and_delete_reach_the_partner():
    """Against a pair: a lease added through the primary's API appears in the secondary's
    API and one of the secondary's half the other way, while an address of the primary's
    half is refused on the secondary (RFC 8156 §4.2.1); deleted through the secondary's,
    it stops being ACTIVE on the primary (released
    on both, RFC 8156 §7.2); status of both; export on each; a reload changing the MCLT is
    refused, one adding an option applied; partner-down on the secondary takes it to
    PARTNER-DOWN."""
    with PairTopology("api2") as topo:
        sec = Member(topo, "sec").start()
        pri = Member(topo, "pri").start()
        pri.wait_state("NORMAL")
        sec.wait_state("NORMAL")
        st = member_ok(pri, "status")
        assert st["role"] == "primary" and st["partner_state"] == "NORMAL", st
        member_ok(pri, "leases", "add", "2001:db8:1::3001", "--duid", DUID, "--iaid", "1")
        theirs = _wait(lambda: member_ctl(sec, "leases", "get", "2001:db8:1::3001")[0] == 0 and
                       member_ok(sec, "leases", "get", "2001:db8:1::3001"),
                       "the secondary to know the lease", detail=sec.log)
        assert theirs["state"] == "ACTIVE" and theirs["duid"] == DUID, theirs
        # An address of the secondary's half (even, RFC 8156 §4.2.1), added there, reaches
        # the primary; one of the primary's half is refused on the secondary.
        member_ok(sec, "leases", "add", "2001:db8:1::3002", "--duid", DUID, "--iaid", "3")
        _wait(lambda: member_ctl(pri, "leases", "get", "2001:db8:1::3002")[0] == 0,
              "the primary to know the secondary's lease", detail=pri.log)
        code, _, err = member_ctl(sec, "leases", "add", "2001:db8:1::3003", "--duid", DUID, "--iaid", "4")
        assert code == 1 and "partner's share" in err and "add it on the primary" in err, err
        assert member_ctl(pri, "leases", "get", "2001:db8:1::3003")[0] == 1, "the refused add reached the primary"
        # A prefix (the primary holds every block until it rebalances, §4.2.2) reaches the
        # secondary.
        member_ok(pri, "leases", "add", "2001:db8:100:e00::/56", "--duid", DUID, "--iaid", "2")
        _wait(lambda: member_ctl(sec, "leases", "get", "2001:db8:100:e00::/56")[0] == 0,
              "the secondary to know the prefix", detail=sec.log)
        # Deleted on the secondary: no longer ACTIVE on the primary.
        member_ok(sec, "leases", "delete", "2001:db8:1::3001")

        def gone_on_primary():
            code, body, _ = member_ctl(pri, "leases", "get", "2001:db8:1::3001")
            return code == 1 or body.get("state") != "ACTIVE"
        _wait(gone_on_primary, "the delete to reach the primary", detail=pri.log)
        active_on_pri = member_ok(pri, "leases", "list", "--state", "active")["leases"]
        assert not any(l.get("address") == "2001:db8:1::3001" for l in active_on_pri), active_on_pri
        for m in (pri, sec):
            exp = member_ok(m, "leases", "export")
            assert any(l.get("prefix") == "2001:db8:100:e00::/56" for l in exp["leases"]), exp
        _wait(lambda: member_ok(pri, "status")["updates_unacked"] == 0, "updates acknowledged")
        reloaded = member_ok(pri, "reload")
        assert reloaded["changes"] == [], reloaded
        with open(pri.config) as f:
            good = f.read()
        with open(pri.config, "w") as f:
            f.write(good.replace("mclt = 30", "mclt = 40"))
        code, _, err = member_ctl(pri, "reload")
        assert code == 1 and "failover.mclt: 30 -> 40" in err, err
        with open(pri.config, "w") as f:
            f.write(good.replace("[[subnet6]]", '[options]\ndns_servers = ["2001:db8:1::53"]\n\n[[subnet6]]', 1))
        reloaded = member_ok(pri, "reload")
        assert reloaded["changes"] == ["global options"], reloaded
        assert member_ok(pri, "status")["state"] == "NORMAL"
        topo.cut()
        sec.wait_state("COMMUNICATIONS-INTERRUPTED")
        member_ok(sec, "partner-down")
        sec.wait_state("PARTNER-DOWN")
        return "add on primary seen by secondary, even address the other way, odd address refused on the secondary, delete on secondary released on primary"


def _reloaded_config(path, valid=None, dns=None, extra_pool=None):
    with open(path) as f:
        text = f.read()
    if valid is not None:
        import re
        text = re.sub(r"valid_lifetime = \d+", f"valid_lifetime = {valid}", text, count=1)
    if dns is not None:
        text = text.replace('dns_servers = ["2001:db8:1::53"]', f'dns_servers = ["{dns}"]')
    if extra_pool is not None:
        text += extra_pool
    with open(path, "w") as f:
        f.write(text)


def ops_reload_during_perfdhcp_drops_nothing_and_loses_no_lease():
    """perfdhcp at a steady rate while the configuration is reloaded five times (lifetimes,
    options, a new subnet): every Solicit is answered, every Reply's lease is in the store."""
    with Topology("api3") as topo:
        s = Single(topo)
        kernel = KernelUdp6(topo)
        load = PerfdhcpLoad(topo, rate=100, seconds=12).start()
        time.sleep(2)
        for i in range(5):
            extra = ""
            if i == 2:
                extra = ('\n[[subnet6]]\nid = 7\nprefix = "2001:db8:7::/64"\n'
                         'preferred_lifetime = 3000\nvalid_lifetime = 4000\n'
                         'pools = [{ first = "2001:db8:7::100", last = "2001:db8:7::1ff" }]\n')
            _reloaded_config(s.server.config, valid=4000 + 100 * (i + 1), extra_pool=extra,
                             dns="2001:db8:1::54" if i == 3 else None)
            r = s.ok("reload")
            assert r["changes"], r
            time.sleep(1.5)
        _wait(lambda: not load.running(), "perfdhcp to finish", timeout=60)
        stats, out = load.stop()
        sa, rr = stats.get("SOLICIT-ADVERTISE"), stats.get("REQUEST-REPLY")
        assert sa and rr, f"perfdhcp printed no statistics:\n{out[-2000:]}"
        drops = kernel.check_answered(stats, f"\n{out[-1500:]}\n{s.server.log()}")
        replies = int(rr["received packets"])
        assert replies >= 1000, f"only {replies} exchanges"
        st = s.ok("status")
        active = sum(1 for l in s.server.leases().values() if l["status"] == ACTIVE)
        assert active >= replies, f"{active} ACTIVE leases in the store < {replies} Replies"
        assert st["active_leases"] >= replies, st
        log = open(s.server.log_path).read()
        assert log.count("configuration reloaded trigger=") == 5, log[-3000:]
        return f"{replies} Replies, {drops:.0f} lost in perfdhcp's socket, 5 reloads, {active} ACTIVE leases in the store"


def ops_sighup_applies_a_changed_option_and_keeps_serving():
    """SIGHUP re-reads the file: a changed DNS server reaches the next Information-request;
    the server never stops, and a burst of SIGHUPs is harmless."""
    with Topology("api4") as topo:
        s = Single(topo)
        assert information_request(topo) == ["2001:db8:1::53"]
        _reloaded_config(s.server.config, dns="2001:db8:1::5353")
        s.server.proc.send_signal(signal.SIGHUP)
        _wait(lambda: information_request(topo, timeout=1) == ["2001:db8:1::5353"],
              "the new DNS server in a Reply", detail=s.server.log)
        for _ in range(5):
            s.server.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert s.server.proc.poll() is None, f"SIGHUP stopped the server:\n{s.server.log()}"
        assert information_request(topo) == ["2001:db8:1::5353"]
        assert s.ok("status")["role"] == "standalone"
        assert "configuration reloaded trigger=\"SIGHUP\"" in open(s.server.log_path).read()
        return "Information-request saw the new DNS server after SIGHUP; 6 SIGHUPs, still serving"


def ops_bad_reload_is_refused_and_the_old_config_keeps_serving():
    """A reload of a broken file, of a changed listen address and of a pool shrunk under an
    active lease: each refused with the reason (ctl and SIGHUP); the old configuration
    keeps serving."""
    with Topology("api5") as topo:
        s = Single(topo)
        with open(s.server.config) as f:
            good = f.read()
        s.ok("leases", "add", "2001:db8:1::ff00", "--duid", DUID)
        cases = [
            (good + "\nbogus_key = 1\n", "unknown field `bogus_key`"),
            (good.replace("[server]", "[server]\nport = 5547", 1), "server.port: 547 -> 5547"),
            (good.replace('last = "2001:db8:1::ffff:ffff"', 'last = "2001:db8:1::1fff"'),
             "outside every pool"),
        ]
        for text, want in cases:
            with open(s.server.config, "w") as f:
                f.write(text)
            code, body, err = s.ctl("reload")
            assert code == 1 and want in err, f"reload of a bad file: exit {code} {body} {err}"
            s.server.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert s.server.proc.poll() is None, s.server.log()
        assert information_request(topo) == ["2001:db8:1::53"], "the old options stopped serving"
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True, want_prefix=False)
        client.stop()
        log = open(s.server.log_path).read()
        assert log.count("configuration reload refused") >= 6, log[-3000:]
        with open(s.server.config, "w") as f:
            f.write(good)
        assert s.ok("reload")["changes"] == []
        return f"3 bad files refused by ctl and by SIGHUP; the old config still served {sorted(addrs)[0]}"


OPS_API_SCENARIOS = [
    ops_api_single_server_every_command,
    ops_api_pair_add_and_delete_reach_the_partner,
    ops_reload_during_perfdhcp_drops_nothing_and_loses_no_lease,
    ops_sighup_applies_a_changed_option_and_keeps_serving,
    ops_bad_reload_is_refused_and_the_old_config_keeps_serving,
]
