//! What every plugin call runs in, whatever its world: a fresh store with the runtime's memory
//! limit and deadline, WASI with nothing granted, and the host interfaces (`log`, `http`,
//! `files`) checked against what the user granted for this call.

use super::interfaces::hangar::plugin::http::{self, Header, Request, Response};
use super::interfaces::hangar::plugin::log::{self, Level};
use super::manifest::CONTRACT;
use super::runtime::{Limits, PluginError, Runtime, TICK};
use hangar_registry::{Credential, lookup_credential};
use std::path::{Path, PathBuf};
use wasmtime::component::{InstancePre, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Largest response body handed to a plugin.
const BODY_LIMIT: usize = 4 << 20;
/// Largest file handed to a plugin through `files.read`.
const FILE_LIMIT: u64 = 64 << 20;

/// What one call may reach.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    /// Hosts (`host[:port]`): the plugin's declared hosts that the user allowed, plus the
    /// registry the call is about when the plugin declared `$registry`.
    pub hosts: Vec<String>,
    /// Files and directories the user passed; `files` reads nothing else.
    pub paths: Vec<PathBuf>,
    /// Error lines the plugin logged during the call: list generators report an input they
    /// could not read this way and carry on, and the command then fails after writing the
    /// rest.
    pub logged_errors: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

pub struct State {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    limits: StoreLimits,
    plugin: String,
    grants: Grants,
    http: Transport,
}

/// Where plugin HTTP requests go: the network, or recorded answers (`hangar plugin test`).
#[derive(Clone, Debug)]
pub enum Transport {
    Live {
        client: LazyClient,
        /// Credentials may go over plain HTTP: the user accepted insecure registries
        /// (`--tls-verify=false`).
        plain_credentials: bool,
        /// Registries' base URLs found so far (`endpoints.registry-url`), shared by every call
        /// of the plugin so each registry is probed once per run.
        endpoints: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    },
    Fixtures(std::sync::Arc<super::fixtures::Fixtures>),
    /// No network at all (scanners, SBOM generators): nothing to set up, every request
    /// refused. (A live client would load the system's CA certificates for nothing.)
    Offline,
    /// Another transport, with every request the plugin makes written down (`plugin test`).
    Recorded(Box<Transport>, std::sync::Arc<super::fixtures::RequestLog>),
}

impl Transport {
    /// This transport, recording every request into the returned log.
    pub fn recorded(self) -> (Transport, std::sync::Arc<super::fixtures::RequestLog>) {
        let log = std::sync::Arc::new(super::fixtures::RequestLog::default());
        (Transport::Recorded(Box::new(self), log.clone()), log)
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A store for one call of `plugin`: its own memory limit and epoch deadline, so a call that
/// misbehaves leaves nothing behind.
pub fn store(runtime: &Runtime, plugin: &str, grants: Grants, http: Transport) -> Store<State> {
    let limits = runtime.limits;
    let state = State {
        // Nothing granted: no preopened directories, no env, no sockets, no stdio.
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory)
            .trap_on_grow_failure(true)
            .build(),
        plugin: plugin.to_string(),
        grants,
        http,
    };
    let mut store = Store::new(&runtime.engine, state);
    store.limiter(|s| &mut s.limits);
    let ticks = (limits.time.as_millis() / TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    store
}

/// A component linked with WASI (nothing granted) and the imports of `world`, ready to be
/// instantiated once per call. `add_world` adds the world's host functions; `pre` turns the
/// linked component into the world's typed pre-instance, failing when it lacks the exports.
pub fn link<P>(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    world: &str,
    add_world: impl FnOnce(&mut Linker<State>) -> wasmtime::Result<()>,
    pre: impl FnOnce(InstancePre<State>) -> wasmtime::Result<P>,
) -> Result<P, PluginError> {
    let fail = |message: String| PluginError::Load {
        plugin: name.to_string(),
        message,
    };
    let component = runtime.component(name, bytes)?;
    let mut linker = Linker::<State>::new(&runtime.engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| fail(e.to_string()))?;
    add_world(&mut linker).map_err(|e| fail(e.to_string()))?;
    let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
        fail(format!(
            "does not fit the {CONTRACT} {world} world this hangar speaks: {e}"
        ))
    })?;
    pre(instance_pre).map_err(|e| fail(format!("does not export the {world} of {CONTRACT}: {e}")))
}

/// The HTTP client plugins' requests go through.
pub fn http_client(runtime: &Runtime, tls_verify: bool) -> Result<Transport, String> {
    Ok(Transport::Live {
        client: LazyClient {
            tls_verify,
            timeout: runtime.limits.time,
            client: Default::default(),
        },
        plain_credentials: !tls_verify,
        endpoints: Default::default(),
    })
}

/// A client built on a plugin's first request: building one loads the system's CA
/// certificates (hundreds of files, ~25 ms), which most plugin calls (describe, detect on a
/// registry that is not the plugin's) never need.
#[derive(Clone, Debug)]
pub struct LazyClient {
    tls_verify: bool,
    timeout: std::time::Duration,
    client: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
}

impl LazyClient {
    fn get(&self) -> Result<&reqwest::Client, String> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(!self.tls_verify)
            .timeout(self.timeout)
            // A redirect would lead past the host allow-list; plugins see the 3xx and may
            // follow it themselves, through the same checks.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(self.client.get_or_init(|| client))
    }
}

/// The base URL of `registry` for `endpoints.registry-url`: https when it answers `/v2/`
/// there (any status: 401 is a registry asking for credentials), else plain http when the
/// user allowed it (`--tls-verify=false`), as hangar's own registry client decides. Only for
/// hosts the plugin may reach, so a plugin cannot make the host probe anywhere else.
pub async fn registry_url(
    transport: &Transport,
    allowed: &[String],
    registry: &str,
) -> Result<String, String> {
    if !allowed.iter().any(|a| a == registry) {
        return Err(format!("{registry} is not a host this plugin may reach"));
    }
    let (client, cache) = match transport {
        Transport::Live {
            client, endpoints, ..
        } => (client, endpoints),
        Transport::Fixtures(fixtures) => return Ok(fixtures.registry_url(registry)),
        Transport::Recorded(inner, _) => {
            return Box::pin(registry_url(inner, allowed, registry)).await;
        }
        Transport::Offline => return Err("this plugin has no network access".into()),
    };
    if let Some(known) = cache.lock().expect("endpoint cache").get(registry) {
        return Ok(known.clone());
    }
    let http = client.get()?;
    let answers = |base: String| async move {
        match http.get(format!("{base}/v2/")).send().await {
            Ok(_) => Ok(base),
            Err(e) => Err(e.to_string()),
        }
    };
    let found =
        match answers(format!("https://{registry}")).await {
            Ok(base) => base,
            Err(https) if !client.tls_verify => answers(format!("http://{registry}"))
                .await
                .map_err(|http| {
                    format!("{registry} answers neither https ({https}) nor http ({http})")
                })?,
            Err(https) => return Err(format!("{registry}: {https}")),
        };
    tracing::debug!("{registry}: plugins reach it at {found}");
    cache
        .lock()
        .expect("endpoint cache")
        .insert(registry.to_string(), found.clone());
    Ok(found)
}

/// A trap or host error as the user should read it.
pub fn trap(plugin: &str, error: wasmtime::Error, limits: Limits) -> PluginError {
    let plugin = plugin.to_string();
    let text = format!("{error:#}");
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::Interrupt => {
                return PluginError::TimedOut {
                    plugin,
                    limit: limits.time,
                };
            }
            wasmtime::Trap::AllocationTooLarge => {
                return PluginError::OutOfMemory {
                    plugin,
                    limit_mib: limits.memory >> 20,
                };
            }
            _ => {}
        }
    }
    if text.contains("forcing trap when growing memory") {
        return PluginError::OutOfMemory {
            plugin,
            limit_mib: limits.memory >> 20,
        };
    }
    // The outermost context is wasmtime's "error while executing at wasm backtrace:"; what
    // went wrong is the innermost cause (the trap: `unreachable` executed, a bad cast...).
    let cause = error.root_cause().to_string();
    let message = cause
        .lines()
        .chain(text.lines())
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string();
    PluginError::Trapped { plugin, message }
}

impl super::interfaces::hangar::plugin::types::Host for State {}

impl log::Host for State {
    async fn log(&mut self, level: Level, message: String) {
        emit_log(&self.plugin, &self.grants, level, &message);
    }
}

pub fn emit_log(plugin: &str, grants: &Grants, level: Level, message: &str) {
    if matches!(level, Level::Error) {
        grants
            .logged_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    match level {
        Level::Debug => tracing::debug!("[{plugin}] {message}"),
        Level::Info => tracing::info!("[{plugin}] {message}"),
        Level::Warn => tracing::warn!("[{plugin}] {message}"),
        Level::Error => tracing::error!("[{plugin}] {message}"),
    }
}

impl http::Host for State {
    async fn send(&mut self, request: Request, with_credentials: bool) -> Result<Response, String> {
        send(&self.http, &self.grants.hosts, request, with_credentials).await
    }
}

/// Only registry adapters import `endpoints` (bindings generated with their world).
impl super::registry_adapter::hangar::plugin::endpoints::Host for State {
    async fn registry_url(&mut self, registry: String) -> Result<String, String> {
        registry_url(&self.http, &self.grants.hosts, &registry).await
    }
}

/// One plugin HTTP request: only to `allowed` hosts, credentials added here, body capped.
pub async fn send(
    transport: &Transport,
    allowed: &[String],
    request: Request,
    with_credentials: bool,
) -> Result<Response, String> {
    let Transport::Recorded(inner, log) = transport else {
        return route(transport, allowed, request, with_credentials).await;
    };
    // As `route` will ask for it (fixtures are matched against the parsed URL).
    let url = url::Url::parse(&request.url)
        .map(String::from)
        .unwrap_or_else(|_| request.url.clone());
    let matched = match inner.as_ref() {
        Transport::Fixtures(fixtures) => {
            Some(fixtures.matches(&request.method, &url, request.body.as_deref()))
        }
        _ => None,
    };
    let mut exchange = super::fixtures::Exchange {
        method: request.method.clone(),
        url,
        with_credentials,
        body: request
            .body
            .as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        status: None,
        matched,
        error: None,
    };
    let result = Box::pin(send(inner, allowed, request, with_credentials)).await;
    match &result {
        Ok(response) => exchange.status = Some(response.status),
        Err(e) => exchange.error = Some(e.clone()),
    }
    log.push(exchange);
    result
}

async fn route(
    transport: &Transport,
    allowed: &[String],
    request: Request,
    with_credentials: bool,
) -> Result<Response, String> {
    let url = url::Url::parse(&request.url).map_err(|e| format!("{}: {e}", request.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{}: only http and https are allowed", request.url));
    }
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(format!("{}: no host", request.url)),
    };
    if !allowed.iter().any(|a| a == &host) {
        return Err(format!(
            "{host} is not a host this plugin may reach (declared and allowed: {})",
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ));
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("bad method {:?}", request.method))?;
    let (client, plain_credentials) = match transport {
        Transport::Live {
            client,
            plain_credentials,
            ..
        } => (client.get()?, *plain_credentials),
        Transport::Offline => return Err("this plugin has no network access".into()),
        Transport::Recorded(inner, _) => {
            return Box::pin(route(inner, allowed, request, with_credentials)).await;
        }
        Transport::Fixtures(fixtures) => {
            if with_credentials && url.scheme() == "http" && !fixtures.plain_credentials {
                return Err(plain_credentials_refused(&request.url));
            }
            let (status, headers, body) =
                fixtures.answer(method.as_str(), url.as_str(), request.body.as_deref());
            return Ok(Response {
                status,
                headers: headers
                    .into_iter()
                    .map(|(name, value)| Header { name, value })
                    .collect(),
                body,
            });
        }
    };
    let mut builder = client.request(method, url.clone());
    for Header { name, value } in &request.headers {
        builder = builder.header(name, value);
    }
    if with_credentials && url.scheme() == "http" && !plain_credentials {
        return Err(plain_credentials_refused(&request.url));
    }
    if with_credentials
        && let Ok(Some(Credential::Basic { username, password })) = lookup_credential(&host, None)
    {
        builder = builder.basic_auth(username, Some(password));
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let mut response = builder
        .send()
        .await
        .map_err(|e| format!("{} {}: {e}", request.method, request.url))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| Header {
            name: name.to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("{} {}: {e}", request.method, request.url))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > BODY_LIMIT {
            return Err(format!("{}: response larger than 4 MiB", request.url));
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

impl super::interfaces::hangar::plugin::files::Host for State {
    async fn read(&mut self, path: String) -> Result<Vec<u8>, String> {
        read_granted(&self.grants.paths, &path)
    }

    async fn list(&mut self, dir: String) -> Result<Vec<String>, String> {
        list_granted(&self.grants.paths, &dir)
    }
}

/// A file's bytes, if it is inside one of the granted paths.
pub fn read_granted(granted: &[PathBuf], path: &str) -> Result<Vec<u8>, String> {
    let path = resolve_granted(granted, path)?;
    let size = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if size > FILE_LIMIT {
        return Err(format!("{}: larger than 64 MiB", path.display()));
    }
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A directory's entry names, sorted, if it is inside one of the granted paths.
pub fn list_granted(granted: &[PathBuf], dir: &str) -> Result<Vec<String>, String> {
    let dir = resolve_granted(granted, dir)?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// `path` resolved (symlinks followed) and inside one of the granted paths.
fn resolve_granted(granted: &[PathBuf], path: &str) -> Result<PathBuf, String> {
    let resolved = std::fs::canonicalize(path).map_err(|e| format!("{path}: {e}"))?;
    let inside =
        |root: &Path| std::fs::canonicalize(root).is_ok_and(|root| resolved.starts_with(root));
    if granted.iter().any(|root| inside(root)) {
        Ok(resolved)
    } else {
        Err(format!(
            "{path}: not one of the paths given to this plugin on the command line"
        ))
    }
}

fn plain_credentials_refused(url: &str) -> String {
    format!(
        "{url}: credentials are only sent over https (use --tls-verify=false to allow plain http for this registry)"
    )
}
