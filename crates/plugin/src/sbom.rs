//! The `sbom-plugin` world on the host side: a generator turns one scanner report into an SBOM
//! document (SPDX, CycloneDX...). It gets no network and no files, only the report.

use super::interfaces::hangar::plugin::types::Report;
use super::loader::{Loaded, component};
use super::runtime::{PluginError, Runtime};
use super::sandbox::{self, Grants, State};
use std::sync::Arc;
use wasmtime::component::HasSelf;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "sbom-plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "hangar:plugin/types": super::interfaces::hangar::plugin::types,
        "hangar:plugin/log": super::interfaces::hangar::plugin::log,
    },
});

component!(SbomPluginPre, SbomPlugin);

pub use self::exports::hangar::plugin::sbom_generator::Subject;

pub struct SbomGenerator {
    plugin: Loaded<SbomPluginPre<State>>,
    formats: Vec<String>,
}

impl SbomGenerator {
    plugin_identity!();

    pub async fn load(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
    ) -> Result<SbomGenerator, PluginError> {
        let pre = sandbox::link(
            &runtime,
            name,
            bytes,
            "sbom-generator",
            |linker| SbomPlugin::add_to_linker::<_, HasSelf<_>>(linker, |s| s),
            SbomPluginPre::new,
        )?;
        // No network and no files: the report is all a generator gets.
        let http = sandbox::Transport::Offline;
        let plugin = Loaded::component(runtime, name, pre, http, async |plugin, store| {
            plugin
                .hangar_plugin_sbom_generator()
                .call_describe(store)
                .await
        })
        .await?;
        let formats = plugin
            .call(Grants::default(), async |plugin, store| {
                plugin
                    .hangar_plugin_sbom_generator()
                    .call_formats(store)
                    .await
            })
            .await?;
        Ok(SbomGenerator { plugin, formats })
    }

    /// The formats the plugin writes.
    pub fn formats(&self) -> &[String] {
        &self.formats
    }

    /// One document in `format` for one scanned image platform.
    pub async fn generate(
        &self,
        format: &str,
        subject: &Subject,
        report: &Report,
        created: &str,
    ) -> Result<String, PluginError> {
        let (format, subject, report, created) = (
            format.to_string(),
            subject.clone(),
            report.clone(),
            created.to_string(),
        );
        self.plugin
            .call(Grants::default(), async move |plugin, store| {
                plugin
                    .hangar_plugin_sbom_generator()
                    .call_generate(store, &format, &subject, &report, &created)
                    .await
            })
            .await?
            .map_err(|message| self.plugin.failed(message))
    }
}
