#!/usr/bin/env bash
# Probe speed: `airlock-node probe` against the tools an operator would otherwise run on a node,
# on this machine in one run: Debian's `lshw -json -quiet` and hwloc's `lstopo --of xml`. Also
# the probe's time and JSON size on the largest captured fixture. A report, not a test.
#
# Usage: tests/bench/probe_bench.sh   (env: NODE=path/to/airlock-node, RUNS=20, FIXTURES=dir)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE=${NODE:-$ROOT/build/probes/airlock-node}
RUNS=${RUNS:-20}
FIXTURES=${FIXTURES:-$ROOT/build/probes/fixtures/hwloc}
[[ -x $NODE ]] || { echo "probe_bench: no airlock-node at $NODE" >&2; exit 2; }
for t in lshw lstopo; do
  command -v "$t" >/dev/null || { echo "probe_bench: $t is missing (apt-get install lshw hwloc)" >&2; exit 2; }
done

# Median wall time in ms of RUNS runs of a command (after one untimed warm-up run).
median_ms() {
  "$@" >/dev/null 2>&1 || true
  local times=() i s e
  for ((i = 0; i < RUNS; i++)); do
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    times+=($(((e - s) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}

probe=$(median_ms "$NODE" probe)
lshw=$(median_ms lshw -json -quiet)
lstopo=$(median_ms lstopo --of xml -)
echo "== this machine ($(nproc) cores), median of $RUNS runs =="
printf '%-34s %10s ms\n' "airlock-node probe" "$probe" "lshw -json -quiet" "$lshw" "lstopo --of xml" "$lstopo"
awk -v p="$probe" -v l="$lshw" -v t="$lstopo" 'BEGIN {
  printf "%-34s %10.1fx  %s\n", "lshw / airlock-node", l / p, (l / p >= 5 ? "PASS (aim >= 5x)" : "below the 5x aim");
  printf "%-34s %10.1fx  %s\n", "lstopo / airlock-node", t / p, (t / p > 1 ? "PASS (faster)" : "FAIL");
}'
echo "what each reports about GPUs/RDMA/PCIe links: airlock-node: gpus, accelerators, rdma ports (state, rate),"
echo "pci link current/max speed and width with a degraded flag; lshw and lstopo: neither reports link"
echo "training state against the maximum, nor RDMA port state and rate."

if [[ -d $FIXTURES ]]; then
  echo
  echo "== captured fixtures (probe --root) =="
  for d in "$FIXTURES"/*/; do
    name=$(basename "$d")
    ms=$(median_ms "$NODE" probe --root "$d")
    bytes=$("$NODE" probe --root "$d" | wc -c)
    pci=$("$NODE" probe --root "$d" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["pci"]) if isinstance(d["pci"], list) else 0)' 2>/dev/null || echo "?")
    printf '%-36s %8s ms  %8s bytes of JSON  %4s PCI devices\n' "$name" "$ms" "$bytes" "$pci"
  done
fi
