#!/usr/bin/env bash
# Debian packages the integration tests and the demo need (run as root):
# dhclient (isc-dhcp-client), perfdhcp (kea-admin), tshark/dumpcap, sqlite3, ip/ss,
# nft (nftables: the silent partition of the pair timer scenarios), dhcrelay
# (isc-dhcp-relay: the relay agent of the pair's relayed-client scenario), prometheus (the
# server that scrapes a pair in tests/integration/ops_metrics.py; run by the test itself),
# openssl (scripts/make-test-ca.sh: the pair's test CA, and check-config's TLS unit tests),
# isc-dhcp-server (ISC dhcpd 4.4: the DHCPv4 failover partner of tests/integration/pair4.py),
# faketime (libfaketime: the clock-skew scenarios of tests/integration/pair4_badinput.py).
#   scripts/install-deps.sh           # tests and demo
#   scripts/install-deps.sh --bench   # also kea-dhcp6-server and kea-dhcp4-server, for bench/
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer before installing.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
packages=(iproute2 isc-dhcp-client isc-dhcp-relay kea-admin tshark sqlite3 python3 procps util-linux nftables prometheus openssl isc-dhcp-server faketime)
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(kea-dhcp6-server kea-dhcp4-server)
fi
# isc-dhcp-relay's postinst starts its IPv4 relay service from /etc/default/isc-dhcp-relay,
# which fails without servers (and must never relay on the host's interfaces): keep
# maintainer scripts from starting services while installing, as a container's
# policy-rc.d does, and leave the service disabled. The tests run dhcrelay themselves,
# inside their namespaces. (The same keeps prometheus' postinst from starting a server on
# the host's port 9090: ops_metrics.py runs its own, in a namespace.)
policy=/usr/sbin/policy-rc.d
own_policy=
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
trap '[[ -n $own_policy ]] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Likewise dhcpd (isc-dhcp-server): the tests and the benchmark run their own, in namespaces.
for service in isc-dhcp-relay isc-dhcp-server; do
    if command -v update-rc.d >/dev/null && [[ -e /etc/init.d/$service ]]; then
        update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
done
