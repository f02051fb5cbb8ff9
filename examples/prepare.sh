#!/usr/bin/env bash
# Builds the example's real inputs into examples/build/ (git-ignored):
#   - oci/            an OCI image layout made by umoci: busybox-static as a tiny image
#   - busybox         Debian's static busybox, the example service binary
#   - ibverbs-providers.deb  a real driver package (RDMA NIC user-space drivers) from Debian
# Idempotent: skips what is already there.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/build"
mkdir -p "$OUT"
# Tests run in parallel and may all ask for the inputs at once: one preparer at a time.
exec 9>"$OUT/.lock"
flock 9

if [ ! -f "$OUT/busybox" ]; then
  cp /bin/busybox "$OUT/busybox"
fi

if [ ! -f "$OUT/oci/index.json" ]; then
  rm -rf "$OUT/oci" "$OUT/rootfs-bundle"
  umoci init --layout "$OUT/oci"
  umoci new --image "$OUT/oci:1.35"
  umoci unpack --rootless --image "$OUT/oci:1.35" "$OUT/rootfs-bundle" >/dev/null
  mkdir -p "$OUT/rootfs-bundle/rootfs/bin"
  cp /bin/busybox "$OUT/rootfs-bundle/rootfs/bin/busybox"
  ln -sf busybox "$OUT/rootfs-bundle/rootfs/bin/sh"
  umoci repack --image "$OUT/oci:1.35" "$OUT/rootfs-bundle" >/dev/null
  umoci config --image "$OUT/oci:1.35" --config.entrypoint /bin/busybox --config.cmd httpd \
    --config.cmd=-f --config.cmd=-p --config.cmd=8080 >/dev/null
  umoci gc --layout "$OUT/oci"
  rm -rf "$OUT/rootfs-bundle"
fi

if [ ! -f "$OUT/ibverbs-providers.deb" ]; then
  cached=$(ls /var/cache/apt/archives/ibverbs-providers_*.deb 2>/dev/null | head -n1 || true)
  if [ -n "$cached" ]; then
    cp "$cached" "$OUT/ibverbs-providers.deb"
  else
    (cd "$OUT" && apt-get download ibverbs-providers >/dev/null 2>&1 ||
       { apt-get update -qq && apt-get download ibverbs-providers >/dev/null; })
    mv "$OUT"/ibverbs-providers_*.deb "$OUT/ibverbs-providers.deb"
  fi
fi
echo "examples: inputs ready in $OUT" >&2
