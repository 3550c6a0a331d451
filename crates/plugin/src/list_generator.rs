//! The `list-generator-plugin` world on the host side: a plugin turns the inputs the user
//! passed (charts, release files) into image entries. It reads only those paths (`files`) and
//! reaches only the hosts it declared and the user allowed.

use super::loader::{self, Backend, Loaded, component};
use super::native;
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
        "hangar:plugin/types": super::interfaces::hangar::plugin::types,
        "hangar:plugin/log": super::interfaces::hangar::plugin::log,
        "hangar:plugin/http": super::interfaces::hangar::plugin::http,
        "hangar:plugin/files": super::interfaces::hangar::plugin::files,
    },
});

component!(ListGeneratorPluginPre, ListGeneratorPlugin);

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

pub struct ListGenerator {
    plugin: Loaded<ListGeneratorPluginPre<State>>,
}

impl ListGenerator {
    plugin_identity!();
    plugin_network!();

    pub async fn load(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
    ) -> Result<ListGenerator, PluginError> {
        let pre = sandbox::link(
            &runtime,
            name,
            bytes,
            "list-generator",
            |linker| ListGeneratorPlugin::add_to_linker::<_, HasSelf<_>>(linker, |s| s),
            ListGeneratorPluginPre::new,
        )?;
        let http = loader::live(&runtime, name, true)?;
        let plugin = Loaded::component(runtime, name, pre, http, async |plugin, store| {
            plugin
                .hangar_plugin_list_generator()
                .call_describe(store)
                .await
        })
        .await?;
        Ok(ListGenerator { plugin })
    }

    /// Loads a native list generator from bytes already checked against its manifest.
    pub async fn load_native(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
    ) -> Result<ListGenerator, PluginError> {
        let http = loader::live(&runtime, name, true)?;
        let plugin = Loaded::native(runtime, name, bytes, "list-generator", http).await?;
        Ok(ListGenerator { plugin })
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
        let info = &self.plugin.info;
        let open = info.hosts.iter().any(|h| h == "$options");
        let mut hosts: Vec<String> = info
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
        let answer = match &self.plugin.backend {
            Backend::Wasm(_) => {
                let options = options.to_vec();
                self.plugin
                    .call(grants, async move |plugin, store| {
                        plugin
                            .hangar_plugin_list_generator()
                            .call_generate(store, &options)
                            .await
                    })
                    .await?
            }
            Backend::Native(_) => self
                .plugin
                .native_call(
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
            .map_err(|message| self.plugin.failed(message))
    }
}
