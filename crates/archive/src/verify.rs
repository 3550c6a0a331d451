//! `archive verify`: every blob re-hashed against its name, every reference of the index
//! followed (layouts, manifests, configs, layers, sizes). Each problem names its entry.

use super::blobs::ArchiveBlobs;
use super::entries::spec_entries;
use super::index::ArchiveIndex;
use futures_util::StreamExt as _;
use hangar_image::manifest::ImageManifest;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct Report {
    pub blobs_checked: usize,
    pub bytes_hashed: u64,
    pub problems: Vec<String>,
}

/// Re-hashes every `share/sha256/<hex>` entry (`names` is the archive's entry list) and checks
/// what the index refers to.
pub async fn verify(blobs: &ArchiveBlobs, names: &[String], index: &ArchiveIndex) -> Report {
    let mut report = Report::default();
    let present: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    // A delta's blobs from its bases: not in the archive, by design.
    let relied: std::collections::HashMap<String, u64> = index
        .delta
        .iter()
        .flat_map(|d| &d.relies)
        .map(|r| {
            (
                format!("share/sha256/{}", r.digest.trim_start_matches("sha256:")),
                r.size,
            )
        })
        .collect();
    for name in names {
        let Some(hex) = name.strip_prefix("share/sha256/") else {
            continue;
        };
        let mut hasher = Sha256::new();
        let mut stream = match blobs.stream(name) {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(format!("entry {name}: {e}"));
                continue;
            }
        };
        let mut failed = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    report.bytes_hashed += bytes.len() as u64;
                    hasher.update(&bytes);
                }
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        report.blobs_checked += 1;
        let actual = hex::encode(hasher.finalize());
        // In a split archive, the parts to look at.
        let place = match blobs.parts_of(name).as_slice() {
            [] => String::new(),
            [one] => format!(" (in {})", one.display()),
            [first, .., last] => format!(" (in {} to {})", first.display(), last.display()),
        };
        match failed {
            Some(e) => report
                .problems
                .push(format!("entry {name}{place}: unreadable: {e}")),
            None if actual != hex => report.problems.push(format!(
                "entry {name}{place}: content hashes to sha256:{actual}, not the digest it is named by"
            )),
            None => {}
        }
    }
    for image in &index.list {
        let what = format!("{}:{}", image.source, image.tag);
        for spec in &image.images {
            for name in spec_entries(spec) {
                if !present.contains(name.as_str()) && !relied.contains_key(&name) {
                    report
                        .problems
                        .push(format!("image {what}: entry {name} is missing"));
                }
            }
            let manifest_name =
                format!("share/sha256/{}", spec.digest.trim_start_matches("sha256:"));
            let Ok(bytes) = blobs.read_small(&manifest_name, 16 << 20) else {
                continue;
            };
            let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&bytes) else {
                report.problems.push(format!(
                    "image {what}: entry {manifest_name} is not an image manifest"
                ));
                continue;
            };
            for blob in manifest.blobs() {
                let name = format!("share/sha256/{}", blob.digest.hex());
                match blobs.size(&name).or_else(|| relied.get(&name).copied()) {
                    None => report.problems.push(format!(
                        "image {what}: manifest {} refers to {name}, which is missing",
                        spec.digest
                    )),
                    Some(size) if size != blob.size => report.problems.push(format!(
                        "image {what}: entry {name} has {size} bytes, the manifest says {}",
                        blob.size
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    report
}
