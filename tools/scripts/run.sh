#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs the relay.
#   tools/scripts/run.sh [fedrelayd arguments]
# With no arguments fedrelayd runs its embedded default: RocksDB under ./var/data,
# a generated key in ./var/relay.key, gRPC on 127.0.0.1:7443, HTTP on
# 127.0.0.1:7480, and two example peers (alpha.example, beta.example) whose
# demo keys are written to ./var/peers/ for the README tour.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/scripts/build.sh fedrelayd fedrelay-ctl fedrelay-client fedrelay-audit
if [ $# -eq 0 ]; then
  # The example peers' keys are the well-known test keys (seed = SHA-256 of
  # "fedrelay test key <name>"); write them for the tour, never reuse them.
  build/tools/fedrelay-ctl demo-keys --out var/peers
fi
exec build/relay/fedrelayd "$@"
