#!/usr/bin/env bash
# Installs what airlock needs to build and test on Debian 12 (only what is missing), then
# configures and builds it in build/. Sourced by demo.sh and test.sh; safe to re-run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${AIRLOCK_BUILD_DIR:-$ROOT/build}"

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config file
  # libraries (docs/style.md: Debian packages only, never downloaded at build time)
  libarchive-dev libzstd-dev libsodium-dev libssl-dev libyaml-cpp-dev libssh-dev
  libboost-dev libboost-filesystem-dev libspdlog-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev libcli11-dev libsqlite3-dev libcurl4-openssl-dev
  # real tools the tests use as independent checkers, and the example's inputs
  minisign umoci skopeo busybox-static zstd openssl time coreutils docker-registry apache2-utils
  python3-jsonschema
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
