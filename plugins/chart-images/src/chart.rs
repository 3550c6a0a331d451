//! A chart's metadata and the images of every values file in it, from a packaged chart
//! (`.tgz`, subcharts included, also when they are themselves packaged under `charts/`) or a
//! chart directory.

use crate::Files;
use crate::values::{self, Found};
use std::io::Read as _;
use yaml_rust2::Yaml;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chart {
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    /// `annotations` of Chart.yaml (`catalog.cattle.io/rancher-version`...).
    pub annotations: Vec<(String, String)>,
    /// `rancher_min_version` / `rancher_max_version` of questions.yaml.
    pub rancher_min_version: Option<String>,
    pub rancher_max_version: Option<String>,
    pub images: Vec<Image>,
    /// Parts of the chart that could not be read (a values file that is not YAML...).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub reference: String,
    pub os: Option<String>,
    /// The values file it was found in, inside the chart (`mychart/charts/sub/values.yaml`).
    pub file: String,
}

/// Largest file read out of a chart archive; values files are far smaller.
const FILE_LIMIT: u64 = 32 << 20;
/// Packaged subcharts inside packaged subcharts, at most this deep.
const NESTING_LIMIT: usize = 8;

impl Chart {
    /// Reads a packaged chart.
    pub fn from_tgz(bytes: &[u8]) -> Result<Chart, String> {
        let mut chart = Chart::default();
        read_tgz(bytes, "", 0, &mut chart)?;
        if chart.name.is_empty() {
            return Err("no Chart.yaml at the top of the archive".into());
        }
        Ok(chart)
    }

    /// Reads a chart directory (`dir/Chart.yaml`, values files at any depth).
    pub fn from_dir(files: &dyn Files, dir: &str) -> Result<Chart, String> {
        let dir = dir.trim_end_matches('/');
        let mut chart = Chart::default();
        let meta = files.read(&format!("{dir}/Chart.yaml"))?;
        chart.metadata(&meta)?;
        walk_dir(files, dir, "", &mut chart, 0)?;
        Ok(chart)
    }

    fn metadata(&mut self, bytes: &[u8]) -> Result<(), String> {
        let doc = yaml(bytes).map_err(|e| format!("Chart.yaml: {e}"))?;
        self.name = text(&doc["name"]).ok_or("Chart.yaml has no name")?;
        self.version = text(&doc["version"]).unwrap_or_default();
        self.app_version = text(&doc["appVersion"]);
        if let Yaml::Hash(map) = &doc["annotations"] {
            for (k, v) in map {
                if let (Some(k), Some(v)) = (text(k), text(v)) {
                    self.annotations.push((k, v));
                }
            }
        }
        Ok(())
    }

    fn questions(&mut self, bytes: &[u8]) {
        if let Ok(doc) = yaml(bytes) {
            self.rancher_min_version = text(&doc["rancher_min_version"]);
            self.rancher_max_version = text(&doc["rancher_max_version"]);
        }
    }

    fn values(&mut self, file: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        match values::images(&text) {
            Ok(found) => self
                .images
                .extend(found.into_iter().map(|Found { reference, os }| Image {
                    reference,
                    os,
                    file: file.to_string(),
                })),
            Err(e) => self.warnings.push(format!("{file}: {e}")),
        }
    }

    /// The chart's label in lists: `name:version`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }
}

fn yaml(bytes: &[u8]) -> Result<Yaml, String> {
    crate::yaml::first(&String::from_utf8_lossy(bytes))
}

fn text(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_values(name: &str) -> bool {
    name == "values.yaml" || name == "values.yml"
}

/// One archive: the top directory's Chart.yaml and questions, every values file, and packaged
/// subcharts read recursively. `prefix` names where a nested archive sits.
fn read_tgz(bytes: &[u8], prefix: &str, depth: usize, chart: &mut Chart) -> Result<(), String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive
        .entries()
        .map_err(|e| format!("not a chart archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a chart archive: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        // Some charts were packaged on Windows with backslashes.
        let path = String::from_utf8_lossy(&entry.path_bytes()).replace('\\', "/");
        let path = path.trim_start_matches("./").to_string();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some(name) = parts.last().copied() else {
            continue;
        };
        let top = depth == 0 && parts.len() == 2;
        let wanted = is_values(name)
            || (top && matches!(name, "Chart.yaml" | "questions.yaml" | "questions.yml"))
            || (name.ends_with(".tgz") && parts.iter().rev().nth(1) == Some(&"charts"));
        if !wanted {
            continue;
        }
        if entry.size() > FILE_LIMIT {
            chart
                .warnings
                .push(format!("{prefix}{path}: larger than {FILE_LIMIT} bytes"));
            continue;
        }
        let mut content = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut content)
            .map_err(|e| format!("{prefix}{path}: {e}"))?;
        let located = format!("{prefix}{path}");
        if is_values(name) {
            chart.values(&located, &content);
        } else if name == "Chart.yaml" {
            chart.metadata(&content)?;
        } else if name.starts_with("questions.") {
            chart.questions(&content);
        } else if depth < NESTING_LIMIT {
            // A packaged subchart: its values count, its metadata does not.
            let mut sub = Chart::default();
            match read_tgz(&content, &format!("{located}:"), depth + 1, &mut sub) {
                Ok(()) => {
                    chart.images.append(&mut sub.images);
                    chart.warnings.append(&mut sub.warnings);
                }
                Err(e) => chart.warnings.push(format!("{located}: {e}")),
            }
        }
    }
    Ok(())
}

/// A chart directory: values files at any depth, questions at the top, packaged subcharts.
fn walk_dir(
    files: &dyn Files,
    dir: &str,
    relative: &str,
    chart: &mut Chart,
    depth: usize,
) -> Result<(), String> {
    if depth > 32 {
        return Err(format!("{dir}: directories nested too deep"));
    }
    for name in files.list(dir)? {
        let path = format!("{dir}/{name}");
        let located = format!("{relative}{name}");
        if let Ok(_entries) = files.list(&path) {
            walk_dir(files, &path, &format!("{located}/"), chart, depth + 1)?;
            continue;
        }
        if is_values(&name) {
            chart.values(&located, &files.read(&path)?);
        } else if depth == 0 && name.starts_with("questions.y") {
            chart.questions(&files.read(&path)?);
        } else if name.ends_with(".tgz") && relative.ends_with("charts/") {
            let mut sub = Chart::default();
            match read_tgz(&files.read(&path)?, &format!("{located}:"), 1, &mut sub) {
                Ok(()) => {
                    chart.images.append(&mut sub.images);
                    chart.warnings.append(&mut sub.warnings);
                }
                Err(e) => chart.warnings.push(format!("{located}: {e}")),
            }
        }
    }
    Ok(())
}
