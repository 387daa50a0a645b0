#!/usr/bin/env bash
# Installs the Debian (bookworm) packages that gsskit's tests, demo and
# benchmarks use as real peers. Idempotent: when everything is present it only
# asks dpkg and exits, so `make test` and `make demo` can call it every time.
# Needs root only when something is missing.
set -euo pipefail

# One package per line; add new peers here. The comment says who needs it.
PACKAGES=(
	krb5-kdc                    # internal/krbtest: the MIT KDC (krb5kdc, kdb5_util)
	krb5-admin-server           # internal/krbtest: kadmin.local
	krb5-user                   # kinit, klist, kvno
	krb5-gss-samples            # gss-client, gss-server
	python3-gssapi              # MIT GSS-API from /usr/bin/python3
	libkrb5-dev                 # headers for C test programs and bench/mitbench
	gcc                         # builds the C test programs
	gssproxy                    # reference gss-proxy daemon and interposer
	tshark                      # Wireshark dissectors for wire-format checks
	libtirpc-dev                # RPCSEC_GSS peers in C
	sasl2-bin                   # Cyrus SASL sample client/server
	libsasl2-modules-gssapi-mit # Cyrus SASL GSSAPI plugin
	kcat                        # librdkafka client
	python3-zmq                 # libzmq with GSSAPI from /usr/bin/python3
	slapd                       # internal/krbtest LDAP realms (krb5 S4U2Proxy tests): the directory server
	krb5-kdc-ldap               # internal/krbtest LDAP realms: MIT's kldap KDB module, kdb5_ldap_util, its schema
	ldap-utils                  # internal/krbtest LDAP realms: ldapmodify for krbAllowedToDelegateTo
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark's postinst asks whether non-root users may capture; answer it up
# front so the install never stops at a prompt.
if command -v debconf-set-selections >/dev/null 2>&1; then
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	# slapd would otherwise create (and try to start) a system directory;
	# the tests run private servers of their own.
	echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
fi
# krb5-config (pulled in by the Kerberos packages) asks for a default realm
# and servers; the tests never use the system krb5.conf, so accept defaults.
apt-get update
apt-get install -y "${missing[@]}"
