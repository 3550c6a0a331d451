//! Where an image goes. The engine writes one image through this side: a registry
//! repository ([`registry::RegistrySink`]) or an archive being written
//! ([`archive::ArchiveSink`]); tests use in-memory ones. A sink stores what it is given; the
//! engine decides what that is (platforms, index rules, conversion, attachments).

pub mod archive;
pub mod registry;
pub mod resume;

use crate::blob::Copied;
use crate::source::{Fut, Source};
use bytes::Bytes;
use hangar_image::digest::Digest;
use hangar_image::manifest::Descriptor;
use hangar_registry::Manifest;

/// The image's tag (or digest, for digest-only references) set to a manifest.
pub struct TagWrite<'a> {
    /// What the tag points at: the source's own manifest, or an index the engine built.
    pub manifest: &'a Manifest,
    /// The platform manifests (or artifact manifests) under it, already stored.
    pub kept: &'a [Descriptor],
    /// The manifest the source tag held, when it is known (an archive keeps it so a later
    /// load can give the tag its digest back).
    pub original: Option<&'a Manifest>,
}

pub trait Sink: Send + Sync {
    /// How messages name it: `registry/repository`, or `archive`.
    fn name(&self) -> String;
    /// The digest held at `reference` (a tag or a digest), if any. Sinks without tags to
    /// compare (an archive being written) answer `None`.
    fn head<'a>(&'a self, reference: &'a str) -> Fut<'a, Option<Digest>>;
    /// Whether the manifest `digest`, with everything under it, is already there.
    fn has_manifest<'a>(&'a self, digest: &'a Digest) -> Fut<'a, bool>;
    /// The manifest at `tag` (what a filtered copy merges into, what a schema1 conversion
    /// compares with); `None` when absent.
    fn manifest_at<'a>(&'a self, tag: &'a str) -> Fut<'a, Option<Manifest>>;
    /// One blob from `source`, verified while it streams. With `want_diff_id` (schema1) the
    /// uncompressed digest is computed on the way.
    fn put_blob<'a>(
        &'a self,
        id: usize,
        source: &'a dyn Source,
        digest: &'a Digest,
        size: Option<u64>,
        want_diff_id: bool,
    ) -> Fut<'a, Copied>;
    /// A blob the engine built (a converted config).
    fn put_blob_bytes<'a>(&'a self, digest: &'a Digest, bytes: Bytes) -> Fut<'a, ()>;
    /// A manifest by digest, its blobs already stored; `entry` is its entry in the index
    /// above it (platform, annotations), `None` for an artifact.
    fn put_manifest<'a>(
        &'a self,
        manifest: &'a Manifest,
        entry: Option<&'a Descriptor>,
    ) -> Fut<'a, ()>;
    /// Points the image's `tag` (`None`: its digest) at `write.manifest`, everything under
    /// it already stored.
    fn put_tag<'a>(&'a self, tag: Option<&'a str>, write: TagWrite<'a>) -> Fut<'a, ()>;
    /// Makes `referrers` (already stored) findable as referrers of `subject`; returns how
    /// many were new there.
    fn publish_referrers<'a>(
        &'a self,
        subject: &'a Digest,
        referrers: Vec<Descriptor>,
    ) -> Fut<'a, usize>;
    /// Held while a tag is read, merged and written, so lines landing on one tag take turns.
    fn lock_tag<'a>(
        &'a self,
        reference: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Option<tokio::sync::OwnedMutexGuard<()>>> {
        let _ = reference;
        Box::pin(async { None })
    }
    /// A failure that ends the whole run (a full disk), if one happened.
    fn fatal(&self) -> Option<String> {
        None
    }
}
