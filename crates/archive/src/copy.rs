//! Copying images between archives (`archive merge`, `archive export`): every entry an image
//! needs (its layouts, manifests, configs, layers, the tag's original manifest) streams from the
//! input's byte range into the output writer, once per output whatever the number of images
//! sharing it.

use super::blobs::ArchiveBlobs;
use super::index::{Image, ImageSpec};
use super::writer::ArchiveWriter;
use std::collections::HashSet;

#[derive(Debug, thiserror::Error)]
#[error("{image}: {message}")]
pub struct CopyImageError {
    pub image: String,
    pub message: String,
}

/// The entries one platform manifest occupies in an archive.
pub fn spec_entries(spec: &ImageSpec) -> Vec<String> {
    let hex = spec.digest.trim_start_matches("sha256:");
    let blob = |d: &str| format!("share/sha256/{}", d.trim_start_matches("sha256:"));
    let mut names = vec![
        format!("{hex}/index.json"),
        format!("{hex}/oci-layout"),
        blob(&spec.digest),
    ];
    if !spec.config.is_empty() {
        names.push(blob(&spec.config));
    }
    names.extend(spec.layers.iter().map(|l| blob(l)));
    names
}

/// Copies the entries of `image` that `written` does not hold yet.
pub async fn copy_image(
    from: &ArchiveBlobs,
    image: &Image,
    to: &ArchiveWriter,
    written: &mut HashSet<String>,
) -> Result<(), CopyImageError> {
    let what = format!("{}:{}", image.source, image.tag);
    // The tag's original manifest travels too (see `original`), when the input holds it.
    let original = image
        .source_manifest
        .as_ref()
        .map(|m| format!("share/sha256/{}", m.digest.trim_start_matches("sha256:")))
        .filter(|name| from.size(name).is_some());
    let names = image.images.iter().flat_map(spec_entries).chain(original);
    for name in names {
        if written.contains(&name) {
            continue;
        }
        let size = from.size(&name).ok_or_else(|| CopyImageError {
            image: what.clone(),
            message: format!(
                "file {name:?} not found in archive {:?}",
                from.path().display().to_string()
            ),
        })?;
        let stream = from.stream(&name).map_err(|e| CopyImageError {
            image: what.clone(),
            message: e.to_string(),
        })?;
        to.write_entry(&name, size, stream)
            .await
            .map_err(|e| CopyImageError {
                image: what.clone(),
                message: e.to_string(),
            })?;
        written.insert(name);
    }
    Ok(())
}
