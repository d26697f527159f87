#!/usr/bin/env bash
# perfdhcp -6 against a tandem pair (failover + TLS), one tandem, and a Kea 2.2 hot-standby
# HA pair, same namespaces, same run. See bench/README.md. Needs root; not a CI test.
#
#   sudo bench/pair-vs-kea-ha.sh
#   sudo RATES=1000,2000,4000 STEP_SECONDS=10 SYSTEMS=tandem-pair,kea-ha bench/pair-vs-kea-ha.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kea-dhcp6 >/dev/null || bash scripts/install-deps.sh --bench
if [[ -z "${TANDEM_BIN:-}" ]]; then
    cargo build --release --locked -p tandem
    export TANDEM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/tandem"
fi
exec python3 bench/pair_bench.py "$@"
