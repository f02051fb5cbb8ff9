#!/usr/bin/env bash
# Every test: install what is missing, build once, then run all test tiers with ctest in
# parallel (unit, e2e through the CLI). Tiers that need root or tools skip with a reason.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
bash "$ROOT/examples/prepare.sh"
cd "$BUILD"
ctest -j"$(nproc)" --output-on-failure --timeout 600
