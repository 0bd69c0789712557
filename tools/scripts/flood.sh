#!/usr/bin/env bash
# The big connection flood (docs/security.md): opens 10,000 idle TCP
# connections (half to the gRPC port, half to the HTTP port) plus slowloris
# headers and half-open WebSocket upgrades against a real fedrelayd, and checks
# that /healthz and gRPC Ping stay prompt and memory stays bounded. It runs
# FloodTest (tests/relay/flood_test.cc), whose CI version opens 3,000.
#   tools/scripts/flood.sh [--connections N]   (default 10000, in all)
# Exit status: 0 passed, 1 failed, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/../.."

connections=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --connections)
      [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 2 ] ||
        { echo "flood.sh: --connections needs a whole number >= 2" >&2; exit 2; }
      connections=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "flood.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

tools/scripts/build.sh relay_tests fedrelayd
# The test raises its own soft descriptor limit up to the hard one.
ulimit -Hn "$(( connections + 4096 ))" 2>/dev/null || true
set +e
FEDRELAY_FLOOD_CONNECTIONS=$(( connections / 2 )) build/tests/relay_tests \
  --gtest_filter='FloodTest.*' 2>&1 | grep -E '^(flood:|\[ *(OK|FAILED|PASSED|SKIPPED) *\]|.*Failure)'
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || exit 1
