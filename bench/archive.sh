#!/usr/bin/env bash
# Archive benchmark: hangar save/load vs skopeo oci-archive over the mirror dataset in one run.
# Writes the table to docs/benchmarks.md (replacing the "Archive" section) and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps
cargo build --release --locked -p hangar -p hangar-tests --bins
# Registries keep their storage on tmpfs: this VM's disk flushes (distribution fsyncs every
# blob) add noise that has nothing to do with either tool.
export TMPDIR=/dev/shm
report=$(HANGAR_BIN=target/release/hangar target/release/hangar-testbed bench-archive)
echo "$report"
bench/write-section "$report"
