#!/usr/bin/env bash
# The scale-out measurements of docs/benchmarks.md#scale-out, each a run of
# tools/scripts/cluster.sh (nats-server, the sequencer, fan-out nodes and
# fedrelay-bench's BM_Cluster on loopback, every server process under its own
# CPU quota), printed as the rows of that table:
#   1. the sequencer's accepted/s with the bus publisher off and on (no
#      subscribers; --accept-rate joins/s for one second, faster than it
#      accepts; the sequencer under a quota of one core), the median of
#      --repeat alternating runs each, and the publisher's cost;
#   2. deliveries/s with --subscribers peers on 1, then 2 fan-out nodes, the
#      events submitted faster than one node delivers them (--rate);
#   3. receipt-to-delivery p50/p99 through a fan-out node at a light rate.
#
#   tools/scripts/scaleout-bench.sh [--subscribers N] [--rate R] [--light-rate R]
#                                   [--accept-rate R] [--seconds S] [--quota PERCENT]
#                                   [--repeat N] [--no-build]
#
#   --subscribers N   simulated peers of rows 2 and 3 (default 1000)
#   --rate R          events/s submitted in row 2 (default 100: 100,000 deliveries/s asked)
#   --light-rate R    events/s of row 3 (default 20)
#   --accept-rate R   events/s submitted in row 1 (default 20000: above what 2 cores accept)
#   --seconds S       how long events are submitted per run (default 5)
#   --quota PERCENT   CPU quota of each server process in rows 2 and 3 (default 25)
#   --repeat N        runs per publisher setting in row 1 (default 3)
#   --no-build        use the binaries in build/ as they are
# Exit status: 0 when every run completed without gaps, 1 otherwise, 2 on usage errors.
set -euo pipefail
cd "$(dirname "$0")/../.."

subscribers=1000 rate=100 light_rate=20 accept_rate=20000 seconds=5 quota=25 repeat=3 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --subscribers) subscribers="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --light-rate) light_rate="$2"; shift 2 ;;
    --accept-rate) accept_rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --quota) quota="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "scaleout-bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for number in "$subscribers" "$rate" "$light_rate" "$accept_rate" "$seconds" "$quota" "$repeat"; do
  [[ "$number" =~ ^[1-9][0-9]*$ ]] || { echo "scaleout-bench.sh: not a positive whole number: $number" >&2; exit 2; }
done
[ "$build" = 1 ] && tools/scripts/build.sh fedrelayd fedrelay-fanout fedrelay-bench >&2

out=$(mktemp -d /tmp/fedrelay-scaleout-XXXXXX)
trap 'rm -rf "$out"' EXIT
status=0
run=0
# cluster ARGS...: one cluster.sh run; prints the path of its JSON results.
cluster() {
  run=$((run + 1))
  tools/scripts/cluster.sh --no-build --quota "$quota" --seconds "$seconds" \
    --json "$out/run-$run.json" "$@" >"$out/run-$run.log" 2>&1 || {
    echo "scaleout-bench.sh: cluster.sh $* failed; its output:" >&2
    cat "$out/run-$run.log" >&2
    status=1
  }
  echo "$out/run-$run.json"
}
# counter FILE NAME: a counter of BM_Cluster in a JSON result ("" when absent).
counter() { sed -n "s/^ *\"$2\": \([0-9.e+-]*\),\{0,1\}$/\1/p" "$1" 2>/dev/null | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
fmt() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }

echo "scaleout-bench.sh: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs logged in $out" >&2
off=() on=()
for _ in $(seq 1 "$repeat"); do
  off+=("$(counter "$(cluster --no-bus --fanout-nodes 0 --subscribers 0 --rate "$accept_rate" \
    --seconds 1 --quota 100)" accepted_per_s)")
  on+=("$(counter "$(cluster --fanout-nodes 0 --subscribers 0 --rate "$accept_rate" \
    --seconds 1 --quota 100)" accepted_per_s)")
done
off_median=$(printf '%s\n' "${off[@]}" | median)
on_median=$(printf '%s\n' "${on[@]}" | median)
echo "| sequencer accepted/s, publisher off (runs: ${off[*]}) | $(fmt "${off_median:-0}") |"
echo "| sequencer accepted/s, publisher on (runs: ${on[*]}) | $(fmt "${on_median:-0}") |"
awk -v off="${off_median:-0}" -v on="${on_median:-0}" 'BEGIN {
  if (off > 0) printf "| publisher cost | %.1f %% |\n", 100 * (off - on) / off }'

for nodes in 1 2; do
  result=$(cluster --fanout-nodes "$nodes" --subscribers "$subscribers" --rate "$rate")
  echo "| deliveries/s, $subscribers subscribers, $nodes fan-out node(s), $rate events/s asked" \
       "| $(fmt "$(counter "$result" deliveries_per_s)") (p50 $(counter "$result" p50_ms) ms," \
       "p99 $(counter "$result" p99_ms) ms) |"
done
result=$(cluster --fanout-nodes 1 --subscribers "$subscribers" --rate "$light_rate")
echo "| receipt to delivery through a fan-out node, $subscribers subscribers, $light_rate events/s" \
     "| p50 $(counter "$result" p50_ms) ms, p99 $(counter "$result" p99_ms) ms |"
exit $status
