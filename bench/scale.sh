#!/usr/bin/env bash
# Scale benchmark: hangar's cost against list size (1,000, 3,000 and 10,000 images; set
# HANGAR_SCALE_SIZES to change), skopeo side by side for mirror. Replaces the "Scale" section
# of docs/benchmarks.md and draws docs/scale.png (time and memory against list size).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps
# The plot is drawn with matplotlib in the tests' Python environment.
venv=target/test-python
"$venv/bin/python" -c "import matplotlib" 2>/dev/null || "$venv/bin/pip" install -q "matplotlib==3.11.*"
cargo build --release --locked -p hangar -p hangar-tests --bins
# Registries keep their storage on tmpfs: disk flushes would measure the VM's disk, not the tools.
export TMPDIR=/dev/shm
json=target/bench-scale.json
report=$(HANGAR_BIN=target/release/hangar HANGAR_SCALE_JSON="$json" target/release/hangar-testbed bench-scale)
echo "$report"
"$venv/bin/python" bench/scale_plot.py "$json" docs/scale.png
report="$report"$'\n\n'"![time and memory against list size](scale.png)"
bench/write-section "$report"
echo "drawn: docs/scale.png" >&2
