#!/usr/bin/env bash
# airlock-node must be a static executable and, stripped, under 8 MiB (issue 4).
set -euo pipefail
BIN="$1"
desc="$(file -b "$BIN")"
case "$desc" in
  *"statically linked"*|*"static-pie linked"*) ;;
  *) echo "check_static: $BIN is not statically linked: $desc"; exit 1 ;;
esac
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
strip -o "$tmp" "$BIN"
size=$(stat -c %s "$tmp")
limit=$((8 * 1024 * 1024))
if [ "$size" -ge "$limit" ]; then
  echo "check_static: stripped $BIN is $size bytes, limit $limit"; exit 1
fi
echo "check_static: ok ($desc; stripped $size bytes)"
