//! `hangar view provenance|sbom IMAGE`: the build provenance or SBOM attached to an image, as
//! indented JSON. BuildKit attestations (the `unknown/unknown` manifest of the index whose
//! `vnd.docker.reference.digest` is the platform's digest) are looked at first, then cosign's
//! `sha256-HEX.att` (in-toto statements in DSSE envelopes) and `sha256-HEX.sbom` tags, then
//! OCI 1.1 referrers whose artifact type is of the kind asked for.

use super::Status;
use super::args::{TlsArgs, connect_image};
use crate::copy::attachments::Attached;
use crate::image::digest::Digest;
use crate::image::manifest::{ImageManifest, Index};
use crate::image::media;
use crate::image::platform::Platform;
use crate::registry::Registry;
use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ViewCommand {
    #[command(subcommand)]
    what: ViewWhat,
}

#[derive(Subcommand, Debug)]
enum ViewWhat {
    /// The build provenance (SLSA) of an image
    Provenance(ViewArgs),
    /// The SBOM (SPDX or CycloneDX) of an image
    Sbom(ViewArgs),
}

#[derive(Args, Debug)]
struct ViewArgs {
    #[arg(value_name = "IMAGE")]
    image: Option<String>,
    /// Write to this file instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Architecture of the platform to look at [default: this machine's]
    #[arg(long, value_name = "ARCH")]
    override_arch: Option<String>,
    /// OS of the platform to look at [default: this machine's]
    #[arg(long, value_name = "OS")]
    override_os: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Accepted for compatibility
    #[arg(short = 'y', long = "auto-yes", hide = true)]
    yes: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Provenance,
    Sbom,
}

impl Kind {
    /// Whether a predicate type or media type is this kind of document.
    fn matches(self, text: &str) -> bool {
        let text = text.to_ascii_lowercase();
        match self {
            Kind::Provenance => text.contains("slsa") || text.contains("provenance"),
            Kind::Sbom => {
                text.contains("spdx") || text.contains("cyclonedx") || text.contains("bom")
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Provenance => "provenance",
            Kind::Sbom => "SBOM",
        }
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub async fn run(cmd: ViewCommand) -> anyhow::Result<Status> {
    let (kind, args) = match cmd.what {
        ViewWhat::Provenance(a) => (Kind::Provenance, a),
        ViewWhat::Sbom(a) => (Kind::Sbom, a),
    };
    let (reference, registry) = connect_image(args.image.as_deref(), &args.tls).await?;
    let repo = reference.repository();
    let top = registry
        .get_manifest(repo, &reference.manifest_reference())
        .await?;
    let arch = args
        .override_arch
        .clone()
        .unwrap_or_else(|| host_arch().to_string());
    let os = args
        .override_os
        .clone()
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let wanted = Platform::new(&os, &arch, None);
    let mut subject = top.digest.clone();
    let mut document = None;
    if top.media_type == media::OCI_INDEX || top.media_type == media::DOCKER_LIST {
        let index: Index = serde_json::from_slice(&top.bytes).context("malformed index")?;
        let entry = index
            .manifests
            .iter()
            .filter(|d| !d.is_attestation())
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == wanted.os && p.architecture == wanted.architecture)
            })
            .with_context(|| format!("{reference}: no {wanted} image"))?;
        subject = entry.digest.clone();
        if let Some(attestation) = index
            .manifests
            .iter()
            .find(|d| d.is_attestation() && d.attestation_subject().as_ref() == Some(&subject))
        {
            document = buildkit(&registry, repo, &attestation.digest, kind).await?;
        }
    }
    if document.is_none() {
        document = cosign_attached(&registry, repo, &subject, kind).await?;
    }
    if document.is_none() {
        document = referred(&registry, repo, &subject, kind).await?;
    }
    let Some(document) = document else {
        bail!("{reference}: no {} attached to {subject}", kind.name());
    };
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    match &args.output {
        Some(path) => crate::outfile::write(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{text}")?,
    }
    Ok(Status::Success)
}

/// In a BuildKit attestation manifest: the first layer annotated with a predicate type of
/// this kind.
async fn buildkit(
    registry: &Registry,
    repo: &str,
    digest: &Digest,
    kind: Kind,
) -> anyhow::Result<Option<Value>> {
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
            return Ok(Some(
                serde_json::from_slice(&blob).context("the attestation is not JSON")?,
            ));
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
) -> anyhow::Result<Option<Value>> {
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
) -> anyhow::Result<Option<Value>> {
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
