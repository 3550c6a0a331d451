//! `generate-list rancher` (and Hangar's `generate-list --rancher vX.Y.Z`): runs the built-in
//! `rancher` list generator, then writes Hangar's per-distribution lists and versions file
//! (`lists::rancher` splits what the generator found).

use super::{CommonArgs, Job, write};
use crate::lists::Entry;
use crate::lists::rancher::{self, Inputs, Release, distro_lists};
use clap::{ArgAction, Args};
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
    release: Release,
    versions: PathBuf,
    rke: Option<PathBuf>,
    rke2: Option<PathBuf>,
    rke2_windows: Option<PathBuf>,
    k3s: Option<PathBuf>,
}

pub fn job(args: RancherArgs) -> anyhow::Result<Job> {
    let Some(given) = args.rancher.as_deref() else {
        anyhow::bail!("generate-list rancher needs the Rancher version: --rancher vX.Y.Z");
    };
    let release = Release::parse(given)?;
    let inputs = Inputs {
        charts: &args.charts,
        system_charts: &args.system_charts,
        kdm: args.kdm.as_deref(),
        k3s_channels: args.k3s_channels.as_deref(),
        rke2_channels: args.rke2_channels.as_deref(),
        k3s_release: args.k3s_release.as_deref(),
        rke2_release: args.rke2_release.as_deref(),
        min_kube_version: args.min_kube_version.as_deref(),
        kdm_remove_deprecated: args.kdm_remove_deprecated,
    };
    let (options, paths) = rancher::options(&release, &inputs)?;
    if args.dev {
        tracing::warn!(
            "--dev has no effect: pass clones of the dev-v2.X branches and the dev KDM instead"
        );
    }
    if !args.tls_verify {
        tracing::warn!("--tls-verify=false has no effect: URLs are fetched with TLS verified");
    }
    let output = args
        .common
        .output
        .clone()
        .unwrap_or_else(|| release.file("images"));
    let outputs = Outputs {
        versions: args
            .output_versions
            .unwrap_or_else(|| release.file("versions")),
        release,
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

impl Outputs {
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.versions)
            .chain(&self.rke)
            .chain(&self.rke2)
            .chain(&self.rke2_windows)
            .chain(&self.k3s)
    }

    pub fn write(&self, entries: &[Entry], registry: Option<&str>) -> anyhow::Result<()> {
        if let Some(path) = &self.k3s {
            write(path, distro_lists(entries, "k3s", registry).linux.iter())?;
        }
        if self.rke2.is_some() || self.rke2_windows.is_some() {
            let rke2 = distro_lists(entries, "rke2", registry);
            if let Some(path) = &self.rke2 {
                write(path, rke2.linux.iter())?;
            }
            if let Some(path) = &self.rke2_windows {
                write(path, rke2.windows.iter())?;
            }
        }
        if let Some(path) = &self.rke {
            write(path, distro_lists(entries, "rke", registry).linux.iter())?;
        }
        write(&self.versions, self.release.versions_text(entries).lines())
    }
}
