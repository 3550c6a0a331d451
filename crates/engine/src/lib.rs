//! The copy engine: decides what to move for each image and streams it between registries.
//! `blob` moves one blob (skip / mount / stream, verified by `verify`), `image` walks one
//! image's manifests applying the `index` rules, `runner` runs many images with workers,
//! timeouts and cancellation, and `events` is how the engine reports progress.

pub mod blob;
pub mod events;
pub mod failed;
pub mod image;
pub mod index;
pub mod ledger;
pub mod load;
pub mod plan;
pub mod runner;
pub mod save;
pub mod validate;
pub mod verify;

pub use events::{Event, EventSink, Events};
pub use image::{CopyError, CopyOptions, ImageCopier, Outcome};
pub use runner::JobError;
