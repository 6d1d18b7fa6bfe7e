#!/usr/bin/env bash
# Installs what wmeta needs to build (and with `test`, to run the integration
# tests), from Debian 12 packages; skips what is already installed. Never installs
# libboost-dev: on Debian 12 it is Boost 1.74, which conflicts with the 1.81 packages
# wmeta uses.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  librocksdb-dev libflatbuffers-dev flatbuffers-compiler libzstd-dev
  libboost1.81-dev libboost-json1.81-dev
  libfmt-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

# `deps.sh test` adds what the integration tests run: real container engines
# (dockerd, podman) and the busybox their test image is made of.
if [[ "${1:-}" == test ]]; then
  packages+=(docker.io containerd runc busybox-static podman conmon tar)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
