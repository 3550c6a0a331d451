//! The sandbox against a plugin that misbehaves on request (plugins/testing/hostile): each
//! misdeed is stopped with a clear error, and the host goes on using the plugin.

use super::registry_adapter::RegistryAdapter;
use super::runtime::{Limits, PluginError, Runtime};
use std::time::{Duration, Instant};

/// A built test plugin; the test run builds them first (`plugins/build`), so a missing one
/// is a failure with the reason, never a skip.
pub(crate) fn plugin(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins first with plugins/build (tests/run does)",
            path.display()
        )
    })
}

/// A test plugin built natively (`plugins/build` builds both).
fn native_plugin(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/target/native")
        .join(format!("lib{name}.so"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins first with plugins/build (tests/run does)",
            path.display()
        )
    })
}

async fn hostile(limits: Limits) -> RegistryAdapter {
    let runtime = Runtime::new(limits, None).unwrap();
    RegistryAdapter::load(runtime, "hostile", &plugin("hostile"), vec![], true)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn misbehaving_plugins_are_stopped_and_the_host_goes_on() {
    let limits = Limits {
        time: Duration::from_millis(300),
        memory: 64 << 20,
    };
    let adapter = hostile(limits).await;
    assert_eq!(adapter.name(), "hostile");

    let started = Instant::now();
    let looped = adapter.detect("loop").await.unwrap_err();
    assert!(matches!(looped, PluginError::TimedOut { .. }), "{looped}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        looped.to_string(),
        "plugin hostile: stopped after 300ms (time limit)"
    );

    let hoarded = adapter.detect("alloc").await.unwrap_err();
    assert!(
        matches!(hoarded, PluginError::OutOfMemory { limit_mib: 64, .. }),
        "{hoarded}"
    );

    let passwd = adapter.detect("passwd").await.unwrap_err().to_string();
    assert!(
        passwd.starts_with("plugin hostile: reading /etc/passwd:"),
        "{passwd}"
    );

    let undeclared = adapter.detect("undeclared").await.unwrap_err().to_string();
    assert!(
        undeclared.contains("127.0.0.1:9 is not a host this plugin may reach"),
        "{undeclared}"
    );

    let panicked = adapter.detect("panic").await.unwrap_err();
    assert!(
        matches!(panicked, PluginError::Trapped { .. }),
        "{panicked}"
    );

    // Every call runs in a fresh instance: the plugin still works after all that.
    assert!(adapter.detect("yes").await.unwrap());
    assert!(!adapter.detect("no").await.unwrap());
    assert_eq!(
        adapter
            .prepare_push("r", &["a/b".into()], &[])
            .await
            .unwrap(),
        vec!["a/b".to_string()]
    );
    assert_eq!(
        adapter.classify_error(401, "x").await.unwrap(),
        Some("401: x".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_components_are_cached_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(Limits::default(), Some(dir.path().to_path_buf())).unwrap();
    let bytes = plugin("harbor");
    let cold = Instant::now();
    runtime.component("harbor", &bytes).unwrap();
    let cold = cold.elapsed();
    let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1);
    let name = cached[0].file_name().into_string().unwrap();
    assert!(name.ends_with("-wasmtime48.cwasm"), "{name}");
    let warm = Instant::now();
    runtime.component("harbor", &bytes).unwrap();
    let warm = warm.elapsed();
    eprintln!("harbor: compiled in {cold:?}, loaded from the cache in {warm:?}");
    assert!(warm < cold, "the cache is faster ({warm:?} vs {cold:?})");
    // A damaged cache file is compiled again, not trusted.
    std::fs::write(cached[0].path(), b"garbage").unwrap();
    runtime.component("harbor", &bytes).unwrap();
    assert!(std::fs::metadata(cached[0].path()).unwrap().len() > 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_for_another_world_is_refused_clearly() {
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let not_a_component =
        RegistryAdapter::load(runtime.clone(), "junk", b"\0asm junk", vec![], true)
            .await
            .err()
            .unwrap()
            .to_string();
    assert!(
        not_a_component == "plugin junk: not a WebAssembly component",
        "{not_a_component}"
    );
}

/// The plugin numbers behind `bench/plugins.sh` (ignored in the normal run): compile and cache
/// times, the cost of one trivial call (fresh instance + `classify-error`), component sizes.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn plugin_overhead_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let harbor = plugin("harbor");
    let runtime = Runtime::new(Limits::default(), Some(dir.path().to_path_buf())).unwrap();
    let cold = Instant::now();
    runtime.component("harbor", &harbor).unwrap();
    let cold = cold.elapsed();
    let mut cached = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        runtime.component("harbor", &harbor).unwrap();
        cached.push(t.elapsed());
    }
    cached.sort();
    let load = Instant::now();
    let adapter = RegistryAdapter::load(runtime, "harbor", &harbor, vec![], true)
        .await
        .unwrap();
    let load = load.elapsed();
    let mut calls = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        adapter.classify_error(500, "{}").await.unwrap();
        calls.push(t.elapsed());
    }
    calls.sort();
    let native_load = Instant::now();
    let native = RegistryAdapter::load_native(
        Runtime::new(Limits::default(), None).unwrap(),
        "harbor",
        &native_plugin("harbor"),
        vec![],
        true,
    )
    .await
    .unwrap();
    let native_load = native_load.elapsed();
    let mut native_calls = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        native.classify_error(500, "{}").await.unwrap();
        native_calls.push(t.elapsed());
    }
    native_calls.sort();
    let sizes: serde_json::Map<String, serde_json::Value> =
        ["harbor", "template", "hostile", "lister", "census"]
            .iter()
            .map(|n| (n.to_string(), plugin(n).len().into()))
            .collect();
    println!(
        "{}",
        serde_json::json!({
            "component_bytes": sizes,
            "native_harbor_bytes": native_plugin("harbor").len(),
            "native_load_ms": native_load.as_secs_f64() * 1e3,
            "native_call_us_median": native_calls[native_calls.len() / 2].as_secs_f64() * 1e6,
            "harbor_bytes": harbor.len(),
            "hostile_bytes": plugin("hostile").len(),
            "compile_ms": cold.as_secs_f64() * 1e3,
            "cached_load_ms_median": cached[cached.len() / 2].as_secs_f64() * 1e3,
            "load_and_describe_from_cache_ms": load.as_secs_f64() * 1e3,
            "call_us_median": calls[calls.len() / 2].as_secs_f64() * 1e6,
            "call_us_p99": calls[calls.len() * 99 / 100].as_secs_f64() * 1e6,
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_come_from_the_component_and_its_own_description() {
    use super::manifest::{Kind, World, describe};
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let harbor = plugin("harbor");
    let m = describe(&runtime, "harbor.wasm", &harbor).await.unwrap();
    assert_eq!(
        (m.name.as_str(), m.world, m.kind),
        ("harbor", World::RegistryAdapter, Kind::Wasm)
    );
    assert_eq!(m.contract, "hangar:plugin@0.1.1");
    assert_eq!(m.capabilities, ["endpoints", "http", "log"]);
    assert_eq!(m.hosts, ["$registry"]);
    assert_eq!(m.sha256, super::manifest::sha256_hex(&harbor));
    assert_eq!(m.size, harbor.len() as u64);
    let lister = describe(&runtime, "lister", &plugin("lister"))
        .await
        .unwrap();
    assert_eq!(lister.world, World::ListGenerator);
    // Capabilities are what the component really imports: this one never logs or calls out.
    assert_eq!(lister.capabilities, ["files"]);
    let census = describe(&runtime, "census", &plugin("census"))
        .await
        .unwrap();
    assert_eq!(census.world, World::Scanner);
    assert_eq!(census.capabilities, ["image-fs"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_for_another_contract_is_refused_before_it_runs() {
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let refused = super::manifest::describe(&runtime, "future.wasm", &plugin("future"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        refused,
        "plugin future.wasm: built for hangar:plugin@0.2.0, but this hangar speaks hangar:plugin@0.1.1; rebuild it with a matching hangar-plugin-sdk"
    );
    // Loading it as an adapter directly fails at the world check, also before it runs.
    let direct = RegistryAdapter::load(runtime, "future", &plugin("future"), vec![], true)
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        direct,
        "plugin future: does not export the registry-adapter of hangar:plugin@0.1.1: no exported instance named `hangar:plugin/registry-adapter@0.1.1`"
    );
}

/// A plugin built against the first contract (plugins/testing/legacy, its WIT frozen at
/// 0.1.0) loads on this 0.1.1 host and every call works: 0.1.x only adds imports.
#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_built_for_contract_0_1_0_still_loads_and_runs() {
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let bytes = plugin("legacy");
    let m = super::manifest::describe(&runtime, "legacy.wasm", &bytes)
        .await
        .unwrap();
    assert_eq!(
        (m.name.as_str(), m.contract.as_str()),
        ("legacy", "hangar:plugin@0.1.0")
    );
    assert_eq!(m.capabilities, ["log"]);
    let adapter = RegistryAdapter::load(runtime, "legacy", &bytes, vec![], true)
        .await
        .unwrap();
    assert!(adapter.detect("legacy.test").await.unwrap());
    assert!(!adapter.detect("other.test").await.unwrap());
    assert_eq!(
        adapter
            .prepare_push("legacy.test", &["a/b".into(), "c/d".into()], &[])
            .await
            .unwrap(),
        ["legacy.test: a/b, c/d ready"]
    );
    assert_eq!(
        adapter.classify_error(418, "").await.unwrap().as_deref(),
        Some("a teapot answered")
    );
}

/// `endpoints.registry-url`: against a registry that speaks only plain HTTP, with TLS
/// verification off, the host finds `http://` once per run and the adapter (Harbor) reaches it
/// there directly: every request the plugin makes is plain http, none is tried over https, and
/// the host's own https probe happens once for two calls. With verification on, the registry
/// is not reached at all, and a host the plugin may not reach is not probed.
#[tokio::test(flavor = "multi_thread")]
async fn adapters_are_told_the_scheme_and_ping_once() {
    use super::sandbox::{self, Transport};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let server_seen = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            if n > 0 && buf[0] == 0x16 {
                // A TLS ClientHello on a plain port.
                server_seen.lock().unwrap().push("TLS".into());
                continue;
            }
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let line = head.lines().next().unwrap_or_default().to_string();
            let path = line.split(' ').nth(1).unwrap_or_default().to_string();
            server_seen.lock().unwrap().push(line.clone());
            let (status, body) = match path.as_str() {
                "/v2/" => ("401 Unauthorized", "{}"),
                "/api/v2.0/ping" => ("200 OK", "Pong"),
                "/api/v2.0/systeminfo" => ("200 OK", r#"{"harbor_version":"v2.9.0"}"#),
                p if p.starts_with("/api/v2.0/projects?project_name=") => ("200 OK", ""),
                _ => ("404 Not Found", ""),
            };
            let _ = socket
                .write_all(
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let mut adapter =
        RegistryAdapter::load(runtime.clone(), "harbor", &plugin("harbor"), vec![], false)
            .await
            .unwrap();
    let (transport, log) = sandbox::http_client(&runtime, false).unwrap().recorded();
    adapter.set_transport(transport);
    assert!(adapter.detect(&addr).await.unwrap());
    let notes = adapter
        .prepare_push(&addr, &["library/a".into()], &[])
        .await
        .unwrap();
    assert_eq!(notes, [r#"Project "library" already exists"#]);
    let urls: Vec<String> = log.exchanges().into_iter().map(|e| e.url).collect();
    let base = format!("http://{addr}/api/v2.0");
    assert_eq!(
        urls,
        [
            format!("{base}/ping"),
            format!("{base}/systeminfo"),
            format!("{base}/ping"),
            format!("{base}/projects?project_name=library"),
        ]
    );
    let probes = seen.lock().unwrap().clone();
    assert_eq!(
        probes.iter().filter(|l| *l == "TLS").count(),
        1,
        "{probes:?}"
    );
    assert_eq!(
        probes.iter().filter(|l| l.starts_with("GET /v2/ ")).count(),
        1,
        "{probes:?}"
    );

    // Verification on: https only, so the plain-HTTP registry is not reached.
    let verifying = sandbox::http_client(&runtime, true).unwrap();
    let refused = sandbox::registry_url(&verifying, std::slice::from_ref(&addr), &addr)
        .await
        .unwrap_err();
    assert!(refused.starts_with(&format!("{addr}: ")), "{refused}");
    // Only hosts the plugin may reach are probed.
    let before = seen.lock().unwrap().len();
    let elsewhere = sandbox::registry_url(&verifying, &[], &addr)
        .await
        .unwrap_err();
    assert_eq!(
        elsewhere,
        format!("{addr} is not a host this plugin may reach")
    );
    assert_eq!(seen.lock().unwrap().len(), before);
    // Recorded answers decide from their URLs.
    let fixtures = super::fixtures::Fixtures::parse(&format!(
        "- request: {{ method: GET, url: \"http://{addr}/api/v2.0/ping\" }}\n  response: {{ status: 200 }}\n"
    ))
    .unwrap();
    let recorded = Transport::Fixtures(Arc::new(fixtures));
    assert_eq!(
        sandbox::registry_url(&recorded, std::slice::from_ref(&addr), &addr).await,
        Ok(format!("http://{addr}"))
    );
    let other = "registry.example.com".to_string();
    assert_eq!(
        sandbox::registry_url(&recorded, std::slice::from_ref(&other), &other).await,
        Ok("https://registry.example.com".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_installs_shadows_verifies_and_removes() {
    use super::catalog::{Catalog, Origin};
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut catalog = Catalog {
        dir: Some(home.path().join("plugins")),
        ..Catalog::default()
    };
    let listed = |c: &Catalog| {
        let c = c.clone();
        let runtime = runtime.clone();
        async move {
            c.list(&runtime)
                .await
                .into_iter()
                .map(|f| {
                    let f = f.unwrap();
                    (f.manifest.name, f.origin)
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(&catalog).await,
        [
            ("harbor".to_string(), Origin::Embedded),
            ("helm".to_string(), Origin::Embedded),
            ("rancher".to_string(), Origin::Embedded),
            ("osv-scanner".to_string(), Origin::Embedded),
            ("sbom".to_string(), Origin::Embedded)
        ]
    );

    let hostile = plugin("hostile");
    let m = catalog
        .install(&runtime, &hostile, "hostile.wasm", false)
        .await
        .unwrap();
    let installed = home.path().join("plugins/hostile/plugin.wasm");
    assert_eq!(std::fs::read(&installed).unwrap(), hostile);
    let recorded: super::manifest::Manifest = serde_json::from_slice(
        &std::fs::read(home.path().join("plugins/hostile/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(recorded, m);
    let again = catalog
        .install(&runtime, &hostile, "hostile.wasm", false)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        again,
        "plugin hostile 0.1.0 is already installed; use --force to replace it with 0.1.0"
    );
    catalog
        .install(&runtime, &hostile, "hostile.wasm", true)
        .await
        .unwrap();

    // An installed plugin shadows the built-in one of the same name; --plugin shadows both.
    let found = catalog.find(&runtime, "hostile").await.unwrap();
    assert_eq!(found.origin, Origin::Installed(installed.clone()));
    assert_eq!(catalog.bytes(&found).unwrap(), hostile);
    let given = home.path().join("other.wasm");
    std::fs::write(&given, &hostile).unwrap();
    catalog.given = vec![given.clone()];
    assert_eq!(
        catalog.find(&runtime, "hostile").await.unwrap().origin,
        Origin::Given(given)
    );
    catalog.given.clear();

    // A plugin file changed after it was installed is refused.
    std::fs::write(&installed, plugin("harbor")).unwrap();
    let changed = catalog.bytes(&found).unwrap_err().to_string();
    assert!(changed.contains("but its manifest says"), "{changed}");

    assert_eq!(catalog.remove("hostile").unwrap().name, "hostile");
    assert!(!home.path().join("plugins/hostile").exists());
    let builtin = catalog.remove("harbor").unwrap_err().to_string();
    assert!(
        builtin.contains("built into hangar and cannot be removed"),
        "{builtin}"
    );
    assert_eq!(
        catalog.remove("../etc").unwrap_err().to_string(),
        "no plugin named \"../etc\" (see `hangar plugin list`)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn list_generators_read_only_the_paths_they_were_given() {
    use super::list_generator::ListGenerator;
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    std::fs::write(
        dir.path().join("lists/a.txt"),
        "nginx:1.25\n\nbusybox:1 # os=windows\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("lists/b.txt"), "alpine:3\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "nope:1\n").unwrap();
    let lists = dir.path().join("lists");
    for (label, generator) in [
        (
            "wasm",
            ListGenerator::load(runtime.clone(), "lister", &plugin("lister"))
                .await
                .unwrap(),
        ),
        (
            "native",
            ListGenerator::load_native(runtime.clone(), "lister", &native_plugin("lister"))
                .await
                .unwrap(),
        ),
    ] {
        let entries = generator
            .generate(
                &[("dir".into(), lists.display().to_string())],
                vec![lists.clone()],
                &[],
            )
            .await
            .unwrap()
            .entries;
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.reference.as_str(), e.os.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("nginx:1.25", None),
                ("busybox:1", Some("windows")),
                ("alpine:3", None)
            ],
            "{label}"
        );
        // Outside the granted directory, even through `..`: refused.
        let outside = format!("{}/../secret.txt", lists.display());
        let refused = generator
            .generate(
                &[("file".into(), outside.clone())],
                vec![lists.clone()],
                &[],
            )
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            format!(
                "plugin lister: {outside}: not one of the paths given to this plugin on the command line"
            ),
            "{label}"
        );
        let passwd = generator
            .generate(
                &[("file".into(), "/etc/passwd".into())],
                vec![lists.clone()],
                &[],
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            passwd.contains("not one of the paths given"),
            "{label}: {passwd}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scanners_read_the_image_filesystem_on_demand() {
    use super::image_fs::DirTree;
    use super::scanner::{Platform, Scanner};
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/lib")).unwrap();
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("usr/lib/os-release"), "NAME=Test\nID=\"testos\"\n").unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
    std::fs::write(r.join("usr/bin/one"), "1.0\n").unwrap();
    std::fs::write(
        r.join("usr/bin/two"),
        "2.5-r1 and more bytes than the scanner reads",
    )
    .unwrap();
    std::os::unix::fs::symlink("one", r.join("usr/bin/link")).unwrap();
    // An absolute link that would leave the root on the host stays inside the image.
    std::os::unix::fs::symlink("/etc/shadow", r.join("etc/gshadow")).unwrap();
    let scanner = Scanner::load(runtime, "census", &plugin("census"))
        .await
        .unwrap();
    assert_eq!((scanner.name(), scanner.version()), ("census", "0.1.0"));
    let platform = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let report = scanner
        .scan(
            "test:1",
            &platform,
            std::sync::Arc::new(DirTree::new(r)),
            &[],
            vec![],
        )
        .await
        .unwrap();
    let packages: Vec<_> = report
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.ecosystem.as_str()))
        .collect();
    assert_eq!(
        packages,
        [("one", "1.0", "testos"), ("two", "2.5-r1 a", "testos")]
    );
    assert!(
        report.findings.is_empty(),
        "no /etc/shadow inside the image"
    );
    std::fs::write(r.join("etc/shadow"), "root:*:").unwrap();
    let report = scanner
        .scan(
            "test:1",
            &platform,
            std::sync::Arc::new(DirTree::new(r)),
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].id, "CENSUS-1");
}

/// The same adapter source as a component and as a native library, against the same recorded
/// Harbor answers: identical results and identical requests.
#[tokio::test(flavor = "multi_thread")]
async fn one_adapter_through_both_paths_gives_identical_results() {
    use super::fixtures::Fixtures;
    use super::sandbox::Transport;
    use std::sync::Arc;
    let fixtures_yaml = r#"
- request: { method: GET, url: "https://harbor.test/api/v2.0/ping" }
  response: { status: 200, body: "Pong" }
- request: { method: GET, url: "https://harbor.test/api/v2.0/systeminfo" }
  response: { status: 200, body: '{"harbor_version":"v2.11.0"}' }
- request: { method: HEAD, url: "https://harbor.test/api/v2.0/projects?project_name=library" }
  response: { status: 200 }
- request: { method: HEAD, url: "https://harbor.test/api/v2.0/projects?project_name=team" }
  response: { status: 404 }
- request: { method: POST, url: "https://harbor.test/api/v2.0/projects" }
  response: { status: 201 }
"#;
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let mut outcomes = Vec::new();
    for native in [false, true] {
        let fixtures = Arc::new(Fixtures::parse(fixtures_yaml).unwrap());
        let mut adapter = if native {
            RegistryAdapter::load_native(
                runtime.clone(),
                "harbor",
                &native_plugin("harbor"),
                vec![],
                true,
            )
            .await
            .unwrap()
        } else {
            RegistryAdapter::load(runtime.clone(), "harbor", &plugin("harbor"), vec![], true)
                .await
                .unwrap()
        };
        assert_eq!(adapter.is_native(), native);
        let (transport, log) = Transport::Fixtures(fixtures.clone()).recorded();
        adapter.set_transport(transport);
        let detected = adapter.detect("harbor.test").await.unwrap();
        let notes = adapter
            .prepare_push(
                "harbor.test",
                &["library/a".into(), "team/b".into(), "team/c".into()],
                &[("public".into(), "true".into())],
            )
            .await
            .unwrap();
        let unauthorized = adapter
            .classify_error(401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized: authentication required"}]}"#)
            .await
            .unwrap();
        let unknown = adapter.classify_error(500, "oops").await.unwrap();
        let other_host = adapter.detect("elsewhere.test").await.unwrap();
        let requests: Vec<_> = log
            .exchanges()
            .into_iter()
            .map(|e| (e.method, e.url, e.body, e.with_credentials, e.status))
            .collect();
        outcomes.push((
            adapter.name().to_string(),
            adapter.version().to_string(),
            adapter.declared_hosts().to_vec(),
            detected,
            notes,
            unauthorized,
            unknown,
            other_host,
            requests,
        ));
    }
    let wasm = &outcomes[0];
    assert!(wasm.3, "detected");
    assert_eq!(
        wasm.4,
        [
            "Project \"library\" already exists",
            "Created Harbor V2 project \"team\" (public)"
        ]
    );
    assert!(
        wasm.5
            .as_deref()
            .unwrap()
            .contains("the project does not exist")
    );
    assert_eq!(wasm.6, None);
    assert!(!wasm.7, "a host with no fixture is not Harbor");
    let post = wasm.8.iter().find(|r| r.0 == "POST").unwrap();
    assert_eq!(
        post.2.as_deref(),
        Some(r#"{"metadata":{"public":"true"},"project_name":"team"}"#)
    );
    assert!(post.3, "the host adds credentials for project calls");
    assert_eq!(outcomes[0], outcomes[1], "native and wasm agree");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_native_plugin_is_caught_at_the_boundary() {
    let runtime = Runtime::new(Limits::default(), None).unwrap();
    let adapter =
        RegistryAdapter::load_native(runtime, "hostile", &native_plugin("hostile"), vec![], true)
            .await
            .unwrap();
    let panicked = adapter.detect("panic").await.unwrap_err();
    assert!(
        matches!(panicked, PluginError::Trapped { .. }),
        "{panicked}"
    );
    assert!(
        panicked.to_string().contains("the plugin gave up"),
        "{panicked}"
    );
    // The library (and hangar) go on.
    assert!(adapter.detect("yes").await.unwrap());
    let undeclared = adapter.detect("undeclared").await.unwrap_err().to_string();
    assert!(
        undeclared.contains("127.0.0.1:9 is not a host this plugin may reach"),
        "{undeclared}"
    );
    // A component is not a native library, and a library without the ABI is refused.
    let not_native = super::native::NativePlugin::load("x", &plugin("harbor"))
        .err()
        .unwrap();
    assert_eq!(not_native.to_string(), "plugin x: not a shared library");
    // zlib is part of every Debian system: a real library that is not a plugin.
    let libz = std::fs::read(format!(
        "/lib/{}-linux-gnu/libz.so.1",
        std::env::consts::ARCH
    ))
    .expect("zlib (Debian's zlib1g) is installed");
    let refused = super::native::NativePlugin::load("libz", &libz)
        .err()
        .unwrap()
        .to_string();
    assert!(
        refused.contains("does not export hangar_plugin_abi_version"),
        "{refused}"
    );
}

/// A declared host that redirects elsewhere does not take the plugin past the allow-list:
/// redirects are not followed, the plugin sees the 3xx.
#[tokio::test(flavor = "multi_thread")]
async fn redirects_do_not_lead_past_the_allow_list() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/secret\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let adapter = hostile(Limits::default()).await;
    assert_eq!(
        adapter
            .prepare_push(&addr, &["fetch".into()], &[])
            .await
            .unwrap(),
        ["302"]
    );
}

/// A first-party plugin written in another language (plugins/build writes them to
/// plugins/target/components/).
fn component_of(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/target/components")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins first with plugins/build (tests/run does)",
            path.display()
        )
    })
}

/// Costs of the same worlds in Rust, Python and JavaScript (bench/plugins.sh prints them):
/// size, cold compile, loading the compiled form from the cache, cached load + instantiate +
/// `describe` (what a command pays each run), and one call on a fresh instance.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bench/plugins.sh runs it"]
async fn language_overhead_numbers() {
    use super::list_generator::ListGenerator;
    let median = |mut v: Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    let mut rows = Vec::new();
    for (name, language, bytes) in [
        ("harbor", "Rust", plugin("harbor")),
        ("artifactory", "JavaScript", component_of("artifactory")),
        ("helm", "Rust", plugin("helm")),
        ("k8s", "Python", component_of("k8s")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(Limits::default(), Some(dir.path().to_path_buf())).unwrap();
        let cold = Instant::now();
        runtime.component(name, &bytes).unwrap();
        let cold = cold.elapsed();
        let cached: Vec<_> = (0..5)
            .map(|_| {
                let t = Instant::now();
                runtime.component(name, &bytes).unwrap();
                t.elapsed()
            })
            .collect();
        // What a new process pays: a fresh runtime (empty in-memory state) over the warm cache.
        let mut warm = Vec::new();
        let mut calls = Vec::new();
        for _ in 0..5 {
            let fresh = Runtime::new(Limits::default(), Some(dir.path().to_path_buf())).unwrap();
            let t = Instant::now();
            if name == "harbor" || name == "artifactory" {
                let adapter = RegistryAdapter::load(fresh, name, &bytes, vec![], true)
                    .await
                    .unwrap();
                warm.push(t.elapsed());
                let t = Instant::now();
                adapter.classify_error(500, "{}").await.unwrap();
                calls.push(t.elapsed());
            } else {
                let generator = ListGenerator::load(fresh, name, &bytes).await.unwrap();
                warm.push(t.elapsed());
                // One call: the generator refuses an empty option list (its own validation).
                let t = Instant::now();
                let _ = generator.generate(&[], Vec::new(), &[]).await;
                calls.push(t.elapsed());
            }
        }
        rows.push(serde_json::json!({
            "plugin": name,
            "language": language,
            "bytes": bytes.len(),
            "cold_compile_ms": cold.as_secs_f64() * 1e3,
            "cached_load_ms": median(cached),
            "warm_start_ms": median(warm),
            "call_ms": median(calls),
        }));
    }
    println!("{}", serde_json::Value::Array(rows));
}

/// Recorded answers: method and URL, then `body_contains`; entries matching the same request
/// answer in turn and the last one repeats.
#[test]
fn fixtures_match_bodies_and_answer_in_sequence() {
    use super::fixtures::Fixtures;
    let fixtures = Fixtures::parse(
        r#"
- request: { method: GET, url: "https://r.example.com/api/ns/team" }
  response: { status: 404 }
- request: { method: GET, url: "https://r.example.com/api/ns/team" }
  response: { status: 200, body: "team" }
- request: { method: POST, url: "https://r.example.com/api/ns", body_contains: '"name":"team"' }
  response: { status: 201 }
- request: { method: POST, url: "https://r.example.com/api/ns" }
  response: { status: 400, body: "unexpected body" }
"#,
    )
    .unwrap();
    let get = |f: &Fixtures| f.answer("GET", "https://r.example.com/api/ns/team", None).0;
    assert_eq!(get(&fixtures), 404);
    assert_eq!(get(&fixtures), 200);
    assert_eq!(get(&fixtures), 200, "the last answer repeats");
    let post = |body: &str| {
        fixtures
            .answer(
                "POST",
                "https://r.example.com/api/ns",
                Some(body.as_bytes()),
            )
            .0
    };
    assert_eq!(post(r#"{"name":"team"}"#), 201);
    assert_eq!(post(r#"{"name":"other"}"#), 400);
    assert!(!fixtures.matches("DELETE", "https://r.example.com/api/ns", None));
    let (status, _, body) = fixtures.answer("DELETE", "https://r.example.com/api/ns", None);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("no fixture for DELETE"));
}
