//! The engine every plugin runs on, its deadline ticker, and the cache of compiled components.

use sha2::{Digest as _, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The pinned wasmtime major (the LTS); a patch release that changes the compiled format is
/// caught by `deserialize_file` failing, and the component is compiled again.
const WASMTIME_MAJOR: &str = "48";

/// One tick of the deadline clock.
pub const TICK: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {plugin}: {message}")]
    Load { plugin: String, message: String },
    #[error("plugin {plugin}: stopped after {limit:?} (time limit)")]
    TimedOut { plugin: String, limit: Duration },
    #[error("plugin {plugin}: stopped at the {limit_mib} MiB memory limit")]
    OutOfMemory { plugin: String, limit_mib: usize },
    #[error("plugin {plugin}: crashed: {message}")]
    Trapped { plugin: String, message: String },
    #[error("plugin {plugin}: {message}")]
    Failed { plugin: String, message: String },
}

/// What one call of a plugin may use.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub time: Duration,
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            time: Duration::from_secs(30),
            memory: 256 << 20,
        }
    }
}

pub struct Runtime {
    pub(crate) engine: Engine,
    cache: Option<PathBuf>,
    pub(crate) limits: Limits,
}

impl Runtime {
    /// An engine with epoch deadlines, and a thread advancing them every [`TICK`]. `cache` is
    /// where compiled components are kept (`None`: compile every time).
    pub fn new(limits: Limits, cache: Option<PathBuf>) -> Result<Arc<Runtime>, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| PluginError::Load {
            plugin: "(runtime)".into(),
            message: e.to_string(),
        })?;
        let ticking = engine.weak();
        std::thread::Builder::new()
            .name("plugin-deadlines".into())
            .spawn(move || {
                while let Some(engine) = ticking.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|e| PluginError::Load {
                plugin: "(runtime)".into(),
                message: e.to_string(),
            })?;
        Ok(Arc::new(Runtime {
            engine,
            cache,
            limits,
        }))
    }

    /// The default cache: `$XDG_CACHE_HOME/hangar/plugins` (or `~/.cache/...`).
    pub fn default_cache() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("hangar").join("plugins"))
    }

    /// Compiles a component, or loads it from the cache, keyed by the component's SHA-256 and
    /// the wasmtime version (the compiled form is only valid for the engine that made it).
    pub fn component(&self, name: &str, bytes: &[u8]) -> Result<Component, PluginError> {
        let fail = |message: String| PluginError::Load {
            plugin: name.to_string(),
            message,
        };
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => {}
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
                return Err(fail(
                    "a core WebAssembly module, not a component (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)".into(),
                ));
            }
            _ => return Err(fail("not a WebAssembly component".into())),
        }
        let key = format!(
            "{}-wasmtime{}.cwasm",
            hex::encode(Sha256::digest(bytes)),
            WASMTIME_MAJOR
        );
        if let Some(dir) = &self.cache {
            let path = dir.join(&key);
            if path.is_file() {
                // SAFETY: only files this process family wrote to its own cache (named by the
                // component's hash and the engine version) are deserialized; a file that does
                // not deserialize is replaced below.
                if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, &path) } {
                    return Ok(component);
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| {
            let first = format!("{e:#}");
            fail(format!(
                "not a valid component: {}",
                first.lines().next().unwrap_or_default()
            ))
        })?;
        if let Some(dir) = &self.cache
            && let Ok(compiled) = component.serialize()
        {
            // Written beside and renamed: a concurrent run never reads half a file.
            let _ = std::fs::create_dir_all(dir);
            let partial = dir.join(format!(".{key}.{}", std::process::id()));
            if std::fs::write(&partial, compiled).is_ok() {
                let _ = std::fs::rename(&partial, dir.join(&key));
            }
        }
        Ok(component)
    }
}
