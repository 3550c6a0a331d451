//! The `sbom-plugin` world on the host side: a generator turns one scanner report into an SBOM
//! document (SPDX, CycloneDX...). It gets no network and no files, only the report.

use super::registry_adapter::hangar::plugin::types::{Info, Report};
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
        "hangar:plugin/types": super::registry_adapter::hangar::plugin::types,
        "hangar:plugin/log": super::registry_adapter::hangar::plugin::log,
    },
});

pub use self::exports::hangar::plugin::sbom_generator::Subject;

pub struct SbomGenerator {
    runtime: Arc<Runtime>,
    pre: SbomPluginPre<State>,
    /// What the plugin said about itself (`describe`).
    info: Info,
    formats: Vec<String>,
}

impl SbomGenerator {
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
        let mut generator = SbomGenerator {
            runtime,
            pre,
            info: Info {
                name: name.to_string(),
                version: String::new(),
                hosts: Vec::new(),
            },
            formats: Vec::new(),
        };
        let (info, formats) = generator
            .call(async |plugin, store| {
                let generator = plugin.hangar_plugin_sbom_generator();
                let info = generator.call_describe(&mut *store).await?;
                let formats = generator.call_formats(&mut *store).await?;
                Ok((info, formats))
            })
            .await?;
        generator.info = info;
        generator.formats = formats;
        Ok(generator)
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn version(&self) -> &str {
        &self.info.version
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
        self.call(async move |plugin, store| {
            plugin
                .hangar_plugin_sbom_generator()
                .call_generate(store, &format, &subject, &report, &created)
                .await
        })
        .await?
        .map_err(|message| PluginError::Failed {
            plugin: self.info.name.clone(),
            message,
        })
    }

    async fn call<R, F>(&self, f: F) -> Result<R, PluginError>
    where
        F: AsyncFnOnce(&SbomPlugin, &mut wasmtime::Store<State>) -> wasmtime::Result<R>,
    {
        // No network and no files: the report is all a generator gets.
        let mut store = sandbox::store(
            &self.runtime,
            &self.info.name,
            Grants::default(),
            sandbox::Transport::Offline,
        );
        let result = async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            f(&plugin, &mut store).await
        }
        .await;
        result.map_err(|e| sandbox::trap(&self.info.name, e, self.runtime.limits))
    }
}
