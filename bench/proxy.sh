#!/usr/bin/env bash
# Speed of gss-proxy daemons under load: the reference gssproxy and
# `gsskit proxy`, in the same run, with the same configuration, on a
# throwaway MIT realm, each serving 32 python3-gssapi client processes that
# go through the reference interposer (GSSPROXY_BEHAVIOR=REMOTE_ONLY), first
# for ACCEPT_SEC_CONTEXT and then for INIT_SEC_CONTEXT. See
# bench/proxybench/main.go for what is measured and how.
#
# Arguments go to proxybench; the ones that matter:
#   -clients 32 -calls 1000 -rounds 3   load, and rounds (the daemons'
#                                       order alternates between rounds)
#   -daemons reference,gsskit           which daemons
#   -ops accept,init                    which calls
#   -raw FILE                           every client's JSON result line
#   -keep                               keep configs and daemon logs
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "bench: go not found" >&2; exit 1; }
missing=()
for pkg in gssproxy python3-gssapi krb5-kdc krb5-admin-server krb5-user; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
	echo "bench: missing Debian packages: ${missing[*]} (bash scripts/install-deps.sh installs them)" >&2
	exit 1
fi

exec go run ./bench/proxybench "$@"
