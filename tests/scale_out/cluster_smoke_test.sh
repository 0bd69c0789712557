#!/usr/bin/env bash
# A short run of tools/scripts/cluster.sh (docs/scale-out.md): nats-server, the
# sequencer, two fan-out nodes, 20 subscribers, 40 events; passes when every
# subscriber got every event once, in order, and the stream and both nodes hold
# the whole log. Skipped (exit 77) without nats-server, unless CI is set.
#   cluster_smoke_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "nats-server is not installed (tools/scripts/deps.sh --test installs it)"
  [ -n "${CI:-}" ] && exit 1
  exit 77
fi
FEDRELAY_BUILD_DIR="$2" exec "$1/tools/scripts/cluster.sh" --no-build --fanout-nodes 2 \
  --subscribers 20 --rate 20 --seconds 2
