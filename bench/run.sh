#!/usr/bin/env bash
# Speed of gsskit's Kerberos mechanism against MIT krb5, measured in the same
# run on the same realm:
#   1. start a throwaway MIT realm on loopback (internal/krbtest/cmd/krbrealm)
#      with user alice (kinit'ed) and service host/localhost;
#   2. build and run bench/mitbench (C, libgssapi_krb5);
#   3. run the Go benchmarks BenchmarkCompare* in ./bench against the same
#      ccache and keytab;
#   4. print a table with the Go/MIT ratios.
# KRB5RCACHETYPE=none is set for both sides: MIT's default file replay cache
# takes a file write on every accept, and "establish" would then measure
# file I/O rather than the protocol.
#
# Environment: BENCHTIME (Go -benchtime and MIT -seconds, default 1s),
# KEEP=1 keeps the raw outputs in the printed temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."

benchtime=${BENCHTIME:-1s}
seconds=${benchtime%s}

for tool in go gcc; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done
if [[ ! -f /usr/include/gssapi/gssapi_krb5.h ]]; then
	echo "bench: MIT GSS-API headers missing (apt-get install -y libkrb5-dev)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gsskit-bench.XXXXXX")
realm_pid=
cleanup() {
	if [[ -n "$realm_pid" ]]; then
		kill "$realm_pid" 2>/dev/null || true
		wait "$realm_pid" 2>/dev/null || true
	fi
	if [[ "${KEEP:-}" == 1 ]]; then
		echo "bench: outputs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

echo "== building"
go build -o "$work/krbrealm" ./internal/krbtest/cmd/krbrealm
gcc -O2 -Wall -o "$work/mitbench" bench/mitbench/mitbench.c -lgssapi_krb5 -lkrb5

echo "== starting realm"
"$work/krbrealm" -user alice:bench-alice-pw -service host/localhost -kinit alice \
	-env "$work/realm.env" >"$work/realm.out" 2>&1 &
realm_pid=$!
for _ in $(seq 300); do
	[[ -f "$work/realm.env" ]] && break
	if ! kill -0 "$realm_pid" 2>/dev/null; then
		echo "bench: realm did not start:" >&2
		cat "$work/realm.out" >&2
		exit 1
	fi
	sleep 0.1
done
[[ -f "$work/realm.env" ]] || { echo "bench: realm start timed out" >&2; cat "$work/realm.out" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/realm.env"
export KRB5RCACHETYPE=none
export GSSKIT_BENCH_SERVICE=host@localhost
echo "realm $KRBTEST_REALM, KDC $KRBTEST_KDC"

echo "== MIT krb5 (mitbench, ${seconds}s per measurement)"
"$work/mitbench" -seconds "$seconds" | tee "$work/mit.txt"

echo "== gsskit (go test -bench BenchmarkCompare, benchtime $benchtime)"
go_status=0
go test -run '^$' -bench 'BenchmarkCompare' -benchmem -benchtime "$benchtime" -count 1 ./bench/ \
	2>&1 | tee "$work/go.txt" || go_status=$?

echo
echo "== Go/MIT (time per operation: below 1 means gsskit is faster; rate is MB/s, 1 MB = 10^6 bytes)"
awk '
	function key(goname) {
		sub(/^BenchmarkCompare/, "", goname); sub(/-[0-9]+$/, "", goname)
		return map[goname]
	}
	BEGIN {
		map["WrapConf64K"] = "wrap_conf_64k"; map["Unwrap64K"] = "unwrap_64k"
		map["GetMIC64K"] = "get_mic_64k"; map["VerifyMIC64K"] = "verify_mic_64k"
		map["Establish"] = "establish"
		n = split("wrap_conf_64k unwrap_64k get_mic_64k verify_mic_64k establish", order, " ")
	}
	FILENAME ~ /mit.txt$/ && $1 == "mit" { mit[$2, $3] = $4; next }
	FILENAME ~ /go.txt$/ && $1 ~ /^BenchmarkCompare/ {
		k = key($1)
		if (k == "") next
		for (i = 3; i < NF; i++) {
			if ($(i+1) == "ns/op") gons[k] = $i
			if ($(i+1) == "MB/s") gomb[k] = $i
			if ($(i+1) == "allocs/op") goal[k] = $i
		}
	}
	END {
		printf "| %-16s | %12s | %12s | %7s | %14s | %14s | %9s |\n", "benchmark", "MIT ns/op", "Go ns/op", "Go/MIT", "MIT rate", "Go rate", "Go allocs"
		printf "|%s|%s|%s|%s|%s|%s|%s|\n", "------------------", "-------------:", "-------------:", "--------:", "---------------:", "---------------:", "----------:"
		for (i = 1; i <= n; i++) {
			k = order[i]
			m = mit[k, "ns/op"]; g = gons[k]
			ratio = (m != "" && g != "" && m > 0) ? sprintf("%.2f", g / m) : "-"
			mm = (k == "establish") ? (mit[k, "ctx/s"] != "" ? mit[k, "ctx/s"] " ctx/s" : "-") : (mit[k, "MB/s"] != "" ? mit[k, "MB/s"] : "-")
			gm = (k == "establish") ? (g != "" ? sprintf("%.1f ctx/s", 1e9 / g) : "-") : (gomb[k] != "" ? gomb[k] : "-")
			printf "| %-16s | %12s | %12s | %7s | %14s | %14s | %9s |\n", k, (m != "" ? m : "-"), (g != "" ? g : "-"), ratio, mm, gm, (goal[k] != "" ? goal[k] : "-")
		}
	}
' "$work/mit.txt" "$work/go.txt"
grep '^mit info' "$work/mit.txt" | sed 's/^mit info /MIT context: /' || true
if [[ $go_status -ne 0 ]]; then
	echo "bench: the Go benchmarks failed (exit $go_status); see their output above" >&2
	exit "$go_status"
fi
