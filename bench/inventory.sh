#!/usr/bin/env bash
# Inventory benchmark: `hangar inventory` of a registry with thousands of repositories. Its time
# should grow with the number of repositories while its memory stays flat: it pages the catalog
# (docker-registry's default `catalog: {maxentries: 1000}`), reads repositories `-j` at a time
# and streams each out, in order, as soon as it is read.
#
# One docker-registry 2.8 on 127.0.0.1, storage on tmpfs, seeded incrementally by
# bench/inventory_seed.py (threads; one tiny shared layer and config, cross-repository mounts,
# a manifest under tag 1 per repository, tag 2 on every tenth). At each size (500, 1500, 3000)
# `hangar inventory -j 8` runs INVENTORY_RUNS times: wall time, peak RSS and CPU time
# (/usr/bin/time), the registry's CPU time over the run (/proc), output size, registry requests
# per repository (its access log); every output is checked
# (exactly the seeded repositories, each tag 1 naming the shared-layer manifest) and the run
# fails otherwise. Then `-j 1` at the middle size, for the effect of parallelism, and, on the
# final registry, `-f` lists of each size interleaved (the same registry state for every size).
# There is no peer: skopeo has no inventory.
#
# Writes the section "Inventory: thousands of repositories" of docs/benchmarks.md (replacing it
# when present) and prints it.
#
# Environment:
#   HANGAR_BIN          hangar binary (default target/release/hangar; this script builds nothing)
#   HANGAR_BENCH_BUILD  "debug" when HANGAR_BIN is a debug build (also assumed when its path
#                       contains /debug/)
#   HANGAR_BENCH_KEEP   1 keeps the work directory (registry storage, outputs, logs)
#   INVENTORY_SIZES     repository counts, ascending (default "500 1500 3000")
#   INVENTORY_RUNS      runs per size (default 5)
#   INVENTORY_JOBS      hangar's -j (default 8)
#   INVENTORY_PAR_SIZE  size at which -j 1 is also measured (default 1500; "" skips it)
#   INVENTORY_SUBSETS   1 (default) also measures, on the final registry, `-f` lists of the
#                       first N repositories for each size, interleaved, 3 rounds; 0 skips
#   SEED_THREADS        the seeder's threads (default 8)
# Needs docker-registry (distribution 2.8), /usr/bin/time and python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/registry-bench.sh
. bench/registry-bench.sh
# The registry's storage and every output live on tmpfs (bench_setup's $work).
bench_setup inventory /usr/bin/time
helper="$root/bench/inventory_seed.py"
sizes=${INVENTORY_SIZES:-500 1500 3000}
runs=${INVENTORY_RUNS:-5}
jobs=${INVENTORY_JOBS:-8}
par_size=${INVENTORY_PAR_SIZE-1500}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# docker-registry's default page, written out: the catalog comes in pages of 1,000 names.
# Its access log (one line per request) goes to registry.log with its warnings.
start_registry registry reg "catalog: {maxentries: 1000}"
echo "registry $reg, work directory $work" >&2

# registry_cpu: the registry's user + system CPU seconds so far.
registry_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$reg_pid/stat"
}

# requests [PATH]: hangar's requests so far in the registry's access log (its user agent), all
# of them or only those to PATH.
requests() {
  { grep -E '"[A-Z]+ /v2/'"${1:-}"'.*"hangar/' "$work/registry.log" || true; } | wc -l
}

# inventory NAME N J [ARG...]: one `hangar inventory -j J [ARG...]` of N repositories (the
# catalog's, or those of `-f LIST`), checked; records
# NAME_wall, NAME_rss (KiB), NAME_cpu (hangar's user + system seconds), NAME_regcpu (the
# registry's, over the same span), NAME_requests and NAME_pages (catalog pages).
inventory() {
  local name=$1 n=$2 j=$3 t0 t1 before after pages c0 c1 rss user sys
  shift 3
  before=$(requests)
  pages=$(requests _catalog)
  c0=$(registry_cpu)
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f '%M %U %S' -o "$work/$name.rss" \
    "$hangar" inventory -d "$reg" -o "$work/$name.json" --tls-verify=false -j "$j" "$@" \
    > "$work/$name.log" 2>&1; then
    cat "$work/$name.log" >&2
    echo "FAILED: $name: hangar inventory -j $j of $n repositories" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  c1=$(registry_cpu)
  sleep 0.2 # the access log is written after each answer
  after=$(requests)
  record "${name}_wall" "$(elapsed "$t0" "$t1")"
  read -r rss user sys < <(tail -n1 "$work/$name.rss")
  record "${name}_rss" "$rss"
  record "${name}_cpu" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')"
  record "${name}_regcpu" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')"
  record "${name}_requests" "$((after - before))"
  pages=$(($(requests _catalog) - pages))
  record "${name}_pages" "$pages"
  python3 "$helper" check "$work/$name.json" "$n"
  echo "$name: $(elapsed "$t0" "$t1") s, peak RSS $rss KiB, CPU $user + $sys s (registry $(elapsed "$c0" "$c1") s), $((after - before)) requests ($pages catalog pages)" >&2
}

record sizes "$sizes"
record runs "$runs"
record jobs "$jobs"
seeded=0
for n in $sizes; do
  t0=$EPOCHREALTIME
  python3 "$helper" seed "$reg" "$seeded" "$n"
  t1=$EPOCHREALTIME
  record "seed${n}_wall" "$(elapsed "$t0" "$t1")"
  seeded=$n
  walls=()
  for ((r = 0; r < runs; r++)); do
    inventory "inv${n}_j${jobs}_r$r" "$n" "$jobs"
    walls+=("$(grep "^inv${n}_j${jobs}_r${r}_wall=" "$measures" | cut -d= -f2)")
  done
  record "inv${n}_j${jobs}_median" "$(printf '%s\n' "${walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')"
  record "inv${n}_bytes" "$(stat -c %s "$work/inv${n}_j${jobs}_r0.json")"
  record "inv${n}_requests" "$(grep "^inv${n}_j${jobs}_r0_requests=" "$measures" | cut -d= -f2)"
  record "inv${n}_pages" "$(grep "^inv${n}_j${jobs}_r0_pages=" "$measures" | cut -d= -f2)"
  if [ "$n" = "$par_size" ] && [ "$jobs" != 1 ]; then
    inventory "par_j1" "$n" 1
    record par_n "$n"
  fi
done

# The same registry for every size: after the last seeding, `-f` lists of the first N
# repositories (no catalog), the sizes interleaved, so the registry's state and the machine's
# drift weigh alike on each size.
if [ "${INVENTORY_SUBSETS:-1}" = 1 ]; then
  for n in $sizes; do
    python3 -c "import sys; sys.path.insert(0, '$root/bench'); from inventory_seed import repo_name
for i in range($n): print(repo_name(i))" > "$work/list$n.txt"
  done
  for ((r = 0; r < 3; r++)); do
    for n in $sizes; do inventory "sub${n}_r$r" "$n" "$jobs" -f "$work/list$n.txt"; done
  done
  record subsets 3
fi

record hangar_version "$("$hangar" version 2>/dev/null | head -n1 | sed "s/^hangar version //")"
record build "$build"
record cores "$(nproc)"
record cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
record date "$(date -u +%F)"
record hangar_warnings "$(cat "$work"/inv*.log "$work"/par_*.log "$work"/sub*.log 2>/dev/null | grep -c -E 'WARN|ERROR' || true)"
grep -H -E 'WARN|ERROR' "$work"/inv*.log "$work"/par_*.log "$work"/sub*.log >&2 2>/dev/null || true

report=$(python3 "$helper" report "$work")
echo "$report"
"$root/bench/write-section" "$report"
