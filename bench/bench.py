#!/usr/bin/env python3
"""perfdhcp -6 against tandem and Kea 2.2 on the same namespaces, in the same run.

For each lease type (IA_NA: -e address-only, IA_PD: -e prefix-only) and each server,
the offered rate steps up (RATES, STEP_SECONDS each, a fresh server and empty lease
store per step) until a step shows drops or unanswered packets. Reported per
server/lease type: the highest rate with zero drops, the avg/max Solicit-Advertise and
Request-Reply delays at that rate, and the CPU used by the server and by perfdhcp.
The server runs on core SERVER_CPU, perfdhcp on core PERF_CPU (taskset -c).

See bench/README.md. Root needed; not part of CI.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# 2^20 delegated /56s: the default test pool (65,536) runs out at 8,000 exchanges/s x 10 s.
os.environ.setdefault("IT_PD_POOL", "2001:db8:1000::/36")
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from clients import parse_perfdhcp  # noqa: E402
from harness import Tandem, Topology, cleanup_on_signals  # noqa: E402
from kea import Kea  # noqa: E402

RATES = [int(r) for r in os.environ.get("RATES", "500,1000,2000,3000,4000,6000,8000,12000,16000").split(",")]
STEP_SECONDS = int(os.environ.get("STEP_SECONDS", "10"))
SERVER_CPU = int(os.environ.get("SERVER_CPU", "0"))
PERF_CPU = int(os.environ.get("PERF_CPU", "1"))
SERVERS = os.environ.get("SERVERS", "tandem,kea").split(",")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a live process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


_steps_run = 0


def one_step(topo, make, lease_type, rate):
    global _steps_run
    _steps_run += 1
    step_no = _steps_run
    data = os.path.join(topo.tmp, f"data-{step_no}")
    os.makedirs(data)
    server = make(topo, data, cpu=SERVER_CPU).start()
    try:
        time.sleep(0.5)
        srv_cpu0 = cpu_seconds(server.proc.pid)
        # ip netns exec and taskset exec() into perfdhcp: the PID we wait for is perfdhcp's.
        cmd = ["ip", "netns", "exec", topo.cli_ns, "taskset", "-c", str(PERF_CPU), "perfdhcp", "-6",
               "-l", topo.cli_if, "-R", "100000000", "-r", str(rate), "-p", str(STEP_SECONDS),
               "-e", lease_type, "-W", "1000000", "-s", str(step_no)]
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
        with open(log_path) as f:
            out = f.read()
    finally:
        server.stop()
    stats = parse_perfdhcp(out)
    sa, rr = stats.get("SOLICIT-ADVERTISE", {}), stats.get("REQUEST-REPLY", {})
    perf_cpu = rusage.ru_utime + rusage.ru_stime
    clean = bool(sa and rr) and all(
        s.get("drops", 1) == 0 and s.get("sent packets", 0) > 0 and s.get("received packets") == s.get("sent packets")
        for s in (sa, rr))
    return dict(rate=rate, clean=clean, solicits=sa.get("sent packets", 0), replies=rr.get("received packets", 0),
                sa_drops=sa.get("drops"), rr_drops=rr.get("drops"),
                sa_avg_ms=sa.get("avg delay"), sa_max_ms=sa.get("max delay"),
                rr_avg_ms=rr.get("avg delay"), rr_max_ms=rr.get("max delay"),
                achieved_rate=rr.get("received packets", 0) / STEP_SECONDS,
                server_cpu_pct=100 * srv_cpu / elapsed, perfdhcp_cpu_pct=100 * perf_cpu / elapsed if perf_cpu else None,
                raw_tail=out[-600:] if not clean else "")


def sweep(topo, servers, lease_type):
    """Step the rate up for every server, interleaved (tandem then Kea at each rate) so
    that background load on the machine hits both alike. A step that shows drops is run
    once more; a server stops at its first rate that fails twice."""
    best = {name: None for name in servers}
    steps = {name: [] for name in servers}
    live = list(servers)
    for rate in RATES:
        for name in list(live):
            for attempt in (1, 2):
                r = one_step(topo, servers[name], lease_type, rate)
                r["attempt"] = attempt
                steps[name].append(r)
                print(f"  {name:6} {lease_type:13} rate {rate:6}/s: {'ok   ' if r['clean'] else 'DROPS'} "
                      f"replies {int(r['replies']):7} drops SA {r['sa_drops']} RR {r['rr_drops']} "
                      f"RR avg {r['rr_avg_ms']} ms max {r['rr_max_ms']} ms, server CPU {r['server_cpu_pct']:.0f}%, "
                      f"perfdhcp CPU {r['perfdhcp_cpu_pct'] or 0:.0f}%{' (retry)' if attempt == 2 else ''}",
                      flush=True)
                if r["clean"]:
                    break
            if r["clean"]:
                best[name] = r
            else:
                live.remove(name)
        if not live:
            break
    return best, steps


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def main():
    out_path = os.environ.get("BENCH_OUT", os.path.join(HERE, "results", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json"))
    results = {}
    makers = {"tandem": lambda t, d, cpu: Tandem(t, d, cpu=cpu),
              "kea": lambda t, d, cpu: Kea(t, d, cpu=cpu, persist=True)}
    servers = {name: makers[name] for name in SERVERS}
    load_before = os.getloadavg()
    with Topology("bench") as topo:
        for lease_type in ("address-only", "prefix-only"):
            best, steps = sweep(topo, servers, lease_type)
            for name in servers:
                results[f"{name}/{lease_type}"] = dict(best=best[name], steps=steps[name])
    load_after = os.getloadavg()
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    doc = dict(rates=RATES, step_seconds=STEP_SECONDS, server_cpu=SERVER_CPU, perf_cpu=PERF_CPU,
               nproc=os.cpu_count(), loadavg_before=load_before, loadavg_after=load_after, results=results)
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=2)
    print_summary(doc)
    print(f"results: {out_path}")
    return 0


def print_summary(doc):
    results = doc["results"]
    print()
    print(f"{'server':7} {'lease':13} {'max clean rate/s':>16} {'SA avg/max ms':>15} {'RR avg/max ms':>15} "
          f"{'server CPU':>10} {'perfdhcp CPU':>12}")
    for key, r in results.items():
        name, lease_type = key.split("/")
        b = r["best"]
        if b is None:
            print(f"{name:7} {lease_type:13} {'none clean':>16}")
            continue
        print(f"{name:7} {lease_type:13} {b['rate']:>16} {fmt(b['sa_avg_ms']) + '/' + fmt(b['sa_max_ms']):>15} "
              f"{fmt(b['rr_avg_ms']) + '/' + fmt(b['rr_max_ms']):>15} {fmt(b['server_cpu_pct'], '.0f') + '%':>10} "
              f"{fmt(b['perfdhcp_cpu_pct'], '.0f') + '%':>12}")
    for lease_type in ("address-only", "prefix-only"):
        t, k = results.get(f"tandem/{lease_type}"), results.get(f"kea/{lease_type}")
        if not (t and k and t["best"] and k["best"]):
            continue
        # Delays are compared at the highest rate both servers passed cleanly.
        clean_t = {s["rate"]: s for s in t["steps"] if s["clean"]}
        clean_k = {s["rate"]: s for s in k["steps"] if s["clean"]}
        common = max(set(clean_t) & set(clean_k), default=None)
        line = f"tandem/Kea {lease_type}: max clean rate {t['best']['rate'] / k['best']['rate']:.2f}x"
        if common is not None and clean_k[common]["rr_avg_ms"]:
            line += (f"; at {common}/s RR avg delay {clean_t[common]['rr_avg_ms']} vs {clean_k[common]['rr_avg_ms']} ms "
                     f"({clean_t[common]['rr_avg_ms'] / clean_k[common]['rr_avg_ms']:.2f}x)")
        print(line)
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
