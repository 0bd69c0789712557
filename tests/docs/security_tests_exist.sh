#!/usr/bin/env bash
# docs/security.md names the test that covers each threat; every name it gives
# (`Suite.Test`) must be a test defined under tests/, so the page cannot
# promise coverage that was renamed or removed.
#   security_tests_exist.sh <repository root>
set -euo pipefail
root=${1:?usage: security_tests_exist.sh <repository root>}
names=$(grep -oE '`[A-Z][A-Za-z0-9]*Test\.[A-Za-z0-9_]+`' "$root/docs/security.md" | tr -d '`' | sort -u)
[ -n "$names" ] || { echo "docs/security.md names no tests" >&2; exit 1; }
missing=0
for name in $names; do
  suite=${name%%.*}
  test=${name#*.}
  if ! grep -rqE "TEST(_F|_P)?\($suite, *$test\)" "$root/tests"; then
    echo "docs/security.md names $name, which no test under tests/ defines" >&2
    missing=1
  fi
done
exit $missing
