//! `archive ls`'s table: one line per image with its platforms, the bytes of its layers and,
//! for an image without platforms, what it is (a chart, a stored file, a plugin, a signature).

use super::artifact::{FILE_LAYER, HELM_CHART_LAYER, NATIVE_PLUGIN_LAYER, WASM_PLUGIN_LAYER};
use super::blobs::ArchiveBlobs;
use super::index::{ArchiveIndex, Image};
use hangar_image::attachment::attachment_subject;
use hangar_outfile::human_size;
use std::collections::BTreeSet;

/// What an image without platforms is: a chart, a stored file or a plugin, told by its layer
/// type.
fn artifact_kind(blobs: &ArchiveBlobs, image: &Image) -> Option<&'static str> {
    if attachment_subject(&image.tag).is_some() {
        return Some(match image.tag.rsplit_once('.').map(|(_, suffix)| suffix) {
            Some("sig") => "(cosign signature)",
            Some("att") => "(cosign attestation)",
            Some("sbom") => "(sbom)",
            _ => "(referrers)",
        });
    }
    let spec = image.images.first()?;
    let name = format!("share/sha256/{}", spec.digest.trim_start_matches("sha256:"));
    let bytes = blobs.read_small(&name, 16 << 20).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match manifest["layers"][0]["mediaType"].as_str()? {
        HELM_CHART_LAYER => Some("(helm chart)"),
        FILE_LAYER => Some("(custom file)"),
        WASM_PLUGIN_LAYER => Some("(hangar plugin)"),
        NATIVE_PLUGIN_LAYER => Some("(hangar native plugin)"),
        _ => None,
    }
}

/// Hangar's `archive ls` lines, in index order.
pub fn lines(index: &ArchiveIndex, blobs: &ArchiveBlobs) -> Vec<String> {
    let mut lines = Vec::with_capacity(index.list.len());
    let relied: std::collections::HashSet<&str> = index
        .delta
        .iter()
        .flat_map(|d| &d.relies)
        .map(|r| r.digest.as_str())
        .collect();
    for (n, image) in index.list.iter().enumerate() {
        let mut layers = BTreeSet::new();
        for spec in &image.images {
            layers.extend(spec.layers.iter().map(String::as_str));
        }
        let size: u64 = layers
            .iter()
            .filter_map(|l| {
                blobs.size(&format!("share/sha256/{}", l.trim_start_matches("sha256:")))
            })
            .sum();
        let known = |list: &[String]| -> Vec<String> {
            list.iter().filter(|a| *a != "unknown").cloned().collect()
        };
        let (arch, os) = (known(&image.arch_list), known(&image.os_list));
        let mut line = if arch.is_empty() && os.is_empty() {
            format!(
                "{:4} | {}:{} | NOARCH | NOOS | {}",
                n + 1,
                image.source,
                image.tag,
                human_size(size)
            )
        } else {
            format!(
                "{:4} | {}:{} | {} | {} | {}",
                n + 1,
                image.source,
                image.tag,
                arch.join(","),
                os.join(","),
                human_size(size)
            )
        };
        let in_base = layers.iter().filter(|l| relied.contains(*l)).count();
        if in_base > 0 {
            line.push_str(&format!(" | (delta: {in_base} layers from the base)"));
        }
        if image.arch_list.iter().any(|a| a == "unknown") {
            line.push_str(" | (with attestation)");
        } else if arch.is_empty()
            && os.is_empty()
            && let Some(kind) = artifact_kind(blobs, image)
        {
            line.push_str(" | ");
            line.push_str(kind);
        }
        lines.push(line);
    }
    lines
}
