//! Image references in Helm charts, for hangar's list generators (`plugins/helm`,
//! `plugins/rancher`). Inputs are packaged charts (`.tgz`), chart directories, chart
//! repositories (`index.yaml` and the chart files it lists, in a directory or over HTTP) and
//! directories holding any of these. Everything is read through [`Files`], so the same code
//! runs inside a plugin (the host's `files` and `http`) and in unit tests (the disk).

pub mod chart;
pub mod repo;
pub mod values;
pub mod yaml;

pub use chart::{Chart, Image};

/// How charts are read: the files and directories the user granted, and HTTP for
/// repositories given as URLs.
pub trait Files {
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
    /// Names in a directory; an error when `path` is not a directory.
    fn list(&self, dir: &str) -> Result<Vec<String>, String>;
    /// The body of a GET, for repositories and charts given as URLs.
    fn get(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// Charts through the plugin host: the paths the user granted, HTTP to the hosts the user
/// allowed.
#[cfg(feature = "host")]
pub struct Host;

#[cfg(feature = "host")]
impl Files for Host {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        hangar_plugin_sdk::files::read(path)
    }
    fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        hangar_plugin_sdk::files::list(dir)
    }
    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = hangar_plugin_sdk::http::get(url, false)?;
        if response.status != 200 {
            return Err(format!("GET {url}: HTTP {}", response.status));
        }
        Ok(response.body)
    }
}

/// One chart read from an input, or why it could not be read.
pub struct Read {
    /// The chart file or directory (or URL) it came from.
    pub origin: String,
    pub chart: Result<Chart, String>,
}

/// Which chart versions to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    All,
    /// The newest version of each chart (semantic versions; pre-releases count).
    Newest,
}

/// Every chart reachable from `input`: a `.tgz`, a chart directory, a repository (a
/// directory or URL with `index.yaml`) or a directory of any of these.
pub fn charts(files: &dyn Files, input: &str, versions: Versions) -> Result<Vec<Read>, String> {
    let input = input.trim_end_matches('/');
    let mut out = Vec::new();
    if input.starts_with("http://") || input.starts_with("https://") {
        let index = if input.ends_with(".yaml") {
            input.to_string()
        } else {
            format!("{input}/index.yaml")
        };
        let text = files.get(&index)?;
        for (origin, url) in repo::chart_urls(&index, &text, versions)? {
            let chart = files.get(&url).and_then(|b| Chart::from_tgz(&b));
            out.push(Read { origin, chart });
        }
        return Ok(out);
    }
    let Ok(names) = files.list(input) else {
        let chart = files.read(input).and_then(|b| Chart::from_tgz(&b));
        out.push(Read {
            origin: input.to_string(),
            chart,
        });
        return Ok(out);
    };
    if names.iter().any(|n| n == "index.yaml") {
        let index = format!("{input}/index.yaml");
        let text = files.read(&index)?;
        for (origin, location) in repo::chart_urls(&index, &text, versions)? {
            let chart = if location.starts_with("http://") || location.starts_with("https://") {
                files.get(&location)
            } else {
                files.read(&location)
            }
            .and_then(|b| Chart::from_tgz(&b));
            out.push(Read { origin, chart });
        }
        return Ok(out);
    }
    if names.iter().any(|n| n == "Chart.yaml") {
        out.push(Read {
            origin: input.to_string(),
            chart: Chart::from_dir(files, input),
        });
        return Ok(out);
    }
    walk(files, input, names, &mut out, 0);
    if versions == Versions::Newest {
        newest_only(&mut out);
    }
    Ok(out)
}

/// A directory that is neither a chart nor a repository: the charts and repositories in it.
fn walk(files: &dyn Files, dir: &str, names: Vec<String>, out: &mut Vec<Read>, depth: usize) {
    let mut names = names;
    names.sort();
    for name in names {
        let path = format!("{dir}/{name}");
        match files.list(&path) {
            Ok(inner) if inner.iter().any(|n| n == "Chart.yaml") => out.push(Read {
                chart: Chart::from_dir(files, &path),
                origin: path,
            }),
            Ok(inner) if depth < 8 => walk(files, &path, inner, out, depth + 1),
            Ok(_) => {}
            Err(_) if name.ends_with(".tgz") => out.push(Read {
                chart: files.read(&path).and_then(|b| Chart::from_tgz(&b)),
                origin: path,
            }),
            Err(_) => {}
        }
    }
}

/// Keeps the newest version of each chart that was read.
fn newest_only(reads: &mut Vec<Read>) {
    let mut newest: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for read in reads.iter() {
        if let Ok(chart) = &read.chart {
            let best = newest.entry(chart.name.clone()).or_default();
            if best.is_empty() || repo::version_cmp(&chart.version, best).is_gt() {
                *best = chart.version.clone();
            }
        }
    }
    reads.retain(|r| match &r.chart {
        Ok(chart) => newest.get(&chart.name) == Some(&chart.version),
        Err(_) => true,
    });
}

#[cfg(test)]
mod tests;
