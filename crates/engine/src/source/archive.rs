//! An image of a Hangar archive. Its top manifest is the one the source tag held when the
//! archive kept it whole (see `hangar_archive::original`); otherwise (Hangar's archives,
//! older ones, platforms filtered out at save) an OCI index built from the archive's platform
//! list, which only merges into the destination. Artifacts without a platform (charts, files,
//! cosign tags) are their one manifest; an `sha256-HEX` entry is a subject's referrers. Every
//! manifest read is checked against its digest, and blobs stream from their zip entries.

use super::{Attachments, Fut, OpenBlob, Source, Top};
use crate::attachments::{attachment_subject, referrer_descriptor, referrers_subject};
use crate::outcome::{CopyError, malformed};
use bytes::Bytes;
use hangar_archive::blobs::ArchiveBlobs;
use hangar_archive::index::{ArchiveIndex, Image};
use hangar_archive::original::{blob_name, original};
use hangar_image::digest::Digest;
use hangar_image::list::{self, Formats, Line};
use hangar_image::manifest::Descriptor;
use hangar_image::media;
use hangar_image::reference::{Reference, ReferenceError};
use hangar_registry::Manifest;
use std::collections::HashMap;

/// Largest manifest read from an archive.
const MANIFEST_LIMIT: u64 = 16 << 20;

pub struct ArchiveSource<'a> {
    archive: &'a ArchiveBlobs,
    image: &'a Image,
    /// The archive's index, where the image's signatures are found (a policy asks).
    index: Option<&'a ArchiveIndex>,
    /// The top, once resolved: planning and the copy both ask, and resolving reads and
    /// hashes the image's manifests.
    top: std::sync::OnceLock<Top>,
}

impl<'a> ArchiveSource<'a> {
    pub fn new(archive: &'a ArchiveBlobs, image: &'a Image) -> Self {
        ArchiveSource {
            archive,
            image,
            index: None,
            top: std::sync::OnceLock::new(),
        }
    }

    /// The same, able to give the signatures the archive carries for the image.
    pub fn with_index(mut self, index: &'a ArchiveIndex) -> Self {
        self.index = Some(index);
        self
    }

    fn what(&self) -> String {
        format!("{}:{}", self.image.source, self.image.tag)
    }

    /// An archive entry holding a manifest, checked against its digest.
    pub fn read(&self, digest: &Digest) -> Result<Manifest, CopyError> {
        let name = blob_name(digest);
        let bytes = self
            .archive
            .read_small(&name, MANIFEST_LIMIT)
            .map_err(|e| malformed(&name, e))?;
        if Digest::sha256_of(&bytes) != *digest {
            return Err(malformed(
                &name,
                "the entry does not match its digest (corrupted archive)",
            ));
        }
        let listed = self
            .image
            .images
            .iter()
            .find(|s| s.digest == digest.as_str())
            .map(|s| s.media_type.as_str())
            .unwrap_or_default();
        Ok(Manifest {
            media_type: media_type_of(listed, &bytes),
            digest: digest.clone(),
            bytes,
        })
    }

    /// The archive's platform manifests as index entries (sizes and media types from the
    /// entries themselves).
    fn entries(&self) -> Result<Vec<Descriptor>, CopyError> {
        self.image
            .images
            .iter()
            .map(|spec| {
                let digest: Digest = spec.digest.parse().map_err(|e| malformed(self.what(), e))?;
                let manifest = self.read(&digest)?;
                Ok(spec.descriptor(digest, manifest.bytes.len() as u64, manifest.media_type))
            })
            .collect()
    }

    fn is_artifact(&self) -> bool {
        self.image.arch_list.is_empty() && self.image.os_list.is_empty()
    }

    fn resolve_top(&self) -> Result<Top, CopyError> {
        if self.is_artifact() {
            if let Some(subject) = referrers_subject(&self.image.tag) {
                let referrers = self
                    .entries()?
                    .into_iter()
                    .map(|entry| {
                        let bytes = self.read(&entry.digest)?.bytes;
                        referrer_descriptor(entry.digest, &bytes)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(Top {
                    manifest: built_index(referrers),
                    original: false,
                    referrers_of: Some(subject),
                });
            }
            // A chart, a stored file or a cosign tag: its one manifest is the tag.
            let [only] = self.image.images.as_slice() else {
                return Err(malformed(
                    self.what(),
                    format!(
                        "{} manifests for an artifact without platform",
                        self.image.images.len()
                    ),
                ));
            };
            let digest: Digest = only.digest.parse().map_err(|e| malformed(self.what(), e))?;
            return Ok(Top {
                manifest: self.read(&digest)?,
                original: true,
                referrers_of: None,
            });
        }
        if let Some(kept) =
            original(self.archive, self.image).map_err(|e| malformed(self.what(), e))?
        {
            return Ok(Top {
                manifest: Manifest {
                    bytes: kept.bytes,
                    media_type: kept.media_type,
                    digest: kept.digest,
                },
                original: true,
                referrers_of: None,
            });
        }
        Ok(Top {
            manifest: built_index(self.entries()?),
            original: false,
            referrers_of: None,
        })
    }
}

/// The top an archive image presents (shared with `serve`, so it answers what load pushes).
pub fn top_of(archive: &ArchiveBlobs, image: &Image) -> Result<Top, CopyError> {
    ArchiveSource::new(archive, image).resolve_top()
}

fn built_index(entries: Vec<Descriptor>) -> Manifest {
    let bytes = Bytes::from(crate::index::build(entries));
    Manifest {
        digest: Digest::sha256_of(&bytes),
        bytes,
        media_type: media::OCI_INDEX.to_string(),
    }
}

/// The listed media type, or the manifest's own when the archive index left it out.
fn media_type_of(listed: &str, bytes: &[u8]) -> String {
    if !listed.is_empty() {
        return listed.to_string();
    }
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| media::OCI_MANIFEST.to_string())
}

impl Source for ArchiveSource<'_> {
    fn name(&self) -> String {
        self.image.source.clone()
    }

    fn top(&self) -> Fut<'_, Top> {
        Box::pin(async move {
            if let Some(top) = self.top.get() {
                return Ok(top.clone());
            }
            let top = self.resolve_top()?;
            Ok(self.top.get_or_init(|| top).clone())
        })
    }

    fn manifest<'b>(&'b self, reference: &'b str) -> Fut<'b, Manifest> {
        Box::pin(async move {
            let digest: Digest = reference
                .parse()
                .map_err(|e| malformed(format!("{}@{reference}", self.image.source), e))?;
            self.read(&digest)
        })
    }

    fn blob_bytes<'b>(&'b self, digest: &'b Digest, limit: usize) -> Fut<'b, Bytes> {
        Box::pin(async move {
            let name = blob_name(digest);
            self.archive
                .read_small(&name, limit as u64)
                .map_err(|e| malformed(&name, e))
        })
    }

    fn open_blob<'b>(&'b self, digest: &'b Digest) -> Fut<'b, OpenBlob> {
        Box::pin(async move {
            let name = blob_name(digest);
            let what = format!("archive entry {name}");
            let body = self
                .archive
                .stream(&name)
                .map_err(|e| malformed(&what, e))?;
            Ok(OpenBlob {
                body: Box::pin(body),
                size: self.archive.size(&name),
                what,
            })
        })
    }

    fn blob_size<'b>(&'b self, digest: &'b Digest) -> Fut<'b, Option<u64>> {
        Box::pin(async move { Ok(self.archive.size(&blob_name(digest))) })
    }

    fn attachments<'b>(&'b self, _: &'b [Digest]) -> Fut<'b, Attachments> {
        Box::pin(async { Ok(Attachments::default()) })
    }

    fn refetch_helps(&self) -> bool {
        false
    }

    fn reference(&self) -> Option<Reference> {
        let at = if self.image.tag.starts_with("sha256:") {
            "@"
        } else {
            ":"
        };
        Reference::parse(&format!("{}{at}{}", self.image.source, self.image.tag)).ok()
    }

    fn signatures<'b>(&'b self, digest: &'b Digest) -> Fut<'b, Vec<hangar_sign::cosign::Found>> {
        Box::pin(async move {
            let tag = hangar_sign::cosign::signature_tag(digest);
            let Some(signed) = self.index.and_then(|index| {
                index
                    .list
                    .iter()
                    .rfind(|i| i.source == self.image.source && i.tag == tag)
            }) else {
                return Ok(Vec::new());
            };
            let mut found = Vec::new();
            for spec in &signed.images {
                let digest: Digest = spec.digest.parse().map_err(|e| malformed(&tag, e))?;
                let manifest: serde_json::Value =
                    serde_json::from_slice(&self.read(&digest)?.bytes)
                        .map_err(|e| malformed(&tag, e))?;
                for layer in hangar_sign::cosign::signature_layers(&manifest) {
                    let blob = layer.payload;
                    let name = blob_name(&blob);
                    let payload = self
                        .archive
                        .read_small(&name, hangar_sign::cosign::SIGNATURE_PAYLOAD_LIMIT as u64)
                        .map_err(|e| malformed(&name, e))?;
                    if Digest::sha256_of(&payload) != blob {
                        return Err(malformed(
                            &name,
                            "the entry does not match its digest (corrupted archive)",
                        ));
                    }
                    found.push(hangar_sign::cosign::Found {
                        payload,
                        signature: layer.signature,
                        bundle: layer.bundle,
                        certificate: layer.certificate,
                        chain: layer.chain,
                    });
                }
            }
            Ok(found)
        })
    }
}

/// The images of an archive a command takes: every one, or those a list names (the last
/// match wins, as in Hangar), each followed by its signatures, attestations, SBOMs and
/// referrers when `attachments`. Lines the archive lacks are `not_found`, as written.
pub struct Picked<'i> {
    /// The image and the text its failed-list line gets (`source:tag`).
    pub images: Vec<(String, &'i Image)>,
    pub not_found: Vec<String>,
}

pub fn pick<'i>(
    index: &'i ArchiveIndex,
    list: Option<&str>,
    source_registry: Option<&str>,
    attachments: bool,
) -> Picked<'i> {
    let mut picked = Picked {
        images: Vec::new(),
        not_found: Vec::new(),
    };
    let mut add = |image: &'i Image| {
        picked
            .images
            .push((format!("{}:{}", image.source, image.tag), image));
    };
    let Some(text) = list else {
        for image in &index.list {
            if attachments || attachment_subject(&image.tag).is_none() {
                add(image);
            }
        }
        return picked;
    };
    let parsed = list::parse(text, Formats::DefaultOnly);
    for w in &parsed.warnings {
        tracing::warn!("Ignore {w}");
    }
    // Looked up once per listed line: maps keep `load -f` linear in the list and the archive.
    // A name and tag saved twice resolves to the last one, as a rescan from the end would.
    let mut by_name: HashMap<(&str, &str), &'i Image> = HashMap::new();
    // Attachment images (positions in the archive) by repository and subject digest.
    let mut attached_to: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (n, image) in index.list.iter().enumerate() {
        by_name.insert((image.source.as_str(), image.tag.as_str()), image);
        if let Some(subject) = attachment_subject(&image.tag) {
            attached_to
                .entry((image.source.as_str(), subject))
                .or_default()
                .push(n);
        }
    }
    for entry in parsed.entries {
        let Line::Default(mut wanted) = entry.line else {
            continue;
        };
        if let Some(registry) = source_registry.filter(|r| !r.is_empty()) {
            wanted = wanted.with_registry(registry);
        }
        let tag = wanted
            .tag()
            .map(str::to_string)
            .or_else(|| wanted.digest().map(|d| d.to_string()))
            .unwrap_or_default();
        let Some(image) = by_name
            .get(&(wanted.name().as_str(), tag.as_str()))
            .copied()
        else {
            tracing::error!("image [{}] not found in archive", entry.text);
            picked.not_found.push(entry.text);
            continue;
        };
        add(image);
        if !attachments {
            continue;
        }
        let mut attached: Vec<usize> = image
            .images
            .iter()
            .filter_map(|spec| {
                let digest = spec.digest.trim_start_matches("sha256:");
                attached_to.get(&(image.source.as_str(), digest))
            })
            .flatten()
            .copied()
            .collect();
        // In archive order, each once, as a scan over the whole archive gave them.
        attached.sort_unstable();
        attached.dedup();
        for n in attached {
            let image = &index.list[n];
            add(image);
        }
    }
    picked
}

/// Where an archive image goes in `registry` (under `project` when given): its own
/// repository path and tag, or its digest for an image saved by digest.
pub fn destination_of(
    image: &Image,
    registry: &str,
    project: Option<&str>,
) -> Result<Reference, ReferenceError> {
    let at = if image.tag.starts_with("sha256:") {
        "@"
    } else {
        ":"
    };
    let destination =
        Reference::parse(&format!("{}{at}{}", image.source, image.tag))?.with_registry(registry);
    match project.filter(|p| !p.is_empty()) {
        Some(project) => destination.with_project(project),
        None => Ok(destination),
    }
}
