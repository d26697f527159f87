#!/usr/bin/env python3
"""perfdhcp against failover pairs in the same namespaces, same run.

FAMILY=6 (default; the issue 4 benchmark), perfdhcp -6 against three systems:

* tandem-pair: a tandem primary and secondary, failover on, mutual TLS, SQLite stores;
* tandem-one:  the same primary without [failover] (a single tandem);
* kea-ha:      two kea-dhcp6 2.2 in hot-standby (libdhcp_ha + libdhcp_lease_cmds,
               multi-threaded with the HA dedicated HTTP listener), memfile persist.

For each, the offered rate steps up (RATES, STEP_SECONDS each, a fresh pair per step) and
the highest rate with no drop is reported, with the ratios the issue asks for: the pair
against one tandem, and the pair against Kea HA. Clients reach the primary (the active
server in both designs).

FAMILY=4 (issue 14), perfdhcp -4 against four DHCPv4 (draft-12 / Kea HA) pairs, each of
them load balancing (RFC 3074, split 128), on the pair4.py topology:

* tandem-pair4:  two tandems, the draft-12 link over mutual TLS;
* tandem-dhcpd:  a tandem primary with an ISC dhcpd 4.4 secondary (plain TCP: dhcpd has no TLS);
* dhcpd-pair:    two dhcpd 4.4;
* kea-ha4:       two kea-dhcp4 2.2 in load-balancing HA, memfile persist.

perfdhcp -4 runs on the client link in interface mode: it broadcasts every message as a
relay agent would forward it (giaddr 198.51.100.2), so both members see every client and
each answers its own hash half; a fixed population of CLIENTS4 MACs repeats
DISCOVER-OFFER-REQUEST-ACK (the test networks hold 241 addresses on that link).

Results: bench/results/pair[4]-<time>.json. Root; run through bench/pair-vs-kea-ha.sh.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from clients import parse_perfdhcp  # noqa: E402
from harness import PD_LEN, POOL, SUBNET, cleanup_on_signals  # noqa: E402
from pair import FO_ADDRS, PD_POOL, Member, PairTopology, make_pki  # noqa: E402
import pair4  # noqa: E402
from bench import RMEM_DEFAULT, CpuQuota, cpu_seconds, set_rmem_default, with_one_retry  # noqa: E402

FAMILY = os.environ.get("FAMILY", "6")
V4 = FAMILY == "4"
RATES = [int(r) for r in os.environ.get("RATES", "1000,2000,4000,6000,8000,10000,12000,14000,16000").split(",")]
STEP_SECONDS = int(os.environ.get("STEP_SECONDS", "10"))
SYSTEMS = os.environ.get("SYSTEMS", "tandem-pair4,tandem-dhcpd,dhcpd-pair,kea-ha4" if V4 else
                         "tandem-pair,tandem-one,kea-ha").split(",")
# DHCPv4: the perfdhcp client population (fits the relayed link's 241-address pool).
CLIENTS4 = int(os.environ.get("CLIENTS4", "200"))
# perfdhcp's names for the two exchanges of a lease.
EXCHANGES = ("DISCOVER-OFFER", "REQUEST-ACK") if V4 else ("SOLICIT-ADVERTISE", "REQUEST-REPLY")
LEASE4 = 4000
PERF_CPU = os.environ.get("PERF_CPU", "1")
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
# The core of a pair's second member (default: with the first). SECONDARY_CPU=1 gives the
# member the clients talk to a core of its own, the second sharing perfdhcp's: the layout
# for comparing latency at moderate rates on a 2-core machine.
SECONDARY_CPU = os.environ.get("SECONDARY_CPU", SERVER_CPU)
HOOKS = os.environ.get("KEA_HOOKS", "/usr/lib/x86_64-linux-gnu/kea/hooks")
# Percent of one core each server process (each pair member, one tandem, each Kea) may use,
# each in its own CPU cgroup: on a 2-core machine this stands in for "each server on its
# own core", with a budget below what perfdhcp can saturate. 0: no limit (members share
# SERVER_CPU).
MEMBER_CPU_QUOTA = int(os.environ.get("MEMBER_CPU_QUOTA", "0"))


class KeaHa:
    """One kea-dhcp6 of a hot-standby pair in a PairTopology member namespace."""

    binary = "kea-dhcp6"

    def __init__(self, topo, who):
        self.topo, self.who = topo, who
        self.dir = os.path.join(topo.tmp, f"kea-{who}")
        os.makedirs(self.dir, exist_ok=True)
        pd_prefix, pd_plen = PD_POOL.split("/")
        peers = [
            {"name": "pri", "url": f"http://[{FO_ADDRS['pri']}]:8000/", "role": "primary", "auto-failover": True},
            {"name": "sec", "url": f"http://[{FO_ADDRS['sec']}]:8000/", "role": "standby", "auto-failover": True},
        ]
        cfg = {"Dhcp6": {
            "interfaces-config": {"interfaces": [topo.srv_if[who]]},
            "data-directory": self.dir,
            "lease-database": {"type": "memfile", "persist": True, "name": os.path.join(self.dir, "leases6.csv"),
                               "lfc-interval": 0},
            # Multi-threaded with the HA dedicated HTTP listener: Kea's recommended setup for HA
            # performance, and the only one where the peers talk without kea-ctrl-agent.
            "multi-threading": {"enable-multi-threading": True, "thread-pool-size": 2, "packet-queue-size": 256},
            "preferred-lifetime": 3000, "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000,
            "subnet6": [{"id": 1, "subnet": SUBNET, "interface": topo.srv_if[who],
                         "pools": [{"pool": f"{POOL[0]}-{POOL[1]}"}],
                         "pd-pools": [{"prefix": pd_prefix, "prefix-len": int(pd_plen), "delegated-len": PD_LEN}]}],
            "hooks-libraries": [
                {"library": os.path.join(HOOKS, "libdhcp_lease_cmds.so")},
                {"library": os.path.join(HOOKS, "libdhcp_ha.so"), "parameters": {"high-availability": [{
                    "this-server-name": who, "mode": "hot-standby",
                    "heartbeat-delay": 10000, "max-response-delay": 60000, "max-ack-delay": 5000,
                    "max-unacked-clients": 0, "sync-timeout": 60000,
                    "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                                        "http-listener-threads": 2, "http-client-threads": 2},
                    "peers": peers}]}},
            ],
            "loggers": [{"name": "kea-dhcp6", "severity": "WARN",
                         "output_options": [{"output": os.path.join(self.dir, "kea.log")}]}],
        }}
        self.config = os.path.join(self.dir, "kea-dhcp6.conf")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None

    def start(self):
        env = dict(os.environ, KEA_PIDFILE_DIR=self.dir, KEA_LOCKFILE_DIR=self.dir)
        out = open(os.path.join(self.dir, "kea.stdout"), "a")
        self.proc = self.topo.spawn(self.topo.nss[self.who], ["taskset", "-c", SERVER_CPU, self.binary, "-c",
                                                              self.config], env=env, stdout=out, stderr=out)
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "kea.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""


class KeaHa4(KeaHa):
    """One kea-dhcp4 of a load-balancing HA pair in a PairTopology4 member namespace."""

    binary = "kea-dhcp4"

    def __init__(self, topo, who):
        self.topo, self.who = topo, who
        self.dir = os.path.join(topo.tmp, f"kea4-{who}")
        os.makedirs(self.dir, exist_ok=True)
        peers = [
            {"name": "pri", "url": f"http://{pair4.FO4['pri']}:8000/", "role": "primary", "auto-failover": True},
            {"name": "sec", "url": f"http://{pair4.FO4['sec']}:8000/", "role": "secondary", "auto-failover": True},
        ]
        cfg = {"Dhcp4": {
            "interfaces-config": {"interfaces": [topo.srv_if[who]]},
            "lease-database": {"type": "memfile", "persist": True, "name": os.path.join(self.dir, "leases4.csv"),
                               "lfc-interval": 0},
            "multi-threading": {"enable-multi-threading": True, "thread-pool-size": 2, "packet-queue-size": 256},
            "valid-lifetime": LEASE4, "renew-timer": LEASE4 // 4, "rebind-timer": LEASE4 // 2,
            "subnet4": [
                {"id": 41, "subnet": pair4.SUBNET4, "interface": topo.srv_if[who],
                 "pools": [{"pool": f"{pair4.POOL4[0]}-{pair4.POOL4[1]}"}]},
                {"id": 42, "subnet": pair4.RELAY4_SUBNET,
                 "pools": [{"pool": f"{pair4.RELAY4_POOL[0]}-{pair4.RELAY4_POOL[1]}"}]}],
            "hooks-libraries": [
                {"library": os.path.join(HOOKS, "libdhcp_lease_cmds.so")},
                {"library": os.path.join(HOOKS, "libdhcp_ha.so"), "parameters": {"high-availability": [{
                    "this-server-name": who, "mode": "load-balancing",
                    "heartbeat-delay": 10000, "max-response-delay": 60000, "max-ack-delay": 5000,
                    "max-unacked-clients": 0, "sync-timeout": 60000,
                    "multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True,
                                        "http-listener-threads": 2, "http-client-threads": 2},
                    "peers": peers}]}},
            ],
            "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                         "output_options": [{"output": os.path.join(self.dir, "kea.log")}]}],
        }}
        self.config = os.path.join(self.dir, "kea-dhcp4.conf")
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=2)
        self.proc = None


def wait4_answering(topo, members, timeout=90):
    """Until a short perfdhcp -4 run is fully answered (both load-balancing members up)."""
    deadline = time.time() + timeout
    out = None
    while time.time() < deadline:
        out = topo.ns(topo.cli_ns, ["timeout", "10", "perfdhcp", "-4", "-l", topo.cli_if, "-R", "20", "-n", "20",
                                    "-r", "10", "-p", "5"], check=False)
        st = parse_perfdhcp(out.stdout + out.stderr).get("REQUEST-ACK", {})
        if st.get("received packets", 0) >= 18:
            return
        time.sleep(1)
    raise RuntimeError("the DHCPv4 pair did not start answering both halves:\n" + "\n".join(m.log() for m in members)
                       + (out.stdout[-1000:] if out else ""))


def start_system4(topo, system):
    def tandem(who, **kw):
        return pair4.Member4(topo, who, mclt=3600, lease_time=LEASE4, **kw)

    def dhcpd(who):
        return pair4.dhcpd_member(topo, who, mclt=3600, lease_time=LEASE4, max_response_delay=60,
                                  extra="dhcp-cache-threshold 0;")

    if system == "tandem-pair4":
        pki = make_pki(topo)
        members = [tandem("pri", pki=pki, max_unacked=100).start(), tandem("sec", pki=pki, max_unacked=100).start()]
        members[0].wait_state("NORMAL", timeout=60)
    elif system == "tandem-dhcpd":
        members = [tandem("pri"), dhcpd("sec")]
        members[1].start()
        members[0].start().wait_state("NORMAL", timeout=60)
    elif system == "dhcpd-pair":
        members = [dhcpd("pri").start(), dhcpd("sec").start()]
        pair4.wait_for(lambda: all(m.failover_state(pair4.PEER) == ("normal", "normal") for m in members), 60,
                       "both dhcpd in NORMAL")
    elif system == "kea-ha4":
        members = [KeaHa4(topo, "pri").start(), KeaHa4(topo, "sec").start()]
    else:
        raise ValueError(system)
    wait4_answering(topo, members)
    return members


def wait_kea_ready(topo, members, timeout=60):
    """Until the primary answers a Solicit (HA done with its startup sync)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = topo.ns(topo.cli_ns, ["timeout", "10", "perfdhcp", "-6", "-l", topo.cli_if, "-R", "10", "-n", "3",
                                    "-r", "1", "-p", "5"], check=False)
        st = parse_perfdhcp(out.stdout + out.stderr).get("SOLICIT-ADVERTISE", {})
        if st.get("received packets", 0) > 0:
            return
        time.sleep(1)
    raise RuntimeError("Kea HA pair did not start answering:\n" + members[0].log())


def start_system(topo, system):
    if system == "tandem-pair":
        sec = Member(topo, "sec", mclt=3600, valid=4000, renew=1000, rebind=2000).start()
        pri = Member(topo, "pri", mclt=3600, valid=4000, renew=1000, rebind=2000).start()
        pri.wait_state("NORMAL", timeout=60)
        sec.wait_state("NORMAL", timeout=60)
        return [pri, sec]
    if system == "tandem-one":
        pri = Member(topo, "pri", valid=4000, renew=1000, rebind=2000)
        # The same configuration without [failover]: one tandem alone.
        with open(pri.config) as f:
            text = f.read()
        with open(pri.config, "w") as f:
            f.write(text.split("[failover]")[0])
        pri.start_plain()
        return [pri]
    if system == "kea-ha":
        pri, sec = KeaHa(topo, "pri").start(), KeaHa(topo, "sec").start()
        wait_kea_ready(topo, [pri, sec])
        return [pri, sec]
    raise ValueError(system)


def perfdhcp_command(topo, rate, step_no):
    if V4:
        # Interface mode: perfdhcp -4 broadcasts each message with its own address as giaddr,
        # so both members of the pair get every message, as from a relay with two servers.
        return ["perfdhcp", "-4", "-l", topo.cli_if, "-R", str(CLIENTS4), "-r", str(rate), "-p", str(STEP_SECONDS),
                "-W", "1000000", "-s", str(step_no)]
    return ["perfdhcp", "-6", "-l", topo.cli_if, "-R", "100000000", "-r", str(rate), "-p", str(STEP_SECONDS),
            "-e", "address-only", "-W", "1000000", "-s", str(step_no)]


def step(system, rate, step_no):
    with (pair4.PairTopology4 if V4 else PairTopology)(f"b{step_no}") as topo:
        members = (start_system4 if V4 else start_system)(topo, system)
        for m, cpu in zip(members, [SERVER_CPU, SECONDARY_CPU]):
            subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(m.proc.pid)], capture_output=True)
        pids = [m.proc.pid for m in members]
        quotas = []
        if MEMBER_CPU_QUOTA:
            for i, pid in enumerate(pids):
                q = CpuQuota(MEMBER_CPU_QUOTA, f"tandem-bench-m{i}")
                q.add(pid)
                quotas.append(q)
        cpu0 = [cpu_seconds(p) for p in pids]
        t0 = time.time()
        cmd = ["ip", "netns", "exec", topo.cli_ns, "taskset", "-c", PERF_CPU, *perfdhcp_command(topo, rate, step_no)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_SECONDS + 60)
        wall = time.time() - t0
        used = [cpu_seconds(p) - c for p, c in zip(pids, cpu0)]
        for m in members:  # out of the cgroups before the namespace goes
            m.proc.kill()
            m.proc.wait()
        for q in quotas:
            q.remove()
        # The members' CPU together; 100% = one core.
        server_cpu = 100 * sum(used) / wall
        stats = parse_perfdhcp(out.stdout + out.stderr)
        sa, rr = stats.get(EXCHANGES[0], {}), stats.get(EXCHANGES[1], {})
        replies = rr.get("received packets", 0)
        offered = sa.get("sent packets", 0) / STEP_SECONDS
        clean = bool(sa and rr) and offered >= 0.95 * rate and all(
            s.get("drops", 1) == 0 and s.get("received packets") == s.get("sent packets") for s in (sa, rr))
        return dict(system=system, rate=rate, clean=clean, offered=offered,
                    replies=replies, sa_drops=sa.get("drops"), rr_drops=rr.get("drops"),
                    sa_avg_ms=sa.get("avg delay"), rr_avg_ms=rr.get("avg delay"), server_cpu_pct=round(server_cpu, 1),
                    member_cpu_pct=[round(100 * u / wall, 1) for u in used],
                    # CPU per completed exchange of the member the clients talk to (the
                    # primary), and of the whole system.
                    us_per_exchange_first=round(1e6 * used[0] / replies, 1) if replies else None,
                    us_per_exchange_all=round(1e6 * sum(used) / replies, 1) if replies else None)


def main():
    results = []
    best = {s: 0 for s in SYSTEMS}  # highest clean rate so far
    stopped = set()  # systems that failed a rate twice: they climb no further
    step_no = 0
    for rate in RATES:
        for system in SYSTEMS:
            if system in stopped:
                continue

            def run_step():
                nonlocal step_no
                step_no += 1
                return step(system, rate, step_no)

            for r in with_one_retry(run_step):
                results.append(r)
                print(f"{system:12} {rate:6}/s  {'clean' if r['clean'] else 'DROPS'}  offered {r['offered']:.0f}/s "
                      f"replies {r['replies']:.0f} SA avg {r['sa_avg_ms']} ms RR avg {r['rr_avg_ms']} ms, "
                      f"CPU {r['member_cpu_pct']}% us/exch {r['us_per_exchange_first']} "
                      f"(all members {r['us_per_exchange_all']})"
                      f"{' (retry)' if r['attempt'] == 2 else ''}", flush=True)
            if r["clean"]:
                best[system] = rate
            else:
                stopped.add(system)
    print(f"\nhighest clean rate ({EXCHANGES[0]} + {EXCHANGES[1]} exchanges per second offered):")
    for s in SYSTEMS:
        print(f"  {s:12} {best[s]}")
    if best.get("tandem-one") and "tandem-pair" in best:
        print(f"  pair / one tandem: {best['tandem-pair'] / best['tandem-one']:.2f}   (goal >= 0.90)")
    if best.get("kea-ha") and "tandem-pair" in best:
        print(f"  pair / Kea HA:     {best['tandem-pair'] / best['kea-ha']:.2f}   (goal >= 4)")
    for a, b in (("tandem-pair4", "kea-ha4"), ("tandem-pair4", "dhcpd-pair"), ("tandem-dhcpd", "dhcpd-pair")):
        if best.get(a) and best.get(b):
            print(f"  {a} / {b}: {best[a] / best[b]:.2f}")
    # Latency at half the pair's highest clean rate (perfdhcp reports averages, not
    # percentiles), and CPU per exchange at the highest rate every system passed.
    half = max((r for r in RATES if r <= best.get(SYSTEMS[0], 0) / 2), default=None)
    common = max((r for r in RATES if all(r <= best.get(s, 0) for s in SYSTEMS)), default=None)

    def at(system, rate):
        return next((r for r in reversed(results) if r["system"] == system and r["rate"] == rate and r["clean"]), None)

    if half:
        print(f"\nat {half}/s (half {SYSTEMS[0]}'s highest clean rate), {EXCHANGES[0]} avg:")
        for s in SYSTEMS:
            r = at(s, half)
            print(f"  {s:12} {r['sa_avg_ms'] if r else '-'} ms")
    if common:
        print(f"\nat {common}/s (every system clean), CPU per exchange (us; first member, all members):")
        for s in SYSTEMS:
            r = at(s, common)
            print(f"  {s:12} {r['us_per_exchange_first'] if r else '-'}  {r['us_per_exchange_all'] if r else '-'}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"pair{'4' if V4 else ''}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(dict(family=FAMILY, clients4=CLIENTS4 if V4 else None, rates=RATES, step_seconds=STEP_SECONDS, member_cpu_quota=MEMBER_CPU_QUOTA, steps=results,
                       best=best), f, indent=2)
    print(f"results: {path}")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    cleanup_on_signals()
    old_rmem = set_rmem_default(RMEM_DEFAULT)
    try:
        main()
    finally:
        if old_rmem is not None:
            set_rmem_default(old_rmem)
