//! First-party plugins written in Python and JavaScript load and run like the Rust ones: the
//! k8s list generator (Python, componentize-py) behind `generate-list k8s`, and the
//! Artifactory registry adapter (JavaScript, componentize-js) preparing a stand-in that
//! follows JFrog's REST API before `mirror` and `load` push, installed, tested and pushed as
//! OCI artifacts like any plugin.

use hangar_tests::artifactory::{ADMIN, ArtifactoryServer, DEPLOYER};
use hangar_tests::hangar::Env;
use hangar_tests::images;
use hangar_tests::plugins::{component, shared_cache};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;

/// An environment whose plugin compilation cache is shared between tests and runs.
fn env() -> Env {
    let mut env = Env::new();
    env.set("XDG_CACHE_HOME", &shared_cache().display().to_string());
    env
}

const DEPLOYMENTS: &str = r#"
# Two documents, a digest and a registry with a port.
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: reg.local:5000/team/migrate:2
      containers:
        - name: web
          image: nginx@sha256:0000000000000000000000000000000000000000000000000000000000000001
        - name: sidecar
          image: quay.io/prom/node-exporter:v1.8.0
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers:
        - {name: db, image: "postgres:16"}
"#;

const MORE: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      containers: [{name: agent, image: "rancher/agent:v1"}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  template:
    spec:
      containers: [{name: c, image: "busybox:1.36"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      containers: [{name: c, image: "alpine:3.20"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          nodeSelector: {kubernetes.io/os: windows}
          containers: [{name: c, image: "mcr.microsoft.com/windows/servercore:ltsc2022"}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: c, image: "registry.k8s.io/pause:3.9"}]
  ephemeralContainers: [{name: dbg, image: "nicolaka/netshoot:v0.13"}]
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: listed}
    spec:
      template:
        spec:
          containers: [{name: c, image: "ghcr.io/org/listed:1.0"}]
---
# Not workloads: an image key here is not an image to carry.
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {image: "not/an-image:1"}
---
apiVersion: example.com/v1
kind: Job
metadata: {name: custom}
spec:
  template:
    spec:
      containers: [{name: c, image: "custom/resource:1"}]
"#;

#[test]
fn generate_list_k8s_lists_the_images_of_rendered_manifests() {
    let env = env();
    env.write("manifests/app.yaml", DEPLOYMENTS);
    env.write("manifests/more/all.yml", MORE);
    env.write("manifests/README.md", "image: not/a-manifest:1\n");
    let plugin = component("k8s");
    let plugin = plugin.to_str().unwrap();
    let run = env.run(&[
        "generate-list",
        "k8s",
        "manifests",
        "--k8s-plugin",
        plugin,
        "-o",
        "images.txt",
        "--output-windows",
        "windows.txt",
        "--output-source",
        "sources.txt",
    ]);
    run.ok();
    let linux = std::fs::read_to_string(env.path("images.txt")).unwrap();
    assert_eq!(
        linux.lines().collect::<Vec<_>>(),
        [
            "alpine:3.20",
            "busybox:1.36",
            "ghcr.io/org/listed:1.0",
            "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000001",
            "nicolaka/netshoot:v0.13",
            "postgres:16",
            "quay.io/prom/node-exporter:v1.8.0",
            "rancher/agent:v1",
            "reg.local:5000/team/migrate:2",
            "registry.k8s.io/pause:3.9",
        ],
        "{}",
        run.output()
    );
    assert_eq!(
        std::fs::read_to_string(env.path("windows.txt")).unwrap(),
        "mcr.microsoft.com/windows/servercore:ltsc2022\n"
    );
    let sources = std::fs::read_to_string(env.path("sources.txt")).unwrap();
    assert!(
        sources.contains("postgres:16") && sources.contains("StatefulSet/db"),
        "{sources}"
    );

    // A stream on stdin, as `helm template ... | hangar generate-list k8s -`.
    let piped = env.run_with_stdin(
        &[
            "generate-list",
            "k8s",
            "-",
            "--k8s-plugin",
            plugin,
            "-o",
            "piped.txt",
        ],
        Some(DEPLOYMENTS),
    );
    piped.ok();
    assert_eq!(
        std::fs::read_to_string(env.path("piped.txt")).unwrap(),
        "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000001\n\
         postgres:16\nquay.io/prom/node-exporter:v1.8.0\nreg.local:5000/team/migrate:2\n"
    );

    // A malformed file: one line naming it, exit 1, and the other files still listed.
    env.write("bad/broken.yaml", "kind: Pod\nspec: [unclosed\n");
    env.write(
        "bad/good.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: c, image: 'good:1'}]\n",
    );
    let bad = env.run(&[
        "generate-list",
        "k8s",
        "bad",
        "--k8s-plugin",
        plugin,
        "-o",
        "bad.txt",
    ]);
    assert_eq!(bad.code, 1, "{}", bad.output());
    let errors: Vec<&str> = bad
        .stderr
        .lines()
        .filter(|l| l.contains("[ERRO]") && l.contains("broken.yaml"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", bad.output());
    assert!(errors[0].contains("invalid YAML"), "{}", errors[0]);
    assert_eq!(
        std::fs::read_to_string(env.path("bad.txt")).unwrap(),
        "good:1\n"
    );

    // By name it must be installed first; the message says how. Installed, it runs by name.
    env.run(&["generate-list", "k8s", "manifests", "-o", "named.txt"])
        .fails_with("hangar plugin install k8s.wasm");
    env.run(&["plugin", "install", plugin]).ok();
    env.run(&["generate-list", "k8s", "manifests", "-o", "named.txt", "-y"])
        .ok();
    assert_eq!(
        std::fs::read_to_string(env.path("named.txt")).unwrap(),
        linux
    );
}

/// The JavaScript adapter creates the Artifactory repositories a push needs (admin), and when
/// it may not (a deployer), the failed push is explained in its words.
#[tokio::test(flavor = "multi_thread")]
async fn the_javascript_adapter_prepares_artifactory_for_mirror_and_load() {
    let source = RegistryServer::plain();
    let app = images::single(9810, 30_000);
    let web = images::single(9811, 20_000);
    let pusher = Pusher::new(&source);
    pusher.push_image("team/app", Some("1"), &app).await;
    pusher.push_image("apps/web", Some("2"), &web).await;
    let plugin = component("artifactory");
    let plugin = plugin.to_str().unwrap();

    // mirror: both keys are missing and are created before the push.
    let upstream = RegistryServer::plain();
    let artifactory = ArtifactoryServer::start(&upstream.addr);
    artifactory.add_repository("docker-local", "docker");
    let env = env();
    artifactory.write_auth_file(&env.path("auth.json"), ADMIN);
    env.write(
        "list.txt",
        &format!("{0}/team/app:1\n{0}/apps/web:2\n", source.addr),
    );
    let run = env.mirror(&artifactory.addr, &["--registry-adapter", plugin]);
    run.ok();
    assert!(
        run.output()
            .contains("[artifactory] created Artifactory repository team"),
        "{}",
        run.output()
    );
    let keys: Vec<(String, String)> = artifactory.repositories().into_iter().collect();
    assert_eq!(
        keys,
        [
            ("apps".to_string(), "docker".to_string()),
            ("docker-local".to_string(), "docker".to_string()),
            ("team".to_string(), "docker".to_string()),
        ]
    );
    let behind = Pusher::new(&upstream);
    assert_eq!(
        behind.manifest("team/app", "1").await.unwrap().digest,
        app.manifest.digest
    );
    assert_eq!(
        behind.manifest("apps/web", "2").await.unwrap().digest,
        web.manifest.digest
    );
    assert!(
        artifactory
            .api_log()
            .contains(&"PUT /artifactory/api/repositories/team".to_string()),
        "{:?}",
        artifactory.api_log()
    );

    // load: an archive of the same images into a second Artifactory.
    env.run(&[
        "save",
        "-f",
        "list.txt",
        "-d",
        "images.zip",
        "--tls-verify=false",
    ])
    .ok();
    let upstream2 = RegistryServer::plain();
    let second = ArtifactoryServer::start(&upstream2.addr);
    second.write_auth_file(&env.path("auth.json"), ADMIN);
    env.run(&[
        "load",
        "-s",
        "images.zip",
        "-d",
        &second.addr,
        "--tls-verify=false",
        "--registry-adapter",
        plugin,
    ])
    .ok();
    assert_eq!(
        second.repositories().len(),
        2,
        "{:?}",
        second.repositories()
    );
    assert_eq!(
        Pusher::new(&upstream2)
            .manifest("team/app", "1")
            .await
            .unwrap()
            .digest,
        app.manifest.digest
    );

    // A deployer may push but not create: preparing fails with the reason, and the push that
    // follows is explained by the adapter's error classification.
    let upstream3 = RegistryServer::plain();
    let third = ArtifactoryServer::start(&upstream3.addr);
    third.write_auth_file(&env.path("auth.json"), DEPLOYER);
    env.write("one.txt", &format!("{}/team/app:1\n", source.addr));
    let refused = env.run(&[
        "mirror",
        "-f",
        "one.txt",
        "-d",
        &third.addr,
        "--tls-verify=false",
        "--registry-adapter",
        plugin,
    ]);
    assert_eq!(refused.code, 1, "{}", refused.output());
    let out = refused.output();
    assert!(
        out.contains("cannot create Artifactory repository team")
            && out.contains("only an admin user may create repositories"),
        "{out}"
    );
    assert!(
        out.contains("Create what the push needs in") && !out.contains("Harbor"),
        "{out}"
    );
    assert!(
        out.contains("the Artifactory repository does not exist"),
        "{out}"
    );
    assert!(third.repositories().is_empty());
}

/// `plugin test` runs the JavaScript adapter against recorded answers, and both components are
/// pushed to a registry as OCI artifacts and installed from it like the Rust plugins.
#[tokio::test(flavor = "multi_thread")]
async fn python_and_javascript_plugins_are_tested_pushed_and_installed_like_rust_ones() {
    let env = env();
    let adapter = component("artifactory");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/artifactory/fixtures/http.yaml");
    let run = env.run(&[
        "plugin",
        "test",
        adapter.to_str().unwrap(),
        "prepare-push",
        "artifactory.example.com",
        "docker-local/nginx",
        "team/app",
        "--http-fixtures",
        fixtures.to_str().unwrap(),
    ]);
    run.ok();
    assert!(
        run.stdout.contains("created Artifactory repository team")
            && run.stdout.contains("repository docker-local exists"),
        "{}",
        run.output()
    );

    // --strict: a request no recorded answer matches fails the run, naming it.
    let strict = env.run(&[
        "plugin",
        "test",
        adapter.to_str().unwrap(),
        "detect",
        "other.example.com",
        "--http-fixtures",
        fixtures.to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(strict.code, 1, "{}", strict.output());
    assert!(
        strict.output().contains(
            "--strict: no recorded answer for GET https://other.example.com/artifactory/api/system/ping"
        ),
        "{}",
        strict.output()
    );

    // Recorded answers refuse what a live run would: credentials over plain http, unless
    // --tls-verify=false.
    env.write(
        "plain.yaml",
        r#"
- request: { method: GET, url: "http://plain.example.com/artifactory/api/system/ping" }
  response: { status: 200, body: "OK" }
- request: { method: GET, url: "http://plain.example.com/artifactory/api/repositories/team" }
  response: { status: 200, body: '{"key":"team","packageType":"docker","rclass":"local"}' }
"#,
    );
    let plain = |extra: &[&str]| {
        let mut args = vec![
            "plugin",
            "test",
            adapter.to_str().unwrap(),
            "prepare-push",
            "plain.example.com",
            "team/app",
            "--http-fixtures",
            "plain.yaml",
        ];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    let refused = plain(&[]);
    assert_eq!(refused.code, 1, "{}", refused.output());
    assert!(
        refused
            .output()
            .contains("credentials are only sent over https"),
        "{}",
        refused.output()
    );
    let allowed = plain(&["--tls-verify=false"]);
    allowed.ok();
    assert!(
        allowed.stdout.contains("repository team exists"),
        "{}",
        allowed.output()
    );

    env.write("m/app.yaml", DEPLOYMENTS);
    let generated = env.run(&[
        "plugin",
        "test",
        component("k8s").to_str().unwrap(),
        "generate",
        "--option",
        "path=m",
        "--path",
        "m",
    ]);
    generated.ok();
    assert!(
        generated.stdout.contains("postgres:16")
            && generated.stdout.contains("m/app.yaml: StatefulSet/db"),
        "{}",
        generated.output()
    );

    let registry = RegistryServer::plain();
    for name in ["k8s", "artifactory"] {
        let file = component(name);
        let reference = format!("{}/plugins/{name}:0.1.0", registry.addr);
        env.run(&[
            "plugin",
            "push",
            file.to_str().unwrap(),
            &reference,
            "--tls-verify=false",
        ])
        .ok();
        env.run(&[
            "plugin",
            "install",
            &format!("oci://{reference}"),
            "--tls-verify=false",
        ])
        .ok();
    }
    // Only hangar's own plugins claim hangar as their vendor.
    let template = hangar_tests::plugins::wasm("template");
    let third_party = format!("{}/plugins/template:0.1.0", registry.addr);
    env.run(&[
        "plugin",
        "push",
        template.to_str().unwrap(),
        &third_party,
        "--tls-verify=false",
    ])
    .ok();
    let pusher = Pusher::new(&registry);
    let vendor = |repo: &'static str| {
        let pusher = &pusher;
        async move {
            let manifest = pusher.manifest(repo, "0.1.0").await.unwrap();
            let value: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
            value["annotations"]["org.opencontainers.image.vendor"]
                .as_str()
                .map(str::to_string)
        }
    };
    assert_eq!(
        vendor("plugins/artifactory").await.as_deref(),
        Some("hangar")
    );
    assert_eq!(vendor("plugins/template").await, None);

    // A log written to a file (not a terminal) carries no colour escapes.
    let debug = env.run(&["--debug", "plugin", "ls"]);
    debug.ok();
    assert!(!debug.stderr.contains('\x1b'), "{:?}", debug.stderr);

    let listed = env.run(&["plugin", "ls"]);
    listed.ok();
    assert!(
        listed.stdout.contains("k8s") && listed.stdout.contains("artifactory"),
        "{}",
        listed.stdout
    );
}

/// `plugin new` writes a project for every language and world that builds with its build script and
/// passes its own `plugin test` script (strict: every request answered) as written. The
/// toolchains hangar's own plugins were built with are reused (the componentize-py venv, the
/// componentize-js packages; Rust builds in target/test-scaffold) so the test does not fetch
/// them again.
#[test]
fn scaffolded_plugins_build_and_pass_their_tests_in_every_language() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let env = env();
    let work = tempfile::tempdir().unwrap();
    let worlds = [
        "registry-adapter",
        "list-generator",
        "scanner",
        "sbom-generator",
    ];
    for (lang, world) in ["rust", "python", "js"]
        .into_iter()
        .flat_map(|lang| worlds.map(|world| (lang, world)))
    {
        let name = format!("new-{lang}-{}", &world[..4]);
        let dir = work.path().join(&name);
        env.run(&[
            "plugin",
            "new",
            &name,
            "--world",
            world,
            "--lang",
            lang,
            "--dir",
            dir.to_str().unwrap(),
        ])
        .ok();
        assert_eq!(
            std::fs::read_to_string(dir.join("wit/plugin.wit")).unwrap(),
            std::fs::read_to_string(root.join("wit/plugin.wit")).unwrap()
        );
        if lang == "js" {
            std::os::unix::fs::symlink(
                root.join("target/plugin-js/node_modules"),
                dir.join("node_modules"),
            )
            .unwrap();
        }
        let built = std::process::Command::new(dir.join("build"))
            // Not plugins/target: the binary's freshness check watches the components there.
            .env("CARGO_TARGET_DIR", root.join("target/test-scaffold"))
            .env(
                "COMPONENTIZE_PY",
                root.join("target/plugin-python/venv/bin/componentize-py"),
            )
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{name}: build failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        assert!(dir.join(format!("{name}.wasm")).is_file());
        let tested = std::process::Command::new(dir.join("test"))
            .env("HANGAR", hangar_tests::hangar::bin())
            .env("HOME", work.path())
            .env("XDG_CACHE_HOME", shared_cache())
            .env_remove("XDG_DATA_HOME")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&tested.stdout);
        assert!(
            tested.status.success(),
            "{name}: test failed:\n{out}{}",
            String::from_utf8_lossy(&tested.stderr)
        );
        assert!(out.contains(&format!("\"name\": \"{name}\"")), "{out}");
        let shows = match world {
            "registry-adapter" => "created namespace team",
            "list-generator" => "registry.example.com:5000/team/app:1",
            // The OS read from the fixture rootfs through the image-fs resource.
            "scanner" => "\"os\": \"Example Linux 1.0\"",
            // The document written from the fixture report.
            _ => "busybox 1.36.1-r0",
        };
        assert!(out.contains(shows), "{name}: {out}");
    }
    // A name that cannot be a package is refused before anything is written.
    env.run(&["plugin", "new", "Bad_Name", "--world", "scanner"])
        .fails_with("use lower case letters, digits and '-'");
    assert!(!env.path("Bad_Name").exists());
}
