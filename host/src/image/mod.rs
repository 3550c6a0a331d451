//! The image model: references, image lists, platforms and filters, manifest media types and
//! the schema1 conversion. Everything here is pure (no I/O) so it can be tested with tables.

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
