#!/usr/bin/env bash
# The scale-out scripts' documented usage (docs/scale-out.md, docs/benchmarks.md):
# --help exits 0 and names every option; a bad argument or number exits 2;
# cluster.sh --no-bus with fan-out nodes exits 2 (nodes follow the bus). Runs
# nothing else, so it needs neither nats-server nor a build.
#   script_usage_test.sh SOURCE_DIR
set -uo pipefail
scripts="$1/tools/scripts"
failed=0
expect() {  # expect STATUS WHAT CMD...
  local want="$1" what="$2"; shift 2
  "$@" >/tmp/script_usage_test.$$ 2>&1
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, want $want"; cat /tmp/script_usage_test.$$; failed=1
  fi
}
expect 0 "cluster.sh --help" "$scripts/cluster.sh" --help
for option in --fanout-nodes --subscribers --rate --seconds --quota --no-bus --json --no-build --keep; do
  "$scripts/cluster.sh" --help | grep -q -- "$option" ||
    { echo "FAIL: cluster.sh --help lacks $option"; failed=1; }
done
expect 2 "cluster.sh --bogus" "$scripts/cluster.sh" --bogus
expect 2 "cluster.sh --rate x" "$scripts/cluster.sh" --rate x
expect 2 "cluster.sh --no-bus with nodes" "$scripts/cluster.sh" --no-bus --fanout-nodes 1 --no-build
expect 0 "scaleout-bench.sh --help" "$scripts/scaleout-bench.sh" --help
for option in --subscribers --rate --light-rate --accept-rate --seconds --quota --repeat --no-build; do
  "$scripts/scaleout-bench.sh" --help | grep -q -- "$option" ||
    { echo "FAIL: scaleout-bench.sh --help lacks $option"; failed=1; }
done
expect 2 "scaleout-bench.sh --bogus" "$scripts/scaleout-bench.sh" --bogus
expect 2 "scaleout-bench.sh --repeat 0" "$scripts/scaleout-bench.sh" --repeat 0 --no-build
rm -f /tmp/script_usage_test.$$
[ "$failed" = 0 ] && echo "ok"
exit $failed
