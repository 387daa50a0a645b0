#!/usr/bin/env bash
# Calls per second of RPCSEC_GSS echo calls, gsskit against libtirpc, in
# the same run on the same throwaway MIT realm:
#   1. start a realm on loopback (internal/krbtest/cmd/krbrealm) with user
#      alice (kinit'ed) and service nfs/localhost;
#   2. build the Go echo server and client (examples/rpcgss-echo) and the
#      libtirpc ones (rpcsecgss/testdata/gss_echo_*.c, -ltirpc
#      -lgssapi_krb5), and start both servers;
#   3. ROUNDS times, alternating the servers so that a busy moment of the
#      machine hits both alike:
#      a. the same libtirpc client load (N clients at once, one connection
#         and one context each, one call in flight each) against the Go
#         server and against the libtirpc server, with AUTH_NONE and with
#         RPCSEC_GSS none, integrity and privacy, for each N in CLIENTS;
#      b. one Go client against one libtirpc client (one call in flight
#         each) against each server, integrity and privacy;
#      c. gsskit at both ends: N Go clients at once against the Go server,
#         with AUTH_NONE, integrity and privacy, for each N in CLIENTS;
#   4. print the medians, with each server's CPU time and thread switches
#      per call (from /proc, steadier than the rates on a shared machine),
#      the clients' CPU time per call and the rate that alone allows on
#      this machine's CPUs (no server can go faster), and the goals:
#      integrity and privacy at least 2x
#      libtirpc's rate with the Go server, and privacy costing the Go
#      server less than 2x AUTH_NONE's rate (the row "privacy cost" also
#      gives each server's CPU time per call for privacy over AUTH_NONE's:
#      the rates also carry the clients' cost, which privacy multiplies).
# Every echo is checked by the client that made it.
#
# Environment: SECS (seconds per measurement, default 3), ROUNDS (default
# 3), CLIENTS (default "1 4 16"; at 16 the single-threaded libtirpc
# server has work queued all the time), SIZE (bytes per echo, default
# 4096), KEEP=1 keeps the raw outputs in the printed temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${SECS:-3}
rounds=${ROUNDS:-3}
clients=${CLIENTS:-1 4 16}
size=${SIZE:-4096}

for tool in go gcc; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done
for h in /usr/include/tirpc/rpc/rpcsec_gss.h /usr/include/gssapi/gssapi.h; do
	[[ -f $h ]] || { echo "bench: $h missing (apt-get install -y libtirpc-dev libkrb5-dev)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gsskit-rpcgss.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ "${KEEP:-}" == 1 ]]; then echo "bench: outputs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "== building"
go build -o "$work/krbrealm" ./internal/krbtest/cmd/krbrealm
go build -o "$work/go-server" ./examples/rpcgss-echo/server
go build -o "$work/go-client" ./examples/rpcgss-echo/client
for p in client server; do
	gcc -O2 -Wall -o "$work/c-$p" "rpcsecgss/testdata/gss_echo_$p.c" -I/usr/include/tirpc -ltirpc -lgssapi_krb5
done

echo "== starting realm and servers"
"$work/krbrealm" -user alice:bench-alice-pw -service nfs/localhost -kinit alice -env "$work/realm.env" >"$work/realm.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
	[[ -f "$work/realm.env" ]] && break
	sleep 0.1
done
[[ -f "$work/realm.env" ]] || { echo "bench: the realm did not start" >&2; cat "$work/realm.out" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/realm.env"

# start_server NAME COMMAND...: starts a server that prints "listening
# PORT" and records it; wait_port NAME then prints the port.
start_server() {
	local name=$1
	shift
	"$@" >"$work/$name.out" 2>"$work/$name.err" &
	pids+=($!)
}
wait_port() {
	local name=$1
	for _ in $(seq 100); do
		if grep -q '^listening ' "$work/$name.out" 2>/dev/null; then
			awk '/^listening /{print $2; exit}' "$work/$name.out"
			return
		fi
		sleep 0.1
	done
	echo "bench: $name did not start" >&2
	cat "$work/$name.err" >&2
	return 1
}
start_server go-server "$work/go-server" -addr 127.0.0.1 -keytab "$KRB5_KTNAME" -principal nfs@localhost
go_pid=$!
start_server c-server "$work/c-server" nfs@localhost
c_pid=$!
go_port=$(wait_port go-server)
c_port=$(wait_port c-server)
tick=$(getconf CLK_TCK)

# cputicks PID: the process's user and system CPU time so far, in ticks.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# switches PID: the context switches of the process's threads so far.
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }
# childcpu FILE: the user and system CPU time, in seconds, of the
# waited-for children of the shell that wrote times' output to FILE.
childcpu() { awk 'NR == 2 {for (i = 1; i <= 2; i++) {split($i, t, "m"); s += t[1] * 60 + t[2]} print s}' "$1"; }
ncpu=$(getconf _NPROCESSORS_ONLN)
echo "realm $KRBTEST_REALM; Go server on port $go_port, libtirpc server on port $c_port; $rounds rounds of ${secs}s, $size-byte echoes"

# load KIND N PORT SERVICE [PID]: N clients at once, libtirpc's (KIND c)
# or gsskit's (KIND go), one connection, one context and one call in
# flight each; prints the total rate and, given the server's PID, the
# server's CPU time per call in microseconds (which the other work on a
# shared machine disturbs less than the rate), its context switches per
# call, and the clients' CPU time per call in microseconds. Run it in a
# subshell of its own (as $(load ...)), whose children are only these
# clients.
load() {
	local kind=$1 n=$2 port=$3 svc=$4 pid=${5:-} i t0=0 t1=0 s0=0 s1=0 c0 c1
	[[ -n $pid ]] && t0=$(cputicks "$pid") && s0=$(switches "$pid")
	times >"$work/times0"
	for i in $(seq "$n"); do
		if [[ $kind == c ]]; then
			"$work/c-client" load "$port" nfs@localhost "$svc" "$size" "$secs" >"$work/cl.$i" &
		else
			"$work/go-client" -host 127.0.0.1 -port "$port" -principal nfs@localhost -service "$svc" -size "$size" \
				-duration "${secs}s" >"$work/cl.$i" &
		fi
	done
	wait
	[[ -n $pid ]] && t1=$(cputicks "$pid") && s1=$(switches "$pid")
	times >"$work/times1"
	c0=$(childcpu "$work/times0") c1=$(childcpu "$work/times1")
	# A libtirpc client prints "calls C in S s"; a Go client "C calls of
	# ... S s, R calls/s, all echoes checked".
	cat "$work"/cl.* | awk -v ticks=$((t1 - t0)) -v sw=$((s1 - s0)) -v hz="$tick" -v pid="$pid" -v ccpu="$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" '
		$1 == "calls" {c += $2; rate += $2 / $4}
		$2 == "calls" {c += $1; for (i = 1; i < NF; i++) if ($(i+1) == "calls/s,") rate += $i}
		END {if (c) {printf "%.0f", rate; if (pid != "") printf " %.1f %.2f %.1f", ticks / hz * 1e6 / c, sw / c, ccpu * 1e6 / c; printf "\n"}}'
	rm -f "$work"/cl.*
}

for round in $(seq "$rounds"); do
	echo "== round $round/$rounds"
	for n in $clients; do
		for svc in authnone none integrity privacy; do
			for server in go c; do
				port=$go_port pid=$go_pid
				[[ $server == c ]] && port=$c_port pid=$c_pid
				rate=$(load c "$n" "$port" "$svc" "$pid")
				echo "cload $n $server $svc $rate" | tee -a "$work/results.txt"
			done
		done
	done
	for svc in integrity privacy; do
		for server in go c; do
			port=$go_port
			[[ $server == c ]] && port=$c_port
			echo "client go $server $svc $(load go 1 "$port" "$svc")" | tee -a "$work/results.txt"
			echo "client c $server $svc $(load c 1 "$port" "$svc")" | tee -a "$work/results.txt"
		done
	done
	for n in $clients; do
		for svc in authnone integrity privacy; do
			echo "gload $n go $svc $(load go "$n" "$go_port" "$svc" "$go_pid")" | tee -a "$work/results.txt"
		done
	done
done

echo
echo "== medians of $rounds rounds (calls/s, $size-byte echoes)"
awk -v clients="$clients" -v ncpu="$ncpu" '
	function median(list,    n, a, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
		return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	function add(k, v) { r[k] = (k in r) ? r[k] " " v : v }
	function max1(v) { return (v > 0) ? v : 1 }
	$1 == "cload" {
		add("cload " $2 " " $3 " " $4, $5)
		if (NF >= 8) { add("cpu " $2 " " $3 " " $4, $6); add("cs " $2 " " $3 " " $4, $7); add("ccpu " $2 " " $4, $8) }
	}
	$1 == "client" { add("client " $2 " " $3 " " $4, $5) }
	$1 == "gload" {
		add("gload " $2 " " $4, $5)
		if (NF >= 8) { add("gcpu " $2 " " $4, $6); add("gccpu " $2 " " $4, $8) }
	}
	END {
		nc = split(clients, cl, " ")
		printf "\nlibtirpc client load against each server: calls/s; each server'"'"'s CPU time (us) and context switches per call;\n"
		printf "the clients'"'"' CPU time per call (us, both runs) and the rate it alone allows on %d CPUs, the ceiling for any server\n", ncpu
		printf "and, for the goal of 2x, the server CPU time per call (us) that this rate would leave: with n clients of one call in flight\n"
		printf "on %d CPUs, calls/s <= min(n, %d) * 1e6 / (client CPU + server CPU), so 2x needs server CPU <= min(n, %d) * 1e6 / (2 * libtirpc'"'"'s rate) - client CPU\n", ncpu, ncpu, ncpu
		printf "| %-9s | %-20s | %11s | %15s | %7s | %-22s | %9s | %9s | %6s | %6s | %10s | %9s | %9s |\n", "clients", "auth", "Go server", "libtirpc server", "Go/C", "goal", "Go CPU", "C CPU", "Go cs", "C cs", "client CPU", "ceiling", "2x budget"
		printf "|-----------|----------------------|------------:|----------------:|--------:|------------------------|----------:|----------:|-------:|-------:|-----------:|----------:|----------:|\n"
		for (i = 1; i <= nc; i++) {
			n = cl[i]
			split("authnone none integrity privacy", svcs, " ")
			for (s = 1; s <= 4; s++) {
				svc = svcs[s]
				g = median(r["cload " n " go " svc]); c = median(r["cload " n " c " svc])
				label = (svc == "authnone") ? "AUTH_NONE" : "RPCSEC_GSS " svc
				goal = "-"
				if (svc == "integrity" || svc == "privacy") goal = ">= 2x: " ((g >= 2 * c) ? "met" : "NOT met")
				cc = median(r["ccpu " n " " svc])
				budget = "-"
				if (goal != "-" && c > 0) budget = sprintf("%.1f", ((n < ncpu) ? n : ncpu) * 1e6 / (2 * c) - cc)
				printf "| %-9s | %-20s | %11.0f | %15.0f | %6.2fx | %-22s | %9.1f | %9.1f | %6.2f | %6.2f | %10.1f | %9.0f | %9s |\n", n, label, g, c, (c > 0) ? g / c : 0, goal, median(r["cpu " n " go " svc]), median(r["cpu " n " c " svc]), median(r["cs " n " go " svc]), median(r["cs " n " c " svc]), cc, (cc > 0) ? ncpu * 1e6 / cc : 0, budget
			}
			a = median(r["cload " n " go authnone"]); p = median(r["cload " n " go privacy"])
			# The CPU columns of this row: the CPU time per call of privacy
			# over that of AUTH_NONE, on each server.
			gr = median(r["cpu " n " go privacy"]) / max1(median(r["cpu " n " go authnone"]))
			cr = median(r["cpu " n " c privacy"]) / max1(median(r["cpu " n " c authnone"]))
			printf "| %-9s | %-20s | %11s | %15s | %7s | %-22s | %9s | %9s | %6s | %6s | %10s | %9s | %9s |\n", n, "privacy cost, Go", sprintf("%.3fx", a / p), "", "", "< 2x: " ((a / p < 2) ? "met" : "NOT met"), sprintf("%.2fx", gr), sprintf("%.2fx", cr), "", "", "", "", ""
		}
		printf "\ngsskit at both ends: N Go clients (one connection, one context, one call in flight each) against the Go server,\n"
		printf "next to libtirpc at both ends (the libtirpc server under the libtirpc client load above); calls/s, the Go server'"'"'s\n"
		printf "and the Go clients'"'"' CPU time per call (us), and the privacy cost (AUTH_NONE calls/s over privacy calls/s)\n"
		printf "| %-9s | %-20s | %11s | %15s | %7s | %-22s | %9s | %10s |\n", "clients", "auth", "Go to Go", "C to C", "Go/C", "goal", "Go CPU", "client CPU"
		printf "|-----------|----------------------|------------:|----------------:|--------:|------------------------|----------:|-----------:|\n"
		for (i = 1; i <= nc; i++) {
			n = cl[i]
			split("authnone integrity privacy", svcs, " ")
			for (s = 1; s <= 3; s++) {
				svc = svcs[s]
				g = median(r["gload " n " " svc]); c = median(r["cload " n " c " svc])
				label = (svc == "authnone") ? "AUTH_NONE" : "RPCSEC_GSS " svc
				printf "| %-9s | %-20s | %11.0f | %15.0f | %6.2fx | %-22s | %9.1f | %10.1f |\n", n, label, g, c, (c > 0) ? g / c : 0, "-", median(r["gcpu " n " " svc]), median(r["gccpu " n " " svc])
			}
			a = median(r["gload " n " authnone"]); p = median(r["gload " n " privacy"])
			gr = median(r["gcpu " n " privacy"]) / max1(median(r["gcpu " n " authnone"]))
			printf "| %-9s | %-20s | %11s | %15s | %7s | %-22s | %9s | %10s |\n", n, "privacy cost, Go", sprintf("%.3fx", a / max1(p)), "", "", "< 2x: " ((a / max1(p) < 2) ? "met" : "NOT met"), sprintf("%.2fx", gr), ""
		}
		printf "\none client, one call in flight, against each server\n"
		printf "| %-20s | %-12s | %11s | %15s | %7s |\n", "auth", "client", "Go server", "libtirpc server", "Go/C"
		printf "|----------------------|--------------|------------:|----------------:|--------:|\n"
		split("integrity privacy", svcs, " ")
		for (s = 1; s <= 2; s++) {
			for (w = 1; w <= 2; w++) {
				who = (w == 1) ? "go" : "c"
				g = median(r["client " who " go " svcs[s]]); c = median(r["client " who " c " svcs[s]])
				printf "| %-20s | %-12s | %11.0f | %15.0f | %6.2fx |\n", "RPCSEC_GSS " svcs[s], (who == "go") ? "Go" : "libtirpc", g, c, (c > 0) ? g / c : 0
			}
		}
	}
' "$work/results.txt"
