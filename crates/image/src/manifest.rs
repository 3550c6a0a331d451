//! Parsed views of manifests, indexes and image configs.
//!
//! Copies are always made from the raw bytes (so digests are preserved); these views exist to
//! find children, blobs and platforms, and to build a new index when a filter drops platforms.
//! They are our own lenient structs rather than oci-spec's because oci-spec's `Arch`/`Os`
//! default to the *host* platform when a field is missing, which would invent platforms while
//! we fill missing ones from image configs; unknown fields are kept (`extra`) so a rebuilt
//! index entry loses nothing.

use super::digest::Digest;
use super::platform::Platform;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Descriptor {
    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// A BuildKit attestation manifest (provenance/SBOM), which rides along with its subject.
    pub fn is_attestation(&self) -> bool {
        self.annotation(ANNOTATION_REFERENCE_TYPE) == Some("attestation-manifest")
            || self.platform.as_ref().is_some_and(Platform::is_unknown)
    }

    /// The platform manifest an attestation describes.
    pub fn attestation_subject(&self) -> Option<Digest> {
        self.annotation(ANNOTATION_REFERENCE_DIGEST)?.parse().ok()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
}

impl ImageManifest {
    /// The blobs a registry must hold before the manifest can be pushed: config first, then
    /// layers. Foreign (non-distributable) layers, which carry `urls` and live elsewhere (e.g.
    /// Windows base layers), are not among them: registries accept manifests pointing at them
    /// and they are never copied.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(self.layers.iter().filter(|l| l.urls.is_empty()))
    }
}

/// The parts of an image config that describe its platform.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ConfigPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(rename = "os.version", default)]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default)]
    pub os_features: Vec<String>,
}

impl ConfigPlatform {
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone().filter(|v| !v.is_empty()),
            os_version: self.os_version.clone().filter(|v| !v.is_empty()),
            os_features: self.os_features.clone(),
            features: vec![],
        }
    }

    /// Fills fields the index entry left empty (Hangar #83), never overriding what it says.
    pub fn fill(&self, p: &mut Platform) {
        if p.variant.as_deref().unwrap_or("").is_empty() {
            p.variant = self.variant.clone().filter(|v| !v.is_empty());
        }
        if p.os_version.as_deref().unwrap_or("").is_empty() {
            p.os_version = self.os_version.clone().filter(|v| !v.is_empty());
        }
        if p.os_features.is_empty() {
            p.os_features = self.os_features.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_roundtrip_keeps_unknown_fields_and_finds_attestations() {
        let body = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":10,"platform":{"architecture":"arm","os":"linux","variant":"v7"},"x-extra":1},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":11,
           "annotations":{"vnd.docker.reference.digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","vnd.docker.reference.type":"attestation-manifest"},
           "platform":{"architecture":"unknown","os":"unknown"}}]}"#;
        let idx: Index = serde_json::from_str(body).unwrap();
        assert_eq!(idx.manifests.len(), 2);
        assert!(!idx.manifests[0].is_attestation());
        assert!(idx.manifests[1].is_attestation());
        assert_eq!(
            idx.manifests[1].attestation_subject(),
            Some(idx.manifests[0].digest.clone())
        );
        let again = serde_json::to_value(&idx.manifests[0]).unwrap();
        assert_eq!(again["x-extra"], 1);
        assert_eq!(again["platform"]["variant"], "v7");
    }

    #[test]
    fn foreign_layers_are_not_blobs_to_copy() {
        let body = r#"{"schemaVersion":2,"config":{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1},
          "layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":9,"urls":["https://example.com/base"]},
                    {"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","size":3}]}"#;
        let m: ImageManifest = serde_json::from_str(body).unwrap();
        let digits: Vec<char> = m
            .blobs()
            .map(|d| d.digest.hex().chars().next().unwrap())
            .collect();
        assert_eq!(digits, vec!['1', '3']);
    }

    #[test]
    fn config_fills_only_missing_fields() {
        let cfg: ConfigPlatform = serde_json::from_str(
            r#"{"architecture":"arm","os":"linux","variant":"v7","rootfs":{}}"#,
        )
        .unwrap();
        let mut p = Platform::new("linux", "arm", None);
        cfg.fill(&mut p);
        assert_eq!(p.variant.as_deref(), Some("v7"));
        let mut q = Platform::new("linux", "arm", Some("v6"));
        cfg.fill(&mut q);
        assert_eq!(q.variant.as_deref(), Some("v6"));
    }
}
