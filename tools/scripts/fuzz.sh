#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ (clang-14, ASan+UBSan, in
# build-fuzz/) and runs each for a bounded time from its seed corpus.
#   tools/scripts/fuzz.sh [--seconds N] [--long] [--build-only] [--list] [target...]
# --seconds N  run each target N seconds (default 8: the CI setting, under two
#              minutes for all targets on two cores)
# --long       run each target 600 seconds
# --build-only build the targets and stop
# --list       print the target names and stop
# Seeds are read from tests/fuzz/<target>/ and never written; what a run
# discovers goes to build-fuzz/corpus/<target>/. A crash, leak or timeout
# leaves its input in build-fuzz/crashes/<target>/ and the script exits 1
# (0: every target ran clean; 2: usage).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=8
build_only=0
list=0
wanted=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds)
      [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] ||
        { echo "fuzz.sh: --seconds needs a whole number > 0" >&2; exit 2; }
      seconds=$2; shift ;;
    --long) seconds=600 ;;
    --build-only) build_only=1 ;;
    --list) list=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) wanted+=("$1") ;;
  esac
  shift
done

all=()
for source in tests/fuzz/*_fuzz.cc; do
  name=$(basename "$source" _fuzz.cc)
  all+=("$name")
done
if [ "$list" = 1 ]; then printf '%s\n' "${all[@]}"; exit 0; fi
targets=("${all[@]}")
if [ ${#wanted[@]} -gt 0 ]; then
  for name in "${wanted[@]}"; do
    [ -f "tests/fuzz/${name}_fuzz.cc" ] || { echo "fuzz.sh: no target '$name' (see --list)" >&2; exit 2; }
  done
  targets=("${wanted[@]}")
fi

tools/scripts/deps.sh --fuzz
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DFEDRELAY_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
fi
build_targets=()
for name in "${targets[@]}"; do build_targets+=("${name}_fuzz"); done
cmake --build "$dir" -j "$(nproc)" --target "${build_targets[@]}"
[ "$build_only" = 1 ] && exit 0

failed=()
for name in "${targets[@]}"; do
  corpus="$dir/corpus/$name"
  crashes="$dir/crashes/$name"
  mkdir -p "$corpus" "$crashes"
  seeds=()
  [ -d "tests/fuzz/$name" ] && seeds=("tests/fuzz/$name")
  echo "== $name: ${seconds}s" >&2
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$dir/tests/fuzz/${name}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$crashes/" \
      "$corpus" ${seeds[@]+"${seeds[@]}"} >"$dir/$name.log" 2>&1; then
    echo "fuzz.sh: $name FAILED; input in $crashes/, log in $dir/$name.log" >&2
    tail -40 "$dir/$name.log" >&2
    failed+=("$name")
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$dir/$name.log" | tr '\n' ' ' >&2
    echo >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets ran ${seconds}s each without a finding" >&2
