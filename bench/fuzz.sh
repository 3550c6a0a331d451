#!/usr/bin/env bash
# Fuzzing: runs every libFuzzer target of fuzz/ (host/src/fuzzing.rs) for SECONDS each (default
# 120), growing the corpora in fuzz/corpus/ and minimising them afterwards (they are kept in the
# repository; tests/run replays them). Needs a nightly toolchain and cargo-fuzz (installed here
# when missing). Prints, per target, the executions, the corpus size and the findings; a finding
# is saved under fuzz/artifacts/<target>/ and makes the script exit 1. Once it is fixed, move it
# to fuzz/regressions/<target>/ under a name that says what it was: tests/run replays those too,
# and minimising never drops them.
#
#   bench/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-120}
shift || true
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^hangar-fuzz$')
fi
# Safe Rust throughout, so no sanitizer (it would only slow the runs); debug assertions stay on
# (overflow checks are findings too).
flags=(--sanitizer none)
cargo +nightly fuzz build "${flags[@]}" >/dev/null
found=0
printf '| target | seconds | executions | exec/s | corpus before | corpus after (minimised) | findings |\n|---|---|---|---|---|---|---|\n' > summary.md.tmp
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  mkdir -p "$corpus"
  before=$(ls "$corpus" | wc -l)
  log=$(mktemp)
  seeds=()
  [ -d "regressions/$target" ] && seeds=("regressions/$target")
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$corpus" "${seeds[@]}" -- \
      -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 >"$log" 2>&1; then
    found=$((found + 1))
    echo "FINDING in $target:" >&2
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" >&2 || tail -30 "$log" >&2
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cargo +nightly fuzz cmin "${flags[@]}" "$target" "$corpus" >/dev/null 2>&1 || true
  after=$(ls "$corpus" | wc -l)
  findings=$(ls "artifacts/$target" 2>/dev/null | wc -l)
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$seconds" "${executions:-?}" \
    "${per_second:-?}" "$before" "$after" "$findings" >> summary.md.tmp
  rm -f "$log"
done
cat summary.md.tmp
rm -f summary.md.tmp
[ "$found" -eq 0 ]
