#!/usr/bin/env bash
# Installs what braid's build, tests and benchmarks need on Debian 12, and only
# what is missing. Idempotent; needs root (or sudo). CUDA and NCCL are used when
# present (they are not Debian packages here) and never required.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ ccache pkg-config git
  # libraries
  libabsl-dev libprotobuf-dev protobuf-compiler libgoogle-glog-dev libcli11-dev
  libopenblas-dev libssl-dev libcurl4-openssl-dev nlohmann-json3-dev
  libopenmpi-dev openmpi-bin
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev etcd-server etcd-client libgloo-dev
  procps psmisc iproute2
  # sanitizer and fuzzer builds, lint
  clang clang-tidy clang-format libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
