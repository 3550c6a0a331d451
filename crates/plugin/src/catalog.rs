//! Where plugins come from: built into the binary, installed in the user's plugin directory
//! (`$XDG_DATA_HOME/hangar/plugins/<name>/`: `manifest.json` and the plugin file), or named
//! on the command line (`--plugin PATH`). A plugin named on the command line shadows an
//! installed one of the same name, which shadows a built-in one.

use super::manifest::{self, Kind, Manifest, World};
use super::runtime::{PluginError, Runtime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    /// Installed: the plugin file in the plugin directory.
    Installed(PathBuf),
    /// Named with `--plugin` (or the config file's `plugins.paths`).
    Given(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Embedded => f.write_str("built-in"),
            Origin::Installed(p) | Origin::Given(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Found {
    pub manifest: Manifest,
    pub origin: Origin,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// The plugin directory (`None`: no home to keep plugins in).
    pub dir: Option<PathBuf>,
    /// Plugin files named on the command line.
    pub given: Vec<PathBuf>,
    /// Whether native plugins (trusted code, no sandbox) may be loaded.
    pub allow_native: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("no plugin named {0:?} (see `hangar plugin list`)")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> CatalogError {
    CatalogError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Catalog {
    /// `$XDG_DATA_HOME/hangar/plugins` (or `~/.local/share/hangar/plugins`).
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
        Some(base.join("hangar").join("plugins"))
    }

    /// Every plugin, shadowed ones left out, sorted by world then name. A plugin that cannot
    /// be described is reported by itself; the others are still listed.
    pub async fn list(&self, runtime: &Arc<Runtime>) -> Vec<Result<Found, CatalogError>> {
        self.list_of(runtime, None).await
    }

    /// [`Catalog::list`], leaving out built-in plugins of another world than `world` (their
    /// world is known without compiling them).
    async fn list_of(
        &self,
        runtime: &Arc<Runtime>,
        world: Option<World>,
    ) -> Vec<Result<Found, CatalogError>> {
        let mut all: Vec<Result<Found, CatalogError>> = Vec::new();
        for path in &self.given {
            all.push(self.given_plugin(runtime, path).await);
        }
        if let Some(dir) = &self.dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            names.sort();
            for plugin_dir in names.into_iter().filter(|p| p.is_dir()) {
                all.push(read_installed(&plugin_dir));
            }
        }
        for (name, embedded_world, bytes) in super::EMBEDDED {
            if world.is_some_and(|w| w.interface() != *embedded_world) {
                continue;
            }
            all.push(
                manifest::describe(runtime, name, bytes)
                    .await
                    .map(|manifest| Found {
                        manifest,
                        origin: Origin::Embedded,
                    })
                    .map_err(CatalogError::from),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        all.retain(|f| match f {
            Ok(found) => seen.insert(found.manifest.name.clone()),
            Err(_) => true,
        });
        all.sort_by(|a, b| match (a, b) {
            (Ok(a), Ok(b)) => {
                (a.manifest.world, &a.manifest.name).cmp(&(b.manifest.world, &b.manifest.name))
            }
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => std::cmp::Ordering::Equal,
        });
        all
    }

    /// The plugin `name`, or the plugin file at `name` when it is a path.
    pub async fn find(&self, runtime: &Arc<Runtime>, name: &str) -> Result<Found, CatalogError> {
        let path = Path::new(name);
        if name.contains('/') || path.extension().is_some_and(|e| e == "wasm" || e == "so") {
            return self.given_plugin(runtime, path).await;
        }
        // In shadowing order, and a built-in is described only when it is the one asked for:
        // describing compiles it, and a large one (a Python or JavaScript component) takes
        // seconds the first time.
        for path in &self.given {
            if let Ok(found) = self.given_plugin(runtime, path).await
                && found.manifest.name == name
            {
                return Ok(found);
            }
        }
        if let Some(dir) = &self.dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            dirs.sort();
            for plugin_dir in dirs.into_iter().filter(|p| p.is_dir()) {
                if let Ok(found) = read_installed(&plugin_dir)
                    && found.manifest.name == name
                {
                    return Ok(found);
                }
            }
        }
        for (embedded, _, bytes) in super::EMBEDDED {
            if *embedded == name {
                let manifest = manifest::describe(runtime, embedded, bytes).await?;
                return Ok(Found {
                    manifest,
                    origin: Origin::Embedded,
                });
            }
        }
        Err(CatalogError::NotFound(name.to_string()))
    }

    /// Every plugin of `world` (shadowing applied).
    pub async fn of_world(&self, runtime: &Arc<Runtime>, world: World) -> Vec<Found> {
        let mut found = Vec::new();
        for entry in self.list_of(runtime, Some(world)).await {
            match entry {
                Ok(f) if f.manifest.world == world => found.push(f),
                Ok(_) => {}
                Err(e) => tracing::warn!("{e}"),
            }
        }
        found
    }

    /// The plugin's bytes, checked against the SHA-256 its manifest recorded: a plugin file
    /// changed since it was installed is refused.
    pub fn bytes(&self, found: &Found) -> Result<Vec<u8>, CatalogError> {
        let bytes = match &found.origin {
            Origin::Embedded => super::embedded(&found.manifest.name)
                .ok_or_else(|| CatalogError::NotFound(found.manifest.name.clone()))?
                .to_vec(),
            Origin::Installed(path) | Origin::Given(path) => {
                std::fs::read(path).map_err(|e| file_error(path, e))?
            }
        };
        let actual = manifest::sha256_hex(&bytes);
        if actual != found.manifest.sha256 {
            return Err(CatalogError::Refused(format!(
                "plugin {}: {} has sha256 {actual}, but its manifest says {}; reinstall it",
                found.manifest.name, found.origin, found.manifest.sha256
            )));
        }
        Ok(bytes)
    }

    async fn given_plugin(
        &self,
        runtime: &Arc<Runtime>,
        path: &Path,
    ) -> Result<Found, CatalogError> {
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        if super::native::is_native(&bytes) {
            return Err(CatalogError::Refused(format!(
                "{}: a native plugin is only loaded once installed, so its sha256 is on record: hangar plugin install --allow-native-plugins {}",
                path.display(),
                path.display()
            )));
        }
        let manifest = manifest::describe(runtime, &path.display().to_string(), &bytes).await?;
        Ok(Found {
            manifest,
            origin: Origin::Given(path.to_path_buf()),
        })
    }

    fn dir(&self) -> Result<&Path, CatalogError> {
        self.dir.as_deref().ok_or_else(|| {
            CatalogError::Refused("no plugin directory: set XDG_DATA_HOME or HOME".to_string())
        })
    }

    /// Installs a WebAssembly plugin: describes it (refusing one for another contract), then
    /// writes its file and manifest into `<dir>/<name>/`, replacing an older install only with
    /// `replace`. Written beside and renamed, so a crash leaves the old install or the new.
    pub async fn install(
        &self,
        runtime: &Arc<Runtime>,
        bytes: &[u8],
        origin: &str,
        replace: bool,
    ) -> Result<Manifest, CatalogError> {
        let manifest = self.describe(runtime, origin, bytes).await?;
        self.write(&manifest, bytes, replace)?;
        Ok(manifest)
    }

    /// The manifest of a component, or of a native plugin when those are allowed.
    pub async fn describe(
        &self,
        runtime: &Arc<Runtime>,
        origin: &str,
        bytes: &[u8],
    ) -> Result<Manifest, CatalogError> {
        if super::native::is_native(bytes) {
            self.check_native(origin)?;
            return Ok(manifest::describe_native(runtime, origin, bytes).await?);
        }
        Ok(manifest::describe(runtime, origin, bytes).await?)
    }

    /// Refuses native plugins unless the user allowed them.
    pub fn check_native(&self, what: &str) -> Result<(), CatalogError> {
        if self.allow_native {
            Ok(())
        } else {
            Err(CatalogError::Refused(format!(
                "{what} is a native plugin: it runs unsandboxed with hangar's privileges, so it loads only with --allow-native-plugins (or plugins.allow-native in the config file)"
            )))
        }
    }

    /// Writes an already described plugin into the plugin directory.
    pub fn write(
        &self,
        manifest: &Manifest,
        bytes: &[u8],
        replace: bool,
    ) -> Result<PathBuf, CatalogError> {
        // An install that is a link (a shared plugin directory) is replaced at its target;
        // the link stays.
        let installed = self.dir()?.join(&manifest.name);
        let target = hangar_outfile::resolve(&installed).map_err(|e| file_error(&installed, e))?;
        let dir = target.parent().unwrap_or(Path::new("."));
        if target.exists() && !replace {
            let old = read_installed(&target)
                .map(|f| f.manifest.version)
                .unwrap_or_default();
            return Err(CatalogError::Refused(format!(
                "plugin {} {old} is already installed; use --force to replace it with {}",
                manifest.name, manifest.version
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let staging = dir.join(format!(".{}.{}", manifest.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| file_error(&staging, e))?;
        let file = staging.join(plugin_file(manifest.kind));
        std::fs::write(&file, bytes).map_err(|e| file_error(&file, e))?;
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
        let manifest_path = staging.join("manifest.json");
        std::fs::write(&manifest_path, json).map_err(|e| file_error(&manifest_path, e))?;
        if target.exists() {
            let old = dir.join(format!(".{}.old.{}", manifest.name, std::process::id()));
            std::fs::rename(&target, &old).map_err(|e| file_error(&target, e))?;
            std::fs::rename(&staging, &target).map_err(|e| file_error(&target, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&staging, &target).map_err(|e| file_error(&target, e))?;
        }
        Ok(target.join(plugin_file(manifest.kind)))
    }

    /// Removes an installed plugin; built-in ones cannot be removed.
    pub fn remove(&self, name: &str) -> Result<Manifest, CatalogError> {
        manifest::check_name(name).map_err(|_| CatalogError::NotFound(name.to_string()))?;
        let target = self.dir()?.join(name);
        if !target.is_dir() {
            if super::embedded(name).is_some() {
                return Err(CatalogError::Refused(format!(
                    "plugin {name} is built into hangar and cannot be removed (choose another with --registry-adapter or the config file)"
                )));
            }
            return Err(CatalogError::NotFound(name.to_string()));
        }
        let found = read_installed(&target)?;
        std::fs::remove_dir_all(&target).map_err(|e| file_error(&target, e))?;
        Ok(found.manifest)
    }
}

/// The plugin file's name inside its directory.
pub fn plugin_file(kind: Kind) -> &'static str {
    match kind {
        Kind::Wasm => "plugin.wasm",
        Kind::Native => "plugin.so",
    }
}

fn read_installed(plugin_dir: &Path) -> Result<Found, CatalogError> {
    let path = plugin_dir.join("manifest.json");
    let text = std::fs::read(&path).map_err(|e| file_error(&path, e))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| file_error(&path, e))?;
    Ok(Found {
        origin: Origin::Installed(plugin_dir.join(plugin_file(manifest.kind))),
        manifest,
    })
}
