#!/usr/bin/env bash
# Installs fedrelay's build and runtime dependencies from Debian 12's packages
# when any is missing. Safe to run repeatedly: does nothing when all are there.
#   tools/scripts/deps.sh [--test] [--fuzz]
# --test also installs what only the test suite needs (test_packages below:
# chromium, for the log explorer's in-browser test; nats-server, for the
# JetStream bus tests of docs/scale-out.md); --fuzz what the libFuzzer build
# needs (clang and its runtime: tools/scripts/fuzz.sh).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsodium-dev librocksdb-dev libabsl-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libnats-dev libjemalloc-dev
)

# Only the test suite needs these; test.sh asks for them with --test.
test_packages=(chromium nats-server)
fuzz_packages=(clang-14 libclang-rt-14-dev)
for arg in "$@"; do
  case "$arg" in
    --test) packages+=("${test_packages[@]}") ;;
    --fuzz) packages+=("${fuzz_packages[@]}") ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown argument $arg (usage: deps.sh [--test] [--fuzz])" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "fedrelay: installing missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt_get=(sudo apt-get)
else
  echo "fedrelay: not root and no sudo; install them with:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}"
