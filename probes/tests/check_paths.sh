#!/usr/bin/env bash
# Collectors reach the machine only through SystemRoot with root-relative paths ("sys/...",
# "proc/..."): fail on any string literal starting with /sys or /proc in probes/ sources.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if hits=$(grep -nE '"/(sys|proc)([/"]|$)' "$DIR"/*.cc "$DIR"/*.h 2>/dev/null); then
  echo "check_paths: absolute /sys or /proc literals in probes/ (use SystemRoot paths):"
  echo "$hits"
  exit 1
fi
echo "check_paths: ok"
