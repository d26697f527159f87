#!/usr/bin/env python3
"""The README's demo: tandem serving a real dhclient in network namespaces.

Creates a server and a client namespace, starts tandem with an examples-style
configuration and its SQLite lease store, runs `dhclient -6` for an address and
`dhclient -6 -P` for a delegated prefix, prints what the client got and tandem's lease
table, then cleans everything up (or, with --keep, waits for Ctrl-C first so you can
look around with `ip netns exec ...`).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clients import Dhclient  # noqa: E402
from harness import REPO, Tandem, Topology, cleanup_on_signals  # noqa: E402

EXAMPLE = os.path.join(REPO, "examples", "tandem.toml")

STATUS = {1: "ACTIVE", 2: "EXPIRED", 3: "RELEASED", 4: "PENDING-FREE", 5: "FREE", 6: "FREE-BACKUP", 7: "ABANDONED", 8: "RESET"}


def main():
    keep = "--keep" in sys.argv
    # The server's veth is named as in examples/tandem.toml, which the demo runs as is,
    # except for data_dir (a temp dir instead of /var/lib/tandem).
    with Topology("demo", srv_if="tandem-srv0") as topo:
        data = os.path.join(topo.tmp, "data")
        os.makedirs(data)
        with open(EXAMPLE) as f:
            example = f.read()
        config = os.path.join(topo.tmp, "tandem.toml")
        with open(config, "w") as f:
            f.write(re.sub(r'(?m)^data_dir = .*$', f'data_dir = "{data}"', example))
        server = Tandem(topo, data, config=config).start()
        print(f"tandem serves {topo.srv_if} in namespace {topo.srv_ns} (config: examples/tandem.toml, data_dir {data})")
        print(f"clients run on {topo.cli_if} in namespace {topo.cli_ns}\n")
        addr_client = Dhclient(topo, "address").start()
        addrs, _ = addr_client.wait_bound(want_address=True)
        print(f"dhclient -6    got address {', '.join(sorted(addrs))}")
        pd_client = Dhclient(topo, "prefix", address=False, prefix=True).start()
        _, prefixes = pd_client.wait_bound(want_address=False, want_prefix=True)
        print(f"dhclient -6 -P got prefix  {', '.join(sorted(prefixes))}")
        out = topo.ns(topo.cli_ns, ["ip", "-6", "addr", "show", "dev", topo.cli_if, "scope", "global"]).stdout
        print(f"\n$ ip netns exec {topo.cli_ns} ip -6 addr show dev {topo.cli_if} scope global\n{out}")
        print(f"tandem's lease table (sqlite3 {data}/leases.db 'SELECT * FROM leases'):")
        print(f"  {'address / prefix':28} {'status':9} {'iaid':>10}  {'expires (UTC)':20} client DUID")
        for resource, lease in sorted(server.leases().items()):
            expires = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(lease["expires"]))
            print(f"  {resource:28} {STATUS.get(lease['status'], lease['status']):9} {lease['iaid']:>10}  "
                  f"{expires:20} {lease['duid']}")
        if keep:
            print(f"\nkept running; try: ip netns exec {topo.cli_ns} ip -6 addr   (Ctrl-C to stop and clean up)")
            try:
                server.proc.wait()
            except KeyboardInterrupt:
                pass
        addr_client.stop()
        pd_client.stop()
        server.stop()
    print("\nstopped tandem and dhclient, deleted the namespaces")
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("the demo needs root (network namespaces)")
    cleanup_on_signals()
    sys.exit(main())
