#!/usr/bin/env bash
# Run every tandem test: formatting, lints, unit and property tests (nextest),
# the release build, then the integration scenarios against real DHCPv6 clients
# (dhclient -6, perfdhcp -6) in network namespaces.
#
#   sudo scripts/test.sh          (install the Debian packages once: sudo scripts/install-deps.sh)
#
# Every stage runs even if an earlier one failed (except integration, which needs the
# release build); the script exits non-zero if any stage failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

failed=()
stage() {
    local name=$1
    shift
    echo "== $name: $*"
    if "$@"; then
        echo "== $name: ok"
    else
        echo "== $name: FAILED"
        failed+=("$name")
    fi
}

stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
stage nextest cargo nextest run --workspace --locked --no-fail-fast
stage build cargo build --release --locked -p tandem
if [[ " ${failed[*]} " == *" build "* ]]; then
    echo "== integration: skipped (no release build)"
    failed+=(integration)
elif [[ $(id -u) -ne 0 ]]; then
    echo "== integration: skipped (needs root: sudo scripts/test.sh)"
    failed+=(integration)
else
    stage integration env TANDEM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/tandem" tests/run-integration.sh
fi

if ((${#failed[@]})); then
    echo "FAILED stages: ${failed[*]}"
    exit 1
fi
echo "all stages passed"
