"""DHCPv4 failover partitions and dueling answers with a real ISC dhcpd 4.4 as the partner
(draft-ietf-dhc-failover-12 as dhcpd speaks it): tandem in one role, dhcpd in the other.

Two rules:

* A silent partition (pair.PairTopology.silent_cut: nftables drops TCP 647, no RST) is
  noticed by both members' keep-alive timers alone; both go COMMUNICATIONS-INTERRUPTED
  and keep serving, each only from its own pool (FREE for the primary, BACKUP for the
  secondary, §5.4 and §9.2), so no address is ever handed to two clients; after the heal
  both return to NORMAL and each sends what it did (§9.3), so the two tables agree.
* Broadcast REQUESTs without a server identifier (INIT-REBOOT, REBINDING) with 'secs'
  above the load-balance threshold are answered by both members (RFC 3074 §3, dhcpd's
  `load balance max seconds`); both then send BNDUPDs for the same binding at the same
  time. Each must accept the other's (same client: nothing to reject, §7.1.2), the tables
  converge, and the link stays up.

Clients "on each side" of the partition live in namespaces of their own on the client
bridge, with a bridge filter that hides one member from them (`_side_client`); perfdhcp
-4 (a relay agent at 198.51.100.2) reaches one member by unicast.
"""

import json
import os
import re
import socket
import struct
import subprocess
import time

from dhcpd import Dhcpd, uid_hex
from harness import ACTIVE, run
from pair4 import (FO4, GIADDR, LINK4, PEER, POOL4, RELAY4_POOL, PairTopology4, dhcpd_failover_conf,
                   failover_capture, link_summary, Member4, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
NFT_BRIDGE_TABLE = "tandem_it_sides"
# Keep-alive (tandem) and max-response-delay (dhcpd): both notice a silent partition
# within this many seconds of the last message they had (§8.8.2).
KEEPALIVE = 5
MCLT = 60
# The client link's lease time: dhclient renews at T1 = half of it, inside the partition.
# RFC 8156 §1 (tandem's floor): no failover lease under 30 s.
LINK_LEASE = 30
# The relayed link's: longer than the MCLT, so in COMMUNICATIONS-INTERRUPTED each member
# gives the MCLT (§5.2.1), and perfdhcp's leases outlive the scenario.
RELAY_LEASE = 120


def _other(who):
    return "sec" if who == "pri" else "pri"


def _bridge_port(topo, who):
    """The bridge-side veth of `who` (pair.PairTopology's naming)."""
    return f"b{topo.id}{who}"[:15]


def _side_client(topo, tag, hidden):
    """A client namespace of its own (`tag`) on the client bridge whose frames never reach
    member `hidden` and back (an nftables bridge filter in the bridge namespace): a client
    on the other member's side of a partition. Returns (namespace, interface)."""
    ns = f"it-{topo.id}-{tag}"
    topo.nss[tag] = ns  # PairTopology.__exit__ deletes it
    os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
    open(f"/etc/netns/{ns}/resolv.conf", "w").close()
    run(["ip", "netns", "add", ns])
    topo.ns(ns, ["ip", "link", "set", "lo", "up"])
    dev, port, br = f"it{topo.id}{tag}"[:15], _bridge_port(topo, tag), topo.nss["br"]
    run(["ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns", br])
    topo.ns(br, ["ip", "link", "set", port, "master", "br0"])
    topo.ns(br, ["ip", "link", "set", port, "up"])
    topo.ns(ns, ["ip", "link", "set", dev, "up"])
    hide = _bridge_port(topo, hidden)
    topo.ns(br, ["nft", "-f", "-"], input=(
        f"table bridge {NFT_BRIDGE_TABLE} {{\n  chain sides {{\n"
        "    type filter hook forward priority 0; policy accept;\n  }\n}\n"))
    for a, b in ((port, hide), (hide, port)):
        topo.ns(br, ["nft", "add", "rule", "bridge", NFT_BRIDGE_TABLE, "sides", "iifname", a, "oifname", b, "drop"])
    return ns, dev


def _dhcpd(topo, who, extra=""):
    """dhcpd member `who` with the short timers above and per-link lease times."""
    conf = dhcpd_failover_conf(who, mclt=MCLT, max_response_delay=KEEPALIVE, lease_time=RELAY_LEASE, extra=extra)
    link = f'option routers {LINK4["pri"]};'
    conf = conf.replace(link, f"{link}\n    default-lease-time {LINK_LEASE};\n    max-lease-time {LINK_LEASE};", 1)
    data = os.path.join(topo.tmp, f"dhcpd-{who}")
    os.makedirs(data, exist_ok=True)
    return Dhcpd(topo, data, conf, ns=topo.nss[who], iface=topo.srv_if[who]).start()


def _tandem(topo, who):
    t = Member4(topo, who, mclt=MCLT, keepalive=KEEPALIVE, lease_time=RELAY_LEASE)
    with open(t.config) as f:
        text = f.read()
    # The first subnet4 is the client link.
    text = text.replace(f"lease_time = {RELAY_LEASE}", f"lease_time = {LINK_LEASE}", 1)
    with open(t.config, "w") as f:
        f.write(text)
    return t.start()


def dhcpd_bindings(d):
    """{address: (state, client)} of dhcpd's lease file (the last block per address); the
    client as tandem keys it (Lease::duid): the client identifier, else htype 01 and chaddr."""
    out = {}
    for m in re.finditer(r"^lease ([0-9.]+) \{(.*?)^\}", d.lease_text(), re.S | re.M):
        body = m.group(2)
        state = re.search(r"^\s*binding state (\w+);", body, re.M)
        uid = re.search(r"^\s*uid (\"(?:[^\"\\]|\\.)*\"|[0-9a-f:]+);", body, re.M)
        hw = re.search(r"hardware ethernet ([0-9a-f:]+);", body)
        client = uid_hex(uid.group(1)) if uid else ("01" + hw.group(1).replace(":", "") if hw else None)
        out[m.group(1)] = (state.group(1) if state else None, client)
    return out


def active_clients(member):
    """{address: client} of the ACTIVE bindings of a member (tandem's database or dhcpd's
    lease file), clients keyed alike."""
    if isinstance(member, Dhcpd):
        return {a: c for a, (s, c) in dhcpd_bindings(member).items() if s == "active"}
    return {a: l["duid"] for a, l in member.leases4().items() if l["status"] == ACTIVE}


def _ends_differ(t, d, addrs):
    """[(address, tandem's end, dhcpd's end)] where the two tables' lease ends differ by
    more than 1 s (dhcpd writes `ends` in UTC, whole seconds)."""
    import calendar
    ends = {}
    for m in re.finditer(r"^lease ([0-9.]+) \{(.*?)^\}", d.lease_text(), re.S | re.M):
        e = re.search(r"^\s*ends \d ([0-9/]+ [0-9:]+);", m.group(2), re.M)
        ends[m.group(1)] = calendar.timegm(time.strptime(e.group(1), "%Y/%m/%d %H:%M:%S")) if e else None
    mine = t.leases4()
    return [(a, (mine.get(a) or {}).get("expires"), ends.get(a)) for a in addrs
            if ends.get(a) is None or abs(((mine.get(a) or {}).get("expires") or 0) - ends[a]) > 1]


def _pool_sets(d):
    """(FREE, BACKUP) addresses of both shared pools in dhcpd's lease file."""
    b = dhcpd_bindings(d)
    return ({a for a, (s, _) in b.items() if s == "free"}, {a for a, (s, _) in b.items() if s == "backup"})


def _in(addr, pool):
    a = socket.inet_aton(addr)
    return socket.inet_aton(pool[0]) <= a <= socket.inet_aton(pool[1])


def _balanced(d):
    """Both pools split FREE/BACKUP in dhcpd's file (the primary's pool balance, §5.4)."""
    free, backup = _pool_sets(d)
    sizes = {"link": 100, "relay": 241}
    for name, pool in (("link", POOL4), ("relay", RELAY4_POOL)):
        f = sum(1 for a in free if _in(a, pool))
        b = sum(1 for a in backup if _in(a, pool))
        if f + b != sizes[name] or abs(f - b) > sizes[name] // 10:
            return None
    return free, backup


# A second relay address on the client namespace's veth, for a second perfdhcp at once
# (each binds its relay address's port 67).
GIADDR2 = "198.51.100.3"


# perfdhcp clients per member during the partition: more than its own share of the
# relayed pool (241 addresses, about 120 each), so each member runs out of its own pool
# and must refuse the rest rather than take the partner's (§9.2).
PARTITION_CLIENTS = 160


def _perfdhcp_to(topo, who, mac_base, seconds, name, giaddr):
    """perfdhcp -4 as a relay agent at `giaddr`, by unicast to member `who` only: DORA for
    up to PARTITION_CLIENTS clients (random last MAC byte after `mac_base`) at 50/s and
    renewals at 5/s, for `seconds`. Started; returns (process, output path)."""
    out = os.path.join(topo.tmp, f"{name}.out")
    cmd = ["timeout", str(seconds + 20), "perfdhcp", "-4", "-l", giaddr, "-R", str(PARTITION_CLIENTS),
           "-r", "50", "-f", "5",
           "-p", str(seconds), "-b", f"mac={mac_base}", "-W", "2000000", LINK4[who]]
    f = open(out, "w")
    return topo.spawn(topo.cli_ns, cmd, stdout=f, stderr=f), out


def _perfdhcp_result(proc, out):
    from clients import parse_perfdhcp
    proc.wait(timeout=60)
    with open(out) as f:
        text = f.read()
    return parse_perfdhcp(text), text


def _reject_frames(pcap):
    """Every failover frame carrying a reject reason (a BNDACK refusing a BNDUPD, §7.1.2):
    [(src, reason(s), address(es))]."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-d", "tcp.port==647,dhcpfo", "-Y", "dhcpfo.rejectreason",
                          "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "ip.src",
                          "-e", "dhcpfo.rejectreason", "-e", "dhcpfo.assignedipaddress"],
                         capture_output=True, text=True, check=True)
    return [tuple(l.split("\t")) for l in res.stdout.splitlines() if l.strip()]


def _binding_messages(pcap):
    """[(time, src, type, address)] of every BNDUPD (3) and BNDACK (4) in the capture, one
    per failover message (the JSON output keeps each message's fields together)."""
    res = subprocess.run(["tshark", "-n", "-r", pcap, "-d", "tcp.port==647,dhcpfo", "-Y", "dhcpfo", "-T", "json",
                          "-e", "frame.time_epoch", "-e", "ip.src", "-e", "dhcpfo.type",
                          "-e", "dhcpfo.assignedipaddress"],
                         capture_output=True, text=True, check=True)
    out = []
    for frame in json.loads(res.stdout or "[]"):
        f = frame["_source"]["layers"]
        t, src = float(f["frame.time_epoch"][0]), f["ip.src"][0]
        addrs = iter(f.get("dhcpfo.assignedipaddress", []))
        for typ in f.get("dhcpfo.type", []):
            if typ in ("3", "4"):
                out.append((t, src, int(typ), next(addrs, None)))
    return out


def _connects(msgs, since):
    return [(t, src) for t, src, typ in msgs if typ == "5" and t >= since]


def _silent_partition(tandem_role):
    from dhcp4 import Dhclient4
    from pair4 import dhcpfo_messages
    with PairTopology4("fo4x" + tandem_role[0]) as topo:
        cap = failover_capture(topo)
        d = _dhcpd(topo, _other(tandem_role))
        t = _tandem(topo, tandem_role)
        members = {tandem_role: t, _other(tandem_role): d}
        logs = lambda: (f"tandem:\n{t.log()}\ndhcpd:\n{d.log()}\nlink:\n{link_summary(cap)}")  # noqa: E731
        t.wait_state("NORMAL", timeout=60)
        wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd in NORMAL with tandem", logs)
        free, backup = wait_for(lambda: _balanced(d), 30, "both pools split FREE/BACKUP", logs)
        # One dhclient on each member's side of the coming partition.
        sides = {who: _side_client(topo, f"c{who[0]}", hidden=_other(who)) for who in ("pri", "sec")}
        topo.ns(topo.cli_ns, ["ip", "addr", "add", f"{GIADDR2}/24", "dev", topo.cli_if])

        since = len(t.log_text())
        t_cut = time.time()
        topo.silent_cut()
        # §8.8.2: no message from the partner for its receive timer -> COMMUNICATIONS-
        # INTERRUPTED. Nothing closes the TCP connection, so only the timers can tell.
        t.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=KEEPALIVE + 6)
        t_tandem = time.time() - t_cut
        wait_for(lambda: (d.failover_state(PEER) or ("",))[0] == "communications-interrupted", KEEPALIVE + 6,
                 "dhcpd in COMMUNICATIONS-INTERRUPTED after a silent cut", logs)
        t_dhcpd = time.time() - t_cut
        # Not sooner than the timer allows (the last CONTACT came at most ~1 s before the
        # cut): an earlier change would mean something else than the timer told them.
        assert min(t_tandem, t_dhcpd) >= KEEPALIVE - 2, \
            f"COMMUNICATIONS-INTERRUPTED {t_tandem:.1f} s / {t_dhcpd:.1f} s after the cut, before the timers ran out"

        # Clients on both sides, during the partition.
        loads = {who: _perfdhcp_to(topo, who, f"00:0c:01:{'aa' if who == 'pri' else 'bb'}:00:00", 8,
                                   f"perfdhcp-{who}", GIADDR if who == "pri" else GIADDR2)
                 for who in ("pri", "sec")}
        clients = {}
        for who, (ns, dev) in sides.items():
            c = Dhclient4(topo, f"dhc-{who}")
            c.ns, c.iface = ns, dev
            clients[who] = c.start()
        bound = {}
        for who, c in clients.items():
            addr = wait_for(lambda: (c.addresses() or [None])[-1], 30, f"dhclient on the {who} side got no lease",
                            lambda: c.log() + logs())
            server = c.server_ids()[-1]
            assert server == LINK4[who], f"the {who} side's client was answered by {server}"
            bound[who] = addr
        # RENEWING at T1 (RFC 2131 §4.4.5): a unicast REQUEST to its member, ACKed, still
        # inside the partition.
        for who, c in clients.items():
            wait_for(lambda: c.log().count("DHCPACK") >= 2, LINK_LEASE, f"the {who} side's client renewed",
                     lambda: c.log() + logs())
        stats = {}
        for who, (proc, out) in loads.items():
            s, text = _perfdhcp_result(proc, out)
            ra = s.get("REQUEST-ACK", {})
            assert ra.get("received packets", 0) >= 5, f"perfdhcp to the {who} member: {text[-1500:]}\n{logs()}"
            stats[who] = s
        assert t.status()["state"] == "COMMUNICATIONS-INTERRUPTED", t.status()
        assert d.failover_state(PEER)[0] == "communications-interrupted", d.failover_state(PEER)

        # Each member allocated only from its own pool (§5.4, §9.2): no address of the
        # other's can have gone to a second client.
        during = {who: active_clients(m) for who, m in members.items()}
        own = {"pri": free, "sec": backup}
        for who, table in during.items():
            assert table, f"no binding on the {who} member during the partition"
            stray = sorted(a for a in table if a not in own[who])
            assert not stray, (f"the {who} member bound addresses outside its own pool "
                               f"({'FREE' if who == 'pri' else 'BACKUP'}) in COMMUNICATIONS-INTERRUPTED: {stray}")
            assert bound[who] in table, f"{bound[who]} (the {who} side's dhclient) not in its member's table"
            # It did use up its own share of the relayed pool (the clients outnumber it).
            share = sum(1 for a in own[who] if _in(a, RELAY4_POOL))
            used = sum(1 for a in table if _in(a, RELAY4_POOL))
            assert used >= share - 5, f"the {who} member bound {used} of its {share} relayed addresses"
        both = set(during["pri"]) & set(during["sec"])
        dup = sorted(a for a in both if during["pri"][a] != during["sec"][a])
        assert not dup, f"addresses bound to two different clients during the partition: {dup}"
        assert not both, f"addresses bound by both members during the partition: {sorted(both)}"

        t_heal = time.time()
        topo.silent_heal()
        t.wait_state("NORMAL", timeout=60)
        wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd back in NORMAL", logs)
        t_normal = time.time() - t_heal
        # §9.3: each sends what it did while apart; then both tables hold every binding of
        # the partition, each for the same client.
        union = {**during["pri"], **during["sec"]}

        def converged():
            a, b = active_clients(t), active_clients(d)
            return a == b and all(a.get(addr) == c for addr, c in union.items())
        if not wait_for_quiet(converged, 30):
            a, b = active_clients(t), active_clients(d)
            diff = sorted(x for x in set(a) | set(b) | set(union) if a.get(x) != b.get(x) or
                          (x in union and a.get(x) != union[x]))
            raise AssertionError(f"tables not converged 30 s after NORMAL: {len(diff)} addresses differ, e.g. "
                                 + "; ".join(f"{x}: partition {union.get(x)}, tandem {a.get(x)}, dhcpd {b.get(x)}"
                                             for x in diff[:6]) + "\n" + logs())
        final = active_clients(t)
        for c in clients.values():
            c.stop()
        msgs, malformed = dhcpfo_messages(cap.stop())
        assert not malformed, f"tshark's dhcpfo dissector finds malformed frames: {malformed[:5]}"
        rejects = _reject_frames(cap.path)
        assert not rejects, f"BNDACK rejects: {rejects[:10]}\n{logs()}"
        states = t.state_changes(since)
        return (f"tandem {tandem_role}: COMM-INT {t_tandem:.1f} s (tandem) / {t_dhcpd:.1f} s (dhcpd) after a silent "
                f"cut; served {len(during['pri'])} (primary, FREE) + {len(during['sec'])} (secondary, BACKUP) "
                f"bindings apart, dhclients renewed on both; NORMAL {t_normal:.1f} s after the heal; "
                f"{len(final)} bindings identical in both tables; states {'>'.join(states)}")


def wait_for_quiet(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.3)
    return False


def tandem_secondary_and_dhcpd_primary_serve_apart_in_a_silent_partition_and_converge():
    """A silent partition (TCP 647 dropped both ways, no RST) between dhcpd (primary) and
    tandem (secondary), with clients on both sides: both notice by their keep-alive timers
    alone (§8.8.2) and go COMMUNICATIONS-INTERRUPTED; dhclient -4 and perfdhcp -4 bind and
    renew on both; each member allocates only from its own pool (FREE the primary, BACKUP
    the secondary, §5.4, §9.2), even once perfdhcp's clients have used it all up, so no
    address is bound by both. After the heal both reach
    NORMAL and exchange what they did (§9.3): both tables then hold every binding of the
    partition, each for the same client, and nothing was rejected."""
    return _silent_partition("sec")


def tandem_primary_and_dhcpd_secondary_serve_apart_in_a_silent_partition_and_converge():
    """The same with tandem as the primary (allocating from FREE) and dhcpd as secondary."""
    return _silent_partition("pri")


# RFC 2131 message types.
DISCOVER, OFFER, REQUEST, ACK, NAK = 1, 2, 3, 5, 6
# 'secs' of the dueling REQUESTs: above dhcpd's `load balance max seconds` (pair4's 3),
# so each member answers whatever the client's hash bucket (RFC 3074 §3).
DUEL_SECS = 10


def _packet(msg_type, xid, chaddr, giaddr, secs=0, ciaddr="0.0.0.0", requested=None, server_id=None):
    """A relayed DHCPv4 client message (hops 1, 'giaddr' set), no client identifier."""
    hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 1, xid, secs, 0, socket.inet_aton(ciaddr),
                      bytes(4), bytes(4), socket.inet_aton(giaddr), chaddr + bytes(10), bytes(64), bytes(128))
    opts = bytes([99, 130, 83, 99, 53, 1, msg_type])
    if requested:
        opts += bytes([50, 4]) + socket.inet_aton(requested)
    if server_id:
        opts += bytes([54, 4]) + socket.inet_aton(server_id)
    return hdr + opts + bytes([55, 3, 1, 3, 51, 255])


def _exchange(sock, servers, packets, wait=1.5):
    """Send each (xid, bytes) to every server (a relay agent configured with both members,
    as in front of a failover pair), then collect the replies for `wait` seconds:
    {xid: [(server, message type, yiaddr)]}."""
    from dhcp4 import _options
    for _xid, pkt in packets:
        for srv in servers:
            sock.sendto(pkt, (srv, 67))
    got, deadline = {}, time.time() + wait
    while time.time() < deadline:
        sock.settimeout(max(0.01, deadline - time.time()))
        try:
            data, (src, _port) = sock.recvfrom(1500)
        except socket.timeout:
            break
        if len(data) < 240 or data[0] != 2:
            continue
        xid = struct.unpack("!I", data[4:8])[0]
        opts = dict(_options(data))
        sid = socket.inet_ntoa(opts[54]) if 54 in opts else src
        got.setdefault(xid, []).append((sid, opts.get(53, b"\0")[0], socket.inet_ntoa(data[16:20])))
    return got


def duel_client(mode, n, rounds=0, bound=None):
    """The raw relay client of the dueling scenario, run in the client namespace; prints
    JSON. mode "bind": DORA for `n` clients (chaddr 02:00:5e:10:00:i) with 'secs' 0, so
    only each client's hash-bucket member offers: {mac: [address, server]}. mode "duel":
    `rounds` rounds of INIT-REBOOT (option 50, no server identifier) then REBINDING
    ('ciaddr', no server identifier) REQUESTs with 'secs' DUEL_SECS to both members, for
    the `bound` clients: [{"kind", "mac", "replies": [[server, type, yiaddr]]}]."""
    servers = [LINK4["pri"], LINK4["sec"]]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((GIADDR, 67))
    macs = [bytes([2, 0, 0x5e, 0x10, 0, i]) for i in range(n)]
    if mode == "bind":
        disc = {0x4400 + i: _packet(DISCOVER, 0x4400 + i, m, GIADDR) for i, m in enumerate(macs)}
        offers = _exchange(sock, servers, list(disc.items()))
        reqs, chosen = [], {}
        for i, m in enumerate(macs):
            offer = next(((srv, y) for srv, typ, y in offers.get(0x4400 + i, []) if typ == OFFER), None)
            if offer:
                chosen[m.hex(":")] = offer
                reqs.append((0x4500 + i, _packet(REQUEST, 0x4500 + i, m, GIADDR, requested=offer[1],
                                                 server_id=offer[0])))
        acks = _exchange(sock, servers, reqs)
        out = {}
        for i, m in enumerate(macs):
            srv_y = chosen.get(m.hex(":"))
            if srv_y and any(typ == ACK and y == srv_y[1] for _s, typ, y in acks.get(0x4500 + i, [])):
                out[m.hex(":")] = [srv_y[1], srv_y[0]]
        print(json.dumps(out))
        return
    out, xid = [], 0x4600
    for _r in range(rounds):
        for kind in ("init-reboot", "rebinding"):
            pkts, meta = [], {}
            for mac, (addr, _srv) in bound.items():
                chaddr = bytes.fromhex(mac.replace(":", ""))
                xid += 1
                if kind == "init-reboot":
                    pkt = _packet(REQUEST, xid, chaddr, GIADDR, secs=DUEL_SECS, requested=addr)
                else:
                    pkt = _packet(REQUEST, xid, chaddr, GIADDR, secs=DUEL_SECS, ciaddr=addr)
                pkts.append((xid, pkt))
                meta[xid] = mac
            got = _exchange(sock, servers, pkts)
            out += [dict(kind=kind, mac=meta[x], replies=got.get(x, [])) for x in meta]
    print(json.dumps(out))


def _run_duel_client(topo, mode, n, rounds=0, bound=None, timeout=60):
    code = (f"import sys, json; sys.path.insert(0, {HERE!r}); from pair4_partition import duel_client; "
            f"duel_client({mode!r}, {n}, {rounds}, json.loads({json.dumps(bound or {})!r}))")
    res = topo.ns(topo.cli_ns, ["timeout", str(timeout), "python3", "-c", code], check=False)
    assert res.returncode == 0, f"raw DHCPv4 client ({mode}) failed: {res.stdout[-500:]}{res.stderr[-1500:]}"
    return json.loads(res.stdout)


def _broadcast_request_duel(tandem_role, n=20, rounds=3):
    from pair4 import dhcpfo_messages
    with PairTopology4("fo4d" + tandem_role[0]) as topo:
        cap = failover_capture(topo)
        # Every renewal is written and sent to the partner (dhcpd's default skips those
        # within 25 % of the lease time, dhcpd.conf(5) dhcp-cache-threshold).
        d = _dhcpd(topo, _other(tandem_role), extra="dhcp-cache-threshold 0;")
        t = _tandem(topo, tandem_role)
        logs = lambda: (f"tandem:\n{t.log()}\ndhcpd:\n{d.log()}\nlink:\n{link_summary(cap)}")  # noqa: E731
        t.wait_state("NORMAL", timeout=60)
        wait_for(lambda: d.failover_state(PEER) == ("normal", "normal"), 30, "dhcpd in NORMAL with tandem", logs)
        wait_for(lambda: _balanced(d), 30, "both pools split FREE/BACKUP", logs)
        bound = _run_duel_client(topo, "bind", n)
        assert len(bound) == n, f"only {len(bound)} of {n} clients bound: {bound}\n{logs()}"
        by = {srv for _a, srv in bound.values()}
        assert by == {LINK4["pri"], LINK4["sec"]}, f"DISCOVERs with secs 0 answered only by {by} (load balancing)"
        want = {a: "01" + mac.replace(":", "") for mac, (a, _s) in bound.items()}
        wait_for(lambda: all(active_clients(m).get(a) == c for m in (t, d) for a, c in want.items()), 20,
                 "every bound client ACTIVE in both tables before the duel", logs)

        since, t_duel = len(t.log_text()), time.time()
        duel = _run_duel_client(topo, "duel", n, rounds, bound)
        answered = {"init-reboot": 0, "rebinding": 0}
        for r in duel:
            addr = bound[r["mac"]][0]
            naks = [srv for srv, typ, _y in r["replies"] if typ == NAK]
            assert not naks, f"{r['kind']} REQUEST of {r['mac']} for its own {addr} NAKed by {naks}\n{logs()}"
            acks = {srv for srv, typ, y in r["replies"] if typ == ACK and y == addr}
            if acks == {LINK4["pri"], LINK4["sec"]}:
                answered[r["kind"]] += 1
        # Both members answered (nearly) every one: the duel happened.
        for kind, k in answered.items():
            assert k >= 0.9 * n * rounds, f"only {k} of {n * rounds} {kind} REQUESTs ACKed by both members\n{logs()}"

        # Both tables converge: every address ACTIVE for its own client in both.
        def converged():
            a, b = active_clients(t), active_clients(d)
            return a == b and all(a.get(x) == c for x, c in want.items()) and not _ends_differ(t, d, want)
        if not wait_for_quiet(converged, 20):
            a, b = active_clients(t), active_clients(d)
            diff = sorted(x for x in set(a) | set(b) | set(want) if a.get(x) != b.get(x) or
                          (x in want and a.get(x) != want[x]))
            raise AssertionError("tables not converged 20 s after the duel: "
                                 + f"lease ends differ: {_ends_differ(t, d, want)[:4]}; "
                                 + "; ".join(f"{x}: client {want.get(x)}, tandem {a.get(x)}, dhcpd {b.get(x)}"
                                             for x in diff[:6]) + "\n" + logs())
        time.sleep(1)
        msgs, malformed = dhcpfo_messages(cap.stop())
        assert not malformed, f"tshark's dhcpfo dissector finds malformed frames: {malformed[:5]}"
        # Both members sent BNDUPDs for the same addresses during the duel.
        upd = {}
        for ts, src, typ, addr in _binding_messages(cap.path):
            if typ == 3 and ts >= t_duel:
                upd.setdefault(addr, set()).add(src)
        dueled = [a for a in want if upd.get(a) == {FO4["pri"], FO4["sec"]}]
        assert len(dueled) >= 0.9 * n, f"BNDUPDs from both members for only {len(dueled)} of {n} addresses: {upd}"
        # Only the dueling rule may refuse an update: reason 16, "less critical binding
        # information" (the side whose own update for the lease is still unacked keeps the
        # more critical one: the later CLTT, a tie to the primary). Any other reason
        # refuses an update the partner considers valid.
        rejects = [(src, r) for src, reasons, _a in _reject_frames(cap.path) for r in reasons.split(",")]
        bad = [x for x in rejects if x[1] != "16"]
        assert not bad, f"BNDACK rejects of valid updates: {bad[:10]}\n{logs()}"
        less_critical = {src: sum(1 for s_, _r in rejects if s_ == src) for src, _r in rejects}
        # The link stayed up: no new CONNECT, no state change, dhcpd still NORMAL.
        reconnects = _connects(msgs, t_duel)
        assert not reconnects, f"CONNECTs after the duel began (the link flapped): {reconnects}\n{logs()}"
        changes = t.state_changes(since)
        assert not changes, f"tandem changed state during the duel: {changes}"
        assert t.status()["state"] == "NORMAL" and d.failover_state(PEER) == ("normal", "normal")
        return (f"tandem {tandem_role}: {n} clients, {rounds} rounds; both members ACKed "
                f"{answered['init-reboot']} INIT-REBOOT and {answered['rebinding']} REBINDING REQUESTs; "
                f"BNDUPDs from both for {len(dueled)} addresses; rejects only 'less critical' (16) "
                f"{less_critical or 'none'}; no reconnect; tables identical")


def tandem_secondary_and_dhcpd_primary_both_answering_broadcast_requests_converge():
    """Broadcast REQUEST dueling: INIT-REBOOT (option 50) and REBINDING ('ciaddr')
    REQUESTs without a server identifier, relayed to both members with 'secs' above the
    load-balance threshold, so both ACK every one (RFC 3074 §3, dhcpd's `load balance max
    seconds`; `dhcp-cache-threshold 0` makes dhcpd commit each). Both then send BNDUPDs
    for the same binding at once. The only refusal allowed is dhcpd's dueling rule,
    reason 16 "less critical" (§7.1.2: the later CLTT wins, a tie the primary); the
    tables converge on the same client and the same lease end per address, and the link
    stays up (no CONNECT after the duel began, no state change)."""
    return _broadcast_request_duel("sec")


def tandem_primary_and_dhcpd_secondary_both_answering_broadcast_requests_converge():
    """The same with tandem as the primary."""
    return _broadcast_request_duel("pri")


PAIR4_PARTITION_SCENARIOS = [
    tandem_secondary_and_dhcpd_primary_serve_apart_in_a_silent_partition_and_converge,
    tandem_primary_and_dhcpd_secondary_serve_apart_in_a_silent_partition_and_converge,
    tandem_secondary_and_dhcpd_primary_both_answering_broadcast_requests_converge,
    tandem_primary_and_dhcpd_secondary_both_answering_broadcast_requests_converge,
]
