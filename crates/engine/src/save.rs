//! `save`: images from registries into a Hangar archive. Each blob streams from its registry
//! response straight into its zip entry through the verifying stream (hashed once, no temp
//! directories, no second copy), and is written once however many images share it. Every
//! platform manifest gets its OCI layout (`<hex>/index.json`, `<hex>/oci-layout`) and its own
//! bytes under `share/sha256/`; the caller writes Hangar's `index.json` last.

use super::events::{Event, Events};
use super::image::attachments::{Attached, subject_tag};
use super::image::{
    CopyError, CopyOptions, Outcome, config_platform, fill_platform, kind_of, malformed,
};
use super::index;
use super::ledger::{BlobLedger, Claim};
use super::verify::VerifyingStream;
use bytes::Bytes;
use hangar_archive::index::{Image, ImageSpec, SourceManifest};
use hangar_archive::writer::ArchiveWriter;
use hangar_image::digest::Digest;
use hangar_image::manifest::{Descriptor, ImageManifest, Index};
use hangar_image::media::{self, ManifestKind};
use hangar_image::platform::Platform;
use hangar_image::reference::Reference;
use hangar_image::schema1::{ConvertedLayer, Schema1};
use hangar_registry::{Manifest, Registries, Registry, RegistryError};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The ledger's name for "the archive", where every blob lives in one place.
const ARCHIVE: &str = "archive";
/// The ledger's name for entries we build (layouts, manifests), keyed by their entry name.
const ENTRIES: &str = "entries";

pub struct ImageSaver<'a> {
    registries: &'a Registries,
    options: &'a CopyOptions,
    events: &'a Events,
    writer: &'a ArchiveWriter,
    /// Blobs and layouts written (or being written) into the archive.
    ledger: BlobLedger,
    saved: Mutex<Vec<(usize, Image)>>,
    /// Attachment lookups shared by the run's images.
    attached: Attached,
}

impl<'a> ImageSaver<'a> {
    pub fn new(
        registries: &'a Registries,
        options: &'a CopyOptions,
        events: &'a Events,
        writer: &'a ArchiveWriter,
    ) -> Self {
        ImageSaver {
            registries,
            options,
            events,
            writer,
            ledger: BlobLedger::default(),
            saved: Mutex::new(Vec::new()),
            attached: Attached::default(),
        }
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

    /// The saved images, in list order, for the archive's `index.json`.
    pub fn images(&self) -> Vec<Image> {
        let mut saved = self.saved.lock().expect("saved lock").clone();
        saved.sort_by_key(|(id, _)| *id);
        saved.into_iter().map(|(_, image)| image).collect()
    }

    pub async fn save(&self, id: usize, source: &Reference) -> Result<Outcome, CopyError> {
        self.events.emit(Event::ImageStarted {
            id,
            source: source.to_string(),
            destination: "archive".into(),
            dry_run: false,
        });
        let src = self.registries.get(source.registry()).await?;
        let repo = source.repository();
        let top = src.get_manifest(repo, &source.manifest_reference()).await?;
        let (platforms, everything) =
            match select_platforms(&src, repo, &top, self.options, source).await? {
                Selected::Platforms { chosen, everything } => (chosen, everything),
                Selected::Converted { .. } => {
                    return self.save_schema1(id, source, &src, &top).await;
                }
                Selected::Nothing { available } => {
                    return Ok(Outcome::NoMatchingPlatform { available });
                }
            };
        let mut specs = Vec::with_capacity(platforms.len());
        for chosen in platforms {
            let manifest = match chosen.manifest {
                Some(m) => m,
                None => src.get_manifest(repo, chosen.digest.as_str()).await?,
            };
            specs.push(
                self.save_platform(&src, repo, &manifest, &chosen.platform, chosen.annotations)
                    .await?,
            );
        }
        // The tag's own manifest is kept whole, so load and serve give the tag its digest back
        // (a single manifest is already stored as its one platform).
        if kind_of(&top)?.is_index() {
            self.save_built_blob(&top.digest, top.bytes.clone()).await?;
        }
        let kept = SourceManifest {
            media_type: top.media_type.clone(),
            digest: top.digest.to_string(),
            size: top.bytes.len() as u64,
        };
        // The platform digests survive a load, and the index's own when every platform was
        // saved (then load pushes it unchanged): their signatures, attestations, SBOMs and
        // referrers travel.
        let mut subjects: Vec<Digest> = specs
            .iter()
            .filter(|s| s.arch != "unknown")
            .filter_map(|s| s.digest.parse().ok())
            .collect();
        if everything && !subjects.contains(&top.digest) {
            subjects.insert(0, top.digest.clone());
        }
        let outcome = self.record(id, source, &top.digest, specs, Some(kept));
        if self.options.attachments
            && let Err(e) = self.save_attachments(id, source, &src, &subjects).await
        {
            tracing::warn!("[IMG:{id}] signatures and attestations of [{source}] not saved: {e}");
        }
        Ok(outcome)
    }

    /// Saves the cosign `.sig`, `.att` and `.sbom` tags of `subjects` as artifact entries of
    /// the same repository (no platform), which `load` pushes back to the same tags, and the
    /// OCI referrers of each subject as one entry tagged like the referrers tag schema
    /// (`sha256-HEX`), holding every referrer manifest.
    async fn save_attachments(
        &self,
        id: usize,
        source: &Reference,
        src: &Registry,
        subjects: &[Digest],
    ) -> Result<(), CopyError> {
        let repo = source.repository();
        let tags = self.attached.tags(src, repo).await?;
        for subject in subjects {
            for (tag, _) in Attached::cosign_tags(subject, &tags) {
                let manifest = src.get_manifest(repo, &tag).await?;
                let spec = self
                    .save_platform(src, repo, &manifest, &Platform::default(), None)
                    .await?;
                self.record_attachment(id, source, &tag, vec![spec]);
            }
            let referrers = self.attached.referrers(src, repo, subject, &tags).await?;
            if referrers.is_empty() {
                continue;
            }
            let mut specs = Vec::with_capacity(referrers.len());
            for referrer in &referrers {
                let manifest = src.get_manifest(repo, referrer.digest.as_str()).await?;
                specs.push(
                    self.save_platform(src, repo, &manifest, &Platform::default(), None)
                        .await?,
                );
            }
            self.record_attachment(id, source, &subject_tag(subject), specs);
        }
        Ok(())
    }

    fn record_attachment(&self, id: usize, source: &Reference, tag: &str, specs: Vec<ImageSpec>) {
        tracing::info!(
            "[IMG:{id}] Saved [{}:{tag}]{}",
            source.name(),
            if specs.len() > 1 {
                format!(" ({} manifests)", specs.len())
            } else {
                String::new()
            }
        );
        self.saved.lock().expect("saved lock").push((
            id,
            Image {
                source: source.name(),
                tag: tag.to_string(),
                arch_list: Vec::new(),
                os_list: Vec::new(),
                images: specs,
                source_manifest: None,
            },
        ));
    }

    /// Lists a saved image for the archive index; returns the outcome to report.
    fn record(
        &self,
        id: usize,
        source: &Reference,
        top: &Digest,
        specs: Vec<ImageSpec>,
        source_manifest: Option<SourceManifest>,
    ) -> Outcome {
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
        let platforms: Vec<String> = specs
            .iter()
            .filter(|s| s.arch != "unknown")
            .map(|s| {
                Platform::new(
                    &s.os,
                    &s.arch,
                    Some(&s.variant)
                        .filter(|v| !v.is_empty())
                        .map(|v| v.as_str()),
                )
                .to_string()
            })
            .collect();
        let image = Image {
            source: source.name(),
            tag: source
                .tag()
                .map(str::to_string)
                .unwrap_or_else(|| top.to_string()),
            arch_list: arch_list.into_iter().collect(),
            os_list: os_list.into_iter().collect(),
            images: specs,
            source_manifest,
        };
        self.saved.lock().expect("saved lock").push((id, image));
        Outcome::Copied {
            digest: top.clone(),
            platforms,
        }
    }

    /// A schema1 image is converted to schema2 while it is saved (as Hangar does): each layer
    /// streams into the archive with its uncompressed digest computed on the way, then the
    /// config and the manifest are built from them.
    async fn save_schema1(
        &self,
        id: usize,
        source: &Reference,
        src: &Registry,
        top: &Manifest,
    ) -> Result<Outcome, CopyError> {
        let repo = source.repository();
        let s1 = Schema1::parse(&top.bytes)?;
        let platform = s1.platform();
        if !self.options.filter.allows(&platform) {
            return Ok(Outcome::NoMatchingPlatform {
                available: vec![platform.to_string()],
            });
        }
        let mut layers = Vec::with_capacity(s1.layers().len());
        for digest in s1.layers() {
            let converted = self.save_blob(src, repo, digest, None, true).await?;
            layers.push(converted.expect("asked for the diff id"));
        }
        let (config, manifest) = s1.to_schema2(&layers)?;
        let config_digest = Digest::sha256_of(&config);
        self.save_built_blob(&config_digest, Bytes::from(config))
            .await?;
        let bytes = Bytes::from(manifest);
        let manifest = Manifest {
            digest: Digest::sha256_of(&bytes),
            bytes,
            media_type: media::DOCKER_V2S2.to_string(),
        };
        let spec = self
            .save_platform(src, repo, &manifest, &platform, None)
            .await?;
        // What the tag is after the conversion (as mirror pushes it): the converted manifest.
        let kept = SourceManifest {
            media_type: manifest.media_type.clone(),
            digest: manifest.digest.to_string(),
            size: manifest.bytes.len() as u64,
        };
        Ok(self.record(id, source, &manifest.digest, vec![spec], Some(kept)))
    }

    /// One platform manifest: its blobs, its own bytes, its OCI layout; returns its index entry.
    async fn save_platform(
        &self,
        src: &Registry,
        repo: &str,
        manifest: &Manifest,
        platform: &Platform,
        annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<ImageSpec, CopyError> {
        let what = format!("{}/{repo}@{}", src.name(), manifest.digest);
        let parsed: ImageManifest =
            serde_json::from_slice(&manifest.bytes).map_err(|e| malformed(&what, e))?;
        for blob in parsed.blobs() {
            self.save_blob(src, repo, &blob.digest, Some(blob.size), false)
                .await?;
        }
        self.save_bytes(
            &format!("share/sha256/{}", manifest.digest.hex()),
            manifest.bytes.clone(),
        )
        .await?;
        let layout = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.bytes.len()}],
        });
        let hex = manifest.digest.hex();
        self.save_bytes(
            &format!("{hex}/index.json"),
            Bytes::from(layout.to_string()),
        )
        .await?;
        self.save_bytes(
            &format!("{hex}/oci-layout"),
            Bytes::from_static(br#"{"imageLayoutVersion":"1.0.0"}"#),
        )
        .await?;
        Ok(ImageSpec {
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
        })
    }

    /// Writes a small entry we built, once per archive.
    async fn save_bytes(&self, name: &str, bytes: Bytes) -> Result<(), CopyError> {
        let key = Digest::sha256_of(name.as_bytes());
        loop {
            match self.ledger.claim(ENTRIES, &key) {
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

    /// Writes a blob we built (a converted config), once per archive.
    async fn save_built_blob(&self, digest: &Digest, bytes: Bytes) -> Result<(), CopyError> {
        loop {
            match self.ledger.claim(ARCHIVE, digest) {
                Claim::At(_) => return Ok(()),
                Claim::Wait(gate) => {
                    let _ = gate.acquire().await;
                }
                Claim::Mine(guard) => {
                    let name = format!("share/sha256/{}", digest.hex());
                    self.writer
                        .write_bytes(&name, bytes)
                        .await
                        .map_err(|e| archive_error(&name, e))?;
                    guard.done(ARCHIVE);
                    return Ok(());
                }
            }
        }
    }

    /// Streams a blob from the registry into `share/sha256/<hex>`, once per archive, restarting
    /// from the source when a transfer fails or its digest is wrong. With `want_diff_id`
    /// (schema1 conversion) it also returns the layer's size and uncompressed digest, reading
    /// the blob from the source again if the archive already holds it.
    async fn save_blob(
        &self,
        src: &Registry,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        want_diff_id: bool,
    ) -> Result<Option<ConvertedLayer>, CopyError> {
        let guard = loop {
            match self.ledger.claim(ARCHIVE, digest) {
                Claim::At(_) if want_diff_id => {
                    return Ok(Some(self.diff_id_of(src, repo, digest).await?));
                }
                Claim::At(_) => return Ok(None),
                Claim::Wait(gate) => {
                    let _ = gate.acquire().await;
                }
                Claim::Mine(guard) => break guard,
            }
        };
        // Schema1 lists no sizes; the size decides the zip64 marking.
        let size_hint = match size {
            Some(n) => n,
            None => src.blob_size(repo, digest).await?.unwrap_or(0),
        };
        let name = format!("share/sha256/{}", digest.hex());
        // A failed or corrupted transfer restarts from the source; the writer dropped the
        // partial entry.
        let what = format!("restarting the blob from the source ({digest})");
        let converted = src
            .retry()
            .run(&what, || async {
                let response = src.get_blob(repo, digest).await?;
                let events = self.events.clone();
                // Taken back if this attempt fails, so progress counts each blob once.
                let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
                let count = counted.clone();
                let (stream, verdict) = VerifyingStream::new(
                    response.bytes_stream(),
                    format!("blob {}/{repo}@{digest}", src.name()),
                    digest.clone(),
                    size,
                    want_diff_id,
                    Box::new(move |n| {
                        count.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        events.emit(Event::Bytes { id: 0, n })
                    }),
                );
                let origin = format!("{}/{repo}", src.name());
                let written = self
                    .writer
                    .write_blob(&name, size_hint, &origin, stream)
                    .await;
                let mut verdict = verdict.lock().expect("verdict lock");
                let sent = counted.load(std::sync::atomic::Ordering::Relaxed);
                if (verdict.error.is_some() || written.is_err()) && sent > 0 {
                    self.events.emit(Event::Discarded { id: 0, n: sent });
                }
                if let Some(error) = verdict.error.take() {
                    return Err(error);
                }
                let written = written.map_err(|e| archive_error(&name, e))?;
                Ok(verdict.diff_id.take().map(|diff_id| ConvertedLayer {
                    size: written,
                    diff_id,
                }))
            })
            .await?;
        guard.done(ARCHIVE);
        Ok(converted)
    }

    /// The size and uncompressed digest of a layer the archive already holds (read from the
    /// source; schema1 images are rare enough not to warrant reading the archive back).
    async fn diff_id_of(
        &self,
        src: &Registry,
        repo: &str,
        digest: &Digest,
    ) -> Result<ConvertedLayer, CopyError> {
        use futures_util::StreamExt as _;
        let what = format!("blob {}/{repo}@{digest}", src.name());
        let converted = src
            .retry()
            .run(&what, || async {
                let response = src.get_blob(repo, digest).await?;
                let (mut stream, verdict) = VerifyingStream::new(
                    response.bytes_stream(),
                    what.clone(),
                    digest.clone(),
                    None,
                    true,
                    Box::new(|_| {}),
                );
                while stream.next().await.is_some() {}
                let mut verdict = verdict.lock().expect("verdict lock");
                if let Some(error) = verdict.error.take() {
                    return Err(error);
                }
                Ok(ConvertedLayer {
                    size: verdict.verified_size.unwrap_or(0),
                    diff_id: verdict.diff_id.take().expect("asked for the diff id"),
                })
            })
            .await?;
        Ok(converted)
    }
}

/// A platform manifest a save stores.
pub struct Chosen {
    pub digest: Digest,
    /// Already fetched (a single-platform image); children of an index are fetched when saved.
    pub manifest: Option<Manifest>,
    pub platform: Platform,
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

pub enum Selected {
    /// `everything`: the filter kept every entry of an index (or the single manifest).
    Platforms {
        chosen: Vec<Chosen>,
        everything: bool,
    },
    /// A schema1 image: converted on save, so its digest is only known afterwards.
    Converted {
        platform: Platform,
    },
    Nothing {
        available: Vec<String>,
    },
}

/// The platform manifests of `top` a save keeps under the filter (attestations with
/// provenance); shared by save and `save validate` so both judge an image the same way.
pub async fn select_platforms(
    src: &Registry,
    repo: &str,
    top: &Manifest,
    options: &CopyOptions,
    source: &Reference,
) -> Result<Selected, CopyError> {
    match kind_of(top)? {
        ManifestKind::OciIndex | ManifestKind::DockerList => {
            let parsed: Index =
                serde_json::from_slice(&top.bytes).map_err(|e| malformed(source.to_string(), e))?;
            let mut entries = parsed.manifests.clone();
            for entry in entries.iter_mut() {
                fill_platform(src, repo, &options.filter, entry).await?;
            }
            let selection = index::select(&entries, &options.filter, options.provenance);
            if selection.kept.is_empty() {
                return Ok(Selected::Nothing {
                    available: names(&entries),
                });
            }
            Ok(Selected::Platforms {
                everything: selection.everything,
                chosen: selection
                    .kept
                    .into_iter()
                    .map(|entry| Chosen {
                        digest: entry.digest,
                        manifest: None,
                        platform: entry.platform.unwrap_or_default(),
                        annotations: entry.annotations,
                    })
                    .collect(),
            })
        }
        ManifestKind::OciManifest | ManifestKind::DockerV2S2 => {
            let platform = config_platform(src, repo, top)
                .await?
                .map(|c| c.platform())
                .unwrap_or_default();
            if !options.filter.allows(&platform) {
                return Ok(Selected::Nothing {
                    available: vec![platform.to_string()],
                });
            }
            Ok(Selected::Platforms {
                everything: true,
                chosen: vec![Chosen {
                    digest: top.digest.clone(),
                    manifest: Some(top.clone()),
                    platform,
                    annotations: None,
                }],
            })
        }
        // Converted while saved (`ImageSaver::save_schema1`): one platform, a new digest.
        ManifestKind::Schema1 => {
            let platform = Schema1::parse(&top.bytes)?.platform();
            if !options.filter.allows(&platform) {
                return Ok(Selected::Nothing {
                    available: vec![platform.to_string()],
                });
            }
            Ok(Selected::Converted { platform })
        }
    }
}

fn archive_error(name: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Protocol {
        what: format!("archive entry {name}"),
        message: e.to_string(),
    }
}

fn names(entries: &[Descriptor]) -> Vec<String> {
    entries
        .iter()
        .filter(|d| !d.is_attestation())
        .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
        .collect()
}
