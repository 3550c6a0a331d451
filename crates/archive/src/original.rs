//! The manifest an image's tag held at its source, kept whole in the archive (see
//! `index::Image::source_manifest`): load pushes it and serve answers it unchanged, so the tag
//! keeps its digest, whenever the archive can give it back complete.

use super::blobs::ArchiveBlobs;
use super::index::Image;
use bytes::Bytes;
use hangar_image::digest::Digest;
use hangar_image::manifest::Index;
use hangar_image::media::ManifestKind;

/// Largest manifest read from an archive.
const MANIFEST_LIMIT: u64 = 16 << 20;

/// A tag's original manifest, read back and checked.
#[derive(Clone, Debug)]
pub struct Original {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
    /// The manifests an index names (empty for a single manifest), all in the archive.
    pub children: Vec<Digest>,
}

/// `share/sha256/<hex>`, where every blob and manifest of an archive lives.
pub fn blob_name(digest: &Digest) -> String {
    format!("share/sha256/{}", digest.hex())
}

/// The original manifest of `image`, when the archive holds it and every manifest it names;
/// `None` for archives without one (Hangar's, older ones), and for an index some of whose
/// platforms were filtered out at save: those get an index built from their platform list.
/// A kept manifest that does not match its digest is an error naming the entry.
pub fn original(archive: &ArchiveBlobs, image: &Image) -> Result<Option<Original>, String> {
    let Some(kept) = &image.source_manifest else {
        return Ok(None);
    };
    let digest: Digest = kept
        .digest
        .parse()
        .map_err(|e| format!("source manifest {}: {e}", kept.digest))?;
    let name = blob_name(&digest);
    if archive.size(&name).is_none() {
        return Ok(None);
    }
    let bytes = archive
        .read_small(&name, MANIFEST_LIMIT)
        .map_err(|e| e.to_string())?;
    if Digest::sha256_of(&bytes) != digest {
        return Err(format!(
            "entry {name} does not match its digest (corrupted archive)"
        ));
    }
    let children = match ManifestKind::from_media_type(&kept.media_type) {
        Some(kind) if kind.is_index() => {
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| format!("entry {name}: malformed index: {e}"))?;
            index.manifests.into_iter().map(|d| d.digest).collect()
        }
        Some(_) => Vec::new(),
        None => {
            return Err(format!(
                "entry {name}: unsupported media type {:?}",
                kept.media_type
            ));
        }
    };
    if children
        .iter()
        .any(|child| archive.size(&blob_name(child)).is_none())
    {
        return Ok(None);
    }
    Ok(Some(Original {
        bytes,
        media_type: kept.media_type.clone(),
        digest,
        children,
    }))
}
