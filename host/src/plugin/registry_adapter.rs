//! The `registry-adapter-plugin` world on the host side: load an adapter, then `detect`,
//! `prepare_push` and `classify_error`, each in a fresh sandboxed instance with the runtime's
//! time and memory limits.

use super::runtime::{PluginError, Runtime, TICK};
use crate::registry::{Credential, lookup_credential};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "registry-adapter-plugin",
    imports: { default: async },
    exports: { default: async },
});

use self::hangar::plugin::http::{Header, Request, Response};
use self::hangar::plugin::log::Level;

/// Largest response body handed to a plugin.
const BODY_LIMIT: usize = 4 << 20;

/// What a plugin call runs with.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    plugin: String,
    /// Hosts the plugin may reach: its declared hosts the user allowed, and the registry the
    /// call is about when it declared `$registry`.
    allowed: Vec<String>,
    http: reqwest::Client,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl hangar::plugin::types::Host for State {}

impl hangar::plugin::log::Host for State {
    async fn log(&mut self, level: Level, message: String) {
        let plugin = &self.plugin;
        match level {
            Level::Debug => tracing::debug!("[{plugin}] {message}"),
            Level::Info => tracing::info!("[{plugin}] {message}"),
            Level::Warn => tracing::warn!("[{plugin}] {message}"),
            Level::Error => tracing::error!("[{plugin}] {message}"),
        }
    }
}

impl hangar::plugin::http::Host for State {
    async fn send(&mut self, request: Request, with_credentials: bool) -> Result<Response, String> {
        let url = url::Url::parse(&request.url).map_err(|e| format!("{}: {e}", request.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{}: only http and https are allowed", request.url));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(format!("{}: no host", request.url)),
        };
        if !self.allowed.iter().any(|a| a == &host) {
            return Err(format!(
                "{host} is not a host this plugin may reach (declared and allowed: {})",
                if self.allowed.is_empty() {
                    "none".to_string()
                } else {
                    self.allowed.join(", ")
                }
            ));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("bad method {:?}", request.method))?;
        let mut builder = self.http.request(method, url.clone());
        for Header { name, value } in &request.headers {
            builder = builder.header(name, value);
        }
        if with_credentials
            && let Ok(Some(Credential::Basic { username, password })) =
                lookup_credential(&host, None)
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
}

/// A loaded registry adapter.
pub struct RegistryAdapter {
    runtime: Arc<Runtime>,
    pre: RegistryAdapterPluginPre<State>,
    name: String,
    /// Hosts the plugin declared (`$registry` included).
    declared: Vec<String>,
    /// Hosts the user allowed beyond the registry being worked on.
    user_allowed: Vec<String>,
    http: reqwest::Client,
}

impl RegistryAdapter {
    /// Loads a component, checks it implements this world, and asks it to describe itself.
    pub async fn load(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
        user_allowed: Vec<String>,
        tls_verify: bool,
    ) -> Result<RegistryAdapter, PluginError> {
        let fail = |message: String| PluginError::Load {
            plugin: name.to_string(),
            message,
        };
        let component = runtime.component(name, bytes)?;
        let mut linker = Linker::<State>::new(&runtime.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| fail(e.to_string()))?;
        RegistryAdapterPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| fail(e.to_string()))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            fail(format!(
                "does not fit the hangar:plugin@0.1.0 registry-adapter world this hangar speaks: {e}"
            ))
        })?;
        let pre = RegistryAdapterPluginPre::new(instance_pre).map_err(|e| {
            fail(format!(
                "does not export hangar:plugin/registry-adapter@0.1.0: {e}"
            ))
        })?;
        let http = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(!tls_verify)
            .timeout(runtime.limits.time)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let mut adapter = RegistryAdapter {
            runtime,
            pre,
            name: name.to_string(),
            declared: Vec::new(),
            user_allowed,
            http,
        };
        let info = adapter
            .call(None, async |plugin, store| {
                plugin
                    .hangar_plugin_registry_adapter()
                    .call_describe(store)
                    .await
            })
            .await?;
        if let Some(wild) = info.hosts.iter().find(|h| h.contains('*')) {
            return Err(fail(format!(
                "declares the host pattern {wild:?}; only exact hosts are allowed"
            )));
        }
        adapter.name = info.name;
        adapter.declared = info.hosts;
        Ok(adapter)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn declared_hosts(&self) -> &[String] {
        &self.declared
    }

    pub async fn detect(&self, registry: &str) -> Result<bool, PluginError> {
        let registry_arg = registry.to_string();
        self.call(Some(registry), async move |plugin, store| {
            plugin
                .hangar_plugin_registry_adapter()
                .call_detect(store, &registry_arg)
                .await
        })
        .await?
        .map_err(|message| self.failed(message))
    }

    pub async fn prepare_push(
        &self,
        registry: &str,
        repositories: &[String],
    ) -> Result<Vec<String>, PluginError> {
        let registry_arg = registry.to_string();
        let repositories = repositories.to_vec();
        self.call(Some(registry), async move |plugin, store| {
            plugin
                .hangar_plugin_registry_adapter()
                .call_prepare_push(store, &registry_arg, &repositories)
                .await
        })
        .await?
        .map_err(|message| self.failed(message))
    }

    pub async fn classify_error(
        &self,
        status: u16,
        body: &str,
    ) -> Result<Option<String>, PluginError> {
        let body = body.to_string();
        self.call(None, async move |plugin, store| {
            plugin
                .hangar_plugin_registry_adapter()
                .call_classify_error(store, status, &body)
                .await
        })
        .await
    }

    fn failed(&self, message: String) -> PluginError {
        PluginError::Failed {
            plugin: self.name.clone(),
            message,
        }
    }

    /// Runs one export in a fresh instance: its own store, memory limit and deadline, so a
    /// call that misbehaves leaves nothing behind.
    async fn call<R, F>(&self, registry: Option<&str>, f: F) -> Result<R, PluginError>
    where
        F: AsyncFnOnce(&RegistryAdapterPlugin, &mut Store<State>) -> wasmtime::Result<R>,
    {
        let limits = self.runtime.limits;
        let mut allowed: Vec<String> = self
            .declared
            .iter()
            .filter(|h| self.user_allowed.contains(h))
            .cloned()
            .collect();
        if let Some(registry) = registry
            && self.declared.iter().any(|h| h == "$registry")
        {
            allowed.push(registry.to_string());
        }
        let state = State {
            // Nothing granted: no preopened directories, no env, no sockets, no stdio.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory)
                .trap_on_grow_failure(true)
                .build(),
            plugin: self.name.clone(),
            allowed,
            http: self.http.clone(),
        };
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (limits.time.as_millis() / TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let result = async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            f(&plugin, &mut store).await
        }
        .await;
        result.map_err(|e| self.trap(e, limits))
    }

    fn trap(&self, error: wasmtime::Error, limits: super::Limits) -> PluginError {
        let plugin = self.name.clone();
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
        PluginError::Trapped {
            plugin,
            message: text.lines().next().unwrap_or_default().to_string(),
        }
    }
}
