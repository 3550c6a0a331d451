//! What is attached to an image travels with it: cosign's `sha256-HEX.sig`, `.att` and
//! `.sbom` tags of every copied digest, and OCI 1.1 referrers (through the referrers API
//! where the registry has one, else the referrers tag schema: an index tagged `sha256-HEX`).
//! A signed image stays verifiable at the destination.
//!
//! Cost on a re-run: one tag listing per source repository (cached for the run), and a
//! request only for attachments that exist.

use super::{Ends, ImageCopier};
use crate::copy::CopyError;
use crate::image::digest::Digest;
use crate::image::manifest::{Descriptor, Index};
use crate::image::media;
use crate::registry::Registry;
use bytes::Bytes;
use std::collections::HashSet;
use std::sync::Arc;

/// Cosign's attachment tags; signatures and attestations from both sides are merged, an
/// SBOM is replaced.
const ATTACHMENTS: [(&str, bool); 3] = [("sig", true), ("att", true), ("sbom", false)];

impl ImageCopier<'_> {
    /// Copies the attachments of `subjects` (digests that exist at both ends); returns how
    /// many manifests were written.
    pub(super) async fn copy_attachments(
        &self,
        ends: &Ends,
        subjects: &[Digest],
    ) -> Result<usize, CopyError> {
        let tags = self.source_tags(ends).await?;
        let mut written = 0;
        for subject in subjects {
            let base = format!("{}-{}", subject.algorithm(), subject.hex());
            for (suffix, merge) in ATTACHMENTS {
                let tag = format!("{base}.{suffix}");
                if tags.contains(&tag) && self.copy_attachment(ends, &tag, merge).await? {
                    written += 1;
                }
            }
            written += self.copy_referrers(ends, subject, &base, &tags).await?;
        }
        Ok(written)
    }

    /// The source repository's tags, listed once per run.
    async fn source_tags(&self, ends: &Ends) -> Result<Arc<HashSet<String>>, CopyError> {
        let key = format!("{}/{}", ends.src.name(), ends.src_repo);
        if let Some(tags) = self.source_tags.lock().expect("tags lock").get(&key) {
            return Ok(tags.clone());
        }
        let tags: Arc<HashSet<String>> = Arc::new(
            ends.src
                .list_tags(&ends.src_repo)
                .await?
                .into_iter()
                .collect(),
        );
        self.source_tags
            .lock()
            .expect("tags lock")
            .insert(key, tags.clone());
        Ok(tags)
    }

    /// Copies one attachment tag; false when the destination already had it.
    async fn copy_attachment(
        &self,
        ends: &Ends,
        tag: &str,
        merge: bool,
    ) -> Result<bool, CopyError> {
        let source = ends.src.get_manifest(&ends.src_repo, tag).await?;
        let existing = match ends.dst.get_manifest(&ends.dst_repo, tag).await {
            Ok(m) => Some(m),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        if existing.as_ref().is_some_and(|m| m.digest == source.digest) {
            return Ok(false);
        }
        self.copy_manifest_by_digest(ends, source.digest.clone())
            .await?;
        match existing.filter(|_| merge) {
            Some(existing) => {
                if !crate::sign::cosign::merge_layers(
                    &ends.dst,
                    &ends.dst_repo,
                    tag,
                    &existing.bytes,
                    &source.bytes,
                )
                .await?
                {
                    return Ok(false);
                }
            }
            None => {
                ends.dst
                    .put_manifest(&ends.dst_repo, tag, &source.bytes, &source.media_type)
                    .await?;
            }
        }
        tracing::info!(
            "[IMG:{}] Copied [{}/{}:{tag}] => [{}/{}:{tag}]",
            ends.id,
            ends.src.name(),
            ends.src_repo,
            ends.dst.name(),
            ends.dst_repo
        );
        Ok(true)
    }

    /// Copies the referrers of `subject`; returns how many were new at the destination.
    async fn copy_referrers(
        &self,
        ends: &Ends,
        subject: &Digest,
        base_tag: &str,
        tags: &HashSet<String>,
    ) -> Result<usize, CopyError> {
        let listed = match self
            .referrers_api(&ends.src, &ends.src_repo, subject)
            .await?
        {
            Some(index) => index,
            None if tags.contains(base_tag) => {
                ends.src.get_manifest(&ends.src_repo, base_tag).await?.bytes
            }
            None => return Ok(0),
        };
        let what = format!(
            "referrers of {}/{}@{subject}",
            ends.src.name(),
            ends.src_repo
        );
        let index: Index =
            serde_json::from_slice(&listed).map_err(|e| super::malformed(&what, e))?;
        if index.manifests.is_empty() {
            return Ok(0);
        }
        for referrer in &index.manifests {
            self.copy_manifest_by_digest(ends, referrer.digest.clone())
                .await?;
        }
        // A registry with the referrers API indexes the pushed manifests by their subject.
        if self
            .referrers_api(&ends.dst, &ends.dst_repo, subject)
            .await?
            .is_some()
        {
            return Ok(index.manifests.len());
        }
        let mut entries: Vec<Descriptor> =
            match ends.dst.get_manifest(&ends.dst_repo, base_tag).await {
                Ok(m) => serde_json::from_slice::<Index>(&m.bytes)
                    .map(|i| i.manifests)
                    .unwrap_or_default(),
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e.into()),
            };
        let known: HashSet<Digest> = entries.iter().map(|d| d.digest.clone()).collect();
        let new: Vec<Descriptor> = index
            .manifests
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
        ends.dst
            .put_manifest(&ends.dst_repo, base_tag, &bytes, media::OCI_INDEX)
            .await?;
        tracing::info!(
            "[IMG:{}] Copied {count} referrers of [{subject}] => [{}/{}:{base_tag}]",
            ends.id,
            ends.dst.name(),
            ends.dst_repo
        );
        Ok(count)
    }

    /// The referrers index of `subject` from the referrers API, or `None` when `registry`
    /// has no such API (remembered, so it is asked once per run).
    async fn referrers_api(
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
