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
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from clients import parse_perfdhcp  # noqa: E402
from harness import Tandem, Topology  # noqa: E402
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


def sweep(topo, name, make, lease_type):
    best, steps = None, []
    for rate in RATES:
        r = one_step(topo, make, lease_type, rate)
        steps.append(r)
        print(f"  {name:6} {lease_type:13} rate {rate:6}/s: {'ok   ' if r['clean'] else 'DROPS'} "
              f"replies {int(r['replies']):7} drops SA {r['sa_drops']} RR {r['rr_drops']} "
              f"RR avg {r['rr_avg_ms']} ms max {r['rr_max_ms']} ms, server CPU {r['server_cpu_pct']:.0f}%, "
              f"perfdhcp CPU {r['perfdhcp_cpu_pct'] or 0:.0f}%", flush=True)
        if not r["clean"]:
            break
        best = r
    return best, steps


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def main():
    out_path = os.environ.get("BENCH_OUT", os.path.join(HERE, "results", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json"))
    results = {}
    with Topology("bench") as topo:
        for lease_type in ("address-only", "prefix-only"):
            for name, make in (("tandem", lambda t, d, cpu: Tandem(t, d, cpu=cpu)),
                               ("kea", lambda t, d, cpu: Kea(t, d, cpu=cpu, persist=True))):
                if name not in SERVERS:
                    continue
                best, steps = sweep(topo, name, make, lease_type)
                results[f"{name}/{lease_type}"] = dict(best=best, steps=steps)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(dict(rates=RATES, step_seconds=STEP_SECONDS, server_cpu=SERVER_CPU, perf_cpu=PERF_CPU,
                       nproc=os.cpu_count(), results=results), f, indent=2)

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
        t = results.get(f"tandem/{lease_type}", {}).get("best")
        k = results.get(f"kea/{lease_type}", {}).get("best")
        if t and k:
            print(f"tandem/Kea {lease_type}: max clean rate {t['rate'] / k['rate']:.2f}x, "
                  f"RR avg delay {fmt(t['rr_avg_ms'] / k['rr_avg_ms'] if k['rr_avg_ms'] else None)}x")
    print(f"results: {out_path}")
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("the benchmark needs root (network namespaces)")
    sys.exit(main())
