//! The `scanner-plugin` world on the host side: a scanner reads one image platform's merged
//! filesystem through the `image-fs` resource, only the files it asks for, and returns the
//! packages and findings. It has no network and no other files.

use super::image_fs::{Entry, Filesystem, Tree};
use super::loader::{Loaded, component};
use super::runtime::{PluginError, Runtime};
use super::sandbox::{self, Grants, State};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Resource};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "scanner-plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "hangar:plugin/types": super::interfaces::hangar::plugin::types,
        "hangar:plugin/log": super::interfaces::hangar::plugin::log,
        "hangar:plugin/files": super::interfaces::hangar::plugin::files,
        "hangar:plugin/image-fs.filesystem": super::image_fs::Filesystem,
    },
});

component!(ScannerPluginPre, ScannerPlugin);

pub use super::interfaces::hangar::plugin::types::{Finding, InstalledPackage, Platform, Report};

/// Largest single read a scanner gets.
const READ_LIMIT: u32 = 16 << 20;

impl hangar::plugin::image_fs::Host for State {}

impl hangar::plugin::image_fs::HostFilesystem for State {
    async fn list(&mut self, fs: Resource<Filesystem>, dir: String) -> Result<Vec<Entry>, String> {
        let tree = self.tree(&fs)?;
        tokio::task::spawn_blocking(move || tree.list(&dir))
            .await
            .map_err(|e| e.to_string())?
    }

    async fn read(
        &mut self,
        fs: Resource<Filesystem>,
        path: String,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, String> {
        let tree = self.tree(&fs)?;
        let len = len.min(READ_LIMIT);
        tokio::task::spawn_blocking(move || tree.read(&path, offset, len))
            .await
            .map_err(|e| e.to_string())?
    }

    async fn drop(&mut self, fs: Resource<Filesystem>) -> wasmtime::Result<()> {
        self.table.delete(fs)?;
        Ok(())
    }
}

impl State {
    fn tree(&self, fs: &Resource<Filesystem>) -> Result<Arc<dyn Tree>, String> {
        self.table
            .get(fs)
            .map(|f| f.0.clone())
            .map_err(|e| e.to_string())
    }
}

pub struct Scanner {
    plugin: Loaded<ScannerPluginPre<State>>,
}

impl Scanner {
    plugin_identity!();

    pub async fn load(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
    ) -> Result<Scanner, PluginError> {
        let pre = sandbox::link(
            &runtime,
            name,
            bytes,
            "scanner",
            |linker| ScannerPlugin::add_to_linker::<_, HasSelf<_>>(linker, |s| s),
            ScannerPluginPre::new,
        )?;
        // Scanners get no network: the image filesystem handed to `scan`, and the files the
        // user passed (a vulnerability database).
        let http = sandbox::Transport::Offline;
        let plugin = Loaded::component(runtime, name, pre, http, async |plugin, store| {
            plugin.hangar_plugin_scanner().call_describe(store).await
        })
        .await?;
        Ok(Scanner { plugin })
    }

    /// Scans one image platform. `options` are the user's settings; `paths` what the scanner
    /// may read besides the image (its database).
    pub async fn scan(
        &self,
        image: &str,
        platform: &Platform,
        tree: Arc<dyn Tree>,
        options: &[(String, String)],
        paths: Vec<std::path::PathBuf>,
    ) -> Result<Report, PluginError> {
        let image = image.to_string();
        let platform = platform.clone();
        let options = options.to_vec();
        let grants = Grants {
            hosts: Vec::new(),
            paths,
            logged_errors: Default::default(),
        };
        self.plugin
            .call(grants, async move |plugin, store| {
                let fs = store.data_mut().table.push(Filesystem(tree))?;
                plugin
                    .hangar_plugin_scanner()
                    .call_scan(&mut *store, &image, &platform, fs, &options)
                    .await
            })
            .await?
            .map_err(|message| self.plugin.failed(message))
    }
}

/// A report as JSON, field names as in the WIT record.
pub fn report_json(report: &Report) -> serde_json::Value {
    use serde_json::json;
    json!({
        "os": report.os,
        "packages": report.packages.iter().map(|p| json!({
            "name": p.name,
            "version": p.version,
            "ecosystem": p.ecosystem,
            "source": p.source,
            "architecture": p.architecture,
            "purl": p.purl,
            "licenses": p.licenses,
        })).collect::<Vec<_>>(),
        "findings": report.findings.iter().map(|f| json!({
            "id": f.id,
            "aliases": f.aliases,
            "package": f.package_name,
            "installed-version": f.installed_version,
            "fixed-version": f.fixed_version,
            "severity": f.severity,
            "summary": f.summary,
            "url": f.url,
        })).collect::<Vec<_>>(),
    })
}

/// A report from JSON in [`report_json`]'s shape (what `plugin test ... scan` prints); `None`
/// when it has no `packages` array (some other JSON file was given).
pub fn report_from_json(v: &serde_json::Value) -> Option<Report> {
    if !v["packages"].is_array() {
        return None;
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let maybe = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let strings = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default()
    };
    let each = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
    Some(Report {
        os: maybe(&v["os"]),
        packages: each(&v["packages"])
            .iter()
            .map(|p| InstalledPackage {
                name: text(&p["name"]),
                version: text(&p["version"]),
                ecosystem: text(&p["ecosystem"]),
                source: maybe(&p["source"]),
                architecture: maybe(&p["architecture"]),
                purl: maybe(&p["purl"]),
                licenses: strings(&p["licenses"]),
            })
            .collect(),
        findings: each(&v["findings"])
            .iter()
            .map(|f| Finding {
                id: text(&f["id"]),
                aliases: strings(&f["aliases"]),
                package_name: text(&f["package"]),
                installed_version: text(&f["installed-version"]),
                fixed_version: maybe(&f["fixed-version"]),
                severity: text(&f["severity"]),
                summary: text(&f["summary"]),
                url: maybe(&f["url"]),
            })
            .collect(),
    })
}
