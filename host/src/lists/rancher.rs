//! The lists of a Rancher release: the version given (`vX.Y.Z`, `-ent` for Rancher Prime
//! Manager GC) and the options it gives the `rancher` generator, then what the generator found
//! split into Hangar's per-distribution lists and versions file by the sources it names
//! (`k3s-upgrade v1.28.9+k3s1`, `rke2-release ...`, `rke-system ...`).

use super::{Entry, Lists, ListsError, is_url};
use semver::Version;
use std::path::PathBuf;

/// A Rancher release as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// `vX.Y.Z[-ent]`, with the `v` added when missing.
    pub name: String,
    /// Whether the release still ships RKE (RKE1): before v2.12.
    pub has_rke1: bool,
}

impl Release {
    pub fn parse(given: &str) -> Result<Release, ListsError> {
        let given = given.trim();
        let name = if given.starts_with('v') {
            given.to_string()
        } else {
            format!("v{given}")
        };
        let plain = name.strip_suffix("-ent").unwrap_or(&name);
        let version = Version::parse(&plain[1..]).map_err(|e| {
            ListsError::Usage(format!("--rancher {given:?} is not vX.Y.Z[-ent]: {e}"))
        })?;
        Ok(Release {
            has_rke1: version < Version::new(2, 12, 0),
            name,
        })
    }

    /// The file names Hangar gives lists of this release: `<name>-<what>.txt`.
    pub fn file(&self, what: &str) -> PathBuf {
        format!("{}-{what}.txt", self.name).into()
    }
}

/// Where the release's charts and KDM are, and how to filter Kubernetes versions.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    pub charts: &'a [String],
    pub system_charts: &'a [String],
    pub kdm: Option<&'a str>,
    pub k3s_channels: Option<&'a str>,
    pub rke2_channels: Option<&'a str>,
    pub k3s_release: Option<&'a str>,
    pub rke2_release: Option<&'a str>,
    pub min_kube_version: Option<&'a str>,
    pub kdm_remove_deprecated: bool,
}

/// A generator's options, and the local paths it may read.
pub type Call = (Vec<(String, String)>, Vec<PathBuf>);

/// The `rancher` generator's options for `release` and `inputs`, and the local paths among
/// them (the generator may read only those).
pub fn options(release: &Release, inputs: &Inputs<'_>) -> Result<Call, ListsError> {
    if inputs.charts.is_empty()
        && inputs.system_charts.is_empty()
        && inputs.kdm.is_none()
        && inputs.k3s_channels.is_none()
        && inputs.rke2_channels.is_none()
    {
        return Err(ListsError::Usage(
            "say where Rancher's charts and KDM are: --chart (a clone of rancher/charts), \
             --system-chart (rancher/system-charts), --kdm (a data.json file or URL), \
             --k3s-channels/--rke2-channels (KDM's channel files); hangar fetches nothing it \
             is not given"
                .into(),
        ));
    }
    let mut options = vec![("rancher".to_string(), release.name.clone())];
    let mut paths = Vec::new();
    let mut input = |key: &str, value: &str| {
        options.push((key.to_string(), value.to_string()));
        if !is_url(value) {
            paths.push(PathBuf::from(value));
        }
    };
    for chart in inputs.charts {
        input("chart", chart);
    }
    for chart in inputs.system_charts {
        input("system-chart", chart);
    }
    for (key, value) in [
        ("kdm", inputs.kdm),
        ("k3s-channels", inputs.k3s_channels),
        ("rke2-channels", inputs.rke2_channels),
        ("k3s-release", inputs.k3s_release),
        ("rke2-release", inputs.rke2_release),
    ] {
        if let Some(value) = value {
            input(key, value);
        }
    }
    if let Some(min) = inputs.min_kube_version {
        options.push(("min-kube-version".into(), min.to_string()));
    }
    options.push((
        "kdm-remove-deprecated".into(),
        inputs.kdm_remove_deprecated.to_string(),
    ));
    Ok((options, paths))
}

/// The distribution and version an image's source names (`k3s-upgrade v1.28.9+k3s1`).
fn distro_version(source: &str) -> Option<(&str, &str)> {
    let (kind, version) = source.split_once(' ')?;
    let distro = match kind {
        "k3s-upgrade" | "k3s-release" => "k3s",
        "rke2-upgrade" | "rke2-release" => "rke2",
        "rke-system" => "rke",
        _ => return None,
    };
    Some((distro, version))
}

/// The lists of one distribution (`k3s`, `rke2`, `rke`): the images whose source names it.
pub fn distro_lists(entries: &[Entry], distro: &str, registry: Option<&str>) -> Lists {
    Lists::of(
        entries
            .iter()
            .filter(|(_, _, source)| distro_version(source).is_some_and(|(d, _)| d == distro))
            .cloned(),
        registry,
    )
}

impl Release {
    /// Hangar's versions file: each distribution's versions, newest first.
    pub fn versions_text(&self, entries: &[Entry]) -> String {
        let mut distros = vec![("k3s", "K3s"), ("rke2", "RKE2")];
        if self.has_rke1 {
            distros.push(("rke", "RKE"));
        }
        let titles: Vec<&str> = distros.iter().map(|(_, title)| *title).collect();
        let mut text = format!(
            "{} versions for Rancher {}:\n",
            titles.join(", "),
            self.name
        );
        for (distro, title) in distros {
            let mut versions: Vec<&str> = entries
                .iter()
                .filter_map(|(_, _, source)| distro_version(source))
                .filter(|(d, _)| *d == distro)
                .map(|(_, version)| version)
                .collect();
            versions.sort_by(|a, b| newest_first(a, b));
            versions.dedup();
            text.push_str(&format!("\n{title} Versions:\n"));
            for version in versions {
                text.push_str(version);
                text.push('\n');
            }
        }
        text
    }
}

fn newest_first(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |v: &str| Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp_precedence(&x).then_with(|| b.cmp(a)),
        _ => b.cmp(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(reference: &str, os: Option<&str>, source: &str) -> Entry {
        (
            reference.to_string(),
            os.map(str::to_string),
            source.to_string(),
        )
    }

    #[test]
    fn versions_file_lists_each_distribution_newest_first() {
        let outputs = Release {
            name: "v2.9.3".into(),
            has_rke1: true,
        };
        let entries = [
            entry(
                "rancher/k3s-upgrade:v1.28.9-k3s1",
                None,
                "k3s-upgrade v1.28.9+k3s1",
            ),
            entry(
                "rancher/mirrored-pause:3.6",
                Some("linux"),
                "k3s-release v1.28.9+k3s1",
            ),
            entry(
                "rancher/k3s-upgrade:v1.30.2-k3s1",
                None,
                "k3s-upgrade v1.30.2+k3s1",
            ),
            entry(
                "rancher/k3s-upgrade:v1.29.10-k3s1",
                None,
                "k3s-upgrade v1.29.10+k3s1",
            ),
            entry(
                "rancher/rke2-upgrade:v1.30.2-rke2r1",
                None,
                "rke2-upgrade v1.30.2+rke2r1",
            ),
            entry(
                "rancher/hyperkube:v1.27.16-rancher1",
                Some("linux"),
                "rke-system v1.27.16-rancher1-1",
            ),
            entry(
                "rancher/shell:v0.2.1",
                None,
                "[charts;rancher-monitoring:104.1.0]",
            ),
        ];
        assert_eq!(
            outputs.versions_text(&entries),
            "K3s, RKE2, RKE versions for Rancher v2.9.3:\n\nK3s Versions:\nv1.30.2+k3s1\n\
             v1.29.10+k3s1\nv1.28.9+k3s1\n\nRKE2 Versions:\nv1.30.2+rke2r1\n\nRKE Versions:\n\
             v1.27.16-rancher1-1\n"
        );
        let without_rke = Release::parse("2.12.0").unwrap();
        assert_eq!(
            without_rke,
            Release {
                name: "v2.12.0".into(),
                has_rke1: false
            }
        );
        assert!(
            without_rke
                .versions_text(&entries)
                .starts_with("K3s, RKE2 versions for Rancher v2.12.0:\n")
        );
        assert!(!without_rke.versions_text(&entries).contains("RKE Versions"));
    }

    #[test]
    fn options_grant_local_paths_only_and_need_an_input() {
        let release = Release::parse(" 2.9.3-ent ").unwrap();
        assert_eq!(release.name, "v2.9.3-ent");
        assert!(release.has_rke1);
        assert_eq!(
            release.file("images"),
            PathBuf::from("v2.9.3-ent-images.txt")
        );
        let charts = ["/src/charts".to_string()];
        let inputs = Inputs {
            charts: &charts,
            kdm: Some("https://releases.rancher.com/kontainer-driver-metadata/data.json"),
            min_kube_version: Some("v1.28"),
            ..Inputs::default()
        };
        let (given, paths) = options(&release, &inputs).unwrap();
        let keys: Vec<&str> = given.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "rancher",
                "chart",
                "kdm",
                "min-kube-version",
                "kdm-remove-deprecated"
            ]
        );
        assert_eq!(paths, vec![PathBuf::from("/src/charts")]);
        assert!(options(&release, &Inputs::default()).is_err());
        assert!(Release::parse("2.9").is_err());
    }
}
