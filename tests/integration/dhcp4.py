"""DHCPv4 scenarios: dhclient -4 and perfdhcp -4 against the tandem binary (RFC 2131).

The server namespace has 192.0.2.1/24 on its veth (the directly attached subnet) and a
route to 198.51.100.0/24, the link behind the "relay": perfdhcp -4 always acts as a relay
agent, putting its own address, 198.51.100.2 on the client's veth, in 'giaddr'. The
server's DHCPv6 subnets stay configured, so every scenario runs a dual-stack server.
"""

import ipaddress
import os
import re
import signal
import socket
import struct
import subprocess
import time

from harness import SUBNET, Topology, Tandem, read_leases, tandem_binary, tandem_config
from clients import Dhclient, parse_perfdhcp

SERVER4 = "192.0.2.1"
SUBNET4, POOL4 = "192.0.2.0/24", ("192.0.2.100", "192.0.2.199")
RELAY4_SUBNET, RELAY4_POOL, GIADDR = "198.51.100.0/24", ("198.51.100.10", "198.51.100.250"), "198.51.100.2"
# The relayed link's second subnet (a shared network with RELAY4_SUBNET), for the load.
SHARED4_SUBNET, SHARED4_POOL = "203.0.113.0/24", ("203.0.113.10", "203.0.113.250")
ACTIVE, RELEASED = 1, 3


def _data_dir(topo):
    d = os.path.join(topo.tmp, "data")
    os.makedirs(d, exist_ok=True)
    return d


def v4_config(topo, data_dir, lease_time=3600, t1=None, t2=None, pools4=None):
    """The usual dual-stack configuration plus two DHCPv4 subnets: the client's link and
    the relayed one."""
    path = tandem_config(topo, data_dir)
    times = "".join(f"{k} = {v}\n" for k, v in (("t1", t1), ("t2", t2)) if v is not None)
    relay_pools = pools4 or [f'"{RELAY4_POOL[0]}-{RELAY4_POOL[1]}"']
    with open(path, "a") as f:
        f.write(f"""
[options4]
dns_servers = ["192.0.2.53"]
domain_name = "example.org"

[[subnet4]]
id = 41
subnet = "{SUBNET4}"
interface = "{topo.srv_if}"
lease_time = {lease_time}
{times}pools = ["{POOL4[0]}-{POOL4[1]}"]

[subnet4.options]
routers = ["{SERVER4}"]

[[subnet4]]
id = 42
subnet = "{RELAY4_SUBNET}"
lease_time = {lease_time}
pools = [{", ".join(relay_pools)}]
""")
    return path


def setup_v4(topo, relay=False):
    topo.ns(topo.srv_ns, ["ip", "addr", "add", f"{SERVER4}/24", "dev", topo.srv_if])
    if relay:
        topo.ns(topo.cli_ns, ["ip", "addr", "add", f"{GIADDR}/24", "dev", topo.cli_if])
        topo.ns(topo.cli_ns, ["ip", "route", "add", SUBNET4, "dev", topo.cli_if])
        topo.ns(topo.srv_ns, ["ip", "route", "add", RELAY4_SUBNET, "dev", topo.srv_if])


def start_server(topo, config, data):
    server = Tandem(topo, data, config=config).launch()
    deadline = time.time() + 20
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"tandem exited with {server.proc.returncode}:\n{server.log()}")
        out = topo.ns(topo.srv_ns, ["ss", "-u", "-l", "-n", "-H"]).stdout
        if re.search(r":67\s", out) and re.search(r":547\s", out):
            return server
        time.sleep(0.1)
    raise RuntimeError(f"tandem did not bind ports 67 and 547:\n{server.log()}")


def leases4(server):
    """The DHCPv4 leases in the store: {"a.b.c.d": row}."""
    return {k: v for k, v in server.leases().items() if "." in k}


def _wait(pred, timeout, what, log=lambda: ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s{log()}")


class Dhclient4(Dhclient):
    """`dhclient -4` in the foreground, with its own files (the -6 one's, for v4)."""

    def __init__(self, topo, name, client_id=None):
        super().__init__(topo, name)
        self.flags = []
        if client_id:  # colon hex, e.g. "1:0:c:1:2:3:4" (dhclient.conf(5))
            with open(self.conf_file, "w") as f:
                f.write(f"send dhcp-client-identifier {client_id};\n")

    def server_ids(self):
        """dhcp-server-identifier of every lease block, oldest first: who answered."""
        return re.findall(r"option dhcp-server-identifier ([0-9.]+);", self.leases_text())

    def _cmd(self, *extra):
        return ["dhclient", "-4", "-v", "-1", "-lf", self.lease_file, "-pf", self.pid_file,
                "-cf", self.conf_file, *extra, self.iface]

    def addresses(self):
        """fixed-address of every lease block in the lease file, oldest first."""
        return re.findall(r"fixed-address ([0-9.]+);", self.leases_text())

    def wait_address(self, timeout=30):
        return _wait(lambda: (self.addresses() or [None])[-1], timeout, "dhclient -4 got no lease",
                     lambda: f"; log:\n{self.log()}")


def dhclient4_gets_renews_rebinds_and_releases():
    """dhclient -4: DISCOVER/OFFER/REQUEST/ACK (RFC 2131 §3.1), a renewal by unicast to the
    server at T1 (§4.4.5 RENEWING), a rebinding by broadcast at T2 once the server's unicast
    path is cut (REBINDING), and a DHCPRELEASE that leaves the lease RELEASED in the store."""
    with Topology("v4a") as topo:
        setup_v4(topo)
        data = _data_dir(topo)
        server = start_server(topo, v4_config(topo, data, lease_time=40, t1=4, t2=10), data)
        client = Dhclient4(topo, "c4").start()
        addr = client.wait_address()
        assert ipaddress.IPv4Address(addr) in ipaddress.IPv4Network(SUBNET4), addr
        l = _wait(lambda: leases4(server).get(addr), 10, f"{addr} not in the store")
        assert l["status"] == ACTIVE, l
        first_cltt = l["cltt"]
        # RENEWING: dhclient unicasts its DHCPREQUEST to the server identifier.
        _wait(lambda: re.search(rf"DHCPREQUEST for {re.escape(addr)} on \S+ to {SERVER4} port 67",
                                client.log()), 15, "no unicast renewal", lambda: f"; log:\n{client.log()}")
        renewed = _wait(lambda: (leases4(server).get(addr) or {}).get("cltt", 0) > first_cltt and leases4(server)[addr],
                        10, "the renewal did not reach the store")
        assert renewed["status"] == ACTIVE
        # Cut the unicast path (silently): the client must rebind by broadcast after T2.
        topo.ns(topo.cli_ns, ["nft", "-f", "-"], input=f"""
table ip it4 {{
  chain out {{
    type filter hook output priority 0;
    ip daddr {SERVER4} udp dport 67 drop
  }}
}}
""")
        cut = len(client.log())
        since_cut = lambda: client.log()[cut:]
        _wait(lambda: re.search(rf"DHCPREQUEST for {re.escape(addr)} on \S+ to 255\.255\.255\.255 port 67",
                                since_cut()), 30, "no broadcast rebinding", lambda: f"; log:\n{client.log()}")
        _wait(lambda: re.search(r"to 255\.255\.255\.255 port 67[^\n]*\n(?:[^\n]*\n)*?DHCPACK of", since_cut()), 15,
              "the rebinding was not acknowledged", lambda: f"; log:\n{client.log()}")
        topo.ns(topo.cli_ns, ["nft", "delete", "table", "ip", "it4"])
        assert client.addresses()[-1] == addr, client.addresses()
        res = client.release()
        l = _wait(lambda: (leases4(server).get(addr) or {}).get("status") == RELEASED and leases4(server)[addr], 10,
                  f"{addr} not RELEASED after dhclient -r (rc {res.returncode})", lambda: f"; {leases4(server)}")
        return f"{addr}: bound, renewed by unicast, rebound by broadcast, released (status {l['status']})"


def dhclient4_init_reboot_after_restart():
    """A restarted dhclient -4 asks for the address it remembers (INIT-REBOOT: a broadcast
    DHCPREQUEST with option 50 and no server identifier, RFC 2131 §4.3.2) and is ACKed
    the same address without a DISCOVER."""
    with Topology("v4r") as topo:
        setup_v4(topo)
        data = _data_dir(topo)
        server = start_server(topo, v4_config(topo, data), data)
        client = Dhclient4(topo, "c4").start()
        addr = client.wait_address()
        client.stop()
        with open(client.log_path, "a") as f:
            f.write("--- restart ---\n")
        client.start()
        _wait(lambda: client.log().split("--- restart ---")[-1].count("DHCPACK") >= 1, 20,
              "no ACK after the restart", lambda: f"; log:\n{client.log()}")
        after = client.log().split("--- restart ---")[-1]
        assert "DHCPDISCOVER" not in after, f"the restarted client sent DISCOVER:\n{after}"
        assert re.search(rf"DHCPREQUEST for {re.escape(addr)} on \S+ to 255\.255\.255\.255", after), after
        assert client.addresses()[-1] == addr, client.addresses()
        assert leases4(server)[addr]["status"] == ACTIVE
        client.stop()
        return f"{addr} again after a restart, by INIT-REBOOT (no DISCOVER)"


def _relay_exchange(giaddr_sock, server, msg_type, xid, agent, extra=b""):
    """One DHCPv4 message from our relay socket; the reply's bytes."""
    chaddr = bytes([2, 0, 0, 0, 0x44, 1])
    hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 1, xid, 0, 0, bytes(4), bytes(4), bytes(4),
                      socket.inet_aton(GIADDR), chaddr + bytes(10), bytes(64), bytes(128))
    opts = bytes([99, 130, 83, 99, 53, 1, msg_type]) + extra + bytes([82, len(agent)]) + agent + bytes([255])
    giaddr_sock.sendto(hdr + opts, (SERVER4, 67))
    data, _ = giaddr_sock.recvfrom(1500)
    return data


def _options(data):
    """(code, bytes) of each option of a reply, in order (no overload in our replies)."""
    out, i = [], 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        out.append((data[i], data[i + 2:i + 2 + data[i + 1]]))
        i += 2 + data[i + 1]
    return out


def relayed_client_gets_option_82_back_byte_for_byte():
    """A relay agent on 198.51.100.2 (giaddr) with option 82 (circuit id, remote id and an
    unknown sub-option): the OFFER and the ACK come back to the relay on port 67, with
    option 82 exactly as sent, last (RFC 3046 §2.2), and the address from the giaddr's
    subnet (RFC 2131 §4.3.1)."""
    with Topology("v4x") as topo:
        setup_v4(topo, relay=True)
        data = _data_dir(topo)
        server = start_server(topo, v4_config(topo, data), data)
        agent = bytes([1, 4, 0x65, 0x74, 0x68, 0x37, 2, 6, 2, 0, 0, 0, 0x44, 1, 151, 3, 0xde, 0xad, 0x01])
        script = f"""
import socket, struct, sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from dhcp4 import _relay_exchange, _options
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(({GIADDR!r}, 67))
s.settimeout(5)
agent = {agent!r}
offer = _relay_exchange(s, None, 1, 0x8201, agent)
yiaddr = offer[16:20]
ack = _relay_exchange(s, None, 3, 0x8202, agent, bytes([50, 4]) + yiaddr + bytes([54, 4]) + socket.inet_aton({SERVER4!r}))
print(offer.hex()); print(ack.hex())
"""
        res = topo.ns(topo.cli_ns, ["timeout", "20", "python3", "-c", script], check=False)
        assert res.returncode == 0, f"relay exchange failed: {res.stderr}\n{server.log()}"
        offer, ack = (bytes.fromhex(l) for l in res.stdout.split())
        for name, m, t in (("OFFER", offer, 2), ("ACK", ack, 5)):
            opts = _options(m)
            assert opts[0] == (53, bytes([t])), f"{name}: {opts[:2]}"
            assert opts[-1] == (82, agent), f"{name}: option 82 not echoed byte for byte, last option {opts[-1]}"
            assert socket.inet_ntoa(m[24:28]) == GIADDR
        yiaddr = socket.inet_ntoa(ack[16:20])
        assert ipaddress.IPv4Address(yiaddr) in ipaddress.IPv4Network(RELAY4_SUBNET), yiaddr
        l = _wait(lambda: leases4(server).get(yiaddr), 10, f"{yiaddr} not in the store")
        assert l["status"] == ACTIVE
        return f"OFFER and ACK of {yiaddr} to the relay, option 82 ({len(agent)} bytes) echoed unchanged"


def _shared_config(topo, data, lease_time):
    """The relayed link as a shared network of 198.51.100.0/24 and 203.0.113.0/24 (482
    addresses: the IPv4 test nets are all this project may use)."""
    path = v4_config(topo, data, lease_time=lease_time)
    text = open(path).read().replace("id = 42\n", 'id = 42\nshared_network = "load"\n')
    text += f"""
[[subnet4]]
id = 43
subnet = "{SHARED4_SUBNET}"
shared_network = "load"
lease_time = {lease_time}
pools = ["{SHARED4_POOL[0]}-{SHARED4_POOL[1]}"]
"""
    with open(path, "w") as f:
        f.write(text)
    return path


def udp4_counters(topo, ns):
    """The namespace's UDP (IPv4) counters from /proc/net/snmp: InDatagrams, OutDatagrams,
    RcvbufErrors, ..."""
    lines = [l.split() for l in topo.ns(ns, ["cat", "/proc/net/snmp"]).stdout.splitlines() if l.startswith("Udp:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


def _perfdhcp4(topo, clients, exchanges, rate, timeout=300):
    cmd = ["timeout", str(timeout), "perfdhcp", "-4", "-l", GIADDR, "-R", str(clients), "-n", str(exchanges),
           "-r", str(rate), "-p", str(exchanges // rate + 30), "-s", "4", "-W", "2000000", "-u", SERVER4]
    res = topo.ns(topo.cli_ns, cmd, check=False)
    out = res.stdout + res.stderr
    return parse_perfdhcp(out), out


def perfdhcp4_relayed_clients():
    """perfdhcp -4 as a relay agent (giaddr 198.51.100.2): 10,500 DORA exchanges from
    random MACs (~10,500 distinct clients) at 250/s, every one answered: the server's
    kernel shows one datagram out per datagram in and no overflow, perfdhcp counts no
    loss beyond what its own socket overflowed (at most 1%). The test nets hold 482
    addresses on this link, so the lease time is 1 s: an expired lease of another client
    is given out again (RFC 2131 §4.2 lets a server reuse an address whose lease ended)."""
    with Topology("v4p") as topo:
        setup_v4(topo, relay=True)
        data = _data_dir(topo)
        server = start_server(topo, _shared_config(topo, data, lease_time=1), data)
        srv0, cli0 = udp4_counters(topo, topo.srv_ns), udp4_counters(topo, topo.cli_ns)
        stats, out = _perfdhcp4(topo, clients=4_000_000, exchanges=10_500, rate=250)
        srv = {k: v - srv0.get(k, 0) for k, v in udp4_counters(topo, topo.srv_ns).items()}
        cli = {k: v - cli0.get(k, 0) for k, v in udp4_counters(topo, topo.cli_ns).items()}
        do, ra = stats.get("DISCOVER-OFFER"), stats.get("REQUEST-ACK")
        assert do and ra, f"perfdhcp printed no statistics:\n{out[-2000:]}\n{server.log()}"
        assert srv.get("RcvbufErrors", 0) == 0, f"server socket overflowed: {srv}"
        assert srv["OutDatagrams"] == srv["InDatagrams"], f"unanswered datagrams at the server: {srv}\n{server.log()}"
        lost = do["sent packets"] - do["received packets"] + ra["sent packets"] - ra["received packets"]
        allowed = min(cli.get("RcvbufErrors", 0), 0.01 * do["sent packets"])
        assert lost <= allowed, f"{lost} exchanges unanswered (perfdhcp's own overflow {cli.get('RcvbufErrors', 0)})\n{out[-1500:]}"
        assert ra["received packets"] >= 10_000, f"only {ra['received packets']} ACKs"
        for s in (do, ra):
            assert s.get("rejected leases", 0) == 0, s
        leases = leases4(server)
        for a in leases:
            net = ipaddress.IPv4Address(a)
            assert net in ipaddress.IPv4Network(RELAY4_SUBNET) or net in ipaddress.IPv4Network(SHARED4_SUBNET), a
        return (f"{int(do['sent packets'])} DISCOVERs, {int(ra['received packets'])} ACKs, {lost:.0f} lost in "
                f"perfdhcp's socket; {len(leases)} addresses of the shared network used")


def kill9_under_perfdhcp4_loses_no_acked_lease():
    """kill -9 under perfdhcp -4 load: every address that left in a DHCPACK (captured at
    the relay) is ACTIVE in the store after the restart (a lease is durable before its ACK)."""
    with Topology("v4k") as topo:
        setup_v4(topo, relay=True)
        data = _data_dir(topo)
        config = _shared_config(topo, data, lease_time=3600)
        server = start_server(topo, config, data)
        pcap = os.path.join(topo.tmp, "acks.pcap")
        cap = topo.spawn(topo.cli_ns, ["tshark", "-q", "-i", topo.cli_if, "-f", "udp src port 67", "-w", pcap])
        time.sleep(2)
        load = topo.spawn(topo.cli_ns, ["perfdhcp", "-4", "-l", GIADDR, "-R", "4000000", "-n", "1000", "-r", "200",
                                        "-p", "20", "-s", "9", SERVER4])
        time.sleep(3)
        server.kill9()
        time.sleep(1)
        load.kill()
        load.wait(timeout=10)
        time.sleep(1)
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=10)
        res = topo.ns(topo.cli_ns, ["tshark", "-r", pcap, "-Y", "dhcp.option.dhcp == 5", "-T", "fields",
                                    "-e", "dhcp.ip.your"], check=False)
        acked = {l.strip() for l in res.stdout.splitlines() if l.strip()}
        assert len(acked) > 50, f"too few ACKs seen before the kill ({len(acked)}): {res.stderr}"
        server = start_server(topo, config, data)
        leases = leases4(server)
        missing = sorted(a for a in acked if leases.get(a, {}).get("status") != ACTIVE)
        assert not missing, f"{len(missing)} of {len(acked)} ACKed leases lost, e.g. {missing[:5]}"
        return f"{len(acked)} addresses seen in ACKs before kill -9, all ACTIVE in the store after restart"


def dual_stack_serves_dhclient4_and_dhclient6_at_once():
    """One server, one configuration: dhclient -4 and dhclient -6 on the same link, started
    together, each get a lease, and both are in the one store."""
    with Topology("v46") as topo:
        setup_v4(topo)
        data = _data_dir(topo)
        server = start_server(topo, v4_config(topo, data), data)
        c4, c6 = Dhclient4(topo, "c4").start(), Dhclient(topo, "c6").start()
        addr4 = c4.wait_address()
        addrs6, _ = c6.wait_bound(want_address=True)
        addr6 = next(iter(addrs6))
        assert ipaddress.IPv6Address(addr6) in ipaddress.IPv6Network(SUBNET), addr6
        leases = _wait(lambda: (lambda l: addr4 in l and addr6 in l and l)(server.leases()), 10,
                       "both leases in the store")
        assert leases[addr4]["status"] == ACTIVE and leases[addr6]["status"] == ACTIVE
        c4.stop()
        c6.stop()
        return f"{addr4} and {addr6} from one server, both ACTIVE in its store"


ABANDONED = 7
PING_METRICS = f"{SERVER4}:9547"


def _metrics4(topo):
    """`GET /metrics` from inside the server namespace: {series: value}."""
    code = ("import urllib.request; "
            f"print(urllib.request.urlopen('http://{PING_METRICS}/metrics', timeout=10).read().decode())")
    out = topo.ns(topo.srv_ns, ["python3", "-c", code]).stdout
    series = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            series[name] = float(value)
    return series


def ping_check_never_offers_an_address_that_answers_ping():
    """RFC 2131 §4.4.1 (dhcpd's ping-check): with `ping_check` on, the first pool address,
    192.0.2.100, is already used by a host the server has no lease for (an extra address
    on the client namespace's veth, answering ICMP echo). The server probes it before
    offering it, hears the echo reply, quarantines it as a DHCPDECLINE would (ABANDONED in
    the store), logs a warning and offers dhclient -4 another address. Also: check-config
    refuses a ping_timeout_ms out of 1..=10000 at its key."""
    with Topology("v4p") as topo:
        setup_v4(topo)
        live = POOL4[0]
        topo.ns(topo.cli_ns, ["ip", "addr", "add", f"{live}/24", "dev", topo.cli_if])
        data = _data_dir(topo)
        path = v4_config(topo, data)
        with open(path) as f:
            text = f.read()
        bad = os.path.join(topo.tmp, "bad-ping.toml")
        with open(bad, "w") as f:
            f.write(text.replace("id = 41\n", "id = 41\nping_check = true\nping_timeout_ms = 0\n", 1))
        res = topo.ns(topo.srv_ns, [tandem_binary(), "check-config", bad], check=False)
        msg = res.stdout + res.stderr
        assert res.returncode != 0 and "subnet4[0].ping_timeout_ms" in msg, (res.returncode, msg)
        text = text.replace("id = 41\n", "id = 41\nping_check = true\nping_timeout_ms = 500\n", 1)
        text += f'\n[metrics]\nlisten = "{PING_METRICS}"\n'
        with open(path, "w") as f:
            f.write(text)
        res = topo.ns(topo.srv_ns, [tandem_binary(), "check-config", path], check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        server = start_server(topo, path, data)
        client = Dhclient4(topo, "c4").start()
        addr = client.wait_address()
        assert addr != live, f"offered {live}, which answers ping"
        assert ipaddress.IPv4Address(addr) in ipaddress.IPv4Network(SUBNET4), addr
        l = _wait(lambda: leases4(server).get(live), 10, f"{live} not in the store",
                  lambda: f"; {leases4(server)}; log:\n{server.log()}")
        assert l["status"] == ABANDONED, l
        m = _metrics4(topo)
        in_use = m.get('tandem_dhcp4_ping_checks_total{result="in_use"}', 0)
        free = m.get('tandem_dhcp4_ping_checks_total{result="free"}', 0)
        assert in_use == 1, {k: v for k, v in m.items() if "ping" in k}
        assert free >= 1, {k: v for k, v in m.items() if "ping" in k}
        assert "answered ping" in server.log(), server.log()
        client.stop()
        return f"{live} answered ping: ABANDONED, never offered; dhclient -4 got {addr}; ping checks free={free:g} in_use={in_use:g}"


DHCP4_SCENARIOS = [
    dhclient4_gets_renews_rebinds_and_releases,
    dhclient4_init_reboot_after_restart,
    relayed_client_gets_option_82_back_byte_for_byte,
    perfdhcp4_relayed_clients,
    kill9_under_perfdhcp4_loses_no_acked_lease,
    dual_stack_serves_dhclient4_and_dhclient6_at_once,
    ping_check_never_offers_an_address_that_answers_ping,
]
