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
import sys
import time

from dhcpd import Dhcpd
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


def _uid_hex(text):
    """dhcpd.leases(5) `uid` value (a quoted string with octal escapes, or colon hex)."""
    if text.startswith('"'):
        s, out, i = text[1:-1], bytearray(), 0
        while i < len(s):
            if s[i] == "\\" and s[i + 1:i + 4].isdigit():
                out.append(int(s[i + 1:i + 4], 8))
                i += 4
            elif s[i] == "\\":
                out.append(ord(s[i + 1]))
                i += 2
            else:
                out.append(ord(s[i]))
                i += 1
        return out.hex()
    return "".join(f"{int(b, 16):02x}" for b in text.split(":"))


def dhcpd_bindings(d):
    """{address: (state, client)} of dhcpd's lease file (the last block per address); the
    client as tandem keys it (Lease::duid): the client identifier, else htype 01 and chaddr."""
    out = {}
    for m in re.finditer(r"^lease ([0-9.]+) \{(.*?)^\}", d.lease_text(), re.S | re.M):
        body = m.group(2)
        state = re.search(r"^\s*binding state (\w+);", body, re.M)
        uid = re.search(r"^\s*uid (\"(?:[^\"\\]|\\.)*\"|[0-9a-f:]+);", body, re.M)
        hw = re.search(r"hardware ethernet ([0-9a-f:]+);", body)
        client = _uid_hex(uid.group(1)) if uid else ("01" + hw.group(1).replace(":", "") if hw else None)
        out[m.group(1)] = (state.group(1) if state else None, client)
    return out


def active_clients(member):
    """{address: client} of the ACTIVE bindings of a member (tandem's database or dhcpd's
    lease file), clients keyed alike."""
    if isinstance(member, Dhcpd):
        return {a: c for a, (s, c) in dhcpd_bindings(member).items() if s == "active"}
    return {a: l["duid"] for a, l in member.leases4().items() if l["status"] == ACTIVE}


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


def _perfdhcp_to(topo, who, mac_base, seconds, name, giaddr):
    """perfdhcp -4 as a relay agent at `giaddr`, by unicast to member `who` only: DORA for
    up to 30 clients (random last MAC byte after `mac_base`) at 5/s and renewals at 2/s,
    for `seconds`. Started; returns (process, output path)."""
    out = os.path.join(topo.tmp, f"{name}.out")
    cmd = ["timeout", str(seconds + 20), "perfdhcp", "-4", "-l", giaddr, "-R", "30", "-r", "5", "-f", "2",
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
    the secondary, §5.4, §9.2), so no address is bound by both. After the heal both reach
    NORMAL and exchange what they did (§9.3): both tables then hold every binding of the
    partition, each for the same client, and nothing was rejected."""
    return _silent_partition("sec")


def tandem_primary_and_dhcpd_secondary_serve_apart_in_a_silent_partition_and_converge():
    """The same with tandem as the primary (allocating from FREE) and dhcpd as secondary."""
    return _silent_partition("pri")


PAIR4_PARTITION_SCENARIOS = [
    tandem_secondary_and_dhcpd_primary_serve_apart_in_a_silent_partition_and_converge,
    tandem_primary_and_dhcpd_secondary_serve_apart_in_a_silent_partition_and_converge,
]
