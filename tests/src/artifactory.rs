//! A JFrog Artifactory REST API test server (no Artifactory can run here), following JFrog's
//! published API for the endpoints the Artifactory adapter uses: `GET
//! /artifactory/api/system/ping` ("OK"), `GET /artifactory/api/repositories/{key}` (the
//! repository's configuration, 400 "Bad Request" when it does not exist, as Artifactory
//! answers) and `PUT /artifactory/api/repositories/{key}` (creates it; admins only: 403 for
//! other users, 401 without credentials), errors as `{"errors":[{"status":..,"message":..}]}`.
//! It fronts a real docker-registry for `/v2/` with the repository path method (the first path
//! segment is the repository key), refusing pushes into a key that does not exist with the
//! registry error Artifactory gives (404 NAME_UNKNOWN), so the copy after creation really
//! happens.

use crate::fault_proxy::{BoxBody, ProxyServer, forward, reply, write_basic_auth_file};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const ADMIN: (&str, &str) = ("admin", "password");
/// May push (Deploy/Cache) but not create repositories.
pub const DEPLOYER: (&str, &str) = ("deployer", "deploy-pass");

#[derive(Default)]
struct Shared {
    /// repository key → package type
    repositories: Mutex<BTreeMap<String, String>>,
    log: Mutex<Vec<String>>,
}

pub struct ArtifactoryServer {
    pub addr: String,
    shared: Arc<Shared>,
    _server: ProxyServer,
}

fn api_error(status: u16, message: &str) -> Response<BoxBody> {
    reply(
        status,
        "application/json",
        serde_json::json!({"errors": [{"status": status, "message": message}]}).to_string(),
    )
}

/// The user of a request's basic credentials, when they are a known user's.
fn user(req: &Request<Incoming>) -> Option<&'static str> {
    use base64::Engine as _;
    let given = req.headers().get("authorization")?.to_str().ok()?;
    [ADMIN, DEPLOYER].into_iter().find_map(|(name, password)| {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"))
        );
        (given == expected).then_some(name)
    })
}

impl ArtifactoryServer {
    /// Starts the API in front of `upstream` (`127.0.0.1:PORT` of a plain registry).
    pub fn start(upstream: &str) -> ArtifactoryServer {
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let server = ProxyServer::start(upstream, move |req, client, up, me| {
            handle(req, client, up, me, sh.clone())
        });
        ArtifactoryServer {
            addr: server.addr.clone(),
            shared,
            _server: server,
        }
    }

    /// Repository key → package type, as Artifactory holds them.
    pub fn repositories(&self) -> BTreeMap<String, String> {
        self.shared.repositories.lock().unwrap().clone()
    }

    pub fn add_repository(&self, key: &str, package_type: &str) {
        self.shared
            .repositories
            .lock()
            .unwrap()
            .insert(key.to_string(), package_type.to_string());
    }

    /// `METHOD path` of every API request (not `/v2/`).
    pub fn api_log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Writes an auth file with `user`'s credentials for hangar to use.
    pub fn write_auth_file(&self, path: &std::path::Path, user: (&str, &str)) {
        write_basic_auth_file(path, &self.addr, user);
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
    let method = req.method().clone();
    if let Some(api) = path.strip_prefix("/artifactory/api/") {
        shared
            .log
            .lock()
            .unwrap()
            .push(format!("{method} /artifactory/api/{api}"));
        if (method.as_str(), api) == ("GET", "system/ping") {
            return Ok(reply(200, "text/plain", "OK".into()));
        }
        let Some(key) = api
            .strip_prefix("repositories/")
            .filter(|k| !k.is_empty() && !k.contains('/'))
        else {
            return Ok(api_error(404, "Not Found"));
        };
        let Some(who) = user(&req) else {
            return Ok(api_error(401, "Bad credentials"));
        };
        return Ok(match method.as_str() {
            "GET" => match shared.repositories.lock().unwrap().get(key) {
                Some(package_type) => reply(
                    200,
                    "application/vnd.org.jfrog.artifactory.repositories.LocalRepositoryConfiguration+json",
                    serde_json::json!({
                        "key": key, "rclass": "local", "packageType": package_type,
                        "dockerApiVersion": "V2",
                    })
                    .to_string(),
                ),
                None => api_error(400, "Bad Request"),
            },
            "PUT" => {
                if who != ADMIN.0 {
                    return Ok(api_error(403, "Forbidden"));
                }
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map_err(std::io::Error::other)?
                    .to_bytes();
                let Ok(config) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return Ok(api_error(
                        400,
                        "Could not parse the repository configuration",
                    ));
                };
                if config["key"].as_str() != Some(key) || config["rclass"].as_str() != Some("local")
                {
                    return Ok(api_error(
                        400,
                        "The key and rclass of the configuration are required",
                    ));
                }
                let package_type = config["packageType"].as_str().unwrap_or("generic");
                let mut repositories = shared.repositories.lock().unwrap();
                if repositories.contains_key(key) {
                    return Ok(api_error(
                        400,
                        &format!("Case insensitive repository key already exists: '{key}'"),
                    ));
                }
                repositories.insert(key.to_string(), package_type.to_string());
                reply(
                    200,
                    "text/plain",
                    format!("Successfully created repository '{key}'"),
                )
            }
            _ => api_error(405, "Method Not Allowed"),
        });
    }
    // The repository path method: /v2/KEY/IMAGE...; a key that is not a Docker repository is
    // answered as Artifactory's registry answers it.
    if let Some(rest) = path.strip_prefix("/v2/")
        && !rest.is_empty()
    {
        let key = rest.split('/').next().unwrap_or_default();
        let docker = shared
            .repositories
            .lock()
            .unwrap()
            .get(key)
            .is_some_and(|t| t == "docker");
        if !docker {
            return Ok(reply(
                404,
                "application/json",
                serde_json::json!({"errors": [{
                    "code": "NAME_UNKNOWN",
                    "message": format!("Repository \"{key}\" not found"),
                    "detail": {"name": key},
                }]})
                .to_string(),
            ));
        }
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    forward(req, &client, &upstream, &me, &path_and_query, None).await
}
