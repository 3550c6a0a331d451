//! A registry adapter to copy and adapt. It speaks a small made-up vendor API:
//! `GET /api/ping` answers 200 on the vendor's registries; `GET /api/namespaces/<ns>` is 200
//! when a namespace exists, 404 when not; `POST /api/namespaces` with `{"name": ns}` creates
//! one (201, or 409 when it already exists). Replace the URLs and JSON with your API's.
//!
//! Try it without a registry: `hangar plugin test target/wasm32-wasip2/release/template.wasm
//! prepare-push registry.example.com team/app --http-fixtures fixtures/http.yaml`.

use hangar_plugin_sdk::registry_adapter::Guest;
use hangar_plugin_sdk::{http, log};
use std::collections::BTreeSet;

struct Template;

// `describe` answers this crate's name and version (Cargo.toml) and `HOSTS`; `prepare_push`
// and `classify_error` may be left out (nothing to prepare, no better message).
impl Guest for Template {
    // Only the registry being worked on; add exact hosts your API lives on.
    const HOSTS: &'static [&'static str] = &["$registry"];

    fn detect(registry: String) -> Result<bool, String> {
        Ok(
            http::get(&format!("https://{registry}/api/ping"), false)
                .is_ok_and(|r| r.status == 200),
        )
    }

    fn prepare_push(
        registry: String,
        repositories: Vec<String>,
        _options: Vec<(String, String)>,
    ) -> Result<Vec<String>, String> {
        let namespaces: BTreeSet<&str> = repositories
            .iter()
            .filter_map(|r| r.split('/').next())
            .collect();
        let mut notes = Vec::new();
        for ns in namespaces {
            let url = format!("https://{registry}/api/namespaces/{ns}");
            if http::get(&url, true)?.status == 200 {
                continue;
            }
            let body = format!(r#"{{"name":"{ns}"}}"#).into_bytes();
            let created = http::request(
                "POST",
                &format!("https://{registry}/api/namespaces"),
                &[("Content-Type", "application/json")],
                Some(body),
                true,
            )?;
            match created.status {
                201 | 409 => notes.push(format!("namespace {ns} is ready")),
                status => {
                    return Err(format!(
                        "creating namespace {ns}: {status} {}",
                        created.text()
                    ));
                }
            }
        }
        log::debug(&format!("{} namespaces checked", notes.len()));
        Ok(notes)
    }

    fn classify_error(status: u16, _body: String) -> Option<String> {
        (status == 403).then(|| "the registry refused the push: is the robot account allowed to push to this namespace?".into())
    }
}

hangar_plugin_sdk::export_registry_adapter!(Template);
