//! Plugin management as operators use it: install, list, remove; plugins as OCI artifacts in
//! registries and archives (the air-gap path); the config file; native plugins loaded only when
//! allowed and unchanged; `plugin test` over the template plugin's recorded answers.

use hangar_tests::hangar::Env;
use hangar_tests::harbor::HarborServer;
use hangar_tests::images;
use hangar_tests::plugins::{built, wasm};
use hangar_tests::pusher::Pusher;
use hangar_tests::registry::RegistryServer;
use std::path::PathBuf;

fn sha256_file(path: &std::path::Path) -> String {
    images::sha256(&std::fs::read(path).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_travel_through_registries_and_archives() {
    let registry = RegistryServer::plain();
    let template = wasm("template");
    let template_digest = sha256_file(&template);

    // Push from a file: an OCI manifest whose config is the plugin manifest and whose one
    // layer is the component.
    let dev = Env::new();
    let pushed = dev.run(&[
        "plugin",
        "push",
        template.to_str().unwrap(),
        &format!("{}/plugins/template", registry.addr),
        "--tls-verify=false",
    ]);
    assert_eq!(pushed.code, 0, "{}", pushed.output());
    let pusher = Pusher::new(&registry);
    let manifest = pusher.manifest("plugins/template", "0.1.0").await.unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    assert_eq!(
        parsed["config"]["mediaType"],
        "application/vnd.hangar.plugin.config.v1+json"
    );
    assert_eq!(parsed["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(parsed["layers"][0]["digest"], template_digest.as_str());
    assert_eq!(
        parsed["annotations"]["org.opencontainers.image.title"],
        "template"
    );

    // Install it elsewhere from the registry.
    let site = Env::new();
    let installed = site.run(&[
        "plugin",
        "install",
        &format!("oci://{}/plugins/template:0.1.0", registry.addr),
        "--tls-verify=false",
    ]);
    assert_eq!(installed.code, 0, "{}", installed.output());
    let file = site.path("home/.local/share/hangar/plugins/template/plugin.wasm");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&template).unwrap()
    );
    let listed = site.run(&["plugin", "ls"]);
    assert_eq!(listed.code, 0, "{}", listed.output());
    let line = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("template "))
        .unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(
        line.contains("registry-adapter") && line.contains("wasm"),
        "{line}"
    );
    assert!(line.ends_with(&file.display().to_string()), "{line}");
    assert!(listed.stdout.contains("built-in"), "{}", listed.stdout);

    // An image is not a plugin.
    let image = images::single(8400, 5000);
    pusher.push_image("library/app", Some("1"), &image).await;
    let not_plugin = site.run(&[
        "plugin",
        "install",
        &format!("oci://{}/library/app:1", registry.addr),
        "--tls-verify=false",
    ]);
    not_plugin.fails_with("is not a hangar plugin");

    // Into an archive with the images, across the gap, and installed from it or from the
    // registry it was loaded into.
    let carried = dev.run(&["archive", "init", "carry.zip"]);
    assert_eq!(carried.code, 0, "{}", carried.output());
    let stored = dev.run(&[
        "archive",
        "store",
        "plugin",
        "-f",
        "carry.zip",
        "harbor",
        template.to_str().unwrap(),
    ]);
    assert_eq!(stored.code, 0, "{}", stored.output());
    let ls = dev.run(&["archive", "ls", "carry.zip", "--image-only"]);
    assert_eq!(
        ls.stdout.lines().collect::<Vec<_>>(),
        [
            "docker.io/hangar-plugin/harbor:0.1.0",
            "docker.io/hangar-plugin/template:0.1.0"
        ],
        "{}",
        ls.output()
    );
    let table = dev.run(&["archive", "ls", "carry.zip"]);
    let harbor_line = table
        .stdout
        .lines()
        .find(|l| l.contains("docker.io/hangar-plugin/harbor:0.1.0"))
        .unwrap_or_else(|| panic!("{}", table.output()));
    assert!(
        harbor_line.contains("| NOARCH | NOOS |") && harbor_line.ends_with("| (hangar plugin)"),
        "{harbor_line}"
    );
    let verify = dev.run(&["archive", "verify", "carry.zip"]);
    assert_eq!(verify.code, 0, "{}", verify.output());

    let gap = Env::new();
    std::fs::copy(dev.path("carry.zip"), gap.path("carry.zip")).unwrap();
    let from_archive = gap.run(&["plugin", "install", "carry.zip", "--name", "template"]);
    assert_eq!(from_archive.code, 0, "{}", from_archive.output());
    assert_eq!(
        sha256_file(&gap.path("home/.local/share/hangar/plugins/template/plugin.wasm")),
        template_digest
    );
    // The same archive split in parts installs from its first part.
    let parted = Env::new();
    std::fs::copy(dev.path("carry.zip"), parted.path("carry.zip")).unwrap();
    assert_eq!(parted.run(&["archive", "init", "empty.zip"]).code, 0);
    let split = parted.run(&[
        "archive",
        "merge",
        "carry.zip",
        "empty.zip",
        "-o",
        "parts.zip",
        "--split-size",
        "1M",
    ]);
    assert_eq!(split.code, 0, "{}", split.output());
    assert!(parted.path("parts.zip.000").exists() && !parted.path("parts.zip").exists());
    let from_parts = parted.run(&["plugin", "install", "parts.zip.000", "--name", "template"]);
    assert_eq!(from_parts.code, 0, "{}", from_parts.output());
    assert_eq!(
        sha256_file(&parted.path("home/.local/share/hangar/plugins/template/plugin.wasm")),
        template_digest
    );
    let inner = RegistryServer::plain();
    let loaded = gap.run(&[
        "load",
        "-s",
        "carry.zip",
        "-d",
        &inner.addr,
        "--tls-verify=false",
        "--registry-adapter",
        "none",
    ]);
    assert_eq!(loaded.code, 0, "{}", loaded.output());
    let from_registry = gap.run(&[
        "plugin",
        "install",
        "--force",
        &format!("oci://{}/hangar-plugin/template:0.1.0", inner.addr),
        "--tls-verify=false",
    ]);
    assert_eq!(from_registry.code, 0, "{}", from_registry.output());

    let removed = gap.run(&["plugin", "rm", "template"]);
    assert_eq!(removed.code, 0, "{}", removed.output());
    assert!(
        !gap.path("home/.local/share/hangar/plugins/template")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn native_adapters_load_only_when_allowed_and_unchanged() {
    let src = RegistryServer::plain();
    let upstream = RegistryServer::plain();
    let harbor = HarborServer::start(&upstream.addr);
    let image = images::single(8500, 10_000);
    Pusher::new(&src)
        .push_image("vendor/app", Some("1"), &image)
        .await;
    let env = Env::new();
    harbor.write_auth_file(&env.path("auth.json"));
    env.write(
        "list.txt",
        &format!("{}/vendor/app:1 vendor/app 1\n", src.addr),
    );
    let library = built("native/libharbor.so");

    let refused = env.run(&["plugin", "install", library.to_str().unwrap()]);
    refused.fails_with("loads only with --allow-native-plugins");
    let installed = env.run(&[
        "plugin",
        "install",
        "--allow-native-plugins",
        library.to_str().unwrap(),
    ]);
    assert_eq!(installed.code, 0, "{}", installed.output());

    // The installed native harbor shadows the built-in one; without the flag it is refused.
    let denied = env.mirror(&harbor.addr, &["--registry-adapter", "harbor"]);
    denied.fails_with("plugin harbor is a native plugin: it runs unsandboxed");
    assert!(harbor.projects().is_empty());

    let allowed = env.mirror(
        &harbor.addr,
        &[
            "--registry-adapter",
            "harbor",
            "--allow-native-plugins",
            "--harbor-public",
        ],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.output());
    assert!(
        allowed
            .output()
            .contains("Created Harbor V2 project \"vendor\" (public)"),
        "{}",
        allowed.output()
    );
    assert_eq!(harbor.projects().get("vendor"), Some(&true));
    assert_eq!(
        Pusher::new(&upstream)
            .manifest("vendor/app", "1")
            .await
            .unwrap()
            .digest,
        image.manifest.digest
    );

    // A library changed after install is never loaded.
    let file = env.path("home/.local/share/hangar/plugins/harbor/plugin.so");
    std::fs::write(&file, std::fs::read(built("native/libhostile.so")).unwrap()).unwrap();
    let changed = env.mirror(
        &harbor.addr,
        &["--registry-adapter", "harbor", "--allow-native-plugins"],
    );
    changed.fails_with("but its manifest says");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_file_chooses_the_adapter_and_flags_override_it() {
    let src = RegistryServer::plain();
    let upstream = RegistryServer::plain();
    let harbor = HarborServer::start(&upstream.addr);
    Pusher::new(&src)
        .push_image("team-x/app", Some("1"), &images::single(8600, 8000))
        .await;
    let env = Env::new();
    harbor.write_auth_file(&env.path("auth.json"));
    env.write(
        "list.txt",
        &format!("{}/team-x/app:1 team-x/app 1\n", src.addr),
    );
    std::fs::create_dir_all(env.path("home/.config/hangar")).unwrap();
    std::fs::write(
        env.path("home/.config/hangar/config.yaml"),
        "plugins:\n  registry-adapter: none\n",
    )
    .unwrap();
    let off = env.mirror(&harbor.addr, &[]);
    off.fails_with("authentication required");
    assert!(harbor.projects().is_empty());

    let on = env.mirror(&harbor.addr, &["--registry-adapter", "auto"]);
    assert_eq!(on.code, 0, "{}", on.output());
    assert_eq!(harbor.projects().get("team-x"), Some(&false));

    std::fs::write(
        env.path("home/.config/hangar/config.yaml"),
        "plugins:\n  registry-adaptor: none\n",
    )
    .unwrap();
    let typo = env.mirror(&harbor.addr, &[]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.output().contains("config.yaml")
            && typo.output().contains("unknown field `registry-adaptor`"),
        "{}",
        typo.output()
    );
    let unknown = env.run(&["plugin", "inspect", "nope"]);
    assert_eq!(unknown.code, 1);
}

/// The template plugin runs against its recorded answers: what a vendor does before any
/// registry exists.
#[test]
fn the_template_plugin_runs_against_its_fixtures() {
    let env = Env::new();
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/template/fixtures/http.yaml");
    let template = wasm("template");
    let prepare = |extra: &[&str], plugin: &str, registry: &str, repositories: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["plugin", "test", plugin, "prepare-push", registry]);
        args.extend(repositories);
        args.extend(["--http-fixtures", fixtures.to_str().unwrap()]);
        env.run(&args)
    };
    let repositories = ["team/app", "library/nginx"];
    let run = prepare(
        &[],
        template.to_str().unwrap(),
        "registry.example.com",
        &repositories,
    );
    assert_eq!(run.code, 0, "{}", run.output());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["result"],
        serde_json::json!(["namespace team is ready"])
    );
    let calls = hangar_tests::hangar::plugin_requests(&report);
    assert_eq!(
        calls,
        [
            "GET https://registry.example.com/api/namespaces/library 200",
            "GET https://registry.example.com/api/namespaces/team 404",
            "POST https://registry.example.com/api/namespaces 201"
        ]
    );
    // The same plugin built natively answers the same, once allowed.
    let native = env.run(&[
        "plugin",
        "install",
        "--allow-native-plugins",
        built("native/libtemplate.so").to_str().unwrap(),
    ]);
    assert_eq!(native.code, 0, "{}", native.output());
    let again = prepare(
        &["--allow-native-plugins"],
        "template",
        "registry.example.com",
        &repositories,
    );
    assert_eq!(again.code, 0, "{}", again.output());
    assert_eq!(again.stdout, run.stdout);
    // A request with no fixture is answered 404 and reported, and the error is the plugin's.
    let missing = prepare(
        &[],
        template.to_str().unwrap(),
        "other.example.com",
        &["x/y"],
    );
    assert_eq!(missing.code, 1, "{}", missing.output());
    let report: serde_json::Value = serde_json::from_str(&missing.stdout).unwrap();
    assert_eq!(
        report["error"],
        "plugin template: creating namespace x: 404 no fixture for POST https://other.example.com/api/namespaces"
    );
    assert_eq!(report["requests"][0]["matched"], false);
}

/// A scanner reads an image straight from a registry: the platform picked from the index,
/// layers merged with their whiteouts, only the files it asks for.
#[tokio::test(flavor = "multi_thread")]
async fn a_scanner_reads_an_image_from_a_registry() {
    use images::{Format, Platform, files_layer, image, index};
    let registry = RegistryServer::plain();
    let base = files_layer(
        Format::Oci,
        &[
            ("usr/lib/os-release", "PRETTY_NAME=\"Test\"\nID=testos\n"),
            ("etc/os-release", "->../usr/lib/os-release"),
            ("usr/bin/", ""),
            ("usr/bin/sh", "5.2"),
            ("usr/bin/old", "0.9"),
            ("etc/shadow", "root:*:"),
        ],
    );
    let update = files_layer(
        Format::Oci,
        &[
            ("usr/bin/.wh.old", ""),
            ("usr/bin/new", "1.1"),
            ("etc/.wh.shadow", ""),
        ],
    );
    let amd64 = image(
        Format::Oci,
        Platform::new("linux", "amd64", None),
        std::slice::from_ref(&base),
    );
    let arm64 = image(
        Format::Oci,
        Platform::new("linux", "arm64", Some("v8")),
        &[base, update],
    );
    let pusher = Pusher::new(&registry);
    pusher
        .push_index(
            "os/app",
            "1",
            &index(Format::Oci, &[amd64.clone(), arm64.clone()]),
            &[&amd64, &arm64],
        )
        .await;
    let env = Env::new();
    let scan = |platform: &str| {
        env.run(&[
            "plugin",
            "test",
            wasm("census").to_str().unwrap(),
            "scan",
            "--image",
            &format!("{}/os/app:1", registry.addr),
            "--platform",
            platform,
            "--tls-verify=false",
        ])
    };
    let packages = |run: &hangar_tests::hangar::Run| {
        assert_eq!(run.code, 0, "{}", run.output());
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let result = &report["result"];
        let packages: Vec<String> = result["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap(),
                    p["ecosystem"].as_str().unwrap()
                )
            })
            .collect();
        (packages, result["findings"].as_array().unwrap().len())
    };
    assert_eq!(
        packages(&scan("linux/arm64")),
        (
            vec!["new 1.1 testos".to_string(), "sh 5.2 testos".to_string()],
            0
        )
    );
    assert_eq!(
        packages(&scan("linux/amd64")),
        (
            vec!["old 0.9 testos".to_string(), "sh 5.2 testos".to_string()],
            1
        )
    );
    let missing = scan("linux/s390x");
    missing.fails_with("no linux/s390x image (available: linux/amd64, linux/arm64/v8)");
}
