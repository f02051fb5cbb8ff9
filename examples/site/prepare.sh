#!/usr/bin/env bash
# Builds the example site's inputs into examples/site/build/ (git-ignored):
#   - airlock-testsvc          the test manager/agent binary (ninja -C BUILD airlock-testsvc)
#   - nvidia-test-layer.tar.gz the test driver layer (driver-layer/ with install.sh at its root)
# Usage: examples/site/prepare.sh [BUILD_DIR]   (default: build/ at the repository root)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="$HERE/build"
mkdir -p "$OUT"
bin="$(find "$BUILD" -name airlock-testsvc -type f -perm -u+x | head -n1)"
if [ -z "$bin" ]; then
  echo "prepare.sh: no airlock-testsvc under $BUILD (run: ninja -C $BUILD airlock-testsvc)" >&2
  exit 1
fi
cp "$bin" "$OUT/airlock-testsvc"
# Reproducible: fixed owner, order and mtime.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$HERE/driver-layer" -czf \
  "$OUT/nvidia-test-layer.tar.gz" install.sh
echo "prepared $OUT"
