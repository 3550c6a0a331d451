//! hangar: move container images between registries and into air-gapped sites.
//!
//! Bytes flow `registry → copy → registry`: the [`registry`] module speaks the distribution
//! API (auth, TLS, retries), [`copy`] decides what to move and streams it (hashing once,
//! verifying every digest), [`image`] holds the pure model (references, lists, platforms,
//! manifests) and [`progress`] renders the engine's events. [`archive`] is Hangar's zip archive
//! format (in progress). The [`cli`] layer only parses flags, calls the engine and prints.

pub mod archive;
pub mod cli;
pub mod copy;
#[doc(hidden)]
pub mod fuzzing;
pub use hangar_image as image;
pub use hangar_outfile as outfile;
pub mod plugin;
pub mod progress;
pub mod registry;
pub mod scan;
pub mod serve;
pub mod sign;
