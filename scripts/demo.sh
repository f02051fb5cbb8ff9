#!/usr/bin/env bash
# The main job, end to end as far as airlock exists today: install what is missing, build,
# make a signing key, create a signed bundle from examples/, verify, inspect and extract it,
# list and export its image for `docker load`, and probe this machine's hardware.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
bash "$ROOT/examples/prepare.sh"

AIRLOCK="$BUILD/installer/airlock"
DEMO="$BUILD/demo"
rm -rf "$DEMO" && mkdir -p "$DEMO"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$AIRLOCK" keygen -W -o "$DEMO/ops"
step "$AIRLOCK" bundle create -f "$ROOT/examples/bundle.yaml" -o "$DEMO/example.airlock" --key "$DEMO/ops.key"
step "$AIRLOCK" bundle verify "$DEMO/example.airlock" --pub "$DEMO/ops.pub"
step "$AIRLOCK" bundle inspect "$DEMO/example.airlock" --pub "$DEMO/ops.pub"
step "$AIRLOCK" bundle extract "$DEMO/example.airlock" -C "$DEMO/extracted" --pub "$DEMO/ops.pub"
step minisign -Vm "$DEMO/extracted/bundle.json" -p "$DEMO/ops.pub" -x "$(ls "$DEMO"/extracted/bundle.json.*.minisig)"
step "$AIRLOCK" images list "$DEMO/example.airlock" --pub "$DEMO/ops.pub"
step "$AIRLOCK" images export "$DEMO/example.airlock" example/busybox-httpd --pub "$DEMO/ops.pub" \
  --format docker-archive -o "$DEMO/busybox-httpd.docker.tar"
step skopeo inspect --format '{{.Digest}} {{.Architecture}} {{.Layers}}' "docker-archive:$DEMO/busybox-httpd.docker.tar"
step "$AIRLOCK" probe --local
echo
echo "demo: done; the bundle is $DEMO/example.airlock, its verified contents are in $DEMO/extracted"
