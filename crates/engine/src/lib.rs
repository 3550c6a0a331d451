//! The copy engine, one for every route (mirror, save, sync, load, archive export and merge):
//! an image is read through a [`source::Source`] (a registry repository, an archive image)
//! and written through a [`sink::Sink`] (a registry repository, an archive being written).
//! `walk` decides what to move for one image (platforms, index rules, schema1 conversion,
//! attachments), `blob` moves one blob into a registry (skip / mount / stream, verified by
//! `verify`), `run` runs a list of images (planning, largest first, workers, timeouts,
//! cancellation, results in list order), `shard` splits a list across machines and `events` is
//! how the engine reports progress.

pub mod attachments;
pub mod blob;
pub mod events;
pub mod failed;
pub mod index;
pub mod ledger;
pub mod merge;
pub mod outcome;
pub mod plan;
pub mod run;
pub mod runner;
pub mod shard;
pub mod sink;
pub mod source;
pub mod validate;
pub mod verify;
pub mod walk;

pub use events::{Event, EventSink, Events};
pub use outcome::{CopyError, CopyOptions, Outcome};
pub use runner::JobError;
pub use walk::Engine;

#[cfg(test)]
mod tests;
