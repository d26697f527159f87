#!/usr/bin/env python3
"""perfdhcp against tandem and against Kea 2.2, same namespaces, same run.

For IA_NA (-e address-only) and IA_PD (-e prefix-only), the offered rate steps up
(fresh server and fresh lease store at every step, every client new, so every
exchange is a durable lease write) until perfdhcp reports drops. Prints the highest
rate with zero drops, the Request/Reply delays at that rate, perfdhcp's CPU, and the
ratio tandem/Kea. Server and perfdhcp are pinned to different cores.

    sudo python3 bench/perfdhcp_vs_kea.py [--seconds 10] [--max-rate 32000]

Not a test: timings depend on the machine; only the ratio means something.
"""

import argparse
import os
import re
import resource
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from clients import parse_perfdhcp  # noqa: E402
from harness import Topology, server_config, tandem_binary  # noqa: E402
from kea import Kea, kea_config  # noqa: E402

SERVER_CPU, CLIENT_CPU = 1, 0
RATES = [250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 24000, 32000]


class Tandem:
    def __init__(self, topo):
        self.topo = topo
        data = os.path.join(topo.tmp, "tandem-data")
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        self.config = server_config(topo, data)
        self.proc = None

    def start(self):
        log = open(os.path.join(self.topo.tmp, "tandem.log"), "a")
        self.proc = self.topo.spawn(self.topo.srv_ns, ["taskset", "-c", str(SERVER_CPU), tandem_binary(),
                                                       "serve", "--config", self.config], stdout=log, stderr=log)
        deadline = time.time() + 15
        while time.time() < deadline:
            if ":547 " in self.topo.ns(self.topo.srv_ns, ["ss", "-u", "-l", "-n", "-H"]).stdout:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("tandem exited")
            time.sleep(0.1)
        raise RuntimeError("tandem did not bind")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def make_server(name, topo):
    if name == "tandem":
        return Tandem(topo)
    data = os.path.join(topo.tmp, "kea")
    shutil.rmtree(data, ignore_errors=True)
    return Kea(topo, kea_config(topo), cpu=SERVER_CPU)


def one_step(topo, server_name, lease_type, rate, seconds, seed):
    server = make_server(server_name, topo).start()
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        cmd = ["timeout", str(seconds * 3 + 30), "taskset", "-c", str(CLIENT_CPU), "perfdhcp", "-6",
               "-l", topo.cli_if, "-R", "100000000", "-n", str(rate * seconds), "-r", str(rate),
               "-p", str(seconds + 5), "-s", str(seed), "-e", lease_type, "-g", "single"]
        res = topo.ns(topo.cli_ns, cmd, check=False)
        wall = time.time() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        server.stop()
    out = res.stdout + res.stderr
    stats = parse_perfdhcp(out)
    rr = stats.get("REQUEST-REPLY", {})
    sa = stats.get("SOLICIT-ADVERTISE", {})
    m = re.search(r"Rate: ([0-9.]+)", out)
    achieved = float(m.group(1)) if m else 0.0
    drops = sa.get("drops", 1) + rr.get("drops", 1)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall * 100
    return dict(rate=rate, achieved=achieved, drops=int(drops), avg=rr.get("avg delay"), max=rr.get("max delay"),
                perfdhcp_cpu=cpu, ok=bool(rr) and drops == 0)


def find_max(topo, server_name, lease_type, seconds, max_rate):
    best = None
    for i, rate in enumerate(r for r in RATES if r <= max_rate):
        step = one_step(topo, server_name, lease_type, rate, seconds, seed=i + 1)
        flag = "ok" if step["ok"] else f"{step['drops']} drops"
        print(f"  {server_name:6} {lease_type:13} offered {rate:6}/s achieved {step['achieved']:8.1f}/s "
              f"avg {step['avg']} ms max {step['max']} ms perfdhcp cpu {step['perfdhcp_cpu']:.0f}% {flag}",
              flush=True)
        if not step["ok"]:
            break
        best = step
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="length of each rate step (default 10)")
    ap.add_argument("--max-rate", type=int, default=32000, help="highest offered rate to try")
    ap.add_argument("--out", default=os.path.join(HERE, "results.txt"), help="where to write the summary")
    args = ap.parse_args()
    results = {}
    with Topology("b") as topo:
        for lease_type in ("address-only", "prefix-only"):
            for name in ("tandem", "kea"):
                results[(name, lease_type)] = find_max(topo, name, lease_type, args.seconds, args.max_rate)
    lines = ["lease type     server  max zero-drop rate (achieved/s)  avg ms  max ms  perfdhcp cpu%"]
    for lease_type in ("address-only", "prefix-only"):
        for name in ("tandem", "kea"):
            r = results[(name, lease_type)]
            if r:
                lines.append(f"{lease_type:14} {name:7} {r['achieved']:31.1f}  {r['avg']:6}  {r['max']:6}  "
                             f"{r['perfdhcp_cpu']:5.0f}")
            else:
                lines.append(f"{lease_type:14} {name:7} {'(drops at the lowest rate)':>31}")
        t, k = results[("tandem", lease_type)], results[("kea", lease_type)]
        if t and k and k["achieved"]:
            lines.append(f"{lease_type:14} ratio tandem/kea = {t['achieved'] / k['achieved']:.2f}")
    summary = "\n".join(lines)
    print("\n" + summary)
    with open(args.out, "w") as f:
        f.write(summary + "\n")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("the benchmark needs root (network namespaces)")
    main()
