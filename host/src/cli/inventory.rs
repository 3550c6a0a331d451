//! `hangar inventory -d REGISTRY [-f LIST] -o inventory.json`: what a registry inside the air
//! gap already holds (per repository: tags, manifest digests, the blobs they name), carried
//! out to the connected side so `save --base-inventory` leaves those blobs out.
//!
//! Repositories come from the list or the catalog (a thousand names per page) and are read
//! `-j` at a time; each is written out as soon as it and those before it are done, so memory
//! holds `-j` repositories whatever the registry's size. The output appears only when complete.

use super::Status;
use super::args::TlsArgs;
use crate::archive::delta::{INVENTORY_VERSION, InventoryManifest, InventoryRepository};
use crate::archive::index::rfc3339_now;
use crate::image::manifest::{ImageManifest, Index};
use crate::image::media::ManifestKind;
use crate::image::reference::Reference;
use crate::registry::{Registries, Registry};
use anyhow::Context as _;
use clap::Args;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// The registry to describe (host[:port])
    #[arg(short = 'd', long = "destination", value_name = "REGISTRY")]
    destination: Option<String>,
    /// Only these repositories: an image list (default format; tags are ignored) or one
    /// repository per line. Without it, every repository of the catalog
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The inventory to write
    #[arg(
        short = 'o',
        long = "output",
        default_value = "inventory.json",
        value_name = "FILE"
    )]
    output: PathBuf,
    /// Repositories read at once
    #[arg(short = 'j', long = "jobs", default_value_t = 4, value_name = "N")]
    jobs: usize,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: InventoryArgs) -> anyhow::Result<Status> {
    let name = args
        .destination
        .as_deref()
        .filter(|d| !d.is_empty())
        .context(
            "destination registry not provided, use '--destination' to specify the registry",
        )?;
    let registries = Registries::new(args.tls.registry_options());
    let registry = registries.get(name).await?;
    let repositories = match &args.file {
        Some(path) => listed_repositories(path)?,
        None => {
            let mut names = registry.catalog().await?;
            names.sort();
            names.dedup();
            names
        }
    };
    tracing::info!("{name}: reading {} repositories", repositories.len());
    let mut out = crate::outfile::Replacement::begin(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let created = rfc3339_now();
    write!(
        out,
        "{{\"version\":{},\"registry\":{},\"created\":{},\"repositories\":[",
        serde_json::to_string(INVENTORY_VERSION)?,
        serde_json::to_string(name)?,
        serde_json::to_string(&created)?
    )?;
    // The id is the digest of the `repositories` array exactly as written here.
    let mut id = Sha256::new();
    id.update(b"[");
    let mut described = stream_of(&registry, repositories, args.jobs.max(1));
    let (mut written, mut failed, mut blobs) = (0usize, 0usize, 0usize);
    while let Some((repository, result)) = described.next().await {
        match result {
            Ok(entry) => {
                let bytes = serde_json::to_vec(&entry)?;
                let separator: &[u8] = if written > 0 { b"," } else { b"" };
                out.write_all(separator)?;
                out.write_all(&bytes)?;
                id.update(separator);
                id.update(&bytes);
                written += 1;
                blobs += entry
                    .manifests
                    .values()
                    .map(|m| m.layers.len() + usize::from(m.config.is_some()))
                    .sum::<usize>();
            }
            Err(e) => {
                failed += 1;
                tracing::error!("{name}/{repository}: {e:#}");
            }
        }
    }
    id.update(b"]");
    let id: String = id.finalize().iter().map(|b| format!("{b:02x}")).collect();
    write!(out, "],\"id\":\"sha256:{id}\"}}")?;
    out.commit()
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    tracing::info!(
        "Wrote {}: {written} repositories, {blobs} blob references{}",
        args.output.display(),
        if failed > 0 {
            format!(", {failed} repositories could not be read")
        } else {
            String::new()
        }
    );
    Ok(if failed > 0 {
        Status::SomeFailed
    } else {
        Status::Success
    })
}

/// Repositories of a list file: image references (registry and tag dropped) or bare names.
fn listed_repositories(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read image list {}", path.display()))?;
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match Reference::parse(line) {
            Ok(reference) => names.push(reference.repository().to_string()),
            Err(e) => tracing::error!("{}: {line:?}: {e}", path.display()),
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Each repository described, in order, `jobs` at a time.
fn stream_of(
    registry: &Arc<Registry>,
    repositories: Vec<String>,
    jobs: usize,
) -> impl futures_util::Stream<Item = (String, anyhow::Result<InventoryRepository>)> + '_ {
    futures_util::stream::iter(repositories)
        .map(move |repository| async move {
            let described = describe(registry, &repository).await;
            (repository, described)
        })
        .buffered(jobs)
}

/// One repository: its tags and every manifest they reach.
async fn describe(registry: &Registry, repository: &str) -> anyhow::Result<InventoryRepository> {
    let mut tags = registry.list_tags(repository).await?;
    tags.sort();
    let mut entry = InventoryRepository {
        name: repository.to_string(),
        tags: BTreeMap::new(),
        manifests: BTreeMap::new(),
    };
    for tag in tags {
        let manifest = registry.get_manifest(repository, &tag).await?;
        entry.tags.insert(tag.clone(), manifest.digest.to_string());
        let mut pending = vec![manifest];
        while let Some(manifest) = pending.pop() {
            let digest = manifest.digest.to_string();
            if entry.manifests.contains_key(&digest) {
                continue;
            }
            let what = format!("{repository}@{digest}");
            let kind = ManifestKind::from_media_type(&manifest.media_type);
            let described = if kind.is_some_and(|k| k.is_index()) {
                let index: Index = serde_json::from_slice(&manifest.bytes)
                    .with_context(|| format!("{what}: unreadable index"))?;
                for child in &index.manifests {
                    let known = entry.manifests.contains_key(child.digest.as_str());
                    if !known {
                        pending.push(
                            registry
                                .get_manifest(repository, child.digest.as_str())
                                .await?,
                        );
                    }
                }
                InventoryManifest {
                    media_type: manifest.media_type.clone(),
                    config: None,
                    layers: Vec::new(),
                    manifests: index
                        .manifests
                        .iter()
                        .map(|c| c.digest.to_string())
                        .collect(),
                }
            } else {
                match serde_json::from_slice::<ImageManifest>(&manifest.bytes) {
                    Ok(image) => InventoryManifest {
                        media_type: manifest.media_type.clone(),
                        config: Some(image.config.digest.to_string()),
                        layers: image
                            .layers
                            .iter()
                            .filter(|l| l.urls.is_empty())
                            .map(|l| l.digest.to_string())
                            .collect(),
                        manifests: Vec::new(),
                    },
                    // Schema1 and unknown kinds: recorded, with no blobs to rely on.
                    Err(_) => InventoryManifest {
                        media_type: manifest.media_type.clone(),
                        ..Default::default()
                    },
                }
            };
            entry.manifests.insert(digest, described);
        }
    }
    Ok(entry)
}
