#!/usr/bin/env bash
# Builds everything and runs the whole test suite: first the Release build
# (warnings as errors), then the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer, then every libFuzzer target for a few seconds
# (tools/scripts/fuzz.sh; about a minute and a half on two cores once built).
# The sanitizer run leaves out the tests that would only repeat the Release
# run's work without exercising more C++ (the script checks, the .deb, the
# cluster harness) or that measure load rather than correctness (the flood,
# the crash soak, the bench smoke): see SANITIZER_SKIP below.
# Installs missing packages first.
#   tools/scripts/test.sh [--no-sanitize] [--no-fuzz] [ctest -R pattern]
set -euo pipefail
cd "$(dirname "$0")/../.."

sanitize=1
fuzz=1
pattern=()
for arg in "$@"; do
  case "$arg" in
    --no-sanitize) sanitize=0 ;;
    --no-fuzz) fuzz=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) pattern=(-R "$arg") ;;
  esac
done

# Tests the ASan+UBSan run leaves to the Release run.
SANITIZER_SKIP='^(Standalone|Docs|Packaging|ScaleOut)\.|^(FloodTest|CrashSoakTest|BenchEndToEndTest)\.'

run_suite() {
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" --timeout 600 "$@" \
    ${pattern[@]+"${pattern[@]}"}
}

# The test-only packages too (chromium for the explorer's browser test).
tools/scripts/deps.sh --test
tools/scripts/build.sh --werror
echo "== Release suite"
run_suite build
if [ "$sanitize" = 1 ]; then
  tools/scripts/build.sh --sanitize --werror
  echo "== ASan+UBSan suite"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -E "$SANITIZER_SKIP"
fi
# A pattern runs only the matching tests; the fuzzers belong to the full run.
if [ "$fuzz" = 1 ] && [ ${#pattern[@]} -eq 0 ]; then
  echo "== libFuzzer targets (ASan+UBSan)"
  tools/scripts/fuzz.sh --seconds 8
fi
