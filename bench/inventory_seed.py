#!/usr/bin/env python3
"""Helpers of bench/inventory.sh (standard library only; HTTP helpers from bench/delta_images.py).

  seed HOST:PORT FROM TO          create repositories fleet/svc<FROM>..fleet/svc<TO-1>
  check INVENTORY.json COUNT      the inventory holds exactly fleet/svc0..COUNT-1, each with tag
                                  "1" naming a manifest whose layers list the shared layer
  report WORK                     print the markdown section from WORK/measures.env

Every repository holds the same image: one tiny shared layer (a gzip of 512 random bytes from a
fixed seed) and one small OCI config, uploaded once to fleet/svc00000; every other repository
gets them by cross-repository mounts (POST …/blobs/uploads/?mount=…&from=fleet/svc00000, a
monolithic upload when the registry declines), then one manifest PUT under tag `1`. Every tenth
repository also gets tag `2` (the same manifest). The repositories are seeded by
SEED_THREADS (8) threads; the registry's storage, not the seeder, is what is measured.
"""

import concurrent.futures
import hashlib
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_images import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, digest, layer, request  # noqa: E402

SEED = int(os.environ.get("INVENTORY_SEED", "20261205"))
THREADS = int(os.environ.get("SEED_THREADS", "8"))


def repo_name(i):
    return f"fleet/svc{i:05d}"


def image():
    """The shared layer, config and manifest: (layer, config, manifest) as bytes."""
    blob, diff_id = layer(SEED, 512)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"Env": ["APP=fleet"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": digest(blob), "size": len(blob)}],
        },
        sort_keys=True,
    ).encode()
    return blob, config, manifest


def upload(registry, repo, data, dgst, mount_from):
    """A blob into repo: mounted from mount_from, or uploaded whole if the registry declines."""
    base = f"http://{registry}/v2/{repo}/blobs/uploads/"
    url = f"{base}?mount={dgst}&from={mount_from}" if mount_from else base
    resp = request("POST", url, data=b"")
    status = resp.status
    location = resp.headers["Location"]
    resp.read()
    if status == 201:
        return
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    request(
        "PUT",
        f"{location}{sep}digest={dgst}",
        data=data,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
    ).read()


def seed_one(registry, i, blobs, manifest, first):
    repo = repo_name(i)
    mount_from = None if repo == first else first
    for data in blobs:
        upload(registry, repo, data, digest(data), mount_from)
    tags = ["1", "2"] if i % 10 == 0 else ["1"]
    for tag in tags:
        request(
            "PUT",
            f"http://{registry}/v2/{repo}/manifests/{tag}",
            data=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        ).read()


def seed(registry, start, end):
    start, end = int(start), int(end)
    blob, config, manifest = image()
    first = repo_name(0)
    print(f"seeding {repo_name(start)}..{repo_name(end - 1)} at {registry}", file=sys.stderr)
    if start == 0:
        # The source of every mount goes first, alone.
        seed_one(registry, 0, (blob, config), manifest, first)
        start = 1
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(seed_one, registry, i, (blob, config), manifest, first)
            for i in range(start, end)
        ]
        for f in concurrent.futures.as_completed(futures):
            f.result()


def check(path, count):
    """Fail loudly unless the inventory describes exactly the seeded repositories."""
    count = int(count)
    blob, config, manifest = image()
    want_layer, want_config, want_manifest = digest(blob), digest(config), digest(manifest)
    inv = json.load(open(path))
    repos = inv.get("repositories", [])
    bad = []
    names = [r["name"] for r in repos]
    expected = [repo_name(i) for i in range(count)]
    if names != expected:
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        bad.append(
            f"{len(names)} repositories, expected {count} in order: {len(missing)} missing "
            f"({missing[:3]}), {len(extra)} extra ({extra[:3]})"
            + ("; the same set in another order" if not missing and not extra else "")
        )
    tags2 = 0
    for r in repos:
        tag = r.get("tags", {}).get("1")
        if tag is None:
            bad.append(f"{r['name']}: no tag 1 ({sorted(r.get('tags', {}))})")
            continue
        m = r.get("manifests", {}).get(tag)
        if tag != want_manifest or m is None:
            bad.append(f"{r['name']}:1 -> {tag}, expected {want_manifest} described")
            continue
        if want_layer not in m.get("layers", []) or m.get("config") != want_config:
            bad.append(f"{r['name']}:1: layers {m.get('layers')}, config {m.get('config')}")
        tags2 += "2" in r["tags"]
    want2 = len(range(0, count, 10))
    if tags2 != want2:
        bad.append(f"{tags2} repositories with tag 2, expected {want2}")
    # The id names the `repositories` array exactly as written (serde_json, compact).
    array = json.dumps(repos, separators=(",", ":"), ensure_ascii=False).encode()
    own = "sha256:" + hashlib.sha256(array).hexdigest()
    if inv.get("id") != own:
        print(f"note: inventory id {inv.get('id')} != {own} (recomputed)", file=sys.stderr)
    if bad:
        print(f"CHECK FAILED: {path}:", file=sys.stderr)
        for b in bad[:20]:
            print("  " + b, file=sys.stderr)
        if len(bad) > 20:
            print(f"  … and {len(bad) - 20} more", file=sys.stderr)
        sys.exit(1)
    print(f"{path}: {count} repositories, each tag 1 -> {want_manifest[:19]}…", file=sys.stderr)


def report(work):
    m = {}
    for line in open(os.path.join(work, "measures.env")):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            m[k] = v
    sizes = [int(s) for s in m["sizes"].split()]
    runs = int(m["runs"])
    jobs = m["jobs"]
    med = statistics.median
    rows = []
    for n in sizes:
        run = lambda key, conv=float: [conv(m[f"inv{n}_j{jobs}_r{r}_{key}"]) for r in range(runs)]
        walls = run("wall")
        rows.append(
            {
                "n": n,
                "wall": med(walls),
                "wall_min": min(walls),
                "wall_max": max(walls),
                "rss": max(run("rss", int)) / 1024,
                "cpu": med(run("cpu")),
                "regcpu": med(run("regcpu")),
                "bytes": int(m[f"inv{n}_bytes"]),
                "requests": int(m[f"inv{n}_requests"]),
                "pages": int(m[f"inv{n}_pages"]),
                "seed": float(m[f"seed{n}_wall"]),
            }
        )
    ms = lambda seconds, n: seconds / n * 1000
    lines = []
    w = lines.append
    w("## Inventory: thousands of repositories")
    w("")
    w(
        f"Measured by `bench/inventory.sh` on {m['date']}, {m['cores']} cores ({m['cpu']}), "
        f"hangar {m['hangar_version']} ({m['build']} build): `hangar inventory -d REGISTRY "
        f"-o inv.json --tls-verify=false -j {jobs}` against one `docker-registry` 2.8 on "
        f"127.0.0.1 (storage on tmpfs; `catalog: {{maxentries: 1000}}`, its default, so the "
        f"catalog comes in pages of 1,000 names). The registry is seeded incrementally "
        f"(`bench/inventory_seed.py`, threads): repositories `fleet/svc00000` … each hold one "
        f"tiny image (a 512-byte layer and a config shared by all, by cross-repository mounts) "
        f"under tag `1`, every tenth also under tag `2`. Each size is measured "
        + ("once. " if runs == 1 else f"{runs} times: wall and CPU are medians (wall's range in "
           "brackets), peak RSS the largest. ")
        + "Peak RSS and hangar's CPU (user + system) come from `/usr/bin/time`, the registry's "
        "CPU over the same span from `/proc`. Every output is checked: exactly the seeded "
        "repositories, in order, each tag `1` naming the manifest with the shared layer (the "
        "script fails otherwise)."
    )
    w("")
    w(
        "| repos | wall (s) | repos/s | peak RSS (MiB) | output (KiB) | hangar CPU (ms/repo) | "
        "registry CPU (ms/repo) | requests / repo | catalog pages |"
    )
    w("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        spread = f" ({r['wall_min']:.2f}–{r['wall_max']:.2f})" if runs > 1 else ""
        w(
            f"| {r['n']} | {r['wall']:.2f}{spread} | {r['n'] / r['wall']:.0f} | {r['rss']:.1f} | "
            f"{r['bytes'] / 1024:.0f} | {ms(r['cpu'], r['n']):.2f} | "
            f"{ms(r['regcpu'], r['n']):.2f} | {r['requests'] / r['n']:.2f} | {r['pages']} |"
        )
    w("")
    first, last = rows[0], rows[-1]
    per = [ms(r["wall"], r["n"]) for r in rows]
    growth = last["n"] / first["n"]
    summary = (
        f"From {first['n']} to {last['n']} repositories ({growth:.0f}×) the wall time grows "
        f"{last['wall'] / first['wall']:.1f}×: "
        + ", ".join(f"{p:.2f}" for p in per)
        + " ms per repository. "
    )
    lo, hi = min(per), max(per)
    if hi / lo <= 1.25:
        summary += "The cost per repository is about constant: time is linear in the repositories. "
    else:
        summary += (
            f"The cost per repository varies by {hi / lo:.2f}× between sizes, "
            + (
                "within the run-to-run spread, so time is linear within this machine's noise. "
                if any(r["wall_max"] / r["wall_min"] >= hi / lo for r in rows) or runs == 1
                else "more than the run-to-run spread. "
            )
        )
    reg_busy = statistics.mean(r["regcpu"] / r["wall"] for r in rows)
    all_busy = statistics.mean((r["regcpu"] + r["cpu"]) / r["wall"] for r in rows)
    cores = int(m["cores"])
    span = lambda xs, f: f"{min(xs):{f}}" + (f"–{max(xs):{f}}" if f"{min(xs):{f}}" != f"{max(xs):{f}}" else "")
    summary += (
        f"hangar's own CPU stays at {span([ms(r['cpu'], r['n']) for r in rows], '.2f')} ms per "
        f"repository; the registry spends {span([ms(r['regcpu'], r['n']) for r in rows], '.1f')} "
        f"ms and keeps {reg_busy:.1f} of the "
        f"{cores} cores busy during the run"
        + (
            ", so the machine's CPUs are saturated, mostly by the registry: the registry, not "
            "hangar, bounds the rate here. "
            if all_busy >= 0.8 * cores
            else ". "
        )
    )
    drss = last["rss"] - first["rss"]
    per_repo_kib = drss * 1024 / (last["n"] - first["n"]) if last["n"] != first["n"] else 0.0
    if abs(drss) < 2.0:
        summary += (
            f"Peak RSS stays flat ({first['rss']:.1f} MiB at {first['n']}, {last['rss']:.1f} MiB "
            f"at {last['n']}, while the output grows to {last['bytes'] / 1024:.0f} KiB): hangar "
            f"holds the catalog's names and `-j` repositories at a time, and writes each "
            f"repository out as soon as it and those before it are read."
        )
    else:
        summary += (
            f"Peak RSS grows by {drss:.1f} MiB ({first['rss']:.1f} → {last['rss']:.1f} MiB), "
            f"{per_repo_kib:.1f} KiB per extra repository, against an output of "
            f"{last['bytes'] / last['n']:.0f} bytes per repository: more than the names the "
            f"catalog leaves in memory, so something else is held per repository."
        )
    w(summary)
    if "subsets" in m:
        k = int(m["subsets"])
        sub = []
        for r in rows:
            n = r["n"]
            walls = [float(m[f"sub{n}_r{i}_wall"]) for i in range(k)]
            sub.append((n, ms(med(walls), n), ms(min(walls), n), ms(max(walls), n)))
        lo_s, hi_s = min(x[1] for x in sub), max(x[1] for x in sub)
        w("")
        w(
            f"The same registry for every size: after the last seeding, `-f` lists of the first "
            + ", ".join(str(x[0]) for x in sub)
            + f" repositories (no catalog), the sizes interleaved, {k} rounds, take "
            + ", ".join(f"{x[1]:.2f} ({x[2]:.2f}–{x[3]:.2f})" for x in sub)
            + " ms per repository (median, range): "
            + (
                f"constant within {100 * (hi_s / lo_s - 1):.0f}%, so time is linear in the "
                f"repositories"
                + (
                    " and the differences between sizes above come from the registry's state "
                    "and the machine, not from hangar."
                    if hi / lo > 1.25
                    else "."
                )
                if hi_s / lo_s <= 1.2
                else f"they differ by {hi_s / lo_s:.2f}× between sizes."
            )
        )
    if "par_j1_wall" in m:
        n = int(m["par_n"])
        j1, jn = float(m["par_j1_wall"]), float(m[f"inv{n}_j{jobs}_median"])
        w("")
        w(
            f"Parallelism at {n} repositories (one run of `-j 1` against the median of `-j {jobs}`): "
            f"`-j 1` takes {j1:.2f} s ({n / j1:.0f} repos/s, peak RSS "
            f"{int(m['par_j1_rss']) / 1024:.1f} MiB, registry CPU "
            f"{float(m['par_j1_regcpu']):.2f} s), `-j {jobs}` {jn:.2f} s ({n / jn:.0f} repos/s): "
            f"{j1 / jn:.2f}× on {m['cores']} cores that the registry shares with hangar"
            + (
                "; with the registry's CPU the limit, more requests in flight gain little."
                if j1 / jn < 1.5
                else "."
            )
        )
    w("")
    w(
        "Requests per repository are hangar's lines (by user agent) in the registry's access "
        "log during the first run of each size, divided by the repositories: a tags list and "
        "one manifest GET per tag (1.1 tags per repository), plus `GET /v2/` and the catalog's "
        "pages. Seeding (not measured) took "
        + ", ".join(f"{r['seed']:.1f} s" for r in rows)
        + " for the successive increments."
    )
    warnings = int(m.get("hangar_warnings", "0") or 0)
    if warnings:
        w("")
        w(f"hangar logged {warnings} warning or error lines during the run (see the script's stderr).")
    w("")
    w(
        "No peer: skopeo has no inventory (its `list-tags` lists one repository's tags; it "
        "neither reads the catalog nor describes manifests and their blobs), so the table "
        "stands alone."
    )
    print("\n".join(lines))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "seed":
        seed(*args)
    elif cmd == "check":
        check(*args)
    elif cmd == "report":
        report(*args)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
