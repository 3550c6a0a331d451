//! Write hangar plugins in Rust. A plugin implements one world of the `hangar:plugin@0.1.1`
//! contract (`wit/plugin.wit`, explained in `wit/README.md`):
//!
//! | world | feature | implement | export with |
//! |---|---|---|---|
//! | registry adapter (Harbor projects, vendor errors) | `registry-adapter` | `registry_adapter::Guest` | `export_registry_adapter!` |
//! | image-list generator (charts, release files) | `list-generator` | `list_generator::Guest` | `export_list_generator!` |
//! | scanner (packages, vulnerabilities) | `scanner` | `scanner::Guest` | `export_scanner!` |
//! | SBOM generator (SPDX, CycloneDX documents) | `sbom` | `sbom::Guest` | `export_sbom!` |
//!
//! Enable the feature of the world the plugin implements. The features add up: plugins of
//! different worlds build together (one `cargo build --workspace`), and each one's component
//! still imports and exports only its own world: the export macro names the world, and a
//! component imports only the host interfaces the plugin calls. Talk to the host only through
//! this crate's helpers ([`log`], `http`, `files`): they work in both builds below. Use only
//! those of your world (`http`: registry adapters and list generators; `files`: list generators
//! and scanners): where features add up, another world's helper compiles, but the component
//! then imports an interface its world lacks and hangar refuses it.
//!
//! Only what differs between plugins must be written: `describe` answers the plugin crate's
//! name and version (its `Cargo.toml`, through the export macro, see [`Package`]) and, for
//! registry adapters and list generators, the trait's `HOSTS` (none unless set); a registry
//! adapter's `prepare_push` does nothing and its `classify_error` knows no better message
//! unless implemented. Implement `describe` when the plugin's name is not its package's
//! (`osv-scanner` is package `osv_scanner`).
//!
//! Getting the SDK: it is not published to a package registry; depend on the `sdk/` folder of hangar's repository
//! by path or git (it reads the contract from the `wit/` folder beside it):
//! `hangar-plugin-sdk = { path = ".../hangar/sdk", features = ["registry-adapter"] }`, with
//! `crate-type = ["cdylib"]`. Complete examples: a registry adapter in `registry_adapter`, a
//! list generator in `list_generator` (each module, and its export macro, is documented when
//! its feature is on: `cargo doc --features registry-adapter,list-generator,scanner,sbom`).
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
//! Hosts: `describe().hosts` (the trait's `HOSTS` with the default `describe`) lists what the
//! plugin may reach over HTTP. `"$registry"` means "the registry the current call is about";
//! any other entry is an exact `host[:port]` that the user must also allow
//! (`--plugin-allow-host`). The host adds registry credentials itself (`with_credentials`); a
//! plugin never sees a password.
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

// The SDK's own paths in the generated bindings (`with`, `default_bindings_module`) are spelled
// `hangar_plugin_sdk::...`, the way the export macros reach them from a plugin crate.
extern crate self as hangar_plugin_sdk;

/// The generated bindings: the interfaces every world shares once (`common`), and each enabled
/// world's exports in its own module; use the modules below instead.
#[doc(hidden)]
pub mod bindings {
    /// `types`, `log`, `http`, `files` and `image-fs`, generated once so that every world uses
    /// the same Rust types. A component imports only what the plugin calls (`wit-component`
    /// drops unused imports), so a plugin still gets only the capabilities it uses.
    ///
    /// The component's world comes from the export macro a plugin invokes (it embeds its
    /// world, imports and exports), so these modules need no helpers that force their own
    /// imports-only descriptions into the link (`disable_custom_section_link_helpers`).
    pub mod common {
        wit_bindgen::generate!({
            path: "../wit",
            inline: "
                package hangar:plugin-sdk;
                world common {
                    import hangar:plugin/types@0.1.1;
                    import hangar:plugin/log@0.1.1;
                    import hangar:plugin/http@0.1.1;
                    import hangar:plugin/files@0.1.1;
                    import hangar:plugin/image-fs@0.1.1;
                }
            ",
            world: "hangar:plugin-sdk/common",
            generate_all,
            disable_custom_section_link_helpers: true,
        });
    }
    #[cfg(feature = "registry-adapter")]
    pub mod registry_adapter_world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "registry-adapter-plugin",
            with: {
                "hangar:plugin/types@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::types,
                "hangar:plugin/log@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::log,
                "hangar:plugin/http@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::http,
            },
            pub_export_macro: true,
            disable_custom_section_link_helpers: true,
            export_macro_name: "__export_registry_adapter_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::registry_adapter_world",
        });
    }
    #[cfg(feature = "list-generator")]
    pub mod list_generator_world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "list-generator-plugin",
            with: {
                "hangar:plugin/types@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::types,
                "hangar:plugin/log@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::log,
                "hangar:plugin/http@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::http,
                "hangar:plugin/files@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::files,
            },
            pub_export_macro: true,
            disable_custom_section_link_helpers: true,
            export_macro_name: "__export_list_generator_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::list_generator_world",
        });
    }
    #[cfg(feature = "scanner")]
    pub mod scanner_world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "scanner-plugin",
            with: {
                "hangar:plugin/types@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::types,
                "hangar:plugin/log@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::log,
                "hangar:plugin/files@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::files,
                "hangar:plugin/image-fs@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::image_fs,
            },
            pub_export_macro: true,
            disable_custom_section_link_helpers: true,
            export_macro_name: "__export_scanner_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::scanner_world",
        });
    }
    #[cfg(feature = "sbom")]
    pub mod sbom_world {
        wit_bindgen::generate!({
            path: "../wit",
            world: "sbom-plugin",
            with: {
                "hangar:plugin/types@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::types,
                "hangar:plugin/log@0.1.1": hangar_plugin_sdk::bindings::common::hangar::plugin::log,
            },
            pub_export_macro: true,
            disable_custom_section_link_helpers: true,
            export_macro_name: "__export_sbom_wasm",
            default_bindings_module: "hangar_plugin_sdk::bindings::sbom_world",
        });
    }
}

#[cfg(not(target_arch = "wasm32"))]
// Scanners and SBOM generators are not built natively; without a registry adapter or a list
// generator the world functions the ABI carries go unused.
#[cfg_attr(
    not(any(feature = "registry-adapter", feature = "list-generator")),
    allow(dead_code)
)]
pub mod native;

/// The name and version of the plugin's crate (its `Cargo.toml`), for the default
/// `describe` of every world. The export macros implement it for the exported type; nothing
/// else needs to.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not exported as a plugin",
    note = "export it with the macro of its world: `hangar_plugin_sdk::export_registry_adapter!({Self})` (or `export_list_generator!`, `export_scanner!`, `export_sbom!`)"
)]
pub trait Package {
    /// `CARGO_PKG_NAME` of the plugin's crate.
    const NAME: &'static str;
    /// `CARGO_PKG_VERSION` of the plugin's crate.
    const VERSION: &'static str;
}

/// What the default `describe` answers: the crate's name and version, and `hosts`.
fn package_info<T: Package + ?Sized>(
    hosts: &[&str],
) -> bindings::common::hangar::plugin::types::Info {
    let mut list = Vec::new();
    for host in hosts {
        list.push(String::from(*host));
    }
    bindings::common::hangar::plugin::types::Info {
        name: T::NAME.into(),
        version: T::VERSION.into(),
        hosts: list,
    }
}

/// The registry-adapter world: implement [`registry_adapter::Guest`], export it with
/// [`export_registry_adapter!`]. Only `detect` is required; `describe` defaults to the
/// crate's name and version with [`HOSTS`](registry_adapter::Guest::HOSTS), `prepare_push`
/// to doing nothing and `classify_error` to knowing no better message. A complete adapter
/// (feature `registry-adapter`):
///
/// ```no_run
/// use hangar_plugin_sdk::registry_adapter::Guest;
/// use hangar_plugin_sdk::{http, log};
///
/// struct Example;
///
/// impl Guest for Example {
///     // `describe` answers this crate's name and version (Cargo.toml) and these hosts.
///     const HOSTS: &'static [&'static str] = &["$registry"];
///
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
///     fn classify_error(status: u16, _body: String) -> Option<String> {
///         (status == 403).then(|| "the robot account may not push here".into())
///     }
/// }
///
/// hangar_plugin_sdk::export_registry_adapter!(Example);
/// ```
#[cfg(feature = "registry-adapter")]
pub mod registry_adapter {
    pub use crate::bindings::common::hangar::plugin::types::Info;
    use crate::bindings::registry_adapter_world::exports::hangar::plugin::registry_adapter as world;

    /// A registry adapter (`registry-adapter` in `wit/plugin.wit`).
    pub trait Guest: crate::Package {
        /// The hosts the default [`describe`](Guest::describe) declares: `"$registry"` for the
        /// registry of the current call, or exact `host[:port]`s. None by default.
        const HOSTS: &'static [&'static str] = &[];

        /// The plugin's name, version and hosts. By default the crate's package name and
        /// version (`Cargo.toml`) and [`HOSTS`](Guest::HOSTS).
        fn describe() -> Info {
            crate::package_info::<Self>(Self::HOSTS)
        }
        /// Does this adapter handle `registry` (`host[:port]`)?
        fn detect(registry: String) -> Result<bool, String>;
        /// Makes the destination ready before a push; the lines it returns go to the log. By
        /// default there is nothing to do.
        fn prepare_push(
            registry: String,
            repositories: Vec<String>,
            options: Vec<(String, String)>,
        ) -> Result<Vec<String>, String> {
            let _ = (registry, repositories, options);
            Ok(Vec::new())
        }
        /// A clearer message for a failed registry response. By default none.
        fn classify_error(status: u16, body: String) -> Option<String> {
            let _ = (status, body);
            None
        }
    }

    impl<T: Guest> world::Guest for T {
        fn describe() -> Info {
            <T as Guest>::describe()
        }
        fn detect(registry: String) -> Result<bool, String> {
            <T as Guest>::detect(registry)
        }
        fn prepare_push(
            registry: String,
            repositories: Vec<String>,
            options: Vec<(String, String)>,
        ) -> Result<Vec<String>, String> {
            <T as Guest>::prepare_push(registry, repositories, options)
        }
        fn classify_error(status: u16, body: String) -> Option<String> {
            <T as Guest>::classify_error(status, body)
        }
    }
}

/// The list-generator world: implement [`list_generator::Guest`], export it with
/// [`export_list_generator!`]. `generate` gets the user's `--option key=value` pairs and
/// reads input paths through [`files`]: only paths the user also granted (files or
/// directories), given absolute or relative to hangar's working directory. `describe`
/// defaults to the crate's name and version with [`HOSTS`](list_generator::Guest::HOSTS).
///
/// A complete generator (feature `list-generator`): one image per `image:` line of the file
/// named by `file=PATH`.
///
/// ```no_run
/// use hangar_plugin_sdk::files;
/// use hangar_plugin_sdk::list_generator::{Guest, ImageEntry};
///
/// struct Manifests;
///
/// impl Guest for Manifests {
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
    pub use crate::bindings::common::hangar::plugin::types::Info;
    use crate::bindings::list_generator_world::exports::hangar::plugin::list_generator as world;
    pub use crate::bindings::list_generator_world::exports::hangar::plugin::list_generator::ImageEntry;

    /// An image-list generator (`list-generator` in `wit/plugin.wit`).
    pub trait Guest: crate::Package {
        /// The hosts the default [`describe`](Guest::describe) declares: exact `host[:port]`s,
        /// or `"$options"` for the hosts of URLs the user passes. None by default.
        const HOSTS: &'static [&'static str] = &[];

        /// The plugin's name, version and hosts. By default the crate's package name and
        /// version (`Cargo.toml`) and [`HOSTS`](Guest::HOSTS).
        fn describe() -> Info {
            crate::package_info::<Self>(Self::HOSTS)
        }
        /// The images of the inputs the user's `--option key=value` pairs name.
        fn generate(options: Vec<(String, String)>) -> Result<Vec<ImageEntry>, String>;
    }

    impl<T: Guest> world::Guest for T {
        fn describe() -> Info {
            <T as Guest>::describe()
        }
        fn generate(options: Vec<(String, String)>) -> Result<Vec<ImageEntry>, String> {
            <T as Guest>::generate(options)
        }
    }
}

/// The scanner world: implement [`scanner::Guest`], export it with [`export_scanner!`].
/// `scan` reads the image's merged filesystem through the `fs` handle, only the files it
/// needs ([`scanner::read_file`] reads a whole file). `describe` defaults to the crate's name
/// and version.
#[cfg(feature = "scanner")]
pub mod scanner {
    pub use crate::bindings::common::hangar::plugin::image_fs::{Entry, Filesystem, Kind};
    pub use crate::bindings::common::hangar::plugin::types::{
        Finding, Info, InstalledPackage, Platform, Report,
    };
    use crate::bindings::scanner_world::exports::hangar::plugin::scanner as world;

    /// A scanner (`scanner` in `wit/plugin.wit`).
    pub trait Guest: crate::Package {
        /// The plugin's name and version, without hosts (scanners have no `http`). By default
        /// the crate's package name and version (`Cargo.toml`).
        fn describe() -> Info {
            crate::package_info::<Self>(&[])
        }
        /// The packages and findings of one image platform, read through `fs`.
        fn scan(
            image: String,
            platform: Platform,
            fs: &Filesystem,
            options: Vec<(String, String)>,
        ) -> Result<Report, String>;
    }

    impl<T: Guest> world::Guest for T {
        fn describe() -> Info {
            <T as Guest>::describe()
        }
        fn scan(
            image: String,
            platform: Platform,
            fs: &Filesystem,
            options: Vec<(String, String)>,
        ) -> Result<Report, String> {
            <T as Guest>::scan(image, platform, fs, options)
        }
    }

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
/// `hangar scan --format spdx-json|cyclonedx`. `describe` defaults to the crate's name and
/// version (an SBOM generator needs no hosts).
///
/// ```no_run
/// use hangar_plugin_sdk::sbom::{Guest, Report, Subject};
///
/// struct Names;
///
/// impl Guest for Names {
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
    pub use crate::bindings::common::hangar::plugin::types::{
        Finding, Info, InstalledPackage, Platform, Report,
    };
    use crate::bindings::sbom_world::exports::hangar::plugin::sbom_generator as world;
    pub use crate::bindings::sbom_world::exports::hangar::plugin::sbom_generator::Subject;

    /// An SBOM generator (`sbom-generator` in `wit/plugin.wit`).
    pub trait Guest: crate::Package {
        /// The plugin's name and version, without hosts. By default the crate's package name
        /// and version (`Cargo.toml`).
        fn describe() -> Info {
            crate::package_info::<Self>(&[])
        }
        /// The formats `generate` writes (`spdx-json`, `cyclonedx`...).
        fn formats() -> Vec<String>;
        /// One document of `report` in `format`, created at `created` (RFC 3339, UTC).
        fn generate(
            format: String,
            subject: Subject,
            report: Report,
            created: String,
        ) -> Result<String, String>;
    }

    impl<T: Guest> world::Guest for T {
        fn describe() -> Info {
            <T as Guest>::describe()
        }
        fn formats() -> Vec<String> {
            <T as Guest>::formats()
        }
        fn generate(
            format: String,
            subject: Subject,
            report: Report,
            created: String,
        ) -> Result<String, String> {
            <T as Guest>::generate(format, subject, report, created)
        }
    }
}

/// Logging into hangar's log (prefixed with the plugin's name).
pub mod log {
    pub use crate::bindings::common::hangar::plugin::log::Level;

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
        crate::bindings::common::hangar::plugin::log::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        crate::native::host_log(level, message);
    }
}

/// HTTP through the host: allowed hosts only; credentials added by the host on request.
#[cfg(any(feature = "registry-adapter", feature = "list-generator"))]
pub mod http {
    pub use crate::bindings::common::hangar::plugin::http::{Header, Request, Response};

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
        return crate::bindings::common::hangar::plugin::http::send(request, with_credentials);
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

/// Where hangar reaches a registry (contract 0.1.1): ask instead of trying https, then http.
#[cfg(feature = "registry-adapter")]
pub mod endpoints {
    /// The base URL hangar uses for `registry` (`https://HOST` or, when the user allowed plain
    /// HTTP and the registry speaks only that, `http://HOST`), without a trailing `/`.
    pub fn registry_url(registry: &str) -> Result<String, String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::registry_adapter_world::hangar::plugin::endpoints::registry_url(
            registry,
        );
        #[cfg(not(target_arch = "wasm32"))]
        return crate::native::host_registry_url(registry);
    }
}

/// Read-only access to the paths the user passed (list generators' inputs, scanners'
/// databases).
#[cfg(any(feature = "list-generator", feature = "scanner"))]
pub mod files {
    pub fn read(path: &str) -> Result<Vec<u8>, String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::common::hangar::plugin::files::read(path);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::native::host_files_read(path);
    }

    pub fn list(dir: &str) -> Result<Vec<String>, String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::common::hangar::plugin::files::list(dir);
        #[cfg(not(target_arch = "wasm32"))]
        return crate::native::host_files_list(dir);
    }
}

/// Implements [`Package`] for an exported type (used by the `export_*!` macros): `env!` is
/// expanded in the plugin's crate, so these are its name and version.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_package {
    ($ty:ident) => {
        impl $crate::Package for $ty {
            const NAME: &'static str = ::core::env!("CARGO_PKG_NAME");
            const VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");
        }
    };
}

/// Exports a registry adapter: the component's exports on wasm32, the C ABI natively.
#[cfg(feature = "registry-adapter")]
#[macro_export]
macro_rules! export_registry_adapter {
    ($ty:ident) => {
        $crate::__export_package!($ty);
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::registry_adapter_world::__export_registry_adapter_wasm!($ty);
        #[cfg(not(target_arch = "wasm32"))]
        $crate::__export_native!($ty, $crate::native::registry_adapter::dispatch::<$ty>);
    };
}

/// Exports a list generator: the component's exports on wasm32, the C ABI natively.
#[cfg(feature = "list-generator")]
#[macro_export]
macro_rules! export_list_generator {
    ($ty:ident) => {
        $crate::__export_package!($ty);
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::list_generator_world::__export_list_generator_wasm!($ty);
        #[cfg(not(target_arch = "wasm32"))]
        $crate::__export_native!($ty, $crate::native::list_generator::dispatch::<$ty>);
    };
}

/// Exports a scanner (WebAssembly only: scanners read the image through a host resource).
#[cfg(feature = "scanner")]
#[macro_export]
macro_rules! export_scanner {
    ($ty:ident) => {
        $crate::__export_package!($ty);
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::scanner_world::__export_scanner_wasm!($ty);
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
        $crate::__export_package!($ty);
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::sbom_world::__export_sbom_wasm!($ty);
        // Natively (the plugin's own unit tests) nothing is exported; this keeps the type
        // counted as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> Vec<String> = <$ty as $crate::sbom::Guest>::formats;
    };
}
