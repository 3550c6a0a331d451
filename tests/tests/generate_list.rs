//! `generate-list helm`: image lists from Helm charts built here (packaged, directories,
//! repositories on disk and over a real HTTP server), in the shapes charts really use, ready
//! for `save`; plus the real Rancher chart repository from the shared fixtures.

use hangar_tests::hangar::Env;
use hangar_tests::http_files::HttpFiles;
use hangar_tests::images;
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::path::Path;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A packaged chart: a gzip'd tar of `(path, content)`.
fn chart_tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
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

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn lines(env: &Env, name: &str) -> Vec<String> {
    std::fs::read_to_string(env.path(name))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `repo/`: two versions of `web` (the older with a packaged subchart, the newer with a
/// numeric tag) behind an index.yaml; `agent/`: a chart directory with a BOM in Chart.yaml,
/// an empty tag, a Windows image, a digest and a nested subchart directory.
fn charts(env: &Env) {
    let cache = chart_tgz(&[
        ("cache/Chart.yaml", b"name: cache\nversion: 0.1.0\n"),
        (
            "cache/values.yaml",
            b"image:\n  repository: org/cache\n  tag: 6.2\n",
        ),
    ]);
    let web1 = chart_tgz(&[
        (
            "web/Chart.yaml",
            b"apiVersion: v2\nname: web\nversion: 1.0.0\n",
        ),
        (
            "web/values.yaml",
            b"image:\n  repository: org/web\n  tag: v1\n",
        ),
        ("web/charts/cache-0.1.0.tgz", &cache),
        (
            "web/templates/deployment.yaml",
            b"image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n",
        ),
    ]);
    let web2 = chart_tgz(&[
        ("web/Chart.yaml", b"apiVersion: v2\nname: web\nversion: 1.10.0\n"),
        (
            "web/values.yaml",
            b"image:\n  repository: org/web\n  tag: v2\nmetrics:\n  image:\n    repository: org/metrics\n    tag: 1.10\n",
        ),
    ]);
    let root = env.path("");
    write(&root.join("repo/charts/web-1.0.0.tgz"), &web1);
    write(&root.join("repo/charts/web-1.10.0.tgz"), &web2);
    write(
        &root.join("repo/index.yaml"),
        b"apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.10.0\n    urls: [charts/web-1.10.0.tgz]\n  - name: web\n    version: 1.0.0\n    urls: [charts/web-1.0.0.tgz]\n",
    );
    write(
        &root.join("agent/Chart.yaml"),
        "\u{feff}apiVersion: v2\nname: agent\nversion: 2.0.0\n".as_bytes(),
    );
    write(
        &root.join("agent/values.yaml"),
        format!(
            "image:\n  repository: rancher/agent\n  tag: \"\"\n\
             windows:\n  image:\n    repository: rancher/agent-win\n    tag: v1\n    os: windows\n\
             pinned:\n  repository: org/pinned\n  digest: {DIGEST}\n"
        )
        .as_bytes(),
    );
    write(
        &root.join("agent/charts/helper/values.yaml"),
        format!("helper:\n  image: quay.io/org/helper@{DIGEST}\n").as_bytes(),
    );
}

#[test]
fn helm_charts_of_every_shape_on_disk_and_over_http() {
    let env = Env::new();
    charts(&env);
    let run = env.run(&[
        "generate-list",
        "helm",
        "repo",
        "agent",
        "-o",
        "images.txt",
        "--output-windows",
        "windows.txt",
        "--output-source",
        "sources.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        lines(&env, "images.txt"),
        [
            "org/cache:6.2".to_string(),
            "org/metrics:1.10".into(),
            format!("org/pinned@{DIGEST}"),
            "org/web:v1".into(),
            "org/web:v2".into(),
            format!("quay.io/org/helper@{DIGEST}"),
            "rancher/agent:latest".into(),
        ]
    );
    assert_eq!(lines(&env, "windows.txt"), ["rancher/agent-win:v1"]);
    let sources = lines(&env, "sources.txt");
    assert!(
        sources.contains(&"org/cache:6.2 web:1.0.0".to_string()),
        "{sources:?}"
    );
    assert!(
        sources.contains(&"rancher/agent-win:v1 agent:2.0.0".to_string()),
        "{sources:?}"
    );

    // The newest version of each chart only.
    let newest = env.run(&[
        "generate-list",
        "helm",
        "repo",
        "--newest",
        "-o",
        "newest.txt",
        "-y",
    ]);
    assert_eq!(newest.code, 0, "{}", newest.output());
    assert_eq!(
        lines(&env, "newest.txt"),
        ["org/metrics:1.10", "org/web:v2"]
    );

    // The same repository over HTTP: only the host of the URL given is reachable.
    let server = HttpFiles::serve(&env.path(""));
    let remote = env.run(&[
        "generate-list",
        "helm",
        &server.url("repo/index.yaml"),
        "-o",
        "remote.txt",
    ]);
    assert_eq!(remote.code, 0, "{}", remote.output());
    assert_eq!(
        lines(&env, "remote.txt"),
        [
            "org/cache:6.2",
            "org/metrics:1.10",
            "org/web:v1",
            "org/web:v2"
        ]
    );
}

#[test]
fn a_broken_chart_fails_the_run_after_the_rest_is_written() {
    let env = Env::new();
    charts(&env);
    write(
        &env.path("more/broken-1.0.0.tgz"),
        b"\x1f\x8b\x08 truncated",
    );
    std::fs::rename(env.path("agent"), env.path("more/agent")).unwrap();
    let run = env.run(&["generate-list", "helm", "more", "-o", "images.txt"]);
    assert_eq!(run.code, 1, "{}", run.output());
    let output = run.output();
    let complaints: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("broken-1.0.0.tgz"))
        .collect();
    assert_eq!(complaints.len(), 1, "{}", run.output());
    assert!(
        complaints[0].contains("not a chart archive"),
        "{}",
        complaints[0]
    );
    assert!(lines(&env, "images.txt").contains(&"rancher/agent:latest".to_string()));
    env.run(&["generate-list", "helm", "nowhere", "-o", "x.txt"])
        .fails_with("nowhere: no such file or directory");
}

/// A generated list is ready for `save`: `--registry` points it at the registry holding the
/// images.
#[tokio::test(flavor = "multi_thread")]
async fn generated_lists_feed_save() {
    let registry = RegistryServer::plain();
    let pusher = Pusher::new(&registry);
    pusher
        .push_image("team/alpha", Some("1"), &images::single(9701, 1000))
        .await;
    pusher
        .push_image("team/beta", Some("2"), &images::single(9702, 1000))
        .await;
    let env = Env::new();
    write(&env.path("app/Chart.yaml"), b"name: app\nversion: 0.1.0\n");
    write(
        &env.path("app/values.yaml"),
        b"a:\n  image:\n    repository: team/alpha\n    tag: 1\nb:\n  image:\n    registry: docker.io\n    repository: team/beta\n    tag: 2\n",
    );
    let run = env.run(&[
        "generate-list",
        "helm",
        "app",
        "--registry",
        &registry.addr,
        "-o",
        "app.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        lines(&env, "app.txt"),
        [
            format!("{}/team/alpha:1", registry.addr),
            format!("{}/team/beta:2", registry.addr)
        ]
    );
    let saved = env.run(&[
        "save",
        "-f",
        "app.txt",
        "-d",
        "app.zip",
        "--tls-verify=false",
        "-y",
    ]);
    assert_eq!(saved.code, 0, "{}", saved.output());
    let listed = env.run(&["archive", "ls", "app.zip", "--image-only"]);
    assert_eq!(
        listed.stdout.lines().collect::<Vec<_>>(),
        [
            format!("{}/team/alpha:1", registry.addr),
            format!("{}/team/beta:2", registry.addr)
        ]
    );
}

/// The real Rancher chart repository (1,103 charts; shared fixtures).
#[test]
fn the_real_rancher_chart_repository() {
    let Some(repo) = hangar_tests::shared_fixture("helm/rancher-charts") else {
        return;
    };
    let env = Env::new();
    let run = env.run(&[
        "generate-list",
        "helm",
        repo.to_str().unwrap(),
        "-o",
        "rancher.txt",
        "--output-windows",
        "windows.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    let images = lines(&env, "rancher.txt");
    assert!(images.len() > 1000, "{}", images.len());
    assert!(
        images.iter().any(|i| i.starts_with("rancher/fleet:")),
        "{images:?}"
    );
    assert!(images.iter().all(|i| !i.contains("{{") && !i.contains(' ')));
    assert!(
        lines(&env, "windows.txt")
            .iter()
            .any(|i| i.contains("windows"))
    );
}

/// What a Rancher release is made of, in the shapes Rancher publishes it: a chart repository
/// whose index annotates each version with the Rancher versions it fits, a system-charts
/// clone (directories, `questions.yaml`), KDM `data.json`, and the K3s/RKE2 release image
/// lists in GitHub's download layout.
fn rancher_release(env: &Env) {
    let root = env.path("");
    let chart = |name: &str, version: &str, values: &str| {
        chart_tgz(&[
            (
                &format!("{name}/Chart.yaml"),
                format!("name: {name}\nversion: {version}\n").as_bytes(),
            ),
            (&format!("{name}/values.yaml"), values.as_bytes()),
        ])
    };
    write(
        &root.join("charts/assets/fleet-104.1.0.tgz"),
        &chart(
            "fleet",
            "104.1.0",
            "image:\n  repository: rancher/fleet\n  tag: v0.10.4\n",
        ),
    );
    write(
        &root.join("charts/assets/fleet-103.1.5.tgz"),
        &chart(
            "fleet",
            "103.1.5",
            "image:\n  repository: rancher/fleet\n  tag: v0.9.9\n",
        ),
    );
    write(
        &root.join("charts/assets/rancher-webhook-104.0.2.tgz"),
        &chart(
            "rancher-webhook",
            "104.0.2",
            "image:\n  repository: rancher/rancher-webhook\n  tag: v0.5.2\n",
        ),
    );
    write(
        &root.join("charts/assets/rancher-windows-exporter-104.0.0.tgz"),
        &chart(
            "rancher-windows-exporter",
            "104.0.0",
            "image:\n  repository: rancher/windows_exporter-package\n  tag: v0.0.4\n  os: windows\n",
        ),
    );
    write(
        &root.join("charts/index.yaml"),
        b"apiVersion: v1\nentries:\n  fleet:\n  - name: fleet\n    version: 104.1.0\n    urls: [assets/fleet-104.1.0.tgz]\n    annotations:\n      catalog.cattle.io/rancher-version: '>= 2.9.0-0 < 2.10.0-0'\n  - name: fleet\n    version: 103.1.5\n    urls: [assets/fleet-103.1.5.tgz]\n    annotations:\n      catalog.cattle.io/rancher-version: '>= 2.8.0-0 < 2.9.0-0'\n  rancher-webhook:\n  - name: rancher-webhook\n    version: 104.0.2\n    urls: [assets/rancher-webhook-104.0.2.tgz]\n    annotations:\n      catalog.cattle.io/rancher-version: '>= 2.9.0-0 < 2.10.0-0'\n  rancher-windows-exporter:\n  - name: rancher-windows-exporter\n    version: 104.0.0\n    urls: [assets/rancher-windows-exporter-104.0.0.tgz]\n",
    );
    for (version, questions) in [
        ("0.3.3", "rancher_min_version: 2.9.0-rc1\n"),
        (
            "0.3.2",
            "rancher_min_version: 2.8.0\nrancher_max_version: 2.9.99\n",
        ),
        ("0.2.0", "rancher_max_version: 2.7.99\n"),
    ] {
        let dir = root.join(format!("system/charts/rancher-monitoring/{version}"));
        write(
            &dir.join("Chart.yaml"),
            format!("name: rancher-monitoring\nversion: {version}\n").as_bytes(),
        );
        write(&dir.join("questions.yaml"), questions.as_bytes());
        write(
            &dir.join("values.yaml"),
            format!("prometheus:\n  image:\n    repository: rancher/prom-prometheus\n    tag: v{version}\n")
                .as_bytes(),
        );
    }
    let kdm = serde_json::json!({
        "k3s": {"releases": [
            {"version": "v1.26.15+k3s1", "minChannelServerVersion": "v2.7.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.28.9+k3s1", "minChannelServerVersion": "v2.8.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.28.10+k3s1", "minChannelServerVersion": "v2.8.0-alpha1", "maxChannelServerVersion": "v2.9.99"},
            {"version": "v1.30.2+k3s1", "minChannelServerVersion": "v2.9.0-alpha1", "maxChannelServerVersion": "v2.10.99"},
            {"version": "v1.31.1+k3s1", "minChannelServerVersion": "v2.10.0-alpha1", "maxChannelServerVersion": "v2.10.99"}
        ]},
        "rke2": {"releases": [
            {"version": "v1.30.2+rke2r1", "minChannelServerVersion": "v2.9.0-alpha1", "maxChannelServerVersion": "v2.10.99"}
        ]},
        "K8sVersionRKESystemImages": {
            "v1.28.14-rancher1-1": {"etcd": "rancher/mirrored-coreos-etcd:v3.5.12", "kubernetes": "rancher/hyperkube:v1.28.14-rancher1",
                                    "windowsPodInfraContainer": "rancher/mirrored-pause:3.7", "aciCniDeployContainer": "noiro/cnideploy:6.0.4.1"},
            "v1.28.13-rancher1-1": {"etcd": "rancher/mirrored-coreos-etcd:v3.5.12", "kubernetes": "rancher/hyperkube:v1.28.13-rancher1"}
        },
        "K8sVersionInfo": {},
        "K8sVersionServiceOptions": {"v1.28": {}},
        "K8sVersionWindowsServiceOptions": {"v1.28": {}}
    });
    write(
        &root.join("kdm/data.json"),
        &serde_json::to_vec_pretty(&kdm).unwrap(),
    );
    for (version, images) in [
        (
            "v1.28.10+k3s1",
            "docker.io/rancher/klipper-lb:v0.4.7\ndocker.io/rancher/mirrored-pause:3.6\n",
        ),
        ("v1.28.9+k3s1", "docker.io/rancher/klipper-lb:v0.4.6\n"),
        (
            "v1.30.2+k3s1",
            "docker.io/rancher/klipper-lb:v0.4.9\ndocker.io/rancher/mirrored-pause:3.6\n",
        ),
    ] {
        write(
            &root.join(format!("k3s/{version}/k3s-images.txt")),
            images.as_bytes(),
        );
    }
    write(
        &root.join("rke2/v1.30.2+rke2r1/rke2-images-all.linux-amd64.txt"),
        b"docker.io/rancher/rke2-runtime:v1.30.2-rke2r1\ndocker.io/rancher/mirrored-pause:3.6\n",
    );
    write(
        &root.join("rke2/v1.30.2+rke2r1/rke2-images.windows-amd64.txt"),
        b"docker.io/rancher/rke2-runtime:v1.30.2-rke2r1-windows-amd64\n",
    );
}

/// Hangar's `generate-list --rancher`: charts that fit the release, every fitting
/// rancher-monitoring system chart, the K3s/RKE2 releases KDM offers it (newest patch per
/// Kubernetes minor, from the default minimum for 2.9) with their release image lists, RKE1
/// system images; per-distribution lists and the versions file.
#[test]
fn rancher_release_lists_from_charts_kdm_and_release_lists() {
    let env = Env::new();
    rancher_release(&env);
    let run = env.run(&[
        "generate-list",
        "--rancher",
        "2.9.3",
        "--chart",
        "charts",
        "--system-chart",
        "system",
        "--kdm",
        "kdm/data.json",
        "--k3s-release",
        "k3s",
        "--rke2-release",
        "rke2",
        "--output-windows",
        "windows.txt",
        "--output-source",
        "sources.txt",
        "--k3s-images",
        "k3s.txt",
        "--rke2-images",
        "rke2.txt",
        "--rke2-windows-images",
        "rke2-windows.txt",
        "--rke-images",
        "rke.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        lines(&env, "v2.9.3-images.txt"),
        [
            "rancher/fleet:v0.10.4",
            "rancher/hyperkube:v1.28.14-rancher1",
            "rancher/k3s-upgrade:v1.28.10-k3s1",
            "rancher/k3s-upgrade:v1.30.2-k3s1",
            "rancher/klipper-lb:v0.4.7",
            "rancher/klipper-lb:v0.4.9",
            "rancher/mirrored-coreos-etcd:v3.5.12",
            "rancher/mirrored-pause:3.6",
            "rancher/prom-prometheus:v0.3.2",
            "rancher/prom-prometheus:v0.3.3",
            "rancher/rancher-webhook:v0.5.2",
            "rancher/rke2-runtime:v1.30.2-rke2r1",
            "rancher/rke2-upgrade:v1.30.2-rke2r1",
            "rancher/system-agent-installer-k3s:v1.28.10-k3s1",
            "rancher/system-agent-installer-k3s:v1.30.2-k3s1",
            "rancher/system-agent-installer-rke2:v1.30.2-rke2r1",
        ]
    );
    assert_eq!(
        lines(&env, "windows.txt"),
        [
            "rancher/hyperkube:v1.28.14-rancher1",
            "rancher/mirrored-pause:3.7",
            "rancher/rke2-runtime:v1.30.2-rke2r1-windows-amd64",
            "rancher/windows_exporter-package:v0.0.4",
        ]
    );
    assert_eq!(
        lines(&env, "k3s.txt"),
        [
            "rancher/k3s-upgrade:v1.28.10-k3s1",
            "rancher/k3s-upgrade:v1.30.2-k3s1",
            "rancher/klipper-lb:v0.4.7",
            "rancher/klipper-lb:v0.4.9",
            "rancher/mirrored-pause:3.6",
            "rancher/system-agent-installer-k3s:v1.28.10-k3s1",
            "rancher/system-agent-installer-k3s:v1.30.2-k3s1",
        ]
    );
    assert_eq!(
        lines(&env, "rke2.txt"),
        [
            "rancher/mirrored-pause:3.6",
            "rancher/rke2-runtime:v1.30.2-rke2r1",
            "rancher/rke2-upgrade:v1.30.2-rke2r1",
            "rancher/system-agent-installer-rke2:v1.30.2-rke2r1",
        ]
    );
    assert_eq!(
        lines(&env, "rke2-windows.txt"),
        ["rancher/rke2-runtime:v1.30.2-rke2r1-windows-amd64"]
    );
    assert_eq!(
        lines(&env, "rke.txt"),
        [
            "rancher/hyperkube:v1.28.14-rancher1",
            "rancher/mirrored-coreos-etcd:v3.5.12",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(env.path("v2.9.3-versions.txt")).unwrap(),
        "K3s, RKE2, RKE versions for Rancher v2.9.3:\n\nK3s Versions:\nv1.30.2+k3s1\n\
         v1.28.10+k3s1\n\nRKE2 Versions:\nv1.30.2+rke2r1\n\nRKE Versions:\nv1.28.14-rancher1-1\n"
    );
    let sources = lines(&env, "sources.txt");
    for line in [
        "rancher/fleet:v0.10.4 [charts;fleet:104.1.0]",
        "rancher/prom-prometheus:v0.3.2 [system;rancher-monitoring:0.3.2]",
        "rancher/mirrored-pause:3.6 k3s-release v1.28.10+k3s1,k3s-release v1.30.2+k3s1,rke2-release v1.30.2+rke2r1",
    ] {
        assert!(
            sources.contains(&line.to_string()),
            "{line} not in {sources:?}"
        );
    }
}

/// `generate-list rancher` over HTTP, `-ent`, an explicit minimum Kubernetes version (which
/// Hangar ignores) with every patch kept, and the registry moved.
#[test]
fn rancher_ent_over_http_with_min_kube_version() {
    let env = Env::new();
    rancher_release(&env);
    let server = HttpFiles::serve(&env.path(""));
    let run = env.run(&[
        "generate-list",
        "rancher",
        "--rancher",
        "v2.9.3-ent",
        "--chart",
        &server.url("charts/index.yaml"),
        "--kdm",
        &server.url("kdm/data.json"),
        "--k3s-release",
        &server.url("k3s"),
        "--min-kube-version",
        "v1.30",
        "--kdm-remove-deprecated=false",
        "--registry",
        "mirror.local:5000",
    ]);
    // RKE2's release lists were not given: the run says so and lists the rest.
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(run.output().contains("rke2-release"), "{}", run.output());
    assert_eq!(
        lines(&env, "v2.9.3-ent-images.txt"),
        [
            "mirror.local:5000/cnrancher/rancher-webhook:v0.5.2",
            "mirror.local:5000/rancher/fleet:v0.10.4",
            "mirror.local:5000/rancher/k3s-upgrade:v1.30.2-k3s1",
            "mirror.local:5000/rancher/klipper-lb:v0.4.9",
            "mirror.local:5000/rancher/mirrored-pause:3.6",
            "mirror.local:5000/rancher/rke2-upgrade:v1.30.2-rke2r1",
            "mirror.local:5000/rancher/system-agent-installer-k3s:v1.30.2-k3s1",
            "mirror.local:5000/rancher/system-agent-installer-rke2:v1.30.2-rke2r1",
        ]
    );
    let versions = std::fs::read_to_string(env.path("v2.9.3-ent-versions.txt")).unwrap();
    assert!(
        versions.starts_with(
            "K3s, RKE2, RKE versions for Rancher v2.9.3-ent:\n\nK3s Versions:\nv1.30.2+k3s1\n\nRKE2"
        ),
        "{versions}"
    );

    // The 1.28 releases come back with a lower minimum and every patch.
    let run = env.run(&[
        "generate-list",
        "rancher",
        "--rancher",
        "v2.9.3",
        "--kdm",
        "kdm/data.json",
        "--min-kube-version",
        "v1.28",
        "--kdm-remove-deprecated=false",
        "--output-versions",
        "versions.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    let versions = std::fs::read_to_string(env.path("versions.txt")).unwrap();
    assert!(
        versions.contains("K3s Versions:\nv1.30.2+k3s1\nv1.28.10+k3s1\nv1.28.9+k3s1\n\n"),
        "{versions}"
    );

    // Bad input: one line naming the thing.
    env.run(&["generate-list", "--rancher", "v2.9.3"])
        .fails_with("say where Rancher's charts and KDM are");
    env.run(&[
        "generate-list",
        "--rancher",
        "banana",
        "--kdm",
        "kdm/data.json",
    ])
    .fails_with("--rancher \"banana\" is not vX.Y.Z");
    env.run(&[
        "generate-list",
        "rancher",
        "--rancher",
        "v2.9.3",
        "--kdm",
        "kdm/data.json",
        "--min-kube-version",
        "1.28",
        "-y",
    ])
    .fails_with("like v1.28");
}

/// Hangar's generate-list over the real Rancher chart repository (shared fixtures): Rancher 2.9 gets the 104.x line of its charts, 2.8 the 103.x line.
#[test]
fn rancher_lists_from_the_real_chart_repository() {
    let Some(repo) = hangar_tests::shared_fixture("helm/rancher-charts") else {
        return;
    };
    let env = Env::new();
    let mut fleet = Vec::new();
    for rancher in ["v2.9.3", "v2.8.8"] {
        let run = env.run(&[
            "generate-list",
            "--rancher",
            rancher,
            "--chart",
            repo.to_str().unwrap(),
            "--output-source",
            &format!("{rancher}-sources.txt"),
        ]);
        assert_eq!(run.code, 0, "{}", run.output());
        let images = lines(&env, &format!("{rancher}-images.txt"));
        assert!(images.len() > 100, "{rancher}: {}", images.len());
        let sources = lines(&env, &format!("{rancher}-sources.txt"));
        let line = sources
            .iter()
            .find(|l| l.starts_with("rancher/fleet:"))
            .unwrap_or_else(|| panic!("{rancher}: no fleet in {sources:?}"));
        fleet.push(line.clone());
    }
    assert!(fleet[0].contains(";fleet:104."), "{}", fleet[0]);
    assert!(fleet[1].contains(";fleet:103."), "{}", fleet[1]);
}

/// KDM's channel files (what data.json is generated from) instead of data.json: made here
/// with the anchors and server-argument schemas the real ones have, and the real ones from
/// the shared fixtures.
#[test]
fn rancher_releases_from_kdm_channel_files() {
    let env = Env::new();
    rancher_release(&env);
    let channels = |distro: &str, releases: &[(&str, &str, &str)]| {
        let mut text = format!(
            "channels:\n  - name: stable\n    latest: {}\nreleases:\n",
            releases[0].0
        );
        for (i, (version, min, max)) in releases.iter().enumerate() {
            text.push_str(&format!(
                "  - version: {version}\n    minChannelServerVersion: {min}\n    maxChannelServerVersion: {max}\n"
            ));
            text.push_str(if i == 0 {
                "    serverArgs: &args\n      tls-san:\n        type: array\n"
            } else {
                "    serverArgs: *args\n"
            });
        }
        write(
            &env.path(&format!("kdm/channels-{distro}.yaml")),
            text.as_bytes(),
        );
    };
    channels(
        "k3s",
        &[
            ("v1.28.9+k3s1", "v2.8.0-alpha1", "v2.9.99"),
            ("v1.28.10+k3s1", "v2.8.0-alpha1", "v2.9.99"),
            ("v1.30.2+k3s1", "v2.9.0-alpha1", "v2.10.99"),
        ],
    );
    channels("rke2", &[("v1.30.2+rke2r1", "v2.9.0-alpha1", "v2.10.99")]);
    let run = env.run(&[
        "generate-list",
        "--rancher",
        "v2.9.3",
        "--k3s-channels",
        "kdm/channels-k3s.yaml",
        "--rke2-channels",
        "kdm/channels-rke2.yaml",
        "--k3s-release",
        "k3s",
        "--rke2-release",
        "rke2",
        "--k3s-images",
        "k3s.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    assert_eq!(
        lines(&env, "k3s.txt"),
        [
            "rancher/k3s-upgrade:v1.28.10-k3s1",
            "rancher/k3s-upgrade:v1.30.2-k3s1",
            "rancher/klipper-lb:v0.4.7",
            "rancher/klipper-lb:v0.4.9",
            "rancher/mirrored-pause:3.6",
            "rancher/system-agent-installer-k3s:v1.28.10-k3s1",
            "rancher/system-agent-installer-k3s:v1.30.2-k3s1",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(env.path("v2.9.3-versions.txt")).unwrap(),
        "K3s, RKE2, RKE versions for Rancher v2.9.3:\n\nK3s Versions:\nv1.30.2+k3s1\n\
         v1.28.10+k3s1\n\nRKE2 Versions:\nv1.30.2+rke2r1\n\nRKE Versions:\n"
    );
    // A channel file that is not one is named, and the run fails after writing the rest.
    write(&env.path("kdm/broken.yaml"), b"channels: []\n");
    let run = env.run(&[
        "generate-list",
        "--rancher",
        "v2.9.3",
        "--k3s-channels",
        "kdm/broken.yaml",
        "--rke2-channels",
        "kdm/channels-rke2.yaml",
        "-o",
        "partial.txt",
        "-y",
    ]);
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.output()
            .contains("k3s channels kdm/broken.yaml: no releases list"),
        "{}",
        run.output()
    );
    assert!(
        lines(&env, "partial.txt").contains(&"rancher/rke2-upgrade:v1.30.2-rke2r1".to_string())
    );

    // The real channel files of KDM (shared fixtures).
    let Some(fixtures) = hangar_tests::shared_fixture("rancher") else {
        return;
    };
    let run = env.run(&[
        "generate-list",
        "--rancher",
        "v2.9.3",
        "--k3s-channels",
        fixtures.join("channels.yaml").to_str().unwrap(),
        "--rke2-channels",
        fixtures.join("channels-rke2.yaml").to_str().unwrap(),
        "--output-versions",
        "real-versions.txt",
        "-o",
        "real.txt",
    ]);
    assert_eq!(run.code, 0, "{}", run.output());
    // Newest patch of each Kubernetes minor from 1.27 (2.9's default minimum) whose channel
    // server range holds 2.9.3, as read from the files with a separate script.
    assert_eq!(
        std::fs::read_to_string(env.path("real-versions.txt")).unwrap(),
        "K3s, RKE2, RKE versions for Rancher v2.9.3:\n\nK3s Versions:\nv1.30.5+k3s1\n\
         v1.29.9+k3s1\nv1.28.14+k3s1\nv1.27.16+k3s1\n\nRKE2 Versions:\nv1.30.5+rke2r1\n\
         v1.29.9+rke2r1\nv1.28.14+rke2r1\nv1.27.16+rke2r2\n\nRKE Versions:\n"
    );
}
