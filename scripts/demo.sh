#!/usr/bin/env bash
# The main job, end to end as far as airlock exists today: install what is missing, build,
# make a signing key, create a signed bundle from examples/, verify, inspect and extract it,
# list and export its image for `docker load`, probe this machine's hardware; then, on a
# simulated cluster (1 manager + 6 GPU agents, each a real sshd in its own namespaces; needs
# root), run a command everywhere, probe every node, write the hardware validation report, and
# install the example site (examples/site) with its services, twice (the second run is a no-op).
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

SIM="$ROOT/tests/sim/simcluster"
if why=$("$SIM" check 2>&1) && [ "$why" = ok ]; then
  ninja -C "$BUILD" airlock-testsvc >/dev/null
  bash "$ROOT/examples/site/prepare.sh" "$BUILD" >/dev/null
  CLUSTER="$DEMO/cluster"
  fx="$ROOT/tests/fixtures/nodes/synthetic"
  trap '"$SIM" down --dir "$CLUSTER" >/dev/null 2>&1 || true' EXIT
  step "$SIM" up --dir "$CLUSTER" -n 7 --fixture-all "$fx/h100-8x-ndr" --fixture node005="$fx/h100-degraded-link" \
    --fixture node006="$fx/ib-port-init" --fixture node001="$fx/gaudi2"
  INV="$CLUSTER/inventory.yaml"
  step "$AIRLOCK" inventory show -i "$INV"
  step "$AIRLOCK" exec -i "$INV" -- sh -c 'ls /sys/class/infiniband | wc -l'
  step "$AIRLOCK" probe -i "$INV" --state "$DEMO/state.db"
  step "$AIRLOCK" validate -i "$INV" --state "$DEMO/state.db" --html "$DEMO/report.html" --json "$DEMO/report.json" || true
  step "$AIRLOCK" bundle create -q -f "$ROOT/examples/site/bundle.yaml" -o "$DEMO/site.airlock" --key "$DEMO/ops.key"
  step "$AIRLOCK" install -i "$INV" "$DEMO/site.airlock" --pub "$DEMO/ops.pub" --state "$DEMO/state.db" --plan
  step "$AIRLOCK" install -i "$INV" "$DEMO/site.airlock" --pub "$DEMO/ops.pub" --state "$DEMO/state.db"
  step "$AIRLOCK" install -i "$INV" "$DEMO/site.airlock" --pub "$DEMO/ops.pub" --state "$DEMO/state.db" -q
  step "$AIRLOCK" status --state "$DEMO/state.db"
  if command -v chromium >/dev/null; then
    step chromium --headless --no-sandbox --screenshot="$DEMO/report.png" --window-size=1400,2000 "file://$DEMO/report.html"
  fi
else
  echo "demo: skipping the simulated cluster: $why"
fi
echo
echo "demo: done; the bundle is $DEMO/example.airlock, its verified contents are in $DEMO/extracted;"
echo "      the validation report is $DEMO/report.html (when the cluster part ran)"
