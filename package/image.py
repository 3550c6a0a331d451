#!/usr/bin/env python3
"""Writes hangar's container image as an OCI image layout, without a daemon or a base image.

Usage: package/image.py OUT_DIR VERSION AMD64_BINARY [ARM64_BINARY]

One layer per platform holds the static binary (/usr/local/bin/hangar), the machine's CA
bundle (/etc/ssl/certs/ca-certificates.crt), Hangar's containers configuration
(/etc/containers/policy.json, /etc/containers/registries.d/default.yaml), a passwd/group with
the non-root user hangar (65532), its home and /tmp. The image config runs hangar as that user
with `hangar` as the entrypoint. An OCI index names both platforms; index.json names it VERSION
(org.opencontainers.image.ref.name), so `hangar mirror` publishes it with the list line
`oci:OUT_DIR REGISTRY/REPOSITORY VERSION`.

The output is reproducible: every file has the time SOURCE_DATE_EPOCH (default: 0), owner 0
(the home: 65532) and a fixed order, and gzip records no name or time.
"""

import datetime
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
USER = 65532
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HERE = os.path.dirname(os.path.abspath(__file__))


def rootfs(binary, epoch):
    """The layer's tar: directories first, each entry with fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name, data=None, mode=0o644, kind=tarfile.REGTYPE, owner=0):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            info.mtime = epoch
            info.uid = info.gid = owner
            info.uname = info.gname = ""
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        for directory in [
            "etc", "etc/containers", "etc/containers/registries.d", "etc/ssl",
            "etc/ssl/certs", "usr", "usr/local", "usr/local/bin",
        ]:
            add(directory, mode=0o755, kind=tarfile.DIRTYPE)
        add("home", mode=0o755, kind=tarfile.DIRTYPE)
        add("home/hangar", mode=0o755, kind=tarfile.DIRTYPE, owner=USER)
        add("tmp", mode=0o1777, kind=tarfile.DIRTYPE)
        add("etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\nhangar:x:{USER}:{USER}:hangar:/home/hangar:/sbin/nologin\n".encode())
        add("etc/group", f"root:x:0:\nhangar:x:{USER}:\n".encode())
        with open(os.path.join(HERE, "default-policy.json"), "rb") as f:
            add("etc/containers/policy.json", f.read())
        with open(os.path.join(HERE, "registries.d", "default.yaml"), "rb") as f:
            add("etc/containers/registries.d/default.yaml", f.read())
        with open(CA_BUNDLE, "rb") as f:
            add(CA_BUNDLE.lstrip("/"), f.read())
        with open(binary, "rb") as f:
            add("usr/local/bin/hangar", f.read(), mode=0o755)
    return buf.getvalue()


class Layout:
    def __init__(self, path):
        self.path = path
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(os.path.join(path, "blobs", "sha256"))
        with open(os.path.join(path, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')

    def blob(self, data, media_type, **extra):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.path, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


def compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[1])
    out, version, binaries = sys.argv[1], sys.argv[2], sys.argv[3:]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    layout = Layout(out)
    labels = {
        "org.opencontainers.image.title": "hangar",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.description": "Copy container images into air-gapped sites",
    }
    platforms = []
    for arch, binary in zip(["amd64", "arm64"], binaries):
        tar = rootfs(binary, epoch)
        layer = layout.blob(gzip.compress(tar, compresslevel=9, mtime=0), OCI_LAYER_GZIP)
        config = layout.blob(compact({
            "created": created,
            "architecture": arch,
            "os": "linux",
            "config": {
                "User": f"{USER}:{USER}",
                "Entrypoint": ["/usr/local/bin/hangar"],
                "Cmd": ["--help"],
                "WorkingDir": "/home/hangar",
                "Env": [
                    "PATH=/usr/local/bin:/usr/bin:/bin",
                    "HOME=/home/hangar",
                    f"SSL_CERT_FILE={CA_BUNDLE}",
                ],
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
            "history": [{"created": created, "created_by": "package/image.py"}],
        }), OCI_CONFIG)
        manifest = layout.blob(compact({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config,
            "layers": [layer],
            "annotations": {"org.opencontainers.image.version": version},
        }), OCI_MANIFEST, platform={"architecture": arch, "os": "linux"})
        platforms.append(manifest)
    index = layout.blob(compact({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": platforms,
        "annotations": {"org.opencontainers.image.version": version},
    }), OCI_INDEX, annotations={"org.opencontainers.image.ref.name": version})
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(compact({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [index]}))
    print(index["digest"])


if __name__ == "__main__":
    main()
