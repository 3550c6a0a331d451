//! The `registry-adapter-plugin` world on the host side: load an adapter, then `detect`,
//! `prepare_push` and `classify_error`. A component runs each call in a fresh sandboxed
//! instance with the runtime's time and memory limits; a native plugin (trusted, opt-in) runs
//! the same calls through the C ABI. Callers cannot tell the two apart.

use super::loader::{self, Backend, Loaded, component};
use super::native;
use super::runtime::{PluginError, Runtime};
use super::sandbox::{self, Grants};
use serde_json::json;
use std::sync::Arc;
use wasmtime::component::HasSelf;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "registry-adapter-plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "hangar:plugin/types": super::interfaces::hangar::plugin::types,
        "hangar:plugin/log": super::interfaces::hangar::plugin::log,
        "hangar:plugin/http": super::interfaces::hangar::plugin::http,
    },
});

component!(RegistryAdapterPluginPre, RegistryAdapterPlugin);

/// A loaded registry adapter.
pub struct RegistryAdapter {
    plugin: Loaded<RegistryAdapterPluginPre<sandbox::State>>,
    /// Hosts the user allowed beyond the registry being worked on.
    user_allowed: Vec<String>,
}

impl RegistryAdapter {
    plugin_identity!();
    plugin_network!();

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
        let http = loader::live(&runtime, name, tls_verify)?;
        let plugin = Loaded::component(runtime, name, pre, http, async |plugin, store| {
            plugin
                .hangar_plugin_registry_adapter()
                .call_describe(store)
                .await
        })
        .await?;
        Self::checked(name, plugin, user_allowed)
    }

    /// Loads a native plugin from bytes already checked against its manifest.
    pub async fn load_native(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
        user_allowed: Vec<String>,
        tls_verify: bool,
    ) -> Result<RegistryAdapter, PluginError> {
        let http = loader::live(&runtime, name, tls_verify)?;
        let plugin = Loaded::native(runtime, name, bytes, "registry-adapter", http).await?;
        Self::checked(name, plugin, user_allowed)
    }

    /// Refuses host patterns: an adapter names the hosts it reaches.
    fn checked(
        name: &str,
        plugin: Loaded<RegistryAdapterPluginPre<sandbox::State>>,
        user_allowed: Vec<String>,
    ) -> Result<RegistryAdapter, PluginError> {
        if let Some(wild) = plugin.info.hosts.iter().find(|h| h.contains('*')) {
            return Err(PluginError::Load {
                plugin: name.to_string(),
                message: format!(
                    "declares the host pattern {wild:?}; only exact hosts are allowed"
                ),
            });
        }
        Ok(RegistryAdapter {
            plugin,
            user_allowed,
        })
    }

    pub fn is_native(&self) -> bool {
        self.plugin.is_native()
    }

    pub async fn detect(&self, registry: &str) -> Result<bool, PluginError> {
        let answer = match &self.plugin.backend {
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
        answer.map_err(|message| self.plugin.failed(message))
    }

    pub async fn prepare_push(
        &self,
        registry: &str,
        repositories: &[String],
        options: &[(String, String)],
    ) -> Result<Vec<String>, PluginError> {
        let answer = match &self.plugin.backend {
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
        answer.map_err(|message| self.plugin.failed(message))
    }

    pub async fn classify_error(
        &self,
        status: u16,
        body: &str,
    ) -> Result<Option<String>, PluginError> {
        match &self.plugin.backend {
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

    /// What a call about `registry` may reach: declared hosts the user allowed, and the
    /// registry itself when the plugin declared `$registry`.
    fn grants(&self, registry: Option<&str>) -> Grants {
        let info = &self.plugin.info;
        let mut hosts: Vec<String> = info
            .hosts
            .iter()
            .filter(|h| self.user_allowed.contains(h))
            .cloned()
            .collect();
        if let Some(registry) = registry
            && info.hosts.iter().any(|h| h == "$registry")
        {
            hosts.push(registry.to_string());
        }
        Grants {
            hosts,
            paths: Vec::new(),
            logged_errors: Default::default(),
        }
    }

    /// Runs one export of the component, with what a call about `registry` may reach.
    async fn call<R, F>(&self, registry: Option<&str>, f: F) -> Result<R, PluginError>
    where
        F: AsyncFnOnce(
            &RegistryAdapterPlugin,
            &mut wasmtime::Store<sandbox::State>,
        ) -> wasmtime::Result<R>,
    {
        self.plugin.call(self.grants(registry), f).await
    }

    /// A native call's answer: the plugin's `ok` value or its `err` message.
    async fn native_result(
        &self,
        registry: Option<&str>,
        function: &str,
        input: serde_json::Value,
    ) -> Result<Result<serde_json::Value, String>, PluginError> {
        self.plugin
            .native_call(self.grants(registry), function, input)
            .await
    }
}
