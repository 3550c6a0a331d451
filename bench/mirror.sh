#!/usr/bin/env bash
# Mirror benchmark: hangar vs skopeo over the same ~1 GiB dataset in one run.
# Writes the table to docs/benchmarks.md (replacing the "Mirror" section) and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps
cargo build --release --locked -p hangar -p hangar-tests --bins
# Registries keep their storage on tmpfs: this VM's disk flushes (distribution fsyncs every
# blob) add noise that has nothing to do with either tool.
export TMPDIR=/dev/shm
report=$(HANGAR_BIN=target/release/hangar target/release/hangar-testbed bench)
echo "$report"
bench/write-section "$report"
