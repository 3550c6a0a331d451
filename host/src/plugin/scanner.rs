//! The `scanner-plugin` world on the host side: a scanner reads one image platform's merged
//! filesystem through the `image-fs` resource, only the files it asks for, and returns the
//! packages and findings. It has no network and no other files.

use super::image_fs::{Entry, Filesystem, Tree};
use super::runtime::{PluginError, Runtime};
use super::sandbox::{self, Grants, State};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Resource};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "scanner-plugin",
    imports: { default: async },
    exports: { default: async },
    with: {
        "hangar:plugin/types": super::registry_adapter::hangar::plugin::types,
        "hangar:plugin/log": super::registry_adapter::hangar::plugin::log,
        "hangar:plugin/image-fs.filesystem": super::image_fs::Filesystem,
    },
});

pub use self::exports::hangar::plugin::scanner::{Finding, InstalledPackage, Report};
pub use super::registry_adapter::hangar::plugin::types::Platform;

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
    runtime: Arc<Runtime>,
    pre: ScannerPluginPre<State>,
    name: String,
    version: String,
}

impl Scanner {
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
        let mut scanner = Scanner {
            runtime,
            pre,
            name: name.to_string(),
            version: String::new(),
        };
        let info = scanner
            .call(async |plugin, store| plugin.hangar_plugin_scanner().call_describe(store).await)
            .await?;
        scanner.name = info.name;
        scanner.version = info.version;
        Ok(scanner)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub async fn scan(
        &self,
        image: &str,
        platform: &Platform,
        tree: Arc<dyn Tree>,
    ) -> Result<Report, PluginError> {
        let image = image.to_string();
        let platform = platform.clone();
        self.call(async move |plugin, store| {
            let fs = store.data_mut().table.push(Filesystem(tree))?;
            plugin
                .hangar_plugin_scanner()
                .call_scan(&mut *store, &image, &platform, fs)
                .await
        })
        .await?
        .map_err(|message| PluginError::Failed {
            plugin: self.name.clone(),
            message,
        })
    }

    async fn call<R, F>(&self, f: F) -> Result<R, PluginError>
    where
        F: AsyncFnOnce(&ScannerPlugin, &mut wasmtime::Store<State>) -> wasmtime::Result<R>,
    {
        // Scanners get no network and no files: only the image filesystem handed to `scan`.
        let http = sandbox::Transport::Live(reqwest::Client::new());
        let mut store = sandbox::store(&self.runtime, &self.name, Grants::default(), http);
        let result = async {
            let plugin = self.pre.instantiate_async(&mut store).await?;
            f(&plugin, &mut store).await
        }
        .await;
        result.map_err(|e| sandbox::trap(&self.name, e, self.runtime.limits))
    }
}
