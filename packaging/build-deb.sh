#!/usr/bin/env bash
# Build the Debian package: target/debian/tandem_<version>-1_<arch>.deb.
#
#   packaging/build-deb.sh            # release build if needed, man pages, cargo deb
#   TANDEM_DEB_NO_BUILD=1 packaging/build-deb.sh   # package the existing release binary
#
# Installs cargo-deb (`cargo install cargo-deb --locked`, a few minutes) when missing.
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb: installing cargo-deb" >&2
    cargo install cargo-deb --locked >&2
fi
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
if [[ -z "${TANDEM_DEB_NO_BUILD:-}" ]]; then
    cargo build --release --locked -p tandem >&2
fi
bin="$target_dir/release/tandem"
[[ -x $bin ]] || { echo "build-deb: no release binary at $bin" >&2; exit 1; }

# The manual pages come from the binary being packaged, so they match its --help.
rm -rf packaging/build/man
"$bin" generate-man packaging/build/man >/dev/null

# --no-build: the binary above is the one packaged (cargo deb would rebuild otherwise);
# --strip: the release profile keeps line tables for perf, the package does not need them.
cargo deb -p tandem --no-build --locked --strip >&2
deb=$(ls -t "$target_dir"/debian/tandem_*.deb | head -n 1)
[[ -f $deb ]] || { echo "build-deb: cargo deb produced no package" >&2; exit 1; }
echo "$deb"
