#!/usr/bin/env python3
"""Helpers of bench/delta.sh (standard library only).

  free-port                      print a free TCP port on 127.0.0.1
  wait-registry HOST:PORT        wait until the registry answers GET /v2/
  push HOST:PORT MONTH OUT.json  build and push one month of the dataset; OUT.json records
                                 every blob (digest, size, kind) of that month
  check SRC DST LIST             every image of LIST has the same manifest digest at DST as at SRC
  zip-blobs ARCHIVE              JSON {digest: size} of the blobs a hangar archive (zip) holds
  report MEASURES.json           print the markdown section

The dataset: N images in repositories team/app0..app{N-1}. Each is one shared base layer
(BASE_MIB of random bytes) and one layer of its own (5 to 20 MiB of random bytes), a small OCI
config and an OCI image manifest. Month 2 (tag :2) changes only the base layer; the app layers are
byte-identical, the configs (and so the manifests) are new. Layers are gzip streams of stored
(uncompressed) blocks around random bytes: incompressible, valid gzip, so no tool recompresses
them. Nothing here inspects the layers as tar files. A fixed seed makes every run push the same
bytes.
"""

import gzip
import hashlib
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

IMAGES = int(os.environ.get("DELTA_IMAGES", "10"))
BASE_MIB = int(os.environ.get("DELTA_BASE_MIB", "100"))
SEED = int(os.environ.get("DELTA_SEED", "20261205"))
MIB = 1 << 20

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def app_mib(i):
    """Size of image i's own layer: 5 to 20 MiB, spread over the images."""
    if IMAGES == 1:
        return 5
    return 5 + round(15 * i / (IMAGES - 1))


def random_bytes(seed, size):
    import random

    return random.Random(seed).randbytes(size)


def layer(seed, size):
    """A gzip stream of stored blocks around `size` random bytes: (blob, diff_id)."""
    raw = random_bytes(seed, size)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    # mtime=0: the same bytes every run.
    return gzip.compress(raw, compresslevel=0, mtime=0), diff_id


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(method, url, data=None, headers=None, ok=(200, 201, 202)):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        resp = urllib.request.urlopen(req, timeout=120)
    except urllib.error.HTTPError as e:
        if e.code in ok:
            return e
        body = e.read()[:500]
        raise SystemExit(f"{method} {url}: HTTP {e.code}: {body!r}")
    return resp


def blob_exists(registry, repo, dgst):
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/blobs/{dgst}", method="HEAD")
    try:
        urllib.request.urlopen(req, timeout=60)
        return True
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise


def push_blob(registry, repo, data, dgst, mount_from=None):
    if blob_exists(registry, repo, dgst):
        return
    base = f"http://{registry}/v2/{repo}/blobs/uploads/"
    if mount_from:
        resp = request("POST", f"{base}?mount={dgst}&from={mount_from}", data=b"")
        if resp.status == 201:
            return
    else:
        resp = request("POST", base, data=b"")
    location = resp.headers["Location"]
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    request(
        "PUT",
        f"{location}{sep}digest={dgst}",
        data=data,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
    )


def push(registry, month, out):
    month = int(month)
    base, base_diff = layer(SEED * 100 + month, BASE_MIB * MIB)
    base_digest = digest(base)
    blobs = {base_digest: {"size": len(base), "kind": "base layer"}}
    refs = []
    first_repo = None
    for i in range(IMAGES):
        repo = f"team/app{i}"
        app, app_diff = layer(SEED * 1000 + 10 + i, app_mib(i) * MIB)
        app_digest = digest(app)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": f"2026-{month:02d}-01T00:00:00Z",
                "config": {"Env": [f"APP=app{i}", f"MONTH={month}"]},
                "rootfs": {"type": "layers", "diff_ids": [base_diff, app_diff]},
                "history": [
                    {"created": f"2026-{month:02d}-01T00:00:00Z", "created_by": f"base month {month}"},
                    {"created": "2026-01-01T00:00:00Z", "created_by": f"app{i}"},
                ],
            },
            sort_keys=True,
        ).encode()
        config_digest = digest(config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": base_digest, "size": len(base)},
                    {"mediaType": OCI_LAYER, "digest": app_digest, "size": len(app)},
                ],
            },
            sort_keys=True,
        ).encode()
        manifest_digest = digest(manifest)
        push_blob(registry, repo, base, base_digest, mount_from=first_repo)
        push_blob(registry, repo, app, app_digest)
        push_blob(registry, repo, config, config_digest)
        request(
            "PUT",
            f"http://{registry}/v2/{repo}/manifests/{month}",
            data=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        first_repo = first_repo or repo
        blobs[app_digest] = {"size": len(app), "kind": "app layer"}
        blobs[config_digest] = {"size": len(config), "kind": "config"}
        blobs[manifest_digest] = {"size": len(manifest), "kind": "manifest"}
        refs.append({"ref": f"{registry}/{repo}:{month}", "manifest": manifest_digest})
    with open(out, "w") as f:
        json.dump({"month": month, "blobs": blobs, "images": refs}, f, indent=1)


def get_manifest(registry, repo, tag):
    resp = request(
        "GET", f"http://{registry}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, ok=(200,)
    )
    body = resp.read()
    header = resp.headers.get("Docker-Content-Digest")
    own = digest(body)
    if header and header != own:
        raise SystemExit(f"{registry}/{repo}:{tag}: body digest {own} != header {header}")
    return own, json.loads(body)


def check(src, dst, list_path):
    """Every image of the list: same manifest digest at dst as at src, and dst has its blobs."""
    bad = []
    n = 0
    for line in open(list_path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        _, rest = line.split("/", 1)
        repo, tag = rest.rsplit(":", 1)
        a, _ = get_manifest(src, repo, tag)
        n += 1
        try:
            b, manifest = get_manifest(dst, repo, tag)
        except SystemExit as e:
            bad.append(f"{repo}:{tag}: source {a}, destination: {e}")
            continue
        if a != b:
            bad.append(f"{repo}:{tag}: source {a}, destination {b}")
            continue
        for desc in [manifest["config"]] + manifest.get("layers", []):
            if not blob_exists(dst, repo, desc["digest"]):
                bad.append(f"{repo}:{tag}: blob {desc['digest']} missing at the destination")
    if bad:
        print("CHECK FAILED: the destination differs from the source:", file=sys.stderr)
        for b in bad:
            print("  " + b, file=sys.stderr)
        sys.exit(1)
    print(f"{n} images: manifests and blobs at {dst} match {src}", file=sys.stderr)


def zip_blobs(path):
    import zipfile

    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = info.filename
            # Blobs are stored under a path ending in the hex digest (…/sha256/<hex>).
            parts = name.rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] == "sha256" and len(parts[-1]) == 64:
                out["sha256:" + parts[-1]] = info.file_size
    return out


def mib(n):
    return n / MIB


def report(work):
    m = {}
    for line in open(os.path.join(work, "measures.env")):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            m[k] = v
    month1 = json.load(open(os.path.join(work, "month1.json")))
    month2 = json.load(open(os.path.join(work, "month2.json")))
    b1, b2 = month1["blobs"], month2["blobs"]
    all2 = sum(b["size"] for b in b2.values())
    all1 = sum(b["size"] for b in b1.values())
    # What the destination lacks after month 1: every month-2 blob month 1 did not have.
    new2 = {d: b for d, b in b2.items() if d not in b1}
    new2_bytes = sum(b["size"] for b in new2.values())
    base2 = [b["size"] for b in b2.values() if b["kind"] == "base layer"][0]
    apps = sum(b["size"] for b in b2.values() if b["kind"] == "app layer")
    small = sum(b["size"] for b in new2.values() if b["kind"] in ("config", "manifest"))
    n = len(month2["images"])

    full2, dbase, dinv = (int(m[k]) for k in ("save2_bytes", "delta_base_bytes", "delta_inv_bytes"))
    skopeo = int(m["skopeo_bytes"])

    # Which blobs the archives hold, against what they should.
    contents = {}
    for name, path in (
        ("full", "full2.zip"),
        ("base", "delta-archive.zip"),
        ("inventory", "delta-inventory.zip"),
    ):
        contents[name] = zip_blobs(os.path.join(work, path))
    findings = []
    if set(contents["full"]) != set(b2):
        findings.append(
            f"the full archive's blobs differ from month 2's: "
            f"{len(set(b2) - set(contents['full']))} missing, "
            f"{len(set(contents['full']) - set(b2))} extra"
        )
    for name, flag in (("base", "`--base`"), ("inventory", "`--base-inventory`")):
        held = set(contents[name])
        missing, extra = set(new2) - held, held - set(new2)
        if missing or extra:
            kinds = lambda ds: ", ".join(
                sorted({(b2.get(d) or b1.get(d) or {"kind": "unknown"})["kind"] for d in ds})
            )
            findings.append(
                f"the {flag} delta holds {len(extra)} blobs it need not ({kinds(extra) or '–'}) "
                f"and lacks {len(missing)} it needs ({kinds(missing) or '–'})"
            )
    debug = m.get("build") == "debug"

    lines = []
    w = lines.append
    w("## Delta archives: carrying only what changed")
    w("")
    w(
        f"Measured by `bench/delta.sh` on {m['date']}, {m['cores']} cores ({m['cpu']}): a source and "
        f"a destination `docker-registry` 2.8 on 127.0.0.1; registries, archives and skopeo's output "
        f"on tmpfs. One run: the bytes are the result; the wall times are secondary"
        + (
            ", and **come from a debug build of hangar** (dependencies optimised, hangar's own code "
            "not), so they say little about a release build."
            if debug
            else "."
        )
    )
    w("")
    w(
        f"Dataset: {n} images (`team/app0` … `team/app{n - 1}`), each one shared base layer "
        f"({mib(base2):.0f} MiB) and one layer of its own (5 to 20 MiB, {mib(apps):.0f} MiB in all), "
        f"random incompressible bytes from a fixed seed, with a small OCI config and an OCI image "
        f"manifest (`bench/delta_images.py`). Month 1 (`:1`, {mib(all1):.0f} MiB of blobs) is saved "
        f"(`save -j 4`, {mib(int(m['save1_bytes'])):.0f} MiB, {m['save1_wall']} s) and loaded "
        f"(`load -j 4`, {m['load1_wall']} s) into the destination. In month 2 (`:2`, "
        f"{mib(all2):.0f} MiB of blobs) only the base layer changed: the app layers are "
        f"byte-identical, the configs and so the manifests are new. What the destination lacks is "
        f"the new base layer and {2 * n} small blobs (configs and manifests, {small / 1024:.1f} KiB): "
        f"{mib(new2_bytes):.1f} MiB."
    )
    w("")
    w("| route (month 2) | bytes carried (MiB) | wall (s) |")
    w("|---|---|---|")
    w(f"| hangar, full archive (`save`) | {mib(full2):.1f} | {m['save2_wall']} |")
    w(f"| hangar, delta over the month-1 archive (`save --base full1.zip`) | {mib(dbase):.1f} | {m['delta_base_wall']} |")
    w(
        f"| hangar, delta over an inventory of the destination (`save --base-inventory`) | "
        f"{mib(dinv):.1f} | {m['delta_inv_wall']} |"
    )
    w(
        f"| skopeo, one `oci-archive` per image (`copy --all`, 4 at a time) | {mib(skopeo):.1f} | "
        f"{m['skopeo_wall']} |"
    )
    w("")
    w("| measure | value | expected |")
    w("|---|---|---|")
    w(
        f"| delta / full bytes (`--base`) | {dbase / full2:.3f} | "
        f"{new2_bytes / all2:.3f} (new base + configs + manifests) / (all month-2 blobs) |"
    )
    w(f"| delta / full bytes (`--base-inventory`) | {dinv / full2:.3f} | {new2_bytes / all2:.3f} |")
    w(f"| skopeo bytes / delta bytes (`--base`) | {skopeo / dbase:.2f} | – |")
    w(
        f"| `hangar inventory` of the destination ({n} repositories) | "
        f"{int(m['inventory_bytes']) / 1024:.1f} KiB, {m['inventory_wall']} s | – |"
    )
    w(f"| `load -j 4` of the `--base` delta into the destination | {m['load_delta_wall']} s | – |")
    w("")
    w(
        f"\"Bytes carried\" is the size of what the route writes for transport: the zip, or the "
        f"sum of skopeo's {m['skopeo_files']} tar files (MiB = 2^20 bytes). The full archive holds "
        f"{mib(all2):.1f} MiB of blobs, one copy of each; the deltas hold "
        f"{mib(sum(contents['base'].values())):.1f} MiB (`--base`) and "
        f"{mib(sum(contents['inventory'].values())):.1f} MiB (`--base-inventory`); the rest of each "
        f"zip is its index and per-image layout files. skopeo repeats the base layer in every "
        f"image's archive. The inventory was taken after month 1 was loaded, before the delta."
    )
    w("")
    checked = (
        "After the load of the `--base` delta, every month-2 tag at the destination has the "
        "source's manifest digest and the destination has each of its blobs (the script fails "
        "otherwise)."
    )
    if findings:
        w(checked + " Archive contents against what they should hold: " + "; ".join(findings) + ".")
    else:
        w(
            checked
            + " Both deltas hold exactly the blobs the destination lacked (the new base layer, "
            "the configs and the manifests) and the same set as each other."
        )
    warnings = int(m.get("hangar_warnings", "0") or 0)
    if warnings:
        w("")
        w(f"hangar logged {warnings} warning or error lines during the run (see the script's stderr).")
    w("")
    w(f"Versions: hangar {m['hangar_version']}" + (" (debug build)" if debug else "") + f"; {m['skopeo_version']}.")
    print("\n".join(lines))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def wait_registry(addr):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://{addr}/v2/", timeout=2)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"registry {addr} did not answer within 30 s")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "free-port":
        free_port()
    elif cmd == "wait-registry":
        wait_registry(*args)
    elif cmd == "push":
        push(*args)
    elif cmd == "check":
        check(*args)
    elif cmd == "zip-blobs":
        json.dump(zip_blobs(*args), sys.stdout)
    elif cmd == "report":
        report(*args)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
