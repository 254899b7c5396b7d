#!/usr/bin/env bash
# Quick start, part 1: installs what is missing, builds braid (Release) and runs
# the main demo: a multi-rank job started by braidrun on the embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
exec build/release/launcher/braidrun --standalone --nproc-per-node 4 \
  build/release/examples/smoke/braid_smoke "$@"
