"""The integration scenarios: real clients against the real server binary.

Each scenario returns a one-line detail on success and raises AssertionError (or
RuntimeError for harness trouble) on failure. The server is tandem unless
IT_TARGET=kea (see harness.py).
"""

import os
import re
import subprocess
import time

from clients import (Capture, Dhclient, malformed_packets, outer_message_types, perfdhcp, replied_resources,
                     KernelUdp6,
                     reply_lifetimes)
import ipaddress

from harness import ACTIVE, RELAY_LINK_ADDR, RELAY_SUBNET, RELEASED, Topology, make_server, target

INFINITY = 0xFFFFFFFF
# How tandem's store keeps the end of an infinite lifetime (i64::MAX, "never").
STORE_NEVER = 2**63 - 1


def _data_dir(topo):
    d = os.path.join(topo.tmp, "data")
    os.makedirs(d, exist_ok=True)
    return d


def _wait_leases(server, pred, timeout=10):
    """The server's lease store once `pred(leases)` holds (commits may trail the Reply by a hair)."""
    deadline = time.time() + timeout
    while True:
        leases = server.leases()
        if pred(leases) or time.time() > deadline:
            return leases
        time.sleep(0.2)


def dhclient_address():
    """dhclient -6 gets an address: it is on the client interface and ACTIVE in the store."""
    with Topology("a") as topo:
        server = make_server(topo, _data_dir(topo)).start()
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True)
        assert len(addrs) == 1, addrs
        addr = next(iter(addrs))
        deadline = time.time() + 5
        while addr not in topo.client_addresses() and time.time() < deadline:
            time.sleep(0.2)
        assert addr in topo.client_addresses(), f"{addr} not configured on {topo.cli_if}"
        leases = _wait_leases(server, lambda l: addr in l)
        assert leases.get(addr, {}).get("status") == ACTIVE, f"{addr} not ACTIVE in the store: {leases}"
        client.stop()
        return f"{addr} on {topo.cli_if} and ACTIVE in the store"


def dhclient_prefix():
    """dhclient -6 -P gets a delegated /56: in dhclient's lease file and ACTIVE in the store."""
    with Topology("p") as topo:
        server = make_server(topo, _data_dir(topo)).start()
        client = Dhclient(topo, "c1", address=False, prefix=True).start()
        _, prefixes = client.wait_bound(want_address=False, want_prefix=True)
        assert len(prefixes) == 1, prefixes
        prefix = next(iter(prefixes))
        assert prefix.endswith("/56"), prefix
        leases = _wait_leases(server, lambda l: prefix in l)
        assert leases.get(prefix, {}).get("status") == ACTIVE, f"{prefix} not ACTIVE in the store: {leases}"
        client.stop()
        return f"{prefix} in dhclient's lease file and ACTIVE in the store"


def dhclient_renew_then_release():
    """Short lifetimes (T1 4 s): dhclient renews, the lease's end time moves forward in the
    store; then `dhclient -6 -r` releases: the address and prefix are no longer ACTIVE."""
    with Topology("r") as topo:
        server = make_server(topo, _data_dir(topo), preferred=20, valid=30, renew=4, rebind=8).start()
        client = Dhclient(topo, "c1", prefix=True).start()
        addrs, prefixes = client.wait_bound(want_address=True, want_prefix=True)
        addr, prefix = next(iter(addrs)), next(iter(prefixes))
        first = _wait_leases(server, lambda l: addr in l and prefix in l)
        before = (first[addr]["expires"], first[prefix]["expires"])
        leases = _wait_leases(server, lambda l: l.get(addr, {}).get("expires", 0) > before[0]
                              and l.get(prefix, {}).get("expires", 0) > before[1], timeout=20)
        after = (leases[addr]["expires"], leases[prefix]["expires"])
        assert after[0] > before[0] and after[1] > before[1], \
            f"no renewal: end times {before} -> {after}\n{server.log()}\n{client.log()}"
        client.release()
        leases = _wait_leases(server, lambda l: all(l.get(r, {}).get("status") != ACTIVE for r in (addr, prefix)))
        for r in (addr, prefix):
            assert r not in leases or leases[r]["status"] == RELEASED, f"{r} after Release: {leases.get(r)}"
        return f"end time {before[0]} -> {after[0]} on renew; released {addr} and {prefix}"


def dhclient_keeps_address_across_restart():
    """The server is stopped (SIGTERM) and started again on the same data dir: the client's
    next Renew gets the same address and prefix, and the store's end time moves forward."""
    with Topology("s") as topo:
        data = _data_dir(topo)
        server = make_server(topo, data, preferred=20, valid=30, renew=4, rebind=8).start()
        client = Dhclient(topo, "c1", prefix=True).start()
        addrs, prefixes = client.wait_bound(want_address=True, want_prefix=True)
        addr, prefix = next(iter(addrs)), next(iter(prefixes))
        before = _wait_leases(server, lambda l: addr in l)[addr]["expires"]
        rc = server.stop()
        assert rc == 0, f"SIGTERM must exit 0, got {rc}\n{server.log()}"
        server = make_server(topo, data, preferred=20, valid=30, renew=4, rebind=8).start()
        leases = _wait_leases(server, lambda l: l.get(addr, {}).get("expires", 0) > before + 2, timeout=25)
        assert leases.get(addr, {}).get("expires", 0) > before + 2, \
            f"no renewal after the restart ({before} -> {leases.get(addr)})\n{server.log()}"
        addrs2, prefixes2 = client.last_lease()
        assert addrs2 == {addr} and prefixes2 == {prefix}, f"client moved: {addrs2} {prefixes2} vs {addr} {prefix}"
        assert addr in topo.client_addresses(), f"{addr} gone from {topo.cli_if}"
        client.stop()
        return f"kept {addr} and {prefix} across a restart (end time {before} -> {leases[addr]['expires']})"


def _perfdhcp_case(tag, lease_type, relayed):
    with Topology(tag) as topo:
        server = make_server(topo, _data_dir(topo)).start()
        cap = Capture(topo, "replies").start() if relayed else None
        extra = ["-u"]
        if relayed:
            # -J: the link-address perfdhcp's relay puts in each Relay-forward.
            relays = os.path.join(topo.tmp, "relay-link-addresses")
            with open(relays, "w") as f:
                f.write(RELAY_LINK_ADDR + "\n")
            extra += ["-J", relays]
        kernel = KernelUdp6(topo)
        # -R 4,000,000 random client ids for 11,000 exchanges: ~11,000 distinct clients.
        stats, out = perfdhcp(topo, clients=4_000_000, exchanges=11_000, rate=500, lease_type=lease_type,
                              relayed=relayed, extra=extra)
        sa, rr = stats.get("SOLICIT-ADVERTISE"), stats.get("REQUEST-REPLY")
        assert sa and rr, f"perfdhcp printed no statistics:\n{out[-2000:]}\n{server.log()}"
        for s in (sa, rr):
            assert s.get("rejected leases", 0) == 0 and s.get("non unique addresses", 0) == 0, s
        drops = kernel.check_answered(stats, f"\n{out[-1500:]}\n{server.log()}")
        assert rr["received packets"] >= 10_000, f"only {rr['received packets']} exchanges completed"
        relay_note = ""
        if cap:
            pcap = cap.stop()
            bad, examples = malformed_packets(pcap)
            assert bad == 0, f"tshark flags {bad} frames as malformed: {examples}"
            types = outer_message_types(pcap)
            relay_replies = types.pop(13, 0)
            assert not types and relay_replies >= sa["received packets"] + rr["received packets"], \
                f"relayed clients must get only Relay-reply (13); got {relay_replies} and {types}"
            relay_note = f", all {relay_replies} answers were Relay-reply"
            net = ipaddress.IPv6Network(RELAY_SUBNET)
            outside = [r for r in server.leases() if ipaddress.IPv6Address(r.split("/")[0]) not in net]
            assert not outside, f"relayed clients must get addresses of {RELAY_SUBNET} (by link-address), " \
                f"got {len(outside)} outside, e.g. {outside[:3]}"
            relay_note += f", all leases in {RELAY_SUBNET}"
        per_client = 2 if lease_type == "address-and-prefix" else 1
        leases = _wait_leases(server, lambda l: len(l) >= rr["received packets"] * per_client)
        active = sum(1 for l in leases.values() if l["status"] == ACTIVE)
        clients = len({l["duid"] for l in leases.values()})
        assert clients >= 10_000, f"only {clients} distinct clients in the store"
        assert active >= rr["received packets"] * per_client, \
            f"{active} ACTIVE leases in the store < {int(rr['received packets'])} Replies x {per_client}"
        lost = f"{drops:.0f} lost in perfdhcp's own socket" if drops else "0 drops"
        return (f"{int(sa['sent packets'])} Solicits, {int(rr['received packets'])} Replies, {lost}, "
                f"{clients} distinct clients, {active} ACTIVE leases in the store{relay_note}")


def perfdhcp_addresses():
    """perfdhcp -6: 11,000 Solicit/Advertise/Request/Reply exchanges, >= 10,000 distinct clients, no drops."""
    return _perfdhcp_case("n", "address-only", relayed=False)


def perfdhcp_address_and_prefix():
    """perfdhcp -6 -e address-and-prefix: every exchange gets an address and a prefix."""
    return _perfdhcp_case("b", "address-and-prefix", relayed=False)


def perfdhcp_relayed():
    """perfdhcp -6 -A1 -J: Relay-forward (link-address 2001:db8:2::1) in, Relay-reply out,
    every lease from the relayed link's subnet, same counts."""
    return _perfdhcp_case("x", "address-only", relayed=True)


def kill9_loses_no_acknowledged_lease():
    """kill -9 in the middle of a perfdhcp run: every address and prefix that left in a
    Reply (captured on the client's veth) is in the store after a restart.

    Shown to fail when it should: IT_KILL9_MUTATE=drop-wal (tandem's uncheckpointed commits
    thrown away before the restart) reports the lost tail; IT_TARGET=kea IT_KEA_PERSIST=0
    (Kea keeping leases only in memory) reports every replied lease as lost."""
    with Topology("k") as topo:
        data = _data_dir(topo)
        server = make_server(topo, data).start()
        cap = Capture(topo, "replies").start()
        # Bounded by -n and -p; started without a `timeout` wrapper so that the PID we kill is perfdhcp's.
        load = topo.spawn(topo.cli_ns, ["perfdhcp", "-6", "-l", topo.cli_if, "-R", "4000000", "-n", "20000",
                                        "-r", "800", "-p", "30", "-e", "address-and-prefix", "-s", "7"])
        time.sleep(6)
        server.kill9()
        time.sleep(2)  # Replies already in flight reach the capture; nothing more can come
        load.kill()
        load.wait(timeout=10)
        pcap = cap.stop()
        bad, examples = malformed_packets(pcap)
        assert bad == 0, f"tshark flags {bad} frames as malformed: {examples}"
        replied = replied_resources(pcap)
        assert len(replied) > 500, f"too few leases seen in Replies before the kill ({len(replied)})"
        if os.environ.get("IT_KILL9_MUTATE") == "drop-wal":
            # Mutation check of this scenario: throw away tandem's SQLite WAL, i.e. the
            # commits not yet checkpointed into leases.db, as if those Replies had left
            # before their commit. The scenario must then FAIL, listing the lost leases.
            for name in ("leases.db-wal", "leases.db-shm"):
                if os.path.exists(os.path.join(data, name)):
                    os.remove(os.path.join(data, name))
        server = make_server(topo, data).start()  # the store opens after the crash
        leases = server.leases()
        missing = sorted(r for r in replied if leases.get(r, {}).get("status") != ACTIVE)
        assert not missing, f"{len(missing)} of {len(replied)} replied leases lost, e.g. {missing[:5]}"
        return f"{len(replied)} leases seen in Replies before kill -9, all ACTIVE in the store after restart"


def _sockets_547(topo):
    """`ss` lines of the UDP sockets bound to port 547 in the server namespace, with their processes."""
    out = topo.ns(topo.srv_ns, ["ss", "-u", "-l", "-n", "-p", "-H"]).stdout
    return [l for l in out.splitlines() if re.search(r":547\s", l)]


def second_server_on_one_data_dir_refuses_to_start():
    """Two servers on one lease database would each keep their own lease table and give one
    address to two clients (RFC 8415 §6.3: a lease belongs to one client). A second server
    started on the first one's data_dir, in the same namespace with the same configuration,
    exits non-zero naming the first one's PID and binds nothing; dhclient -6 still gets its
    address from the first; the lease database holds exactly that one lease."""
    with Topology("l") as topo:
        data = _data_dir(topo)
        first = make_server(topo, data).start()
        second = make_server(topo, data)
        if target() == "tandem":
            second.log_path = os.path.join(topo.tmp, "tandem-second.log")
        second.launch()
        try:
            rc = second.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the second server on {data} is still running after 10 s; sockets on "
                                 f"port 547: {_sockets_547(topo)}\n{second.log()}") from None
        assert rc != 0, f"the second server exited {rc}, must be non-zero:\n{second.log()}"
        assert first.proc.poll() is None, f"the first server died:\n{first.log()}"
        sockets = _sockets_547(topo)
        assert len(sockets) == 1 and f"pid={first.proc.pid}," in sockets[0], \
            f"port 547 must be bound once, by the first server (pid {first.proc.pid}): {sockets}"
        note = ""
        if target() == "tandem":
            err = second.log()
            want = f"data directory {data} is in use by another tandem process (pid {first.proc.pid})"
            assert want in err, f"want {want!r} in the second server's output:\n{err}"
            for line in ("listening", "lease database loaded", "generated and stored a new server DUID"):
                assert line not in err, f"the second server got as far as {line!r}:\n{err}"
            note = f" ({want})"
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True)
        assert len(addrs) == 1, addrs
        addr = next(iter(addrs))
        leases = _wait_leases(first, lambda l: addr in l)
        assert set(leases) == {addr} and leases[addr]["status"] == ACTIVE, \
            f"the lease database must hold exactly {addr}, ACTIVE: {leases}"
        assert first.proc.poll() is None, f"the first server died:\n{first.log()}"
        client.stop()
        return f"second server exited {rc}{note}; {addr} from the first, the only lease in the store"
def dhclient_infinite_lifetime():
    """valid_lifetime = "infinite" (RFC 8415 §7.7): the Reply carries 0xffffffff as
    preferred and valid lifetime and as T1/T2 (§21.4), dhclient records an infinite lease,
    and the store keeps one that never expires."""
    inf = '"infinite"' if target() == "tandem" else INFINITY
    with Topology("i") as topo:
        server = make_server(topo, _data_dir(topo), preferred=inf, valid=inf, renew=inf, rebind=inf).start()
        cap = Capture(topo, "infinite").start()
        client = Dhclient(topo, "c1").start()
        addrs, _ = client.wait_bound(want_address=True)
        addr = next(iter(addrs))
        cap.stop()
        replies = reply_lifetimes(cap.path)
        assert replies and all(r == (INFINITY,) * 4 for r in replies), \
            f"Reply (T1, T2, preferred, valid) {replies}, want all 0xffffffff\n{server.log()}"
        lease_text = client.leases_text()
        assert f"max-life {INFINITY};" in lease_text, lease_text
        leases = _wait_leases(server, lambda l: addr in l)
        row = leases.get(addr, {})
        assert row.get("status") == ACTIVE, f"{addr} not ACTIVE in the store: {leases}"
        if target() == "tandem":
            assert row.get("expires") == STORE_NEVER, f"{addr} should never expire: {row}"
        client.stop()
        return f"{addr}: Reply T1/T2/preferred/valid 0xffffffff, dhclient max-life {INFINITY}, never expires"


SCENARIOS = [
    dhclient_address,
    dhclient_prefix,
    dhclient_renew_then_release,
    dhclient_infinite_lifetime,
    dhclient_keeps_address_across_restart,
    perfdhcp_addresses,
    perfdhcp_address_and_prefix,
    perfdhcp_relayed,
    kill9_loses_no_acknowledged_lease,
    second_server_on_one_data_dir_refuses_to_start,
]
