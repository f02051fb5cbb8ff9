#!/usr/bin/env bash
# Fleet speed on simulated nodes (tests/sim/simcluster: one real sshd per node, each in its own
# network and mount namespace), in one run and against the tools an operator would otherwise
# use on the same nodes: `airlock exec -- true` and `airlock probe` (full facts) against
# `pdsh -R ssh -w ... true` (Debian's pdsh) and `ansible all -m setup` (Debian's ansible-core).
# Prints wall times, ratios and airlock's peak RSS for each cluster size. A report, not a test.
#
# Usage: tests/bench/fleet_bench.sh [SIZES]   (default "10 50 100"; env AIRLOCK, NODE, RUNS=3,
#        ANSIBLE_RUNS=1 (it is slow), FANOUT=64, FIXTURE=dir bound over /sys on every node, NO_ANSIBLE=1)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AIRLOCK=${AIRLOCK:-$ROOT/build/installer/airlock}
NODE=${NODE:-$ROOT/build/probes/airlock-node}
SIM=$ROOT/tests/sim/simcluster
RUNS=${RUNS:-3}
FANOUT=${FANOUT:-64}
FIXTURE=${FIXTURE:-$ROOT/tests/fixtures/nodes/synthetic/h100-8x-ndr}
SIZES=${1:-"10 50 100"}
[[ -x $AIRLOCK && -x $NODE ]] || { echo "fleet_bench: build airlock and airlock-node first" >&2; exit 2; }
command -v pdsh >/dev/null || { echo "fleet_bench: pdsh missing (apt-get install pdsh)" >&2; exit 2; }
if [[ -z ${NO_ANSIBLE:-} ]] && ! command -v ansible >/dev/null; then
  echo "fleet_bench: ansible missing (apt-get install ansible-core) or set NO_ANSIBLE=1" >&2; exit 2
fi

WORK=$(mktemp -d /var/tmp/airlock-fleet-bench.XXXXXX)
cleanup() { "$SIM" down --dir "$WORK/cluster" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Median wall seconds of RUNS runs (after one untimed warm-up run).
median_s() {
  "$@" >/dev/null 2>&1 || true
  local times=() i s e
  for ((i = 0; i < RUNS; i++)); do
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    times+=($(((e - s) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1000}'
}

peak_rss_mib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1/1024}'; }

printf '%-6s %9s %9s %9s %9s %9s | %12s %12s %14s | %9s\n' nodes "exec" probe pdsh probe1st ansible \
  "probe/pdsh" "exec/pdsh" "ansible/probe" "RSS MiB"
for n in $SIZES; do
  C=$WORK/cluster
  "$SIM" up --dir "$C" -n "$n" --fixture-all "$FIXTURE" >/dev/null
  inv=$C/inventory.yaml
  ips=$(awk '/address:/ {gsub(/[,}]/, "", $3); print $3}' "$inv" | paste -sd, -)
  export PDSH_SSH_ARGS_APPEND="-i $C/id_ed25519 -o UserKnownHostsFile=$C/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
  # First probe: includes sending airlock-node to every node.
  s=$(date +%s%N)
  "$AIRLOCK" -q probe -i "$inv" --state "$WORK/state-$n.db" --node-binary "$NODE" --fanout "$FANOUT" >/dev/null
  first=$(awk -v d=$(( $(date +%s%N) - s )) 'BEGIN {printf "%.3f", d/1e9}')
  t_exec=$(median_s "$AIRLOCK" -q exec -i "$inv" --fanout "$FANOUT" -- true)
  t_probe=$(median_s "$AIRLOCK" -q probe -i "$inv" --state "$WORK/state-$n.db" --node-binary "$NODE" --fanout "$FANOUT")
  t_pdsh=$(median_s pdsh -R ssh -f "$FANOUT" -l root -w "$ips" true)
  rss=$(peak_rss_mib "$AIRLOCK" -q probe -i "$inv" --state "$WORK/state-$n.db" --node-binary "$NODE" --fanout "$FANOUT")
  t_ans=-
  if [[ -z ${NO_ANSIBLE:-} ]]; then
    {
      echo "[all]"
      awk '/^  [a-z]/ && /address:/ {name=$1; sub(":", "", name); addr=$3; gsub(/[,}]/, "", addr); print name " ansible_host=" addr}' "$inv"
      echo "[all:vars]"
      echo "ansible_user=root"
      echo "ansible_ssh_private_key_file=$C/id_ed25519"
      echo "ansible_ssh_common_args='-o UserKnownHostsFile=$C/known_hosts -o StrictHostKeyChecking=yes'"
      echo "ansible_python_interpreter=/usr/bin/python3"
    } > "$WORK/hosts.ini"
    t_ans=$(RUNS=${ANSIBLE_RUNS:-1} ANSIBLE_HOST_KEY_CHECKING=True median_s ansible all -i "$WORK/hosts.ini" -f "$FANOUT" -m setup)
  fi
  awk -v n="$n" -v e="$t_exec" -v p="$t_probe" -v d="$t_pdsh" -v f="$first" -v a="$t_ans" -v r="$rss" 'BEGIN {
    ap = (a == "-") ? "-" : sprintf("%.1fx", a / p);
    printf "%-6s %9.3f %9.3f %9.3f %9.3f %9s | %11.2fx %11.2fx %14s | %9s\n", n, e, p, d, f, a, p / d, e / d, ap, r }'
  "$SIM" down --dir "$C" >/dev/null
done
echo "times in seconds, median of $RUNS (fanout $FANOUT); probe1st includes sending airlock-node to every node."
echo "aims: probe/pdsh <= 1.2, ansible/probe >= 10, RSS < 200 MiB"
