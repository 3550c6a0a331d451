//! The image model: references, image lists, platforms and filters, digests, manifest views and
//! media types, attachment tags, the schema1 conversion, and the gzip inflater layers are read through.
//! Everything but the inflater is pure (no I/O), so it is tested with tables; every other
//! crate of hangar builds on it, and it depends on none of them.

pub mod attachment;
pub mod digest;
pub mod gzip;
pub mod list;
pub mod manifest;
pub mod media;
pub mod platform;
pub mod reference;
pub mod schema1;

pub use digest::Digest;
pub use platform::{Platform, PlatformFilter};
pub use reference::Reference;
