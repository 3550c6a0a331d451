//! The entries an image occupies in an archive (what `archive verify` checks for each).

use super::index::ImageSpec;

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
