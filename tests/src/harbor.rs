//! A Harbor v2 API test server (no Harbor can run here). It follows Harbor's swagger for the
//! endpoints hangar uses: `GET /api/v2.0/ping`, `GET /api/v2.0/systeminfo`,
//! `HEAD /api/v2.0/projects?project_name=` and `POST /api/v2.0/projects`, with basic auth
//! (401 and Harbor's error JSON on wrong credentials), 201 with `Location` on creation and 409
//! on duplicates. It fronts a real docker-registry for `/v2/`, refusing pushes into projects
//! that do not exist the way Harbor does (401 "authentication required", Hangar #44), so the
//! copy after project creation really happens.

use crate::fault_proxy::{BoxBody, ProxyServer, forward, reply, write_basic_auth_file};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Shared {
    /// project name → public
    projects: Mutex<BTreeMap<String, bool>>,
    log: Mutex<Vec<String>>,
}

pub struct HarborServer {
    pub addr: String,
    shared: Arc<Shared>,
    _server: ProxyServer,
}

const USER: &str = "admin";
const PASSWORD: &str = "Harbor12345";

fn harbor_error(status: u16, code: &str, message: &str) -> Response<BoxBody> {
    reply(
        status,
        "application/json",
        serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string(),
    )
}

fn authorized(req: &Request<Incoming>) -> bool {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

impl HarborServer {
    /// Starts the API in front of `upstream` (`127.0.0.1:PORT` of a plain registry).
    pub fn start(upstream: &str) -> HarborServer {
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let server = ProxyServer::start(upstream, move |req, client, up, me| {
            handle(req, client, up, me, sh.clone())
        });
        HarborServer {
            addr: server.addr.clone(),
            shared,
            _server: server,
        }
    }

    /// Projects as Harbor holds them: name → public.
    pub fn projects(&self) -> BTreeMap<String, bool> {
        self.shared.projects.lock().unwrap().clone()
    }

    pub fn add_project(&self, name: &str) {
        self.shared
            .projects
            .lock()
            .unwrap()
            .insert(name.to_string(), false);
    }

    /// `METHOD path` of every API request (not `/v2/`).
    pub fn api_log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Writes an auth file with the server's credentials for hangar to use.
    pub fn write_auth_file(&self, path: &std::path::Path) {
        write_basic_auth_file(path, &self.addr, (USER, PASSWORD));
    }
}

async fn handle(
    req: Request<Incoming>,
    client: reqwest::Client,
    upstream: String,
    me: String,
    shared: Arc<Shared>,
) -> Result<Response<BoxBody>, std::io::Error> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    if let Some(api) = path.strip_prefix("/api/v2.0/") {
        shared
            .log
            .lock()
            .unwrap()
            .push(format!("{method} /api/v2.0/{api}"));
        return Ok(match (method.as_str(), api) {
            ("GET", "ping") => reply(200, "text/plain", "Pong".into()),
            ("GET", "systeminfo") => reply(
                200,
                "application/json",
                r#"{"harbor_version":"v2.11.0-test","auth_mode":"db_auth"}"#.into(),
            ),
            ("HEAD", "projects") => {
                if !authorized(&req) {
                    return Ok(harbor_error(401, "UNAUTHORIZED", "unauthorized"));
                }
                let name = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "project_name")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let exists = shared.projects.lock().unwrap().contains_key(&name);
                reply(
                    if exists { 200 } else { 404 },
                    "application/json",
                    String::new(),
                )
            }
            ("POST", "projects") => {
                if !authorized(&req) {
                    return Ok(harbor_error(401, "UNAUTHORIZED", "unauthorized"));
                }
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map_err(std::io::Error::other)?
                    .to_bytes();
                let Ok(project) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return Ok(harbor_error(400, "BAD_REQUEST", "invalid JSON"));
                };
                let Some(name) = project["project_name"].as_str().filter(|n| !n.is_empty()) else {
                    return Ok(harbor_error(400, "BAD_REQUEST", "project_name is required"));
                };
                let public = project["metadata"]["public"].as_str() == Some("true");
                let mut projects = shared.projects.lock().unwrap();
                if projects.contains_key(name) {
                    return Ok(harbor_error(
                        409,
                        "CONFLICT",
                        &format!("The project named {name} already exists"),
                    ));
                }
                projects.insert(name.to_string(), public);
                let mut created = reply(201, "application/json", String::new());
                created.headers_mut().insert(
                    "location",
                    format!("/api/v2.0/projects/{}", projects.len())
                        .parse()
                        .unwrap(),
                );
                created
            }
            _ => harbor_error(404, "NOT_FOUND", "not found"),
        });
    }
    // Harbor refuses pushes into a project that does not exist with "authentication required".
    let is_push = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
    if is_push && let Some(rest) = path.strip_prefix("/v2/") {
        let project = rest.split('/').next().unwrap_or_default();
        if !shared.projects.lock().unwrap().contains_key(project) {
            return Ok(harbor_error(401, "UNAUTHORIZED", "authentication required"));
        }
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    forward(req, &client, &upstream, &me, &path_and_query, None).await
}
