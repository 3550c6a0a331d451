//! `generate-list rancher` (and Hangar's `generate-list --rancher vX.Y.Z`): runs the built-in
//! `rancher` list generator, then splits what it found into Hangar's per-distribution lists and
//! versions file by the sources the plugin names (`k3s-upgrade v1.28.9+k3s1`,
//! `rke2-release ...`, `rke-system ...`).

use super::{CommonArgs, Entry, Job, Lists, is_url, write};
use clap::{ArgAction, Args};
use semver::Version;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RancherArgs {
    /// Rancher version, e.g. v2.9.3 (`-ent`: Rancher Prime Manager GC)
    #[arg(long, value_name = "VERSION")]
    pub(super) rancher: Option<String>,
    /// A clone of rancher/charts (or a fork), a directory or repository URL (repeatable)
    #[arg(long = "chart", value_name = "PATH|URL")]
    charts: Vec<String>,
    /// A clone of rancher/system-charts (repeatable)
    #[arg(long = "system-chart", value_name = "PATH|URL")]
    system_charts: Vec<String>,
    /// KDM data.json, a file or URL
    #[arg(long, value_name = "PATH|URL")]
    kdm: Option<String>,
    /// KDM's K3s channel file (channels.yaml), read instead of data.json's K3s releases
    #[arg(long = "k3s-channels", value_name = "PATH|URL")]
    k3s_channels: Option<String>,
    /// KDM's RKE2 channel file (channels-rke2.yaml), read instead of data.json's RKE2 releases
    #[arg(long = "rke2-channels", value_name = "PATH|URL")]
    rke2_channels: Option<String>,
    /// Accepted for Hangar's scripts; give the dev branches' clones and KDM instead
    #[arg(long)]
    dev: bool,
    /// The oldest Kubernetes version to list, like v1.28 [default: per Rancher minor]
    #[arg(long = "min-kube-version", value_name = "VERSION")]
    min_kube_version: Option<String>,
    /// Keep only the newest patch of each Kubernetes minor (K3s, RKE2)
    #[arg(long = "kdm-remove-deprecated", action = ArgAction::Set, num_args = 0..=1,
          default_value = "true", default_missing_value = "true", value_name = "BOOL")]
    kdm_remove_deprecated: bool,
    /// Where K3s release image lists are: <BASE>/<version>/k3s-images.txt, e.g.
    /// https://github.com/k3s-io/k3s/releases/download or a local copy
    #[arg(long = "k3s-release", value_name = "DIR|URL")]
    k3s_release: Option<String>,
    /// Where RKE2 release image lists are: <BASE>/<version>/rke2-images-all.linux-amd64.txt
    /// and rke2-images.windows-amd64.txt, e.g. https://github.com/rancher/rke2/releases/download
    #[arg(long = "rke2-release", value_name = "DIR|URL")]
    rke2_release: Option<String>,
    /// K3s, RKE2 and RKE versions [default: <RANCHER>-versions.txt]
    #[arg(long = "output-versions", value_name = "FILE")]
    output_versions: Option<PathBuf>,
    /// RKE (RKE1) system images
    #[arg(long = "rke-images", value_name = "FILE")]
    rke_images: Option<PathBuf>,
    /// RKE2 Linux images (upgrade, installer and release images)
    #[arg(long = "rke2-images", value_name = "FILE")]
    rke2_images: Option<PathBuf>,
    /// RKE2 Windows images
    #[arg(long = "rke2-windows-images", value_name = "FILE")]
    rke2_windows_images: Option<PathBuf>,
    /// K3s images (upgrade, installer and release images)
    #[arg(long = "k3s-images", value_name = "FILE")]
    k3s_images: Option<PathBuf>,
    /// Accepted for Hangar's scripts; URLs are always fetched with TLS verified
    #[arg(long = "tls-verify", action = ArgAction::Set, num_args = 0..=1,
          default_value = "true", default_missing_value = "true", value_name = "BOOL")]
    tls_verify: bool,
    /// The list generator to use instead of the built-in rancher plugin
    #[arg(
        long = "rancher-plugin",
        value_name = "PLUGIN",
        default_value = "rancher"
    )]
    plugin: String,
    #[command(flatten)]
    common: CommonArgs,
}

/// What `generate-list rancher` writes besides the lists every generator has.
#[derive(Debug)]
pub struct Outputs {
    name: String,
    has_rke1: bool,
    versions: PathBuf,
    rke: Option<PathBuf>,
    rke2: Option<PathBuf>,
    rke2_windows: Option<PathBuf>,
    k3s: Option<PathBuf>,
}

pub fn job(args: RancherArgs) -> anyhow::Result<Job> {
    let Some(given) = args.rancher.as_deref().map(str::trim) else {
        anyhow::bail!("generate-list rancher needs the Rancher version: --rancher vX.Y.Z");
    };
    let name = if given.starts_with('v') {
        given.to_string()
    } else {
        format!("v{given}")
    };
    let plain = name.strip_suffix("-ent").unwrap_or(&name);
    let version = Version::parse(&plain[1..])
        .map_err(|e| anyhow::anyhow!("--rancher {given:?} is not vX.Y.Z[-ent]: {e}"))?;
    if args.charts.is_empty()
        && args.system_charts.is_empty()
        && args.kdm.is_none()
        && args.k3s_channels.is_none()
        && args.rke2_channels.is_none()
    {
        anyhow::bail!(
            "say where Rancher's charts and KDM are: --chart (a clone of rancher/charts), \
             --system-chart (rancher/system-charts), --kdm (a data.json file or URL), \
             --k3s-channels/--rke2-channels (KDM's channel files); hangar fetches nothing it \
             is not given"
        );
    }
    if args.dev {
        tracing::warn!(
            "--dev has no effect: pass clones of the dev-v2.X branches and the dev KDM instead"
        );
    }
    if !args.tls_verify {
        tracing::warn!("--tls-verify=false has no effect: URLs are fetched with TLS verified");
    }
    let mut options = vec![("rancher".to_string(), name.clone())];
    let mut paths = Vec::new();
    let mut input = |key: &str, value: &str| {
        options.push((key.to_string(), value.to_string()));
        if !is_url(value) {
            paths.push(PathBuf::from(value));
        }
    };
    for chart in &args.charts {
        input("chart", chart);
    }
    for chart in &args.system_charts {
        input("system-chart", chart);
    }
    for (key, value) in [
        ("kdm", &args.kdm),
        ("k3s-channels", &args.k3s_channels),
        ("rke2-channels", &args.rke2_channels),
        ("k3s-release", &args.k3s_release),
        ("rke2-release", &args.rke2_release),
    ] {
        if let Some(value) = value {
            input(key, value);
        }
    }
    if let Some(min) = &args.min_kube_version {
        options.push(("min-kube-version".into(), min.clone()));
    }
    options.push((
        "kdm-remove-deprecated".into(),
        args.kdm_remove_deprecated.to_string(),
    ));
    let output = args
        .common
        .output
        .clone()
        .unwrap_or_else(|| format!("{name}-images.txt").into());
    let outputs = Outputs {
        versions: args
            .output_versions
            .unwrap_or_else(|| format!("{name}-versions.txt").into()),
        name,
        has_rke1: version < Version::new(2, 12, 0),
        rke: args.rke_images,
        rke2: args.rke2_images,
        rke2_windows: args.rke2_windows_images,
        k3s: args.k3s_images,
    };
    Ok(Job {
        plugin: args.plugin,
        options,
        paths,
        common: args.common,
        output,
        rancher: Some(outputs),
    })
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

impl Outputs {
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.versions)
            .chain(&self.rke)
            .chain(&self.rke2)
            .chain(&self.rke2_windows)
            .chain(&self.k3s)
    }

    pub fn write(&self, entries: &[Entry], registry: Option<&str>) -> anyhow::Result<()> {
        let of = |distro: &str| {
            Lists::of(
                entries
                    .iter()
                    .filter(|(_, _, source)| {
                        distro_version(source).is_some_and(|(d, _)| d == distro)
                    })
                    .cloned(),
                registry,
            )
        };
        if let Some(path) = &self.k3s {
            write(path, of("k3s").linux.iter())?;
        }
        if self.rke2.is_some() || self.rke2_windows.is_some() {
            let rke2 = of("rke2");
            if let Some(path) = &self.rke2 {
                write(path, rke2.linux.iter())?;
            }
            if let Some(path) = &self.rke2_windows {
                write(path, rke2.windows.iter())?;
            }
        }
        if let Some(path) = &self.rke {
            write(path, of("rke").linux.iter())?;
        }
        write(&self.versions, self.versions_text(entries).lines())
    }

    /// Hangar's versions file: each distribution's versions, newest first.
    fn versions_text(&self, entries: &[Entry]) -> String {
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
        let outputs = Outputs {
            name: "v2.9.3".into(),
            has_rke1: true,
            versions: "v.txt".into(),
            rke: None,
            rke2: None,
            rke2_windows: None,
            k3s: None,
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
        let without_rke = Outputs {
            has_rke1: false,
            name: "v2.12.0".into(),
            ..outputs
        };
        assert!(
            without_rke
                .versions_text(&entries)
                .starts_with("K3s, RKE2 versions for Rancher v2.12.0:\n")
        );
        assert!(!without_rke.versions_text(&entries).contains("RKE Versions"));
    }
}
