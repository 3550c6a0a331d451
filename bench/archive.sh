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
out=docs/benchmarks.md
mkdir -p docs
if [ ! -f "$out" ]; then
  printf '# Benchmarks\n\nEach benchmark is a script under `bench/`; numbers are measured side by side with a peer in one run.\n\n' > "$out"
fi
python3 - "$out" "$report" <<'PY'
import sys, re
path, report = sys.argv[1], sys.argv[2].strip() + "\n"
text = open(path).read()
section = re.compile(r"## Archive: save and load\n.*?(?=\n## |\Z)", re.S)
text = section.sub(lambda _: report, text) if section.search(text) else text.rstrip("\n") + "\n\n" + report
open(path, "w").write(text)
PY
echo "written to $out" >&2
