#!/usr/bin/env bash
# List-generation benchmark: `hangar generate-list helm` and `generate-list --rancher v2.9.3`
# over the real Rancher chart repository
# (1,103 packaged charts, index.yaml; ../shared/fixtures/helm/rancher-charts), end to end:
# process start, plugin load, every archive read, inflated and its values walked, lists
# written. Writes the "List generation" section of docs/benchmarks.md and prints it. (No peer:
# Helm itself is not packaged for Debian or PyPI, and Hangar's generator clones from GitHub.)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(cd .. && pwd)/shared/fixtures/helm/rancher-charts"
[ -d "$repo" ] || { echo "bench/generate-list.sh: $repo is absent; nothing to measure" >&2; exit 1; }
plugins/build --wasm-only >/dev/null
cargo build --locked -p hangar --bins
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
table=$(python3 - "$PWD/target/debug/hangar" "$repo" "$work" <<'PY'
import os, resource, statistics, subprocess, sys, time
hangar, repo, work = sys.argv[1:]
runs = {
    "hangar generate-list --rancher v2.9.3": [hangar, "generate-list", "--rancher", "v2.9.3",
        "--chart", repo, "-o", f"{work}/rancher.txt", "--output-windows",
        f"{work}/rancher-windows.txt", "--output-versions", f"{work}/versions.txt", "-y"],
    "hangar generate-list helm": [hangar, "generate-list", "helm", repo,
        "-o", f"{work}/helm.txt", "--output-windows", f"{work}/helm-windows.txt", "-y"],
}
results = {}
for name, command in runs.items():
    walls, cpus, rss = [], [], 0
    for rep in range(5):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        # ru_maxrss of children is the largest child so far: the smaller job runs first.
        rss = max(rss, after.ru_maxrss)
    results[name] = (walls, cpus, rss)
charts = sum(1 for root, _, files in os.walk(f"{repo}/assets") for f in files if f.endswith(".tgz"))
size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(f"{repo}/assets") for f in files) / 2**20
count = lambda path: sum(1 for _ in open(path))
images = {
    "hangar generate-list helm": (count(f"{work}/helm.txt"), count(f"{work}/helm-windows.txt")),
    "hangar generate-list --rancher v2.9.3": (count(f"{work}/rancher.txt"), count(f"{work}/rancher-windows.txt")),
}
names = list(runs)
row = lambda label, cell: f"| {label} | " + " | ".join(cell(n) for n in names) + " |\n"
print(f"| {charts} charts ({size:.0f} MiB of archives) | " + " | ".join(names) + " |\n"
      + "|---" * (len(names) + 1) + "|\n"
      + row("what is read", lambda n: "every version of every chart" if "helm" in n else "the newest version of each chart that fits Rancher 2.9.3")
      + row("wall time, median of 5", lambda n: f"{statistics.median(results[n][0]):.2f} s")
      + row("CPU time, median", lambda n: f"{statistics.median(results[n][1]):.2f} s")
      + row("peak RSS (largest so far)", lambda n: f"{results[n][2] // 1024} MiB")
      + row("images listed", lambda n: f"{images[n][0]} Linux, {images[n][1]} Windows")
      + "\n" + "\n".join(f"Wall times of each repetition, {n} (s): {', '.join(f'{w:.2f}' for w in results[n][0])}." for n in names))
PY
)
report=$(python3 - "$table" <<'PY'
import sys, datetime
print(f"""## List generation

Measured by `bench/generate-list.sh` on {datetime.date.today()}, 2 cores, dev profile (dependencies optimised, the helm and rancher plugin components in release). Input: the real Rancher chart repository (rancher/charts, branch dev-v2.9: `index.yaml` and every packaged chart version), `helm` lists every version, `--rancher` the chart versions Rancher 2.9.3 would install. End to end: process start, plugin load, each archive read through the `files` grant, inflated and its values files (subcharts included) walked, lists written. The target is under 5 s.

{sys.argv[1]}

There is no peer in this table: Helm is not packaged for Debian or PyPI, and Hangar's `generate-list` clones its charts from GitHub.""")
PY
)
echo "$report"
bench/write-section "$report"
