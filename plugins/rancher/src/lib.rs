//! hangar's Rancher list generator: the images of a Rancher release, as Hangar's
//! `generate-list --rancher` makes them, from inputs the user gives (nothing is fetched from
//! the internet unless the user passes its URL):
//!
//! - `rancher=vX.Y.Z[-ent]` (required); `-ent` is Rancher Prime Manager GC, which takes
//!   `rancher-webhook` from `cnrancher/` since 2.7.3;
//! - `chart=PATH|URL` and `system-chart=PATH|URL` (repeatable): clones of rancher/charts
//!   and rancher/system-charts (or forks): for each chart the newest version whose
//!   `catalog.cattle.io/rancher-version` annotation or questions.yaml admits the release;
//! - `kdm=PATH|URL`: KDM `data.json`: the K3s and RKE2 releases whose channel server
//!   versions hold the release (upgrade and system-agent-installer images), and RKE1 system
//!   images before 2.12;
//! - `k3s-channels=PATH|URL`, `rke2-channels=PATH|URL`: KDM's channel files
//!   (`channels.yaml`, `channels-rke2.yaml`, what data.json is generated from), read instead
//!   of data.json's K3s/RKE2 releases;
//! - `k3s-release=DIR|URL`, `rke2-release=DIR|URL`: where the release image lists are,
//!   `<base>/<version>/k3s-images.txt`, `rke2-images-all.linux-amd64.txt`,
//!   `rke2-images.windows-amd64.txt` (GitHub's release download layout, e.g.
//!   `https://github.com/k3s-io/k3s/releases/download`, or a local copy);
//! - `min-kube-version=v1.28` (default per Rancher minor, as Hangar), `kdm-remove-deprecated=
//!   true|false` (default true: the newest patch of each Kubernetes minor).
//!
//! Sources name where an image comes from: `[<input>;<chart>:<version>]` for charts,
//! `<distro>-<upgrade|release|system> <version>` for KDM images (`k3s-upgrade v1.28.9+k3s1`,
//! `rke-system v1.27.16-rancher1-1`); hangar's `generate-list rancher` reads the distribution
//! and version from these to write its per-distribution lists and versions file.

pub mod charts;
pub mod constraint;
pub mod kdm;
pub mod version;

use chart_images::Files;
use kdm::{Distro, Selection};
use version::Rancher;

/// One image found, with its OS (`os:` in values files, `windows` for Windows lists) and source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sink {
    pub reference: String,
    pub os: Option<String>,
    pub source: String,
}

/// Where results go: images, and warnings/errors for the user (an error fails the run once
/// the lists are written).
pub trait Out {
    fn image(&mut self, image: Sink);
    fn warn(&mut self, message: &str);
    fn error(&mut self, message: &str);
}

/// The generator's options.
#[derive(Debug, Default)]
pub struct Settings {
    pub rancher: Option<Rancher>,
    pub charts: Vec<String>,
    pub system_charts: Vec<String>,
    pub kdm: Option<String>,
    pub min_kube: Option<String>,
    pub remove_deprecated: bool,
    pub k3s_release: Option<String>,
    pub rke2_release: Option<String>,
    pub k3s_channels: Option<String>,
    pub rke2_channels: Option<String>,
}

impl Settings {
    pub fn parse(options: &[(String, String)]) -> Result<Settings, String> {
        let mut s = Settings {
            remove_deprecated: true,
            ..Settings::default()
        };
        for (key, value) in options {
            let value = value.trim().to_string();
            match key.as_str() {
                "rancher" => s.rancher = Some(Rancher::parse(&value)?),
                "chart" => s.charts.push(value),
                "system-chart" => s.system_charts.push(value),
                "kdm" => s.kdm = Some(value),
                "min-kube-version" => s.min_kube = Some(value),
                "kdm-remove-deprecated" => {
                    s.remove_deprecated = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(format!("kdm-remove-deprecated={other}: true or false"));
                        }
                    }
                }
                "k3s-release" => s.k3s_release = Some(value),
                "rke2-release" => s.rke2_release = Some(value),
                "k3s-channels" => s.k3s_channels = Some(value),
                "rke2-channels" => s.rke2_channels = Some(value),
                other => {
                    return Err(format!(
                        "unknown option {other:?} (rancher, chart, system-chart, kdm, k3s-channels, \
                         rke2-channels, k3s-release, rke2-release, min-kube-version, \
                         kdm-remove-deprecated)"
                    ));
                }
            }
        }
        if s.rancher.is_none() {
            return Err("no Rancher version (rancher=vX.Y.Z)".into());
        }
        if s.charts.is_empty()
            && s.system_charts.is_empty()
            && s.kdm.is_none()
            && s.k3s_channels.is_none()
            && s.rke2_channels.is_none()
        {
            return Err(
                "no inputs: give chart=, system-chart=, kdm= or k3s-channels=/rke2-channels= \
                 (clones of Rancher's repositories, a KDM data.json or its channel files, local \
                 or by URL)"
                    .into(),
            );
        }
        Ok(s)
    }
}

fn fetch(files: &dyn Files, location: &str) -> Result<Vec<u8>, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        files.get(location)
    } else {
        files.read(location)
    }
}

/// Every image of the release.
pub fn generate(files: &dyn Files, settings: &Settings, out: &mut dyn Out) -> Result<(), String> {
    let rancher = settings.rancher.as_ref().ok_or("no Rancher version")?;
    let min_kube_text = settings
        .min_kube
        .clone()
        .unwrap_or_else(|| rancher.default_min_kube().to_string());
    let min_kube = version::parse(&min_kube_text)
        .filter(|_| min_kube_text.starts_with('v'))
        .ok_or_else(|| format!("min-kube-version {min_kube_text:?} is not like v1.28"))?;
    let mut ent = EntRewrite { rancher, out };
    for input in &settings.charts {
        charts::images(files, input, false, &rancher.for_charts(), &mut ent);
    }
    for input in &settings.system_charts {
        charts::images(files, input, true, &rancher.for_charts(), &mut ent);
    }
    let data = settings.kdm.as_ref().and_then(|kdm| {
        match fetch(files, kdm).and_then(|bytes| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| format!("not JSON: {e}"))
        }) {
            Ok(data) => Some((kdm, data)),
            Err(e) => {
                ent.error(&format!("KDM {kdm}: {e}"));
                None
            }
        }
    });
    let select = Selection {
        rancher,
        min_kube: &min_kube,
        newest_patches: settings.remove_deprecated,
    };
    for (distro, channels, base) in [
        (Distro::K3s, &settings.k3s_channels, &settings.k3s_release),
        (
            Distro::Rke2,
            &settings.rke2_channels,
            &settings.rke2_release,
        ),
    ] {
        let versions = match (channels, &data) {
            (Some(location), _) => {
                let name = distro.name();
                match fetch(files, location)
                    .and_then(|bytes| kdm::channel_releases(&String::from_utf8_lossy(&bytes)))
                    .and_then(|releases| {
                        let data = serde_json::json!({ name: { "releases": releases } });
                        kdm::releases(&data, distro, &select)
                    }) {
                    Ok(versions) => versions,
                    Err(e) => {
                        ent.error(&format!("{name} channels {location}: {e}"));
                        continue;
                    }
                }
            }
            (None, Some((kdm, data))) => match kdm::releases(data, distro, &select) {
                Ok(versions) => versions,
                Err(e) => {
                    ent.warn(&format!("KDM {kdm}: {e}"));
                    continue;
                }
            },
            (None, None) => continue,
        };
        release_images(files, distro, base.as_deref(), &versions, &mut ent);
    }
    let Some((_, data)) = data else {
        return Ok(());
    };
    if rancher.has_rke1() {
        for rke in kdm::rke(&data, &select) {
            let source = format!("rke-system {}", rke.version);
            for (list, os) in [(rke.linux, "linux"), (rke.windows, "windows")] {
                for reference in list {
                    ent.image(Sink {
                        reference,
                        os: Some(os.into()),
                        source: source.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// A distribution's images for each version: upgrade and installer images, and the release's
/// own lists when the user said where they are.
fn release_images(
    files: &dyn Files,
    distro: Distro,
    base: Option<&str>,
    versions: &[String],
    out: &mut dyn Out,
) {
    let name = distro.name();
    for version in versions {
        let tag = version.replace('+', "-");
        out.image(Sink {
            reference: format!("rancher/{name}-upgrade:{tag}"),
            os: None,
            source: format!("{name}-upgrade {version}"),
        });
        out.image(Sink {
            reference: format!("rancher/system-agent-installer-{name}:{tag}"),
            os: None,
            source: format!("{name}-release {version}"),
        });
        let Some(base) = base else {
            continue;
        };
        let (linux, windows) = distro.release_lists();
        for (file, os) in [(Some(linux), "linux"), (windows, "windows")] {
            let Some(file) = file else {
                continue;
            };
            let location = format!("{}/{version}/{file}", base.trim_end_matches('/'));
            match fetch(files, &location) {
                Ok(bytes) => {
                    for reference in kdm::release_list(&String::from_utf8_lossy(&bytes)) {
                        out.image(Sink {
                            reference,
                            os: Some(os.into()),
                            source: format!("{name}-release {version}"),
                        });
                    }
                }
                Err(e) => out.error(&format!("{name} {version} image list {location}: {e}")),
            }
        }
    }
    if base.is_none() && !versions.is_empty() {
        let example = match distro {
            Distro::K3s => "https://github.com/k3s-io/k3s/releases/download",
            Distro::Rke2 => "https://github.com/rancher/rke2/releases/download",
        };
        out.warn(&format!(
            "the images inside {} {name} releases are not listed: say where their image lists \
             are with {name}-release=DIR|URL (e.g. {example})",
            versions.len()
        ));
    }
}

/// `-ent` (China GC) builds after 2.7.2 take rancher-webhook from `cnrancher/`.
struct EntRewrite<'a> {
    rancher: &'a Rancher,
    out: &'a mut dyn Out,
}

impl Out for EntRewrite<'_> {
    fn image(&mut self, mut image: Sink) {
        if self.rancher.ent && self.rancher.version > semver::Version::new(2, 7, 2) {
            let plain = image
                .reference
                .strip_prefix("docker.io/")
                .unwrap_or(&image.reference);
            if let Some(rest) = plain.strip_prefix("rancher/rancher-webhook")
                && (rest.is_empty() || rest.starts_with([':', '@']))
            {
                image.reference = format!("cnrancher/rancher-webhook{rest}");
            }
        }
        self.out.image(image);
    }
    fn warn(&mut self, message: &str) {
        self.out.warn(message);
    }
    fn error(&mut self, message: &str) {
        self.out.error(message);
    }
}

mod plugin {
    use super::*;
    use chart_images::Host;
    use hangar_plugin_sdk::list_generator::{Guest, ImageEntry};
    use hangar_plugin_sdk::log;

    struct RancherGenerator;

    struct Entries(Vec<ImageEntry>);

    impl Out for Entries {
        fn image(&mut self, image: Sink) {
            self.0.push(ImageEntry {
                reference: image.reference,
                os: image.os,
                source: image.source,
            });
        }
        fn warn(&mut self, message: &str) {
            log::warn(message);
        }
        fn error(&mut self, message: &str) {
            log::error(message);
        }
    }

    impl Guest for RancherGenerator {
        // `describe`: this crate's name and version, and only the hosts of the URLs the user
        // passes.
        const HOSTS: &'static [&'static str] = &["$options"];

        fn generate(options: Vec<(String, String)>) -> Result<Vec<ImageEntry>, String> {
            let settings = Settings::parse(&options)?;
            let mut entries = Entries(Vec::new());
            super::generate(&Host, &settings, &mut entries)?;
            Ok(entries.0)
        }
    }

    hangar_plugin_sdk::export_list_generator!(RancherGenerator);
}

#[cfg(test)]
mod tests;
