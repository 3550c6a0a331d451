use super::*;
use std::path::{Path, PathBuf};

/// The disk as [`Files`], with no network.
struct Disk;

impl Files for Disk {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("{path}: {e}"))
    }
    fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }
    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        Err(format!("{url}: no network in unit tests"))
    }
}

/// A gzip'd tar of `(path, content)` files.
fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, *content).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chart-images-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn references(chart: &Chart) -> Vec<String> {
    chart
        .images
        .iter()
        .map(|i| match &i.os {
            Some(os) => format!("{} ({os}) {}", i.reference, i.file),
            None => format!("{} {}", i.reference, i.file),
        })
        .collect()
}

#[test]
fn a_packaged_chart_with_subcharts_of_both_kinds() {
    let packaged_sub = tgz(&[
        ("db/Chart.yaml", b"name: db\nversion: 2.0.0\n"),
        (
            "db/values.yaml",
            b"image:\n  repository: org/db\n  tag: 10.11\n",
        ),
    ]);
    let chart = tgz(&[
        (
            "app/Chart.yaml",
            "\u{feff}name: app\nversion: 1.2.3\nappVersion: v9\nannotations:\n  catalog.cattle.io/rancher-version: '>= 2.9.0-0 < 2.10.0-0'\n".as_bytes(),
        ),
        ("app/values.yaml", b"image:\n  repository: rancher/app\n  tag: v1\n"),
        ("app/questions.yaml", b"rancher_min_version: 2.8.0\nrancher_max_version: 2.9.99\n"),
        ("app\\charts\\win\\values.yaml", b"agent:\n  repository: rancher/win-agent\n  tag: v2\n  os: windows\n"),
        ("app/charts/db-2.0.0.tgz", &packaged_sub),
        ("app/templates/deploy.yaml", b"image: {{ .Values.image.repository }}"),
    ]);
    let chart = Chart::from_tgz(&chart).unwrap();
    assert_eq!(chart.label(), "app:1.2.3");
    assert_eq!(chart.app_version.as_deref(), Some("v9"));
    assert_eq!(
        chart.annotations,
        [(
            "catalog.cattle.io/rancher-version".to_string(),
            ">= 2.9.0-0 < 2.10.0-0".to_string()
        )]
    );
    assert_eq!(chart.rancher_min_version.as_deref(), Some("2.8.0"));
    assert_eq!(chart.rancher_max_version.as_deref(), Some("2.9.99"));
    assert_eq!(
        references(&chart),
        [
            "rancher/app:v1 app/values.yaml",
            "rancher/win-agent:v2 (windows) app/charts/win/values.yaml",
            "org/db:10.11 app/charts/db-2.0.0.tgz:db/values.yaml",
        ]
    );
    assert!(chart.warnings.is_empty(), "{:?}", chart.warnings);
}

#[test]
fn directories_repositories_and_bad_archives() {
    let root = scratch("inputs");
    // A chart directory.
    write(
        &root.join("dir-chart/Chart.yaml"),
        b"name: dirchart\nversion: 0.1.0\n",
    );
    write(
        &root.join("dir-chart/charts/sub/values.yml"),
        b"image: quay.io/org/sub:v3\n",
    );
    write(&root.join("dir-chart/values.yaml"), b"broken: [\n");
    // A repository with two versions of one chart and a relative URL.
    let v1 = tgz(&[
        ("web/Chart.yaml", b"name: web\nversion: 1.0.0\n"),
        (
            "web/values.yaml",
            b"image:\n  repository: org/web\n  tag: v1\n",
        ),
    ]);
    let v2 = tgz(&[
        ("web/Chart.yaml", b"name: web\nversion: 1.10.0\n"),
        (
            "web/values.yaml",
            b"image:\n  repository: org/web\n  tag: v2\n",
        ),
    ]);
    write(&root.join("repo/assets/web-1.0.0.tgz"), &v1);
    write(&root.join("repo/assets/web-1.10.0.tgz"), &v2);
    write(
        &root.join("repo/index.yaml"),
        b"apiVersion: v1\nentries:\n  web:\n  - version: 1.0.0\n    urls: [assets/web-1.0.0.tgz]\n  - version: 1.10.0\n    urls: [assets/web-1.10.0.tgz]\n",
    );
    // A corrupted archive next to them.
    write(&root.join("loose/broken.tgz"), b"\x1f\x8bnot really");
    write(&root.join("loose/web-1.0.0.tgz"), &v1);

    let dir = charts(
        &Disk,
        &format!("{}/dir-chart", root.display()),
        Versions::All,
    )
    .unwrap();
    let chart = dir[0].chart.as_ref().unwrap();
    assert_eq!(
        references(chart),
        ["quay.io/org/sub:v3 charts/sub/values.yml"]
    );
    assert_eq!(chart.warnings.len(), 1, "the broken values file is named");
    assert!(
        chart.warnings[0].starts_with("values.yaml: "),
        "{:?}",
        chart.warnings
    );

    let repo = format!("{}/repo", root.display());
    let all = charts(&Disk, &repo, Versions::All).unwrap();
    let labels: Vec<&str> = all.iter().map(|r| r.origin.as_str()).collect();
    // Newest first.
    assert_eq!(labels, ["web:1.10.0", "web:1.0.0"]);
    let newest = charts(&Disk, &repo, Versions::Newest).unwrap();
    assert_eq!(
        references(newest[0].chart.as_ref().unwrap()),
        ["org/web:v2 web/values.yaml"]
    );

    let loose = charts(&Disk, &format!("{}/loose", root.display()), Versions::All).unwrap();
    assert_eq!(loose.len(), 2);
    assert!(loose[0].origin.ends_with("broken.tgz"));
    assert!(
        loose[0]
            .chart
            .as_ref()
            .unwrap_err()
            .contains("not a chart archive")
    );
    assert!(loose[1].chart.is_ok());
    std::fs::remove_dir_all(root).unwrap();
}

/// Helm's own edge-case charts (shared fixtures; skipped when absent): BOM, backslashes,
/// nested and packaged subcharts, a corrupted archive.
#[test]
fn helms_edge_case_charts() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/helm/helm-testdata");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let reads = charts(&Disk, dir.to_str().unwrap(), Versions::All).unwrap();
    let by_file = |file: &str| {
        reads
            .iter()
            .find(|r| r.origin.ends_with(file))
            .unwrap_or_else(|| panic!("{file} not read"))
    };
    assert!(by_file("corrupted-compressed-chart.tgz").chart.is_err());
    let deps = by_file("chart-with-compressed-dependencies-2.1.8.tgz")
        .chart
        .as_ref()
        .unwrap();
    assert!(
        deps.images
            .iter()
            .any(|i| i.reference == "docker.io/bitnami/mariadb:10.1.34-debian-9"),
        "{:?}",
        references(deps)
    );
    for file in [
        "frobnitz-1.2.3.tgz",
        "frobnitz_backslash-1.2.3.tgz",
        "frobnitz_with_bom.tgz",
    ] {
        let chart = by_file(file).chart.as_ref().unwrap();
        assert!(chart.name.starts_with("frobnitz"), "{file}: {}", chart.name);
        assert_eq!(chart.version, "1.2.3", "{file}");
    }
}

/// The real Rancher chart repository (shared fixtures; skipped when absent).
#[test]
fn the_rancher_chart_repository() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/helm/rancher-charts");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let reads = charts(&Disk, dir.to_str().unwrap(), Versions::All).unwrap();
    assert!(reads.len() > 1000, "{} charts", reads.len());
    let failed: Vec<String> = reads
        .iter()
        .filter_map(|r| r.chart.as_ref().err().map(|e| format!("{}: {e}", r.origin)))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let images: std::collections::BTreeSet<&str> = reads
        .iter()
        .flat_map(|r| r.chart.as_ref().unwrap().images.iter())
        .map(|i| i.reference.as_str())
        .collect();
    assert!(
        images.iter().any(|i| i.starts_with("rancher/fleet:")),
        "{images:?}"
    );
    assert!(images.iter().all(|i| !i.contains("{{")));
}
