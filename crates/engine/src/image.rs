//! Copying one image (one list line) from a source reference to a destination reference.
//!
//! - Index or manifest list: when the filter keeps every entry, the children are copied by
//!   digest and the source index is pushed byte-for-byte (same digest). When it drops some,
//!   the kept children are copied and a new OCI index of them is merged into whatever index
//!   the destination tag already holds (`--overwrite` replaces it instead).
//! - Single image manifest: copied byte-for-byte after its config's platform passes the filter.
//! - Schema1: converted to schema2 while its layers stream (new digest, as in Hangar).
//!
//! Every path first asks the destination whether it already has the result, so a re-run over a
//! mirrored list costs a couple of requests per image.

use super::blob::{BlobCopy, BlobSource, Copied};
use super::events::{Event, Events};
use super::index;
use super::ledger::BlobLedger;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use hangar_image::digest::Digest;
use hangar_image::manifest::{ConfigPlatform, Descriptor, ImageManifest, Index};
use hangar_image::media::{self, ManifestKind};
use hangar_image::platform::{Platform, PlatformFilter};
use hangar_image::reference::Reference;
use hangar_image::schema1::{ConvertedLayer, Schema1, Schema1Error};
use hangar_registry::{Manifest, Registries, Registry, RegistryError};
use std::fmt;
use std::sync::Arc;

pub mod attachments;

/// Blobs copied at once within one image (more across images, bounded per host).
pub(crate) const BLOBS_PER_IMAGE: usize = 4;
const CONFIG_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    pub filter: PlatformFilter,
    /// Copy BuildKit attestation manifests along with their subjects.
    pub provenance: bool,
    /// Replace the destination index instead of merging into it.
    pub overwrite: bool,
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Copy the signatures, attestations, SBOMs and referrers of the copied digests.
    pub attachments: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("unsupported MIME type {0:?}")]
    UnsupportedMediaType(String),
    #[error("{what}: malformed manifest: {message}")]
    Malformed { what: String, message: String },
    #[error("{0}")]
    Schema1(#[from] Schema1Error),
}

impl CopyError {
    /// The registry's answer behind this failure (status, raw body), if it was one.
    pub fn response(&self) -> Option<(u16, &str)> {
        match self {
            CopyError::Registry(e) => e.response(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Copied {
        digest: Digest,
        platforms: Vec<String>,
    },
    UpToDate {
        digest: Digest,
    },
    /// Nothing matched the platform filter: a warning, not a failure (as in Hangar).
    NoMatchingPlatform {
        available: Vec<String>,
    },
    WouldCopy {
        digest: Option<Digest>,
        platforms: Vec<String>,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |p: &[String]| {
            if p.is_empty() {
                String::new()
            } else {
                format!(" [{}]", p.join(","))
            }
        };
        match self {
            Outcome::Copied { digest, platforms } => {
                write!(f, "copied {digest}{}", list(platforms))
            }
            Outcome::UpToDate { digest } => write!(f, "up to date {digest}"),
            Outcome::NoMatchingPlatform { available } => {
                write!(
                    f,
                    "skipped: no available image for specified arch and os (has{})",
                    list(available)
                )
            }
            Outcome::WouldCopy { digest, platforms } => match digest {
                Some(d) => write!(f, "would copy {d}{}", list(platforms)),
                None => write!(f, "would copy a new index{}", list(platforms)),
            },
        }
    }
}

pub struct ImageCopier<'a> {
    registries: &'a Registries,
    options: &'a CopyOptions,
    events: &'a Events,
    /// Shared by every image of the run, so blobs common to many images move once.
    ledger: BlobLedger,
    /// What `estimate` learnt per job, taken (and so freed) by that job's `copy`.
    plans: std::sync::Mutex<std::collections::HashMap<usize, Plan>>,
    /// Destination tags that several list lines merge into: one read-merge-push at a time.
    tag_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Destination tags this run has pushed; a planned view of them is stale.
    pushed_tags: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Attachment lookups shared by the run's images.
    attached: attachments::Attached,
}

/// Manifests and the destination check fetched while planning, reused by the copy so
/// planning costs no extra requests.
#[derive(Default)]
struct Plan {
    top: Option<Manifest>,
    destination_head: Option<Option<hangar_registry::ManifestHead>>,
    /// For a filtered index: what the destination tag holds (`Some(None)`: nothing).
    destination_manifest: Option<Option<Manifest>>,
    children: std::collections::HashMap<Digest, Manifest>,
    /// Planning already failed (after the registry's retries): the copy reports this
    /// instead of asking again.
    error: Option<CopyError>,
}

/// Both ends of one image copy.
struct Ends {
    id: usize,
    src: Arc<Registry>,
    src_repo: String,
    dst: Arc<Registry>,
    dst_repo: String,
    /// Where the top-level manifest lands: a tag, or a digest for digest-only references.
    dst_reference: Option<String>,
    /// Planned answers, each used once.
    planned_head: std::sync::Mutex<Option<Option<hangar_registry::ManifestHead>>>,
    planned_existing: std::sync::Mutex<Option<Option<Manifest>>>,
    planned_children: std::sync::Mutex<std::collections::HashMap<Digest, Manifest>>,
    /// The platform manifests an index copy kept (their attachments travel too).
    kept: std::sync::Mutex<Vec<Digest>>,
}

impl Ends {
    fn new(
        id: usize,
        src: Arc<Registry>,
        source: &Reference,
        dst: Arc<Registry>,
        destination: Option<&Reference>,
    ) -> Ends {
        Ends {
            id,
            src,
            src_repo: source.repository().to_string(),
            dst,
            dst_repo: destination
                .map(|d| d.repository().to_string())
                .unwrap_or_default(),
            dst_reference: destination.and_then(Reference::push_tag),
            planned_head: Default::default(),
            planned_existing: Default::default(),
            planned_children: Default::default(),
            kept: Default::default(),
        }
    }

    /// A child manifest: from the plan when it was fetched there, else from the source.
    async fn child_manifest(&self, digest: &Digest) -> Result<Manifest, RegistryError> {
        let planned = self
            .planned_children
            .lock()
            .expect("plan lock")
            .remove(digest);
        match planned {
            Some(m) => Ok(m),
            None => self.src.get_manifest(&self.src_repo, digest.as_str()).await,
        }
    }

    fn blobs<'a>(&'a self, events: &'a Events, ledger: &'a BlobLedger) -> BlobCopy<'a> {
        BlobCopy {
            source: BlobSource::Registry {
                registry: &self.src,
                repo: &self.src_repo,
            },
            destination: &self.dst,
            destination_repo: &self.dst_repo,
            events,
            image_id: self.id,
            ledger,
        }
    }
}

/// How many levels of indexes an image may have, its top index counted as 1. OCI allows
/// an index to list indexes; real images use one or two levels (an index of platform
/// manifests, sometimes an index of such indexes). A limit keeps a hostile source from
/// making the walk unbounded.
pub const MAX_INDEX_DEPTH: usize = 8;

fn too_deep(what: String) -> CopyError {
    CopyError::Malformed {
        what,
        message: format!(
            "indexes nested more than {MAX_INDEX_DEPTH} levels deep; refused (real images use one or two)"
        ),
    }
}

pub(crate) fn malformed(what: impl Into<String>, e: impl fmt::Display) -> CopyError {
    CopyError::Malformed {
        what: what.into(),
        message: e.to_string(),
    }
}

pub(crate) fn kind_of(m: &Manifest) -> Result<ManifestKind, CopyError> {
    ManifestKind::from_media_type(&m.media_type)
        .ok_or_else(|| CopyError::UnsupportedMediaType(m.media_type.clone()))
}

impl<'a> ImageCopier<'a> {
    pub fn new(
        registries: &'a Registries,
        options: &'a CopyOptions,
        events: &'a Events,
    ) -> ImageCopier<'a> {
        ImageCopier {
            registries,
            options,
            events,
            ledger: BlobLedger::default(),
            plans: Default::default(),
            tag_locks: Default::default(),
            pushed_tags: Default::default(),
            attached: Default::default(),
        }
    }
}

impl ImageCopier<'_> {
    pub async fn copy(
        &self,
        id: usize,
        source: &Reference,
        destination: &Reference,
    ) -> Result<Outcome, CopyError> {
        self.events.emit(Event::ImageStarted {
            id,
            source: source.to_string(),
            destination: destination.to_string(),
            dry_run: self.options.dry_run,
        });
        let plan = self
            .plans
            .lock()
            .expect("plan lock")
            .remove(&id)
            .unwrap_or_default();
        if let Some(e) = plan.error {
            return Err(e);
        }
        let src = self.registries.get(source.registry()).await?;
        let top = match plan.top {
            Some(top) => top,
            None => {
                src.get_manifest(source.repository(), &source.manifest_reference())
                    .await?
            }
        };
        let kind = kind_of(&top)?;
        let dst = self.registries.get(destination.registry()).await?;
        let ends = Ends::new(id, src, source, dst, Some(destination));
        *ends.planned_head.lock().expect("plan lock") = plan.destination_head;
        *ends.planned_existing.lock().expect("plan lock") = plan.destination_manifest;
        *ends.planned_children.lock().expect("plan lock") = plan.children;
        let outcome = match kind {
            ManifestKind::OciIndex | ManifestKind::DockerList => {
                self.copy_index(&ends, &top).await?
            }
            ManifestKind::OciManifest | ManifestKind::DockerV2S2 => {
                self.copy_single(&ends, &top).await?
            }
            ManifestKind::Schema1 => self.copy_schema1(&ends, &top).await?,
        };
        if self.options.attachments
            && !self.options.dry_run
            && let Outcome::Copied { digest, .. } | Outcome::UpToDate { digest } = &outcome
        {
            // Signatures of the top digest only apply when it arrived unchanged.
            let mut subjects = std::mem::take(&mut *ends.kept.lock().expect("kept lock"));
            if *digest == top.digest {
                subjects.insert(0, top.digest.clone());
            }
            // The image itself arrived: attachments that cannot follow are a warning, not a
            // failed image (a registry may refuse tag listings or odd endpoints).
            if let Err(e) = self.copy_attachments(&ends, &subjects).await {
                tracing::warn!(
                    "[IMG:{id}] signatures and attestations of [{source}] not copied: {e}"
                );
            }
        }
        Ok(outcome)
    }

    /// Copies one manifest (and everything under it) by digest between repositories.
    pub async fn copy_by_digest(
        &self,
        source: &Reference,
        destination: &Reference,
        digest: &Digest,
    ) -> Result<(), CopyError> {
        let src = self.registries.get(source.registry()).await?;
        let dst = self.registries.get(destination.registry()).await?;
        let mut ends = Ends::new(0, src, source, dst, Some(destination));
        ends.dst_reference = None;
        self.copy_manifest_by_digest(&ends, digest.clone(), 1).await
    }

    /// Does the destination already hold exactly `digest` where the top manifest goes?
    async fn destination_has(&self, ends: &Ends, digest: &Digest) -> Result<bool, CopyError> {
        let planned = ends.planned_head.lock().expect("plan lock").take();
        let head = match planned {
            Some(head) => head,
            None => {
                let reference = ends
                    .dst_reference
                    .clone()
                    .unwrap_or_else(|| digest.to_string());
                ends.dst.head_manifest(&ends.dst_repo, &reference).await?
            }
        };
        Ok(head.is_some_and(|h| &h.digest == digest))
    }

    /// Planning: fetches what the copy of job `id` will need first (top manifest, the
    /// destination check, the kept child manifests) and returns the bytes it may have to
    /// move, so the largest images can start first. Errors are left for the copy to report.
    pub async fn estimate(&self, id: usize, source: &Reference, destination: &Reference) -> u64 {
        let mut plan = Plan::default();
        let bytes = match self.plan(source, destination, &mut plan).await {
            Ok(bytes) => bytes,
            Err(e) => {
                plan.error = Some(e);
                0
            }
        };
        self.plans.lock().expect("plan lock").insert(id, plan);
        bytes
    }

    async fn plan(
        &self,
        source: &Reference,
        destination: &Reference,
        plan: &mut Plan,
    ) -> Result<u64, CopyError> {
        let src = self.registries.get(source.registry()).await?;
        let top = src
            .get_manifest(source.repository(), &source.manifest_reference())
            .await?;
        plan.top = Some(top.clone());
        let kind = kind_of(&top)?;
        let dst = self.registries.get(destination.registry()).await?;
        let sum = |m: &Manifest| -> u64 {
            serde_json::from_slice::<ImageManifest>(&m.bytes)
                .map(|p| p.blobs().map(|b| b.size).sum())
                .unwrap_or(0)
        };
        let index = match kind {
            ManifestKind::OciIndex | ManifestKind::DockerList => Some(
                serde_json::from_slice::<Index>(&top.bytes)
                    .map_err(|e| malformed(source.to_string(), e))?,
            ),
            _ => None,
        };
        let selection = index
            .as_ref()
            .map(|i| index::select(&i.manifests, &self.options.filter, self.options.provenance));
        let tag = destination.push_tag();
        match (&selection, &tag) {
            // A filtered index lands as a merged index: "already there" means the index at the
            // tag lists every kept entry, which the copy would ask for anyway.
            (Some(sel), Some(tag)) if !sel.everything && !self.options.overwrite => {
                let existing = match dst.get_manifest(destination.repository(), tag).await {
                    Ok(m) => Some(m),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e.into()),
                };
                let listed: Vec<Digest> = existing
                    .as_ref()
                    .and_then(|m| serde_json::from_slice::<Index>(&m.bytes).ok())
                    .map(|i| i.manifests.into_iter().map(|d| d.digest).collect())
                    .unwrap_or_default();
                let all_there = sel.kept.iter().all(|k| listed.contains(&k.digest));
                plan.destination_manifest = Some(existing);
                if all_there {
                    return Ok(0);
                }
            }
            _ => {
                let reference = tag.clone().unwrap_or_else(|| top.digest.to_string());
                let head = dst
                    .head_manifest(destination.repository(), &reference)
                    .await?;
                let up_to_date = head.as_ref().is_some_and(|h| h.digest == top.digest);
                plan.destination_head = Some(head);
                if up_to_date {
                    return Ok(0);
                }
            }
        }
        Ok(match (kind, selection) {
            (ManifestKind::OciManifest | ManifestKind::DockerV2S2, _) => sum(&top),
            (_, Some(sel)) => {
                let mut total = 0;
                for child in sel.kept {
                    let m = src
                        .get_manifest(source.repository(), child.digest.as_str())
                        .await?;
                    total += sum(&m);
                    plan.children.insert(child.digest, m);
                }
                total
            }
            _ => 0,
        })
    }

    async fn push_top(
        &self,
        ends: &Ends,
        bytes: &Bytes,
        media_type: &str,
        digest: &Digest,
    ) -> Result<(), CopyError> {
        let reference = ends
            .dst_reference
            .clone()
            .unwrap_or_else(|| digest.to_string());
        ends.dst
            .put_manifest(&ends.dst_repo, &reference, bytes, media_type)
            .await?;
        Ok(())
    }

    async fn copy_index(&self, ends: &Ends, top: &Manifest) -> Result<Outcome, CopyError> {
        let what = format!("{}/{}@{}", ends.src.name(), ends.src_repo, top.digest);
        let parsed: Index = serde_json::from_slice(&top.bytes).map_err(|e| malformed(&what, e))?;
        let mut entries = parsed.manifests.clone();
        for entry in entries.iter_mut() {
            self.fill_platform(ends, entry).await?;
        }
        let selection = index::select(&entries, &self.options.filter, self.options.provenance);
        let platforms = platform_names(&selection.kept);
        *ends.kept.lock().expect("kept lock") =
            selection.kept.iter().map(|d| d.digest.clone()).collect();
        if selection.kept.is_empty() {
            return Ok(Outcome::NoMatchingPlatform {
                available: platform_names(&entries),
            });
        }
        if selection.everything {
            if self.destination_has(ends, &top.digest).await? {
                return Ok(Outcome::UpToDate {
                    digest: top.digest.clone(),
                });
            }
            if self.options.dry_run {
                return Ok(Outcome::WouldCopy {
                    digest: Some(top.digest.clone()),
                    platforms,
                });
            }
            self.copy_children(ends, &parsed.manifests).await?;
            self.push_top(ends, &top.bytes, &top.media_type, &top.digest)
                .await?;
            return Ok(Outcome::Copied {
                digest: top.digest.clone(),
                platforms,
            });
        }

        // A subset: a new OCI index, merged into what the destination tag already holds.
        let tag_key = format!(
            "{}/{}:{}",
            ends.dst.name(),
            ends.dst_repo,
            ends.dst_reference.as_deref().unwrap_or("")
        );
        let lock = self
            .tag_locks
            .lock()
            .expect("tag lock")
            .entry(tag_key.clone())
            .or_default()
            .clone();
        let _merging = lock.lock().await;
        if self
            .pushed_tags
            .lock()
            .expect("tag lock")
            .contains(&tag_key)
        {
            // Another line of this run changed the tag since planning: read it afresh.
            ends.planned_existing.lock().expect("plan lock").take();
        }
        let existing = match (&ends.dst_reference, self.options.overwrite) {
            (Some(tag), false) => self.existing_index(ends, tag).await?,
            _ => None,
        };
        let (existing_entries, existing_is_oci) = match &existing {
            Some((entries, is_oci, _)) => (entries.clone(), *is_oci),
            None => (Vec::new(), false),
        };
        let merged = index::merge(existing_entries.clone(), selection.kept.clone());
        if existing_is_oci && index::same_entries(&merged, &existing_entries) {
            let digest = existing.map(|(_, _, d)| d).expect("existing index present");
            return Ok(Outcome::UpToDate { digest });
        }
        let bytes = Bytes::from(index::build(merged));
        let digest = Digest::sha256_of(&bytes);
        if self.options.dry_run {
            return Ok(Outcome::WouldCopy {
                digest: None,
                platforms,
            });
        }
        self.copy_children(ends, &selection.kept).await?;
        self.push_top(ends, &bytes, media::OCI_INDEX, &digest)
            .await?;
        self.pushed_tags.lock().expect("tag lock").insert(tag_key);
        Ok(Outcome::Copied { digest, platforms })
    }

    /// The entries of an index already at the destination tag (none when absent or not an index).
    async fn existing_index(
        &self,
        ends: &Ends,
        tag: &str,
    ) -> Result<Option<(Vec<Descriptor>, bool, Digest)>, CopyError> {
        let planned = ends.planned_existing.lock().expect("plan lock").take();
        match planned {
            Some(Some(m)) => index_entries(&ends.dst, &ends.dst_repo, tag, m),
            Some(None) => Ok(None),
            None => read_existing_index(&ends.dst, &ends.dst_repo, tag).await,
        }
    }

    /// Fills a missing arm variant or Windows OS version from the image config (Hangar #83).
    async fn fill_platform(&self, ends: &Ends, entry: &mut Descriptor) -> Result<(), CopyError> {
        fill_platform(&ends.src, &ends.src_repo, &self.options.filter, entry).await
    }

    async fn config_platform(
        &self,
        ends: &Ends,
        manifest: &Manifest,
    ) -> Result<Option<ConfigPlatform>, CopyError> {
        config_platform(&ends.src, &ends.src_repo, manifest).await
    }

    async fn copy_children(&self, ends: &Ends, children: &[Descriptor]) -> Result<(), CopyError> {
        futures_util::stream::iter(
            children
                .iter()
                .map(|c| self.copy_manifest_by_digest(ends, c.digest.clone(), 2)),
        )
        .buffer_unordered(2)
        .try_collect::<Vec<()>>()
        .await?;
        Ok(())
    }

    /// Copies a child manifest (and everything under it) unless the destination has it.
    /// `depth` counts the manifests above it and itself (a platform manifest under the top
    /// index is at 2); an index deeper than [`MAX_INDEX_DEPTH`] fails the image.
    fn copy_manifest_by_digest<'s>(
        &'s self,
        ends: &'s Ends,
        digest: Digest,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'s, Result<(), CopyError>> {
        Box::pin(async move {
            if ends
                .dst
                .head_manifest(&ends.dst_repo, digest.as_str())
                .await?
                .is_some()
            {
                return Ok(());
            }
            let manifest = ends.child_manifest(&digest).await?;
            let what = format!("{}/{}@{digest}", ends.src.name(), ends.src_repo);
            match kind_of(&manifest)? {
                ManifestKind::OciIndex | ManifestKind::DockerList => {
                    if depth > MAX_INDEX_DEPTH {
                        return Err(too_deep(what));
                    }
                    let nested: Index =
                        serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(&what, e))?;
                    for child in &nested.manifests {
                        self.copy_manifest_by_digest(ends, child.digest.clone(), depth + 1)
                            .await?;
                    }
                }
                ManifestKind::OciManifest | ManifestKind::DockerV2S2 => {
                    let parsed: ImageManifest =
                        serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(&what, e))?;
                    self.copy_blobs(ends, &parsed).await?;
                }
                ManifestKind::Schema1 => {
                    return Err(malformed(
                        what,
                        "schema1 manifests cannot be referenced by digest from an index",
                    ));
                }
            }
            ends.dst
                .put_manifest(
                    &ends.dst_repo,
                    digest.as_str(),
                    &manifest.bytes,
                    &manifest.media_type,
                )
                .await?;
            Ok(())
        })
    }

    async fn copy_blobs(&self, ends: &Ends, manifest: &ImageManifest) -> Result<(), CopyError> {
        let blobs = ends.blobs(self.events, &self.ledger);
        let wanted: Vec<(Digest, u64)> = manifest
            .blobs()
            .map(|d| (d.digest.clone(), d.size))
            .collect();
        let blobs = &blobs;
        futures_util::stream::iter(wanted)
            .map(|(digest, size)| async move { blobs.copy(&digest, Some(size), false).await })
            .buffer_unordered(BLOBS_PER_IMAGE)
            .try_collect::<Vec<Copied>>()
            .await?;
        Ok(())
    }

    async fn copy_single(&self, ends: &Ends, top: &Manifest) -> Result<Outcome, CopyError> {
        if self.destination_has(ends, &top.digest).await? {
            return Ok(Outcome::UpToDate {
                digest: top.digest.clone(),
            });
        }
        let platform = self.config_platform(ends, top).await?.map(|c| c.platform());
        let platforms: Vec<String> = platform.iter().map(Platform::to_string).collect();
        if let Some(p) = &platform
            && !self.options.filter.allows(p)
        {
            return Ok(Outcome::NoMatchingPlatform {
                available: platforms,
            });
        }
        if self.options.dry_run {
            return Ok(Outcome::WouldCopy {
                digest: Some(top.digest.clone()),
                platforms,
            });
        }
        let what = format!("{}/{}@{}", ends.src.name(), ends.src_repo, top.digest);
        let parsed: ImageManifest =
            serde_json::from_slice(&top.bytes).map_err(|e| malformed(&what, e))?;
        self.copy_blobs(ends, &parsed).await?;
        self.push_top(ends, &top.bytes, &top.media_type, &top.digest)
            .await?;
        Ok(Outcome::Copied {
            digest: top.digest.clone(),
            platforms,
        })
    }

    async fn copy_schema1(&self, ends: &Ends, top: &Manifest) -> Result<Outcome, CopyError> {
        let s1 = Schema1::parse(&top.bytes)?;
        let platform = s1.platform();
        if !self.options.filter.allows(&platform) {
            return Ok(Outcome::NoMatchingPlatform {
                available: vec![platform.to_string()],
            });
        }
        let platforms = vec![platform.to_string()];
        // The converted digest depends on every layer's uncompressed digest, so "already
        // there" is judged by the layers the destination manifest lists.
        if let Some(tag) = &ends.dst_reference
            && let Some(existing) = self.converted_layers_at(ends, tag).await?
            && existing.as_slice() == s1.layers()
        {
            let head = ends.dst.head_manifest(&ends.dst_repo, tag).await?;
            if let Some(h) = head {
                return Ok(Outcome::UpToDate { digest: h.digest });
            }
        }
        if self.options.dry_run {
            return Ok(Outcome::WouldCopy {
                digest: None,
                platforms,
            });
        }
        let blobs = ends.blobs(self.events, &self.ledger);
        let mut layers = Vec::new();
        for digest in s1.layers() {
            let copied = blobs.copy(digest, None, true).await?;
            let diff_id = copied.diff_id.expect("asked for a diff id");
            layers.push(ConvertedLayer {
                size: copied.size,
                diff_id,
            });
        }
        let (config, manifest) = s1.to_schema2(&layers)?;
        let config_digest = Digest::sha256_of(&config);
        ends.dst
            .push_blob_bytes(&ends.dst_repo, &config_digest, Bytes::from(config))
            .await?;
        let manifest = Bytes::from(manifest);
        let digest = Digest::sha256_of(&manifest);
        self.push_top(ends, &manifest, media::DOCKER_V2S2, &digest)
            .await?;
        Ok(Outcome::Copied { digest, platforms })
    }

    async fn converted_layers_at(
        &self,
        ends: &Ends,
        tag: &str,
    ) -> Result<Option<Vec<Digest>>, CopyError> {
        let manifest = match ends.dst.get_manifest(&ends.dst_repo, tag).await {
            Ok(m) if m.media_type == media::DOCKER_V2S2 => m,
            Ok(_) => return Ok(None),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let parsed: ImageManifest = match serde_json::from_slice(&manifest.bytes) {
            Ok(p) => p,
            Err(_) => return Ok(None),
        };
        Ok(Some(parsed.layers.into_iter().map(|l| l.digest).collect()))
    }
}

fn platform_names(entries: &[Descriptor]) -> Vec<String> {
    entries
        .iter()
        .filter(|d| !d.is_attestation())
        .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
        .collect()
}

/// The entries of an index at `repo:tag` (none when absent or not an index), whether it is
/// an OCI index, and its digest: what a filtered copy or a load merges into.
pub(crate) async fn read_existing_index(
    dst: &Registry,
    repo: &str,
    tag: &str,
) -> Result<Option<(Vec<Descriptor>, bool, Digest)>, CopyError> {
    match dst.get_manifest(repo, tag).await {
        Ok(m) => index_entries(dst, repo, tag, m),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn index_entries(
    dst: &Registry,
    repo: &str,
    tag: &str,
    manifest: Manifest,
) -> Result<Option<(Vec<Descriptor>, bool, Digest)>, CopyError> {
    match ManifestKind::from_media_type(&manifest.media_type) {
        Some(k) if k.is_index() => {
            let what = format!("{}/{repo}:{tag}", dst.name());
            let idx: Index =
                serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(what, e))?;
            Ok(Some((
                idx.manifests,
                k == ManifestKind::OciIndex,
                manifest.digest,
            )))
        }
        _ => Ok(None),
    }
}

/// Fills a missing arm variant or Windows OS version of an index entry from the image config
/// (Hangar #83). Only entries the filter may keep are worth the lookup (a Windows entry under
/// `--os linux` is dropped whatever its version).
pub(crate) async fn fill_platform(
    src: &Registry,
    repo: &str,
    filter: &PlatformFilter,
    entry: &mut Descriptor,
) -> Result<(), CopyError> {
    let needs_details = !entry.is_attestation()
        && entry
            .platform
            .as_ref()
            .is_some_and(|p| p.needs_config_details() && filter.allows(p));
    if !needs_details {
        return Ok(());
    }
    let child = src.get_manifest(repo, entry.digest.as_str()).await?;
    if let (Some(config), Some(platform)) = (
        config_platform(src, repo, &child).await?,
        entry.platform.as_mut(),
    ) {
        config.fill(platform);
    }
    Ok(())
}

/// The platform an image manifest's config declares (`None` for artifacts: charts,
/// signatures, SBOMs, which have no platform to filter on).
pub async fn config_platform(
    src: &Registry,
    repo: &str,
    manifest: &Manifest,
) -> Result<Option<ConfigPlatform>, CopyError> {
    let what = format!("{}/{repo}@{}", src.name(), manifest.digest);
    let parsed: ImageManifest =
        serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(&what, e))?;
    if parsed.config.media_type != media::DOCKER_CONFIG
        && parsed.config.media_type != media::OCI_CONFIG
    {
        return Ok(None);
    }
    let bytes = src
        .get_blob_bytes(repo, &parsed.config.digest, CONFIG_LIMIT)
        .await?;
    let config: ConfigPlatform =
        serde_json::from_slice(&bytes).map_err(|e| malformed(format!("config of {what}"), e))?;
    Ok(Some(config))
}
