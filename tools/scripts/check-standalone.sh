#!/usr/bin/env bash
# Checks that the repository stands alone: no tracked file names a path beside
# it, reads outside the source tree, or links (Markdown) to a missing file.
#   tools/scripts/check-standalone.sh [repository root, default: this one]
# Exit status: 0 clean, 1 something points outside (printed), 2 usage.
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
esac
[ $# -le 1 ] || { echo "usage: $0 [repository root]" >&2; exit 2; }
root="${1:-$(dirname "$0")/../..}"
[ -d "$root" ] || { echo "check-standalone: not a directory: $root" >&2; exit 2; }
root="$(cd "$root" && pwd -P)"
cd "$root"

# The files a clone holds: git's list in a checkout, else every file but the
# build trees and the run directory (a copy without .git, e.g. a tarball).
files=()
if [ -e .git ] && git rev-parse --show-toplevel >/dev/null 2>&1 &&
   [ "$(git rev-parse --show-toplevel)" = "$root" ]; then
  while IFS= read -r -d '' f; do [ -f "$f" ] && files+=("$f"); done < <(git ls-files -z)
else
  while IFS= read -r -d '' f; do files+=("${f#./}"); done < <(
    find . \( -path './build*' -o -path ./var -o -path ./.git \) -prune -o -type f -print0)
fi
[ ${#files[@]} -gt 0 ] || { echo "check-standalone: no files under $root" >&2; exit 2; }

failed=0
report() { echo "check-standalone: $1" >&2; failed=1; }

# 1. Names of the working material that lives beside the repository for its
#    developers (and of this machine's layout). The patterns are spelled so
#    that this file does not match itself.
beside='[.][.]/share[d]\b|/wor[k]/|\bshare[d]/(SPEC|STYLE|test-vectors|reference)'
# 2. Reads relative to the source tree that climb out of it.
climbs='(PROJECT|CMAKE|FEDRELAY)_SOURCE_DI[R][)}"]*[ +]*"?/[.][.]'
if hits="$(printf '%s\0' "${files[@]}" | xargs -0 grep -nIE "$beside|$climbs" --)"; then
  report "these lines point outside the repository:"
  echo "$hits" >&2
fi

# 3. Relative Markdown links must name a file or folder inside the repository.
for md in "${files[@]}"; do
  case "$md" in *.md) ;; *) continue ;; esac
  while IFS= read -r link; do
    target="${link#](}"
    target="${target%)}"
    target="${target%% *}"   # drop a link title
    target="${target%%#*}"   # and an anchor
    case "$target" in
      ''|http://*|https://*|mailto:*) continue ;;
    esac
    resolved="$(realpath -m "$(dirname "$md")/$target")"
    if [ "${resolved#"$root"/}" = "$resolved" ] && [ "$resolved" != "$root" ]; then
      report "$md links outside the repository: $target"
    elif [ ! -e "$resolved" ]; then
      report "$md links to a missing file: $target"
    fi
  done < <(grep -oE '\]\([^)]*\)' "$md" || true)
done

[ "$failed" = 0 ] && echo "check-standalone: ${#files[@]} files, nothing points outside $root"
exit "$failed"
