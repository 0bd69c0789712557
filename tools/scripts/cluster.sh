#!/usr/bin/env bash
# Starts a whole scale-out cluster on this machine, on loopback, and measures it
# (docs/scale-out.md, docs/benchmarks.md):
#   nats-server (JetStream) -> fedrelayd, the sequencer, with bus.nats_url
#   -> N fedrelay-fanout nodes -> fedrelay-bench BM_Cluster: a load generator
#   submitting joins to the sequencer, simulated peers subscribing on the nodes,
#   and a gap checker (every subscriber gets every event once, in order);
#   then checks that the stream and every node hold the whole log.
#
#   tools/scripts/cluster.sh [--fanout-nodes N] [--subscribers N] [--rate R]
#                            [--seconds S] [--quota PERCENT] [--no-bus]
#                            [--json FILE] [--no-build] [--keep]
#
#   --fanout-nodes N  fan-out nodes (default 2); 0 = subscribers on the sequencer
#   --subscribers N   simulated peers (default 1000)
#   --rate R          events/s submitted (default 100)
#   --seconds S       how long events are submitted (default 5)
#   --quota PERCENT   CPU quota of each node process (default 100 = one core):
#                     systemd-run --user --scope -p CPUQuota= when that works,
#                     else a cgroup (v1 cpu controller) of its own when this
#                     user may make one, else taskset pins each node to one
#                     core, else no limit
#   --no-bus          the sequencer without bus.nats_url (needs --fanout-nodes 0):
#                     the baseline of the publisher's cost
#   --json FILE       also write fedrelay-bench's results as JSON to FILE
#   --no-build        use the binaries in build/ as they are
#   --keep            keep the scratch directory (logs, stores)
# Binaries come from $FEDRELAY_BUILD_DIR (default build/).
# Exit status: 0 when the run completed with no gap, 1 otherwise, 2 on usage errors.
# tools/scripts/scaleout-bench.sh runs the measurements of docs/benchmarks.md with it.
set -euo pipefail
cd "$(dirname "$0")/../.."

nodes=2 subscribers=1000 rate=100 seconds=5 quota=100 build=1 keep=0 bus=1 json=
while [ $# -gt 0 ]; do
  case "$1" in
    --fanout-nodes) nodes="$2"; shift 2 ;;
    --subscribers) subscribers="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --quota) quota="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep) keep=1; shift ;;
    --no-bus) bus=0; shift ;;
    --json) json="$2"; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "cluster.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for number in "$nodes" "$subscribers" "$rate" "$seconds" "$quota"; do
  [[ "$number" =~ ^[0-9]+$ ]] || { echo "cluster.sh: not a whole number: $number" >&2; exit 2; }
done
if [ "$bus" = 0 ] && [ "$nodes" != 0 ]; then
  echo "cluster.sh: --no-bus needs --fanout-nodes 0 (nodes follow the bus)" >&2; exit 2
fi

nats_server=$(command -v nats-server || true)
[ -z "$nats_server" ] && [ -x /usr/sbin/nats-server ] && nats_server=/usr/sbin/nats-server
if [ -z "$nats_server" ]; then
  echo "cluster.sh: nats-server is not installed (tools/scripts/deps.sh --test installs it)" >&2
  exit 1
fi
bin=${FEDRELAY_BUILD_DIR:-build}
[ "$build" = 1 ] && tools/scripts/build.sh fedrelayd fedrelay-fanout fedrelay-bench >&2

dir=$(mktemp -d /tmp/fedrelay-cluster-XXXXXX)
pids=() cgroup_root=/sys/fs/cgroup/cpu
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for cgroup in "$cgroup_root"/fedrelay-cluster-$$-*; do rmdir "$cgroup" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then echo "cluster.sh: kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

# How each node process is limited: a CPU quota, a pinned core, or nothing.
limiter=none
if systemd-run --user --scope -q -p CPUQuota=50% true >/dev/null 2>&1; then
  limiter=systemd
elif mkdir "$cgroup_root/fedrelay-probe-$$" 2>/dev/null; then
  rmdir "$cgroup_root/fedrelay-probe-$$"
  limiter=cgroup
elif command -v taskset >/dev/null 2>&1; then
  limiter=taskset
fi
cores=$(nproc)
# limited SLOT CMD...: becomes CMD under the node limit (call it in the
# background: it execs). SLOT numbers the process: its core or its cgroup.
limited() {
  local slot="$1"; shift
  case "$limiter" in
    systemd) exec systemd-run --user --scope -q -p CPUQuota="${quota}%" "$@" ;;
    cgroup)  # a cgroup per process: each gets the whole quota
      local cgroup="$cgroup_root/fedrelay-cluster-$$-$slot"
      mkdir "$cgroup" && echo 100000 >"$cgroup/cpu.cfs_period_us" &&
        echo $((quota * 1000)) >"$cgroup/cpu.cfs_quota_us" &&
        echo "$BASHPID" >"$cgroup/cgroup.procs" ||
        echo "cluster.sh: cannot limit slot $slot with $cgroup; running it unlimited" >&2
      exec "$@" ;;
    taskset) exec taskset -c "$((slot % cores))" "$@" ;;
    *) exec "$@" ;;
  esac
}
echo "cluster.sh: $nodes fan-out node(s), $subscribers subscribers, $rate events/s for ${seconds}s;" \
     "node limit: $limiter (quota ${quota}%) on $cores cores; scratch $dir" >&2

wait_for_file() {  # wait_for_file FILE WHAT
  for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "cluster.sh: $2 did not start; its log:" >&2; cat "${1%.*}.log" >&2 || true; exit 1
}
json_field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
metric() { curl -sf "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 \([0-9.e+]*\)$/\1/p"; }

# 1. nats-server with JetStream on a free port.
"$nats_server" -a 127.0.0.1 -p -1 -js -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "Server is ready" "$dir/nats.log" && break; sleep 0.1; done
nats_port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/nats.log")
[ -n "$nats_port" ] || { echo "cluster.sh: nats-server did not start" >&2; cat "$dir/nats.log" >&2; exit 1; }
nats_url="nats://127.0.0.1:$nats_port"

# 2. The sequencer, with the subscribers as its peers.
"$bin"/relay/fedrelayd keygen --out "$dir/relay.key" --name relay.example/log >"$dir/keygen.txt"
relay_pubkey=$(sed -n 's/^public key: *//p' "$dir/keygen.txt")
{
  printf 'relay:\n  server_id: relay.example\n  origin: relay.example/log\n'
  printf '  key_file: relay.key\n  data_dir: sequencer\n'
  printf 'listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n'
  printf 'rate_limits:\n  message_rate_limit: 0\n'
  [ "$bus" = 1 ] && printf 'bus:\n  nats_url: %s\n' "$nats_url"
  "$bin"/tools/fedrelay-bench --cluster-peers "$subscribers"
} >"$dir/sequencer.yaml"
limited 0 "$bin"/relay/fedrelayd --config "$dir/sequencer.yaml" --ready-file "$dir/sequencer.json" \
  --log-level warn >"$dir/sequencer.log" 2>&1 &
pids+=($!)
wait_for_file "$dir/sequencer.json" fedrelayd
seq_grpc=$(json_field "$dir/sequencer.json" grpc_port)
seq_http=$(json_field "$dir/sequencer.json" http_port)

# 3. Fan-out nodes.
serve=() node_http=()
for i in $(seq 1 "$nodes"); do
  limited "$i" "$bin"/fanout/fedrelay-fanout --nats-url "$nats_url" --relay-pubkey "$relay_pubkey" \
    --server-id relay.example --origin relay.example/log --data-dir "$dir/fanout-$i" \
    --ready-file "$dir/fanout-$i.json" --log-level warn >"$dir/fanout-$i.log" 2>&1 &
  pids+=($!)
  wait_for_file "$dir/fanout-$i.json" "fedrelay-fanout $i"
  serve+=("127.0.0.1:$(json_field "$dir/fanout-$i.json" grpc_port)")
  node_http+=("$(json_field "$dir/fanout-$i.json" http_port)")
done
[ "$nodes" = 0 ] && serve=("127.0.0.1:$seq_grpc")

# 4. Load generator, simulated subscribers and gap checker.
status=0
"$bin"/tools/fedrelay-bench --cluster-sequencer "127.0.0.1:$seq_grpc" \
  --cluster-serve "$(IFS=,; echo "${serve[*]}")" --cluster-subscribers "$subscribers" \
  --cluster-rate "$rate" --fanout-seconds "$seconds" --benchmark_filter='^BM_Cluster' \
  --dir "$dir/bench" ${json:+--benchmark_out="$json" --benchmark_out_format=json} |
  tee "$dir/bench.out" || status=1
grep -q "ERROR OCCURRED" "$dir/bench.out" && status=1

# 5. The stream and every node hold the whole log.
size=$(metric "$seq_http" fedrelay_log_size)
if [ "$bus" = 0 ]; then echo "cluster.sh: log size $size (no bus)" >&2; exit $status; fi
for _ in $(seq 1 100); do
  [ "$(metric "$seq_http" fedrelay_bus_published_event_id)" = "$size" ] && break; sleep 0.1
done
published=$(metric "$seq_http" fedrelay_bus_published_event_id)
echo "cluster.sh: log size $size, stream holds $published" >&2
[ "$published" = "$size" ] || status=1
for i in $(seq 1 "$nodes"); do
  for _ in $(seq 1 100); do [ "$(metric "${node_http[$((i-1))]}" fedrelay_log_size)" = "$size" ] && break; sleep 0.1; done
  node_size=$(metric "${node_http[$((i-1))]}" fedrelay_log_size)
  echo "cluster.sh: fan-out node $i holds $node_size" >&2
  [ "$node_size" = "$size" ] || status=1
done
exit $status
