//! `hangar merge-manifest TARGET IMAGE...`: one OCI index built from several images.
//! Indexes are flattened; a single manifest gets its platform from its config. Images from
//! other repositories are copied into TARGET's repository first (an index can only point at
//! manifests its own repository holds), which Hangar leaves to the user.

use super::Status;
use super::args::TlsArgs;
use crate::copy::attachments::Attached;
use crate::copy::events::{Events, Silent};
use crate::copy::sink::registry::RegistryTarget;
use crate::copy::source::Source;
use crate::copy::source::registry::RegistrySource;
use crate::copy::{CopyOptions, Engine, index, merge};
use crate::image::media;
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
    let attached = Attached::default();
    let opened: Vec<RegistrySource> = sources
        .iter()
        .map(|s| RegistrySource::new(&registries, &attached, s.clone()))
        .collect();
    let from: Vec<&dyn Source> = opened.iter().map(|s| s as &dyn Source).collect();
    let entries = merge::entries(&from).await?;
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
    let target_side = RegistryTarget::new(&registries, events);
    let sink = target_side.sink(target.clone());
    merge::gather(&engine, &from, &sink, &entries).await?;
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
