//! One image (one list line) from a [`Source`] to a [`Sink`], the same rules on every route:
//!
//! - Index or manifest list: when the filter keeps every entry and the source gives the tag's
//!   own bytes, the children are copied by digest and the index is stored byte-for-byte (same
//!   digest). When it drops some (or the source built the index), the kept children are
//!   copied and a new OCI index of them is merged into whatever index the destination tag
//!   already holds (`--overwrite` replaces it instead).
//! - Single image manifest: copied byte-for-byte after its config's platform passes the filter.
//! - Schema1: converted to schema2 while its layers stream (new digest, as in Hangar).
//! - Attachments: the signatures, attestations, SBOMs and referrers of what arrived unchanged.
//!
//! Every path first asks the destination whether it already has the result, so a re-run over a
//! copied list costs a couple of requests per image. Planning ([`Engine::plan`]) reads what
//! the copy needs first; sources and sinks keep those answers for the copy.

use crate::events::Events;
use crate::index;
use crate::outcome::{CopyError, CopyOptions, Outcome, kind_of, malformed};
use crate::sink::{Sink, TagWrite};
use crate::source::{Source, Top};
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use hangar_image::digest::Digest;
use hangar_image::manifest::{ConfigPlatform, Descriptor, ImageManifest, Index};
use hangar_image::media::{self, ManifestKind};
use hangar_image::platform::{Platform, PlatformFilter};
use hangar_image::schema1::{ConvertedLayer, Schema1};
use hangar_registry::Manifest;

/// Blobs copied at once within one image (more across images, bounded per host).
pub const BLOBS_PER_IMAGE: usize = 4;
const CONFIG_LIMIT: usize = 16 * 1024 * 1024;

/// How many levels of indexes an image may have, its top index counted as 1. OCI allows
/// an index to list indexes; real images use one or two levels (an index of platform
/// manifests, sometimes an index of such indexes). A limit keeps a hostile source from
/// making the walk unbounded.
pub const MAX_INDEX_DEPTH: usize = 8;

pub struct Engine<'a> {
    pub options: &'a CopyOptions,
    pub events: Events,
}

/// One image's route: where it comes from, where it goes, and the tag it lands on (`None`:
/// by digest).
pub struct Ends<'a> {
    pub id: usize,
    pub source: &'a dyn Source,
    pub sink: &'a dyn Sink,
    pub tag: Option<&'a str>,
}

impl Ends<'_> {
    /// Where a manifest with `digest` lands at the top: the tag, else its own digest.
    fn reference(&self, digest: &Digest) -> String {
        self.tag
            .map(str::to_string)
            .unwrap_or_else(|| digest.to_string())
    }

    fn what(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.source.name())
    }
}

impl Engine<'_> {
    /// Copies one image; the outcome says what the destination holds now.
    pub async fn copy(&self, ends: &Ends<'_>) -> Result<Outcome, CopyError> {
        let top = ends.source.top().await?;
        if let Some(policy) = &self.options.policy {
            admit(policy, ends.source, &top).await?;
        }
        if let Some(subject) = &top.referrers_of {
            return self.copy_referrer_set(ends, subject, &top.manifest).await;
        }
        let (outcome, subjects) = match kind_of(&top.manifest)? {
            ManifestKind::OciIndex | ManifestKind::DockerList => {
                self.copy_index(ends, &top).await?
            }
            ManifestKind::OciManifest | ManifestKind::DockerV2S2 => {
                self.copy_single(ends, &top.manifest).await?
            }
            ManifestKind::Schema1 => (self.copy_schema1(ends, &top.manifest).await?, Vec::new()),
        };
        if self.options.attachments
            && !self.options.dry_run
            && matches!(outcome, Outcome::Copied { .. } | Outcome::UpToDate { .. })
            && !subjects.is_empty()
            // The image itself arrived: attachments that cannot follow are a warning, not a
            // failed image (a registry may refuse tag listings or odd endpoints).
            && let Err(e) = self.copy_attachments(ends, &subjects).await
        {
            tracing::warn!(
                "[IMG:{}] signatures and attestations of [{}] not copied: {e}",
                ends.id,
                ends.source.name()
            );
        }
        Ok(outcome)
    }

    /// Reads what the copy will need first (the top manifest, the destination's answer, the
    /// kept child manifests; sources and sinks keep them) and returns the bytes it may move,
    /// so the largest images can start first.
    pub async fn plan(&self, ends: &Ends<'_>) -> Result<u64, CopyError> {
        let top = ends.source.top().await?;
        let kind = kind_of(&top.manifest)?;
        let selection = if kind.is_index() {
            let parsed: Index = serde_json::from_slice(&top.manifest.bytes)
                .map_err(|e| malformed(ends.what(&top.manifest.digest), e))?;
            Some(index::select(
                &parsed.manifests,
                &self.options.filter,
                self.options.provenance,
            ))
        } else {
            None
        };
        let merges = selection.as_ref().is_some_and(|s| !s.everything) || !top.original;
        match ends.tag {
            // A merged index is "already there" when the index at the tag lists every kept
            // entry, which the copy would ask for anyway.
            Some(tag) if merges && !self.options.overwrite => {
                let listed: Vec<Digest> = ends
                    .sink
                    .manifest_at(tag)
                    .await?
                    .and_then(|m| serde_json::from_slice::<Index>(&m.bytes).ok())
                    .map(|i| i.manifests.into_iter().map(|d| d.digest).collect())
                    .unwrap_or_default();
                if let Some(s) = &selection
                    && s.kept.iter().all(|k| listed.contains(&k.digest))
                {
                    return Ok(0);
                }
            }
            _ => {
                let reference = ends.reference(&top.manifest.digest);
                if ends.sink.head(&reference).await? == Some(top.manifest.digest.clone()) {
                    return Ok(0);
                }
            }
        }
        let sum = |m: &Manifest| -> u64 {
            serde_json::from_slice::<ImageManifest>(&m.bytes)
                .map(|p| p.blobs().map(|b| b.size).sum())
                .unwrap_or(0)
        };
        Ok(match (kind, selection) {
            (ManifestKind::OciManifest | ManifestKind::DockerV2S2, _) => sum(&top.manifest),
            (_, Some(selection)) => {
                let mut total = 0;
                for child in selection.kept {
                    total += sum(&ends.source.manifest(child.digest.as_str()).await?);
                }
                total
            }
            _ => 0,
        })
    }

    async fn copy_index(
        &self,
        ends: &Ends<'_>,
        top: &Top,
    ) -> Result<(Outcome, Vec<Digest>), CopyError> {
        let manifest = &top.manifest;
        let parsed: Index = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| malformed(ends.what(&manifest.digest), e))?;
        let mut entries = parsed.manifests.clone();
        for entry in entries.iter_mut() {
            fill_platform(ends.source, &self.options.filter, entry).await?;
        }
        let selection = index::select(&entries, &self.options.filter, self.options.provenance);
        if selection.kept.is_empty() {
            return Ok((
                Outcome::NoMatchingPlatform {
                    available: platform_names(&entries),
                },
                Vec::new(),
            ));
        }
        let platforms = platform_names(&selection.kept);
        let mut subjects: Vec<Digest> = selection
            .kept
            .iter()
            .filter(|d| !d.is_attestation())
            .map(|d| d.digest.clone())
            .collect();
        if selection.everything && top.original {
            let reference = ends.reference(&manifest.digest);
            if ends.sink.head(&reference).await? == Some(manifest.digest.clone()) {
                subjects.insert(0, manifest.digest.clone());
                let digest = manifest.digest.clone();
                return Ok((Outcome::UpToDate { digest }, subjects));
            }
            if self.options.dry_run {
                let digest = Some(manifest.digest.clone());
                return Ok((Outcome::WouldCopy { digest, platforms }, subjects));
            }
            self.copy_children(ends, &entries).await?;
            ends.sink
                .put_tag(
                    ends.tag,
                    TagWrite {
                        manifest,
                        kept: &entries,
                        original: Some(manifest),
                    },
                )
                .await?;
            // The index arrived unchanged: its own signatures apply.
            subjects.insert(0, manifest.digest.clone());
            let digest = manifest.digest.clone();
            return Ok((Outcome::Copied { digest, platforms }, subjects));
        }

        // A subset (or an index the source built): a new OCI index, merged into what the
        // destination tag already holds.
        let _merging = match ends.tag {
            Some(tag) => ends.sink.lock_tag(tag).await,
            None => None,
        };
        let existing = match (ends.tag, self.options.overwrite) {
            (Some(tag), false) => match ends.sink.manifest_at(tag).await? {
                Some(m) => index_entries(&m, &format!("{}:{tag}", ends.sink.name()))?,
                None => None,
            },
            _ => None,
        };
        let (existing_entries, existing_is_oci) = match &existing {
            Some((entries, is_oci, _)) => (entries.clone(), *is_oci),
            None => (Vec::new(), false),
        };
        let merged = index::merge(existing_entries.clone(), selection.kept.clone());
        if existing_is_oci && index::same_entries(&merged, &existing_entries) {
            let digest = existing.map(|(_, _, d)| d).expect("existing index present");
            return Ok((Outcome::UpToDate { digest }, subjects));
        }
        let bytes = Bytes::from(index::build(merged));
        let built = Manifest {
            digest: Digest::sha256_of(&bytes),
            bytes,
            media_type: media::OCI_INDEX.to_string(),
        };
        if self.options.dry_run {
            return Ok((
                Outcome::WouldCopy {
                    digest: None,
                    platforms,
                },
                subjects,
            ));
        }
        self.copy_children(ends, &selection.kept).await?;
        ends.sink
            .put_tag(
                ends.tag,
                TagWrite {
                    manifest: &built,
                    kept: &selection.kept,
                    original: top.original.then_some(manifest),
                },
            )
            .await?;
        let digest = built.digest;
        Ok((Outcome::Copied { digest, platforms }, subjects))
    }

    async fn copy_children(
        &self,
        ends: &Ends<'_>,
        children: &[Descriptor],
    ) -> Result<(), CopyError> {
        futures_util::stream::iter(
            children
                .iter()
                .map(|c| self.copy_manifest(ends, c.digest.clone(), Some(c), 2)),
        )
        .buffer_unordered(2)
        .try_collect::<Vec<()>>()
        .await?;
        Ok(())
    }

    /// Copies a manifest by digest (and everything under it) unless the destination has it.
    /// `entry` is its entry in the index above it. `depth` counts the manifests above it and
    /// itself (a platform manifest under the top index is at 2); an index deeper than
    /// [`MAX_INDEX_DEPTH`] fails the image.
    pub fn copy_manifest<'s>(
        &'s self,
        ends: &'s Ends<'s>,
        digest: Digest,
        entry: Option<&'s Descriptor>,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'s, Result<(), CopyError>> {
        Box::pin(async move {
            if ends.sink.has_manifest(&digest).await? {
                return Ok(());
            }
            let manifest = ends.source.manifest(digest.as_str()).await?;
            let what = ends.what(&digest);
            match kind_of(&manifest)? {
                ManifestKind::OciIndex | ManifestKind::DockerList => {
                    if depth > MAX_INDEX_DEPTH {
                        return Err(malformed(
                            what,
                            format!(
                                "indexes nested more than {MAX_INDEX_DEPTH} levels deep; refused (real images use one or two)"
                            ),
                        ));
                    }
                    let nested: Index =
                        serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(&what, e))?;
                    for child in &nested.manifests {
                        self.copy_manifest(ends, child.digest.clone(), Some(child), depth + 1)
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
            ends.sink.put_manifest(&manifest, entry).await
        })
    }

    async fn copy_blobs(&self, ends: &Ends<'_>, manifest: &ImageManifest) -> Result<(), CopyError> {
        let transfers: Vec<_> = manifest
            .blobs()
            .map(|b| {
                ends.sink
                    .put_blob(ends.id, ends.source, &b.digest, Some(b.size), false)
            })
            .collect();
        futures_util::stream::iter(transfers)
            .buffer_unordered(BLOBS_PER_IMAGE)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    async fn copy_single(
        &self,
        ends: &Ends<'_>,
        top: &Manifest,
    ) -> Result<(Outcome, Vec<Digest>), CopyError> {
        let subjects = vec![top.digest.clone()];
        if ends.sink.head(&ends.reference(&top.digest)).await? == Some(top.digest.clone()) {
            let digest = top.digest.clone();
            return Ok((Outcome::UpToDate { digest }, subjects));
        }
        let platform = config_platform(ends.source, top)
            .await?
            .map(|c| c.platform());
        let platforms: Vec<String> = platform.iter().map(Platform::to_string).collect();
        if let Some(p) = &platform
            && !self.options.filter.allows(p)
        {
            let available = platforms;
            return Ok((Outcome::NoMatchingPlatform { available }, Vec::new()));
        }
        if self.options.dry_run {
            let digest = Some(top.digest.clone());
            return Ok((Outcome::WouldCopy { digest, platforms }, subjects));
        }
        let parsed: ImageManifest =
            serde_json::from_slice(&top.bytes).map_err(|e| malformed(ends.what(&top.digest), e))?;
        self.copy_blobs(ends, &parsed).await?;
        let entry = descriptor_of(top, platform);
        ends.sink
            .put_tag(
                ends.tag,
                TagWrite {
                    manifest: top,
                    kept: std::slice::from_ref(&entry),
                    original: Some(top),
                },
            )
            .await?;
        let digest = top.digest.clone();
        Ok((Outcome::Copied { digest, platforms }, subjects))
    }

    async fn copy_schema1(&self, ends: &Ends<'_>, top: &Manifest) -> Result<Outcome, CopyError> {
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
        if let Some(tag) = ends.tag
            && let Some(existing) = ends.sink.manifest_at(tag).await?
            && existing.media_type == media::DOCKER_V2S2
            && let Ok(parsed) = serde_json::from_slice::<ImageManifest>(&existing.bytes)
            && parsed
                .layers
                .iter()
                .map(|l| &l.digest)
                .eq(s1.layers().iter())
        {
            let digest = existing.digest;
            return Ok(Outcome::UpToDate { digest });
        }
        if self.options.dry_run {
            return Ok(Outcome::WouldCopy {
                digest: None,
                platforms,
            });
        }
        let mut layers = Vec::with_capacity(s1.layers().len());
        for digest in s1.layers() {
            let copied = ends
                .sink
                .put_blob(ends.id, ends.source, digest, None, true)
                .await?;
            layers.push(ConvertedLayer {
                size: copied.size,
                diff_id: copied.diff_id.expect("asked for a diff id"),
            });
        }
        let (config, manifest) = s1.to_schema2(&layers)?;
        let config_digest = Digest::sha256_of(&config);
        ends.sink
            .put_blob_bytes(&config_digest, Bytes::from(config))
            .await?;
        let bytes = Bytes::from(manifest);
        let converted = Manifest {
            digest: Digest::sha256_of(&bytes),
            bytes,
            media_type: media::DOCKER_V2S2.to_string(),
        };
        let entry = descriptor_of(&converted, Some(platform));
        ends.sink
            .put_tag(
                ends.tag,
                TagWrite {
                    manifest: &converted,
                    kept: std::slice::from_ref(&entry),
                    // What the tag is after the conversion (as mirror pushes it).
                    original: Some(&converted),
                },
            )
            .await?;
        let digest = converted.digest;
        Ok(Outcome::Copied { digest, platforms })
    }

    /// An archive's `sha256-HEX` entry: the referrers of `subject`, made findable.
    async fn copy_referrer_set(
        &self,
        ends: &Ends<'_>,
        subject: &Digest,
        listing: &Manifest,
    ) -> Result<Outcome, CopyError> {
        let parsed: Index = serde_json::from_slice(&listing.bytes)
            .map_err(|e| malformed(format!("referrers of {subject}"), e))?;
        let referrers = parsed.manifests;
        let digest = referrers
            .first()
            .map(|r| r.digest.clone())
            .ok_or_else(|| malformed(format!("referrers of {subject}"), "none saved"))?;
        if self.options.dry_run {
            return Ok(Outcome::WouldCopy {
                digest: Some(digest),
                platforms: Vec::new(),
            });
        }
        let _publishing = ends
            .sink
            .lock_tag(&crate::attachments::subject_tag(subject))
            .await;
        for referrer in &referrers {
            self.copy_manifest(ends, referrer.digest.clone(), None, 1)
                .await?;
        }
        let new = ends.sink.publish_referrers(subject, referrers).await?;
        Ok(if new == 0 {
            Outcome::UpToDate { digest }
        } else {
            Outcome::Copied {
                digest,
                platforms: Vec::new(),
            }
        })
    }

    /// Copies the attachments of `subjects` (digests that exist at both ends).
    async fn copy_attachments(
        &self,
        ends: &Ends<'_>,
        subjects: &[Digest],
    ) -> Result<(), CopyError> {
        let found = ends.source.attachments(subjects).await?;
        for (tag, _) in &found.tags {
            let manifest = ends.source.manifest(tag).await?;
            if ends.sink.head(tag).await? == Some(manifest.digest.clone()) {
                continue;
            }
            self.copy_manifest(ends, manifest.digest.clone(), None, 1)
                .await?;
            let entry = descriptor_of(&manifest, None);
            ends.sink
                .put_tag(
                    Some(tag),
                    TagWrite {
                        manifest: &manifest,
                        kept: std::slice::from_ref(&entry),
                        original: None,
                    },
                )
                .await?;
            tracing::info!(
                "[IMG:{}] Copied [{}:{tag}] => [{}:{tag}]",
                ends.id,
                ends.source.name(),
                ends.sink.name()
            );
        }
        for (subject, referrers) in found.referrers {
            let _publishing = ends
                .sink
                .lock_tag(&crate::attachments::subject_tag(&subject))
                .await;
            for referrer in &referrers {
                self.copy_manifest(ends, referrer.digest.clone(), None, 1)
                    .await?;
            }
            let count = ends.sink.publish_referrers(&subject, referrers).await?;
            if count > 0 {
                tracing::info!(
                    "[IMG:{}] Copied {count} referrers of [{subject}] => [{}]",
                    ends.id,
                    ends.sink.name()
                );
            }
        }
        Ok(())
    }
}

/// The signature policy's verdict on an image, before anything of it is written: the
/// requirements of its scope, against the signatures of its top manifest's digest.
pub async fn admit(
    policy: &hangar_sign::policy::Policy,
    source: &dyn Source,
    top: &Top,
) -> Result<(), CopyError> {
    if let (None, Some((dir, name))) = (source.reference(), source.layout()) {
        return policy
            .judge_layout(dir, name)
            .map_err(|why| CopyError::Refused(format!("{}: {why}", source.name())));
    }
    let Some(reference) = source.reference() else {
        return Err(CopyError::Refused(format!(
            "{}: the signature policy cannot be evaluated (no image reference)",
            source.name()
        )));
    };
    // Signatures, attestations and referrers travel with the image the policy admitted
    // (an archive lists them as images of their own): they are not images to judge.
    if top.referrers_of.is_some()
        || reference
            .tag()
            .is_some_and(|t| crate::attachments::attachment_subject(t).is_some())
    {
        return Ok(());
    }
    let (_, requirements) = policy.requirements(&reference);
    let signatures = if requirements.iter().any(|r| r.needs_signatures()) {
        if !top.original {
            return Err(CopyError::Refused(format!(
                "{reference}: the archive does not keep the manifest its signatures are for (written before hangar kept it), so the signature policy cannot be satisfied"
            )));
        }
        source.signatures(&top.manifest.digest).await?
    } else {
        Vec::new()
    };
    policy
        .judge(&reference, &top.manifest.digest, &signatures)
        .map_err(|why| CopyError::Refused(format!("{reference}: {why}")))
}

/// A manifest as an index entry (its platform when it has one).
fn descriptor_of(manifest: &Manifest, platform: Option<Platform>) -> Descriptor {
    Descriptor {
        media_type: manifest.media_type.clone(),
        digest: manifest.digest.clone(),
        size: manifest.bytes.len() as u64,
        urls: Vec::new(),
        annotations: None,
        platform,
        artifact_type: None,
        extra: Default::default(),
    }
}

fn platform_names(entries: &[Descriptor]) -> Vec<String> {
    entries
        .iter()
        .filter(|d| !d.is_attestation())
        .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
        .collect()
}

/// The entries of an index (none when `manifest` is not an index), whether it is an OCI
/// index, and its digest: what a filtered copy or a load merges into.
pub fn index_entries(
    manifest: &Manifest,
    what: &str,
) -> Result<Option<(Vec<Descriptor>, bool, Digest)>, CopyError> {
    match ManifestKind::from_media_type(&manifest.media_type) {
        Some(k) if k.is_index() => {
            let idx: Index =
                serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(what, e))?;
            Ok(Some((
                idx.manifests,
                k == ManifestKind::OciIndex,
                manifest.digest.clone(),
            )))
        }
        _ => Ok(None),
    }
}

/// Fills a missing arm variant or Windows OS version of an index entry from the image config
/// (Hangar #83). Only entries the filter may keep are worth the lookup (a Windows entry under
/// `--os linux` is dropped whatever its version).
pub async fn fill_platform(
    source: &dyn Source,
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
    let child = source.manifest(entry.digest.as_str()).await?;
    if let (Some(config), Some(platform)) = (
        config_platform(source, &child).await?,
        entry.platform.as_mut(),
    ) {
        config.fill(platform);
    }
    Ok(())
}

/// The platform an image manifest's config declares (`None` for artifacts: charts,
/// signatures, SBOMs, which have no platform to filter on).
pub async fn config_platform(
    source: &dyn Source,
    manifest: &Manifest,
) -> Result<Option<ConfigPlatform>, CopyError> {
    let what = format!("{}@{}", source.name(), manifest.digest);
    let Some(config) = image_config(manifest, &what)? else {
        return Ok(None);
    };
    let bytes = source.blob_bytes(&config, CONFIG_LIMIT).await?;
    parse_config(&bytes, &what).map(Some)
}

/// [`config_platform`] of a manifest in a registry repository (scan, inspect).
pub async fn registry_config_platform(
    registry: &hangar_registry::Registry,
    repo: &str,
    manifest: &Manifest,
) -> Result<Option<ConfigPlatform>, CopyError> {
    let what = format!("{}/{repo}@{}", registry.name(), manifest.digest);
    let Some(config) = image_config(manifest, &what)? else {
        return Ok(None);
    };
    let bytes = registry.get_blob_bytes(repo, &config, CONFIG_LIMIT).await?;
    parse_config(&bytes, &what).map(Some)
}

/// The config digest of an image manifest; `None` for artifacts.
fn image_config(manifest: &Manifest, what: &str) -> Result<Option<Digest>, CopyError> {
    let parsed: ImageManifest =
        serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(what, e))?;
    Ok((parsed.config.media_type == media::DOCKER_CONFIG
        || parsed.config.media_type == media::OCI_CONFIG)
        .then_some(parsed.config.digest))
}

fn parse_config(bytes: &[u8], what: &str) -> Result<ConfigPlatform, CopyError> {
    serde_json::from_slice(bytes).map_err(|e| malformed(format!("config of {what}"), e))
}
