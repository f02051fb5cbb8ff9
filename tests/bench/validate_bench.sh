#!/usr/bin/env bash
# Validation report speed and size: 1,000 nodes of facts generated from the synthetic fixtures
# (tests/fixtures/nodes/synthetic) and a real captured machine, with variations (most nodes
# clean H100 servers; some with a degraded link, an IB port in INIT, nouveau, another kernel,
# another driver, an odd MTU, a hung mount), then `airlock validate --facts DIR --html F --json F`
# timed (median of RUNS runs) and the report sizes printed. Aims: < 2 s, HTML < 5 MB.
# A report, not a test.
#
# Usage: tests/bench/validate_bench.sh   (env: AIRLOCK=path/to/airlock, NODES=1000, RUNS=5)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AIRLOCK=${AIRLOCK:-$ROOT/build/installer/airlock}
NODES=${NODES:-1000}
RUNS=${RUNS:-5}
[[ -x $AIRLOCK ]] || { echo "validate_bench: no airlock at $AIRLOCK" >&2; exit 2; }
command -v python3 >/dev/null || { echo "validate_bench: python3 is missing" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/facts"

python3 - "$ROOT/tests/fixtures/nodes/synthetic" "$WORK/facts" "$NODES" <<'EOF'
import json, sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
load = lambda name: json.load(open(f"{src}/{name}.expected.json"))
clean, degraded, init, nouveau = load("h100-8x-ndr"), load("h100-degraded-link"), load("ib-port-init"), load("nouveau")
for i in range(n):
    f = json.loads(json.dumps(clean))
    if i % 97 == 1: f = json.loads(json.dumps(degraded))
    if i % 89 == 2: f = json.loads(json.dumps(init))
    if i % 251 == 3: f = json.loads(json.dumps(nouveau))
    if i % 50 == 4: f["host"]["kernel_release"] = "5.15.0-119-generic"
    if i % 199 == 5: f["gpu_driver"]["nvidia_version"] = "550.54.15"
    if i % 71 == 6:
        for iface in f["net"]:
            if iface["name"] == "eno1np0": iface["mtu"] = 9000
    if i % 313 == 7:
        for m in f["mounts"]:
            if m["mount_point"] == "/home": m["space"] = {"error": "timeout"}
    for d in (f["rdma"] if isinstance(f["rdma"], list) else []):
        d["node_guid"] = f"{i:04x}:{d['node_guid'][5:]}"
    json.dump(f, open(f"{out}/gpu{i:04d}.json", "w"))
EOF

# Median wall time in ms of RUNS runs (after one untimed warm-up run).
median_ms() {
  "$@" >/dev/null 2>&1 || true
  local times=() i s e
  for ((i = 0; i < RUNS; i++)); do
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    times+=($(((e - s) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

facts_bytes=$(du -sb "$WORK/facts" | cut -f1)
ms=$(median_ms "$AIRLOCK" validate --facts "$WORK/facts" --html "$WORK/r.html" --json "$WORK/r.json" -q)
cpu=$( { TIMEFORMAT='%U+%S'; time "$AIRLOCK" validate --facts "$WORK/facts" --html "$WORK/r.html" --json "$WORK/r.json" -q >/dev/null 2>&1 || true; } 2>&1 )
"$AIRLOCK" validate --facts "$WORK/facts" --html "$WORK/r.html" --json "$WORK/r.json" --junit "$WORK/r.xml" -q && rc=0 || rc=$?
html=$(stat -c %s "$WORK/r.html")
echo "== $NODES nodes ($((facts_bytes / 1024 / 1024)) MiB of facts JSON), this machine ($(nproc) cores), median of $RUNS runs =="
printf '%-52s %10s ms  %s\n' "airlock validate --facts DIR --html F --json F" "$ms" \
  "$(awk -v m="$ms" 'BEGIN { print (m < 2000 ? "PASS (aim < 2 s)" : "above the 2 s aim") }')"
printf '%-52s %10s s\n' "  CPU time (user+sys) of one run" "$(echo "$cpu" | awk -F+ '{printf "%.2f", $1 + $2}')"
printf '%-52s %10s bytes  %s\n' "HTML report" "$html" "$(awk -v h="$html" 'BEGIN { print (h < 5242880 ? "PASS (aim < 5 MB)" : "above the 5 MB aim") }')"
printf '%-52s %10s bytes\n' "JSON report" "$(stat -c %s "$WORK/r.json")" "JUnit XML" "$(stat -c %s "$WORK/r.xml")"
echo "exit code $rc (2: some node fails)"
if command -v tidy >/dev/null; then
  tidy -errors -q "$WORK/r.html" && echo "tidy -errors: clean" || echo "tidy -errors: ERRORS"
fi
