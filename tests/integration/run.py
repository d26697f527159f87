#!/usr/bin/env python3
"""Run tandem's integration scenarios (root needed: network namespaces).

    sudo python3 tests/integration/run.py [name-substring ...]
    sudo IT_TARGET=kea python3 tests/integration/run.py      # same scenarios against Kea

Ends with a line `N passed, N failed`; exit status 1 if anything failed.
"""

import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import cleanup_on_signals, target  # noqa: E402
from scenarios import SCENARIOS as SINGLE  # noqa: E402
from pair_scenarios import PAIR_SCENARIOS  # noqa: E402
from ops_api import OPS_API_SCENARIOS  # noqa: E402
from ops_logs import OPS_LOG_SCENARIOS  # noqa: E402
from ops_package import OPS_SCENARIOS  # noqa: E402
from ops_metrics import OPS_METRICS_SCENARIOS  # noqa: E402
from dhcp4 import DHCP4_SCENARIOS  # noqa: E402
from pair4 import PAIR4_SCENARIOS  # noqa: E402
from pair4_migrate import PAIR4_MIGRATE_SCENARIOS  # noqa: E402

# The pair scenarios need tandem itself (Kea has no RFC 8156); so do the ops ones.
SCENARIOS = SINGLE + (
    DHCP4_SCENARIOS + PAIR4_SCENARIOS + PAIR4_MIGRATE_SCENARIOS + PAIR_SCENARIOS + OPS_API_SCENARIOS + OPS_SCENARIOS + OPS_METRICS_SCENARIOS + OPS_LOG_SCENARIOS
    if target() == "tandem" else []
)


def read_resolv_conf():
    try:
        with open("/etc/resolv.conf") as f:
            return f.read()
    except OSError:
        return None


def main(argv):
    # dhclient-script rewrites resolv.conf; the harness points it at a per-namespace copy
    # (/etc/netns/<ns>/resolv.conf). Guard the host's file anyway and count a change as a failure.
    host_resolv = read_resolv_conf()
    chosen = [s for s in SCENARIOS if not argv or any(a in s.__name__ for a in argv)]
    passed = failed = 0
    print(f"integration scenarios against {target()}", flush=True)
    for scenario in chosen:
        start = time.time()
        try:
            detail = scenario()
            passed += 1
            print(f"PASS {scenario.__name__} ({time.time() - start:.1f}s){': ' + detail if detail else ''}",
                  flush=True)
        except Exception as e:  # report every scenario, keep going
            failed += 1
            print(f"FAIL {scenario.__name__} ({time.time() - start:.1f}s): {e}", flush=True)
            traceback.print_exc(limit=3)
    if read_resolv_conf() != host_resolv and host_resolv is not None:
        with open("/etc/resolv.conf", "w") as f:
            f.write(host_resolv)
        failed += 1
        print("FAIL host_resolv_conf_untouched: a scenario changed /etc/resolv.conf (restored)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("integration tests need root (network namespaces)")
    cleanup_on_signals()
    sys.exit(main(sys.argv[1:]))
