//! Builds real images in memory, no network and no engine: gzip'd tar layers with
//! deterministic pseudo-random content, image configs with correct `diff_ids`, OCI or Docker
//! manifests, indexes / manifest lists, and BuildKit-style attestation manifests.

use bytes::Bytes;
use flate2::Compression;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Bytes,
}

impl Blob {
    pub fn new(media_type: &str, data: impl Into<Bytes>) -> Blob {
        let data = data.into();
        Blob {
            media_type: media_type.into(),
            digest: sha256(&data),
            data,
        }
    }
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Oci,
    Docker,
}

/// A layer and its uncompressed digest.
#[derive(Clone, Debug)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: String,
}

/// A tar with one file of `size` pseudo-random bytes (seeded, so rebuilding gives the same
/// digest), gzip'd. Random content does not compress, so `size` ≈ the blob size.
pub fn layer(format: Format, seed: u64, size: usize) -> Layer {
    let mut content = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill(&mut content[..]);
    let mut tar = tar::Builder::new(Vec::with_capacity(size + 2048));
    let mut header = tar::Header::new_gnu();
    header.set_size(size as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    tar.append_data(&mut header, format!("data-{seed}"), content.as_slice())
        .unwrap();
    let raw = tar.into_inner().unwrap();
    let diff_id = sha256(&raw);
    let level = if size > 8 << 20 {
        Compression::none()
    } else {
        Compression::fast()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() + 1024), level);
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let media_type = if format == Format::Oci {
        OCI_LAYER
    } else {
        DOCKER_LAYER
    };
    Layer {
        blob: Blob::new(media_type, gz.finish().unwrap()),
        diff_id,
    }
}

/// A layer holding a small filesystem, as image builders write them: `(path, content)` for
/// files, `(path, "->target")` for symlinks, a path ending in `/` for a directory; whiteouts
/// are files named `.wh.NAME` (or `.wh..wh..opq`).
pub fn files_layer(format: Format, entries: &[(&str, &str)]) -> Layer {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        if let Some(target) = content.strip_prefix("->") {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, path, target).unwrap();
        } else if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, path, std::io::empty())
                .unwrap();
        } else {
            header.set_size(content.len() as u64);
            tar.append_data(&mut header, path, content.as_bytes())
                .unwrap();
        }
    }
    let raw = tar.into_inner().unwrap();
    let diff_id = sha256(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let media_type = if format == Format::Oci {
        OCI_LAYER
    } else {
        DOCKER_LAYER
    };
    Layer {
        blob: Blob::new(media_type, gz.finish().unwrap()),
        diff_id,
    }
}

/// A layer of regular files with any bytes (databases, binaries).
pub fn bytes_layer(format: Format, entries: &[(&str, &[u8])]) -> Layer {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_size(content.len() as u64);
        tar.append_data(&mut header, path, *content).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let diff_id = sha256(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let media_type = if format == Format::Oci {
        OCI_LAYER
    } else {
        DOCKER_LAYER
    };
    Layer {
        blob: Blob::new(media_type, gz.finish().unwrap()),
        diff_id,
    }
}

/// A root filesystem tar (mmdebstrap's output) as one gzip'd layer (fast compression: the
/// tests build it often).
pub fn rootfs_layer(tar: &std::path::Path) -> Layer {
    rootfs_layer_at(tar, Compression::fast())
}

/// A root filesystem tar as one gzip'd layer at `level`; `Compression::default()` is what
/// `docker import`, `docker push` and BuildKit write (Go's gzip default level).
pub fn rootfs_layer_at(tar: &std::path::Path, level: Compression) -> Layer {
    let raw = std::fs::read(tar).unwrap_or_else(|e| panic!("{}: {e}", tar.display()));
    let diff_id = sha256(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), level);
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    Layer {
        blob: Blob::new(OCI_LAYER, gz.finish().unwrap()),
        diff_id,
    }
}

/// The Debian bookworm minbase root filesystem tests/install-deps makes with mmdebstrap.
pub fn debian_rootfs() -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-rootfs/bookworm-minbase.tar");
    assert!(
        path.is_file(),
        "{}: missing; tests/install-deps makes it (tests/run runs it)",
        path.display()
    );
    path
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            arch: arch.into(),
            variant: variant.map(String::from),
        }
    }
    pub fn json(&self) -> serde_json::Value {
        let mut p = json!({"architecture": self.arch, "os": self.os});
        if let Some(v) = &self.variant {
            p["variant"] = json!(v);
        }
        p
    }
}

/// One image manifest with its config and layers.
#[derive(Clone, Debug)]
pub struct Image {
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub platform: Platform,
    /// Extra index annotations (attestations carry their subject here).
    pub index_annotations: Option<serde_json::Value>,
}

impl Image {
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }
}

pub fn image(format: Format, platform: Platform, layers: &[Layer]) -> Image {
    let mut config = json!({
        "architecture": platform.arch, "os": platform.os,
        "created": "2023-11-14T22:13:20Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "Labels": {"org.opencontainers.image.title": "hangar-test"}},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| json!({"created": "2023-11-14T22:13:20Z", "created_by": "hangar test layer"})).collect::<Vec<_>>(),
    });
    if let Some(v) = &platform.variant {
        config["variant"] = json!(v);
    }
    let config = Blob::new(
        if format == Format::Oci {
            OCI_CONFIG
        } else {
            DOCKER_CONFIG
        },
        serde_json::to_vec(&config).unwrap(),
    );
    let manifest_type = if format == Format::Oci {
        OCI_MANIFEST
    } else {
        DOCKER_MANIFEST
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config.descriptor(),
        "layers": layers.iter().map(|l| l.blob.descriptor()).collect::<Vec<_>>(),
    });
    Image {
        manifest: Blob::new(manifest_type, serde_json::to_vec_pretty(&manifest).unwrap()),
        config,
        layers: layers.iter().map(|l| l.blob.clone()).collect(),
        platform,
        index_annotations: None,
    }
}

/// A single-platform linux/amd64 OCI image with one layer of `size` bytes.
pub fn single(seed: u64, size: usize) -> Image {
    image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        &[layer(Format::Oci, seed, size)],
    )
}

/// A BuildKit provenance attestation for `subject` (platform unknown/unknown in the index).
pub fn attestation(subject: &Image, seed: u64) -> Image {
    let statement = json!({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "pkg:docker/test", "digest": {"sha256": subject.manifest.digest.trim_start_matches("sha256:")}}],
        "predicate": {"seed": seed}});
    let layer = Blob::new(
        "application/vnd.in-toto+json",
        serde_json::to_vec(&statement).unwrap(),
    );
    let config = Blob::new(
        OCI_CONFIG,
        serde_json::to_vec(
            &json!({"architecture": "unknown", "os": "unknown", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]}}),
        )
        .unwrap(),
    );
    let mut layer_desc = layer.descriptor();
    layer_desc["annotations"] =
        json!({"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"});
    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(), "layers": [layer_desc]});
    Image {
        manifest: Blob::new(OCI_MANIFEST, serde_json::to_vec(&manifest).unwrap()),
        config,
        layers: vec![layer],
        platform: Platform::new("unknown", "unknown", None),
        index_annotations: Some(json!({
            "vnd.docker.reference.digest": subject.manifest.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        })),
    }
}

/// An index (OCI) or manifest list (Docker) over `children`.
pub fn index(format: Format, children: &[Image]) -> Blob {
    let media_type = if format == Format::Oci {
        OCI_INDEX
    } else {
        DOCKER_LIST
    };
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|c| {
            let mut d = c.manifest.descriptor();
            d["platform"] = c.platform.json();
            if let Some(a) = &c.index_annotations {
                d["annotations"] = a.clone();
            }
            d
        })
        .collect();
    Blob::new(
        media_type,
        serde_json::to_vec_pretty(
            &json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}),
        )
        .unwrap(),
    )
}

/// The standard multi-arch fixture: amd64, arm64/v8 and arm/v7 images sharing a base layer,
/// with provenance attestations for amd64 and arm64.
pub struct MultiArch {
    pub index: Blob,
    pub amd64: Image,
    pub arm64: Image,
    pub armv7: Image,
    pub attestations: Vec<Image>,
}

impl MultiArch {
    pub fn build(seed: u64, layer_size: usize) -> MultiArch {
        let base = layer(Format::Oci, seed, layer_size);
        let amd64 = image(
            Format::Oci,
            Platform::new("linux", "amd64", None),
            &[base.clone(), layer(Format::Oci, seed + 1, layer_size)],
        );
        let arm64 = image(
            Format::Oci,
            Platform::new("linux", "arm64", Some("v8")),
            &[base.clone(), layer(Format::Oci, seed + 2, layer_size)],
        );
        let armv7 = image(
            Format::Oci,
            Platform::new("linux", "arm", Some("v7")),
            &[base, layer(Format::Oci, seed + 3, layer_size)],
        );
        let attestations = vec![attestation(&amd64, seed), attestation(&arm64, seed + 1)];
        let mut children = vec![amd64.clone(), arm64.clone(), armv7.clone()];
        children.extend(attestations.iter().cloned());
        MultiArch {
            index: index(Format::Oci, &children),
            amd64,
            arm64,
            armv7,
            attestations,
        }
    }

    pub fn children(&self) -> Vec<&Image> {
        let mut v = vec![&self.amd64, &self.arm64, &self.armv7];
        v.extend(self.attestations.iter());
        v
    }
}
