//! Kontainer Driver Metadata (KDM `data.json`): which K3s, RKE2 and RKE Kubernetes versions a
//! Rancher release offers, and the images they need.

use crate::version::{self, Rancher};
use semver::Version;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Distro {
    K3s,
    Rke2,
}

impl Distro {
    pub fn name(self) -> &'static str {
        match self {
            Distro::K3s => "k3s",
            Distro::Rke2 => "rke2",
        }
    }

    /// The files of a release's image lists, relative to `<base>/<version>/` (the layout of
    /// GitHub release downloads): Linux, then Windows.
    pub fn release_lists(self) -> (&'static str, Option<&'static str>) {
        match self {
            Distro::K3s => ("k3s-images.txt", None),
            // The "all" list is only published for amd64.
            Distro::Rke2 => (
                "rke2-images-all.linux-amd64.txt",
                Some("rke2-images.windows-amd64.txt"),
            ),
        }
    }
}

/// Which releases to keep.
pub struct Selection<'a> {
    pub rancher: &'a Rancher,
    /// Kubernetes versions older than this are left out.
    pub min_kube: &'a Version,
    /// Only the newest patch of each Kubernetes minor.
    pub newest_patches: bool,
}

/// The K3s or RKE2 versions whose `minChannelServerVersion..=maxChannelServerVersion` holds
/// the Rancher version, newest first.
pub fn releases(
    data: &Value,
    distro: Distro,
    select: &Selection<'_>,
) -> Result<Vec<String>, String> {
    let Some(list) = data[distro.name()]["releases"].as_array() else {
        return Err(format!("no {}.releases in the KDM data", distro.name()));
    };
    let rancher = &select.rancher.version;
    let mut kept: Vec<(Version, String)> = Vec::new();
    for release in list {
        let Some(text) = release["version"].as_str() else {
            continue;
        };
        let Some(kube) = version::parse(text) else {
            continue;
        };
        if kube.cmp_precedence(select.min_kube).is_lt() {
            continue;
        }
        let bound = |key: &str| release[key].as_str().and_then(version::parse);
        let (Some(min), Some(max)) = (
            bound("minChannelServerVersion"),
            bound("maxChannelServerVersion"),
        ) else {
            continue;
        };
        if rancher.cmp_precedence(&min).is_lt() || rancher.cmp_precedence(&max).is_gt() {
            continue;
        }
        kept.push((kube, text.to_string()));
    }
    // Build metadata breaks ties (`+k3s2` after `+k3s1`).
    kept.sort_by(|a, b| b.0.cmp(&a.0));
    if select.newest_patches {
        let mut minors = std::collections::HashSet::new();
        kept.retain(|(v, _)| minors.insert((v.major, v.minor)));
    }
    Ok(kept.into_iter().map(|(_, text)| text).collect())
}

/// The `releases` of a KDM channel file (`channels.yaml`, `channels-rke2.yaml`: what KDM's
/// data.json is generated from), shaped as data.json has them under `<distro>.releases`.
pub fn channel_releases(text: &str) -> Result<Value, String> {
    use chart_images::yaml::Yaml;
    let doc = chart_images::yaml::first(text)?;
    let Yaml::Array(list) = &doc["releases"] else {
        return Err("no releases list".into());
    };
    let scalar = |node: &Yaml| match node {
        Yaml::String(text) | Yaml::Real(text) => Some(text.clone()),
        Yaml::Integer(n) => Some(n.to_string()),
        _ => None,
    };
    let releases = list
        .iter()
        .map(|release| {
            let mut entry = serde_json::Map::new();
            for key in [
                "version",
                "minChannelServerVersion",
                "maxChannelServerVersion",
            ] {
                if let Some(text) = scalar(&release[key]) {
                    entry.insert(key.into(), Value::String(text));
                }
            }
            Value::Object(entry)
        })
        .collect();
    Ok(Value::Array(releases))
}

/// The RKE system images of one Kubernetes version.
#[derive(Debug, PartialEq, Eq)]
pub struct RkeVersion {
    pub version: String,
    pub linux: Vec<String>,
    pub windows: Vec<String>,
}

/// The images Windows nodes run, out of a version's system images.
const WINDOWS_IMAGES: [&str; 5] = [
    "nginxProxy",
    "certDownloader",
    "kubernetesServicesSidecar",
    "kubernetes",
    "windowsPodInfraContainer",
];

/// RKE1: for each Kubernetes minor, the newest version the Rancher version may still offer
/// (`K8sVersionInfo`: not deprecated, not below its minimum; minors past their maximum are
/// left out), with the images of its service options for Linux and Windows. Only images of
/// the `rancher`, `cnrancher` and `library` projects are kept, as Rancher's exporter does.
pub fn rke(data: &Value, select: &Selection<'_>) -> Vec<RkeVersion> {
    let Some(images) = data["K8sVersionRKESystemImages"].as_object() else {
        return Vec::new();
    };
    let info = &data["K8sVersionInfo"];
    let rancher = &select.rancher.version;
    let beyond = |bound: &Value| {
        bound
            .as_str()
            .filter(|b| !b.is_empty())
            .and_then(version::parse)
    };
    let mut newest: BTreeMap<String, (Version, String)> = BTreeMap::new();
    for name in images.keys() {
        let Some(kube) = version::parse(name) else {
            continue;
        };
        if kube.cmp_precedence(select.min_kube).is_lt() {
            continue;
        }
        let own = &info[name.as_str()];
        if beyond(&own["deprecateRancherVersion"])
            .is_some_and(|d| rancher.cmp_precedence(&d).is_ge())
            || beyond(&own["minRancherVersion"]).is_some_and(|m| rancher.cmp_precedence(&m).is_lt())
        {
            continue;
        }
        let minor = format!("v{}.{}", kube.major, kube.minor);
        if beyond(&info[minor.as_str()]["maxRancherVersion"])
            .is_some_and(|m| rancher.cmp_precedence(&m).is_gt())
        {
            continue;
        }
        let entry = newest
            .entry(minor)
            .or_insert_with(|| (kube.clone(), name.clone()));
        if kube > entry.0 {
            *entry = (kube, name.clone());
        }
    }
    let mut out = Vec::new();
    for (minor, (_, name)) in newest.into_iter().rev() {
        let system = &images[&name];
        let mut linux = Vec::new();
        let mut windows = Vec::new();
        if data["K8sVersionServiceOptions"].get(&minor).is_some() {
            strings(system, &mut linux, &|key| key != "windowsPodInfraContainer");
        }
        if data["K8sVersionWindowsServiceOptions"]
            .get(&minor)
            .is_some()
        {
            strings(system, &mut windows, &|key| WINDOWS_IMAGES.contains(&key));
        }
        let keep = |list: &mut Vec<String>| {
            list.retain(|image| matches!(project(image), "rancher" | "cnrancher" | "library"));
            list.sort();
            list.dedup();
        };
        keep(&mut linux);
        keep(&mut windows);
        if linux.is_empty() && windows.is_empty() {
            continue;
        }
        out.push(RkeVersion {
            version: name,
            linux,
            windows,
        });
    }
    out
}

/// Every non-empty string under `node` whose top-level key `wanted` admits (nested objects
/// hold images too, e.g. the ACI CNI's).
fn strings(node: &Value, out: &mut Vec<String>, wanted: &dyn Fn(&str) -> bool) {
    let Some(map) = node.as_object() else {
        return;
    };
    for (key, value) in map {
        if !wanted(key) {
            continue;
        }
        match value {
            Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
            Value::Object(_) => strings(value, out, &|_| true),
            _ => {}
        }
    }
}

/// The project of an image in Hangar's list format (`library` for `nginx`, the first path
/// part after a registry otherwise).
fn project(image: &str) -> &str {
    let parts: Vec<&str> = image.split('/').collect();
    let host = |p: &str| p.contains('.') || p.contains(':') || p == "localhost";
    match parts.as_slice() {
        [_] => "library",
        [first, _] if host(first) => "library",
        [first, _] => first,
        [first, second, ..] if host(first) => second,
        [first, ..] => first,
        [] => "",
    }
}

/// The images of a release image list: one per line, `docker.io/` dropped as Hangar does.
pub fn release_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.strip_prefix("docker.io/").unwrap_or(l).to_string())
        .collect()
}
