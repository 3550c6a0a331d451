//! The `list-generator-plugin` world on the host side: a plugin turns the inputs the user
//! passed (charts, release files) into image entries. It reads only those paths (`files`) and
//! reaches only the hosts it declared and the user allowed.

use super::native::{self, NativePlugin};
use super::registry_adapter::hangar::plugin::types::Info;
use super::runtime::{PluginError, Runtime};
use super::sandbox::{self, Grants, State};
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::HasSelf;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "list-generator-plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "hangar:plugin/types": super::registry_adapter::hangar::plugin::types,
        "hangar:plugin/log": super::registry_adapter::hangar::plugin::log,
        "hangar:plugin/http": super::registry_adapter::hangar::plugin::http,
    },
});

pub use self::exports::hangar::plugin::list_generator::ImageEntry;

/// What one `generate` call produced.
#[derive(Debug)]
pub struct Generated {
    pub entries: Vec<ImageEntry>,
    /// Inputs the plugin could not read (it logged an error for each and went on).
    pub errors: usize,
}

/// The `host[:port]` of each http(s) URL among the user's option values: a generator that
/// declares `$options` may reach these, since the user named them.
fn option_hosts(options: &[(String, String)]) -> Vec<String> {
    options
        .iter()
        .filter_map(|(_, value)| reqwest::Url::parse(value).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .filter_map(|url| {
            let host = url.host_str()?.to_string();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .collect()
}

enum Backend {
    Wasm(ListGeneratorPluginPre<State>),
    Native(Arc<NativePlugin>),
}

pub struct ListGenerator {
    runtime: Arc<Runtime>,
    backend: Backend,
    /// What the plugin said about itself (`describe`).
    info: Info,
    http: sandbox::Transport,
}

impl ListGenerator {
    pub async fn load(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
    ) -> Result<ListGenerator, PluginError> {
        let fail = |message: String| PluginError::Load {
            plugin: name.to_string(),
            message,
        };
        let pre = sandbox::link(
            &runtime,
            name,
            bytes,
            "list-generator",
            |linker| ListGeneratorPlugin::add_to_linker::<_, HasSelf<_>>(linker, |s| s),
            ListGeneratorPluginPre::new,
        )?;
        let http = sandbox::http_client(&runtime, true).map_err(fail)?;
        let mut generator = ListGenerator {
            runtime,
            backend: Backend::Wasm(pre),
            info: Info {
                name: name.to_string(),
                version: String::new(),
                hosts: Vec::new(),
            },
            http,
        };
        let info = generator
            .call(Grants::default(), async |plugin, store| {
                plugin
                    .hangar_plugin_list_generator()
                    .call_describe(store)
                    .await
            })
            .await?;
        generator.info = info;
        Ok(generator)
    }

    /// Loads a native list generator from bytes already checked against its manifest.
    pub async fn load_native(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
    ) -> Result<ListGenerator, PluginError> {
        let fail = |message: String| PluginError::Load {
            plugin: name.to_string(),
            message,
        };
        let plugin = NativePlugin::load(name, bytes)?;
        let http = sandbox::http_client(&runtime, true).map_err(fail)?;
        let mut generator = ListGenerator {
            runtime,
            backend: Backend::Native(plugin.clone()),
            info: Info {
                name: name.to_string(),
                version: String::new(),
                hosts: Vec::new(),
            },
            http,
        };
        let (name, version, hosts) = plugin
            .identify(
                "list-generator",
                generator.http.clone(),
                generator.runtime.limits.time,
            )
            .await?;
        generator.info = Info {
            name,
            version,
            hosts,
        };
        Ok(generator)
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

    /// Runs the generator over `options`; it may read `paths` and reach the declared hosts
    /// that are in `allowed_hosts`. A generator declaring `$options` may also reach the
    /// hosts of URLs in `options`, and any host in `allowed_hosts` (the user's choice, e.g.
    /// where a chart repository's archives live).
    pub async fn generate(
        &self,
        options: &[(String, String)],
        paths: Vec<PathBuf>,
        allowed_hosts: &[String],
    ) -> Result<Generated, PluginError> {
        let open = self.info.hosts.iter().any(|h| h == "$options");
        let mut hosts: Vec<String> = self
            .info
            .hosts
            .iter()
            .filter(|h| allowed_hosts.contains(h))
            .cloned()
            .collect();
        if open {
            hosts.extend(option_hosts(options));
            hosts.extend(allowed_hosts.iter().cloned());
        }
        let grants = Grants {
            hosts,
            paths,
            logged_errors: Default::default(),
        };
        let logged_errors = grants.logged_errors.clone();
        let answer = match &self.backend {
            Backend::Wasm(_) => {
                let options = options.to_vec();
                self.call(grants, async move |plugin, store| {
                    plugin
                        .hangar_plugin_list_generator()
                        .call_generate(store, &options)
                        .await
                })
                .await?
            }
            Backend::Native(_) => self
                .native(
                    grants,
                    "generate",
                    serde_json::json!({ "options": options }),
                )
                .await?
                .map(|v| {
                    v.as_array()
                        .map(|entries| {
                            entries
                                .iter()
                                .map(|e| ImageEntry {
                                    reference: native::text(&e["reference"]),
                                    os: e["os"].as_str().map(str::to_string),
                                    source: native::text(&e["source"]),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                }),
        };
        answer
            .map(|entries| Generated {
                entries,
                errors: logged_errors.load(std::sync::atomic::Ordering::Relaxed),
            })
            .map_err(|message| PluginError::Failed {
                plugin: self.info.name.clone(),
                message,
            })
    }

    async fn native(
        &self,
        grants: Grants,
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
                grants,
                self.http.clone(),
                self.runtime.limits.time,
            )
            .await
    }

    async fn call<R, F>(&self, grants: Grants, f: F) -> Result<R, PluginError>
    where
        F: AsyncFnOnce(&ListGeneratorPlugin, &mut wasmtime::Store<State>) -> wasmtime::Result<R>,
    {
        let Backend::Wasm(pre) = &self.backend else {
            unreachable!("component calls are only made on the wasm backend");
        };
        let mut store = sandbox::store(&self.runtime, &self.info.name, grants, self.http.clone());
        let result = async {
            let plugin = pre.instantiate_async(&mut store).await?;
            f(&plugin, &mut store).await
        }
        .await;
        result.map_err(|e| sandbox::trap(&self.info.name, e, self.runtime.limits))
    }
}
