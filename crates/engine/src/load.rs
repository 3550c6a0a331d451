//! `load`: images from a Hangar archive into a registry. Blobs stream straight from their zip
//! entries into the registry uploads through the verifying stream (no extraction), so a blob
//! whose bytes do not match its name is never pushed. Platform manifests keep their digests.
//! The tag gets the manifest it held at the source (kept whole by save) when the archive has
//! every platform it names and the load takes them all, so it keeps its digest; otherwise
//! (an older archive, platforms filtered out) an OCI index built from the archive's platform
//! list, merged into what the destination tag already holds (`--overwrite` replaces it), the
//! same rules as a filtered mirror. Helm charts and stored files (no platform) go straight to
//! the tag, as in Hangar.

use super::blob::{BlobCopy, BlobSource};
use super::events::{Event, Events};
use super::image::attachments::{
    Attached, publish_referrers, referrer_descriptor, referrers_subject, subject_tag,
};
use super::image::{
    BLOBS_PER_IMAGE, CopyError, CopyOptions, Outcome, malformed, read_existing_index,
};
use super::index;
use super::ledger::BlobLedger;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use hangar_archive::blobs::ArchiveBlobs;
use hangar_archive::index::{Image, ImageSpec};
use hangar_image::digest::Digest;
use hangar_image::manifest::{Descriptor, ImageManifest};
use hangar_image::media;
use hangar_image::platform::Platform;
use hangar_image::reference::Reference;
use hangar_registry::{Registries, Registry};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Largest manifest read from an archive.
const MANIFEST_LIMIT: u64 = 16 << 20;

pub struct ImageLoader<'a> {
    registries: &'a Registries,
    options: &'a CopyOptions,
    events: &'a Events,
    archive: &'a ArchiveBlobs,
    /// Shared by every image of the run: a blob goes to a registry once, then is mounted.
    ledger: BlobLedger,
    /// Archive images that land on the same tag merge one at a time.
    tag_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Which destinations have the referrers API.
    attached: Attached,
}

/// The destination prepared for an image before anything is pushed: the hook where a
/// registry adapter plugin (e.g. Harbor project creation) will act. It does nothing yet.
pub trait PrepareDestination: Sync {
    fn prepare<'a>(
        &'a self,
        destination: &'a Reference,
    ) -> futures_util::future::BoxFuture<'a, Result<(), CopyError>>;
}

/// No registry adapter: destinations are used as they are.
pub struct AsIs;

impl PrepareDestination for AsIs {
    fn prepare<'a>(
        &'a self,
        _: &'a Reference,
    ) -> futures_util::future::BoxFuture<'a, Result<(), CopyError>> {
        Box::pin(async { Ok(()) })
    }
}

fn blob_name(digest: &Digest) -> String {
    format!("share/sha256/{}", digest.hex())
}

/// A platform manifest of the archive as an index entry (its size is its entry's size).
fn descriptor(
    archive: &ArchiveBlobs,
    image: &Image,
    spec: &ImageSpec,
) -> Result<Descriptor, CopyError> {
    let what = format!("{}:{}", image.source, image.tag);
    let digest: Digest = spec.digest.parse().map_err(|e| malformed(&what, e))?;
    let size = archive
        .size(&blob_name(&digest))
        .ok_or_else(|| malformed(&what, archive.absent(&blob_name(&digest))))?;
    Ok(spec.descriptor(digest, size, spec.media_type.clone()))
}

impl<'a> ImageLoader<'a> {
    pub fn new(
        registries: &'a Registries,
        options: &'a CopyOptions,
        events: &'a Events,
        archive: &'a ArchiveBlobs,
    ) -> Self {
        ImageLoader {
            registries,
            options,
            events,
            archive,
            ledger: BlobLedger::default(),
            tag_locks: Mutex::default(),
            attached: Attached::default(),
        }
    }

    /// The lock of one destination tag (`registry/repo:tag`): indexes at a tag are read,
    /// merged and written by one job at a time.
    fn tag_lock(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        self.tag_locks
            .lock()
            .expect("tag lock")
            .entry(key)
            .or_default()
            .clone()
    }

    pub async fn load(
        &self,
        id: usize,
        image: &Image,
        destination: &Reference,
        prepare: &dyn PrepareDestination,
    ) -> Result<Outcome, CopyError> {
        self.events.emit(Event::ImageStarted {
            id,
            source: format!("{}:{}", image.source, image.tag),
            destination: destination.to_string(),
            dry_run: false,
        });
        let entries = image
            .images
            .iter()
            .map(|spec| descriptor(self.archive, image, spec))
            .collect::<Result<Vec<_>, _>>()?;
        let artifact = image.arch_list.is_empty() && image.os_list.is_empty();
        let kept = if artifact {
            entries
        } else {
            let selection = index::select(&entries, &self.options.filter, self.options.provenance);
            if selection.kept.is_empty() {
                return Ok(Outcome::NoMatchingPlatform {
                    available: entries
                        .iter()
                        .filter(|d| !d.is_attestation())
                        .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                        .collect(),
                });
            }
            selection.kept
        };
        let platforms: Vec<String> = kept
            .iter()
            .filter(|d| !d.is_attestation() && !artifact)
            .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
            .collect();
        prepare.prepare(destination).await?;
        let dst = self.registries.get(destination.registry()).await?;
        let repo = destination.repository();
        // Saved by digest: the rebuilt index can only be addressed by its own digest.
        let tag = destination.push_tag();
        if artifact && let Some(subject) = tag.as_deref().and_then(referrers_subject) {
            return self.load_referrers(id, &dst, repo, &subject, &kept).await;
        }
        if artifact {
            // A chart or a stored file: its one manifest is the tag (Hangar's IsHelmChart).
            let [only] = kept.as_slice() else {
                return Err(malformed(
                    destination.to_string(),
                    format!("{} manifests for an artifact without platform", kept.len()),
                ));
            };
            let bytes = self.push_platform(id, &dst, repo, only).await?;
            let media_type = media_type_of(&only.media_type, &bytes);
            if let Some(tag) = &tag {
                // Signatures and attestations already at the destination are kept: the
                // archive's layers are added to them.
                let mergeable = tag.ends_with(".sig") || tag.ends_with(".att");
                let existing = if mergeable {
                    match dst.get_manifest(repo, tag).await {
                        Ok(m) if m.digest != only.digest => Some(m),
                        Ok(_) => {
                            return Ok(Outcome::UpToDate {
                                digest: only.digest.clone(),
                            });
                        }
                        Err(e) if e.is_not_found() => None,
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    None
                };
                match existing {
                    Some(existing) => {
                        if !hangar_sign::cosign::merge_layers(
                            &dst,
                            repo,
                            tag,
                            &existing.bytes,
                            &bytes,
                        )
                        .await?
                        {
                            return Ok(Outcome::UpToDate {
                                digest: existing.digest,
                            });
                        }
                    }
                    None => {
                        dst.put_manifest(repo, tag, &bytes, &media_type).await?;
                    }
                }
            }
            return Ok(Outcome::Copied {
                digest: only.digest.clone(),
                platforms,
            });
        }

        // The tag's own manifest, when the archive kept it and this load takes every platform
        // it names: pushed unchanged, so the tag keeps its digest (as mirror does).
        let what = format!("{}:{}", image.source, image.tag);
        let original = hangar_archive::original::original(self.archive, image)
            .map_err(|e| malformed(&what, e))?
            .filter(|o| {
                let wanted: &[Digest] = if o.children.is_empty() {
                    std::slice::from_ref(&o.digest)
                } else {
                    &o.children
                };
                wanted.iter().all(|d| kept.iter().any(|k| &k.digest == d))
            });
        if let Some(original) = original {
            let reference = tag.unwrap_or_else(|| original.digest.to_string());
            if dst
                .head_manifest(repo, &reference)
                .await?
                .is_some_and(|h| h.digest == original.digest)
            {
                return Ok(Outcome::UpToDate {
                    digest: original.digest,
                });
            }
            for entry in &kept {
                self.push_platform(id, &dst, repo, entry).await?;
            }
            dst.put_manifest(repo, &reference, &original.bytes, &original.media_type)
                .await?;
            return Ok(Outcome::Copied {
                digest: original.digest,
                platforms,
            });
        }

        let lock = self.tag_lock(format!(
            "{}/{repo}:{}",
            dst.name(),
            tag.as_deref().unwrap_or("")
        ));
        let _merging = lock.lock().await;
        let existing = match (&tag, self.options.overwrite) {
            (Some(tag), false) => read_existing_index(&dst, repo, tag).await?,
            _ => None,
        };
        let (existing_entries, existing_is_oci) = match &existing {
            Some((entries, is_oci, _)) => (entries.clone(), *is_oci),
            None => (Vec::new(), false),
        };
        let mut new_entries = Vec::with_capacity(kept.len());
        for entry in &kept {
            let bytes = self.push_platform(id, &dst, repo, entry).await?;
            let mut entry = entry.clone();
            entry.media_type = media_type_of(&entry.media_type, &bytes);
            new_entries.push(entry);
        }
        let merged = index::merge(existing_entries.clone(), new_entries);
        if existing_is_oci && index::same_entries(&merged, &existing_entries) {
            let digest = existing.map(|(_, _, d)| d).expect("existing index present");
            return Ok(Outcome::UpToDate { digest });
        }
        let bytes = Bytes::from(index::build(merged));
        let digest = Digest::sha256_of(&bytes);
        let reference = tag.unwrap_or_else(|| digest.to_string());
        dst.put_manifest(repo, &reference, &bytes, media::OCI_INDEX)
            .await?;
        Ok(Outcome::Copied { digest, platforms })
    }

    /// Pushes the referrers of `subject` saved in the archive and makes them findable (the
    /// referrers API, else the tag schema's index, merged with what the destination lists).
    async fn load_referrers(
        &self,
        id: usize,
        dst: &Arc<Registry>,
        repo: &str,
        subject: &Digest,
        kept: &[Descriptor],
    ) -> Result<Outcome, CopyError> {
        // Two archives (or two lines) may carry referrers of one subject: the fallback
        // index at its tag is read, extended and written by one of them at a time.
        let lock = self.tag_lock(format!("{}/{repo}:{}", dst.name(), subject_tag(subject)));
        let _publishing = lock.lock().await;
        let known: HashSet<Digest> = self
            .attached
            .referrers_of(dst, repo, subject)
            .await?
            .into_iter()
            .map(|d| d.digest)
            .collect();
        let mut referrers = Vec::with_capacity(kept.len());
        for entry in kept {
            let bytes = self.push_platform(id, dst, repo, entry).await?;
            referrers.push(referrer_descriptor(entry.digest.clone(), &bytes)?);
        }
        let digest = referrers
            .first()
            .map(|r| r.digest.clone())
            .ok_or_else(|| malformed(format!("referrers of {subject}"), "none saved"))?;
        let new = referrers
            .iter()
            .filter(|r| !known.contains(&r.digest))
            .count();
        publish_referrers(&self.attached, dst, repo, subject, referrers).await?;
        Ok(if new == 0 {
            Outcome::UpToDate { digest }
        } else {
            Outcome::Copied {
                digest,
                platforms: Vec::new(),
            }
        })
    }

    /// One platform manifest: its blobs from the archive, then the manifest by digest. Returns
    /// the manifest bytes (checked against their digest).
    async fn push_platform(
        &self,
        id: usize,
        dst: &Arc<Registry>,
        repo: &str,
        entry: &Descriptor,
    ) -> Result<Bytes, CopyError> {
        let name = blob_name(&entry.digest);
        let bytes = self
            .archive
            .read_small(&name, MANIFEST_LIMIT)
            .map_err(|e| malformed(&name, e))?;
        if Digest::sha256_of(&bytes) != entry.digest {
            return Err(malformed(
                &name,
                "the entry does not match its digest (corrupted archive)",
            ));
        }
        if dst
            .head_manifest(repo, entry.digest.as_str())
            .await?
            .is_some_and(|h| h.digest == entry.digest)
        {
            return Ok(bytes);
        }
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| malformed(&name, e))?;
        let blobs = BlobCopy {
            source: BlobSource::Archive(self.archive),
            destination: dst,
            destination_repo: repo,
            events: self.events,
            image_id: id,
            ledger: &self.ledger,
        };
        let blobs = &blobs;
        futures_util::stream::iter(manifest.blobs())
            .map(|blob| async move { blobs.copy(&blob.digest, Some(blob.size), false).await })
            .buffer_unordered(BLOBS_PER_IMAGE)
            .try_collect::<Vec<_>>()
            .await?;
        let media_type = media_type_of(&entry.media_type, &bytes);
        dst.put_manifest(repo, entry.digest.as_str(), &bytes, &media_type)
            .await?;
        Ok(bytes)
    }
}

/// The index's media type, or the manifest's own when the archive index left it out.
fn media_type_of(listed: &str, bytes: &[u8]) -> String {
    if !listed.is_empty() {
        return listed.to_string();
    }
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| media::OCI_MANIFEST.to_string())
}
