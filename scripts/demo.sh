#!/usr/bin/env bash
# Quick start, part 1: installs what is missing, builds braid (Release) and runs
# the main demo: a byte-level GPT trained data parallel over 4 ranks started
# by braidrun on the embedded store (examples/gpt). Extra arguments go to the
# trainer (braid_gpt --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
exec build/release/launcher/braidrun --standalone --nproc-per-node 4 \
  build/release/examples/gpt/braid_gpt "$@"
