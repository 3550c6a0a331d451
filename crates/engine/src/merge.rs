//! `merge-manifest`: one OCI index of several images. Indexes are flattened and a single
//! manifest gets its platform from its config, merged by the index rules (the same platform
//! is replaced). Manifests from other repositories are copied into the target's repository
//! first: an index can only point at manifests its own repository holds.

use crate::index;
use crate::outcome::{CopyError, malformed};
use crate::sink::Sink;
use crate::source::Source;
use crate::walk::{Ends, Engine, config_platform};
use hangar_image::manifest::{Descriptor, Index};
use hangar_image::media::ManifestKind;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("image {image:?} mime type {media_type:?} is not supported")]
    Unsupported { image: String, media_type: String },
    #[error("image {image:?} mime type {media_type:?} is deprecated and not supported")]
    Schema1 { image: String, media_type: String },
    #[error(transparent)]
    Copy(#[from] CopyError),
}

/// The entries of the merged index, in the order the sources give them.
pub async fn entries(sources: &[&dyn Source]) -> Result<Vec<Descriptor>, MergeError> {
    let mut entries: Vec<Descriptor> = Vec::new();
    for source in sources {
        let top = source.top().await?.manifest;
        let image = source.name();
        let media_type = top.media_type.clone();
        match ManifestKind::from_media_type(&top.media_type) {
            None => return Err(MergeError::Unsupported { image, media_type }),
            Some(ManifestKind::Schema1) => return Err(MergeError::Schema1 { image, media_type }),
            Some(ManifestKind::OciIndex | ManifestKind::DockerList) => {
                let idx: Index = serde_json::from_slice(&top.bytes)
                    .map_err(|e| malformed(format!("{image}@{}", top.digest), e))?;
                entries = index::merge(entries, idx.manifests);
            }
            Some(ManifestKind::OciManifest | ManifestKind::DockerV2S2) => {
                let platform = config_platform(*source, &top).await?.map(|c| c.platform());
                let descriptor = Descriptor {
                    media_type: top.media_type.clone(),
                    digest: top.digest.clone(),
                    size: top.bytes.len() as u64,
                    urls: vec![],
                    annotations: None,
                    platform,
                    artifact_type: None,
                    extra: Default::default(),
                };
                entries = index::merge(entries, vec![descriptor]);
            }
        }
    }
    Ok(entries)
}

/// Copies into `sink` every manifest of `sources` the merged `entries` list (and everything
/// under it), skipping what the sink holds.
pub async fn gather(
    engine: &Engine<'_>,
    sources: &[&dyn Source],
    sink: &dyn Sink,
    entries: &[Descriptor],
) -> Result<(), CopyError> {
    for source in sources {
        let top = source.top().await?.manifest;
        let named: Vec<Descriptor> = match ManifestKind::from_media_type(&top.media_type) {
            Some(k) if k.is_index() => {
                serde_json::from_slice::<Index>(&top.bytes)
                    .map_err(|e| malformed(source.name(), e))?
                    .manifests
            }
            _ => entries
                .iter()
                .filter(|e| e.digest == top.digest)
                .cloned()
                .collect(),
        };
        let ends = Ends {
            id: 0,
            source: *source,
            sink,
            tag: None,
        };
        for entry in named
            .iter()
            .filter(|n| entries.iter().any(|e| e.digest == n.digest))
        {
            engine
                .copy_manifest(&ends, entry.digest.clone(), Some(entry), 1)
                .await?;
        }
    }
    Ok(())
}
