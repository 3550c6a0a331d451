//! Where an image comes from. The engine reads one image through this side, whatever holds
//! it: a registry repository ([`registry::RegistrySource`]), an image of an archive
//! ([`archive::ArchiveSource`]) or of an OCI image layout directory
//! ([`layout::LayoutSource`]); tests use in-memory ones.

pub mod archive;
pub mod layout;
pub mod registry;

use crate::outcome::CopyError;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use hangar_image::digest::Digest;
use hangar_image::manifest::Descriptor;
use hangar_registry::{Manifest, Registry};
use std::sync::Arc;

/// What the engine's source and sink calls return.
pub type Fut<'a, T> = BoxFuture<'a, Result<T, CopyError>>;

/// A blob's bytes as they stream in.
pub type BlobBody =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The top manifest of an image: what its tag (or digest) resolves to.
#[derive(Clone, Debug)]
pub struct Top {
    pub manifest: Manifest,
    /// The bytes the source tag held. `false`: an index the source built from a platform
    /// list (an archive without the tag's own manifest), which only ever merges into what
    /// the destination holds, as a filtered copy does.
    pub original: bool,
    /// The manifests are the OCI referrers of this subject (an archive's `sha256-HEX`
    /// entry), published the way the destination makes referrers findable.
    pub referrers_of: Option<Digest>,
}

/// An open blob: its bytes, its size when known, and how to name it in a message.
pub struct OpenBlob {
    pub body: BlobBody,
    pub size: Option<u64>,
    pub what: String,
}

/// The signatures, attestations, SBOMs and referrers found for an image's digests.
#[derive(Default)]
pub struct Attachments {
    /// cosign's tags (`sha256-HEX.sig|.att|.sbom`) with whether they merge at the destination.
    pub tags: Vec<(String, bool)>,
    /// OCI referrers per subject.
    pub referrers: Vec<(Digest, Vec<Descriptor>)>,
}

pub trait Source: Send + Sync {
    /// How messages name it: `registry/repository`, or the archive image.
    fn name(&self) -> String;
    /// The image's top manifest.
    fn top(&self) -> Fut<'_, Top>;
    /// A manifest by digest, or by tag (attachments).
    fn manifest<'a>(&'a self, reference: &'a str) -> Fut<'a, Manifest>;
    /// A small blob (a config), read whole up to `limit` bytes.
    fn blob_bytes<'a>(&'a self, digest: &'a Digest, limit: usize) -> Fut<'a, Bytes>;
    fn open_blob<'a>(&'a self, digest: &'a Digest) -> Fut<'a, OpenBlob>;
    fn blob_size<'a>(&'a self, digest: &'a Digest) -> Fut<'a, Option<u64>>;
    /// The attachments of `subjects`. Sources that keep attachments as images of their own
    /// (archives) return none: those images are copied as list entries.
    fn attachments<'a>(&'a self, subjects: &'a [Digest]) -> Fut<'a, Attachments>;
    /// The registry repository behind it: blobs may be mounted from it, and a transfer takes
    /// a slot of its host.
    fn registry(&self) -> Option<(&Arc<Registry>, &str)> {
        None
    }
    /// The image as its source names it (what a signature's identity is compared with).
    fn reference(&self) -> Option<hangar_image::reference::Reference> {
        None
    }
    /// The OCI layout directory and image name it reads, when it is one (the signature
    /// policy judges those by the `oci` transport's scopes).
    fn layout(&self) -> Option<(&std::path::Path, &str)> {
        None
    }
    /// The cosign signatures of `digest` that come with the image (none by default).
    fn signatures<'a>(&'a self, digest: &'a Digest) -> Fut<'a, Vec<hangar_sign::cosign::Found>> {
        let _ = digest;
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Whether fetching a blob again may give other bytes (a network may; an archive's entry
    /// does not change, so a bad entry fails at once).
    fn refetch_helps(&self) -> bool {
        true
    }
}
