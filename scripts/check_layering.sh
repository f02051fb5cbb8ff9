#!/usr/bin/env bash
# Fails when a library includes a header from a layer above it (docs/design.md: dependencies
# point down: common <- bundle <- images; common <- probes; drivers -> probes, bundle;
# installer -> everything). CMake states the link graph; this guards the includes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
declare -A forbidden=(
  [common]="bundle images probes drivers installer"
  [bundle]="images probes drivers installer"
  [images]="probes drivers installer"
  [probes]="bundle images drivers installer"
  [drivers]="images installer"
  [node]="bundle images drivers installer probes"
)
status=0
for lib in "${!forbidden[@]}"; do
  [ -d "$ROOT/$lib" ] || continue
  for up in ${forbidden[$lib]}; do
    if hits=$(grep -rnE "#include \"$up/" "$ROOT/$lib" --include='*.h' --include='*.cc' 2>/dev/null); then
      echo "layering: $lib/ must not include $up/:"
      echo "$hits"
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "layering: ok"
exit $status
