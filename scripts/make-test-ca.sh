#!/usr/bin/env bash
# Make a test PKI for a tandem pair: a CA and one certificate per member, for the mutual
# TLS of the failover link. For labs and tests; use your own CA in production.
#
#   scripts/make-test-ca.sh DIR [EXTRA_SAN ...]
#
# Writes DIR/ca.crt, DIR/ca.key, DIR/primary.{crt,key}, DIR/secondary.{crt,key}.
# The certificates carry the names tandem-primary / tandem-secondary (the default
# [failover.tls] server_name) plus any EXTRA_SAN given (e.g. IP:2001:db8:ff::1).
# Keys are mode 600. Needs openssl; installs nothing.
set -euo pipefail
dir=${1:?usage: make-test-ca.sh DIR [EXTRA_SAN ...]}
shift
extra=""
for san in "$@"; do extra+=",$san"; done
command -v openssl >/dev/null || { echo "make-test-ca.sh: openssl not found (apt-get install openssl)" >&2; exit 2; }
mkdir -p "$dir"
umask 077
days=825
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=tandem test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
for who in primary secondary; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=tandem-$who" \
        -keyout "$dir/$who.key" -out "$dir/$who.csr" 2>/dev/null
    cat > "$dir/$who.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:tandem-$who$extra
EXT
    openssl x509 -req -in "$dir/$who.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days "$days" -extfile "$dir/$who.ext" -out "$dir/$who.crt" 2>/dev/null
    rm -f "$dir/$who.csr" "$dir/$who.ext"
done
rm -f "$dir/ca.srl"
chmod 644 "$dir"/*.crt
chmod 600 "$dir"/*.key
echo "made $dir: ca.crt, primary.crt/.key (tandem-primary), secondary.crt/.key (tandem-secondary)"
