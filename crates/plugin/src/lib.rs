//! The plugin runtime: WebAssembly components implementing the `hangar:plugin@0.1.1` worlds
//! (`wit/plugin.wit`), run by wasmtime 48 in a sandbox. Plugins make control-plane decisions
//! (create a Harbor project, explain an error, list images); layer bytes never pass through
//! them. Each call has a wall-clock deadline (epoch interruption) and a memory limit; WASI is
//! linked with nothing granted (no files, env, sockets), so std-based guests instantiate but
//! reach the outside only through the host interfaces: `log`, and `http` limited to the hosts
//! the plugin declares and the user allows, with credentials added by the host.
//!
//! `runtime` owns the engine and the on-disk cache of compiled components; `interfaces` the
//! bindings of the host interfaces every world shares, and `sandbox` one call's store and
//! their host functions; `loader` loads and describes a plugin of any world once;
//! `registry_adapter`, `list_generator`, `scanner` and `sbom` are the worlds' host sides; `native` loads the same sources built as
//! shared libraries; `catalog`, `manifest`, `settings` and `oci` find, describe, configure and
//! ship plugins. The first-party plugins are embedded by build.rs.

/// What every world's plugin type says about itself, over its `plugin: Loaded<_>` field.
macro_rules! plugin_identity {
    () => {
        pub fn name(&self) -> &str {
            &self.plugin.info.name
        }

        pub fn version(&self) -> &str {
            &self.plugin.info.version
        }
    };
}

/// The network side of the worlds whose plugins may reach hosts.
macro_rules! plugin_network {
    () => {
        pub fn declared_hosts(&self) -> &[String] {
            &self.plugin.info.hosts
        }

        /// Sends the plugin's HTTP requests to `transport` (recorded answers, in `plugin test`).
        pub fn set_transport(&mut self, transport: crate::sandbox::Transport) {
            self.plugin.http = transport;
        }

        /// Records every HTTP request the plugin makes from now on (`plugin test`).
        pub fn record_requests(&mut self) -> std::sync::Arc<crate::fixtures::RequestLog> {
            self.plugin.record_requests()
        }
    };
}

pub mod adapters;
pub mod catalog;

/// hangar's own plugins: the embedded ones, and those shipped beside the binary (written in
/// Python and JavaScript).
pub const FIRST_PARTY_NAMES: &[&str] = &[
    "harbor",
    "osv-scanner",
    "sbom",
    "helm",
    "rancher",
    "k8s",
    "artifactory",
];
pub mod fixtures;
pub mod image_fs;
pub mod image_source;
mod interfaces;
pub mod list_generator;
mod loader;
pub mod manage;
pub mod manifest;
pub mod native;
pub mod oci;
pub mod registry_adapter;
pub mod runtime;
pub mod sandbox;
pub mod sbom;
pub mod scanner;
pub mod settings;
pub mod trial;

include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));

/// A first-party plugin's component, if this binary carries it.
pub fn embedded(name: &str) -> Option<&'static [u8]> {
    EMBEDDED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, bytes)| *bytes)
}

pub use runtime::{Limits, PluginError, Runtime};

#[cfg(test)]
mod tests;
