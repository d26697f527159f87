"""DHCPv4 failover failures with a real ISC dhcpd 4.4 partner (draft-ietf-dhc-failover-12
as dhcpd speaks it, /work/shared/spec/dhcpd-failover.md): one member is dhcpd, the other
tandem, in both role assignments, and one of them is killed with SIGKILL.

  * dhcpd killed: tandem goes COMMUNICATIONS-INTERRUPTED (§9.9) and keeps serving:
    dhcpd's client rebinds to tandem and keeps its address, a new client gets an address
    from tandem's own pool (§9.9.2), lease times within the MCLT rule (§5.2.1, §9.9.2);
    then `tandem ctl partner-down` (§9.4), dhcpd restarts and recovers from tandem
    (RECOVER, §9.5) and both return to NORMAL.
  * tandem killed: dhcpd goes communications-interrupted, is put into partner-down with
    omshell (OMAPI failover-state local-state 4, dhcpd(8)), tandem restarts on its data
    directory and recovers from dhcpd; both return to NORMAL.
  * tandem killed and restarted with an empty store while dhcpd is still in
    communications-interrupted: dhcpd goes to PARTNER-DOWN at once when it sees RECOVER
    (its fsm, unlike RFC 8156), tandem recovers everything from it.

Every scenario ends with the same safety check: no address ACTIVE for two different
clients across the two tables (dhcpd's lease file and tandem's database), and no two
running clients holding one address.

Timers are short (MCLT 30 s, max-response-delay / keep-alive 5 s, T1 5 s / T2 10 s) so
each scenario runs in well under a minute; the PARTNER-DOWN MCLT wait before the
partner's free addresses may be used is never needed here.
"""

import calendar
import os
import re
import signal
import subprocess
import time

from dhcp4 import Dhclient4
from dhcpd import uid_hex
from harness import ACTIVE
from pair4 import (LINK4, PEER, POOL4, Member4, PairTopology4, dhcpd_member, failover_capture, link_summary,
                   wait_for)

MCLT = 30
# Desired lease times (outside the protocol, draft-12 §5.2.1): dhcpd's is shorter, so
# tandem's MCLT cap in COMMUNICATIONS-INTERRUPTED is below its own desired time and bites.
LEASE_DHCPD, LEASE_TANDEM = 300, 600
T1, T2 = 5, 10
MRD = 5  # dhcpd's max-response-delay = tandem's keepalive
OMAPI_PORT = 7911
# tandem-core's BindingStatus::FreeBackup (a BACKUP address, draft-12 §5.4), in its table.
FREE_BACKUP = 6
# Client identifiers (dhclient.conf colon hex) by the server whose RFC 3074 hash bucket
# they fall in under `split 128` (tandem-wire's dhcpfo::loadb::bucket: buckets 0..127 are
# the primary's): 01 00 0c 01 02 03 {04,05,07} -> 104, 62, 69; {06,08,09} -> 202, 232, 132.
BUCKET_IDS = {"pri": ("1:0:c:1:2:3:4", "1:0:c:1:2:3:5", "1:0:c:1:2:3:7"),
              "sec": ("1:0:c:1:2:3:6", "1:0:c:1:2:3:8", "1:0:c:1:2:3:9")}
# dhcpd(8) THE FAILOVER-STATE OBJECT: local-state 4 = partner down.
DHCPD_PARTNER_DOWN = 4


def _other(who):
    return "sec" if who == "pri" else "pri"


def _id_hex(colon):
    return "".join(f"{int(b, 16):02x}" for b in colon.split(":"))


def _epoch(text):
    """dhcpd/dhclient lease-file time `W YYYY/MM/DD HH:MM:SS` (UTC) as Unix seconds."""
    return calendar.timegm(time.strptime(text, "%Y/%m/%d %H:%M:%S"))


def dhcpd_bindings(d):
    """{"a.b.c.d": {state, uid (hex or None), ends, tstp (Unix s or None)}}: the last block per
    address of dhcpd's lease file (Dhcpd.leases() does not read uid and tstp)."""
    out = {}
    for m in re.finditer(r"^lease ([0-9.]+) \{(.*?)^\}", d.lease_text(), re.S | re.M):
        body = m.group(2)
        state = re.search(r"^\s*binding state (\w+);", body, re.M)
        uid = re.search(r'^\s*uid ("(?:[^"\\]|\\.)*");', body, re.M)
        times = {k: re.search(rf"^\s*{k} \d ([0-9/]+ [0-9:]+);", body, re.M) for k in ("ends", "tstp")}
        out[m.group(1)] = dict(state=state.group(1) if state else None,
                               uid=uid_hex(uid.group(1)) if uid else None,
                               **{k: _epoch(v.group(1)) if v else None for k, v in times.items()})
    return out


def client_lease(client):
    """The newest lease block of a dhclient -4 lease file: address, server, lease time,
    expiry (Unix s), or None."""
    blocks = client.leases_text().split("lease {")[1:]
    if not blocks:
        return None
    b = blocks[-1]
    get = lambda rx: (re.search(rx, b) or [None, None])[1]  # noqa: E731
    expire = get(r"expire \d ([0-9/]+ [0-9:]+);")
    return dict(address=get(r"fixed-address ([0-9.]+);"), server=get(r"option dhcp-server-identifier ([0-9.]+);"),
                lease_time=int(get(r"option dhcp-lease-time (\d+);") or 0),
                expire=_epoch(expire) if expire else None)


def client_log(client):
    """The client's whole log (Dhclient.log() is its tail)."""
    try:
        with open(client.log_path) as f:
            return f.read()
    except OSError:
        return ""


def acks_since(client, since):
    """(address, server) of every DHCPACK in the client's log after byte offset `since`."""
    return re.findall(r"DHCPACK of ([0-9.]+) from ([0-9.]+)", client_log(client)[since:])


def omshell_set_local_state(topo, who, state, peer=PEER):
    """OMAPI (dhcpd(8)): open dhcpd's failover-state object `peer` and set its local-state,
    with omshell run inside dhcpd's namespace."""
    script = (f"server 127.0.0.1\nport {OMAPI_PORT}\nconnect\nnew failover-state\nset name = \"{peer}\"\nopen\n"
              f"set local-state = {state}\nupdate\n")
    res = topo.ns(topo.nss[who], ["timeout", "20", "omshell"], input=script, check=False)
    out = res.stdout + res.stderr
    if res.returncode != 0 or "can't" in out.lower() or "not found" in out.lower():
        raise AssertionError(f"omshell set local-state = {state} failed (rc {res.returncode}):\n{out}")
    return out


def check_no_duplicates(t, d, clients):
    """Safety (draft-12 §5.2.1, §9.4): no address ACTIVE for two different clients across
    dhcpd's lease file and tandem's database, and no two running clients on one address.
    Returns the number of addresses ACTIVE on both."""
    tl = {a: l for a, l in t.leases4().items() if l["status"] == ACTIVE}
    dl = {a: l for a, l in dhcpd_bindings(d).items() if l["state"] == "active"}
    clash = [f"{a}: tandem {tl[a]['duid']}, dhcpd {dl[a]['uid']}" for a in tl.keys() & dl.keys()
             if dl[a]["uid"] is not None and tl[a]["duid"] != dl[a]["uid"]]
    assert not clash, f"addresses ACTIVE for two different clients: {clash}"
    held = {}
    for c in clients:
        l = client_lease(c)
        if l and l["address"]:
            held.setdefault(l["address"], []).append(c.name)
    shared = {a: n for a, n in held.items() if len(n) > 1}
    assert not shared, f"clients holding the same address: {shared}"
    return len(tl.keys() & dl.keys())


def _setup(topo, tandem_role):
    """Capture, dhcpd (OMAPI on) and tandem in their roles, both started; T1/T2 short on
    both so clients renew and rebind within seconds."""
    cap = failover_capture(topo)
    extra = (f"omapi-port {OMAPI_PORT};\noption dhcp-renewal-time {T1};\noption dhcp-rebinding-time {T2};\n"
             "dhcp-cache-threshold 0;")
    d = dhcpd_member(topo, _other(tandem_role), mclt=MCLT, max_response_delay=MRD, lease_time=LEASE_DHCPD,
                     extra=extra).start()
    t = Member4(topo, tandem_role, mclt=MCLT, keepalive=MRD, lease_time=LEASE_TANDEM)
    with open(t.config) as f:
        text = f.read()
    with open(t.config, "w") as f:
        f.write(text.replace(f"lease_time = {LEASE_TANDEM}\n", f"lease_time = {LEASE_TANDEM}\nt1 = {T1}\nt2 = {T2}\n"))
    t.start()
    return cap, t, d


def _logs(t, d, cap, clients=()):
    return lambda: (f"tandem:\n{t.log()}\ndhcpd:\n{d.log()}\n"
                    + "".join(f"{c.name}:\n{c.log()}\n" for c in clients) + f"link:\n{link_summary(cap)}")


def _normal_and_balanced(t, d, logs, timeout=60):
    """Both in NORMAL and the client link's pool split FREE/BACKUP (draft-12 §5.4); returns
    dhcpd's view of the split: (free set, backup set)."""
    t.wait_state("NORMAL", timeout=timeout)
    wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd in NORMAL with tandem", logs)

    def balanced():
        b = {a: l for a, l in dhcpd_bindings(d).items() if a.startswith("192.0.2.")}
        free = {a for a, l in b.items() if l["state"] == "free"}
        backup = {a for a, l in b.items() if l["state"] == "backup"}
        if len(free) + len(backup) != 100 or abs(len(free) - len(backup)) > 10:
            return None
        # dhcpd's file shows a primary's move to BACKUP before the secondary has it: wait
        # for tandem's table to agree (a secondary without BACKUP addresses has nothing to
        # offer a new client, and dhcpd then answers it after `load balance max seconds`).
        t_backup = {a for a, l in t.leases4().items() if a.startswith("192.0.2.") and l["status"] == FREE_BACKUP}
        return (free, backup) if t_backup == backup else None
    return wait_for(balanced, 30, "the client link's pool split FREE/BACKUP in dhcpd's file and tandem's table", logs)


def _bind(topo, name, cid, want_server, logs):
    """A dhclient -4 with client id `cid`, bound by `want_server` (its LINK4 address)."""
    c = Dhclient4(topo, name, client_id=cid)
    c.name = name
    c.start()
    l = wait_for(lambda: (lambda x: x if x and x["address"] else None)(client_lease(c)), 30,
                 f"dhclient -4 {name} got no lease", lambda: c.log() + logs())
    assert l["server"] == want_server, f"{name} ({cid}) bound by {l['server']}, expected {want_server}"
    return c, l


def _dhcpd_states(d, since=0):
    """dhcpd's own transitions after log byte offset `since`: ["normal", "recover", ...]."""
    return re.findall(r"failover peer \S+: I move from \S+ to (\S+)", d.log(tail=10 ** 7)[since:])


def _dhcpd_log_len(d):
    return len(d.log(tail=10 ** 7))


def _tandem_log_len(t):
    return len(t.log_text())


def _kill_dhcpd_tandem_serves_then_dhcpd_recovers(tandem_role):
    dr = _other(tandem_role)
    clients = []
    with PairTopology4("f4d" + tandem_role[0]) as topo:
        cap, t, d = _setup(topo, tandem_role)
        logs = _logs(t, d, cap, clients)
        free, backup = _normal_and_balanced(t, d, logs)
        own_pool = free if tandem_role == "pri" else backup  # draft-12 §9.9.2
        # A client of dhcpd's hash bucket, bound by dhcpd in NORMAL; tandem holds it too.
        a, la = _bind(topo, "c4a", BUCKET_IDS[dr][0], LINK4[dr], logs)
        clients.append(a)
        addr = la["address"]
        wait_for(lambda: (t.leases4().get(addr) or {}).get("status") == ACTIVE, 20,
                 f"{addr} (dhcpd's client) ACTIVE in tandem's database", logs)
        t_log0 = _tandem_log_len(t)
        d.kill9()
        killed = time.time()
        t.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=2 * MRD + 5)
        d_ci = time.time() - killed
        before = dhcpd_bindings(d)[addr]  # what dhcpd told tandem last (lease-expiration, potential-expiration)
        # The client's renewals go to dhcpd's address (dead); at T2 it broadcasts and tandem
        # must answer it (§9.9.2: renew any client's current lease, whoever gave it out).
        a_log = len(client_log(a))
        acks = wait_for(lambda: [x for x in acks_since(a, a_log) if x[1] == LINK4[tandem_role]], T2 + 15,
                        f"{addr}'s client rebound to tandem in COMMUNICATIONS-INTERRUPTED", logs)
        assert all(x[0] == addr for x in acks), f"the client's address changed: {acks} (had {addr})"
        # The lease time tandem granted, from its table (dhclient logs the ACK but may write
        # its lease file much later): the row tandem committed before it sent the ACK.
        row = wait_for(lambda: (lambda r: r if r and r["status"] == ACTIVE and r["cltt"] >= killed - 1 else None)(
            t.leases4().get(addr)), 5, f"tandem's own binding of {addr} after its COMM-INT ACK", logs)
        granted = row["expires"] - row["cltt"]
        # §9.9.2: no later than MCLT past the latest of the partner's lease-expiration and
        # potential-expiration times (what dhcpd's file shows it sent) and now.
        bound = max(v for v in (before["ends"], before["tstp"], row["cltt"]) if v) + MCLT
        assert row["expires"] <= bound + 1, (f"COMM-INT renewal of {addr} until {row['expires']}, beyond the MCLT "
                                             f"bound {bound} (dhcpd's ends {before['ends']}, tstp {before['tstp']})")
        assert 0 < granted <= LEASE_TANDEM, granted
        # A new client of dhcpd's bucket: tandem answers it (no load balancing in COMM-INT)
        # from its own pool (FREE if primary, BACKUP if secondary), for at most the MCLT
        # (its partner knows nothing of it, §5.2.1).
        b, lb = _bind(topo, "c4b", BUCKET_IDS[dr][1], LINK4[tandem_role], logs)
        clients.append(b)
        assert lb["address"] in own_pool, (f"new client got {lb['address']} in COMM-INT, not from tandem's own "
                                           f"{'FREE' if tandem_role == 'pri' else 'BACKUP'} pool")
        rb = wait_for(lambda: (lambda r: r if r and r["status"] == ACTIVE else None)(t.leases4().get(lb["address"])),
                      5, f"{lb['address']} ACTIVE in tandem's table", logs)
        b_granted = rb["expires"] - rb["cltt"]
        assert 0 < b_granted <= MCLT and lb["lease_time"] <= MCLT, \
            f"new client's lease {b_granted} s (client: {lb['lease_time']} s) in COMM-INT > MCLT {MCLT} s"
        # Declared partner-down by the operator (§9.9.3 external command).
        t.ctl("partner-down")
        t.wait_state("PARTNER-DOWN", timeout=10)
        # dhcpd restarts on its old lease file (it saved NORMAL): it finds tandem in
        # PARTNER-DOWN, goes RECOVER, asks for everything (UPDREQALL) and both reach NORMAL.
        d_log0 = _dhcpd_log_len(d)
        restarted = time.time()
        d.start()
        t.wait_state("NORMAL", timeout=MCLT + 30)
        wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd back in NORMAL", logs)
        recovered = time.time() - restarted
        d_states = _dhcpd_states(d, d_log0)
        assert "recover" in d_states, f"dhcpd did not go through RECOVER after the restart: {d_states}\n{logs()}"
        t_states = t.state_changes(t_log0)
        # What dhcpd learnt in RECOVER: both clients' bindings, for the same clients.
        for c, l in ((a, la), (b, lb)):
            wait_for(lambda: (dhcpd_bindings(d).get(l["address"]) or {}).get("state") == "active", 20,
                     f"{l['address']} ({c.name}) ACTIVE in the recovered dhcpd's lease file", logs)
            got = dhcpd_bindings(d)[l["address"]]["uid"]
            want = _id_hex(BUCKET_IDS[dr][0 if c is a else 1])
            assert got == want, f"{l['address']} ACTIVE in dhcpd for {got}, held by {want}"
        # Both clients keep renewing their addresses with the pair in NORMAL.
        for c, l in ((a, la), (b, lb)):
            mark = len(client_log(c))
            got = wait_for(lambda: acks_since(c, mark), T1 + 15, f"{c.name} renewed in NORMAL", logs)
            assert all(x[0] == l["address"] for x in got), f"{c.name} changed address: {got} (had {l['address']})"
        both = check_no_duplicates(t, d, clients)
        for c in clients:
            c.stop()
        return (f"tandem {tandem_role}: COMM-INT {d_ci:.1f}s after kill -9 of dhcpd; {addr} rebound to tandem "
                f"({granted}s, MCLT bound {bound - row['cltt']}s), new client {lb['address']} from own pool "
                f"({b_granted}s); PARTNER-DOWN; dhcpd {'->'.join(d_states)}, tandem {'->'.join(t_states)}, "
                f"NORMAL {recovered:.1f}s after restart; {both} ACTIVE on both, no duplicates")


def dhcpd_secondary_killed_tandem_primary_serves_partner_down_then_dhcpd_recovers():
    """kill -9 of a dhcpd secondary: the tandem primary goes COMMUNICATIONS-INTERRUPTED
    (draft-12 §9.9), rebinds dhcpd's client to the same address with a lease time within
    MCLT of what dhcpd last sent (§9.9.2, §5.2.1), gives a new client of dhcpd's hash bucket
    a FREE address (own pool, no load balancing) for at most MCLT; `tandem ctl partner-down`
    (§9.9.3); the restarted dhcpd goes RECOVER (§9.5) and both reach NORMAL, dhcpd then
    holds both clients' bindings, the clients renew the same addresses, no duplicates."""
    return _kill_dhcpd_tandem_serves_then_dhcpd_recovers("pri")


def dhcpd_primary_killed_tandem_secondary_serves_partner_down_then_dhcpd_recovers():
    """The same with tandem the secondary of a dhcpd primary: the new client's address comes
    from tandem's BACKUP pool (draft-12 §9.9.2)."""
    return _kill_dhcpd_tandem_serves_then_dhcpd_recovers("sec")


def _kill_tandem_dhcpd_serves_then_tandem_recovers(tandem_role, empty_store=False):
    """kill -9 of tandem; dhcpd serves in communications-interrupted; then either dhcpd is
    put into partner-down by OMAPI and tandem restarts on its data directory, or
    (empty_store) tandem restarts with an empty store at once. Returns the detail line."""
    import shutil
    dr = _other(tandem_role)
    clients = []
    with PairTopology4(("f4e" if empty_store else "f4t") + tandem_role[0]) as topo:
        cap, t, d = _setup(topo, tandem_role)
        logs = _logs(t, d, cap, clients)
        _normal_and_balanced(t, d, logs)
        d_pool = {a for a, l in dhcpd_bindings(d).items() if l["state"] == ("free" if dr == "pri" else "backup")}
        # A client of tandem's hash bucket, bound by tandem in NORMAL; dhcpd holds it too.
        a, la = _bind(topo, "c4a", BUCKET_IDS[tandem_role][0], LINK4[tandem_role], logs)
        clients.append(a)
        addr = la["address"]
        wait_for(lambda: (dhcpd_bindings(d).get(addr) or {}).get("state") == "active", 20,
                 f"{addr} (tandem's client) ACTIVE in dhcpd's lease file", logs)
        d_log0 = _dhcpd_log_len(d)
        t.kill9()
        killed = time.time()
        wait_for(lambda: (d.failover_state(PEER) or ("",))[0] == "communications-interrupted", 2 * MRD + 5,
                 "dhcpd in communications-interrupted after kill -9 of tandem", logs)
        d_ci = time.time() - killed
        # dhcpd keeps tandem's client on its address (it rebinds at T2) and gives a new
        # client of tandem's bucket an address of its own pool.
        a_log = len(client_log(a))
        acks = wait_for(lambda: [x for x in acks_since(a, a_log) if x[1] == LINK4[dr]], T2 + 15,
                        f"{addr}'s client rebound to dhcpd in communications-interrupted", logs)
        assert all(x[0] == addr for x in acks), f"the client's address changed: {acks} (had {addr})"
        b, lb = _bind(topo, "c4b", BUCKET_IDS[tandem_role][1], LINK4[dr], logs)
        clients.append(b)
        assert lb["address"] in d_pool, f"dhcpd gave {lb['address']} in COMM-INT, not from its own pool"
        if empty_store:
            # An amnesiac tandem (draft-12 §9.5: no stored state -> RECOVER).
            t.proc = None
            shutil.rmtree(t.data_dir)
            os.makedirs(t.data_dir)
        else:
            omshell_set_local_state(topo, dr, DHCPD_PARTNER_DOWN)
            wait_for(lambda: (d.failover_state(PEER) or ("",))[0] == "partner-down", 10,
                     "dhcpd in partner-down after omshell set local-state = 4", logs)
        t_log0 = _tandem_log_len(t)
        restarted = time.time()
        t.start()
        t.wait_state("NORMAL", timeout=MCLT + 40)
        wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd back in NORMAL", logs)
        recovered = time.time() - restarted
        t_states = t.state_changes(t_log0)
        d_states = _dhcpd_states(d, d_log0)
        # What tandem learnt from dhcpd (its own client's renewals in COMM-INT and the new
        # client dhcpd gave an address): both ACTIVE in tandem's database, for those clients.
        for c, cid, l in ((a, BUCKET_IDS[tandem_role][0], la), (b, BUCKET_IDS[tandem_role][1], lb)):
            row = wait_for(lambda: (lambda r: r if r and r["status"] == ACTIVE else None)(
                t.leases4().get(l["address"])), 20, f"{l['address']} ({c.name}) ACTIVE in the recovered tandem", logs)
            assert row["duid"] == _id_hex(cid), f"{l['address']} ACTIVE in tandem for {row['duid']}, held by {cid}"
        for c, l in ((a, la), (b, lb)):
            mark = len(client_log(c))
            got = wait_for(lambda: acks_since(c, mark), T1 + 15, f"{c.name} renewed in NORMAL", logs)
            assert all(x[0] == l["address"] for x in got), f"{c.name} changed address: {got} (had {l['address']})"
        both = check_no_duplicates(t, d, clients)
        for c in clients:
            c.stop()
        how = "restarted with an EMPTY store" if empty_store else "dhcpd partner-down by omshell, tandem restarted"
        return (f"tandem {tandem_role}: dhcpd COMM-INT {d_ci:.1f}s after kill -9 of tandem; {addr} rebound to dhcpd, "
                f"new client {lb['address']} from dhcpd; {how}: tandem {'->'.join(t_states)}, dhcpd "
                f"{'->'.join(d_states)}, NORMAL {recovered:.1f}s after restart; {both} ACTIVE on both, no duplicates")


def tandem_primary_killed_dhcpd_partner_down_by_omapi_then_tandem_recovers():
    """kill -9 of a tandem primary: the dhcpd secondary goes communications-interrupted and
    keeps tandem's client on its address; a new client gets one of dhcpd's own pool
    (draft-12 §9.9.2); dhcpd is put into PARTNER-DOWN over OMAPI (omshell, failover-state
    local-state 4); tandem restarts on its data directory, finds dhcpd in PARTNER-DOWN,
    recovers (RECOVER, UPDREQALL, §9.5) and both reach NORMAL; tandem then holds both
    clients' bindings, the clients renew the same addresses, no duplicates."""
    return _kill_tandem_dhcpd_serves_then_tandem_recovers("pri")


def tandem_secondary_killed_dhcpd_partner_down_by_omapi_then_tandem_recovers():
    """The same with tandem the secondary of a dhcpd primary."""
    return _kill_tandem_dhcpd_serves_then_tandem_recovers("sec")


def tandem_restarted_with_empty_store_recovers_from_dhcpd_in_comm_interrupted():
    """kill -9 of a tandem secondary, and it restarts with an EMPTY store while the dhcpd
    primary is still in communications-interrupted: tandem starts in RECOVER (draft-12
    §9.5, no stored state); dhcpd, which sees an amnesiac partner, goes to PARTNER-DOWN at
    once (its fsm; RFC 8156 differs); tandem learns every binding (UPDREQALL) and both
    reach NORMAL; the clients keep their addresses, no duplicates."""
    return _kill_tandem_dhcpd_serves_then_tandem_recovers("sec", empty_store=True)


PAIR4_FAILURE_SCENARIOS = [
    dhcpd_secondary_killed_tandem_primary_serves_partner_down_then_dhcpd_recovers,
    dhcpd_primary_killed_tandem_secondary_serves_partner_down_then_dhcpd_recovers,
    tandem_primary_killed_dhcpd_partner_down_by_omapi_then_tandem_recovers,
    tandem_secondary_killed_dhcpd_partner_down_by_omapi_then_tandem_recovers,
    tandem_restarted_with_empty_store_recovers_from_dhcpd_in_comm_interrupted,
]
