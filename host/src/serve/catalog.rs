//! The archive seen as registry content: repositories, their tags, the manifests behind the
//! tags (the manifest the source tag held, when the archive kept it whole; an index rebuilt
//! from the platform list otherwise), and the blobs each repository may serve.

use crate::archive::blobs::ArchiveBlobs;
use crate::archive::index::{ArchiveIndex, Image};
use crate::copy::source::archive::{ArchiveSource, top_of};
use crate::image::digest::Digest;
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
        // What load pushes is what the tag answers (the same source side).
        let source = ArchiveSource::new(&self.archive, image);
        let mut manifests = Vec::new();
        for spec in &image.images {
            let digest: Digest = spec.digest.parse().map_err(|e| fail(format!("{e}")))?;
            let m = source.read(&digest).map_err(|e| fail(e.to_string()))?;
            manifests.push(Served {
                bytes: m.bytes,
                media_type: m.media_type,
                digest: m.digest,
            });
        }
        let mut blobs = BTreeSet::new();
        for served in &manifests {
            if let Ok(m) =
                serde_json::from_slice::<crate::image::manifest::ImageManifest>(&served.bytes)
            {
                blobs.extend(m.blobs().map(|b| b.digest.clone()));
            }
        }
        let top = top_of(&self.archive, image).map_err(|e| fail(e.to_string()))?;
        let top = Served {
            bytes: top.manifest.bytes,
            media_type: top.manifest.media_type,
            digest: top.manifest.digest,
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
