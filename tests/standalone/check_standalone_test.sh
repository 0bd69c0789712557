#!/usr/bin/env bash
# tools/scripts/check-standalone.sh must refuse each way a file can point
# outside the repository, and pass a clean one.
#   tests/standalone/check_standalone_test.sh <path of check-standalone.sh>
set -euo pipefail
check="$1"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failures=0

# Builds a fresh repository copy with README.md, docs/a.md and one extra file.
make_repo() {
  local repo="$scratch/$1"
  mkdir -p "$repo/docs"
  printf 'See [a](docs/a.md) and [web](https://example.com/x).\n' >"$repo/README.md"
  printf 'Back to [the README](../README.md#top).\n' >"$repo/docs/a.md"
  printf '%s\n' "$3" >"$repo/$2"
  echo "$repo"
}

expect() {
  local want=$1 name=$2 repo=$3 got=0
  "$check" "$repo" >/dev/null 2>"$scratch/err" || got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $got, want $want; stderr:" >&2
    cat "$scratch/err" >&2
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

dots=..
sh=shared  # spelled apart so that the check does not flag this file
expect 0 clean "$(make_repo clean notes.txt 'nothing outside')"
expect 1 sibling-path "$(make_repo sibling notes.txt "read $dots/$sh/SPEC.md")"
expect 1 sibling-vectors "$(make_repo vectors t.cc "// see $sh/test-vectors/signing.json")"
expect 1 climbing-read "$(make_repo climb t.cc "std::ifstream in(FEDRELAY_SOURCE_DIR \"/$dots/x\");")"
expect 1 climbing-cmake "$(make_repo cmake CMakeLists.txt "include(\${PROJECT_SOURCE_DIR}/$dots/x.cmake)")"
expect 1 link-outside "$(make_repo outside docs/b.md "[up]($dots/$dots/elsewhere.md)")"
expect 1 link-missing "$(make_repo missing docs/b.md "[gone](nowhere.md)")"
expect 2 not-a-directory "$scratch/does-not-exist"

# In a git checkout only tracked files count: build output may say anything.
repo="$(make_repo tracked notes.txt 'clean')"
git -C "$repo" init -q && git -C "$repo" add -A
mkdir -p "$repo/build" && printf '%s\n' "$dots/$sh" >"$repo/build/untracked.txt"
expect 0 untracked-ignored "$repo"
git -C "$repo" add -f build/untracked.txt
expect 1 tracked-caught "$repo"

[ "$failures" = 0 ]
