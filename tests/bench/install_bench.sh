#!/usr/bin/env bash
# Install speed on simulated agents (tests/sim/simcluster, real sshd and the daemonless
# systemctl per node): wall time of a first `airlock install` of the example site
# (examples/site: the test manager/agent pair and a test driver layer) and of a no-op re-run,
# and the bytes sent to each node against the bytes of the blobs that node needs (aim: each
# blob exactly once). A report, not a test. Needs root.
#
# Usage: tests/bench/install_bench.sh [AGENTS]   (default 100; env AIRLOCK, BUILD)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD=${BUILD:-$ROOT/build}
AIRLOCK=${AIRLOCK:-$BUILD/installer/airlock}
SIM=$ROOT/tests/sim/simcluster
AGENTS=${1:-100}
bash "$ROOT/examples/site/prepare.sh" "$BUILD" >/dev/null

WORK=$(mktemp -d /var/tmp/airlock-install-bench.XXXXXX)
cleanup() { "$SIM" down --dir "$WORK/cluster" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$AIRLOCK" keygen -W -o "$WORK/ops" >/dev/null
"$AIRLOCK" bundle create -q -f "$ROOT/examples/site/bundle.yaml" -o "$WORK/site.airlock" --key "$WORK/ops.key"
"$SIM" up --dir "$WORK/cluster" -n $((AGENTS + 1)) --fixture-all "$ROOT/tests/fixtures/nodes/synthetic/h100-8x-ndr" >/dev/null
INV=$WORK/cluster/inventory.yaml
# --skip-validation: the simulated nodes carry fixture facts; the benchmark measures the install.
run() { "$AIRLOCK" install -i "$INV" "$WORK/site.airlock" --pub "$WORK/ops.pub" --state "$WORK/state.db" --json --skip-validation "$@"; }

s=$(date +%s%N); run > "$WORK/first.jsonl"; first=$(( ($(date +%s%N) - s) / 1000000 ))
s=$(date +%s%N); run > "$WORK/again.jsonl"; again=$(( ($(date +%s%N) - s) / 1000000 ))

# Bytes per node: what the steps sent (blobs, rendered files) vs what the stage step needed.
python3 - "$WORK/first.jsonl" "$WORK/again.jsonl" <<'PY'
import json, sys
def load(p):
    steps = [json.loads(l) for l in open(p) if l.startswith('{"action"')]
    return steps
first, again = load(sys.argv[1]), load(sys.argv[2])
blobs = {}
for s in first:
    if s["action"] == "stage":
        blobs[s["node"]] = s["bytes_sent"]
other = {}
for s in first:
    if s["action"] != "stage":
        other[s["node"]] = other.get(s["node"], 0) + s["bytes_sent"]
vals = sorted(blobs.values())
print(f"blob bytes sent per node: min {vals[0]}, max {vals[-1]} (nodes: {len(vals)})")
print(f"other bytes per node (rendered config and units): max {max(other.values())}")
changed = sum(1 for s in again if s["status"] == "changed")
print(f"re-run: {changed} step(s) changed, {sum(s['bytes_sent'] for s in again)} bytes sent")
PY
echo "first install: $((first / 1000)).$(( (first % 1000) / 100 )) s; no-op re-run: $((again / 1000)).$(( (again % 1000) / 100 )) s (aim < 10 s) for $AGENTS agents + 1 manager"
grep -h '"type":"summary"' "$WORK/first.jsonl" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("first run ok:", d["ok"], "changed", d["changed"])'
