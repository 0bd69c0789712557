#!/usr/bin/env bash
# The long crash soak (docs/soak.md): SIGKILLs fedrelayd CYCLES times under a
# mixed load with a subscriber attached and checks, after every restart, that
# each receipted entry is in the log, the tree extends every earlier
# checkpoint and the subscriber resumes without a gap; fedrelay-audit checks
# the whole log at the end. It runs CrashSoakTest (tests/relay/crash_soak_test.cc),
# whose CI version crashes the relay 3 times.
#   tools/scripts/soak.sh [--cycles N]   (default 50)
# Exit status: 0 the soak passed, 1 it failed, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/../.."

cycles=50
while [ $# -gt 0 ]; do
  case "$1" in
    --cycles)
      [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] ||
        { echo "soak.sh: --cycles needs a whole number > 0" >&2; exit 2; }
      cycles=$2; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

tools/scripts/build.sh relay_tests fedrelayd fedrelay-audit fedrelay-ctl
start=$(date +%s)
set +e
FEDRELAY_SOAK_CYCLES="$cycles" build/tests/relay_tests --gtest_filter='CrashSoakTest.*' 2>&1 |
  grep -E '^(soak:|\[ *(OK|FAILED|PASSED) *\]|.*Failure)'
status=${PIPESTATUS[0]}
set -e
echo "soak.sh: $cycles crashes in $(( $(date +%s) - start ))s, exit status $status" >&2
[ "$status" -eq 0 ] || exit 1
