#!/usr/bin/env bash
# Configures and builds fedrelay with Ninja (Release; ccache when present).
#   tools/scripts/build.sh [--sanitize] [--werror] [ninja targets...]
# Build trees: build/ (Release), build-asan/ (--sanitize: ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/../.."

sanitize=OFF
werror=OFF
targets=()
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=ON ;;
    --werror) werror=ON ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) targets+=("$arg") ;;
  esac
done

tools/scripts/deps.sh
# Let ccache share results between clones of the repository (CI builds a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
dir=build
[ "$sanitize" = ON ] && dir=build-asan
# A tree configured with --werror builds the same binaries, so a plain build
# (run.sh) reuses it instead of reconfiguring and recompiling everything.
if [ ! -f "$dir/build.ninja" ] ||
   { [ "$werror" = ON ] && ! grep -q "FEDRELAY_WERROR:BOOL=ON" "$dir/CMakeCache.txt" 2>/dev/null; }; then
  # The sanitizer build keeps assertions and uses -O1 without debug info: the
  # usual ASan setting, and much quicker to compile than -O3 on two cores.
  build_flags=(-DCMAKE_BUILD_TYPE=Release)
  [ "$sanitize" = ON ] && build_flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1")
  cmake -S . -B "$dir" -G Ninja "${build_flags[@]}" \
    -DFEDRELAY_SANITIZE="$sanitize" -DFEDRELAY_WERROR="$werror" >/dev/null
fi
# Two cores are the norm here; more jobs only thrash memory on gRPC sources.
jobs=$(nproc)
echo "fedrelay: building in $dir (${targets[*]:-all targets}) with $jobs jobs" >&2
cmake --build "$dir" -j "$jobs" ${targets[@]+--target "${targets[@]}"}
