#!/usr/bin/env bash
# perfdhcp -6 against tandem (release build, SQLite store) and Kea 2.2 (memfile,
# persist: true), same namespaces, same run; FAMILY=4: perfdhcp -4 against tandem,
# kea-dhcp4 and ISC dhcpd 4.4. See bench/README.md. Needs root.
#
#   sudo bench/perfdhcp-vs-kea.sh
#   sudo FAMILY=4 bench/perfdhcp-vs-kea.sh
#   sudo RATES=500,1000,2000 STEP_SECONDS=10 SERVER_CPU=0 PERF_CPU=1 bench/perfdhcp-vs-kea.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${TANDEM_BIN:-}" ]]; then
    cargo build --release --locked -p tandem
    export TANDEM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/tandem"
fi
exec python3 bench/bench.py "$@"
