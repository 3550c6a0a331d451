//! The registry engine: the distribution API over HTTP(S) with auth, TLS, retries and
//! per-host limits. It knows HTTP and manifests-as-bytes, nothing about lists, archives or the CLI.
//! `web` makes plain GETs (Helm repositories, files) over the same transport;
//! `containers_conf` reads registries.conf (insecure, blocked, locations, mirrors).
//!
//! Why our own transport rather than oci-client's `Client`: oci-client 0.18 cannot present
//! client certificates (its reqwest client is private and built from a config with no identity),
//! has no retries, no manifest HEAD with size/type, no DELETE, no multi-scope tokens for
//! cross-repository mounts, hides token failures behind a later 401, returns raw manifests
//! without their Content-Type and refuses schema1. All of those are requirements here, so the
//! transport is a small reqwest layer (the same HTTP stack oci-client uses); see docs/architecture.md.

mod auth;
mod client;
pub mod containers_conf;
mod credentials;
mod error;
mod retry;
mod transport;
mod web;

pub use auth::Scope;
pub use client::{BlobUpload, Manifest, ManifestHead, Registries, Registry, RegistryOptions};
pub use containers_conf::{RegistriesConf, registries_conf, set_registries_conf};
pub use credentials::{AuthFile, Credential, auth_file_for_login, lookup_credential};
pub use error::RegistryError;
pub use retry::RetryPolicy;
pub use transport::{DEFAULT_NETWORK_TIMEOUT, Timeouts, set_network_timeout};
pub use web::{Web, WebError};

/// The parsers of what registries send, for hangar's fuzz targets.
#[doc(hidden)]
pub mod parsers {
    pub use super::auth::parse_challenge;
    pub use super::client::next_link;
    pub use super::error::error_detail;
    pub use super::retry::parse_retry_after;
}

/// Manifests larger than this are refused (distribution's own limit is 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

tokio::task_local! {
    /// The image a piece of work is for, so a host given up during it can name the image
    /// that first met it.
    static IMAGE: String;
}

/// Runs `work` on behalf of `image` (a list line's image).
pub async fn on_behalf_of<F: std::future::Future>(image: String, work: F) -> F::Output {
    IMAGE.scope(image, work).await
}

fn current_image() -> Option<String> {
    IMAGE.try_with(|image| image.clone()).ok()
}
