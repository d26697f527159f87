#!/usr/bin/env python3
"""The README's demo: a tandem failover pair serving a real dhclient.

Namespaces: primary, secondary, a client on the same link (a bridge), and a separate
server-to-server link. Both servers run examples/pair-primary.toml and
examples/pair-secondary.toml as they are, except for data_dir (a temp dir). The demo
waits for both to reach NORMAL, runs `dhclient -6 -N -P`, shows what the client got,
`tandem ctl status` of both members and both lease tables, kills the primary and shows
the secondary take over, then cleans everything up (--keep: wait for Ctrl-C first).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients import Dhclient  # noqa: E402
from harness import REPO, cleanup_on_signals, tandem_binary  # noqa: E402
from pair import Member, PairTopology  # noqa: E402

STATUS = {1: "ACTIVE", 2: "EXPIRED", 3: "RELEASED", 4: "PENDING-FREE", 5: "FREE", 6: "FREE-BACKUP",
          7: "ABANDONED", 8: "RESET"}


def example_member(topo, who, example, pki):
    """A Member running examples/pair-*.toml with its data_dir (and pki) under the temp dir."""
    m = Member.__new__(Member)
    m.topo, m.who = topo, who
    m.data_dir = os.path.join(topo.tmp, f"{who}-data")
    os.makedirs(m.data_dir, exist_ok=True)
    with open(os.path.join(REPO, "examples", example)) as f:
        text = f.read()
    text = re.sub(r'(?m)^data_dir = .*$', f'data_dir = "{m.data_dir}"', text)
    m.config = os.path.join(topo.tmp, example)
    with open(m.config, "w") as f:
        f.write(text)
    m.log_path = os.path.join(topo.tmp, f"{who}.log")
    m.proc = None
    return m


def show_status(m, label):
    out = m.topo.ns(m.topo.nss[m.who], [tandem_binary(), "ctl", "--config", m.config, "status"], check=False)
    print(f"$ tandem ctl --config {os.path.basename(m.config)} status    # {label}")
    print("  " + out.stdout.strip().replace("\n", "\n  ") + "\n")


def show_leases(m, label):
    print(f"{label} lease table ({m.data_dir}/leases.db):")
    for resource, lease in sorted(m.leases().items()):
        if lease["status"] in (1, 2, 3):
            expires = time.strftime("%H:%M:%S", time.gmtime(lease["expires"]))
            print(f"  {resource:24} {STATUS.get(lease['status'], lease['status']):9} expires {expires} "
                  f"client {lease['duid']}")
    print()


def main():
    keep = "--keep" in sys.argv
    with PairTopology("demo", srv_if="tandem-srv0") as topo:
        # PairTopology made a test CA and certificates in <tmp>/pki (scripts/make-test-ca.sh),
        # where the example configurations look for them.
        pki = os.path.join(topo.tmp, "pki")
        sec = example_member(topo, "sec", "pair-secondary.toml", pki).start()
        pri = example_member(topo, "pri", "pair-primary.toml", pki).start()
        print("primary   2001:db8:ff::1 (namespace %s), secondary 2001:db8:ff::2 (namespace %s)"
              % (topo.nss["pri"], topo.nss["sec"]))
        print("both run examples/pair-*.toml with TLS between them and the SQLite lease store\n")
        pri.wait_state("NORMAL", timeout=60)
        sec.wait_state("NORMAL", timeout=60)
        client = Dhclient(topo, "client", address=True, prefix=True).start()
        addrs, prefixes = client.wait_bound(want_address=True, want_prefix=True)
        print(f"dhclient -6 -N -P got {', '.join(sorted(addrs))} and {', '.join(sorted(prefixes))}\n")
        time.sleep(1)
        show_status(pri, "primary")
        show_status(sec, "secondary")
        show_leases(pri, "primary")
        show_leases(sec, "secondary")
        print("kill -9 the primary ...")
        pri.kill9()
        sec.wait_state("COMMUNICATIONS-INTERRUPTED", timeout=90)
        print("$ tandem ctl partner-down    # on the secondary: the operator confirms the primary is gone")
        print("  " + sec.topo.ns(sec.topo.nss["sec"], [tandem_binary(), "ctl", "--config", sec.config,
                                                        "partner-down"]).stdout.strip() + "\n")
        sec.wait_state("PARTNER-DOWN", timeout=10)
        show_status(sec, "secondary, now serving alone")
        if keep:
            print(f"kept running; try: ip netns exec {topo.nss['cli']} ip -6 addr   (Ctrl-C to stop and clean up)")
            try:
                sec.proc.wait()
            except KeyboardInterrupt:
                pass
        client.stop()
        sec.stop()
    print("stopped tandem and dhclient, deleted the namespaces")
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("the demo needs root (network namespaces)")
    cleanup_on_signals()
    sys.exit(main())
