//! The `registry-adapter-plugin` world on the host side: load an adapter, then `detect`,
//! `prepare_push` and `classify_error`. A component runs each call in a fresh sandboxed
//! instance with the runtime's time and memory limits; a native plugin (trusted, opt-in) runs
//! the same calls through the C ABI. Callers cannot tell the two apart.

use super::native::{self, NativePlugin};
use super::runtime::{PluginError, Runtime};
use super::sandbox::{self, Grants, State};
use serde_json::json;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::HasSelf;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "registry-adapter-plugin",
    imports: { default: async },
    exports: { default: async },
});

use self::hangar::plugin::types::Info;

enum Backend {
    Wasm(RegistryAdapterPluginPre<State>),
    Native(Arc<NativePlugin>),
}

/// A loaded registry adapter.
pub struct RegistryAdapter {
    runtime: Arc<Runtime>,
    backend: Backend,
    /// What the plugin said about itself (`describe`): name, version, hosts (`$registry`
    /// included).
    info: Info,
    /// Hosts the user allowed beyond the registry being worked on.
    user_allowed: Vec<String>,
    http: sandbox::Transport,
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
        let pre = sandbox::link(
            &runtime,
            name,
            bytes,
            "registry-adapter",
            |linker| RegistryAdapterPlugin::add_to_linker::<_, HasSelf<_>>(linker, |s| s),
            RegistryAdapterPluginPre::new,
        )?;
        Self::described(runtime, Backend::Wasm(pre), name, user_allowed, tls_verify).await
    }

    /// Loads a native plugin from bytes already checked against its manifest.
    pub async fn load_native(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
        user_allowed: Vec<String>,
        tls_verify: bool,
    ) -> Result<RegistryAdapter, PluginError> {
        let plugin = NativePlugin::load(name, bytes)?;
        Self::described(
            runtime,
            Backend::Native(plugin),
            name,
            user_allowed,
            tls_verify,
        )
        .await
    }

    async fn described(
        runtime: Arc<Runtime>,
        backend: Backend,
        name: &str,
        user_allowed: Vec<String>,
        tls_verify: bool,
    ) -> Result<RegistryAdapter, PluginError> {
        let fail = |message: String| PluginError::Load {
            plugin: name.to_string(),
            message,
        };
        let http = sandbox::http_client(&runtime, tls_verify).map_err(fail)?;
        let mut adapter = RegistryAdapter {
            runtime,
            backend,
            info: Info {
                name: name.to_string(),
                version: String::new(),
                hosts: Vec::new(),
            },
            user_allowed,
            http,
        };
        let info = match &adapter.backend {
            Backend::Wasm(_) => {
                adapter
                    .call(None, async |plugin, store| {
                        plugin
                            .hangar_plugin_registry_adapter()
                            .call_describe(store)
                            .await
                    })
                    .await?
            }
            Backend::Native(plugin) => {
                let (name, version, hosts) = plugin
                    .identify(
                        "registry-adapter",
                        adapter.http.clone(),
                        adapter.runtime.limits.time,
                    )
                    .await?;
                Info {
                    name,
                    version,
                    hosts,
                }
            }
        };
        if let Some(wild) = info.hosts.iter().find(|h| h.contains('*')) {
            return Err(fail(format!(
                "declares the host pattern {wild:?}; only exact hosts are allowed"
            )));
        }
        adapter.info = info;
        Ok(adapter)
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Sends the plugin's HTTP requests to `transport` (recorded answers, in `plugin test`).
    pub fn set_transport(&mut self, transport: sandbox::Transport) {
        self.http = transport;
    }

    /// Records every HTTP request the plugin makes from now on (`plugin test`).
    pub fn record_requests(&mut self) -> std::sync::Arc<super::fixtures::RequestLog> {
        let (recorded, log) =
            std::mem::replace(&mut self.http, sandbox::Transport::Offline).recorded();
        self.http = recorded;
        log
    }

    pub fn version(&self) -> &str {
        &self.info.version
    }

    pub fn declared_hosts(&self) -> &[String] {
        &self.info.hosts
    }

    pub fn is_native(&self) -> bool {
        matches!(self.backend, Backend::Native(_))
    }

    pub async fn detect(&self, registry: &str) -> Result<bool, PluginError> {
        let answer = match &self.backend {
            Backend::Wasm(_) => {
                let registry_arg = registry.to_string();
                self.call(Some(registry), async move |plugin, store| {
                    plugin
                        .hangar_plugin_registry_adapter()
                        .call_detect(store, &registry_arg)
                        .await
                })
                .await?
            }
            Backend::Native(_) => self
                .native_result(Some(registry), "detect", json!({"registry": registry}))
                .await?
                .map(|v| v.as_bool().unwrap_or(false)),
        };
        answer.map_err(|message| self.failed(message))
    }

    pub async fn prepare_push(
        &self,
        registry: &str,
        repositories: &[String],
        options: &[(String, String)],
    ) -> Result<Vec<String>, PluginError> {
        let answer = match &self.backend {
            Backend::Wasm(_) => {
                let registry_arg = registry.to_string();
                let repositories = repositories.to_vec();
                let options = options.to_vec();
                self.call(Some(registry), async move |plugin, store| {
                    plugin
                        .hangar_plugin_registry_adapter()
                        .call_prepare_push(store, &registry_arg, &repositories, &options)
                        .await
                })
                .await?
            }
            Backend::Native(_) => self
                .native_result(
                    Some(registry),
                    "prepare-push",
                    json!({"registry": registry, "repositories": repositories, "options": options}),
                )
                .await?
                .map(|v| native::strings(&v)),
        };
        answer.map_err(|message| self.failed(message))
    }

    pub async fn classify_error(
        &self,
        status: u16,
        body: &str,
    ) -> Result<Option<String>, PluginError> {
        match &self.backend {
            Backend::Wasm(_) => {
                let body = body.to_string();
                self.call(None, async move |plugin, store| {
                    plugin
                        .hangar_plugin_registry_adapter()
                        .call_classify_error(store, status, &body)
                        .await
                })
                .await
            }
            Backend::Native(_) => Ok(self
                .native_result(
                    None,
                    "classify-error",
                    json!({"status": status, "body": body}),
                )
                .await?
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))),
        }
    }

    fn failed(&self, message: String) -> PluginError {
        PluginError::Failed {
            plugin: self.info.name.clone(),
            message,
        }
    }

    /// What a call about `registry` may reach: declared hosts the user allowed, and the
    /// registry itself when the plugin declared `$registry`.
    fn grants(&self, registry: Option<&str>) -> Grants {
        let mut hosts: Vec<String> = self
            .info
            .hosts
            .iter()
            .filter(|h| self.user_allowed.contains(h))
            .cloned()
            .collect();
        if let Some(registry) = registry
            && self.info.hosts.iter().any(|h| h == "$registry")
        {
            hosts.push(registry.to_string());
        }
        Grants {
            hosts,
            paths: Vec::new(),
            logged_errors: Default::default(),
        }
    }

    /// Runs one export of the component in a fresh instance (see [`sandbox::store`]).
    async fn call<R, F>(&self, registry: Option<&str>, f: F) -> Result<R, PluginError>
    where
        F: AsyncFnOnce(&RegistryAdapterPlugin, &mut Store<State>) -> wasmtime::Result<R>,
    {
        let Backend::Wasm(pre) = &self.backend else {
            unreachable!("component calls are only made on the wasm backend");
        };
        let mut store = sandbox::store(
            &self.runtime,
            &self.info.name,
            self.grants(registry),
            self.http.clone(),
        );
        let result = async {
            let plugin = pre.instantiate_async(&mut store).await?;
            f(&plugin, &mut store).await
        }
        .await;
        result.map_err(|e| sandbox::trap(&self.info.name, e, self.runtime.limits))
    }

    /// A native call's answer: the plugin's `ok` value or its `err` message.
    async fn native_result(
        &self,
        registry: Option<&str>,
        function: &str,
        input: serde_json::Value,
    ) -> Result<Result<serde_json::Value, String>, PluginError> {
        let Backend::Native(plugin) = &self.backend else {
            unreachable!("native calls are only made on the native backend");
        };
        plugin
            .call(
                &self.info.name,
                function,
                input,
                self.grants(registry),
                self.http.clone(),
                self.runtime.limits.time,
            )
            .await
    }
}
