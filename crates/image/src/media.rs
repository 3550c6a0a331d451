//! Manifest media types, and what to do when a registry does not say (sniffing the body).

pub const DOCKER_V2S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_V2S1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_V2S1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Every manifest type we can copy, in the order registries should prefer them.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_INDEX,
    DOCKER_LIST,
    OCI_MANIFEST,
    DOCKER_V2S2,
    DOCKER_V2S1_SIGNED,
    DOCKER_V2S1,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    OciIndex,
    DockerList,
    OciManifest,
    DockerV2S2,
    Schema1,
}

impl ManifestKind {
    pub fn from_media_type(media_type: &str) -> Option<ManifestKind> {
        Some(match media_type {
            OCI_INDEX => ManifestKind::OciIndex,
            DOCKER_LIST => ManifestKind::DockerList,
            OCI_MANIFEST => ManifestKind::OciManifest,
            DOCKER_V2S2 => ManifestKind::DockerV2S2,
            DOCKER_V2S1 | DOCKER_V2S1_SIGNED => ManifestKind::Schema1,
            _ => return None,
        })
    }

    pub fn is_index(self) -> bool {
        matches!(self, ManifestKind::OciIndex | ManifestKind::DockerList)
    }
}

/// The media type a manifest body declares, or what its shape says when it declares none
/// (OCI allows omitting `mediaType`; registries then send a generic Content-Type).
pub fn sniff(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Some(mt.to_string());
    }
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        let signed = v.get("signatures").is_some();
        return Some(
            if signed {
                DOCKER_V2S1_SIGNED
            } else {
                DOCKER_V2S1
            }
            .into(),
        );
    }
    if v.get("manifests").is_some() {
        return Some(OCI_INDEX.into());
    }
    if v.get("config").is_some() || v.get("layers").is_some() {
        return Some(OCI_MANIFEST.into());
    }
    None
}

/// Picks the manifest's media type from the Content-Type header, falling back to the body
/// when the header is missing or generic.
pub fn resolve(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| {
            !c.is_empty()
                && c != "application/json"
                && c != "text/plain"
                && c != "application/octet-stream"
        });
    header.or_else(|| sniff(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_table() {
        let cases: [(&str, Option<&str>); 6] = [
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
                Some(DOCKER_V2S2),
            ),
            (r#"{"schemaVersion":2,"manifests":[]}"#, Some(OCI_INDEX)),
            (
                r#"{"schemaVersion":2,"config":{},"layers":[]}"#,
                Some(OCI_MANIFEST),
            ),
            (
                r#"{"schemaVersion":1,"fsLayers":[],"signatures":[]}"#,
                Some(DOCKER_V2S1_SIGNED),
            ),
            (r#"{"schemaVersion":1,"fsLayers":[]}"#, Some(DOCKER_V2S1)),
            ("not json", None),
        ];
        for (body, want) in cases {
            assert_eq!(sniff(body.as_bytes()).as_deref(), want, "{body}");
        }
        assert_eq!(
            resolve(
                Some("application/json; charset=utf-8"),
                br#"{"manifests":[]}"#
            )
            .as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            resolve(Some(OCI_MANIFEST), b"{}").as_deref(),
            Some(OCI_MANIFEST)
        );
        assert_eq!(
            ManifestKind::from_media_type(DOCKER_V2S1_SIGNED),
            Some(ManifestKind::Schema1)
        );
        assert_eq!(
            ManifestKind::from_media_type("application/vnd.cncf.helm.config.v1+json"),
            None
        );
    }
}
