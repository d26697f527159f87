#!/usr/bin/env bash
# Build tandem and show a failover pair serving a real DHCPv6 client in network
# namespaces: primary and secondary (examples/pair-*.toml, TLS between them, SQLite
# lease stores) reach NORMAL, dhclient -6 gets an address and a prefix, both lease
# tables and `tandem ctl status` are shown, the primary is killed and the secondary
# takes over; then everything is stopped and the namespaces deleted. Root, Debian.
#
#   sudo scripts/demo.sh             # the pair; run and clean up
#   sudo scripts/demo.sh --keep      # keep it running until Ctrl-C
#   sudo scripts/demo.sh --single    # one server (examples/tandem.toml) instead
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
    echo "the demo needs root (network namespaces): sudo scripts/demo.sh" >&2
    exit 2
fi
command -v dhclient >/dev/null && command -v perfdhcp >/dev/null && command -v tshark >/dev/null \
    || bash scripts/install-deps.sh
if [[ -z "${TANDEM_BIN:-}" ]]; then
    cargo build --release --locked -p tandem
    export TANDEM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/tandem"
fi
if [[ " $* " == *" --single "* ]]; then
    exec python3 tests/integration/demo.py "$@"
fi
exec python3 tests/integration/demo_pair.py "$@"
