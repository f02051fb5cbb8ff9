#!/usr/bin/env bash
# Throughput and memory benchmark for `airlock images push` against skopeo, measured in the same
# run on the same machine, each push into a fresh local registry (Debian's docker-registry,
# CNCF distribution, plain http on 127.0.0.1, filesystem storage in the work dir):
#
#   airlock images push B --pub K.pub --registry 127.0.0.1:PORT --insecure
#     vs  skopeo copy oci:DIR:imgN docker://127.0.0.1:PORT/bench/imgN:1, N = 1..4, one after
#         another                                                         (target: ratio <= 1.0)
#   peak RSS of airlock images push < 256 MiB
#
# The corpus is one OCI layout with four images (tags img1..img4) that share a base layer
# (~30% of SIZE_MB) and each have their own layer (~17% each), SIZE_MB of distinct blob bytes in
# all; the bundle holds the same four images. airlock verifies the whole bundle (signature, sha256
# of every byte) before it pushes; skopeo does not verify its input up front. That is part of
# airlock's cost and stays in the timing; the row `airlock images list` (verification alone) shows
# how much it is.
#
# This is a report, not a test: it exits 0 whatever the ratios are, and non-zero only when a
# command fails, a push leaves the registry with the wrong manifests, or the corpus cannot be
# built. See tests/bench/README.md.
#
# Usage: tests/bench/images_bench.sh [WORK_DIR]
# Environment:
#   AIRLOCK   airlock binary          (default: build/installer/airlock of this checkout)
#   SIZE_MB   distinct blob bytes in MiB (default: 1024)
#   RUNS      timed rounds            (default: 3; the commands run interleaved, one untimed
#             warm-up round first, medians reported)
#   PUSH_ARGS extra arguments for `airlock images push`, e.g. "--chunk 256M" (default: none)
#   REGISTRY_BIN  the registry binary (default: /usr/bin/docker-registry; apt-get install -y
#             docker-registry)
#   KEEP=1    keep the work dir (only applies to the default mktemp dir)
#   PREPARE_ONLY=1  only build WORK/corpus-$SIZE_MB, the key WORK/benchkey.{key,pub}, the bundle
#             WORK/bench-$SIZE_MB.bundle and the registry config WORK/registry.yml, then exit
#             (for profiling by hand; pass a WORK_DIR so that they are kept)
set -euo pipefail

AIRLOCK=${AIRLOCK:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/installer/airlock}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
PUSH_ARGS=${PUSH_ARGS:-}
REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}
RSS_LIMIT_MIB=256
NIMAGES=4

die() { echo "images_bench: $*" >&2; exit 2; }

[[ -x $AIRLOCK ]] || die "airlock binary not found at $AIRLOCK (set AIRLOCK=...)"
[[ $SIZE_MB =~ ^[0-9]+$ && $SIZE_MB -ge 16 ]] || die "SIZE_MB must be an integer >= 16"
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || die "RUNS must be an integer >= 1"
for tool in skopeo curl openssl sha256sum awk sort head du; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
[[ -x $REGISTRY_BIN ]] || die "registry not found at $REGISTRY_BIN (apt-get install -y docker-registry, or set REGISTRY_BIN=...)"
TIME=/usr/bin/time
[[ -x $TIME ]] || die "GNU time is missing (apt-get install -y time)"
AIRLOCK=$(cd "$(dirname "$AIRLOCK")" && pwd)/$(basename "$AIRLOCK")
read -r -a PUSH_EXTRA <<<"$PUSH_ARGS"

if [[ $# -ge 1 ]]; then
  WORK=$1
  mkdir -p "$WORK"
  WORK=$(cd "$WORK" && pwd)
  CLEAN_WORK=0
else
  WORK=$(mktemp -d /var/tmp/airlock-ibench.XXXXXX)
  CLEAN_WORK=1
  [[ ${KEEP:-0} != 1 ]] || { CLEAN_WORK=0; echo "work dir kept: $WORK" >&2; }
fi

REG_PID=""
stop_registry() {
  if [[ -n $REG_PID ]]; then
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
    REG_PID=""
  fi
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  stop_registry
  if ((CLEAN_WORK)); then rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { echo "[ibench $(date +%H:%M:%S)] $*" >&2; }

# ---- corpus ------------------------------------------------------------------------------------

sha_hex() { openssl dgst -sha256 -r "$1" | awk '{print $1}'; }
fsize() { stat -c %s "$1"; }

# Deterministic incompressible bytes: AES-256-CTR keystream with a key derived from a label.
random_bytes() {  # LABEL NBYTES
  local key iv
  key=$(printf '%s' "key:$1" | sha256sum | awk '{print $1}')
  iv=$(printf '%s' "iv:$1" | sha256sum | awk '{print substr($1, 1, 32)}')
  openssl enc -aes-256-ctr -K "$key" -iv "$iv" </dev/zero 2>/dev/null | head -c "$2" || true  # head ends the pipe
}

# Store stdin as a blob of the OCI layout and print "DIGEST SIZE".
put_blob() {  # LAYOUT_DIR < bytes
  local tmp="$1/blobs/sha256/.incoming" hex
  cat >"$tmp"
  hex=$(sha_hex "$tmp")
  mv "$tmp" "$1/blobs/sha256/$hex"
  echo "sha256:$hex $(fsize "$1/blobs/sha256/$hex")"
}

# A layer: a gzip member header followed by random bytes (stored and pushed as they are).
put_layer() {  # LAYOUT_DIR LABEL NBYTES
  local desc
  desc=$({ printf '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03'; random_bytes "$2" $(($3 - 10)); } | put_blob "$1")
  [[ ${desc#* } -eq $3 ]] || die "layer $2: got ${desc#* } bytes, wanted $3"
  echo "$desc"
}

layer_json() {  # "DIGEST SIZE"
  printf '{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}' "${1% *}" "${1#* }"
}

# make_corpus DIR SIZE_MIB: DIR/oci (OCI layout, tags img1..img4), DIR/bundle.yaml,
# DIR/expected (one "TAG MANIFEST_DIGEST" line per image).
make_corpus() {
  local dir=$1 mib=$2
  local total=$((mib * 1048576))
  local base_size=$((total * 3 / 10)) rest own i
  rest=$((total - base_size))
  rm -rf "$dir"
  mkdir -p "$dir/oci/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}\n' >"$dir/oci/oci-layout"

  # Sizes are deliberately not multiples of 512. The own layers are 0.88, 0.96, 1.04 and 1.12
  # times rest/4 (at 1 GiB: about 158, 172, 186 and 201 MiB; the base about 307 MiB).
  local base
  base=$(put_layer "$dir/oci" "base" $((base_size + 4093)))
  local index="" cfg manifest
  : >"$dir/expected"
  for ((i = 1; i <= NIMAGES; i++)); do
    own=$((rest * (88 + 8 * (i - 1)) / 400 + 4093 * i + 7))
    local layer
    layer=$(put_layer "$dir/oci" "own-$i" "$own")
    cfg=$(printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/true"],"Labels":{"bench":"img%s"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
      "$i" "$(printf 'diff-base' | sha256sum | awk '{print $1}')" "$(printf 'diff-%s' "$i" | sha256sum | awk '{print $1}')" |
      put_blob "$dir/oci")
    manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s,%s]}' \
      "${cfg% *}" "${cfg#* }" "$(layer_json "$base")" "$(layer_json "$layer")" | put_blob "$dir/oci")
    index+="${index:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"${manifest% *}\",\"size\":${manifest#* },\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"img$i\"}}"
    echo "img$i ${manifest% *}" >>"$dir/expected"
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}\n' "$index" >"$dir/oci/index.json"

  {
    cat <<EOF
# Generated by tests/bench/images_bench.sh ($mib MiB of distinct blobs, $NIMAGES images)
bundle:
  name: airlock-images-bench
  channel: bench
  version: 1
  release: "ibench-$mib"
  expires_in_days: 3650
  targets:
    - {os: linux, architecture: amd64, product: bench}
components:
EOF
    for ((i = 1; i <= NIMAGES; i++)); do
      cat <<EOF
  - type: oci-image
    name: bench/img$i
    ref: "1"
    layout: oci
    tag: img$i
EOF
    done
  } >"$dir/bundle.yaml"
  log "corpus $dir: $NIMAGES images, base layer $((base_size / 1048576)) MiB shared, distinct blobs $(du -sm --apparent-size "$dir/oci" | cut -f1) MiB"
}

# ---- registry ----------------------------------------------------------------------------------

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' && return
  fi
  local p
  for ((p = 35000 + RANDOM % 20000; ; p++)); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

REG_STORE="$WORK/registry-data"
REG_CONF="$WORK/registry.yml"
REG_LOG="$WORK/registry.log"
write_registry_config() {
  cat >"$REG_CONF" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG_STORE
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
EOF
}

# Stop the registry (if running), wipe its storage, start it, wait until /v2/ answers 200.
fresh_registry() {
  stop_registry
  rm -rf "$REG_STORE"
  mkdir -p "$REG_STORE"
  "$REGISTRY_BIN" serve "$REG_CONF" >>"$REG_LOG" 2>&1 &
  REG_PID=$!
  local i code
  for ((i = 0; i < 300; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true)
    [[ $code == 200 ]] && return 0
    kill -0 "$REG_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -5 "$REG_LOG" >&2 || true
  die "the registry did not come up on 127.0.0.1:$PORT (see $REG_LOG)"
}

# CPU seconds (user+sys) the running registry has used so far.
CLK_TCK=$(getconf CLK_TCK)
registry_cpu() {
  awk -v t="$CLK_TCK" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t}' "/proc/$REG_PID/stat"
}

# Every image's tag must resolve to the manifest the bundle holds, byte for byte (untimed).
check_registry() {  # WHO
  local tag digest got
  while read -r tag digest; do
    got=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "http://127.0.0.1:$PORT/v2/bench/$tag/manifests/1" | openssl dgst -sha256 -r | awk '{print "sha256:" $1}') || got="(none)"
    if [[ $got != "$digest" ]]; then
      echo "images_bench: after '$1', bench/$tag:1 in the registry is $got, expected $digest" >&2
      exit 1
    fi
  done <"$CORPUS/expected"
}

# ---- measurement -------------------------------------------------------------------------------

# Each round runs the commands interleaved (round 0 is an untimed warm-up, then RUNS timed rounds;
# the order of the two pushes alternates from round to round). Before every push the registry is
# restarted on empty storage and `sync` flushes dirty pages, all untimed, so each push starts from
# the same state with the layout and the bundle in the page cache. Per command we keep the median
# wall time, the median CPU time (user+sys), the largest max-RSS of the timed runs and the median
# CPU time the registry used. For the skopeo loop GNU time reports the biggest single process.
declare -A WALLS CPUS RSS_KIB REGCPUS STORED_MIB

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

run_timed() {  # NAME ROUND PUSH(0|1) CMD...
  local name=$1 round=$2 push=$3 tf="$WORK/time.$$" rc=0 w u s m cpu reg=""
  shift 3
  ((push == 0)) || fresh_registry
  sync
  "$TIME" -f '%e %U %S %M' -o "$tf" "$@" >/dev/null || rc=$?
  if ((rc != 0)); then
    echo "images_bench: '$name' failed with status $rc: $*" >&2
    exit 1
  fi
  if ((push)); then
    reg=$(registry_cpu)
    check_registry "$name"
    STORED_MIB[$name]=$(du -sm --apparent-size "$REG_STORE/docker/registry/v2/blobs" | cut -f1)
    stop_registry
  fi
  read -r w u s m <"$tf"
  rm -f "$tf"
  ((round > 0)) || return 0  # warm-up
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')
  WALLS[$name]+=" $w"
  CPUS[$name]+=" $cpu"
  REGCPUS[$name]+=" ${reg:-0}"
  if ((m > ${RSS_KIB[$name]:-0})); then RSS_KIB[$name]=$m; fi
  log "  round $round $name: ${w}s wall, ${cpu}s cpu, $((m / 1024)) MiB${reg:+, registry ${reg}s cpu}"
}

KEY="$WORK/benchkey"
CORPUS="$WORK/corpus-$SIZE_MB"
BUNDLE="$WORK/bench-$SIZE_MB.bundle"
"$AIRLOCK" keygen -W -o "$KEY" --force >/dev/null 2>&1 || die "airlock keygen failed"
PORT=$(free_port)
write_registry_config
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "airlock: $AIRLOCK ($("$AIRLOCK" --version 2>/dev/null | head -1 || echo '?'))"
log "skopeo: $(skopeo --version), registry: $("$REGISTRY_BIN" --version 2>/dev/null | head -1)"
log "work dir: $WORK, SIZE_MB=$SIZE_MB, RUNS=$RUNS (+1 warm-up), registry 127.0.0.1:$PORT${PUSH_ARGS:+, PUSH_ARGS=$PUSH_ARGS}"
make_corpus "$CORPUS" "$SIZE_MB"
t0=$(date +%s.%N)
"$AIRLOCK" bundle create -q -f "$CORPUS/bundle.yaml" -o "$BUNDLE" --key "$KEY.key" >/dev/null ||
  die "airlock bundle create failed"
log "bundle $BUNDLE: $(($(fsize "$BUNDLE") / 1048576)) MiB, created in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
LISTED=$("$AIRLOCK" images list "$BUNDLE" --pub "$KEY.pub" --json) || die "airlock images list failed"
while read -r tag digest; do
  grep -qF "$digest" <<<"$LISTED" || die "the bundle does not list the manifest $digest of $tag"
done <"$CORPUS/expected"
if [[ ${PREPARE_ONLY:-0} == 1 ]]; then
  echo "$BUNDLE"
  exit 0
fi

run_airlock() {
  run_timed airlock_push "$1" 1 "$AIRLOCK" images push "$BUNDLE" --pub "$KEY.pub" \
    --registry "127.0.0.1:$PORT" --insecure -q "${PUSH_EXTRA[@]}"
}
run_skopeo() {
  # shellcheck disable=SC2016  # the single-quoted script gets its arguments as $1..$3
  run_timed skopeo_copy "$1" 1 bash -c \
    'for ((i = 1; i <= $3; i++)); do
       skopeo copy -q --dest-tls-verify=false "oci:$1:img$i" "docker://$2/bench/img$i:1" || exit 1
     done' _ "$CORPUS/oci" "127.0.0.1:$PORT" "$NIMAGES"
}
for ((r = 0; r <= RUNS; r++)); do
  if ((r == 0)); then log "warm-up round"; else log "round $r of $RUNS"; fi
  if ((r % 2 == 1)); then
    run_airlock "$r"
    run_skopeo "$r"
  else
    run_skopeo "$r"
    run_airlock "$r"
  fi
  run_timed airlock_verify "$r" 0 "$AIRLOCK" images list "$BUNDLE" --pub "$KEY.pub" -q
done
declare -A WALL CPU REGCPU
for k in airlock_push skopeo_copy airlock_verify; do
  # shellcheck disable=SC2086
  WALL[$k]=$(median ${WALLS[$k]})
  # shellcheck disable=SC2086
  CPU[$k]=$(median ${CPUS[$k]})
  # shellcheck disable=SC2086
  REGCPU[$k]=$(median ${REGCPUS[$k]})
done

# ---- report ------------------------------------------------------------------------------------

BLOB_MIB=$(du -sm --apparent-size "$CORPUS/oci/blobs" | cut -f1)
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b <= 0) print "inf"; else printf "%.2f", a / b}'; }
verdict_le1() { awk -v r="$1" 'BEGIN {print (r != "inf" && r <= 1.0) ? "PASS" : "FAIL"}'; }
verdict_rss() { awk -v k="$1" -v l="$RSS_LIMIT_MIB" 'BEGIN {print (k / 1024 < l) ? "PASS" : "FAIL"}'; }
row() { printf '%-36s %7s %7s %8s %6s %10s\n' "$@"; }

echo
echo "airlock images push benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "airlock: $AIRLOCK${PUSH_ARGS:+ (push $PUSH_ARGS)}"
echo "skopeo: $(skopeo --version | awk '{print $3}'), registry: $("$REGISTRY_BIN" --version 2>/dev/null | awk '{print $NF}') (filesystem storage, http on 127.0.0.1)"
echo "load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median of $RUNS interleaved timed rounds after one warm-up round; a fresh registry and sync"
echo "before each push; inputs in page cache; cpu = user+sys of the client; RSS = max over the timed"
echo "runs; reg cpu = user+sys of the registry process during the push"
echo
echo "== $NIMAGES images, $BLOB_MIB MiB of distinct blobs (bundle $(($(fsize "$BUNDLE") / 1048576)) MiB) =="
row "command" "wall s" "cpu s" "RSS MiB" "MB/s" "reg cpu s"
for name in airlock_push skopeo_copy airlock_verify; do
  case $name in
    airlock_push) label="airlock images push" ;;
    skopeo_copy) label="skopeo copy x$NIMAGES (one after another)" ;;
    airlock_verify) label="airlock images list (verify only)" ;;
  esac
  reg=${REGCPU[$name]}
  [[ $name != airlock_verify ]] || reg="-"
  row "$label" "${WALL[$name]}" "${CPU[$name]}" "$(mib "${RSS_KIB[$name]}")" \
    "$(awk -v m="$BLOB_MIB" -v s="${WALL[$name]}" 'BEGIN {if (s > 0) printf "%.0f", m * 1.048576 / s; else print "-"}')" "$reg"
done
echo "registry storage after a push: airlock ${STORED_MIB[airlock_push]} MiB, skopeo ${STORED_MIB[skopeo_copy]} MiB of blobs; every tag checked"

echo
echo "== targets =="
tgt() { printf '%-50s %8s  %s\n' "$@"; }
r=$(ratio "${WALL[airlock_push]}" "${WALL[skopeo_copy]}")
tgt "airlock_push / skopeo_copy wall     (<= 1.00)" "$r" "$(verdict_le1 "$r")"
tgt "airlock_push peak RSS MiB           (< $RSS_LIMIT_MIB)" "$(mib "${RSS_KIB[airlock_push]}")" \
  "$(verdict_rss "${RSS_KIB[airlock_push]}")"
echo
echo "== context (not targets) =="
tgt "skopeo_copy peak RSS MiB" "$(mib "${RSS_KIB[skopeo_copy]}")" ""
tgt "cpu: airlock_push / skopeo_copy" "$(ratio "${CPU[airlock_push]}" "${CPU[skopeo_copy]}")" ""
tgt "verify share of airlock_push wall" "$(ratio "${WALL[airlock_verify]}" "${WALL[airlock_push]}")" ""
w=$(awk -v a="${WALL[airlock_push]}" -v b="${WALL[airlock_verify]}" 'BEGIN {printf "%.2f", a - b}')
tgt "(airlock_push - verify) / skopeo_copy wall" "$(ratio "$w" "${WALL[skopeo_copy]}")" ""
exit 0
