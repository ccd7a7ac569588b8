#!/usr/bin/env bash
# reliability/leaks.sh - `make leaks`: run the scenario suite LEAKS_N times
# (default 20) to completion and LEAKS_INTERRUPTS times (default 10)
# interrupted with SIGINT at a random moment followed by `p2plab clean`;
# after each run, compare the machine's lab state (network namespaces,
# links, nftables tables of the machine's namespace, p2plab processes,
# docker containers/networks/images labelled p2plab.run) with the state
# before. Needs root. Every loop is bounded in count and time.
#
# Knobs: LEAKS_N, LEAKS_INTERRUPTS, LEAKS_MAX_DELAY (seconds, default 18,
# below the suite's ~21 s so that every interrupt lands mid-run:
# the interrupt comes 1..MAX_DELAY s after the start), LEAKS_FILTER (Ginkgo
# label filter, default '!docker'), LEAKS_SEED (bash RANDOM seed, printed),
# ARTIFACTS (default artifacts/leaks).
#
# A new item counts as a leak when the lab run it belongs to (the p2plXXXXXXXX
# run id in its name, netns or label) is no longer alive (its lock in
# /run/p2plab is free). Items of labs still running (other users of a shared
# machine) are ignored; new items with no run id are printed as warnings.
set -u -o pipefail

N=${LEAKS_N:-20}
K=${LEAKS_INTERRUPTS:-10}
MAXDELAY=${LEAKS_MAX_DELAY:-18}
FILTER=${LEAKS_FILTER:-!docker}
SEED=${LEAKS_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ART=${ARTIFACTS:-$ROOT/artifacts}/leaks
GO=${GO:-go}
. "$ROOT/reliability/progress.sh"

if [ "$(id -u)" != 0 ]; then echo "leaks: needs root (the lab makes namespaces)"; exit 2; fi
mkdir -p "$ART"
WORK=$(mktemp -d /tmp/p2plab-leaks-XXXXXX)
child=""
cleanup() {
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then kill -INT "$child"; wait "$child" 2>/dev/null; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "leaks: interrupted"; exit 130' INT TERM

echo "leaks: seed $SEED (LEAKS_SEED=$SEED reproduces the interrupt moments); $N full runs, $K interrupted runs, filter '$FILTER'"
echo "leaks: building into $WORK"
(cd "$ROOT" && CGO_ENABLED=0 $GO build -o "$WORK/p2plab" ./cmd/p2plab && $GO test -c -o "$WORK/scenarios.test" ./scenarios &&
	$GO build -o "$WORK/nftlist" ./reliability/internal/nftlist) || { echo "leaks: build failed"; exit 1; }

# snapshot prints one line per lab-looking thing: "kind name [detail]".
snapshot() {
	ip netns list 2>/dev/null | awk '$1 ~ /^p2pl/ {print "netns " $1}'
	ip -o link 2>/dev/null | awk -F': ' '{split($2, a, "@"); if (a[1] ~ /^p2pl/) print "link " a[1]}'
	"$WORK/nftlist" 2>/dev/null | awk '{print "nft " $1 "/" $2}'
	for p in /proc/[0-9]*; do
		cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
		case "$cmd" in
		*p2plab\ server\ *|*p2plab\ client\ *|*p2plab\ run\ *)
			ns=$(ip netns identify "${p#/proc/}" 2>/dev/null)
			echo "proc ${p#/proc/} netns=${ns:-none} ${cmd:0:120}" ;;
		esac
	done
	if docker version >/dev/null 2>&1; then
		docker ps -a --filter label=p2plab.run --format 'container {{.Names}} run={{.Label "p2plab.run"}}'
		docker network ls --filter label=p2plab.run --format 'network {{.Name}} run={{.Label "p2plab.run"}}'
		docker images --filter label=p2plab.run --format 'image {{.Repository}}:{{.Tag}} {{.ID}}'
	fi
}

alive() { # alive RUNID: a live lab holds /run/p2plab/RUNID.lock
	[ -e "/run/p2plab/$1.lock" ] && ! flock -n "/run/p2plab/$1.lock" true 2>/dev/null
}

# leaks BEFORE: prints new items of dead runs (and warnings); fails if any.
leaks() {
	local before=$1 now line id bad=0 deadline=$(( $(date +%s) + 15 ))
	while :; do
		snapshot | sort >"$WORK/now"
		: >"$WORK/leaks"
		: >"$WORK/warn"
		comm -13 "$before" "$WORK/now" | while IFS= read -r line; do
			id=$(grep -o 'p2pl[0-9a-f]\{8\}' <<<"$line" | head -1)
			if [ -z "$id" ]; then echo "$line" >>"$WORK/warn"; continue; fi
			alive "$id" || echo "$line" >>"$WORK/leaks"
		done
		# what is still going away (a process being reaped) gets a moment
		if [ ! -s "$WORK/leaks" ] || [ "$(date +%s)" -ge "$deadline" ]; then break; fi
		sleep 1
	done
	if [ -s "$WORK/warn" ]; then sed 's/^/    warning (no run id, maybe another user): /' "$WORK/warn"; fi
	if [ -s "$WORK/leaks" ]; then sed 's/^/    LEAK: /' "$WORK/leaks"; return 1; fi
	return 0
}

suite() { # suite NAME: runs the suite in the background, sets $child
	P2PLAB_ARTIFACTS="$ART/$1" "$WORK/scenarios.test" -test.timeout 14m -ginkgo.timeout 12m \
		-ginkgo.label-filter="$FILTER" -ginkgo.no-color >"$ART/$1.log" 2>&1 &
	child=$!
}

total_leaks=0
failed_runs=0
loop_start=$(date +%s)
for i in $(seq 1 "$N"); do
	snapshot | sort >"$WORK/before"
	start=$(date +%s)
	(cd "$ROOT/scenarios" && suite "full-$i" && wait "$child")
	rc=$?
	printf 'leaks: full run %d/%d: suite exit %d in %ds; %s\n' "$i" "$N" "$rc" $(( $(date +%s) - start )) "$(progress_line "$i" $((N + K)) "$loop_start")"
	[ "$rc" = 0 ] || { failed_runs=$((failed_runs + 1)); grep -A3 '^\s*\[FAIL\]' "$ART/full-$i.log" | head -20; }
	leaks "$WORK/before" || total_leaks=$((total_leaks + 1))
done
for j in $(seq 1 "$K"); do
	snapshot | sort >"$WORK/before"
	delay=$(( RANDOM % MAXDELAY + 1 ))
	cd "$ROOT/scenarios"
	suite "interrupt-$j"
	cd "$ROOT"
	end=$(( $(date +%s) + delay ))
	while kill -0 "$child" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.2; done
	state="interrupted after ${delay}s"
	if kill -0 "$child" 2>/dev/null; then
		kill -INT "$child"
		stop=$(( $(date +%s) + 120 ))
		while kill -0 "$child" 2>/dev/null && [ "$(date +%s)" -lt "$stop" ]; do sleep 0.2; done
		if kill -0 "$child" 2>/dev/null; then
			state="$state, still running 120s after SIGINT: killed"
			kill -KILL "$child"
		fi
	else
		state="finished before the interrupt (${delay}s)"
	fi
	wait "$child" 2>/dev/null
	rc=$?
	child=""
	cleaned=$("$WORK/p2plab" clean 2>&1 | tail -3 | tr '\n' ' ')
	printf 'leaks: interrupted run %d/%d: %s, exit %d; p2plab clean: %s; %s\n' "$j" "$K" "$state" "$rc" "${cleaned:-nothing}" "$(progress_line $((N + j)) $((N + K)) "$loop_start")"
	leaks "$WORK/before" || total_leaks=$((total_leaks + 1))
done
echo "leaks: $N full runs ($failed_runs failed), $K interrupted runs, $total_leaks with leftovers; seed $SEED; logs in $ART"
[ "$total_leaks" = 0 ]
