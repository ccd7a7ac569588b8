#!/usr/bin/env bash
# reliability/flake.sh - `make flake`: run the core Ginkgo suite (the
# scenario suite on the netns backend) FLAKE_N times in a row (default 50)
# while `stress-ng --cpu 2` keeps both cores busy, without retries; stop at
# the first failure and print it. Installs stress-ng (Debian package) when
# it is missing. Needs root.
#
# Knobs: FLAKE_N, FLAKE_FILTER (Ginkgo label filter, default '!docker'),
# FLAKE_CPU (stress-ng workers, default 2), ARTIFACTS (default artifacts).
set -u -o pipefail

N=${FLAKE_N:-50}
FILTER=${FLAKE_FILTER:-!docker}
CPU=${FLAKE_CPU:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ART=${ARTIFACTS:-$ROOT/artifacts}/flake
GO=${GO:-go}
. "$ROOT/reliability/progress.sh"

if [ "$(id -u)" != 0 ]; then echo "flake: needs root (the lab makes namespaces)"; exit 2; fi
if ! command -v stress-ng >/dev/null 2>&1; then
	echo "flake: installing stress-ng"
	apt-get update && apt-get install -y stress-ng || { echo "flake: could not install stress-ng"; exit 1; }
fi
mkdir -p "$ART"
WORK=$(mktemp -d /tmp/p2plab-flake-XXXXXX)
spid=""
child=""
cleanup() {
	[ -n "$child" ] && kill -INT "$child" 2>/dev/null && wait "$child" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "flake: interrupted"; exit 130' INT TERM

(cd "$ROOT" && $GO test -c -o "$WORK/scenarios.test" ./scenarios) || { echo "flake: build failed"; exit 1; }
# stress-ng is bounded too: at most 15 minutes per suite run.
stress-ng --cpu "$CPU" --timeout $(( N * 900 ))s --quiet &
spid=$!
echo "flake: $N runs of the scenario suite (filter '$FILTER') with stress-ng --cpu $CPU (pid $spid), no retries"
start=$(date +%s)
for i in $(seq 1 "$N"); do
	t0=$(date +%s)
	cd "$ROOT/scenarios"
	P2PLAB_ARTIFACTS="$ART/run-$i" "$WORK/scenarios.test" -test.timeout 14m -ginkgo.timeout 12m \
		-ginkgo.label-filter="$FILTER" -ginkgo.no-color >"$ART/run-$i.log" 2>&1 &
	child=$!
	wait "$child"
	rc=$?
	child=""
	cd "$ROOT"
	if [ "$rc" != 0 ]; then
		echo "flake: run $i/$N FAILED (exit $rc) after $(( $(date +%s) - t0 ))s; log $ART/run-$i.log"
		sed -n '/Summarizing/,$p' "$ART/run-$i.log" | head -40
		grep -B2 -A30 '\[FAILED\]' "$ART/run-$i.log" | head -80
		exit 1
	fi
	specs=$(grep -o 'Ran [0-9]* of [0-9]* Specs' "$ART/run-$i.log" | tail -1)
	echo "flake: run $i/$N passed in $(( $(date +%s) - t0 ))s ($specs); $(progress_line "$i" "$N" "$start")"
done
echo "flake: all $N runs passed in $(( $(date +%s) - start ))s under stress-ng --cpu $CPU"
