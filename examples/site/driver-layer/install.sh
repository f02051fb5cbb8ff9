#!/bin/sh
# A test driver layer (method: script): airlock unpacks the layer and runs this with
# AIRLOCK_LAYER_DIR set to the unpacked folder. It installs nothing; it records each run so that
# tests can check that a re-run skipped it.
set -eu
state=${AIRLOCK_DRIVER_STATE:-/var/lib/airlock/test-driver-layer.log}
mkdir -p "$(dirname "$state")"
echo "installed nvidia-test-layer 1.0.0 from ${AIRLOCK_LAYER_DIR:?} at $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$state"
