#!/usr/bin/env bash
# Quick start, part 2 (and CI): installs what is missing, builds every CI
# configuration and runs every test except those labelled `long`.
#
#   1. asan: clang, ASan+UBSan, -Wthread-safety, -Werror, libFuzzer targets
#   2. tsan: clang, ThreadSanitizer, the runtime and tcp-collectives tests
#   3. ci:   Release, CUDA/NCCL/MPI when found, -Werror; all tests, including
#            the out-of-tree find_package(braid) consumer
# The release run goes last so that ctest's summary is the last line printed.
# BRAID_TEST_CONFIGS="ci" runs only the listed configurations.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-2}"
configs="${BRAID_TEST_CONFIGS:-asan tsan ci}"
start=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - start ))s] $*"; }

for config in $configs; do
  stamp "configure + build: $config"
  cmake --preset "$config" >/dev/null
  case "$config" in
    tsan)
      # TSan covers the runtime and the tcp collectives (DECISIONS.md).
      targets=$(ninja -C build/tsan -t targets all 2>/dev/null \
        | grep -oE '^(runtime_[a-z0-9_]+_test|tcp_[a-z0-9_]+_test|run_ranks_test):' | tr -d ':' | sort -u)
      cmake --build build/tsan --target $targets
      stamp "test: tsan"
      ctest --test-dir build/tsan -R '^(runtime_|tcp_|run_ranks_)' -LE long \
        --output-on-failure --timeout 900
      ;;
    *)
      cmake --build --preset "$config"
      stamp "test: $config"
      ctest --preset "$config" -LE long --timeout 900
      ;;
  esac
done
