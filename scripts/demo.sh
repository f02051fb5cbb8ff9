#!/usr/bin/env bash
# The main job, end to end as far as airlock exists today: install what is missing, build,
# make a signing key, create a signed bundle from examples/, verify, inspect and extract it,
# list and export its image for `docker load`, probe this machine's hardware; install the
# single-node example (examples/local: this machine alone, no SSH, under the prefix
# build/demo/local/root, as root or not), show the manager listing its agent, install again (a
# no-op), uninstall (the services stop); then, on a simulated cluster (1 manager + 6 GPU agents,
# each a real sshd in its own namespaces; needs root), run a command everywhere, probe every
# node, write the hardware validation report, and install the example site (examples/site) with
# its services, twice (the second run is a no-op).
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

# This machine alone (examples/local): a `local: true` host (no SSH) with the manager and agent
# roles, everything under a prefix in build/demo/local, so no root is needed and nothing outside
# it is touched; airlock-node's own supervisor runs the unit files (no systemd needed).
ninja -C "$BUILD" airlock-testsvc airlock-node >/dev/null
bash "$ROOT/examples/site/prepare.sh" "$BUILD" >/dev/null
LOCAL="$DEMO/local"
PREFIX="$LOCAL/root"
NODE="$BUILD/probes/airlock-node"
mkdir -p "$PREFIX"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
MPORT=18081
while ! port_free "$MPORT" || ! port_free $((MPORT + 1)); do MPORT=$((MPORT + 2)); done
APORT=$((MPORT + 1))
# The example names the prefix /tmp/airlock-local and ports 18081/18082: this copy uses ours.
sed -e "s|/tmp/airlock-local|$PREFIX|g" -e "s/manager_port: 18081/manager_port: $MPORT/" \
  -e "s/agent_port: 18082/agent_port: $APORT/" "$ROOT/examples/local/inventory.yaml" > "$LOCAL/inventory.yaml"
stop_local() {
  for s in airlock-testsvc-agent airlock-testsvc-manager; do
    "$NODE" service stop "$s" --root-dir "$PREFIX" >/dev/null 2>&1 || true
  done
}
trap stop_local EXIT
http_get() {  # http_get PORT PATH: the body (bash's /dev/tcp, no curl needed)
  exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3 &&
    sed '1,/^\r$/d' <&3 && echo && exec 3<&-
}
# --skip-validation: this machine is a workstation, not a GPU node that must pass the site's
# hardware rules (it may have no GPU at all); the findings are still in the validation report.
LINSTALL=("$AIRLOCK" install -i "$LOCAL/inventory.yaml" "$LOCAL/local.airlock" --pub "$DEMO/ops.pub"
  --state "$LOCAL/state.db" --skip-validation)
step "$AIRLOCK" bundle create -q -f "$ROOT/examples/local/bundle.yaml" -o "$LOCAL/local.airlock" --key "$DEMO/ops.key"
step "$AIRLOCK" inventory show -i "$LOCAL/inventory.yaml"
step "${LINSTALL[@]}"
step http_get "$MPORT" /agents
step "$NODE" service status airlock-testsvc-manager --root-dir "$PREFIX"
step "${LINSTALL[@]}" -q
step "${LINSTALL[@]}" -q --playbook "$ROOT/playbooks/uninstall.yaml"
step "$NODE" service is-active airlock-testsvc-manager --root-dir "$PREFIX" || true

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
  # The install validates first and would refuse: these nodes carry deliberately broken fixtures
  # (a degraded PCIe link, an IB port stuck in INIT) for the report above. --plan lists what it
  # found; the demo then installs anyway with --skip-validation (which logs every finding).
  step "$AIRLOCK" install -i "$INV" "$DEMO/site.airlock" --pub "$DEMO/ops.pub" --state "$DEMO/state.db" --plan
  step "$AIRLOCK" install -i "$INV" "$DEMO/site.airlock" --pub "$DEMO/ops.pub" --state "$DEMO/state.db" --skip-validation
  step "$AIRLOCK" install -i "$INV" "$DEMO/site.airlock" --pub "$DEMO/ops.pub" --state "$DEMO/state.db" --skip-validation -q
  # A v2 of the site (bundle version 2, a changed service binary) rolled out: the canary, then
  # batches, never more than 2 agents out of service; then the whole site taken back to v1.
  V2="$DEMO/site-v2"
  rm -rf "$V2" && mkdir -p "$V2/build"
  cp "$ROOT/examples/site/build/airlock-testsvc" "$ROOT/examples/site/build/nvidia-test-layer.tar.gz" "$V2/build/"
  cp "$ROOT/examples/site/bundle.yaml" "$V2/"
  printf '\nairlock-testsvc v2 (demo)\n' >> "$V2/build/airlock-testsvc"
  sed -i -e 's/^  version: 1$/  version: 2/' -e 's/release: "v1"/release: "v2"/' "$V2/bundle.yaml"
  step "$AIRLOCK" bundle create -q -f "$V2/bundle.yaml" -o "$DEMO/site-v2.airlock" --key "$DEMO/ops.key"
  step "$AIRLOCK" upgrade -i "$INV" "$DEMO/site-v2.airlock" --pub "$DEMO/ops.pub" --state "$DEMO/state.db" \
    --batches 1,50% --max-unavailable 2
  step "$AIRLOCK" rollback -i "$INV" --to site-1 --state "$DEMO/state.db" --max-unavailable 2 -q
  step "$AIRLOCK" status --state "$DEMO/state.db"
  if command -v chromium >/dev/null; then
    step chromium --headless --no-sandbox --screenshot="$DEMO/report.png" --window-size=1400,2000 "file://$DEMO/report.html" 2>/dev/null
  fi
else
  echo "demo: skipping the simulated cluster: $why"
fi
echo
echo "demo: done; the bundle is $DEMO/example.airlock, its verified contents are in $DEMO/extracted;"
echo "      the single-node install is under $PREFIX (uninstalled: its services are stopped);"
echo "      the validation report is $DEMO/report.html (when the cluster part ran)"
