use super::*;
use chart_images::Files;
use serde_json::json;
use std::collections::BTreeMap;

/// Files in memory: paths to bytes; directories are the prefixes of paths.
#[derive(Default)]
struct Memory(BTreeMap<String, Vec<u8>>);

impl Memory {
    fn put(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.0.insert(path.to_string(), bytes.into());
    }
}

impl Files for Memory {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or(format!("{path}: not found"))
    }
    fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        let prefix = format!("{dir}/");
        let mut names: Vec<String> = self
            .0
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or_default().to_string())
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err(format!("{dir}: not a directory"));
        }
        Ok(names)
    }
    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        self.read(url)
    }
}

#[derive(Default)]
struct Collected {
    images: Vec<Sink>,
    warnings: Vec<String>,
    errors: Vec<String>,
}

impl Out for Collected {
    fn image(&mut self, image: Sink) {
        self.images.push(image);
    }
    fn warn(&mut self, message: &str) {
        self.warnings.push(message.into());
    }
    fn error(&mut self, message: &str) {
        self.errors.push(message.into());
    }
}

impl Collected {
    fn references(&self, source_prefix: &str) -> Vec<String> {
        let mut refs: Vec<String> = self
            .images
            .iter()
            .filter(|i| i.source.starts_with(source_prefix))
            .map(|i| i.reference.clone())
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }
}

fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn settings(options: &[(&str, &str)]) -> Settings {
    let options: Vec<(String, String)> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::parse(&options).unwrap()
}

#[test]
fn constraints_as_charts_write_them() {
    let v = |s: &str| semver::Version::parse(s).unwrap();
    let yes = |c: &str, r: &str| constraint::satisfies(c, &v(r)).unwrap();
    assert!(yes(">= 2.9.0-0 < 2.10.0-0", "2.9.3"));
    assert!(!yes(">= 2.9.0-0 < 2.10.0-0", "2.10.0"));
    assert!(yes(">=2.8.0-0, <2.9.0-0", "2.8.98"));
    assert!(yes("2.7.x", "2.7.5"));
    assert!(!yes("2.7.x", "2.8.0"));
    assert!(yes("~2.8", "2.8.4"));
    assert!(!yes("~2.8", "2.9.0"));
    assert!(yes("2.6.3 - 2.6.5", "2.6.5"));
    assert!(!yes("2.6.3 - 2.6.5", "2.6.6"));
    assert!(yes("< 2.6.0 || >= 2.9.0", "2.9.1"));
    assert!(yes("<= 2.9.x", "2.9.7"));
    assert!(!yes("> 2.9.x", "2.9.7"));
    assert!(yes("!= 2.9.1", "2.9.2"));
    assert!(yes("^2.8.1", "2.9.0"));
    assert!(constraint::satisfies(">= banana", &v("2.9.0")).is_err());
    // Numbers at the edge of u64 do not overflow.
    for edge in [
        "~18446744073709551615",
        "^0.18446744073709551615",
        "18446744073709551615.x",
    ] {
        let _ = constraint::satisfies(edge, &v("2.9.0"));
    }
    assert!(constraint::satisfies("", &v("2.9.0")).is_err());
    let questions = constraint::from_min_max(Some("2.6.0-rc1"), Some("2.6.99")).unwrap();
    assert!(yes(&questions, "2.6.98"));
    assert!(!yes(&questions, "2.7.0"));
}

#[test]
fn rancher_versions() {
    let r = Rancher::parse("2.9.99-rc2-ent").unwrap();
    assert_eq!(r.name, "v2.9.99-rc2-ent");
    assert!(r.ent);
    assert_eq!(r.for_charts().to_string(), "2.9.98");
    assert_eq!(r.default_min_kube(), "v1.27.0");
    assert!(Rancher::parse("v2.9").is_err());
    assert!(!Rancher::parse("v2.12.0").unwrap().has_rke1());
    assert_eq!(
        version::compare("v1.28", "v1.28.0"),
        Some(std::cmp::Ordering::Equal)
    );
}

/// A chart repository with an index: `monitoring` has a version per Rancher line (annotations
/// in the index), `legacy` says it in questions.yaml only, `plain` has no constraint.
fn repository(files: &mut Memory) {
    let chart = |name: &str, version: &str, image: &str, extra: &[(&str, &str)]| {
        let chart_yaml = format!("name: {name}\nversion: {version}\n");
        let values = format!("image:\n  repository: {image}\n  tag: v{version}\n");
        let mut entries = vec![
            (format!("{name}/Chart.yaml"), chart_yaml),
            (format!("{name}/values.yaml"), values),
        ];
        for (path, content) in extra {
            entries.push((format!("{name}/{path}"), content.to_string()));
        }
        let borrowed: Vec<(&str, &str)> = entries
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        tgz(&borrowed)
    };
    files.put(
        "charts/assets/m-104.0.0.tgz",
        chart("monitoring", "104.0.0", "rancher/mon", &[]),
    );
    files.put(
        "charts/assets/m-103.1.0.tgz",
        chart("monitoring", "103.1.0", "rancher/mon", &[]),
    );
    files.put(
        "charts/assets/legacy-2.0.0.tgz",
        chart(
            "legacy",
            "2.0.0",
            "rancher/legacy",
            &[("questions.yaml", "rancher_min_version: 2.10.0\n")],
        ),
    );
    files.put(
        "charts/assets/legacy-1.0.0.tgz",
        chart(
            "legacy",
            "1.0.0",
            "rancher/legacy",
            &[(
                "questions.yaml",
                "rancher_min_version: 2.8.0-rc1\nrancher_max_version: 2.9.99\n",
            )],
        ),
    );
    files.put(
        "charts/assets/plain-0.3.0.tgz",
        chart(
            "plain",
            "0.3.0",
            "rancher/rancher-webhook",
            &[("values.yaml", "image:\n  repository: rancher/rancher-webhook\n  tag: v0.3.0\nwin:\n  repository: rancher/win-agent\n  tag: v1\n  os: windows\n")],
        ),
    );
    files.put(
        "charts/index.yaml",
        "apiVersion: v1\nentries:\n  monitoring:\n  - name: monitoring\n    version: 103.1.0\n    urls: [assets/m-103.1.0.tgz]\n    annotations:\n      catalog.cattle.io/rancher-version: '>= 2.8.0-0 < 2.9.0-0'\n  - name: monitoring\n    version: 104.0.0\n    urls: [assets/m-104.0.0.tgz]\n    annotations:\n      catalog.cattle.io/rancher-version: '>= 2.9.0-0 < 2.10.0-0'\n  legacy:\n  - name: legacy\n    version: 2.0.0\n    urls: [assets/legacy-2.0.0.tgz]\n  - name: legacy\n    version: 1.0.0\n    urls: [assets/legacy-1.0.0.tgz]\n  plain:\n  - name: plain\n    version: 0.3.0\n    urls: [assets/plain-0.3.0.tgz]\n",
    );
}

#[test]
fn charts_fitting_the_release_newest_first() {
    let mut files = Memory::default();
    repository(&mut files);
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[("rancher", "v2.9.3"), ("chart", "charts")]),
        &mut out,
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.references("[charts;"),
        [
            "rancher/legacy:v1.0.0",
            "rancher/mon:v104.0.0",
            "rancher/rancher-webhook:v0.3.0",
            "rancher/win-agent:v1"
        ]
    );
    let win = out
        .images
        .iter()
        .find(|i| i.reference == "rancher/win-agent:v1")
        .unwrap();
    assert_eq!(win.os.as_deref(), Some("windows"));
    assert_eq!(win.source, "[charts;plain:0.3.0]");

    // 2.8: the older monitoring line; ent: rancher-webhook from cnrancher.
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[("rancher", "v2.8.5-ent"), ("chart", "charts")]),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out.references("[charts;"),
        [
            "cnrancher/rancher-webhook:v0.3.0",
            "rancher/legacy:v1.0.0",
            "rancher/mon:v103.1.0",
            "rancher/win-agent:v1"
        ]
    );
    // 2.10: legacy 2.0.0's questions admit it; monitoring has no line for it.
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[("rancher", "2.10.1"), ("chart", "charts")]),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out.references("[charts;"),
        [
            "rancher/legacy:v2.0.0",
            "rancher/rancher-webhook:v0.3.0",
            "rancher/win-agent:v1"
        ]
    );
}

#[test]
fn system_charts_in_directories_keep_every_fitting_monitoring_version() {
    let mut files = Memory::default();
    for (name, version, constraint) in [
        (
            "rancher-monitoring",
            "0.3.1",
            "rancher_min_version: 2.9.0\n",
        ),
        (
            "rancher-monitoring",
            "0.3.0",
            "rancher_min_version: 2.8.0\n",
        ),
        (
            "rancher-monitoring",
            "0.2.0",
            "rancher_max_version: 2.7.99\n",
        ),
        ("logging", "0.2.0", "rancher_min_version: 2.8.0\n"),
        ("logging", "0.1.0", "rancher_min_version: 2.6.0\n"),
    ] {
        let dir = format!("system/charts/{name}/{version}");
        files.put(
            &format!("{dir}/Chart.yaml"),
            format!("name: {name}\nversion: {version}\n"),
        );
        files.put(&format!("{dir}/questions.yml"), constraint);
        files.put(
            &format!("{dir}/values.yaml"),
            format!("image:\n  repository: rancher/{name}\n  tag: {version}\n"),
        );
    }
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[("rancher", "v2.9.0"), ("system-chart", "system")]),
        &mut out,
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.references("[system;"),
        [
            "rancher/logging:0.2.0",
            "rancher/rancher-monitoring:0.3.0",
            "rancher/rancher-monitoring:0.3.1"
        ]
    );
}

/// KDM data of the real shape: K3s/RKE2 channels and RKE1 system images.
fn kdm() -> serde_json::Value {
    json!({
        "k3s": {"releases": [
            {"version": "v1.26.15+k3s1", "minChannelServerVersion": "v2.7.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.27.16+k3s1", "minChannelServerVersion": "v2.7.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.28.9+k3s1", "minChannelServerVersion": "v2.8.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.28.10+k3s1", "minChannelServerVersion": "v2.8.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.28.10+k3s2", "minChannelServerVersion": "v2.8.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.30.2+k3s1", "minChannelServerVersion": "v2.10.0-alpha1", "maxChannelServerVersion": "v2.10.99"},
            {"version": "broken"}
        ]},
        "rke2": {"releases": [
            {"version": "v1.28.10+rke2r1", "minChannelServerVersion": "v2.8.0-alpha1", "maxChannelServerVersion": "v2.9.99"}
        ]},
        "K8sVersionRKESystemImages": {
            "v1.27.15-rancher1-1": {"etcd": "rancher/mirrored-coreos-etcd:v3.5.9", "kubernetes": "rancher/hyperkube:v1.27.15-rancher1",
                                    "windowsPodInfraContainer": "rancher/mirrored-pause:3.7", "aciCniDeployContainer": "noiro/cnideploy:6.0.4.1",
                                    "nested": {"alpine": "rancher/rke-tools:v0.1.96"}},
            "v1.27.16-rancher1-1": {"etcd": "rancher/mirrored-coreos-etcd:v3.5.10", "kubernetes": "rancher/hyperkube:v1.27.16-rancher1",
                                    "windowsPodInfraContainer": "rancher/mirrored-pause:3.7", "aciCniDeployContainer": "noiro/cnideploy:6.0.4.1",
                                    "nested": {"alpine": "rancher/rke-tools:v0.1.96"}},
            "v1.28.11-rancher1-1": {"etcd": "rancher/mirrored-coreos-etcd:v3.5.12", "kubernetes": "rancher/hyperkube:v1.28.11-rancher1"},
            "v1.25.16-rancher2-1": {"kubernetes": "rancher/hyperkube:v1.25.16-rancher2"}
        },
        "K8sVersionInfo": {
            "v1.28.11-rancher1-1": {"minRancherVersion": "v2.9.1"},
            "v1.25": {"maxRancherVersion": "v2.8.99"}
        },
        "K8sVersionServiceOptions": {"v1.27": {}, "v1.28": {}, "v1.25": {}},
        "K8sVersionWindowsServiceOptions": {"v1.27": {}}
    })
}

#[test]
fn kdm_releases_rke_and_release_lists() {
    let mut files = Memory::default();
    files.put("kdm/data.json", serde_json::to_vec(&kdm()).unwrap());
    files.put(
        "k3s/v1.28.10+k3s2/k3s-images.txt",
        "docker.io/rancher/klipper-lb:v0.4.7\nrancher/mirrored-pause:3.6\n\n",
    );
    files.put(
        "k3s/v1.27.16+k3s1/k3s-images.txt",
        "docker.io/rancher/klipper-lb:v0.4.4\n",
    );
    files.put(
        "rke2/v1.28.10+rke2r1/rke2-images-all.linux-amd64.txt",
        "docker.io/rancher/rke2-runtime:v1.28.10-rke2r1\n",
    );
    files.put(
        "rke2/v1.28.10+rke2r1/rke2-images.windows-amd64.txt",
        "docker.io/rancher/rke2-runtime:v1.28.10-rke2r1-windows-amd64\n",
    );
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[
            ("rancher", "v2.9.0"),
            ("kdm", "kdm/data.json"),
            ("k3s-release", "k3s"),
            ("rke2-release", "rke2/"),
        ]),
        &mut out,
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    // Default minimum Kubernetes for 2.9 is 1.27: 1.26 is left out; newest patch per minor,
    // +k3s2 over +k3s1; 1.30 needs Rancher 2.10.
    assert_eq!(
        out.references("k3s-"),
        [
            "rancher/k3s-upgrade:v1.27.16-k3s1",
            "rancher/k3s-upgrade:v1.28.10-k3s2",
            "rancher/klipper-lb:v0.4.4",
            "rancher/klipper-lb:v0.4.7",
            "rancher/mirrored-pause:3.6",
            "rancher/system-agent-installer-k3s:v1.27.16-k3s1",
            "rancher/system-agent-installer-k3s:v1.28.10-k3s2",
        ]
    );
    let windows: Vec<&Sink> = out
        .images
        .iter()
        .filter(|i| i.os.as_deref() == Some("windows"))
        .collect();
    assert!(windows.iter().any(|i| i.reference
        == "rancher/rke2-runtime:v1.28.10-rke2r1-windows-amd64"
        && i.source == "rke2-release v1.28.10+rke2r1"));
    // RKE1: newest of 1.27, not noiro/, Windows gets its subset; 1.28.11 needs 2.9.1; 1.25 is
    // past its maximum (and below the minimum Kubernetes).
    assert_eq!(
        out.references("rke-system v1.27.16-rancher1-1"),
        [
            "rancher/hyperkube:v1.27.16-rancher1",
            "rancher/mirrored-coreos-etcd:v3.5.10",
            "rancher/mirrored-pause:3.7",
            "rancher/rke-tools:v0.1.96",
        ]
    );
    let rke_windows: Vec<&str> = out
        .images
        .iter()
        .filter(|i| i.source.starts_with("rke-") && i.os.as_deref() == Some("windows"))
        .map(|i| i.reference.as_str())
        .collect();
    assert_eq!(
        rke_windows,
        [
            "rancher/hyperkube:v1.27.16-rancher1",
            "rancher/mirrored-pause:3.7"
        ]
    );
    assert!(out.references("rke-system v1.28").is_empty());
    assert!(!out.images.iter().any(|i| i.reference.contains("mirrored-pause:3.7") && i.os.as_deref() == Some("linux")));

    // An explicit minimum Kubernetes, all patches, and a missing release list is an error.
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[
            ("rancher", "v2.9.0"),
            ("kdm", "kdm/data.json"),
            ("k3s-release", "k3s"),
            ("min-kube-version", "v1.28"),
            ("kdm-remove-deprecated", "false"),
        ]),
        &mut out,
    )
    .unwrap();
    let upgrades: Vec<String> = out.references("k3s-upgrade");
    assert_eq!(
        upgrades,
        [
            "rancher/k3s-upgrade:v1.28.10-k3s1",
            "rancher/k3s-upgrade:v1.28.10-k3s2",
            "rancher/k3s-upgrade:v1.28.9-k3s1"
        ]
    );
    assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
    assert!(
        out.errors[0].contains("k3s v1.28.10+k3s1 image list k3s/v1.28.10+k3s1/k3s-images.txt"),
        "{}",
        out.errors[0]
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("rke2-release=DIR|URL")),
        "{:?}",
        out.warnings
    );

    // Rancher 2.12 has no RKE1.
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[("rancher", "v2.12.0"), ("kdm", "kdm/data.json")]),
        &mut out,
    )
    .unwrap();
    assert!(out.references("rke-").is_empty());
}

/// KDM's channel files, as its repository has them: app defaults, anchors and aliases,
/// server argument schemas between the releases.
const CHANNELS: &str = r#"channels:
  - name: default
    latest: v1.28.10+k3s1
appDefaults:
  - appName: rancher
    defaults:
      - appVersion: '>= 2.9.0-0 < 2.9.100-0'
        defaultVersion: '1.28.x'
releases:
  - version: v1.27.16+k3s1
    minChannelServerVersion: v2.7.0-alpha1
    maxChannelServerVersion: v2.9.99
    serverArgs: &serverArgs-v1
      tls-san:
        type: array
  - version: v1.28.9+k3s1
    minChannelServerVersion: v2.8.0-alpha1
    maxChannelServerVersion: v2.9.99
    serverArgs: *serverArgs-v1
  - version: v1.28.10+k3s1
    minChannelServerVersion: v2.8.0-alpha1
    maxChannelServerVersion: v2.9.99
    serverArgs: *serverArgs-v1
  - version: v1.31.1+k3s1
    minChannelServerVersion: v2.10.0-alpha1
    maxChannelServerVersion: v2.10.99
"#;

#[test]
fn channel_files_stand_in_for_data_json_releases() {
    let mut files = Memory::default();
    files.put("kdm/channels.yaml", CHANNELS);
    files.put("kdm/channels-rke2.yaml", CHANNELS.replace("k3s", "rke2r"));
    files.put("kdm/data.json", serde_json::to_vec(&kdm()).unwrap());
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[
            ("rancher", "v2.9.0"),
            ("k3s-channels", "kdm/channels.yaml"),
            ("kdm", "kdm/data.json"),
        ]),
        &mut out,
    )
    .unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    // K3s from the channel file (1.27.16 and the newest 1.28), RKE2 and RKE1 from data.json.
    assert_eq!(
        out.references("k3s-upgrade"),
        [
            "rancher/k3s-upgrade:v1.27.16-k3s1",
            "rancher/k3s-upgrade:v1.28.10-k3s1"
        ]
    );
    assert_eq!(
        out.references("rke2-upgrade"),
        ["rancher/rke2-upgrade:v1.28.10-rke2r1"]
    );
    assert!(!out.references("rke-system").is_empty());

    // Channel files alone are enough input; one without releases is named.
    files.put("kdm/empty.yaml", "channels: []\n");
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[
            ("rancher", "v2.9.0"),
            ("k3s-channels", "kdm/empty.yaml"),
            ("rke2-channels", "kdm/channels-rke2.yaml"),
        ]),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out.errors,
        ["k3s channels kdm/empty.yaml: no releases list"]
    );
    assert_eq!(
        out.references("rke2-upgrade"),
        [
            "rancher/rke2-upgrade:v1.27.16-rke2r1",
            "rancher/rke2-upgrade:v1.28.10-rke2r1"
        ]
    );
}

#[test]
fn bad_inputs_are_named() {
    let options = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let err = Settings::parse(&options(&[("chart", "x")])).unwrap_err();
    assert!(err.contains("no Rancher version"), "{err}");
    let err = Settings::parse(&options(&[("rancher", "v2.9.0")])).unwrap_err();
    assert!(err.contains("no inputs"), "{err}");
    let err = Settings::parse(&options(&[("rancher", "banana"), ("chart", "x")])).unwrap_err();
    assert!(err.contains("\"banana\""), "{err}");
    let mut files = Memory::default();
    files.put("kdm.json", "{not json");
    let mut out = Collected::default();
    generate(
        &files,
        &settings(&[
            ("rancher", "v2.9.0"),
            ("kdm", "kdm.json"),
            ("chart", "nowhere"),
        ]),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
    assert!(
        out.errors
            .iter()
            .any(|e| e.starts_with("KDM kdm.json: not JSON")),
        "{:?}",
        out.errors
    );
    let err = generate(
        &files,
        &settings(&[
            ("rancher", "v2.9.0"),
            ("chart", "x"),
            ("min-kube-version", "1.28"),
        ]),
        &mut out,
    )
    .unwrap_err();
    assert!(err.contains("like v1.28"), "{err}");
}
