//! The archive seen as registry content: repositories, their tags, the manifests behind the
//! tags (the manifest the source tag held, when the archive kept it whole; an index rebuilt
//! from the platform list otherwise), and the blobs each repository may serve.

use crate::archive::blobs::ArchiveBlobs;
use crate::archive::index::{ArchiveIndex, Image};
use crate::copy::image::attachments::{referrer_descriptor, referrers_subject};
use crate::copy::index as index_rules;
use crate::image::digest::Digest;
use crate::image::manifest::Descriptor;
use crate::image::media;
use crate::image::reference::Reference;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A manifest to serve: its bytes (small, built or read once) and media type.
#[derive(Clone)]
pub struct Served {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

#[derive(Default)]
pub struct Repository {
    /// tag → what the tag resolves to.
    pub tags: BTreeMap<String, Served>,
    /// digest → manifests reachable by digest (platform manifests and rebuilt indexes).
    pub manifests: HashMap<Digest, Served>,
    /// Blobs (configs, layers) this repository's manifests refer to.
    pub blobs: BTreeSet<Digest>,
}

pub struct Catalog {
    pub archive: ArchiveBlobs,
    /// Registry-less name → repository; full names point at the same entry.
    repositories: BTreeMap<String, Repository>,
    aliases: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{image}: {message}")]
pub struct CatalogError {
    pub image: String,
    pub message: String,
}

/// The index entry of one platform manifest, as the archive index records it.
fn entry(
    archive: &ArchiveBlobs,
    spec: &crate::archive::index::ImageSpec,
    what: &str,
) -> Result<(Descriptor, Served), CatalogError> {
    let fail = |message: String| CatalogError {
        image: what.to_string(),
        message,
    };
    let digest: Digest = spec.digest.parse().map_err(|e| fail(format!("{e}")))?;
    let name = format!("share/sha256/{}", digest.hex());
    let bytes = archive
        .read_small(&name, 16 << 20)
        .map_err(|e| fail(e.to_string()))?;
    if Digest::sha256_of(&bytes) != digest {
        return Err(fail(format!("entry {name} does not match its digest")));
    }
    let media_type = if spec.media_type.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string())
    } else {
        spec.media_type.clone()
    };
    let descriptor = spec.descriptor(digest.clone(), bytes.len() as u64, media_type.clone());
    Ok((
        descriptor,
        Served {
            bytes,
            media_type,
            digest,
        },
    ))
}

impl Catalog {
    /// Builds the view; images the archive cannot back (missing or corrupted manifests) are
    /// reported and left out, the rest is served.
    pub fn build(archive: ArchiveBlobs, index: &ArchiveIndex) -> (Catalog, Vec<CatalogError>) {
        let mut catalog = Catalog {
            archive,
            repositories: BTreeMap::new(),
            aliases: HashMap::new(),
        };
        let mut problems = Vec::new();
        for image in &index.list {
            if let Err(e) = catalog.add(image) {
                problems.push(e);
            }
        }
        (catalog, problems)
    }

    fn add(&mut self, image: &Image) -> Result<(), CatalogError> {
        let what = format!("{}:{}", image.source, image.tag);
        let fail = |message: String| CatalogError {
            image: what.clone(),
            message,
        };
        let reference = Reference::parse(&image.source).map_err(|e| fail(e.to_string()))?;
        let short = reference.repository().to_string();
        let mut entries = Vec::new();
        let mut manifests = Vec::new();
        for spec in &image.images {
            let (descriptor, served) = entry(&self.archive, spec, &what)?;
            entries.push(descriptor);
            manifests.push(served);
        }
        let mut blobs = BTreeSet::new();
        for served in &manifests {
            if let Ok(m) =
                serde_json::from_slice::<crate::image::manifest::ImageManifest>(&served.bytes)
            {
                blobs.extend(m.blobs().map(|b| b.digest.clone()));
            }
        }
        let artifact = image.arch_list.is_empty() && image.os_list.is_empty();
        let original = crate::archive::original::original(&self.archive, image).map_err(fail)?;
        let top = if let Some(original) = original {
            // The tag's own manifest, as its source served it: the same digest as there.
            Served {
                bytes: original.bytes,
                media_type: original.media_type,
                digest: original.digest,
            }
        } else if artifact && referrers_subject(&image.tag).is_some() {
            // Saved referrers: the tag schema's index, which lists each referrer with its
            // artifact type (what clients without the referrers API read).
            let listed = manifests
                .iter()
                .map(|m| referrer_descriptor(m.digest.clone(), &m.bytes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string()))?;
            let bytes = Bytes::from(
                serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": media::OCI_INDEX,
                    "manifests": listed,
                }))
                .expect("index serializes"),
            );
            Served {
                digest: Digest::sha256_of(&bytes),
                bytes,
                media_type: media::OCI_INDEX.to_string(),
            }
        } else if artifact && manifests.len() == 1 {
            manifests[0].clone()
        } else {
            let bytes = Bytes::from(index_rules::build(entries));
            Served {
                digest: Digest::sha256_of(&bytes),
                bytes,
                media_type: media::OCI_INDEX.to_string(),
            }
        };
        self.aliases.insert(reference.name(), short.clone());
        let repository = self.repositories.entry(short).or_default();
        for served in manifests {
            repository.manifests.insert(served.digest.clone(), served);
        }
        repository.manifests.insert(top.digest.clone(), top.clone());
        repository.blobs.extend(blobs);
        // A tag that is a digest (saved by digest) is reachable by that digest only.
        if !image.tag.starts_with("sha256:") {
            repository.tags.insert(image.tag.clone(), top);
        }
        Ok(())
    }

    pub fn repository(&self, name: &str) -> Option<&Repository> {
        let name = self.aliases.get(name).map(String::as_str).unwrap_or(name);
        self.repositories.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.repositories.keys().map(String::as_str)
    }

    /// A manifest by tag or digest.
    pub fn manifest(&self, repository: &str, reference: &str) -> Option<&Served> {
        let repository = self.repository(repository)?;
        match reference.parse::<Digest>() {
            Ok(digest) => repository.manifests.get(&digest),
            Err(_) => repository.tags.get(reference),
        }
    }
}
