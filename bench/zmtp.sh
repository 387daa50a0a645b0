#!/usr/bin/env bash
# Speed of ZeroMQ over encrypted GSSAPI: two Go peers (examples/zmq-gssapi,
# package zmtp) against two libzmq 4.3.4 peers (pyzmq, bench/zmtp_peer.py),
# measured in the same run on the same realm:
#   1. start a throwaway MIT realm on loopback (internal/krbtest/cmd/krbrealm)
#      with user alice (kinit'ed) and service zmq/localhost;
#   2. start an echo server of each kind (REP, encrypted, keytab of
#      zmq/localhost), each on its own port;
#   3. ROUNDS times, for 64 B, 1 KiB and 64 KiB messages, run a REQ client
#      of each kind, libzmq first and Go second, over one connection:
#      COUNT round trips, each reply checked against the message;
#   4. print the medians: round trips per second and MB/s of payload each
#      way, from the client process's wall time (process start, connect
#      and authentication included, as a user would time it), the Go/libzmq
#      ratio, and the steady-state rates the clients report themselves.
#
# Environment: ROUNDS (default 3), COUNT_SMALL (default 20000 for 64 B and
# 1 KiB), COUNT_LARGE (default 2000 for 64 KiB), KEEP=1 keeps the raw
# outputs in the printed temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
count_small=${COUNT_SMALL:-20000}
count_large=${COUNT_LARGE:-2000}
py=/usr/bin/python3

command -v go >/dev/null || { echo "bench: go not found" >&2; exit 1; }
if ! "$py" -c 'import zmq, sys; sys.exit(0 if zmq.has("gssapi") else 1)' 2>/dev/null; then
	echo "bench: $py with python3-zmq built with GSSAPI is required (apt-get install -y python3-zmq)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gsskit-zmtp-bench.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ "${KEEP:-}" == 1 ]]; then
		echo "bench: outputs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

echo "== building"
go build -o "$work/krbrealm" ./internal/krbtest/cmd/krbrealm
go build -o "$work/zmq-gssapi" ./examples/zmq-gssapi

echo "== starting realm"
"$work/krbrealm" -user alice:bench-alice-pw -service zmq/localhost -kinit alice \
	-env "$work/realm.env" >"$work/realm.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
	[[ -f "$work/realm.env" ]] && break
	sleep 0.1
done
[[ -f "$work/realm.env" ]] || { echo "bench: realm did not start" >&2; cat "$work/realm.out" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/realm.env"

# wait_listening FILE: the endpoint a server printed as "listening tcp://...".
wait_listening() {
	for _ in $(seq 300); do
		if grep -q '^listening ' "$1" 2>/dev/null; then
			sed -n 's/^listening //p' "$1" | head -1
			return
		fi
		sleep 0.1
	done
	echo "bench: server did not start:" >&2
	cat "$1" >&2
	exit 1
}

echo "== starting servers"
"$work/zmq-gssapi" -role server -type REP -endpoint tcp://127.0.0.1:0 \
	-principal zmq@localhost -keytab "$KRBTEST_KEYTAB" -count 0 >"$work/go-server.out" 2>&1 &
pids+=($!)
# libzmq's server acquires its principal's credential for both roles, so
# its keytab is also its client keytab, with a ccache of its own.
KRB5_KTNAME="FILE:$KRBTEST_KEYTAB" KRB5_CLIENT_KTNAME="FILE:$KRBTEST_KEYTAB" KRB5CCNAME="FILE:$work/server.ccache" \
	"$py" bench/zmtp_peer.py server tcp://127.0.0.1:0 zmq@localhost >"$work/libzmq-server.out" 2>&1 &
pids+=($!)
go_ep=$(wait_listening "$work/go-server.out")
lz_ep=$(wait_listening "$work/libzmq-server.out")
echo "realm $KRBTEST_REALM; Go server $go_ep, libzmq server $lz_ep; $rounds rounds; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s%N; }
: >"$work/results.txt"
for round in $(seq "$rounds"); do
	for spec in "64:$count_small" "1024:$count_small" "65536:$count_large"; do
		size=${spec%%:*}
		count=${spec##*:}
		t0=$(now)
		out=$("$py" bench/zmtp_peer.py client "$lz_ep" zmq@localhost "$count" "$size")
		t1=$(now)
		echo "libzmq $size $count $((t1 - t0)) $(sed -n 's/.*(\([0-9.]*\) round trips\/s.*/\1/p' <<<"$out")" | tee -a "$work/results.txt"
		t0=$(now)
		out=$("$work/zmq-gssapi" -role client -type REQ -endpoint "$go_ep" -service-principal zmq@localhost \
			-count "$count" -size "$size")
		t1=$(now)
		echo "go $size $count $((t1 - t0)) $(sed -n 's/.*(\([0-9.]*\) round trips\/s.*/\1/p' <<<"$out")" | tee -a "$work/results.txt"
	done
	echo "== round $round/$rounds done (load $(cut -d' ' -f1-3 /proc/loadavg))"
done

echo
echo "== medians of $rounds rounds, REQ/REP over encrypted GSSAPI (krb5), one connection;"
echo "   wall = client process start to exit; MB/s = payload each way, 1 MB = 10^6 bytes"
awk '
	function median(list,    n, a, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
		return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	{
		k = $1 SUBSEP $2
		wall[k] = wall[k] " " ($4 / 1e9)
		steady[k] = steady[k] " " $5
		cnt[$2] = $3
	}
	END {
		printf "| %-8s | %6s | %9s | %10s | %10s | %9s | %9s | %7s | %12s | %12s | %7s |\n", "size", "count", "libzmq s", "libzmq m/s", "Go m/s", "libzmq MB/s", "Go MB/s", "Go/lz", "lz steady m/s", "Go steady m/s", "Go/lz"
		printf "|----------|-------:|----------:|-----------:|-----------:|----------:|----------:|--------:|-------------:|-------------:|--------:|\n"
		n = split("64 1024 65536", sizes, " ")
		for (i = 1; i <= n; i++) {
			s = sizes[i]; c = cnt[s]
			lw = median(wall["libzmq", s]); gw = median(wall["go", s])
			ls = median(steady["libzmq", s]); gs = median(steady["go", s])
			label = (s == 65536) ? "64 KiB" : (s == 1024) ? "1 KiB" : s " B"
			printf "| %-8s | %6d | %9.2f | %10.0f | %10.0f | %9.1f | %9.1f | %6.2fx | %12.0f | %12.0f | %6.2fx |\n", label, c, lw, c / lw, c / gw, c * s / lw / 1e6, c * s / gw / 1e6, lw / gw, ls, gs, gs / ls
		}
	}
' "$work/results.txt"
echo "goal: Go >= 2x libzmq at 64 KiB, >= 1x at 64 B (wall-clock columns)"
