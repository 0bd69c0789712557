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
#   3. receipt-to-delivery p50/p99 through a fan-out node at a light rate
#      (--light-rate, under what the node delivers; quota one core), and the
#      same straight from the sequencer.
#
#   tools/scripts/scaleout-bench.sh [--subscribers N] [--rate R] [--light-rate R]
#                                   [--accept-rate R] [--seconds S] [--quota PERCENT]
#                                   [--repeat N] [--no-build]
#
#   --subscribers N   simulated peers of rows 2 and 3 (default 1000)
#   --rate R          events/s submitted in row 2 (default 100: 100,000 deliveries/s asked)
#   --light-rate R    events/s of row 3 (default 5)
#   --accept-rate R   events/s submitted in row 1 (default 20000: above what 2 cores accept)
#   --seconds S       how long events are submitted per run (default 5)
#   --quota PERCENT   CPU quota of each server process in rows 2 and 3 (default 25)
#   --repeat N        runs per publisher setting in row 1 (default 3)
#   --no-build        use the binaries in build/ as they are
# Exit status: 0 when every run completed without gaps, 1 otherwise, 2 on usage errors.
set -euo pipefail
cd "$(dirname "$0")/../.."

subscribers=1000 rate=100 light_rate=5 accept_rate=20000 seconds=5 quota=25 repeat=3 build=1
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
# cluster ARGS...: one cluster.sh run (called in $(...), so a subshell: a
# failure is recorded in $out/failed); prints the path of its JSON results.
cluster() {
  local json
  json=$(mktemp "$out/run-XXXXXX")
  tools/scripts/cluster.sh --no-build --quota "$quota" --seconds "$seconds" \
    --json "$json.json" "$@" >"$json.log" 2>&1 || {
    echo "scaleout-bench.sh: cluster.sh $* failed; its output:" >&2
    cat "$json.log" >&2
    touch "$out/failed"
  }
  echo "$json.json"
}
# counter FILE NAME: a counter of BM_Cluster in a JSON result ("" when absent).
counter() { sed -n "s/^ *\"$2\": \([0-9.e+-]*\),\{0,1\}$/\1/p" "$1" 2>/dev/null | head -1; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
fmt() { awk -v v="${1:-0}" 'BEGIN { printf "%.0f", v }'; }

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
runs() { for value in "$@"; do printf '%s ' "$(fmt "${value:-0}")"; done; }
echo "| sequencer accepted/s, publisher off (runs: $(runs "${off[@]}")) | $(fmt "${off_median:-0}") |"
echo "| sequencer accepted/s, publisher on (runs: $(runs "${on[@]}")) | $(fmt "${on_median:-0}") |"
awk -v off="${off_median:-0}" -v on="${on_median:-0}" 'BEGIN {
  if (off > 0) printf "| publisher cost | %.1f %% |\n", 100 * (off - on) / off }'

for nodes in 1 2; do
  result=$(cluster --fanout-nodes "$nodes" --subscribers "$subscribers" --rate "$rate")
  echo "| deliveries/s, $subscribers subscribers, $nodes fan-out node(s), $rate events/s asked" \
       "| $(fmt "$(counter "$result" deliveries_per_s)") (p50 $(fmt "$(counter "$result" p50_ms)") ms," \
       "p99 $(fmt "$(counter "$result" p99_ms)") ms, gaps $(fmt "$(counter "$result" gaps)")) |"
done
for nodes in 1 0; do
  result=$(cluster --fanout-nodes "$nodes" --subscribers "$subscribers" --rate "$light_rate" --quota 100)
  where="through a fan-out node"
  [ "$nodes" = 0 ] && where="straight from the sequencer"
  echo "| receipt to delivery $where, $subscribers subscribers, $light_rate events/s" \
       "| p50 $(counter "$result" p50_ms) ms, p99 $(counter "$result" p99_ms) ms," \
       "gaps $(fmt "$(counter "$result" gaps)") |"
done
[ -e "$out/failed" ] && exit 1
exit 0
