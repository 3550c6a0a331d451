//! hangar: move container images between registries and into air-gapped sites.
//!
//! This crate is the command line (`cli`), the read-only registry over an archive (`serve`),
//! scan reports (`scan`), what `archive store` fetches (`store`), image lists from
//! generator plugins (`lists`), what listed images are (`inspect`) and progress rendering (`progress`), on top of the library crates,
//! re-exported here under the names the code uses: [`image`] (the pure model), [`outfile`],
//! [`registry`] (the distribution API: auth, TLS, retries, network time), [`archive`] (Hangar's
//! zip format), [`sign`] (cosign-compatible signing), [`plugin`] (the plugin host) and [`copy`]
//! (the engine: what to move, streamed and verified). Bytes flow `registry → copy → registry`
//! or archive; the engine reports through events and never prints.

pub use hangar_archive as archive;
pub mod cli;
pub use hangar_engine as copy;
#[doc(hidden)]
pub mod fuzzing;
pub use hangar_image as image;
pub use hangar_outfile as outfile;
pub use hangar_plugin_host as plugin;
pub mod inspect;
pub mod lists;
pub mod progress;
pub use hangar_registry as registry;
pub mod scan;
pub mod serve;
pub mod store;
pub use hangar_sign as sign;
