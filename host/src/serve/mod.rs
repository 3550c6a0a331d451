//! `hangar serve`: a read-only OCI distribution API over an archive, so a disconnected site can
//! pull straight from the USB disk with any client (skopeo, crane, containerd, docker).
//!
//! What is served, and how the multi-arch view is rebuilt: the archive stores one OCI layout
//! per platform manifest and no top-level index (Hangar never kept it). For a tag, `serve`
//! builds an OCI image index listing every platform manifest of the archive image, in archive
//! order, with the platform (architecture, os, variant, os.version, os.features) and the
//! annotations recorded in the archive index, and each manifest's media type and size. The
//! bytes come from the same builder `load` uses, so `serve` and a `load` into an empty registry
//! give the tag the same digest. Charts and stored files (no platform) are served as their one
//! manifest. Platform manifests, configs and layers are served byte for byte by digest.
//!
//! Repository names are the archive sources without their registry (`library/nginx`); the
//! full source (`docker.io/library/nginx`) is accepted too, which tells apart two registries'
//! images of the same path.

pub mod catalog;
pub mod http;
