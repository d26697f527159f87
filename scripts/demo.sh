#!/usr/bin/env bash
# Build tandem and show it serving real DHCPv6 clients in network namespaces:
# dhclient -6 gets an address, dhclient -6 -P a delegated prefix; prints what the
# client got and tandem's lease table, then stops everything and deletes the
# namespaces. Run as root on Debian.
#
#   sudo scripts/demo.sh           # run and clean up
#   sudo scripts/demo.sh --keep    # keep it running until Ctrl-C
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
exec python3 tests/integration/demo.py "$@"
