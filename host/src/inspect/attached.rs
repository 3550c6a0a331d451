//! What is attached to an image (`view provenance|sbom`): BuildKit attestations (the
//! `unknown/unknown` manifest of the index whose `vnd.docker.reference.digest` is the
//! platform's digest) are looked at first, then cosign's `sha256-HEX.att` (in-toto statements
//! in DSSE envelopes) and `sha256-HEX.sbom` tags, then OCI 1.1 referrers whose artifact type
//! is of the kind asked for.

use crate::copy::CopyError;
use crate::copy::attachments::Attached;
use crate::image::digest::Digest;
use crate::image::manifest::{ImageManifest, Index};
use crate::image::media;
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::registry::{Registry, RegistryError};
use base64::Engine as _;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error("malformed index")]
    MalformedIndex(#[source] serde_json::Error),
    #[error(transparent)]
    Manifest(#[from] serde_json::Error),
    #[error("the attestation is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("{reference}: no {wanted} image")]
    NoPlatform { reference: String, wanted: String },
    #[error("{reference}: no {kind} attached to {subject}")]
    Nothing {
        reference: String,
        kind: &'static str,
        subject: Digest,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Provenance,
    Sbom,
}

impl Kind {
    /// Whether a predicate type or media type is this kind of document.
    pub fn matches(self, text: &str) -> bool {
        let text = text.to_ascii_lowercase();
        match self {
            Kind::Provenance => text.contains("slsa") || text.contains("provenance"),
            Kind::Sbom => {
                text.contains("spdx") || text.contains("cyclonedx") || text.contains("bom")
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Provenance => "provenance",
            Kind::Sbom => "SBOM",
        }
    }
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The document of `kind` attached to the `wanted` platform of `reference` (or to the image
/// itself when it is a single manifest).
pub async fn attached(
    registry: &Registry,
    reference: &Reference,
    wanted: &Platform,
    kind: Kind,
) -> Result<Value, ViewError> {
    let repo = reference.repository();
    let top = registry
        .get_manifest(repo, &reference.manifest_reference())
        .await?;
    let mut subject = top.digest.clone();
    let mut document = None;
    if top.media_type == media::OCI_INDEX || top.media_type == media::DOCKER_LIST {
        let index: Index = serde_json::from_slice(&top.bytes).map_err(ViewError::MalformedIndex)?;
        let entry = index
            .manifests
            .iter()
            .filter(|d| !d.is_attestation())
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == wanted.os && p.architecture == wanted.architecture)
            })
            .ok_or_else(|| ViewError::NoPlatform {
                reference: reference.to_string(),
                wanted: wanted.to_string(),
            })?;
        subject = entry.digest.clone();
        if let Some(attestation) = index
            .manifests
            .iter()
            .find(|d| d.is_attestation() && d.attestation_subject().as_ref() == Some(&subject))
        {
            document = buildkit(registry, repo, &attestation.digest, kind).await?;
        }
    }
    if document.is_none() {
        document = cosign_attached(registry, repo, &subject, kind).await?;
    }
    if document.is_none() {
        document = referred(registry, repo, &subject, kind).await?;
    }
    document.ok_or_else(|| ViewError::Nothing {
        reference: reference.to_string(),
        kind: kind.name(),
        subject,
    })
}

/// In a BuildKit attestation manifest: the first layer annotated with a predicate type of
/// this kind.
async fn buildkit(
    registry: &Registry,
    repo: &str,
    digest: &Digest,
    kind: Kind,
) -> Result<Option<Value>, ViewError> {
    let manifest = registry.get_manifest(repo, digest.as_str()).await?;
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)?;
    for layer in &parsed.layers {
        let hit = layer.annotations.as_ref().is_some_and(|a| {
            a.iter().any(|(k, v)| {
                (k.contains("predicate") || k.contains("intoto") || k.contains("in-toto"))
                    && kind.matches(v)
            })
        });
        if hit {
            let blob = registry
                .get_blob_bytes(repo, &layer.digest, 64 << 20)
                .await?;
            let document = serde_json::from_slice(&blob).map_err(ViewError::NotJson)?;
            return Ok(Some(document));
        }
    }
    Ok(None)
}

/// Cosign's attachments of `subject`: `.att` layers (DSSE envelopes around in-toto
/// statements) by predicate type, then `.sbom` layers by media type.
async fn cosign_attached(
    registry: &Registry,
    repo: &str,
    subject: &Digest,
    kind: Kind,
) -> Result<Option<Value>, ViewError> {
    let base = format!("{}-{}", subject.algorithm(), subject.hex());
    let mut tags = vec![format!("{base}.att")];
    if kind == Kind::Sbom {
        tags.push(format!("{base}.sbom"));
    }
    for tag in tags {
        let manifest = match registry.get_manifest(repo, &tag).await {
            Ok(m) => m,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)?;
        for layer in &parsed.layers {
            let blob = registry
                .get_blob_bytes(repo, &layer.digest, 64 << 20)
                .await?;
            let Ok(value) = serde_json::from_slice::<Value>(&blob) else {
                continue;
            };
            if tag.ends_with(".sbom") {
                if kind.matches(&layer.media_type) {
                    return Ok(Some(value));
                }
                continue;
            }
            if let Some(statement) = in_toto(&value, kind) {
                return Ok(Some(statement));
            }
        }
    }
    Ok(None)
}

/// The statement of a DSSE envelope (base64 in `payload`) whose predicate is of this kind.
fn in_toto(envelope: &Value, kind: Kind) -> Option<Value> {
    let statement = envelope["payload"]
        .as_str()
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())?;
    statement["predicateType"]
        .as_str()
        .is_some_and(|t| kind.matches(t))
        .then_some(statement)
}

/// OCI 1.1 referrers of `subject` with an artifact type of this kind: the first JSON layer
/// (the document itself, or an in-toto statement in a DSSE envelope).
async fn referred(
    registry: &Registry,
    repo: &str,
    subject: &Digest,
    kind: Kind,
) -> Result<Option<Value>, ViewError> {
    let referrers = Attached::default()
        .referrers_of(registry, repo, subject)
        .await?;
    for referrer in referrers {
        let artifact_type = referrer.artifact_type.as_deref().unwrap_or_default();
        // cosign's OCI 1.1 attestations are typed as envelopes: what they hold is told by
        // the statement's predicate type inside.
        let envelope = artifact_type.contains("dsse") || artifact_type.contains("in-toto");
        if !envelope && !kind.matches(artifact_type) {
            continue;
        }
        let manifest = registry
            .get_manifest(repo, referrer.digest.as_str())
            .await?;
        let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)?;
        for layer in &parsed.layers {
            let blob = registry
                .get_blob_bytes(repo, &layer.digest, 64 << 20)
                .await?;
            let Ok(value) = serde_json::from_slice::<Value>(&blob) else {
                continue;
            };
            if let Some(statement) = in_toto(&value, kind) {
                return Ok(Some(statement));
            }
            if !envelope && value.get("payload").is_none() {
                return Ok(Some(value));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_give_their_statement_when_the_predicate_is_of_the_kind() {
        let statement = serde_json::json!({"predicateType": "https://slsa.dev/provenance/v1"});
        let payload = base64::engine::general_purpose::STANDARD.encode(statement.to_string());
        let envelope = serde_json::json!({"payload": payload});
        assert_eq!(in_toto(&envelope, Kind::Provenance), Some(statement));
        assert_eq!(in_toto(&envelope, Kind::Sbom), None);
        assert!(Kind::Sbom.matches("application/vnd.cyclonedx+json"));
        assert!(!Kind::Provenance.matches("text/spdx"));
    }
}
