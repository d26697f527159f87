#!/usr/bin/env bash
# Run every integration scenario: real DHCPv6 and DHCPv4 clients (dhclient -6/-4, perfdhcp -6/-4) in
# network namespaces against the tandem binary. Needs root, and the Debian packages
# from scripts/install-deps.sh. Ends with the line "N passed, N failed".
#
#   sudo tests/run-integration.sh                    # all scenarios, target/release/tandem
#   sudo tests/run-integration.sh perfdhcp           # only scenarios whose name matches
#   sudo TANDEM_BIN=/path/to/tandem tests/run-integration.sh
#   sudo IT_TARGET=kea tests/run-integration.sh      # the same scenarios against Kea 2.2
#   IT_KEEP=1 keeps the temp dirs (configs, logs, captures) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
    echo "run-integration.sh needs root (network namespaces)" >&2
    exit 2
fi
export TANDEM_BIN="${TANDEM_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/tandem}"
exec python3 tests/integration/run.py "$@"
