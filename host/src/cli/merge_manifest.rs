//! `hangar merge-manifest TARGET IMAGE...`: one OCI index built from several images.
//! Indexes are flattened; a single manifest gets its platform from its config. Images from
//! other repositories are copied into TARGET's repository first (an index can only point at
//! manifests its own repository holds), which Hangar leaves to the user.

use super::Status;
use super::args::TlsArgs;
use crate::copy::attachments::Attached;
use crate::copy::events::{Events, Silent};
use crate::copy::sink::registry::RegistryTarget;
use crate::copy::source::registry::RegistrySource;
use crate::copy::walk::Ends;
use crate::copy::{CopyOptions, Engine, index};
use crate::image::manifest::{ConfigPlatform, Descriptor, ImageManifest, Index};
use crate::image::media::{self, ManifestKind};
use crate::image::reference::Reference;
use crate::registry::Registries;
use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Args;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct MergeManifestArgs {
    /// TARGET IMAGE IMAGE...
    images: Vec<String>,
    /// Print the index instead of pushing it
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: MergeManifestArgs) -> anyhow::Result<Status> {
    if args.images.len() < 3 {
        bail!("merge-manifest command requires at least 3 arguments");
    }
    let parse =
        |s: &String| Reference::parse(s).with_context(|| format!("invalid image reference {s:?}"));
    let target = parse(&args.images[0])?;
    let sources = args.images[1..]
        .iter()
        .map(parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registries = Registries::new(args.tls.registry_options());
    let mut entries: Vec<Descriptor> = Vec::new();
    for source in &sources {
        let registry = registries.get(source.registry()).await?;
        let top = registry
            .get_manifest(source.repository(), &source.manifest_reference())
            .await?;
        let kind = ManifestKind::from_media_type(&top.media_type).with_context(|| {
            format!(
                "image {:?} mime type {:?} is not supported",
                source.to_string(),
                top.media_type
            )
        })?;
        match kind {
            ManifestKind::Schema1 => {
                bail!(
                    "image {:?} mime type {:?} is deprecated and not supported",
                    source.to_string(),
                    top.media_type
                )
            }
            ManifestKind::OciIndex | ManifestKind::DockerList => {
                let idx: Index = serde_json::from_slice(&top.bytes)
                    .with_context(|| format!("{source}: malformed index"))?;
                entries = index::merge(entries, idx.manifests);
            }
            ManifestKind::OciManifest | ManifestKind::DockerV2S2 => {
                let m: ImageManifest = serde_json::from_slice(&top.bytes)
                    .with_context(|| format!("{source}: malformed manifest"))?;
                let config = registry
                    .get_blob_bytes(source.repository(), &m.config.digest, 16 << 20)
                    .await?;
                let platform: ConfigPlatform = serde_json::from_slice(&config)
                    .with_context(|| format!("{source}: malformed image config"))?;
                let descriptor = Descriptor {
                    media_type: top.media_type.clone(),
                    digest: top.digest.clone(),
                    size: top.bytes.len() as u64,
                    urls: vec![],
                    annotations: None,
                    platform: Some(platform.platform()),
                    artifact_type: None,
                    extra: Default::default(),
                };
                entries = index::merge(entries, vec![descriptor]);
            }
        }
    }
    let bytes = Bytes::from(index::build(entries.clone()));
    if args.dry_run {
        outln!("{}", String::from_utf8_lossy(&bytes))?;
        return Ok(Status::Success);
    }
    let events: Events = Arc::new(Silent);
    let options = CopyOptions::default();
    let engine = Engine {
        options: &options,
        events: events.clone(),
    };
    let attached = Attached::default();
    let target_side = RegistryTarget::new(&registries, events);
    let sink = target_side.sink(target.clone());
    for source in &sources {
        let registry = registries.get(source.registry()).await?;
        let top = registry
            .get_manifest(source.repository(), &source.manifest_reference())
            .await?;
        let wanted: Vec<_> =
            if ManifestKind::from_media_type(&top.media_type).is_some_and(|k| k.is_index()) {
                serde_json::from_slice::<Index>(&top.bytes)?
                    .manifests
                    .into_iter()
                    .map(|d| d.digest)
                    .collect()
            } else {
                vec![top.digest.clone()]
            };
        for digest in wanted
            .iter()
            .filter(|d| entries.iter().any(|e| &e.digest == *d))
        {
            let from = RegistrySource::new(&registries, &attached, source.clone());
            let ends = Ends {
                id: 0,
                source: &from,
                sink: &sink,
                tag: None,
            };
            engine.copy_manifest(&ends, digest.clone(), None, 1).await?;
        }
    }
    let dst = registries.get(target.registry()).await?;
    let tag = target
        .push_tag()
        .unwrap_or_else(|| crate::image::Digest::sha256_of(&bytes).to_string());
    let digest = dst
        .put_manifest(target.repository(), &tag, &bytes, media::OCI_INDEX)
        .await?;
    tracing::info!(
        "Pushed {target} ({digest}) with {} manifests",
        entries.len()
    );
    Ok(Status::Success)
}
