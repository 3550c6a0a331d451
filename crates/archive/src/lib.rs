//! Hangar's zip archive, index version v1.2.0 (docs/compat.md lists what differs from Hangar's
//! writer), read and written without knowing registries or HTTP:
//!
//! - `index` is the `index.json` model; `zipfmt` writes the zip records forwards (local header,
//!   data, descriptor) and reads central directories; `writer` is the one thread that owns the
//!   file and streams entries into it; `journal` makes that resumable after a kill or a stop;
//! - `reader` opens archives checked (names, duplicates), `blobs` hands out Stored entries as
//!   byte ranges for streaming, `verify` re-hashes them;
//! - `original` gives back the manifest a tag held at its source (so it keeps its digest);
//!   `copy` moves images between archives (export, merge); `artifact` builds charts, files and
//!   plugins as OCI artifacts, and `append` adds them to an archive that exists.
//!
//! Layout: `<manifestHex>/index.json` + `<manifestHex>/oci-layout` per platform manifest, every
//! blob once under `share/sha256/<hex>` (manifests included), and Hangar's `index.json` last.

pub mod append;
pub mod artifact;
pub mod blobs;
pub mod delta;
pub mod entries;
pub mod index;
pub mod journal;
pub mod listing;
pub mod original;
pub mod reader;
pub mod verify;
pub mod volume;
pub mod writer;
pub mod zipfmt;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
