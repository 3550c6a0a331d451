//! The sandbox against a plugin that misbehaves on request (plugins/testing/hostile): each
//! misdeed is stopped with a clear error, and the host goes on using the plugin.

use super::registry_adapter::RegistryAdapter;
use super::runtime::{Limits, PluginError, Runtime};
use std::time::{Duration, Instant};

/// A built test plugin; the test run builds them first (`plugins/build`), so a missing one
/// is a failure with the reason, never a skip.
fn plugin(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
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
        adapter.prepare_push("r", &["a/b".into()]).await.unwrap(),
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
        not_a_component.starts_with("plugin junk: not a valid component"),
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
    println!(
        "{}",
        serde_json::json!({
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
