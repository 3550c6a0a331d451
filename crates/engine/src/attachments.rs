//! What is attached to an image travels with it: cosign's `sha256-HEX.sig`, `.att` and
//! `.sbom` tags of every copied digest, and OCI 1.1 referrers (through the referrers API
//! where the registry has one, else the referrers tag schema: an index tagged `sha256-HEX`).
//! A signed image stays verifiable at the destination. `save` keeps the same things in the
//! archive and `load` puts them back ([`Attached`] and [`publish_referrers`] serve all three).
//!
//! Cost on a re-run: one tag listing per source repository (cached for the run), and a
//! request only for attachments that exist.

use crate::outcome::{CopyError, malformed};
use bytes::Bytes;
use hangar_image::digest::Digest;
use hangar_image::manifest::{Descriptor, Index};
use hangar_image::media;
use hangar_registry::Registry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Cosign's attachment tags; signatures and attestations from both sides are merged, an
/// SBOM is replaced.
pub const ATTACHMENTS: [(&str, bool); 3] = [("sig", true), ("att", true), ("sbom", false)];

pub use hangar_image::attachment::{attachment_subject, referrers_subject, subject_tag};

/// Looks attachments up, remembering per run what every image of a repository shares: the
/// repository's tags, and which registries have no referrers API.
#[derive(Default)]
pub struct Attached {
    tags: Mutex<HashMap<String, Arc<HashSet<String>>>>,
    no_referrers_api: Mutex<HashSet<String>>,
}

impl Attached {
    /// The tags of `repo`, listed once per run.
    pub async fn tags(
        &self,
        registry: &Registry,
        repo: &str,
    ) -> Result<Arc<HashSet<String>>, CopyError> {
        let key = format!("{}/{repo}", registry.name());
        if let Some(tags) = self.tags.lock().expect("tags lock").get(&key) {
            return Ok(tags.clone());
        }
        let tags: Arc<HashSet<String>> =
            Arc::new(registry.list_tags(repo).await?.into_iter().collect());
        self.tags
            .lock()
            .expect("tags lock")
            .insert(key, tags.clone());
        Ok(tags)
    }

    /// The cosign attachment tags of `subject` that `tags` has, with whether each merges.
    pub fn cosign_tags(subject: &Digest, tags: &HashSet<String>) -> Vec<(String, bool)> {
        let base = subject_tag(subject);
        ATTACHMENTS
            .iter()
            .map(|(suffix, merge)| (format!("{base}.{suffix}"), *merge))
            .filter(|(tag, _)| tags.contains(tag))
            .collect()
    }

    /// The referrers of `subject`: from the referrers API, else from the tag schema's index
    /// when `tags` has it.
    pub async fn referrers(
        &self,
        registry: &Registry,
        repo: &str,
        subject: &Digest,
        tags: &HashSet<String>,
    ) -> Result<Vec<Descriptor>, CopyError> {
        let base = subject_tag(subject);
        let listed = match self.referrers_api(registry, repo, subject).await? {
            Some(index) => index,
            None if tags.contains(&base) => registry.get_manifest(repo, &base).await?.bytes,
            None => return Ok(Vec::new()),
        };
        let what = format!("referrers of {}/{repo}@{subject}", registry.name());
        let index: Index = serde_json::from_slice(&listed).map_err(|e| malformed(&what, e))?;
        Ok(index.manifests)
    }

    /// The referrers of `subject` without a tag listing: the referrers API, else the tag
    /// schema's index if the tag exists.
    pub async fn referrers_of(
        &self,
        registry: &Registry,
        repo: &str,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>, CopyError> {
        let fallback = subject_tag(subject);
        let tags = match registry.get_manifest(repo, &fallback).await {
            Ok(_) => HashSet::from([fallback]),
            Err(e) if e.is_not_found() => HashSet::new(),
            Err(e) => return Err(e.into()),
        };
        self.referrers(registry, repo, subject, &tags).await
    }

    /// The referrers index of `subject` from the referrers API, or `None` when `registry`
    /// has no such API (remembered, so it is asked once per run).
    pub async fn referrers_api(
        &self,
        registry: &Registry,
        repo: &str,
        subject: &Digest,
    ) -> Result<Option<Bytes>, CopyError> {
        if self
            .no_referrers_api
            .lock()
            .expect("referrers lock")
            .contains(registry.name())
        {
            return Ok(None);
        }
        let answer = registry.referrers(repo, subject).await?;
        if answer.is_none() {
            self.no_referrers_api
                .lock()
                .expect("referrers lock")
                .insert(registry.name().to_string());
        }
        Ok(answer)
    }
}

/// Makes `referrers` of `subject`, already pushed to `repo`, findable there: a registry with
/// the referrers API indexes them itself; otherwise they join the tag schema's index
/// (`sha256-HEX`), keeping what it listed. Returns how many the fallback index gained (all
/// of them when the registry indexes them itself: it does not say which it knew).
pub async fn publish_referrers(
    attached: &Attached,
    dst: &Registry,
    repo: &str,
    subject: &Digest,
    referrers: Vec<Descriptor>,
) -> Result<usize, CopyError> {
    if attached.referrers_api(dst, repo, subject).await?.is_some() {
        // The registry indexes pushed referrers itself.
        return Ok(referrers.len());
    }
    let tag = subject_tag(subject);
    let mut entries: Vec<Descriptor> = match dst.get_manifest(repo, &tag).await {
        Ok(m) => match serde_json::from_slice::<Index>(&m.bytes) {
            Ok(index) => index.manifests,
            Err(e) => {
                tracing::warn!(
                    "{repo}:{tag} is not a referrers index ({e}); it is replaced by one listing the referrers loaded now"
                );
                Vec::new()
            }
        },
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let known: HashSet<Digest> = entries.iter().map(|d| d.digest.clone()).collect();
    let new: Vec<Descriptor> = referrers
        .into_iter()
        .filter(|d| !known.contains(&d.digest))
        .collect();
    if new.is_empty() {
        return Ok(0);
    }
    let count = new.len();
    entries.extend(new);
    let fallback = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": entries,
    });
    let bytes = Bytes::from(serde_json::to_vec(&fallback).expect("index serializes"));
    dst.put_manifest(repo, &tag, &bytes, media::OCI_INDEX)
        .await?;
    Ok(count)
}

/// A referrer's entry in a referrers index, from its manifest as the referrers API builds
/// it: media type, digest, size, `artifactType` (else the config's media type) and
/// annotations.
pub fn referrer_descriptor(digest: Digest, bytes: &[u8]) -> Result<Descriptor, CopyError> {
    let what = format!("referrer {digest}");
    let manifest: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| malformed(&what, e))?;
    let mut entry = serde_json::json!({
        "mediaType": manifest["mediaType"].as_str().unwrap_or(media::OCI_MANIFEST),
        "digest": digest,
        "size": bytes.len(),
    });
    let artifact_type = manifest["artifactType"]
        .as_str()
        .or_else(|| manifest["config"]["mediaType"].as_str());
    if let Some(t) = artifact_type {
        entry["artifactType"] = serde_json::json!(t);
    }
    if manifest["annotations"].is_object() {
        entry["annotations"] = manifest["annotations"].clone();
    }
    serde_json::from_value(entry).map_err(|e| malformed(&what, e))
}
