#!/usr/bin/env python3
"""perfdhcp against tandem and Kea 2.2 (and, for DHCPv4, ISC dhcpd) on the same
namespaces, in the same run.

FAMILY=6 (default): perfdhcp -6, tandem against kea-dhcp6. FAMILY=4: perfdhcp -4 acting
as a relay agent, tandem against kea-dhcp4 and dhcpd. For each lease type (DHCPv6 IA_NA:
-e address-only, IA_PD: -e prefix-only; DHCPv4: one, "v4") and each server,
the offered rate steps up (RATES, STEP_SECONDS each, a fresh server and empty lease
store per step) until a step shows drops or unanswered packets. Reported per
server/lease type: the highest rate with zero drops, the avg/max Solicit-Advertise and
Request-Reply delays at that rate, and the CPU used by the server and by perfdhcp.
The server runs on core SERVER_CPU, perfdhcp on core PERF_CPU (taskset -c).

See bench/README.md. Root needed; not part of CI.
"""

import json
import os
from statistics import median_low
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# 2^20 delegated /56s: the default test pool (65,536) runs out at 8,000 exchanges/s x 10 s.
os.environ.setdefault("IT_PD_POOL", "2001:db8:1000::/36")
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import clients  # noqa: E402
from clients import parse_perfdhcp  # noqa: E402
from harness import Tandem, Topology, cleanup_on_signals, wait_port  # noqa: E402
from kea import Kea, Kea4  # noqa: E402
from dhcpd import Dhcpd, relayed_conf  # noqa: E402
import dhcp4  # noqa: E402

FAMILY = os.environ.get("FAMILY", "6")
if FAMILY not in ("4", "6"):
    sys.exit(f"FAMILY must be 4 or 6, not {FAMILY!r}")
V4 = FAMILY == "4"
# The IPv4 test networks (RFC 5737) are all the addresses this project may use: the
# relayed link is a shared network of two /24s, 482 addresses. So DHCPv4 clients are a
# fixed population of CLIENTS4 MAC addresses, each doing DISCOVER-OFFER-REQUEST-ACK
# again and again: every ACK extends the client's lease, a lease write in every server
# (dhcpd's write-skipping cache is turned off), as a new client's would be.
CLIENTS4 = int(os.environ.get("CLIENTS4", "400"))
V4_SUBNETS = [(42, dhcp4.RELAY4_SUBNET, "-".join(dhcp4.RELAY4_POOL), "198.51.100.1"),
              (43, dhcp4.SHARED4_SUBNET, "-".join(dhcp4.SHARED4_POOL), "203.0.113.1")]
LEASE_TYPES = ("v4",) if V4 else ("address-only", "prefix-only")
# perfdhcp's names for the two exchanges of each lease ("SA" and "RR" in the results).
EXCHANGES = ("DISCOVER-OFFER", "REQUEST-ACK") if V4 else ("SOLICIT-ADVERTISE", "REQUEST-REPLY")

RATES = [int(r) for r in os.environ.get("RATES", "1000,2000,4000,6000,8000,10000,12000,14000,16000,20000").split(",")]
STEP_SECONDS = int(os.environ.get("STEP_SECONDS", "10"))
# Extra steps that bisect between the last clean and the first failing rate of the ladder.
REFINE = int(os.environ.get("REFINE", "2"))
# Whole sweeps; the summary quotes the median (and range) of each server's max clean rate.
REPEAT = int(os.environ.get("REPEAT", "1"))
# Socket receive buffer given by default to every socket during the run (Kea's and
# perfdhcp's; tandem asks for its own 4 MiB), as Kea's performance guide recommends:
# with the stock 208 KiB a few ms of scheduling stall overflow the socket, and the step
# fails for that rather than for lack of server capacity. 0 keeps the system default.
RMEM_DEFAULT = int(os.environ.get("RMEM_DEFAULT", str(8 << 20)))
SERVER_CPU = int(os.environ.get("SERVER_CPU", "0"))
# Percent of one core each server may use (a CPU cgroup quota), 0 = no limit. perfdhcp
# saturates its own core near 12,000-17,000 exchanges/s, before tandem does; with the
# same quota for both servers the max clean rate is the server's capacity on that budget.
SERVER_CPU_QUOTA = int(os.environ.get("SERVER_CPU_QUOTA", "0"))
PERF_CPU = int(os.environ.get("PERF_CPU", "1"))
SERVERS = os.environ.get("SERVERS", "tandem,kea,dhcpd" if V4 else "tandem,kea").split(",")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def udp_counters(topo, ns):
    """(datagrams received, receive-buffer overflows) of every UDP socket of the
    benchmarked family in `ns`."""
    if V4:
        d = dhcp4.udp4_counters(topo, ns)
        return d.get("InDatagrams", 0), d.get("RcvbufErrors", 0)
    d = clients.udp6_counters(topo, ns)
    return d.get("Udp6InDatagrams", 0), d.get("Udp6RcvbufErrors", 0)


def perfdhcp_command(topo, lease_type, rate, step_no):
    if V4:
        # -l <address>: perfdhcp -4 relays from it (giaddr); replies come back to port 67.
        return ["perfdhcp", "-4", "-l", dhcp4.GIADDR, "-R", str(CLIENTS4), "-r", str(rate),
                "-p", str(STEP_SECONDS), "-W", "1000000", "-s", str(step_no), dhcp4.SERVER4]
    return ["perfdhcp", "-6", "-l", topo.cli_if, "-R", "100000000", "-r", str(rate), "-p", str(STEP_SECONDS),
            "-e", lease_type, "-W", "1000000", "-s", str(step_no)]


def set_rmem_default(value):
    """Sets net.core.rmem_default; returns the previous value (None if unchanged)."""
    path = "/proc/sys/net/core/rmem_default"
    with open(path) as f:
        old = int(f.read())
    if value <= 0 or value == old:
        return None
    with open(path, "w") as f:
        f.write(str(value))
    return old


def cpu_seconds(pid):
    """utime + stime of a live process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuQuota:
    """A CPU cgroup (v2 cpu.max, or v1 cfs quota) limiting its processes to `percent`
    of one core; processes join with add(pid) (all their threads move along)."""

    def __init__(self, percent, name="tandem-bench"):
        self.percent, self.path = percent, None
        if percent <= 0:
            return
        period = 100_000
        quota = period * percent // 100
        v2 = "/sys/fs/cgroup/cgroup.controllers"
        if os.path.exists(v2) and "cpu" in open(v2).read().split():
            self.path = f"/sys/fs/cgroup/{name}"
            # A child gets cpu.max only when its parent delegates the cpu controller.
            with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
                f.write("+cpu")
            os.makedirs(self.path, exist_ok=True)
            with open(os.path.join(self.path, "cpu.max"), "w") as f:
                f.write(f"{quota} {period}")
        elif os.path.isdir("/sys/fs/cgroup/cpu"):
            self.path = f"/sys/fs/cgroup/cpu/{name}"
            os.makedirs(self.path, exist_ok=True)
            with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
                f.write(str(period))
            with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota))
        else:
            sys.exit("SERVER_CPU_QUOTA needs a cgroup cpu controller")

    def add(self, pid):
        if self.path:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def remove(self):
        if self.path:
            try:
                os.rmdir(self.path)
            except OSError:
                pass


QUOTA = None
_steps_run = 0


def one_step(topo, make, lease_type, rate):
    global _steps_run
    _steps_run += 1
    step_no = _steps_run
    data = os.path.join(topo.tmp, f"data-{step_no}")
    os.makedirs(data)
    server = make(topo, data, cpu=SERVER_CPU).launch()
    wait_port(topo, server.proc, server.name, server.log, 67 if V4 else 547)
    try:
        if QUOTA:
            QUOTA.add(server.proc.pid)
        time.sleep(0.5)
        srv_udp0, cli_udp0 = udp_counters(topo, topo.srv_ns), udp_counters(topo, topo.cli_ns)
        srv_cpu0 = cpu_seconds(server.proc.pid)
        # ip netns exec and taskset exec() into perfdhcp: the PID we wait for is perfdhcp's.
        cmd = ["ip", "netns", "exec", topo.cli_ns, "taskset", "-c", str(PERF_CPU),
               *perfdhcp_command(topo, lease_type, rate, step_no)]
        log_path = os.path.join(topo.tmp, f"perfdhcp-{step_no}.log")
        start = time.time()
        with open(log_path, "w") as log:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        topo.procs.append(p)
        # os.wait4 (not Popen.wait) so we get perfdhcp's own CPU time (rusage).
        rusage, deadline = None, start + STEP_SECONDS + 30
        while rusage is None:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode, rusage = status, ru
            elif time.time() > deadline:
                p.kill()
            else:
                time.sleep(0.1)
        elapsed = time.time() - start
        srv_cpu = cpu_seconds(server.proc.pid) - srv_cpu0
        srv_udp, cli_udp = udp_counters(topo, topo.srv_ns), udp_counters(topo, topo.cli_ns)
        with open(log_path) as f:
            out = f.read()
    finally:
        server.stop()
    stats = parse_perfdhcp(out)
    sa, rr = stats.get(EXCHANGES[0], {}), stats.get(EXCHANGES[1], {})
    perf_cpu = rusage.ru_utime + rusage.ru_stime
    # perfdhcp may fall short of the asked rate (its own CPU): then the server was not
    # offered `rate`, and the step cannot count as passing it.
    offered = sa.get("sent packets", 0) / STEP_SECONDS
    short = offered < 0.95 * rate
    clean = bool(sa and rr) and not short and all(
        s.get("drops", 1) == 0 and s.get("sent packets", 0) > 0 and s.get("received packets") == s.get("sent packets")
        for s in (sa, rr))
    replies = rr.get("received packets", 0)
    return dict(rate=rate, clean=clean, short=short, offered_rate=offered, solicits=sa.get("sent packets", 0),
                replies=replies,
                sa_drops=sa.get("drops"), rr_drops=rr.get("drops"),
                sa_avg_ms=sa.get("avg delay"), sa_max_ms=sa.get("max delay"),
                rr_avg_ms=rr.get("avg delay"), rr_max_ms=rr.get("max delay"),
                achieved_rate=rr.get("received packets", 0) / STEP_SECONDS,
                server_cpu_pct=100 * srv_cpu / elapsed, perfdhcp_cpu_pct=100 * perf_cpu / elapsed if perf_cpu else None,
                # CPU time per completed exchange (Solicit..Reply): the server's cost,
                # comparable between servers at the same offered rate.
                server_us_per_exchange=1e6 * srv_cpu / replies if replies else None,
                perfdhcp_us_per_exchange=1e6 * perf_cpu / replies if replies and perf_cpu else None,
                # Datagrams lost to a full socket receive buffer during the step: at the
                # server (it fell behind) or at perfdhcp (the load generator fell behind).
                server_rcvbuf_drops=srv_udp[1] - srv_udp0[1], perfdhcp_rcvbuf_drops=cli_udp[1] - cli_udp0[1],
                raw_tail=out[-600:] if not clean else "")


def with_one_retry(run_step):
    """Runs a step, and once more if it showed drops (a scheduling stall on a shared
    machine is not a capacity limit). Yields each result with its `attempt` number; the
    last one yielded is the verdict for that rate."""
    for attempt in (1, 2):
        r = run_step()
        r["attempt"] = attempt
        yield r
        if r["clean"]:
            return


def run_rate(topo, servers, name, lease_type, rate, steps, sweep_no):
    """One rate for one server: a step that shows drops is run once more."""
    for r in with_one_retry(lambda: one_step(topo, servers[name], lease_type, rate)):
        attempt = r["attempt"]
        r["sweep"] = sweep_no
        steps[name].append(r)
        verdict = "ok   " if r["clean"] else ("SHORT" if r.get("short") else "DROPS")
        print(f"  {name:6} {lease_type:13} rate {rate:6}/s: {verdict} offered {r['offered_rate']:7.0f}/s "
              f"replies {int(r['replies']):7} drops SA {r['sa_drops']} RR {r['rr_drops']} "
              f"(rcvbuf: server {r['server_rcvbuf_drops']}, perfdhcp {r['perfdhcp_rcvbuf_drops']}) "
              f"RR avg {r['rr_avg_ms']} ms max {r['rr_max_ms']} ms, server CPU {r['server_cpu_pct']:.0f}% "
              f"({fmt(r['server_us_per_exchange'], '.0f')} us/exch), "
              f"perfdhcp CPU {r['perfdhcp_cpu_pct'] or 0:.0f}%{' (retry)' if attempt == 2 else ''}",
              flush=True)
    return r


def sweep(topo, servers, lease_type, sweep_no=1):
    """Step the rate up for every server, interleaved (tandem then Kea at each rate) so
    that background load on the machine hits both alike. A step that shows drops is run
    once more; a server stops climbing at its first rate that fails twice. Then REFINE
    bisection steps between its last clean and its first failing rate (interleaved too)."""
    best = {name: None for name in servers}
    failed = {name: None for name in servers}
    steps = {name: [] for name in servers}
    live = list(servers)
    for rate in RATES:
        for name in list(live):
            r = run_rate(topo, servers, name, lease_type, rate, steps, sweep_no)
            if r["clean"]:
                best[name] = r
            else:
                failed[name] = rate
                live.remove(name)
        if not live:
            break
    for _ in range(REFINE):
        for name in servers:
            lo = best[name]["rate"] if best[name] else 0
            hi = failed[name]
            if hi is None or hi - lo < 500:
                continue
            mid = (lo + hi) // 2 // 100 * 100
            r = run_rate(topo, servers, name, lease_type, mid, steps, sweep_no)
            if r["clean"]:
                best[name] = r
            else:
                failed[name] = mid
    return best, steps


def tandem4_config(data_dir):
    """tandem serving DHCPv4 only: the relayed shared network of V4_SUBNETS, the lease
    times Kea and dhcpd get."""
    subnets = "".join(f"""
[[subnet4]]
id = {sid}
subnet = "{net}"
shared_network = "load"
lease_time = 4000
t1 = 1000
t2 = 2000
pools = ["{pool}"]

[subnet4.options]
routers = ["{router}"]
""" for sid, net, pool, router in V4_SUBNETS)
    path = os.path.join(data_dir, "tandem.toml")
    with open(path, "w") as f:
        f.write(f"""[server]
data_dir = "{data_dir}"
log_level = "info"

[options4]
dns_servers = ["192.0.2.53"]
domain_name = "example.org"
{subnets}""")
    return path


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def main():
    out_path = os.environ.get("BENCH_OUT", os.path.join(HERE, "results", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json"))
    results = {}
    main_bin = os.environ.get("TANDEM_BIN")

    def tandem_with(binary):
        # Tandem.launch() reads TANDEM_BIN; set it for the step about to start.
        def make(t, d, cpu):
            if binary:
                os.environ["TANDEM_BIN"] = binary
            return Tandem(t, d, cpu=cpu, config=tandem4_config(d) if V4 else None)
        return make

    makers = {"tandem": tandem_with(main_bin),
              # Another tandem build (e.g. before a change), run in the same interleaved
              # sweep: SERVERS=tandem,tandem-before,kea TANDEM_BEFORE_BIN=path.
              "tandem-before": tandem_with(os.environ.get("TANDEM_BEFORE_BIN"))}
    if V4:
        makers["kea"] = lambda t, d, cpu: Kea4(t, d, V4_SUBNETS, cpu=cpu, persist=True)
        makers["dhcpd"] = lambda t, d, cpu: Dhcpd(t, d, relayed_conf(V4_SUBNETS, dhcp4.SUBNET4), cpu=cpu)
    else:
        makers["kea"] = lambda t, d, cpu: Kea(t, d, cpu=cpu, persist=True)
    unknown = [name for name in SERVERS if name not in makers]
    if unknown:
        sys.exit(f"SERVERS: unknown {unknown} for FAMILY={FAMILY} (known: {', '.join(makers)})")
    servers = {name: makers[name] for name in SERVERS}
    load_before = os.getloadavg()
    old_rmem = set_rmem_default(RMEM_DEFAULT)
    global QUOTA
    QUOTA = CpuQuota(SERVER_CPU_QUOTA)
    try:
        with Topology("bench") as topo:
            if V4:
                # The server on 192.0.2.1, perfdhcp relaying from 198.51.100.2.
                dhcp4.setup_v4(topo, relay=True)
            for sweep_no in range(1, REPEAT + 1):
                for lease_type in LEASE_TYPES:
                    best, steps = sweep(topo, servers, lease_type, sweep_no)
                    for name in servers:
                        r = results.setdefault(f"{name}/{lease_type}", dict(best=None, bests=[], steps=[]))
                        r["bests"].append(best[name]["rate"] if best[name] else 0)
                        r["steps"].extend(steps[name])
                        # "best": the clean step at the median max clean rate.
                        med = median_low(r["bests"])
                        r["best"] = next((s for s in r["steps"] if s["clean"] and s["rate"] == med), None)
    finally:
        if old_rmem is not None:
            set_rmem_default(old_rmem)
        QUOTA.remove()
    load_after = os.getloadavg()
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    doc = dict(family=FAMILY, clients4=CLIENTS4 if V4 else None, rates=RATES, step_seconds=STEP_SECONDS, server_cpu=SERVER_CPU, perf_cpu=PERF_CPU,
               refine=REFINE, repeat=REPEAT, rmem_default=RMEM_DEFAULT, server_cpu_quota=SERVER_CPU_QUOTA,
               nproc=os.cpu_count(), loadavg_before=load_before, loadavg_after=load_after, results=results)
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=2)
    print_summary(doc)
    print(f"results: {out_path}")
    return 0


def mean_clean_steps(steps):
    """{rate: step} over the clean steps, delays and CPU cost averaged when a rate was
    passed in several sweeps."""
    by_rate = {}
    for st in steps:
        if st["clean"]:
            by_rate.setdefault(st["rate"], []).append(st)
    out = {}
    for rate, group in by_rate.items():
        avg = dict(group[-1])
        for key in ("rr_avg_ms", "server_us_per_exchange"):
            vals = [g[key] for g in group if g.get(key) is not None]
            avg[key] = round(sum(vals) / len(vals), 3) if vals else None
        out[rate] = avg
    return out


def ratio_line(lease_type, other, t, k):
    """tandem against `other`: max clean rates, and delay and CPU per exchange at the
    highest rate both passed cleanly (compared at the same offered load)."""
    clean_t, clean_k = mean_clean_steps(t["steps"]), mean_clean_steps(k["steps"])
    common = max(set(clean_t) & set(clean_k), default=None)
    line = f"tandem/{other} {lease_type}: max clean rate {t['best']['rate'] / k['best']['rate']:.2f}x"
    if common is not None and clean_k[common]["rr_avg_ms"]:
        ct, ck = clean_t[common], clean_k[common]
        line += (f"; at {common}/s RR avg delay {ct['rr_avg_ms']} vs {ck['rr_avg_ms']} ms "
                 f"({ct['rr_avg_ms'] / ck['rr_avg_ms']:.2f}x)")
        if ct.get("server_us_per_exchange") and ck.get("server_us_per_exchange"):
            line += (f", server CPU per exchange {ct['server_us_per_exchange']:.0f} vs "
                     f"{ck['server_us_per_exchange']:.0f} us ({ct['server_us_per_exchange'] / ck['server_us_per_exchange']:.2f}x)")
    return line


def print_summary(doc):
    results = doc["results"]
    print()
    print(f"{'server':7} {'lease':13} {'max clean rate/s':>16} {'(all sweeps)':>14} {'SA avg/max ms':>15} "
          f"{'RR avg/max ms':>15} {'server CPU':>10} {'us/exch':>8} {'perfdhcp CPU':>12}")
    for key, r in results.items():
        name, lease_type = key.split("/")
        b = r["best"]
        sweeps = ",".join(str(x) for x in r.get("bests", []))
        if b is None:
            print(f"{name:7} {lease_type:13} {'none clean':>16} {sweeps:>14}")
            continue
        print(f"{name:7} {lease_type:13} {b['rate']:>16} {sweeps:>14} "
              f"{fmt(b['sa_avg_ms']) + '/' + fmt(b['sa_max_ms']):>15} "
              f"{fmt(b['rr_avg_ms']) + '/' + fmt(b['rr_max_ms']):>15} {fmt(b['server_cpu_pct'], '.0f') + '%':>10} "
              f"{fmt(b.get('server_us_per_exchange'), '.0f'):>8} {fmt(b['perfdhcp_cpu_pct'], '.0f') + '%':>12}")
    lease_types = sorted({key.split("/")[1] for key in results}, key=lambda lt: (lt != "address-only", lt))
    names = list(dict.fromkeys(key.split("/")[0] for key in results))
    for lease_type in lease_types:
        t = results.get(f"tandem/{lease_type}")
        for other in (n for n in names if n not in ("tandem", "tandem-before")):
            k = results.get(f"{other}/{lease_type}")
            if t and k and t["best"] and k["best"]:
                print(ratio_line(lease_type, other, t, k))
        # Where the first failing step lost its packets says who ran out.
        for name in names:
            r = results.get(f"{name}/{lease_type}")
            fails = [s for s in r["steps"] if not s["clean"]] if r else []
            if fails and "server_rcvbuf_drops" in fails[0]:
                f = min(fails, key=lambda s: s["rate"])
                print(f"  {name} {lease_type} first failing step {f['rate']}/s (perfdhcp offered {f.get('offered_rate', 0):.0f}/s): "
                      f"drops SA {f['sa_drops']} RR {f['rr_drops']}, "
                      f"lost in socket buffers: server {f['server_rcvbuf_drops']}, perfdhcp {f['perfdhcp_rcvbuf_drops']}; "
                      f"CPU server {f['server_cpu_pct']:.0f}%, perfdhcp {f['perfdhcp_cpu_pct'] or 0:.0f}%")
    if doc.get("family") == "4":
        print(f"DHCPv4: SA = DISCOVER-OFFER, RR = REQUEST-ACK; {doc.get('clients4')} clients repeating DORA "
              "(the IPv4 test nets hold 482 addresses)")
    if doc.get("server_cpu_quota"):
        print(f"each server limited to {doc['server_cpu_quota']}% of one core (SERVER_CPU_QUOTA)")
    lb, la = doc.get("loadavg_before"), doc.get("loadavg_after")
    if lb and la:
        print(f"load average before {lb[0]:.2f}, after {la[0]:.2f} "
              f"({doc['nproc']} cores; other load on the machine skews both servers)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        with open(sys.argv[2]) as f:
            print_summary(json.load(f))
        sys.exit(0)
    if os.geteuid() != 0:
        sys.exit("the benchmark needs root (network namespaces)")
    cleanup_on_signals()
    sys.exit(main())
