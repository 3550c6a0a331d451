//! Harbor v2 registry adapter: detects Harbor, creates the projects a push needs (private
//! unless the host passes `public=true`, i.e. `--harbor-public`), and explains Harbor's errors.
//! Harbor's API (swagger v2.0): `GET /api/v2.0/ping`, `GET /api/v2.0/systeminfo`,
//! `HEAD /api/v2.0/projects?project_name=`, `POST /api/v2.0/projects`.

use hangar_plugin_sdk::registry_adapter::Guest;
use hangar_plugin_sdk::{endpoints, http, log};
use std::collections::BTreeSet;

struct Harbor;

/// Harbor's API base for a registry, at the scheme hangar reaches it with (plain http only when
/// the user allowed it and the registry speaks nothing else), if `/api/v2.0/ping` answers there.
fn api_base(registry: &str) -> Result<String, String> {
    let base = format!("{}/api/v2.0", endpoints::registry_url(registry)?);
    match http::get(&format!("{base}/ping"), false)? {
        r if r.status == 200 => Ok(base),
        r => Err(format!("ping answered {}", r.status)),
    }
}

/// Harbor's version from `/api/v2.0/systeminfo` (readable without logging in), for the log.
fn harbor_version(base: &str) -> String {
    http::get(&format!("{base}/systeminfo"), false)
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .and_then(|v| v["harbor_version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "v2".to_string())
}

/// The project of a repository: its first path segment (`library/nginx` → `library`).
fn project_of(repository: &str) -> Option<&str> {
    repository.split('/').next().filter(|p| !p.is_empty())
}

/// The message of a Harbor error body (`{"errors":[{"code":..,"message":..}]}`).
fn harbor_message(body: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let first = value["errors"].get(0)?;
    Some((
        first["code"].as_str().unwrap_or_default().to_string(),
        first["message"].as_str().unwrap_or_default().to_string(),
    ))
}

impl Guest for Harbor {
    // `describe`: this crate's name and version, and these hosts.
    const HOSTS: &'static [&'static str] = &["$registry"];

    fn detect(registry: String) -> Result<bool, String> {
        match api_base(&registry) {
            Ok(base) => {
                log::info(&format!("{registry} is Harbor {}", harbor_version(&base)));
                Ok(true)
            }
            Err(e) => {
                log::debug(&format!("{registry} is not Harbor v2: {e}"));
                Ok(false)
            }
        }
    }

    fn prepare_push(
        registry: String,
        repositories: Vec<String>,
        options: Vec<(String, String)>,
    ) -> Result<Vec<String>, String> {
        let base = api_base(&registry)?;
        let public = options.iter().any(|(k, v)| k == "public" && v == "true");
        let projects: BTreeSet<&str> = repositories.iter().filter_map(|r| project_of(r)).collect();
        let mut notes = Vec::new();
        for project in projects {
            let url = format!("{base}/projects?project_name={project}");
            let found = http::request("HEAD", &url, &[("Accept", "application/json")], None, true)?;
            match found.status {
                200 => {
                    notes.push(format!("Project {project:?} already exists"));
                    continue;
                }
                404 => {}
                401 | 403 => {
                    return Err(format!(
                        "cannot check Harbor project {project:?}: {} (are the credentials for {registry} right?)",
                        found.status
                    ));
                }
                other => return Err(format!("cannot check Harbor project {project:?}: {other}")),
            }
            let body = serde_json::json!({"project_name": project, "metadata": {"public": public.to_string()}});
            let created = http::request(
                "POST",
                &format!("{base}/projects"),
                &[("Content-Type", "application/json")],
                Some(body.to_string().into_bytes()),
                true,
            )?;
            match created.status {
                201 => notes.push(format!(
                    "Created Harbor V2 project {project:?} ({})",
                    if public { "public" } else { "private" }
                )),
                409 => notes.push(format!("Project {project:?} already exists")),
                status => {
                    let why = harbor_message(&created.text())
                        .map(|(code, message)| format!("{code}: {message}"))
                        .unwrap_or_else(|| created.text());
                    return Err(format!(
                        "cannot create Harbor project {project:?}: {status} {why}"
                    ));
                }
            }
        }
        Ok(notes)
    }

    fn classify_error(status: u16, body: String) -> Option<String> {
        let (code, message) = harbor_message(&body)?;
        match (status, code.as_str()) {
            (401, _) | (_, "UNAUTHORIZED") if message.contains("authentication required") => Some(
                "Harbor refused the push: the project does not exist or the user may not push to it (create the project, or let hangar create it)".into(),
            ),
            (_, "MANIFEST_UNKNOWN") => Some(format!(
                "Harbor does not know this manifest ({message}); if it was deleted, run Harbor's garbage collection before pushing it again"
            )),
            _ => None,
        }
    }
}

hangar_plugin_sdk::export_registry_adapter!(Harbor);
