#!/usr/bin/env bash
# Rolling-upgrade overhead on simulated agents (tests/sim/simcluster, real sshd and the daemonless
# systemctl per node): install v1 of the example site (examples/site), then `airlock upgrade`
# to a v2 (bundle version 2, a changed testsvc binary) with batches 1,10%,100% and a global
# max_unavailable; compare the rolling phase's wall time with the health soak time the rollout
# had to wait (rollout.h soak_wait_seconds: per rollout phase, ceil(size / budget) * soak).
# Overhead = (rolling wall - soak wait) / soak wait (aim: under 10%). A report, not a test.
# Needs root.
#
# Usage: tests/bench/upgrade_bench.sh [AGENTS]   (default 100; env AIRLOCK, BUILD, SOAK (s, default 10),
#        BATCHES (default 1,10%,100%), MAX_UNAVAILABLE (default 10), CANARY (default 1),
#        SERVICES (systemd, the default, or airlock-node))
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD=${BUILD:-$ROOT/build}
AIRLOCK=${AIRLOCK:-$BUILD/installer/airlock}
SIM=$ROOT/tests/sim/simcluster
AGENTS=${1:-100}
SOAK=${SOAK:-10}
BATCHES=${BATCHES:-1,10%,100%}
MAXU=${MAX_UNAVAILABLE:-10}
CANARY=${CANARY:-1}

WORK=$(mktemp -d /var/tmp/airlock-upgrade-bench.XXXXXX)
cleanup() { "$SIM" down --dir "$WORK/cluster" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Inputs: v1 = the example site; v2 = the same with version 2 and a changed binary.
SITE=$ROOT/examples/site
flock /tmp/airlock-examples-site.lock bash -c "
  bash '$SITE/prepare.sh' '$BUILD' >/dev/null
  for d in '$WORK/v1' '$WORK/v2'; do
    mkdir -p \"\$d/build\"; cp '$SITE/build/airlock-testsvc' '$SITE/build/nvidia-test-layer.tar.gz' \"\$d/build/\"
    cp '$SITE/bundle.yaml' \"\$d/\"
  done"
printf '\nairlock-testsvc v2 (upgrade_bench)\n' >> "$WORK/v2/build/airlock-testsvc"
sed -i -e 's/^  version: 1$/  version: 2/' -e 's/release: "v1"/release: "v2"/' "$WORK/v2/bundle.yaml"
"$AIRLOCK" keygen -W -o "$WORK/ops" >/dev/null
"$AIRLOCK" bundle create -q -f "$WORK/v1/bundle.yaml" -o "$WORK/v1.airlock" --key "$WORK/ops.key"
"$AIRLOCK" bundle create -q -f "$WORK/v2/bundle.yaml" -o "$WORK/v2.airlock" --key "$WORK/ops.key"
# The shipped upgrade playbook with the agents' soak set to $SOAK seconds.
cp -r "$ROOT/playbooks" "$WORK/playbooks"
sed -i "s/deadline: 30s, soak: 3s/deadline: 60s, soak: ${SOAK}s/" "$WORK/playbooks/upgrade.yaml"
grep -q "soak: ${SOAK}s" "$WORK/playbooks/upgrade.yaml"

"$SIM" up --dir "$WORK/cluster" -n $((AGENTS + 1)) --fixture-all "$ROOT/tests/fixtures/nodes/synthetic/h100-8x-ndr" >/dev/null
INV=$WORK/cluster/inventory.yaml
# SERVICES=airlock-node: the units run by airlock-node's own supervisor instead of the simulator's
# daemonless systemctl (a Python script whose stop/restart take seconds under load), so the
# measurement is airlock's overhead rather than the simulator's.
if [[ ${SERVICES:-systemd} == airlock-node ]]; then
  sed -i '/^defaults:$/a\  vars: {airlock_services: airlock-node}' "$INV"
  grep -q "airlock_services: airlock-node" "$INV"
fi
skip=()
if "$AIRLOCK" install --help | grep -q -- --skip-validation; then skip=(--skip-validation); fi
s=$(date +%s%N)
"$AIRLOCK" install -i "$INV" "$WORK/v1.airlock" --pub "$WORK/ops.pub" --state "$WORK/state.db" -q "${skip[@]}" >/dev/null 2>"$WORK/install.err"
echo "install v1: $(( ($(date +%s%N) - s) / 1000000 )) ms for $AGENTS agents + 1 manager"

# Each JSON line of the upgrade gets the time it arrived (ms since the start).
s=$(date +%s%N)
"$AIRLOCK" upgrade -i "$INV" "$WORK/v2.airlock" --pub "$WORK/ops.pub" --state "$WORK/state.db" \
  --playbook "$WORK/playbooks/upgrade.yaml" --batches "$BATCHES" --canary "$CANARY" --max-unavailable "$MAXU" --json |
  python3 -c '
import sys, time
t0 = time.monotonic()
for line in sys.stdin:
    sys.stdout.write("%d %s" % ((time.monotonic() - t0) * 1000, line))
' > "$WORK/upgrade.tlog"
total=$(( ($(date +%s%N) - s) / 1000000 ))

python3 - "$WORK/upgrade.tlog" "$SOAK" "$total" <<'PY'
import json, math, sys
path, soak, total_ms = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
events = []
for line in open(path):
    t, _, rest = line.partition(" ")
    try:
        events.append((int(t), json.loads(rest)))
    except ValueError:
        pass
summary = next(j for _, j in events if j.get("type") == "summary")
roll = [(t, j) for t, j in events if j.get("type") == "rollout"]
starts = [(t, j) for t, j in roll if j["event"] == "start"]
groups = {}
for _, j in starts:
    groups[j["group"]] = groups.get(j["group"], 0) + 1
budget = roll[0][1]["max_unavailable"]
rounds = sum(math.ceil(n / budget) for n in groups.values())
soak_wait = rounds * soak
t_first = next(t for t, j in roll if j["event"] in ("layout", "resume"))
t_last = max(t for t, j in roll if j["event"] in ("ok", "failed", "down"))
wall = (t_last - t_first) / 1000.0
most = max(j["out_of_service"] for _, j in roll)
stage = {}
for _, j in events:
    if j.get("type") == "step" and j["action"] == "stage":
        stage[j["node"]] = stage.get(j["node"], 0) + j["bytes_sent"]
print("ok:", summary["ok"], "| reverted:", len(summary["reverted"]), "| down:", len(summary["down"]))
print("layout:", ", ".join(f"{g} {n}" for g, n in groups.items()), f"| max_unavailable {budget}, at most {most} out of service at once")
print(f"rolling phase: wall {wall:.1f} s; soak it had to wait {soak_wait:.0f} s ({rounds} rounds x {soak:g} s)")
print(f"overhead: {wall - soak_wait:.1f} s = {100 * (wall - soak_wait) / soak_wait:.0f}% of the soak wait "
      f"({(wall - soak_wait) / rounds:.2f} s per round: drain, stop, switch, start, first health answer, undrain)")
print(f"whole upgrade: {total_ms / 1000:.1f} s (stage, prepare and manager phases: {t_first / 1000:.1f} s)")
# Where a rolling node's time goes: mean duration per step of the rolling phase (the health
# step includes its soak), and each node's time from its start to its ok (steps, records, checks).
per = {}
phase = roll[0][1]["phase"]
for _, j in events:
    if j.get("type") == "step" and j["phase"] == phase:
        key = j["step"].split(".", 1)[1] if "." in j["step"] else j["step"]
        per.setdefault(key, []).append(j["duration_ms"])
print("mean ms per rolling step:", ", ".join(f"{k} {sum(v) / len(v):.0f}" for k, v in per.items()))
t_start = {j["node"]: t for t, j in starts}
node_s = [(t - t_start[j["node"]]) / 1000.0 for t, j in roll if j["event"] == "ok" and j["node"] in t_start]
mean_node = sum(node_s) / len(node_s)
ideal = rounds * mean_node
print(f"per node, start to ok: mean {mean_node:.2f} s (soak {soak:g} s, the rest: drain, stop, config, switch, "
      f"start, first health answer, undrain, records)")
print(f"scheduling: {rounds} rounds x {mean_node:.2f} s = {ideal:.1f} s ideal vs {wall:.1f} s wall "
      f"({100 * (wall - ideal) / ideal:+.1f}%)")
vals = sorted(stage.values())
print(f"stage bytes per node: min {vals[0]}, max {vals[-1]} (the changed testsvc blob only)")
PY
