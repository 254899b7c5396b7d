#!/bin/sh
# Runs dp_overlap_bench under braidrun with 2 and 4 ranks for a few compute
# sizes and prints the tables, then all CSV rows together.
#
#   bench/dp_overlap/run.sh [BUILD_DIR] [extra dp_overlap_bench flags...]
#
# BUILD_DIR defaults to build/release. Set BRAID_TRACE=DIR to also write
# Perfetto traces (one file per rank, merged by braidrun).
set -eu
build=${1:-build/release}
[ $# -gt 0 ] && shift
braidrun=$build/launcher/braidrun
bench=$build/bench/dp_overlap/dp_overlap_bench
for tool in "$braidrun" "$bench"; do
  [ -x "$tool" ] || { echo "run.sh: $tool not built (ninja -C $build braidrun dp_overlap_bench)" >&2; exit 1; }
done
csv=$(mktemp)
trap 'rm -f "$csv"' EXIT
for ranks in 2 4; do
  for rows in 2 8 32; do
    out=$("$braidrun" --standalone --nproc-per-node "$ranks" "$bench" --rows "$rows" \
          --iters 10 --repeats 21 "$@" 2>&1) || { echo "$out" >&2; exit 1; }
    echo "$out" | sed -n 's/^\[rank0\]://p' | grep -v '^csv' | grep -v 'bootstrap'
    echo "$out" | sed -n 's/^\[rank0\]:csv,//p' >> "$csv"
  done
done
echo
sort -u -r "$csv" | sed 's/^/csv,/'
