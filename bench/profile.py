#!/usr/bin/env python3
"""Profile tandem under perfdhcp load: `perf record` on the server process while
perfdhcp offers a fixed rate, same topology and pinning as bench.py.

    sudo TANDEM_BIN=target/release/tandem python3 bench/profile.py [rate] [seconds] [lease type]
    perf report -i <printed perf.data path> --no-children --stdio | less

SERVER_CPU_QUOTA (percent of one core, as for bench.py) profiles the server under the
same CPU budget as the benchmark. Also prints the server's system calls per exchange (from /proc/<pid>/io syscr/syscw
when available) and its CPU per exchange. Root needed; not part of CI.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("IT_PD_POOL", "2001:db8:1000::/36")
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from clients import parse_perfdhcp  # noqa: E402
from harness import Tandem, Topology, cleanup_on_signals  # noqa: E402
from bench import RMEM_DEFAULT, SERVER_CPU_QUOTA, CpuQuota, set_rmem_default, udp6_counters  # noqa: E402

STAT_EVENTS = ["syscalls:sys_enter_fsync", "syscalls:sys_enter_fdatasync", "syscalls:sys_enter_pwrite64",
               "syscalls:sys_enter_sendmsg", "syscalls:sys_enter_sendmmsg", "syscalls:sys_enter_recvmsg",
               "syscalls:sys_enter_recvmmsg", "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_futex",
               "syscalls:sys_enter_write", "context-switches"]
SERVER_CPU = int(os.environ.get("SERVER_CPU", "0"))
PERF_CPU = int(os.environ.get("PERF_CPU", "1"))


def proc_cpu(pid):
    """utime + stime of every thread of `pid`, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """{thread name: (user s, system s)} of every thread of `pid`, summed by name."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        name, fields = head.split("(", 1)[1], rest.split()
        u, s = out.get(name, (0.0, 0.0))
        tck = os.sysconf("SC_CLK_TCK")
        out[name] = (u + int(fields[11]) / tck, s + int(fields[12]) / tck)
    return out


def io_counts(pid):
    try:
        with open(f"/proc/{pid}/io") as f:
            d = dict(line.split(": ") for line in f.read().splitlines())
        return int(d["syscr"]), int(d["syscw"])
    except (OSError, KeyError, ValueError):
        return None


def main():
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    lease_type = sys.argv[3] if len(sys.argv) > 3 else "address-only"
    out = os.path.abspath(os.environ.get("PERF_OUT", f"/tmp/tandem-{lease_type}-{rate}.perf.data"))
    old_rmem = set_rmem_default(RMEM_DEFAULT)
    try:
        run(rate, seconds, lease_type, out)
    finally:
        if old_rmem is not None:
            set_rmem_default(old_rmem)


def run(rate, seconds, lease_type, out):
    quota = CpuQuota(SERVER_CPU_QUOTA, "tandem-profile")
    try:
        run_in(quota, rate, seconds, lease_type, out)
    finally:
        quota.remove()


def run_in(quota, rate, seconds, lease_type, out):
    with Topology("bench") as topo:
        data = os.path.join(topo.tmp, "data")
        os.makedirs(data)
        server = Tandem(topo, data, cpu=SERVER_CPU).start()
        time.sleep(0.5)
        pid = server.proc.pid
        quota.add(pid)
        cpu0, io0, threads0 = proc_cpu(pid), io_counts(pid), thread_cpu(pid)
        srv0, cli0 = udp6_counters(topo, topo.srv_ns), udp6_counters(topo, topo.cli_ns)
        # Sampling costs the server CPU: PERF_RECORD=0 measures CPU per exchange without it.
        record = os.environ.get("PERF_RECORD", "1") != "0"
        argv = ["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-p", str(pid), "-o", out, "--"]
        perf = subprocess.Popen((argv if record else []) + ["sleep", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        topo.procs.append(perf)
        stat_out = out + ".stat"
        stat = subprocess.Popen(["perf", "stat", "-x", ",", "-o", stat_out, "-e", ",".join(STAT_EVENTS), "-p", str(pid),
                                 "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        topo.procs.append(stat)
        cmd = ["ip", "netns", "exec", topo.cli_ns, "taskset", "-c", str(PERF_CPU), "perfdhcp", "-6",
               "-l", topo.cli_if, "-R", "100000000", "-r", str(rate), "-p", str(seconds),
               "-e", lease_type, "-W", "1000000"]
        t0 = time.time()
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        elapsed = time.time() - t0
        cpu, io = proc_cpu(pid) - cpu0, io_counts(pid)
        threads = {name: (u - threads0.get(name, (0, 0))[0], s - threads0.get(name, (0, 0))[1])
                   for name, (u, s) in thread_cpu(pid).items()}
        srv1, cli1 = udp6_counters(topo, topo.srv_ns), udp6_counters(topo, topo.cli_ns)
        perf.wait(timeout=60)
        stat.wait(timeout=60)
        server.stop()
        # Every Reply promised a lease: all of them must be in the store after the stop.
        stored = len(server.leases())
    report(res, rate, seconds, lease_type, cpu, elapsed, io0, io, srv0, srv1, cli0, cli1, out)
    replies = parse_perfdhcp(res.stdout).get("REQUEST-REPLY", {}).get("received packets", 0) or 1
    for name, (u, s) in sorted(threads.items()):
        print(f"  thread {name}: {1e6 * u / replies:.1f} us user + {1e6 * s / replies:.1f} us system per exchange")
    print(f"  leases in the store after stop: {stored}")


def report(res, rate, seconds, lease_type, cpu, elapsed, io0, io, srv0, srv1, cli0, cli1, out):
    stats = parse_perfdhcp(res.stdout)
    rr = stats.get("REQUEST-REPLY", {})
    replies = rr.get("received packets", 0) or 1
    print(f"{lease_type} at {rate}/s for {seconds}s: SA {stats.get('SOLICIT-ADVERTISE', {})}")
    print(f"  RR {rr}")
    print(f"  server CPU {100 * cpu / elapsed:.0f}%, {1e6 * cpu / replies:.1f} us per exchange")
    if io0 and io:
        print(f"  read syscalls {(io[0] - io0[0]) / replies:.2f}, write syscalls {(io[1] - io0[1]) / replies:.2f} per exchange")
    print(f"  lost in socket buffers: server {srv1[1] - srv0[1]}, perfdhcp {cli1[1] - cli0[1]}")
    counts = {}
    try:
        with open(out + ".stat") as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 2 and parts[0].isdigit():
                    counts[parts[2].replace("syscalls:sys_enter_", "")] = int(parts[0])
    except OSError:
        pass
    if counts:
        # perf stat ran for `seconds` of the step: scale by the exchanges in that window.
        n = replies * min(1.0, seconds / elapsed)
        print("  per exchange: " + ", ".join(f"{k} {v / n:.2f}" for k, v in counts.items()))
    print(f"  perf data: {out}")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    cleanup_on_signals()
    main()
