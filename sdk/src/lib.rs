//! Write hangar plugins in Rust. A plugin implements one world of the `hangar:plugin@0.1.0`
//! contract (`wit/plugin.wit`, explained in `wit/README.md`):
//!
//! | world | feature | implement | export with |
//! |---|---|---|---|
//! | registry adapter (Harbor projects, vendor errors) | `registry-adapter` | [`registry_adapter::Guest`] | [`export_registry_adapter!`] |
//! | image-list generator (charts, release files) | `list-generator` | [`list_generator::Guest`] | [`export_list_generator!`] |
//! | scanner (packages, vulnerabilities) | `scanner` | [`scanner::Guest`] | [`export_scanner!`] |
//! | SBOM generator (SPDX, CycloneDX documents) | `sbom` | [`sbom::Guest`] | [`export_sbom!`] |
//!
//! Enable exactly one feature. Talk to the host only through this crate's helpers ([`log`],
//! [`http`], [`files`]): they work in both builds below.
//!
//! Getting the SDK: it is not published to a package registry; depend on the `sdk/` folder of hangar's repository
//! by path or git (it reads the contract from the `wit/` folder beside it):
//! `hangar-plugin-sdk = { path = ".../hangar/sdk", features = ["registry-adapter"] }`, with
//! `crate-type = ["cdylib"]`. Complete examples: a registry adapter in [`registry_adapter`], a
//! list generator in [`list_generator`] (each documented when its feature is on).
//!
//! **WebAssembly (the default, sandboxed):** `cargo build --release --target wasm32-wasip2`;
//! the `.wasm` in `target/wasm32-wasip2/release/` is the component hangar loads
//! (`hangar plugin install x.wasm`, or `--plugin x.wasm`). Each call runs in a fresh instance
//! with a time and memory limit; WASI is linked with nothing granted.
//!
//! **Native (trusted, opt-in):** the same source built for the host target
//! (`cargo build --release`, with `panic = "unwind"`) is a shared library speaking a small
//! versioned C ABI ([`native`]). hangar loads it only with `--allow-native-plugins` and only
//! when its SHA-256 matches the manifest recorded at install. It runs with hangar's
//! privileges, without a sandbox: use it for in-house code that needs native speed or
//! libraries. Registry adapters and list generators can be built natively; scanners and SBOM
//! generators cannot.
//!
//! Hosts: `describe().hosts` lists what the plugin may reach over HTTP. `"$registry"` means
//! "the registry the current call is about"; any other entry is an exact `host[:port]` that the
//! user must also allow (`--plugin-allow-host`). The host adds registry credentials itself
//! (`with_credentials`); a plugin never sees a password.
//!
//! Testing without a registry: `hangar plugin test PLUGIN CALL ARGS... --http-fixtures F`
//! runs one call against recorded HTTP answers and prints the result and every request the
//! plugin made (see `plugins/template`).

#[cfg(not(any(
    feature = "registry-adapter",
    feature = "list-generator",
    feature = "scanner",
    feature = "sbom"
)))]
compile_error!(
    "enable the feature of the world this plugin implements: registry-adapter, list-generator, scanner or sbom"
);

#[cfg(any(
    all(feature = "registry-adapter", feature = "list-generator"),
    all(feature = "registry-adapter", feature = "scanner"),
    all(feature = "registry-adapter", feature = "sbom"),
    all(feature = "list-generator", feature = "scanner"),
    all(feature = "list-generator", feature = "sbom"),
    all(feature = "scanner", feature = "sbom")
))]
compile_error!(
    "a plugin implements exactly one world: enable only one of registry-adapter, list-generator, scanner, sbom"
);

/// The generated bindings of the enabled world (`world`); use the modules below instead.
#[doc(hidden)]
pub mod bindings {
    #[cfg(feature = "registry-adapter")]
    pub mod world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "registry-adapter-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_registry_adapter_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::world",
        });
    }
    #[cfg(feature = "list-generator")]
    pub mod world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "list-generator-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_list_generator_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::world",
        });
    }
    #[cfg(feature = "scanner")]
    pub mod world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "scanner-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_scanner_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::world",
        });
    }
    #[cfg(feature = "sbom")]
    pub mod world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "sbom-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_sbom_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::world",
        });
    }
}

#[cfg(not(target_arch = "wasm32"))]
// Scanners and SBOM generators are not built natively; the world functions the ABI carries go
// unused then.
#[cfg_attr(any(feature = "scanner", feature = "sbom"), allow(dead_code))]
pub mod native;

/// The registry-adapter world: implement [`registry_adapter::Guest`], export it with
/// [`export_registry_adapter!`]. A complete adapter (feature `registry-adapter`):
///
/// ```no_run
/// use hangar_plugin_sdk::registry_adapter::{Guest, Info};
/// use hangar_plugin_sdk::{http, log};
///
/// struct Example;
///
/// impl Guest for Example {
///     fn describe() -> Info {
///         Info { name: "example".into(), version: "0.1.0".into(), hosts: vec!["$registry".into()] }
///     }
///     fn detect(registry: String) -> Result<bool, String> {
///         Ok(http::get(&format!("https://{registry}/api/ping"), false)?.status == 200)
///     }
///     fn prepare_push(
///         _registry: String,
///         repositories: Vec<String>,
///         _options: Vec<(String, String)>,
///     ) -> Result<Vec<String>, String> {
///         log::info(&format!("{} repositories", repositories.len()));
///         Ok(Vec::new())
///     }
///     fn classify_error(_status: u16, _body: String) -> Option<String> {
///         None
///     }
/// }
///
/// hangar_plugin_sdk::export_registry_adapter!(Example);
/// ```
#[cfg(feature = "registry-adapter")]
pub mod registry_adapter {
    pub use crate::bindings::world::exports::hangar::plugin::registry_adapter::Guest;
    pub use crate::bindings::world::hangar::plugin::types::Info;
}

/// The list-generator world: implement [`list_generator::Guest`], export it with
/// [`export_list_generator!`]. `generate` gets the user's `--option key=value` pairs and
/// reads input paths through [`files`]: only paths the user also granted (files or
/// directories), given absolute or relative to hangar's working directory.
///
/// A complete generator (feature `list-generator`): one image per `image:` line of the file
/// named by `file=PATH`.
///
/// ```no_run
/// use hangar_plugin_sdk::files;
/// use hangar_plugin_sdk::list_generator::{Guest, ImageEntry, Info};
///
/// struct Manifests;
///
/// impl Guest for Manifests {
///     fn describe() -> Info {
///         Info { name: "manifests".into(), version: "0.1.0".into(), hosts: Vec::new() }
///     }
///     fn generate(options: Vec<(String, String)>) -> Result<Vec<ImageEntry>, String> {
///         let mut images = Vec::new();
///         for (key, path) in options {
///             if key != "file" {
///                 return Err(format!("unknown option {key:?} (file=PATH)"));
///             }
///             let text = String::from_utf8_lossy(&files::read(&path)?).into_owned();
///             for line in text.lines() {
///                 if let Some(reference) = line.trim().strip_prefix("image:") {
///                     images.push(ImageEntry {
///                         reference: reference.trim().trim_matches('"').to_string(),
///                         os: None,
///                         source: path.clone(),
///                     });
///                 }
///             }
///         }
///         Ok(images)
///     }
/// }
///
/// hangar_plugin_sdk::export_list_generator!(Manifests);
/// ```
///
/// Try it: `hangar plugin test manifests.wasm generate --option file=values.yaml --path
/// values.yaml` (`--path` grants the file; without it the read is refused).
#[cfg(feature = "list-generator")]
pub mod list_generator {
    pub use crate::bindings::world::exports::hangar::plugin::list_generator::{Guest, ImageEntry};
    pub use crate::bindings::world::hangar::plugin::types::Info;
}

/// The scanner world: implement [`scanner::Guest`], export it with [`export_scanner!`].
/// `scan` reads the image's merged filesystem through the `fs` handle, only the files it
/// needs ([`scanner::read_file`] reads a whole file).
#[cfg(feature = "scanner")]
pub mod scanner {
    pub use crate::bindings::world::exports::hangar::plugin::scanner::Guest;
    pub use crate::bindings::world::hangar::plugin::image_fs::{Entry, Filesystem, Kind};
    pub use crate::bindings::world::hangar::plugin::types::{
        Finding, Info, InstalledPackage, Platform, Report,
    };

    /// A whole file (read in 1 MiB pieces), or `None` when it does not exist or is not a file.
    pub fn read_file(fs: &Filesystem, path: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let piece = fs.read(path, out.len() as u64, 1 << 20).ok()?;
            if piece.is_empty() {
                return Some(out);
            }
            out.extend_from_slice(&piece);
        }
    }
}

/// The SBOM world: implement [`sbom::Guest`], export it with [`export_sbom!`]. `generate`
/// turns one scanner report (the packages and findings of one image platform) into a document
/// in one of the formats `formats` lists; hangar picks the plugin with `--sbom-plugin` or the
/// config file's `plugins.sbom`, and asks for `spdx-json` or `cyclonedx` when the user runs
/// `hangar scan --format spdx-json|cyclonedx`.
///
/// ```no_run
/// use hangar_plugin_sdk::sbom::{Guest, Info, Report, Subject};
///
/// struct Names;
///
/// impl Guest for Names {
///     fn describe() -> Info {
///         Info { name: "names".into(), version: "0.1.0".into(), hosts: Vec::new() }
///     }
///     fn formats() -> Vec<String> {
///         vec!["names".into()]
///     }
///     fn generate(format: String, subject: Subject, report: Report, _created: String) -> Result<String, String> {
///         if format != "names" {
///             return Err(format!("cannot write {format}"));
///         }
///         let names: Vec<String> = report.packages.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
///         Ok(format!("{}\n{}\n", subject.image, names.join("\n")))
///     }
/// }
///
/// hangar_plugin_sdk::export_sbom!(Names);
/// ```
#[cfg(feature = "sbom")]
pub mod sbom {
    pub use crate::bindings::world::exports::hangar::plugin::sbom_generator::{Guest, Subject};
    pub use crate::bindings::world::hangar::plugin::types::{
        Finding, Info, InstalledPackage, Platform, Report,
    };
}

/// Logging into hangar's log (prefixed with the plugin's name).
pub mod log {
    pub use crate::bindings::world::hangar::plugin::log::Level;

    pub fn debug(message: &str) {
        emit(Level::Debug, message)
    }
    pub fn info(message: &str) {
        emit(Level::Info, message)
    }
    pub fn warn(message: &str) {
        emit(Level::Warn, message)
    }
    pub fn error(message: &str) {
        emit(Level::Error, message)
    }

    pub fn emit(level: Level, message: &str) {
        #[cfg(target_arch = "wasm32")]
        crate::bindings::world::hangar::plugin::log::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        crate::native::host_log(level, message);
    }
}

/// HTTP through the host: allowed hosts only; credentials added by the host on request.
#[cfg(any(feature = "registry-adapter", feature = "list-generator"))]
pub mod http {
    pub use crate::bindings::world::hangar::plugin::http::{Header, Request, Response};

    /// Sends a request; `with_credentials` asks the host to add the registry's credentials.
    pub fn request(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        with_credentials: bool,
    ) -> Result<Response, String> {
        let request = Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.to_string(),
                    value: value.to_string(),
                })
                .collect(),
            body,
        };
        send(&request, with_credentials)
    }

    pub fn get(url: &str, with_credentials: bool) -> Result<Response, String> {
        request("GET", url, &[], None, with_credentials)
    }

    pub fn send(request: &Request, with_credentials: bool) -> Result<Response, String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::world::hangar::plugin::http::send(request, with_credentials);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::native::host_http(request, with_credentials);
    }

    impl Response {
        /// The body as text (lossy).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }
}

/// Read-only access to the paths the user passed (list generators' inputs, scanners'
/// databases).
#[cfg(any(feature = "list-generator", feature = "scanner"))]
pub mod files {
    pub fn read(path: &str) -> Result<Vec<u8>, String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::world::hangar::plugin::files::read(path);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::native::host_files_read(path);
    }

    pub fn list(dir: &str) -> Result<Vec<String>, String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::world::hangar::plugin::files::list(dir);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::native::host_files_list(dir);
    }
}

/// Exports a registry adapter: the component's exports on wasm32, the C ABI natively.
#[cfg(feature = "registry-adapter")]
#[macro_export]
macro_rules! export_registry_adapter {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::world::__export_registry_adapter_wasm!($ty);
        #[cfg(not(target_arch = "wasm32"))]
        $crate::__export_native!($ty, $crate::native::registry_adapter::dispatch::<$ty>);
    };
}

/// Exports a list generator: the component's exports on wasm32, the C ABI natively.
#[cfg(feature = "list-generator")]
#[macro_export]
macro_rules! export_list_generator {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::world::__export_list_generator_wasm!($ty);
        #[cfg(not(target_arch = "wasm32"))]
        $crate::__export_native!($ty, $crate::native::list_generator::dispatch::<$ty>);
    };
}

/// Exports a scanner (WebAssembly only: scanners read the image through a host resource).
#[cfg(feature = "scanner")]
#[macro_export]
macro_rules! export_scanner {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::world::__export_scanner_wasm!($ty);
        // Natively (the plugin's own unit tests) nothing is exported; this keeps the type
        // counted as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::scanner::Info = <$ty as $crate::scanner::Guest>::describe;
    };
}

/// Exports an SBOM generator (WebAssembly only).
#[cfg(feature = "sbom")]
#[macro_export]
macro_rules! export_sbom {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::world::__export_sbom_wasm!($ty);
        // Natively (the plugin's own unit tests) nothing is exported; this keeps the type
        // counted as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> Vec<String> = <$ty as $crate::sbom::Guest>::formats;
    };
}
