#!/usr/bin/env bash
# Throughput and memory benchmark for `airlock bundle create|verify` against the obvious
# command-line baselines, measured in the same run on the same machine:
#
#   airlock bundle create   vs  tar -cf - INPUTS | zstd -T0 -3 > OUT      (target: ratio <= 1.0)
#   airlock bundle verify   vs  openssl dgst -sha256 BUNDLE               (target: ratio <= 1.0)
#   peak RSS of create and verify < 256 MiB, at SIZE_MB and at SIZE_MB/4 (size-independent)
#
# This is a report, not a test: it exits 0 whatever the ratios are, and non-zero only when a
# command fails or the corpus cannot be built. See tests/bench/README.md.
#
# Usage: tests/bench/bundle_bench.sh [WORK_DIR]
# Environment:
#   AIRLOCK   airlock binary          (default: build/installer/airlock of this checkout)
#   SIZE_MB   corpus size in MiB      (default: 1024; 60% layers, 40% binaries)
#   RUNS      timed rounds            (default: 3; the commands run interleaved, one untimed
#             warm-up round first, medians reported)
#   KEEP=1    keep the work dir (only applies to the default mktemp dir)
#   PREPARE_ONLY=1  only build WORK/corpus-$SIZE_MB and the key WORK/benchkey.{key,pub}, then
#             exit (for profiling by hand; pass a WORK_DIR so that they are kept)
set -euo pipefail

AIRLOCK=${AIRLOCK:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/installer/airlock}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
RSS_LIMIT_MIB=256
LAYER_CHUNK_MIB=100   # one OCI layer / one binary file per ~100 MiB

die() { echo "bundle_bench: $*" >&2; exit 2; }

[[ -x $AIRLOCK ]] || die "airlock binary not found at $AIRLOCK (set AIRLOCK=...)"
[[ $SIZE_MB =~ ^[0-9]+$ && $SIZE_MB -ge 8 ]] || die "SIZE_MB must be an integer >= 8"
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || die "RUNS must be an integer >= 1"
for tool in tar zstd openssl sha256sum awk sort head; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
TIME=/usr/bin/time
[[ -x $TIME ]] || die "GNU time is missing (apt-get install -y time)"
AIRLOCK=$(cd "$(dirname "$AIRLOCK")" && pwd)/$(basename "$AIRLOCK")

if [[ $# -ge 1 ]]; then
  WORK=$1
  mkdir -p "$WORK"
  WORK=$(cd "$WORK" && pwd)
else
  WORK=$(mktemp -d /var/tmp/airlock-bench.XXXXXX)
  if [[ ${KEEP:-0} != 1 ]]; then
    trap 'rm -rf "$WORK"' EXIT
  else
    echo "work dir kept: $WORK" >&2
  fi
fi

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# ---- corpus ------------------------------------------------------------------------------------

sha_hex() { openssl dgst -sha256 -r "$1" | awk '{print $1}'; }
fsize() { stat -c %s "$1"; }

# Deterministic incompressible bytes: AES-256-CTR keystream with a key derived from a label.
random_bytes() {  # LABEL NBYTES
  local key iv
  key=$(printf '%s' "key:$1" | sha256sum | awk '{print $1}')
  iv=$(printf '%s' "iv:$1" | sha256sum | awk '{print substr($1, 1, 32)}')
  head -c "$2" /dev/zero | openssl enc -aes-256-ctr -K "$key" -iv "$iv"
}

# Store stdin as a blob of the OCI layout and print "DIGEST SIZE".
put_blob() {  # LAYOUT_DIR < bytes
  local tmp="$1/blobs/sha256/.incoming" hex
  cat >"$tmp"
  hex=$(sha_hex "$tmp")
  mv "$tmp" "$1/blobs/sha256/$hex"
  echo "sha256:$hex $(fsize "$1/blobs/sha256/$hex")"
}

# Real ELF files from the system, sorted by path (deterministic on a given machine).
list_elf_files() {
  local f magic
  { find /usr/bin /usr/sbin /usr/lib/x86_64-linux-gnu /usr/libexec -maxdepth 2 -type f -size +8k \
      -readable 2>/dev/null || true; } | LC_ALL=C sort | while IFS= read -r f; do
    LC_ALL=C IFS= read -r -N 4 magic <"$f" 2>/dev/null || continue
    if [[ $magic == $'\x7fELF' ]]; then printf '%s\n' "$f"; fi
  done
}

# One byte stream of ELF files, the list repeated as often as needed, cut to NBYTES.
elf_stream() {  # LISTFILE NBYTES
  local list=$1 n=$2 have passes p f
  have=$(tr '\n' '\0' <"$list" | xargs -0 stat -c %s | awk '{s += $1} END {print s + 0}')
  ((have > 0)) || return 1
  passes=$(((n + have - 1) / have))
  {
    for ((p = 0; p < passes; p++)); do
      while IFS= read -r f; do cat -- "$f" 2>/dev/null || true; done <"$list"
    done
  } | head -c "$n" || true  # head may close the pipe early: the writer's SIGPIPE is expected
}

# make_corpus DIR SIZE_MIB: DIR/oci (OCI layout, tag "bench"), DIR/bins/*, DIR/bundle.yaml.
make_corpus() {
  local dir=$1 mib=$2
  local total=$((mib * 1048576))
  local layer_total=$((total * 6 / 10)) bin_total
  bin_total=$((total - layer_total))
  local nlayers=$(((layer_total + LAYER_CHUNK_MIB * 1048576 / 2) / (LAYER_CHUNK_MIB * 1048576)))
  local nbins=$(((bin_total + LAYER_CHUNK_MIB * 1048576 / 2) / (LAYER_CHUNK_MIB * 1048576)))
  ((nlayers >= 1)) || nlayers=1
  ((nbins >= 1)) || nbins=1
  rm -rf "$dir"
  mkdir -p "$dir/oci/blobs/sha256" "$dir/bins"
  printf '{"imageLayoutVersion":"1.0.0"}\n' >"$dir/oci/oci-layout"

  # Layers: a gzip member header followed by random bytes (airlock stores gzip layers as-is).
  # Sizes are deliberately not multiples of 512 so tar padding is exercised.
  local layers_json="" diff_ids="" i size desc
  for ((i = 0; i < nlayers; i++)); do
    size=$((layer_total / nlayers + 4093 * i + 7))
    desc=$({ printf '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03'; random_bytes "layer-$i" $((size - 10)); } |
      put_blob "$dir/oci")
    layers_json+="${layers_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"${desc% *}\",\"size\":${desc#* }}"
    diff_ids+="${diff_ids:+,}\"sha256:$(printf 'diff-%s' "$i" | sha256sum | awk '{print $1}')\""
  done
  local cfg manifest
  cfg=$(printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$diff_ids" | put_blob "$dir/oci")
  manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
    "${cfg% *}" "${cfg#* }" "$layers_json" | put_blob "$dir/oci")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}\n' \
    "${manifest% *}" "${manifest#* }" >"$dir/oci/index.json"

  # Binaries: concatenated real ELF files (compressible about 3:1), split into ~100 MiB files.
  local list="$dir/.elf-list"
  list_elf_files >"$list"
  [[ -s $list ]] || die "no ELF files found under /usr to build the binaries"
  elf_stream "$list" "$bin_total" >"$dir/.bins-all"
  [[ $(fsize "$dir/.bins-all") -eq $bin_total ]] || die "could not produce $bin_total bytes of binaries"
  (cd "$dir/bins" && split -n "$nbins" -d -a 2 ../.bins-all svc-)
  rm -f "$dir/.bins-all" "$list"

  {
    cat <<EOF
# Generated by tests/bench/bundle_bench.sh ($mib MiB corpus)
bundle:
  name: airlock-bench
  channel: bench
  version: 1
  release: "bench-$mib"
  expires_in_days: 3650
  targets:
    - {os: linux, architecture: amd64, product: bench}
components:
  - type: oci-image
    name: bench/image
    ref: "bench"
    layout: oci
EOF
    local f
    for f in "$dir"/bins/svc-*; do
      f=$(basename "$f")
      cat <<EOF
  - type: service-binary
    name: $f
    version: "1.0.0"
    source: bins/$f
    install: {path: /opt/bench/bin/$f, mode: "0755"}
EOF
    done
  } >"$dir/bundle.yaml"
  log "corpus $dir: $nlayers layers ($(du -sm "$dir/oci" | cut -f1) MiB), $nbins binaries ($(du -sm "$dir/bins" | cut -f1) MiB)"
}

# ---- measurement -------------------------------------------------------------------------------

# The commands are interleaved (round 0 is an untimed warm-up, then RUNS timed rounds of all of
# them) so that load from other processes on a shared machine hits each of them alike. Before
# every run the previous output is removed and `sync` flushes dirty pages, both untimed, so each
# run starts from the same state with a warm page cache for its inputs. Per command we keep the
# median wall time, the median CPU time (user+sys) and the largest max-RSS of the timed runs;
# for the pipeline GNU time reports the biggest single process of the tree.
declare -A WALLS CPUS RSS_KIB

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

run_timed() {  # NAME ROUND OUTPUT_TO_REMOVE CMD...
  local name=$1 round=$2 out=$3 tf="$WORK/time.$$" rc=0 w u s m
  shift 3
  [[ -z $out ]] || rm -f "$out"
  sync
  "$TIME" -f '%e %U %S %M' -o "$tf" "$@" || rc=$?
  if ((rc != 0)); then
    echo "bundle_bench: '$name' failed with status $rc: $*" >&2
    exit 1
  fi
  read -r w u s m <"$tf"
  rm -f "$tf"
  ((round > 0)) || return 0  # warm-up
  WALLS[$name]+=" $w"
  CPUS[$name]+=" $(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')"
  if ((m > ${RSS_KIB[$name]:-0})); then RSS_KIB[$name]=$m; fi
  log "  round $round $name: ${w}s wall, $(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}')s cpu, $((m / 1024)) MiB"
}

KEY="$WORK/benchkey"
"$AIRLOCK" keygen -W -o "$KEY" --force >/dev/null 2>&1 || die "airlock keygen failed"

run_suite() {  # TAG CORPUS
  local tag=$1 corpus=$2 r
  local bundle="$WORK/bench-$tag.bundle" tarzst="$WORK/baseline-$tag.tar.zst"
  # shellcheck disable=SC2016  # the single-quoted scripts get their arguments as $1 and $2
  for ((r = 0; r <= RUNS; r++)); do
    if ((r == 0)); then log "[$tag MiB] warm-up round"; else log "[$tag MiB] round $r of $RUNS"; fi
    run_timed "tar_zstd@$tag" "$r" "$tarzst" \
      bash -c 'tar -C "$1" -cf - oci bins | zstd -q -T0 -3 >"$2"' _ "$corpus" "$tarzst"
    run_timed "tar_zstd_sync@$tag" "$r" "$tarzst" \
      bash -c 'tar -C "$1" -cf - oci bins | zstd -q -T0 -3 >"$2" && sync "$2"' _ "$corpus" "$tarzst"
    run_timed "create@$tag" "$r" "$bundle" \
      "$AIRLOCK" bundle create -q -f "$corpus/bundle.yaml" -o "$bundle" --key "$KEY.key"
    run_timed "dgst@$tag" "$r" "" openssl dgst -sha256 -out /dev/null "$bundle"
    run_timed "verify@$tag" "$r" "" "$AIRLOCK" bundle verify -q "$bundle" --pub "$KEY.pub"
  done
  rm -f "$tarzst"
  INPUT_MIB[$tag]=$(du -sm --apparent-size "$corpus/oci" "$corpus/bins" | awk '{s+=$1} END {print s}')
  BUNDLE_MIB[$tag]=$(($(fsize "$bundle") / 1048576))
  local k
  for k in tar_zstd tar_zstd_sync create dgst verify; do
    # shellcheck disable=SC2086
    WALL[$k@$tag]=$(median ${WALLS[$k@$tag]})
    # shellcheck disable=SC2086
    CPU[$k@$tag]=$(median ${CPUS[$k@$tag]})
  done
}

declare -A WALL CPU
declare -A INPUT_MIB BUNDLE_MIB
FULL=$SIZE_MB
QUARTER=$((SIZE_MB / 4))
((QUARTER >= 8)) || QUARTER=8

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "airlock: $AIRLOCK ($("$AIRLOCK" --version 2>/dev/null | head -1 || echo '?'))"
log "work dir: $WORK, SIZE_MB=$FULL (and $QUARTER), RUNS=$RUNS (+1 warm-up)"
make_corpus "$WORK/corpus-$FULL" "$FULL"
if [[ ${PREPARE_ONLY:-0} == 1 ]]; then
  echo "$WORK/corpus-$FULL/bundle.yaml"
  exit 0
fi
run_suite "$FULL" "$WORK/corpus-$FULL"
rm -rf "$WORK/corpus-$FULL" "$WORK/bench-$FULL.bundle"
make_corpus "$WORK/corpus-$QUARTER" "$QUARTER"
run_suite "$QUARTER" "$WORK/corpus-$QUARTER"

# ---- report ------------------------------------------------------------------------------------

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b <= 0) print "inf"; else printf "%.2f", a / b}'; }
verdict_le1() { awk -v r="$1" 'BEGIN {print (r != "inf" && r <= 1.0) ? "PASS" : "FAIL"}'; }
verdict_rss() { awk -v k="$1" -v l="$RSS_LIMIT_MIB" 'BEGIN {print (k / 1024 < l) ? "PASS" : "FAIL"}'; }
row() { printf '%-34s %8s %8s %9s %8s\n' "$@"; }

echo
echo "airlock bundle benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "airlock: $AIRLOCK"
echo "load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median of $RUNS interleaved timed rounds after one warm-up round; sync before each run;"
echo "inputs in page cache; cpu = user+sys; RSS = max over the timed runs"
for tag in "$FULL" "$QUARTER"; do
  echo
  echo "== corpus $tag MiB (inputs ${INPUT_MIB[$tag]} MiB, bundle ${BUNDLE_MIB[$tag]} MiB) =="
  row "command" "wall s" "cpu s" "RSS MiB" "MB/s"
  for name in tar_zstd tar_zstd_sync create dgst verify; do
    k="$name@$tag"
    case $name in
      tar_zstd) label="tar -cf - | zstd -T0 -3" ;;
      tar_zstd_sync) label="tar | zstd -T0 -3 && sync (info)" ;;
      create) label="airlock bundle create" ;;
      dgst) label="openssl dgst -sha256 BUNDLE" ;;
      verify) label="airlock bundle verify" ;;
    esac
    bytes=${INPUT_MIB[$tag]}
    [[ $name == dgst || $name == verify ]] && bytes=${BUNDLE_MIB[$tag]}
    row "$label" "${WALL[$k]}" "${CPU[$k]}" "$(mib "${RSS_KIB[$k]}")" \
      "$(awk -v m="$bytes" -v s="${WALL[$k]}" 'BEGIN {if (s > 0) printf "%.0f", m * 1.048576 / s; else print "-"}')"
  done
done

echo
echo "== targets (wall-time ratios at $FULL MiB; RSS at $FULL and $QUARTER MiB) =="
tgt() { printf '%-50s %8s  %s\n' "$@"; }
r=$(ratio "${WALL[create@$FULL]}" "${WALL[tar_zstd@$FULL]}")
tgt "airlock_create / tar_zstd          (<= 1.00)" "$r" "$(verdict_le1 "$r")"
r=$(ratio "${WALL[verify@$FULL]}" "${WALL[dgst@$FULL]}")
tgt "airlock_verify / openssl_dgst      (<= 1.00)" "$r" "$(verdict_le1 "$r")"
for name in create verify; do
  for tag in "$FULL" "$QUARTER"; do
    tgt "$name peak RSS MiB at $(printf "%5s" "$tag") MiB  (< $RSS_LIMIT_MIB)" "$(mib "${RSS_KIB[$name@$tag]}")" \
      "$(verdict_rss "${RSS_KIB[$name@$tag]}")"
  done
done
echo
echo "== context (not targets) =="
tgt "airlock_create / (tar_zstd && sync)" "$(ratio "${WALL[create@$FULL]}" "${WALL[tar_zstd_sync@$FULL]}")" ""
tgt "cpu: airlock_create / tar_zstd" "$(ratio "${CPU[create@$FULL]}" "${CPU[tar_zstd@$FULL]}")" ""
tgt "cpu: airlock_verify / openssl_dgst" "$(ratio "${CPU[verify@$FULL]}" "${CPU[dgst@$FULL]}")" ""
tgt "airlock_create / tar_zstd at $QUARTER MiB" "$(ratio "${WALL[create@$QUARTER]}" "${WALL[tar_zstd@$QUARTER]}")" ""
tgt "airlock_verify / openssl_dgst at $QUARTER MiB" "$(ratio "${WALL[verify@$QUARTER]}" "${WALL[dgst@$QUARTER]}")" ""
exit 0
