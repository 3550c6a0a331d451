//! Delta archives and inventories. A delta holds every image's manifests and configs but only
//! the layers its bases lack; its `index.json` says so in a `delta` field (Hangar's reader
//! ignores unknown fields) naming the bases and every blob it relies on, with a repository
//! where the other side should already have it. A base is an older archive (identified by the
//! digest of its `index.json`: cheap, and it changes whenever its content does) or an
//! inventory: what a registry inside the air gap holds, written by `hangar inventory`.

use super::index::ArchiveIndex;
use hangar_image::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The inventory format this hangar writes and reads.
pub const INVENTORY_VERSION: &str = "hangar.inventory/v1";

/// What a registry holds: per repository its tags and the blobs of their manifests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub version: String,
    /// `sha256:` of the `repositories` JSON: names this exact content.
    pub id: String,
    pub registry: String,
    pub created: String,
    pub repositories: Vec<InventoryRepository>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRepository {
    pub name: String,
    /// Tag → manifest digest.
    pub tags: BTreeMap<String, String>,
    /// Every manifest the tags reach (an index's children included), by digest.
    pub manifests: BTreeMap<String, InventoryManifest>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryManifest {
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// An index's children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}: not a hangar inventory: {1}")]
    Malformed(String, String),
    #[error("{0}: inventory version {1:?}; this hangar reads {INVENTORY_VERSION}")]
    Version(String, String),
}

impl Inventory {
    /// The id of `repositories`, as `id` records it.
    pub fn id_of(repositories: &[InventoryRepository]) -> String {
        let bytes = serde_json::to_vec(repositories).expect("an inventory always serialises");
        Digest::sha256_of(&bytes).to_string()
    }

    pub fn parse(name: &str, bytes: &[u8]) -> Result<Inventory, InventoryError> {
        let inventory: Inventory = serde_json::from_slice(bytes)
            .map_err(|e| InventoryError::Malformed(name.to_string(), e.to_string()))?;
        if inventory.version != INVENTORY_VERSION {
            return Err(InventoryError::Version(name.to_string(), inventory.version));
        }
        Ok(inventory)
    }
}

/// The `delta` field of a delta archive's `index.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub bases: Vec<Base>,
    /// Every blob the images need that the archive does not hold, sorted by digest.
    pub relies: Vec<Relied>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseKind {
    /// An older archive: `repository` of its blobs is an image source, mapped at load time
    /// the way the base's own load mapped it.
    Archive,
    /// An inventory of the destination: `repository` is a repository of `registry`.
    Inventory,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub kind: BaseKind,
    /// The file it was read from (for messages: "load NAME first").
    pub name: String,
    /// An archive: the digest of its `index.json`; an inventory: its `id`.
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry: String,
}

impl Base {
    /// How a message names it.
    pub fn describe(&self) -> String {
        match self.kind {
            BaseKind::Archive => format!("archive {} ({})", self.name, short(&self.id)),
            BaseKind::Inventory => format!(
                "the inventory {} of {} ({})",
                self.name,
                self.registry,
                short(&self.id)
            ),
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..19).unwrap_or(id)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relied {
    pub digest: String,
    pub size: u64,
    /// Index into `bases`.
    pub base: usize,
    /// Where that base has it (see [`BaseKind`]).
    pub repository: String,
}

/// The blobs the bases of a save hold: digest → (base, repository).
#[derive(Debug, Default)]
pub struct BaseBlobs {
    pub bases: Vec<Base>,
    blobs: HashMap<Digest, (usize, String)>,
}

impl BaseBlobs {
    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Where a base has `digest`, if one does.
    pub fn find(&self, digest: &Digest) -> Option<(usize, &str)> {
        self.blobs
            .get(digest)
            .map(|(base, repository)| (*base, repository.as_str()))
    }

    fn base_number(&mut self, base: Base) -> usize {
        match self.bases.iter().position(|b| b.id == base.id) {
            Some(n) => n,
            None => {
                self.bases.push(base);
                self.bases.len() - 1
            }
        }
    }

    fn add(&mut self, digest: &str, base: usize, repository: &str) {
        if let Ok(digest) = digest.parse::<Digest>() {
            self.blobs
                .entry(digest)
                .or_insert_with(|| (base, repository.to_string()));
        }
    }

    /// An older archive: the layers it holds, and (when it is a delta itself) the ones it
    /// relies on, from its own bases. Configs are small and always carried, so only layers
    /// count.
    pub fn add_archive(&mut self, name: &str, index_bytes: &[u8], index: &ArchiveIndex) {
        let this = self.base_number(Base {
            kind: BaseKind::Archive,
            name: name.to_string(),
            id: Digest::sha256_of(index_bytes).to_string(),
            registry: String::new(),
        });
        for image in &index.list {
            for spec in &image.images {
                for layer in &spec.layers {
                    self.add(layer, this, &image.source);
                }
            }
        }
        if let Some(delta) = &index.delta {
            self.add_delta(delta);
        }
    }

    /// What a delta relies on, with its own bases: copying from a delta (`archive export`)
    /// leaves out the same blobs, so the copy is a delta of the same bases.
    pub fn add_delta(&mut self, delta: &Delta) {
        for relied in &delta.relies {
            if let Some(base) = delta.bases.get(relied.base) {
                let n = self.base_number(base.clone());
                self.add(&relied.digest, n, &relied.repository);
            }
        }
    }

    /// An inventory of the destination registry: every layer its manifests name.
    pub fn add_inventory(&mut self, name: &str, inventory: &Inventory) {
        let this = self.base_number(Base {
            kind: BaseKind::Inventory,
            name: name.to_string(),
            id: inventory.id.clone(),
            registry: inventory.registry.clone(),
        });
        for repository in &inventory.repositories {
            for manifest in repository.manifests.values() {
                for layer in &manifest.layers {
                    self.add(layer, this, &repository.name);
                }
            }
        }
    }
}

impl Delta {
    /// Adds what this run relied on to what the archive already did (a sync into a delta),
    /// renumbering bases; `relied` names its base in `bases`.
    pub fn merge(
        existing: Option<Delta>,
        bases: &[Base],
        relied: impl IntoIterator<Item = Relied>,
    ) -> Option<Delta> {
        let mut delta = existing.unwrap_or_default();
        let mut by_digest: BTreeMap<String, Relied> = delta
            .relies
            .drain(..)
            .map(|r| (r.digest.clone(), r))
            .collect();
        for mut r in relied {
            let Some(base) = bases.get(r.base) else {
                continue;
            };
            r.base = match delta.bases.iter().position(|b| b.id == base.id) {
                Some(n) => n,
                None => {
                    delta.bases.push(base.clone());
                    delta.bases.len() - 1
                }
            };
            by_digest.entry(r.digest.clone()).or_insert(r);
        }
        delta.relies = by_digest.into_values().collect();
        (!delta.relies.is_empty()).then_some(delta)
    }

    /// Bytes the archive relies on.
    pub fn relied_bytes(&self) -> u64 {
        self.relies.iter().map(|r| r.size).sum()
    }
}
