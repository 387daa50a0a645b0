#!/usr/bin/env bash
# Speed of gsskit's Kafka gateway: authentications per second with many
# concurrent clients doing what kcat does, real kcat processes, and produce
# throughput through the gateway against straight to the broker (an
# in-process kfake), on a throwaway MIT realm. See bench/kafkabench/main.go
# for what is measured and how.
#
# Arguments go to kafkabench:
#   -rounds 9              rounds; the produce order alternates between them
#   -clients 1,16,64       concurrent authenticating clients
#   -auths 2000            authentications per concurrency and round
#   -records 50000 -size 1024    produced per round and path
#   -kcat 200              real kcat processes per round (0 skips)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "bench: go not found" >&2; exit 1; }
missing=()
for pkg in kcat libsasl2-modules-gssapi-mit krb5-kdc krb5-admin-server krb5-user; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
	echo "bench: missing Debian packages: ${missing[*]} (bash scripts/install-deps.sh installs them)" >&2
	exit 1
fi

exec go run ./bench/kafkabench "$@"
