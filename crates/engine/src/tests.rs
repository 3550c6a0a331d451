//! The engine's rules against an in-memory source and sink: index keep-or-merge, platform
//! filters, schema1 conversion, attachments, depth limit, dry run. The same code runs between
//! real registries and archives in the end-to-end tests; these pin the rules themselves.

use crate::blob::Copied;
use crate::events::BlobHow;
use crate::events::{Events, Silent};
use crate::outcome::{CopyError, CopyOptions, Outcome};
use crate::sink::{Sink, TagWrite};
use crate::source::{Attachments, Fut, OpenBlob, Source, Top};
use crate::verify::VerifyingStream;
use crate::walk::{Ends, Engine};
use bytes::Bytes;
use futures_util::StreamExt as _;
use hangar_image::digest::Digest;
use hangar_image::manifest::Descriptor;
use hangar_image::media;
use hangar_image::platform::PlatformFilter;
use hangar_registry::{Manifest, RegistryError};
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

fn manifest(value: serde_json::Value) -> Manifest {
    let bytes = Bytes::from(serde_json::to_vec(&value).unwrap());
    Manifest {
        digest: Digest::sha256_of(&bytes),
        media_type: value["mediaType"].as_str().unwrap_or_default().to_string(),
        bytes,
    }
}

fn gzip(data: &[u8]) -> Bytes {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    Bytes::from(e.finish().unwrap())
}

/// A source image: its manifests by reference and its blobs.
#[derive(Default, Clone)]
struct Memory {
    manifests: HashMap<String, Manifest>,
    blobs: HashMap<Digest, Bytes>,
    top: String,
    original: bool,
}

impl Memory {
    fn blob(&mut self, bytes: Bytes) -> serde_json::Value {
        let digest = Digest::sha256_of(&bytes);
        let size = bytes.len();
        self.blobs.insert(digest.clone(), bytes);
        serde_json::json!({"digest": digest, "size": size})
    }

    /// A platform image with one layer made from `seed`; returns its index entry.
    fn image(&mut self, os: &str, arch: &str, variant: Option<&str>, seed: u8) -> Descriptor {
        let mut config = serde_json::json!({"architecture": arch, "os": os, "rootfs": {"type": "layers", "diff_ids": []}});
        if let Some(v) = variant {
            config["variant"] = v.into();
        }
        let mut config_desc = self.blob(Bytes::from(config.to_string()));
        config_desc["mediaType"] = media::OCI_CONFIG.into();
        let mut layer = self.blob(gzip(&[seed; 4096]));
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        let m = manifest(serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
            "config": config_desc, "layers": [layer],
        }));
        let mut platform = serde_json::json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        let entry: Descriptor = serde_json::from_value(serde_json::json!({
            "mediaType": m.media_type, "digest": m.digest, "size": m.bytes.len(), "platform": platform,
        }))
        .unwrap();
        self.manifests.insert(m.digest.to_string(), m);
        entry
    }

    fn index(&mut self, tag: &str, entries: &[Descriptor]) -> Manifest {
        let m = manifest(serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": entries,
        }));
        self.manifests.insert(tag.to_string(), m.clone());
        self.manifests.insert(m.digest.to_string(), m.clone());
        self.top = tag.to_string();
        self.original = true;
        m
    }

    fn get(&self, reference: &str) -> Result<Manifest, CopyError> {
        self.manifests
            .get(reference)
            .cloned()
            .ok_or_else(|| crate::outcome::malformed(reference, "not in the source"))
    }
}

impl Source for Memory {
    fn name(&self) -> String {
        "memory/source".into()
    }
    fn top(&self) -> Fut<'_, Top> {
        Box::pin(async move {
            Ok(Top {
                manifest: self.get(&self.top)?,
                original: self.original,
                referrers_of: None,
            })
        })
    }
    fn manifest<'a>(&'a self, reference: &'a str) -> Fut<'a, Manifest> {
        Box::pin(async move { self.get(reference) })
    }
    fn blob_bytes<'a>(&'a self, digest: &'a Digest, _: usize) -> Fut<'a, Bytes> {
        Box::pin(async move { Ok(self.blobs[digest].clone()) })
    }
    fn open_blob<'a>(&'a self, digest: &'a Digest) -> Fut<'a, OpenBlob> {
        Box::pin(async move {
            let bytes = self.blobs[digest].clone();
            Ok(OpenBlob {
                size: Some(bytes.len() as u64),
                body: Box::pin(futures_util::stream::once(async move { Ok(bytes) })),
                what: format!("blob {digest}"),
            })
        })
    }
    fn blob_size<'a>(&'a self, digest: &'a Digest) -> Fut<'a, Option<u64>> {
        Box::pin(async move { Ok(self.blobs.get(digest).map(|b| b.len() as u64)) })
    }
    fn attachments<'a>(&'a self, subjects: &'a [Digest]) -> Fut<'a, Attachments> {
        Box::pin(async move {
            let tags: HashSet<String> = self.manifests.keys().cloned().collect();
            let mut found = Attachments::default();
            for subject in subjects {
                found
                    .tags
                    .extend(crate::attachments::Attached::cosign_tags(subject, &tags));
            }
            Ok(found)
        })
    }
}

/// A destination: tags, manifests by digest and blobs, each checked as it arrives; clones
/// share it (a run owns its sinks, the test looks after).
#[derive(Default, Clone)]
struct Store(Arc<State>);

impl std::ops::Deref for Store {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

#[derive(Default)]
struct State {
    tags: Mutex<HashMap<String, Manifest>>,
    manifests: Mutex<HashMap<Digest, Manifest>>,
    blobs: Mutex<HashMap<Digest, Bytes>>,
}

impl State {
    fn tag(&self, tag: &str) -> Option<Manifest> {
        self.tags.lock().unwrap().get(tag).cloned()
    }
    fn writes(&self) -> usize {
        self.tags.lock().unwrap().len()
            + self.manifests.lock().unwrap().len()
            + self.blobs.lock().unwrap().len()
    }
    fn holds_all(&self, manifest: &Manifest) -> bool {
        let parsed: hangar_image::manifest::ImageManifest =
            serde_json::from_slice(&manifest.bytes).unwrap();
        let blobs = self.blobs.lock().unwrap();
        self.manifests
            .lock()
            .unwrap()
            .contains_key(&manifest.digest)
            && parsed.blobs().all(|b| blobs.contains_key(&b.digest))
    }
}

impl Sink for Store {
    fn name(&self) -> String {
        "memory/sink".into()
    }
    fn head<'a>(&'a self, reference: &'a str) -> Fut<'a, Option<Digest>> {
        Box::pin(async move { Ok(self.tag(reference).map(|m| m.digest)) })
    }
    fn has_manifest<'a>(&'a self, digest: &'a Digest) -> Fut<'a, bool> {
        Box::pin(async move { Ok(self.manifests.lock().unwrap().contains_key(digest)) })
    }
    fn manifest_at<'a>(&'a self, tag: &'a str) -> Fut<'a, Option<Manifest>> {
        Box::pin(async move { Ok(self.tag(tag)) })
    }
    fn put_blob<'a>(
        &'a self,
        _: usize,
        source: &'a dyn Source,
        digest: &'a Digest,
        size: Option<u64>,
        want_diff_id: bool,
    ) -> Fut<'a, Copied> {
        Box::pin(async move {
            let blob = source.open_blob(digest).await?;
            let (mut stream, verdict) = VerifyingStream::new(
                blob.body,
                blob.what,
                digest.clone(),
                size,
                want_diff_id,
                Box::new(|_| {}),
            );
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.map_err(|e| RegistryError::Transfer {
                    what: digest.to_string(),
                    message: e.to_string(),
                })?);
            }
            let mut verdict = verdict.lock().unwrap();
            if let Some(e) = verdict.error.take() {
                return Err(e.into());
            }
            self.blobs
                .lock()
                .unwrap()
                .insert(digest.clone(), Bytes::from(bytes));
            Ok(Copied {
                how: BlobHow::Copied,
                size: verdict.verified_size.unwrap_or(0),
                diff_id: verdict.diff_id.take(),
            })
        })
    }
    fn put_blob_bytes<'a>(&'a self, digest: &'a Digest, bytes: Bytes) -> Fut<'a, ()> {
        Box::pin(async move {
            assert_eq!(&Digest::sha256_of(&bytes), digest);
            self.blobs.lock().unwrap().insert(digest.clone(), bytes);
            Ok(())
        })
    }
    fn put_manifest<'a>(
        &'a self,
        manifest: &'a Manifest,
        _: Option<&'a Descriptor>,
    ) -> Fut<'a, ()> {
        Box::pin(async move {
            self.manifests
                .lock()
                .unwrap()
                .insert(manifest.digest.clone(), manifest.clone());
            Ok(())
        })
    }
    fn put_tag<'a>(&'a self, tag: Option<&'a str>, write: TagWrite<'a>) -> Fut<'a, ()> {
        Box::pin(async move {
            let reference = tag
                .map(str::to_string)
                .unwrap_or(write.manifest.digest.to_string());
            self.manifests
                .lock()
                .unwrap()
                .insert(write.manifest.digest.clone(), write.manifest.clone());
            self.tags
                .lock()
                .unwrap()
                .insert(reference, write.manifest.clone());
            Ok(())
        })
    }
    fn publish_referrers<'a>(
        &'a self,
        _: &'a Digest,
        referrers: Vec<Descriptor>,
    ) -> Fut<'a, usize> {
        Box::pin(async move { Ok(referrers.len()) })
    }
}

async fn copy(source: &Memory, sink: &Store, options: &CopyOptions) -> Result<Outcome, CopyError> {
    let events: Events = Arc::new(Silent);
    let engine = Engine { options, events };
    let ends = Ends {
        id: 1,
        source,
        sink,
        tag: Some("v1"),
    };
    engine.copy(&ends).await
}

fn only(arch: &str) -> CopyOptions {
    CopyOptions {
        filter: PlatformFilter {
            arch: vec![arch.into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn two_platforms() -> (Memory, Descriptor, Descriptor, Manifest) {
    let mut source = Memory::default();
    let amd = source.image("linux", "amd64", None, 1);
    let arm = source.image("linux", "arm64", Some("v8"), 2);
    let index = source.index("v1", &[amd.clone(), arm.clone()]);
    (source, amd, arm, index)
}

#[tokio::test]
async fn an_index_kept_whole_arrives_byte_for_byte_and_a_rerun_changes_nothing() {
    let (source, amd, arm, index) = two_platforms();
    let sink = Store::default();
    let outcome = copy(&source, &sink, &CopyOptions::default()).await.unwrap();
    assert!(matches!(&outcome, Outcome::Copied { digest, .. } if *digest == index.digest));
    assert_eq!(sink.tag("v1").unwrap().bytes, index.bytes);
    for entry in [&amd, &arm] {
        assert!(sink.holds_all(&source.get(entry.digest.as_str()).unwrap()));
    }
    let writes = sink.writes();
    let again = copy(&source, &sink, &CopyOptions::default()).await.unwrap();
    assert_eq!(
        again,
        Outcome::UpToDate {
            digest: index.digest
        }
    );
    assert_eq!(sink.writes(), writes);
}

#[tokio::test]
async fn a_filtered_index_merges_into_what_the_tag_holds() {
    let (source, amd, arm, index) = two_platforms();
    let sink = Store::default();
    copy(&source, &sink, &only("amd64")).await.unwrap();
    let first = sink.tag("v1").unwrap();
    assert_eq!(first.media_type, media::OCI_INDEX);
    let listed = |m: &Manifest| -> Vec<Digest> {
        let i: hangar_image::manifest::Index = serde_json::from_slice(&m.bytes).unwrap();
        i.manifests.into_iter().map(|d| d.digest).collect()
    };
    assert_eq!(listed(&first), vec![amd.digest.clone()]);
    assert!(!sink.manifests.lock().unwrap().contains_key(&arm.digest));
    // The other platform joins the same tag; a repeat finds it up to date.
    copy(&source, &sink, &only("arm64")).await.unwrap();
    let merged = sink.tag("v1").unwrap();
    assert_eq!(
        listed(&merged),
        vec![amd.digest.clone(), arm.digest.clone()]
    );
    assert_ne!(
        merged.digest, index.digest,
        "a built index, not the source's bytes"
    );
    let again = copy(&source, &sink, &only("arm64")).await.unwrap();
    assert_eq!(
        again,
        Outcome::UpToDate {
            digest: merged.digest
        }
    );
}

#[tokio::test]
async fn an_index_the_source_built_only_merges() {
    let (mut source, amd, arm, _) = two_platforms();
    source.original = false;
    let sink = Store::default();
    let outcome = copy(&source, &sink, &CopyOptions::default()).await.unwrap();
    assert!(matches!(outcome, Outcome::Copied { .. }));
    let at = sink.tag("v1").unwrap();
    let i: hangar_image::manifest::Index = serde_json::from_slice(&at.bytes).unwrap();
    assert_eq!(
        i.manifests.iter().map(|d| &d.digest).collect::<Vec<_>>(),
        vec![&amd.digest, &arm.digest]
    );
}

#[tokio::test]
async fn a_single_manifest_is_filtered_by_its_config_and_never_wrapped() {
    let mut source = Memory::default();
    let arm = source.image("linux", "arm64", None, 3);
    let single = source.get(arm.digest.as_str()).unwrap();
    source.manifests.insert("v1".into(), single.clone());
    source.top = "v1".into();
    source.original = true;
    let sink = Store::default();
    let skipped = copy(&source, &sink, &only("amd64")).await.unwrap();
    assert_eq!(
        skipped,
        Outcome::NoMatchingPlatform {
            available: vec!["linux/arm64".into()]
        }
    );
    assert_eq!(sink.writes(), 0);
    copy(&source, &sink, &CopyOptions::default()).await.unwrap();
    assert_eq!(sink.tag("v1").unwrap().digest, single.digest);
    assert!(sink.holds_all(&single));
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let (source, _, _, index) = two_platforms();
    let sink = Store::default();
    let options = CopyOptions {
        dry_run: true,
        ..Default::default()
    };
    let outcome = copy(&source, &sink, &options).await.unwrap();
    assert!(matches!(outcome, Outcome::WouldCopy { digest: Some(d), .. } if d == index.digest));
    assert_eq!(sink.writes(), 0);
}

#[tokio::test]
async fn schema1_converts_with_the_layers_uncompressed_digests() {
    let mut source = Memory::default();
    let layer = gzip(&[7u8; 10_000]);
    let layer_digest = Digest::sha256_of(&layer);
    source.blobs.insert(layer_digest.clone(), layer);
    let v1 = r#"{"id":"a","architecture":"amd64","os":"linux","created":"2023-11-14T22:13:20Z","container_config":{"Cmd":["/bin/sh"]}}"#;
    let body = serde_json::json!({
        "schemaVersion": 1, "name": "test/x", "tag": "v1", "architecture": "amd64",
        "fsLayers": [{"blobSum": layer_digest}], "history": [{"v1Compatibility": v1}],
    });
    let bytes = Bytes::from(body.to_string());
    let s1 = Manifest {
        digest: Digest::sha256_of(&bytes),
        bytes,
        media_type: media::DOCKER_V2S1_SIGNED.to_string(),
    };
    source.manifests.insert("v1".into(), s1);
    source.top = "v1".into();
    source.original = true;
    let sink = Store::default();
    let outcome = copy(&source, &sink, &CopyOptions::default()).await.unwrap();
    let converted = sink.tag("v1").unwrap();
    assert_eq!(converted.media_type, media::DOCKER_V2S2);
    assert!(matches!(outcome, Outcome::Copied { digest, .. } if digest == converted.digest));
    let parsed: hangar_image::manifest::ImageManifest =
        serde_json::from_slice(&converted.bytes).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&sink.blobs.lock().unwrap()[&parsed.config.digest]).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        serde_json::json!(Digest::sha256_of(&[7u8; 10_000]))
    );
    // A re-run compares the layers the destination lists: nothing to do.
    let again = copy(&source, &sink, &CopyOptions::default()).await.unwrap();
    assert_eq!(
        again,
        Outcome::UpToDate {
            digest: converted.digest
        }
    );
}

#[tokio::test]
async fn signatures_of_the_index_and_its_platforms_travel() {
    let (mut source, amd, _, index) = two_platforms();
    let mut sign = |subject: &Digest, seed: u8| {
        let sig = source.image("", "", None, seed);
        let m = source.get(sig.digest.as_str()).unwrap();
        let tag = format!("{}.sig", crate::attachments::subject_tag(subject));
        source.manifests.insert(tag.clone(), m);
        tag
    };
    let index_sig = sign(&index.digest, 9);
    let amd_sig = sign(&amd.digest, 10);
    let sink = Store::default();
    let options = CopyOptions {
        attachments: true,
        ..Default::default()
    };
    copy(&source, &sink, &options).await.unwrap();
    for tag in [&index_sig, &amd_sig] {
        let got = sink.tag(tag).expect("signature tag copied");
        assert_eq!(got.digest, source.get(tag).unwrap().digest);
        assert!(sink.holds_all(&got));
    }
    // A filtered copy changes the index digest: its signature no longer applies.
    let filtered = Store::default();
    copy(
        &source,
        &filtered,
        &CopyOptions {
            attachments: true,
            ..only("amd64")
        },
    )
    .await
    .unwrap();
    assert!(filtered.tag(&amd_sig).is_some());
    assert!(filtered.tag(&index_sig).is_none());
}

#[tokio::test]
async fn indexes_nested_too_deep_are_refused() {
    let mut source = Memory::default();
    let mut entry = source.image("linux", "amd64", None, 4);
    for _ in 0..crate::walk::MAX_INDEX_DEPTH {
        let nested = manifest(serde_json::json!({
            "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [entry],
        }));
        source
            .manifests
            .insert(nested.digest.to_string(), nested.clone());
        entry = serde_json::from_value(serde_json::json!({
            "mediaType": media::OCI_INDEX, "digest": nested.digest, "size": nested.bytes.len(),
            "platform": {"os": "linux", "architecture": "amd64"},
        }))
        .unwrap();
    }
    source.index("v1", &[entry]);
    let sink = Store::default();
    let e = copy(&source, &sink, &CopyOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
    assert!(
        sink.tag("v1").is_none(),
        "nothing points at a partial image"
    );
}

/// Records what the run reports.
#[derive(Default)]
struct Recorder(Mutex<Vec<crate::events::Event>>);

impl crate::events::EventSink for Recorder {
    fn emit(&self, event: crate::events::Event) {
        self.0.lock().unwrap().push(event);
    }
}

#[tokio::test]
async fn a_run_starts_the_largest_first_and_answers_in_list_order() {
    let small = {
        let mut s = Memory::default();
        let e = s.image("linux", "amd64", None, 1);
        s.index("v1", &[e]);
        s
    };
    let large = {
        let (s, ..) = two_platforms();
        s
    };
    let broken = Memory {
        top: "v1".into(),
        ..Default::default()
    };
    let recorder = Arc::new(Recorder::default());
    let events: Events = recorder.clone();
    let options = CopyOptions::default();
    let engine = Engine {
        options: &options,
        events,
    };
    let sinks = [Store::default(), Store::default(), Store::default()];
    let jobs = [("small", small), ("broken", broken), ("large", large)]
        .into_iter()
        .zip(&sinks)
        .map(|((name, source), sink)| crate::run::Job {
            text: name.to_string(),
            from: name.to_string(),
            to: format!("dst/{name}"),
            tag: Some("v1".into()),
            source: Box::new(source),
            sink: Box::new(sink.clone()),
        })
        .collect();
    let cancel = tokio_util::sync::CancellationToken::new();
    let planned = Mutex::new(0);
    let settings = crate::run::Settings {
        workers: 2,
        timeout: None,
        cancel: &cancel,
        verb: "copy",
        planned: &|bytes| *planned.lock().unwrap() = bytes,
        failed: &|_, _| {},
    };
    let finished = crate::run::run(&engine, jobs, &settings).await;
    let texts: Vec<&str> = finished.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(texts, vec!["small", "broken", "large"]);
    let tally = crate::run::Tally::of(&finished, "copy");
    assert_eq!((tally.copied, tally.failed), (2, vec!["broken"]));
    assert!(sinks[0].tag("v1").is_some() && sinks[2].tag("v1").is_some());
    // Planned sizes are the layers' bytes of all three (the broken one counts nothing).
    assert!(*planned.lock().unwrap() > 0);
    let started: Vec<String> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            crate::events::Event::ImageStarted { source, .. } => Some(source.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started.first().map(String::as_str), Some("large"));
    let failure = recorder.0.lock().unwrap().iter().find_map(|e| match e {
        crate::events::Event::ImageFinished {
            ok: false, summary, ..
        } => Some(summary.clone()),
        _ => None,
    });
    assert!(
        failure.is_some_and(|s| s.starts_with("error occurred when copy [broken] to [dst/broken]")),
    );
}

/// Saves `source` into a new archive through the archive sink, then reads the image back
/// through the archive source into `sink`.
async fn through_an_archive(source: &Memory, sink: &Store) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zip");
    let writer = hangar_archive::writer::ArchiveWriter::create(&path).unwrap();
    let events: Events = Arc::new(Silent);
    let target = crate::sink::archive::ArchiveTarget::new(&writer, events.clone());
    let reference = hangar_image::reference::Reference::parse("example.com/test/image:v1").unwrap();
    let archive_sink = target.sink(1, &reference);
    let options = CopyOptions::default();
    let engine = Engine {
        options: &options,
        events,
    };
    let ends = Ends {
        id: 1,
        source,
        sink: &archive_sink,
        tag: Some("v1"),
    };
    engine.copy(&ends).await.unwrap();
    target
        .close(hangar_archive::index::ArchiveIndex::new(), false, "a.zip")
        .await
        .unwrap();
    let mut reader = hangar_archive::reader::ArchiveReader::open(&path).unwrap();
    let index = reader.index().unwrap();
    let blobs = hangar_archive::blobs::ArchiveBlobs::new(&path, &mut reader).unwrap();
    let image = &index.list[0];
    let from = crate::source::archive::ArchiveSource::new(&blobs, image);
    let ends = Ends {
        id: 1,
        source: &from,
        sink,
        tag: Some("v1"),
    };
    engine.copy(&ends).await.unwrap()
}

#[tokio::test]
async fn an_archive_gives_the_tag_its_digest_back_even_for_nested_indexes() {
    let (source, ..) = two_platforms();
    let index = source.get("v1").unwrap();
    let sink = Store::default();
    through_an_archive(&source, &sink).await;
    assert_eq!(sink.tag("v1").unwrap().digest, index.digest);

    // An index of indexes: kept whole, and walked again on the way out.
    let mut nested_source = source.clone();
    let inner: Descriptor = serde_json::from_value(serde_json::json!({
        "mediaType": media::OCI_INDEX, "digest": index.digest, "size": index.bytes.len(),
    }))
    .unwrap();
    let outer = nested_source.index("v1", &[inner]);
    let sink = Store::default();
    through_an_archive(&nested_source, &sink).await;
    assert_eq!(sink.tag("v1").unwrap().digest, outer.digest);
    let platforms: hangar_image::manifest::Index = serde_json::from_slice(&index.bytes).unwrap();
    for platform in platforms.manifests {
        let m = source.get(platform.digest.as_str()).unwrap();
        assert!(sink.holds_all(&m), "{} arrived with its blobs", m.digest);
    }
}
