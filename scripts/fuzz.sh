#!/usr/bin/env bash
# Runs every Fuzz target in the module briefly (go test runs one fuzz target
# per invocation). The seed corpora already run as part of `go test ./...`;
# this adds a short burst of coverage-guided input per target.
set -euo pipefail
fuzztime=${1:-20000x}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cd "$(dirname "$0")/.."
fail=0
count=0
while IFS= read -r dir; do
	pkg="./$dir"
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
		count=$((count + 1))
		echo "fuzz $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
			cat "$log"
			fail=1
		fi
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sed 's|^\./||' | sort -u)
echo "fuzz: $count targets run"
exit $fail
