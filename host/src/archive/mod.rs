//! Hangar's zip archive (index version v1.2.0). So far: the `index.json` model, a streaming
//! writer and a checked reader; the resume journal and the commands built on them come next
//! (issue 3).
//!
//! Layout (from Hangar's spec, see docs/compat.md once the writer lands):
//! `<manifestHex>/index.json` + `<manifestHex>/oci-layout` per platform manifest, every blob
//! once under `share/sha256/<hex>` (manifests included), and Hangar's `index.json` last.

pub mod artifact;
pub mod blobs;
pub mod copy;
pub mod index;
pub mod journal;
pub mod reader;
pub mod verify;
pub mod writer;
pub mod zipfmt;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
