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
  minisign umoci skopeo busybox-static zstd openssl time coreutils docker-registry apache2-utils tidy
  python3-jsonschema
  # a real container runtime: install_images_test loads images into it (rootful, its own storage)
  podman
  # the simulated cluster's daemonless systemctl (below) is a python3 script
  python3
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

# The daemonless systemctl (Debian package `systemctl`, a python3 script) that tests/sim/simcluster
# binds over /usr/bin/systemctl inside each simulated node, so services run there for real. It
# conflicts with systemd, so it is never installed on this machine: downloaded into a cache and
# unpacked into /opt/airlock-test/systemctl (tests need no network afterwards).
SIM_SYSTEMCTL_DIR=/opt/airlock-test/systemctl
SIM_DEB_CACHE=/var/cache/airlock/debs
if [[ ! -x $SIM_SYSTEMCTL_DIR/usr/bin/systemctl ]]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  sim_deb() { compgen -G "$SIM_DEB_CACHE/systemctl_*_all.deb" | sort -V | tail -n 1 || true; }
  $SUDO mkdir -p "$SIM_DEB_CACHE" "$(dirname "$SIM_SYSTEMCTL_DIR")"
  if [[ -z $(sim_deb) ]]; then
    echo "setup: downloading Debian's daemonless systemctl into $SIM_DEB_CACHE (not installed: it conflicts with systemd)" >&2
    # -o APT::Sandbox::User=root: the cache folder is root's; without it apt warns about _apt.
    if ! (cd "$SIM_DEB_CACHE" && $SUDO apt-get download -qq -o APT::Sandbox::User=root systemctl); then
      $SUDO apt-get update -qq || true
      (cd "$SIM_DEB_CACHE" && $SUDO apt-get download -qq -o APT::Sandbox::User=root systemctl) || {
        echo "setup: 'apt-get download systemctl' failed in $SIM_DEB_CACHE: the simulated cluster needs Debian's" \
             "daemonless systemctl (package systemctl, bookworm main). Put its .deb in $SIM_DEB_CACHE by hand, or" \
             "run the sim tests without services (they skip)." >&2
        exit 1
      }
    fi
  fi
  SIM_SYSTEMCTL_DEB=$(sim_deb)
  [[ -n $SIM_SYSTEMCTL_DEB ]] || { echo "setup: no systemctl_*_all.deb in $SIM_DEB_CACHE after apt-get download" >&2; exit 1; }
  [[ -x /usr/bin/python3 ]] || { echo "setup: /usr/bin/python3 is missing; the daemonless systemctl ($SIM_SYSTEMCTL_DEB) needs it (apt-get install python3)" >&2; exit 1; }
  SIM_TMP="$SIM_SYSTEMCTL_DIR.tmp.$$"
  $SUDO rm -rf "$SIM_TMP"
  $SUDO dpkg -x "$SIM_SYSTEMCTL_DEB" "$SIM_TMP" || { echo "setup: dpkg -x $SIM_SYSTEMCTL_DEB $SIM_TMP failed" >&2; exit 1; }
  /usr/bin/python3 "$SIM_TMP/usr/bin/systemctl" --version >/dev/null 2>&1 \
    || { echo "setup: the unpacked $SIM_TMP/usr/bin/systemctl does not run under /usr/bin/python3" >&2; exit 1; }
  $SUDO rm -rf "$SIM_SYSTEMCTL_DIR"
  $SUDO mv "$SIM_TMP" "$SIM_SYSTEMCTL_DIR"
  echo "setup: daemonless systemctl for the simulated cluster in $SIM_SYSTEMCTL_DIR/usr/bin/systemctl" >&2
fi

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
