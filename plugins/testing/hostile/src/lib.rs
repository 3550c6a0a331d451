//! A registry adapter that misbehaves on request, for the host's sandbox tests: `detect` does
//! what its argument names.

use hangar_plugin_sdk::registry_adapter::{Guest, Info};
use hangar_plugin_sdk::{http, log};

struct Hostile;

impl Guest for Hostile {
    fn describe() -> Info {
        Info {
            name: "hostile".into(),
            version: "0.1.0".into(),
            hosts: vec!["$registry".into()],
        }
    }

    fn detect(registry: String) -> Result<bool, String> {
        match registry.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = n.wrapping_add(1);
                    std::hint::black_box(n);
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "passwd" => std::fs::read_to_string("/etc/passwd")
                .map(|_| true)
                .map_err(|e| format!("reading /etc/passwd: {e}")),
            "undeclared" => http::get("http://127.0.0.1:9/", false).map(|_| true),
            "panic" => panic!("the plugin gave up"),
            other => {
                log::info(&format!("detect {other}"));
                Ok(other == "yes")
            }
        }
    }

    fn prepare_push(
        _registry: String,
        repositories: Vec<String>,
        _options: Vec<(String, String)>,
    ) -> Result<Vec<String>, String> {
        // "fetch": what a GET of the registry's root answers (the redirect test).
        if repositories == ["fetch"] {
            let response = http::get(&format!("http://{_registry}/"), false)?;
            return Ok(vec![response.status.to_string()]);
        }
        Ok(repositories)
    }

    fn classify_error(status: u16, body: String) -> Option<String> {
        Some(format!("{status}: {body}"))
    }
}

hangar_plugin_sdk::export_registry_adapter!(Hostile);
