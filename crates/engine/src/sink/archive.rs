//! A Hangar archive being written as the destination. Each blob streams from its source
//! straight into its zip entry through the verifying stream (hashed once, no temp
//! directories), and is written once however many images share it. Every platform manifest
//! gets its OCI layout (`<hex>/index.json`, `<hex>/oci-layout`) and its own bytes under
//! `share/sha256/`; the tag's own manifest is kept whole too (`sourceManifest`), so load and
//! serve give the tag its digest back. The caller writes Hangar's `index.json` last, from
//! [`ArchiveTarget::images`].

use super::{Sink, TagWrite};
use crate::blob::Copied;
use crate::events::{BlobHow, Event, Events};
use crate::ledger::{BlobLedger, Claim};
use crate::outcome::{CopyError, malformed};
use crate::source::{Fut, Source};
use crate::verify::VerifyingStream;
use bytes::Bytes;
use hangar_archive::delta::{BaseBlobs, Delta, Relied};
use hangar_archive::index::{ArchiveIndex, Image, ImageSpec, SourceManifest};
use hangar_archive::writer::{ArchiveWriter, WriteError};
use hangar_image::digest::Digest;
use hangar_image::manifest::{Descriptor, ImageManifest};
use hangar_image::media::ManifestKind;
use hangar_image::platform::Platform;
use hangar_image::reference::Reference;
use hangar_registry::{Manifest, RegistryError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The ledger's name for "the archive", where every blob lives in one place.
const ARCHIVE: &str = "archive";
/// The ledger's name for entries we build (layouts), keyed by their entry name.
const ENTRIES: &str = "entries";

/// What every image of a run into one archive shares.
pub struct ArchiveTarget<'a> {
    writer: &'a ArchiveWriter,
    events: Events,
    ledger: BlobLedger,
    saved: Mutex<Vec<(usize, Image)>>,
    /// A delta's bases: layers they hold are not written, only recorded in `relied`.
    bases: Arc<BaseBlobs>,
    relied: Mutex<BTreeMap<Digest, Relied>>,
}

impl<'a> ArchiveTarget<'a> {
    pub fn new(writer: &'a ArchiveWriter, events: Events) -> Self {
        let target = ArchiveTarget {
            writer,
            events,
            ledger: BlobLedger::default(),
            saved: Mutex::default(),
            bases: Arc::default(),
            relied: Mutex::default(),
        };
        target.skip_existing(writer.existing());
        target
    }

    /// Marks entries the archive already holds (a resumed save, a sync) so they are skipped.
    pub fn skip_existing<'n>(&self, names: impl IntoIterator<Item = &'n String>) {
        for name in names {
            self.ledger
                .remember(ENTRIES, &Digest::sha256_of(name.as_bytes()), ARCHIVE);
            if let Some(digest) = name
                .strip_prefix("share/sha256/")
                .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok())
            {
                self.ledger.remember(ARCHIVE, &digest, ARCHIVE);
            }
        }
    }

    /// Makes this a delta of `bases`: the layers they hold are left out.
    pub fn leave_out(&mut self, bases: Arc<BaseBlobs>) {
        self.bases = bases;
    }

    /// Blobs left out so far, and their bytes.
    pub fn left_out(&self) -> (usize, u64) {
        let relied = self.relied.lock().expect("relied lock");
        (relied.len(), relied.values().map(|r| r.size).sum())
    }

    /// What the archive relies on: `existing` (a sync into a delta) and what this run left
    /// out, less what the archive now holds (a sync can add a blob a delta relied on).
    pub fn delta(&self, existing: Option<Delta>) -> Option<Delta> {
        let relied: Vec<Relied> = std::mem::take(&mut *self.relied.lock().expect("relied lock"))
            .into_values()
            .collect();
        let existing = existing.map(|mut delta| {
            delta.relies.retain(|r| {
                r.digest
                    .parse::<Digest>()
                    .map_or(true, |d| !self.ledger.knows(ARCHIVE, &d))
            });
            delta
        });
        Delta::merge(existing, &self.bases.bases, relied)
    }

    /// The images written, in list order, for the archive's `index.json`.
    pub fn images(&self) -> Vec<Image> {
        let mut saved = self.saved.lock().expect("saved lock").clone();
        saved.sort_by_key(|(id, _)| *id);
        saved.into_iter().map(|(_, image)| image).collect()
    }

    /// Writes Hangar's `index.json` (this run's images merged into `index`) last, and closes
    /// the archive `name`; a `stopped` run (Ctrl-C, SIGTERM, a full disk) closes it as a
    /// partial one, which the same command resumes. When closing fails the journal stays, so
    /// a re-run keeps every finished entry.
    pub async fn close(
        &self,
        mut index: ArchiveIndex,
        stopped: bool,
        name: &str,
    ) -> Result<(), WriteError> {
        for image in self.images() {
            index.upsert(image);
        }
        index.delta = self.delta(index.delta.take());
        let bytes = index.to_bytes();
        let size = bytes.len();
        let closed = async {
            self.writer
                .write_bytes(hangar_archive::reader::INDEX_NAME, Bytes::from(bytes))
                .await?;
            if stopped {
                self.writer.finish_interrupted().await
            } else {
                self.writer.finish().await
            }
        }
        .await;
        match &closed {
            Ok(()) => {
                tracing::info!(
                    "Write index file \"index.json\" to [{name}], size {:.2}K",
                    size as f64 / 1024.0
                );
                if stopped {
                    tracing::warn!(
                        "{name:?} is a partial archive: it holds the images finished so far; run the same command again to complete it"
                    );
                }
            }
            Err(e) => tracing::error!(
                "cannot complete archive {name:?}: {e}; its finished entries are kept, re-run to resume"
            ),
        }
        closed
    }

    /// Copies `image` of another archive into this one (merge, export): through the engine
    /// like every route, so entries are verified on the way and the tag's own manifest, the
    /// platforms and the attachments keep their digests.
    pub async fn carry(
        &'a self,
        id: usize,
        blobs: &hangar_archive::blobs::ArchiveBlobs,
        image: &Image,
    ) -> Result<(), CopyError> {
        tracing::info!("Copy [{}:{}]", image.source, image.tag);
        let options = crate::outcome::CopyOptions::default();
        let engine = crate::walk::Engine {
            options: &options,
            events: self.events.clone(),
        };
        let source = crate::source::archive::ArchiveSource::new(blobs, image);
        let sink = self.sink_named(id, image.source.clone());
        let ends = crate::walk::Ends {
            id,
            source: &source,
            sink: &sink,
            // Recorded under the same tag, a digest one included.
            tag: Some(&image.tag),
        };
        engine.copy(&ends).await.map(|_| ())
    }

    /// The sink of list line `id`, whose image is recorded under `reference`'s name.
    pub fn sink(&'a self, id: usize, reference: &Reference) -> ArchiveSink<'a> {
        ArchiveSink {
            target: self,
            id,
            source: reference.name(),
            specs: Mutex::default(),
        }
    }

    /// The sink of image `id` recorded under the repository name `source`.
    pub fn sink_named(&'a self, id: usize, source: String) -> ArchiveSink<'a> {
        ArchiveSink {
            target: self,
            id,
            source,
            specs: Mutex::default(),
        }
    }

    /// Writes a small entry once per archive.
    async fn write_once(
        &self,
        kind: &str,
        key: &Digest,
        name: &str,
        bytes: Bytes,
    ) -> Result<(), CopyError> {
        loop {
            match self.ledger.claim(kind, key) {
                Claim::At(_) => return Ok(()),
                Claim::Wait(gate) => {
                    let _ = gate.acquire().await;
                }
                Claim::Mine(guard) => {
                    self.writer
                        .write_bytes(name, bytes)
                        .await
                        .map_err(|e| archive_error(name, e))?;
                    guard.done(ARCHIVE);
                    return Ok(());
                }
            }
        }
    }

    async fn write_entry(&self, name: &str, bytes: Bytes) -> Result<(), CopyError> {
        self.write_once(ENTRIES, &Digest::sha256_of(name.as_bytes()), name, bytes)
            .await
    }

    async fn write_blob_bytes(&self, digest: &Digest, bytes: Bytes) -> Result<(), CopyError> {
        let name = format!("share/sha256/{}", digest.hex());
        self.write_once(ARCHIVE, digest, &name, bytes).await
    }

    /// Streams a blob from `source` into `share/sha256/<hex>`, once per archive. A failed or
    /// corrupted transfer restarts from a registry source (the writer dropped the partial
    /// entry). With `want_diff_id` (schema1 conversion) it also returns the layer's size and
    /// uncompressed digest, reading the blob from the source again if the archive has it.
    async fn write_blob(
        &self,
        id: usize,
        source: &dyn Source,
        digest: &Digest,
        size: Option<u64>,
        want_diff_id: bool,
    ) -> Result<Copied, CopyError> {
        let guard = loop {
            match self.ledger.claim(ARCHIVE, digest) {
                Claim::At(_) if want_diff_id => {
                    return diff_id_of(source, digest).await;
                }
                Claim::At(_) => {
                    return Ok(Copied {
                        how: BlobHow::AlreadyThere,
                        size: size.unwrap_or(0),
                        diff_id: None,
                    });
                }
                Claim::Wait(gate) => {
                    let _ = gate.acquire().await;
                }
                Claim::Mine(guard) => break guard,
            }
        };
        if let Some((base, repository)) = self.bases.find(digest) {
            // A base has it: recorded, not written (the guard goes unsettled, so another
            // image asking for it comes here too).
            let copied = if want_diff_id {
                diff_id_of(source, digest).await?
            } else {
                Copied {
                    how: BlobHow::AlreadyThere,
                    size: match size {
                        Some(n) => n,
                        None => source.blob_size(digest).await?.unwrap_or(0),
                    },
                    diff_id: None,
                }
            };
            self.relied
                .lock()
                .expect("relied lock")
                .entry(digest.clone())
                .or_insert_with(|| Relied {
                    digest: digest.to_string(),
                    size: copied.size,
                    base,
                    repository: repository.to_string(),
                });
            drop(guard);
            return Ok(copied);
        }
        // Schema1 lists no sizes; the size decides the zip64 marking.
        let size_hint = match size {
            Some(n) => n,
            None => source.blob_size(digest).await?.unwrap_or(0),
        };
        let name = format!("share/sha256/{}", digest.hex());
        let attempt = || async {
            let blob = source
                .open_blob(digest)
                .await
                .map_err(|e| e.into_registry(&name))?;
            let events = self.events.clone();
            // Taken back if this attempt fails, so progress counts each blob once.
            let counted = std::sync::Arc::new(AtomicU64::new(0));
            let count = counted.clone();
            let (stream, verdict) = VerifyingStream::new(
                blob.body,
                blob.what,
                digest.clone(),
                size,
                want_diff_id,
                Box::new(move |n| {
                    count.fetch_add(n, Ordering::Relaxed);
                    events.emit(Event::Bytes { id, n })
                }),
            );
            let written = self
                .writer
                .write_blob(&name, size_hint, &source.name(), stream)
                .await;
            let mut verdict = verdict.lock().expect("verdict lock");
            let sent = counted.load(Ordering::Relaxed);
            if (verdict.error.is_some() || written.is_err()) && sent > 0 {
                self.events.emit(Event::Discarded { id, n: sent });
            }
            if let Some(error) = verdict.error.take() {
                return Err(error);
            }
            let written = written.map_err(|e| archive_error(&name, e))?;
            Ok(Copied {
                how: BlobHow::Copied,
                size: written,
                diff_id: verdict.diff_id.take(),
            })
        };
        let copied = match source.registry() {
            Some((registry, _)) if source.refetch_helps() => {
                let what = format!("restarting the blob from the source ({digest})");
                registry.retry().run(&what, attempt).await?
            }
            _ => attempt().await?,
        };
        guard.done(ARCHIVE);
        Ok(copied)
    }
}

/// The size and uncompressed digest of a layer the archive already holds (read from the
/// source; schema1 images are rare enough not to warrant reading the archive back).
async fn diff_id_of(source: &dyn Source, digest: &Digest) -> Result<Copied, CopyError> {
    use futures_util::StreamExt as _;
    let blob = source.open_blob(digest).await?;
    let (mut stream, verdict) = VerifyingStream::new(
        blob.body,
        blob.what,
        digest.clone(),
        None,
        true,
        Box::new(|_| {}),
    );
    while stream.next().await.is_some() {}
    let mut verdict = verdict.lock().expect("verdict lock");
    if let Some(error) = verdict.error.take() {
        return Err(error.into());
    }
    Ok(Copied {
        how: BlobHow::AlreadyThere,
        size: verdict.verified_size.unwrap_or(0),
        diff_id: verdict.diff_id.take(),
    })
}

pub struct ArchiveSink<'a> {
    target: &'a ArchiveTarget<'a>,
    id: usize,
    source: String,
    /// The index entries of the platform manifests this image stored, in the order stored.
    specs: Mutex<Vec<ImageSpec>>,
}

impl ArchiveSink<'_> {
    /// One platform manifest: its own bytes and its OCI layout; remembers its index entry.
    async fn store_platform(
        &self,
        manifest: &Manifest,
        platform: &Platform,
        annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<(), CopyError> {
        let what = format!("{}@{}", self.source, manifest.digest);
        let parsed: ImageManifest =
            serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(&what, e))?;
        self.target
            .write_blob_bytes(&manifest.digest, manifest.bytes.clone())
            .await?;
        let layout = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.bytes.len()}],
        });
        let hex = manifest.digest.hex();
        self.target
            .write_entry(
                &format!("{hex}/index.json"),
                Bytes::from(layout.to_string()),
            )
            .await?;
        self.target
            .write_entry(
                &format!("{hex}/oci-layout"),
                Bytes::from_static(br#"{"imageLayoutVersion":"1.0.0"}"#),
            )
            .await?;
        let spec = ImageSpec {
            arch: platform.architecture.clone(),
            os: platform.os.clone(),
            os_version: platform.os_version.clone().unwrap_or_default(),
            os_features: platform.os_features.clone(),
            variant: platform.variant.clone().unwrap_or_default(),
            media_type: manifest.media_type.clone(),
            layers: parsed
                .layers
                .iter()
                .filter(|l| l.urls.is_empty())
                .map(|l| l.digest.to_string())
                .collect(),
            config: parsed.config.digest.to_string(),
            digest: manifest.digest.to_string(),
            annotations: annotations.unwrap_or_default(),
        };
        let mut specs = self.specs.lock().expect("specs lock");
        if !specs.iter().any(|s| s.digest == spec.digest) {
            specs.push(spec);
        }
        Ok(())
    }

    fn spec(&self, digest: &Digest) -> Option<ImageSpec> {
        self.specs
            .lock()
            .expect("specs lock")
            .iter()
            .find(|s| s.digest == digest.as_str())
            .cloned()
    }

    fn record(&self, tag: &str, specs: Vec<ImageSpec>, source_manifest: Option<SourceManifest>) {
        let arch_list: BTreeSet<String> = specs
            .iter()
            .map(|s| s.arch.clone())
            .filter(|a| !a.is_empty())
            .collect();
        let os_list: BTreeSet<String> = specs
            .iter()
            .map(|s| s.os.clone())
            .filter(|o| !o.is_empty())
            .collect();
        let image = Image {
            source: self.source.clone(),
            tag: tag.to_string(),
            arch_list: arch_list.into_iter().collect(),
            os_list: os_list.into_iter().collect(),
            images: specs,
            source_manifest,
        };
        self.target
            .saved
            .lock()
            .expect("saved lock")
            .push((self.id, image));
    }
}

impl Sink for ArchiveSink<'_> {
    fn name(&self) -> String {
        "archive".into()
    }

    fn head<'b>(&'b self, _: &'b str) -> Fut<'b, Option<Digest>> {
        Box::pin(async { Ok(None) })
    }

    fn has_manifest<'b>(&'b self, _: &'b Digest) -> Fut<'b, bool> {
        // Each image records its own platform entries, so shared manifests are walked again
        // (their entries are written once: the ledger skips them).
        Box::pin(async { Ok(false) })
    }

    fn manifest_at<'b>(&'b self, _: &'b str) -> Fut<'b, Option<Manifest>> {
        Box::pin(async { Ok(None) })
    }

    fn put_blob<'b>(
        &'b self,
        _: usize,
        source: &'b dyn Source,
        digest: &'b Digest,
        size: Option<u64>,
        want_diff_id: bool,
    ) -> Fut<'b, Copied> {
        Box::pin(
            self.target
                .write_blob(self.id, source, digest, size, want_diff_id),
        )
    }

    fn put_blob_bytes<'b>(&'b self, digest: &'b Digest, bytes: Bytes) -> Fut<'b, ()> {
        Box::pin(self.target.write_blob_bytes(digest, bytes))
    }

    fn put_manifest<'b>(
        &'b self,
        manifest: &'b Manifest,
        entry: Option<&'b Descriptor>,
    ) -> Fut<'b, ()> {
        Box::pin(async move {
            let kind = ManifestKind::from_media_type(&manifest.media_type);
            if kind.is_some_and(|k| k.is_index()) {
                // A nested index is kept as a blob; its platforms are recorded themselves.
                return self
                    .target
                    .write_blob_bytes(&manifest.digest, manifest.bytes.clone())
                    .await;
            }
            let platform = entry.and_then(|e| e.platform.clone()).unwrap_or_default();
            let annotations = entry.and_then(|e| e.annotations.clone());
            self.store_platform(manifest, &platform, annotations).await
        })
    }

    fn put_tag<'b>(&'b self, tag: Option<&'b str>, write: TagWrite<'b>) -> Fut<'b, ()> {
        Box::pin(async move {
            // A digest-only reference is recorded under the digest the list names.
            let digest = write.original.unwrap_or(write.manifest).digest.to_string();
            let reference = tag.unwrap_or(&digest);
            let mut specs = Vec::with_capacity(write.kept.len());
            for entry in write.kept {
                // A single manifest is the tag itself: stored here, as its one platform. (A
                // nested index has no entry of its own; its manifests are kept whole.)
                if entry.digest == write.manifest.digest && self.spec(&entry.digest).is_none() {
                    self.store_platform(
                        write.manifest,
                        &entry.platform.clone().unwrap_or_default(),
                        entry.annotations.clone(),
                    )
                    .await?;
                }
                match self.spec(&entry.digest) {
                    Some(spec) => specs.push(spec),
                    // A nested index: the platforms under it are what the image lists.
                    None => {
                        for spec in self.specs.lock().expect("specs lock").iter() {
                            if !specs.iter().any(|s| s.digest == spec.digest) {
                                specs.push(spec.clone());
                            }
                        }
                    }
                }
            }
            let original = write.original.filter(|_| {
                // Attachments (no platform) are their one manifest; nothing more to keep.
                specs.iter().any(|s| !s.arch.is_empty() || !s.os.is_empty())
            });
            if let Some(original) = original
                && ManifestKind::from_media_type(&original.media_type).is_some_and(|k| k.is_index())
            {
                self.target
                    .write_blob_bytes(&original.digest, original.bytes.clone())
                    .await?;
            }
            let kept = original.map(|o| SourceManifest {
                media_type: o.media_type.clone(),
                digest: o.digest.to_string(),
                size: o.bytes.len() as u64,
            });
            if kept.is_none() {
                tracing::info!(
                    "[IMG:{}] Saved [{}:{reference}]{}",
                    self.id,
                    self.source,
                    if specs.len() > 1 {
                        format!(" ({} manifests)", specs.len())
                    } else {
                        String::new()
                    }
                );
            }
            self.record(reference, specs, kept);
            Ok(())
        })
    }

    fn publish_referrers<'b>(
        &'b self,
        subject: &'b Digest,
        referrers: Vec<Descriptor>,
    ) -> Fut<'b, usize> {
        Box::pin(async move {
            let specs: Vec<ImageSpec> = referrers
                .iter()
                .filter_map(|r| self.spec(&r.digest))
                .collect();
            let count = specs.len();
            let tag = crate::attachments::subject_tag(subject);
            tracing::info!(
                "[IMG:{}] Saved [{}:{tag}] ({count} manifests)",
                self.id,
                self.source
            );
            self.record(&tag, specs, None);
            Ok(count)
        })
    }

    fn fatal(&self) -> Option<String> {
        self.target.writer.failure().map(str::to_string)
    }
}

fn archive_error(name: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Protocol {
        what: format!("archive entry {name}"),
        message: e.to_string(),
    }
}
