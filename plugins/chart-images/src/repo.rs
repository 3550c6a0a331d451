//! Chart repositories: `index.yaml` lists every chart version with the URLs of its archive,
//! relative to the index or absolute.

use crate::Versions;
use std::cmp::Ordering;
use yaml_rust2::Yaml;

/// One chart version an index lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub version: String,
    /// The archive's path or URL (relative URLs resolved against the index).
    pub location: String,
    /// The version's `annotations` as the index records them (`catalog.cattle.io/...`).
    pub annotations: Vec<(String, String)>,
}

impl Entry {
    pub fn label(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }
}

/// Every chart version the index lists, newest first within each chart.
pub fn entries(index: &str, bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let text = String::from_utf8_lossy(bytes);
    let doc = crate::yaml::first(&text).map_err(|e| format!("{index}: {e}"))?;
    let Yaml::Hash(charts) = &doc["entries"] else {
        return Err(format!("{index}: no entries"));
    };
    let base = index.rsplit_once('/').map(|(b, _)| b).unwrap_or(".");
    let mut out = Vec::new();
    for (name, list) in charts {
        let (Some(name), Yaml::Array(list)) = (name.as_str(), list) else {
            continue;
        };
        let mut versions: Vec<Entry> = list
            .iter()
            .filter_map(|entry| {
                let url = entry["urls"][0].as_str()?;
                let location = if url.contains("://") || url.starts_with('/') {
                    url.to_string()
                } else {
                    format!("{base}/{}", url.trim_start_matches("./"))
                };
                let annotations = match &entry["annotations"] {
                    Yaml::Hash(map) => map
                        .iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), text_of(v))))
                        .collect(),
                    _ => Vec::new(),
                };
                Some(Entry {
                    name: name.to_string(),
                    version: text_of(&entry["version"]),
                    location,
                    annotations,
                })
            })
            .collect();
        versions.sort_by(|a, b| version_cmp(&b.version, &a.version));
        out.extend(versions);
    }
    Ok(out)
}

/// (label, location) of each chart archive the index lists: `name:version` and the archive's
/// path or URL. With [`Versions::Newest`], the newest version of each chart only.
pub fn chart_urls(
    index: &str,
    bytes: &[u8],
    versions: Versions,
) -> Result<Vec<(String, String)>, String> {
    let mut seen = std::collections::HashSet::new();
    Ok(entries(index, bytes)?
        .into_iter()
        // Newest first, so the first of each name is the newest.
        .filter(|e| versions == Versions::All || seen.insert(e.name.clone()))
        .map(|e| (e.label(), e.location))
        .collect())
}

fn text_of(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        _ => String::new(),
    }
}

/// Chart versions by semantic version (build metadata ignored, as Helm does); text order for
/// versions that are not semantic.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let parse = |v: &str| semver::Version::parse(v.trim_start_matches('v')).ok();
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp_precedence(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}
