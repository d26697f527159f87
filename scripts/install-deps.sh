#!/usr/bin/env bash
# Debian packages the integration tests and the demo need (run as root):
# dhclient (isc-dhcp-client), perfdhcp (kea-admin), tshark/dumpcap, sqlite3, ip/ss,
# nft (nftables: the silent partition of the pair timer scenarios).
#   scripts/install-deps.sh           # tests and demo
#   scripts/install-deps.sh --bench   # also kea-dhcp6-server, for bench/perfdhcp-vs-kea.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer before installing.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
packages=(iproute2 isc-dhcp-client kea-admin tshark sqlite3 python3 procps util-linux nftables)
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(kea-dhcp6-server)
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
