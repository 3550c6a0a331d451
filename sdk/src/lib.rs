//! Write hangar plugins in Rust. A plugin is a WebAssembly component that implements one of
//! the worlds of the `hangar:plugin@0.1.0` contract (`wit/plugin.wit`): a registry adapter, a
//! list generator or a scanner. This crate holds the generated bindings, an export macro per
//! world and small typed helpers over what the host offers (logging, HTTP).
//!
//! A registry adapter, complete:
//!
//! ```ignore
//! use hangar_plugin_sdk::registry_adapter::{Guest, Info};
//! use hangar_plugin_sdk::{http, log};
//!
//! struct Example;
//!
//! impl Guest for Example {
//!     fn describe() -> Info {
//!         Info { name: "example".into(), version: "0.1.0".into(), hosts: vec!["$registry".into()] }
//!     }
//!     fn detect(registry: String) -> Result<bool, String> {
//!         Ok(http::get(&format!("https://{registry}/api/ping"), false)?.status == 200)
//!     }
//!     fn prepare_push(_registry: String, repositories: Vec<String>) -> Result<Vec<String>, String> {
//!         log::info(&format!("{} repositories", repositories.len()));
//!         Ok(Vec::new())
//!     }
//!     fn classify_error(_status: u16, _body: String) -> Option<String> {
//!         None
//!     }
//! }
//!
//! hangar_plugin_sdk::export_registry_adapter!(Example);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (`crate-type = ["cdylib"]`);
//! the `.wasm` in `target/wasm32-wasip2/release/` is the component hangar loads.
//!
//! Hosts: `describe().hosts` lists what the plugin may reach over HTTP. `"$registry"` means
//! "the registry the current call is about"; any other entry is an exact `host[:port]` that the
//! user must also allow. The host adds registry credentials itself (`with_credentials`); a
//! plugin never sees a password.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "registry-adapter-plugin",
        pub_export_macro: true,
        export_macro_name: "export_registry_adapter",
        default_bindings_module: "hangar_plugin_sdk::bindings",
    });
}

pub use bindings::export_registry_adapter;

/// The registry-adapter world: implement [`registry_adapter::Guest`] and export it with
/// [`export_registry_adapter!`].
pub mod registry_adapter {
    pub use crate::bindings::exports::hangar::plugin::registry_adapter::Guest;
    pub use crate::bindings::hangar::plugin::types::Info;
}

/// Logging into hangar's log (prefixed with the plugin's name).
pub mod log {
    use crate::bindings::hangar::plugin::log::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// HTTP through the host (allowed hosts only; credentials added by the host on request).
pub mod http {
    pub use crate::bindings::hangar::plugin::http::{Header, Request, Response};
    use crate::bindings::hangar::plugin::http::send;

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

    impl Response {
        /// The body as text (lossy).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }
}
