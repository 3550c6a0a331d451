#!/usr/bin/env bash
# Signing benchmark: 100 images in a local registry signed with `hangar sign` (a cosign key
# file) and validated with `hangar sign validate`. Writes the "Signing" section of
# docs/benchmarks.md and prints it. (No cosign binary can run here, so there is no peer.)
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps
plugins/build --wasm-only >/dev/null
cargo build --locked -p hangar -p hangar-tests --bins
export TMPDIR=/dev/shm
table=$(HANGAR_BIN="$PWD/target/debug/hangar" target/debug/hangar-testbed bench-sign)
report=$(python3 - "$table" <<'PY'
import sys, datetime
print(f"""## Signing

Measured by `bench/sign.sh` on {datetime.date.today()}, 2 cores, dev profile (dependencies optimised). 100 single-platform images in a local docker-registry (tmpfs), a fresh registry for each repetition; the key is an encrypted cosign key file (scrypt N=32768 to open it, once per run). Signing an image means: GET its manifest, look for an existing `.sig` tag, upload the payload and the signature image's config, PUT the signature manifest. Validating: GET the manifest, the `.sig` manifest and the payload, verify ECDSA P-256.

{sys.argv[1]}

There is no peer in this table: cosign is not packaged for Debian or PyPI, and Debian's skopeo has sigstore signing disabled.""")
PY
)
echo "$report"
bench/write-section "$report"
