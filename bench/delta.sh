#!/usr/bin/env bash
# Delta benchmark: bytes carried for a monthly update in which one shared base layer changed,
# full archive vs delta archive (`save --base OLD.zip`, `save --base-inventory INV.json`), with
# skopeo (one oci-archive per image; it has no delta) as the peer.
#
# Month 1: N images (team/app0..app{N-1}:1), each one shared ~100 MiB base layer and an app layer
# of 5-20 MiB of its own, random (incompressible) bytes from a fixed seed (bench/delta_images.py).
# Month 2 (:2): only the base layer changed; app layers byte-identical; new configs.
# hangar saves month 1 and loads it into a destination registry, then carries month 2 as a full
# archive, as a delta over the month-1 archive and as a delta over an inventory of the
# destination; the delta is loaded and every month-2 manifest at the destination must equal the
# source's (the run fails otherwise). One run, no repetitions: the byte counts are the result,
# wall times are secondary.
#
# Writes the section "Delta archives: carrying only what changed" of docs/benchmarks.md
# (replacing it when present) and prints it.
#
# Environment:
#   HANGAR_BIN          hangar binary (default target/release/hangar; this script builds nothing)
#   HANGAR_BENCH_BUILD  "debug" when HANGAR_BIN is a debug build (also assumed when its path
#                       contains /debug/); the report then says its timings come from one
#   HANGAR_BENCH_KEEP   1 keeps the work directory (registries, archives, logs)
#   DELTA_IMAGES, DELTA_BASE_MIB, DELTA_SEED   dataset size and seed (10, 100, fixed)
# Needs docker-registry (distribution 2.8), skopeo and python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/registry-bench.sh
. bench/registry-bench.sh
# Registries, archives and skopeo's output all live on tmpfs (bench_setup's $work).
bench_setup delta skopeo
helper="$root/bench/delta_images.py"

# timed NAME CMD...: runs CMD (output in NAME.log), records NAME_wall in seconds.
timed() {
  local name=$1 t0 t1
  shift
  sync
  t0=$EPOCHREALTIME
  if ! "$@" > "$work/$name.log" 2>&1; then
    cat "$work/$name.log" >&2
    echo "FAILED: $name: $*" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  echo "${name}_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >> "$measures"
  echo "$name: $(tail -n1 "$measures" | cut -d= -f2) s" >&2
}

size() { stat -c %s "$1"; }

start_registry src src
start_registry dst dst
echo "source registry $src, destination registry $dst, work directory $work" >&2

python3 "$helper" push "$src" 1 "$work/month1.json"
python3 "$helper" push "$src" 2 "$work/month2.json"
n=${DELTA_IMAGES:-10}
for ((i = 0; i < n; i++)); do echo "$src/team/app$i:1"; done > month1.txt
for ((i = 0; i < n; i++)); do echo "$src/team/app$i:2"; done > month2.txt

# Month 1: a full archive, loaded into the destination.
timed save1 "$hangar" save -f month1.txt -d full1.zip --tls-verify=false -j 4
record save1_bytes "$(size full1.zip)"
timed load1 "$hangar" load -s full1.zip -d "$dst" --tls-verify=false -j 4
python3 "$helper" check "$src" "$dst" month1.txt

# Month 2: full, delta over the month-1 archive, delta over an inventory of the destination.
timed save2 "$hangar" save -f month2.txt -d full2.zip --tls-verify=false -j 4
record save2_bytes "$(size full2.zip)"
timed delta_base "$hangar" save -f month2.txt -d delta-archive.zip --base full1.zip --tls-verify=false -j 4
record delta_base_bytes "$(size delta-archive.zip)"
timed inventory "$hangar" inventory -d "$dst" -o inventory.json --tls-verify=false
record inventory_bytes "$(size inventory.json)"
timed delta_inv "$hangar" save -f month2.txt -d delta-inventory.zip --base-inventory inventory.json --tls-verify=false -j 4
record delta_inv_bytes "$(size delta-inventory.zip)"

# The delta goes to the destination, which must then hold month 2 exactly as the source does.
timed load_delta "$hangar" load -s delta-archive.zip -d "$dst" --tls-verify=false -j 4
python3 "$helper" check "$src" "$dst" month2.txt

# Peer: skopeo has no delta; one oci-archive per image, 4 copies at a time (as hangar's -j 4).
mkdir skopeo
skopeo_all() {
  sed -e "s|^$src/||" -e 's|:2$||' month2.txt | xargs -P 4 -I{} sh -c \
    'name=$(basename "$1"); skopeo copy --all --src-tls-verify=false "docker://$2/$1:2" "oci-archive:skopeo/$name.tar"' \
    _ {} "$src"
}
timed skopeo skopeo_all
record skopeo_bytes "$(du -cb skopeo/*.tar | tail -n1 | cut -f1)"
record skopeo_files "$(ls skopeo/*.tar | wc -l)"

record hangar_version "$("$hangar" version 2>/dev/null | head -n1 | sed "s/^hangar version //")"
record skopeo_version "$(skopeo --version)"
record build "$build"
record cores "$(nproc)"
record cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
record date "$(date -u +%F)"
# hangar's complaints, if any, for the report.
record hangar_warnings "$(cat save1.log load1.log save2.log delta_base.log inventory.log delta_inv.log load_delta.log | grep -c -E 'WARN|ERROR' || true)"
grep -H -E 'WARN|ERROR' save1.log load1.log save2.log delta_base.log inventory.log delta_inv.log load_delta.log >&2 || true

report=$(python3 "$helper" report "$work")
echo "$report"
"$root/bench/write-section" "$report"
