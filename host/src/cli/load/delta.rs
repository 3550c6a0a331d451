//! Loading a delta archive: before anything is pushed, every layer the selected images need
//! and the archive does not hold must already be in the destination registry, in the image's
//! own repository or in the one its base put it in (then the copy mounts it from there). If
//! any is missing the load is refused whole, one line per image naming the blobs and the base
//! that provides them: nothing is half-loaded.

use super::Job;
use crate::archive::blobs::ArchiveBlobs;
use crate::archive::delta::{BaseKind, Delta, Relied};
use crate::archive::index::{ArchiveIndex, Image};
use crate::copy::source::archive::destination_of;
use crate::image::digest::Digest;
use crate::image::platform::PlatformFilter;
use crate::outfile::human_size;
use crate::registry::Registries;
use futures_util::StreamExt as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Blob checks run at once.
const CHECKS_AT_ONCE: usize = 8;

/// Where to look for one relied-on blob of one image, in order.
struct Need<'a> {
    digest: Digest,
    relied: Option<&'a Relied>,
    repositories: Vec<String>,
}

/// What the check found.
#[derive(Default)]
pub struct Checked {
    /// One line per image that cannot be loaded; the load may go ahead when empty.
    pub refusals: Vec<String>,
    /// Blobs found outside the repository of an image that needs them: (registry, digest,
    /// repository), for the copy's ledger, so it mounts them from there.
    pub elsewhere: Vec<(String, Digest, String)>,
}

/// Checks a delta's relied-on blobs at the destination.
pub async fn check(
    index: &ArchiveIndex,
    blobs: &ArchiveBlobs,
    jobs: &[Job],
    filter: &PlatformFilter,
    registries: &Registries,
    registry_name: &str,
    project: Option<&str>,
) -> anyhow::Result<Checked> {
    let Some(delta) = &index.delta else {
        return Ok(Checked::default());
    };
    let relied: HashMap<&str, &Relied> = delta
        .relies
        .iter()
        .map(|r| (r.digest.as_str(), r))
        .collect();
    // Per image, the blobs it needs that the archive lacks.
    let mut needs: Vec<Vec<Need>> = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut seen = BTreeSet::new();
        let mut image_needs = Vec::new();
        for spec in &job.image.images {
            let platform = spec.platform();
            let attached = matches!(spec.arch.as_str(), "" | "unknown");
            if !attached && !filter.allows(&platform) {
                continue;
            }
            for layer in &spec.layers {
                let name = format!("share/sha256/{}", layer.trim_start_matches("sha256:"));
                if blobs.size(&name).is_some() || !seen.insert(layer.clone()) {
                    continue;
                }
                let Ok(digest) = layer.parse::<Digest>() else {
                    continue;
                };
                let relied = relied.get(layer.as_str()).copied();
                let mut repositories = vec![job.destination.repository().to_string()];
                if let Some(r) = relied
                    && let Some(repository) = base_repository(delta, r, registry_name, project)
                    && !repositories.contains(&repository)
                {
                    repositories.push(repository);
                }
                image_needs.push(Need {
                    digest,
                    relied,
                    repositories,
                });
            }
        }
        needs.push(image_needs);
    }
    let total: usize = needs.iter().map(Vec::len).sum();
    if total == 0 {
        return Ok(Checked::default());
    }
    tracing::info!(
        "Delta archive: checking that {registry_name} has the {} blobs it relies on",
        delta.relies.len()
    );
    let registry = registries.get(registry_name).await?;
    // Each (repository, blob) is asked once, however many images need it.
    let questions: BTreeSet<(String, Digest)> = needs
        .iter()
        .flatten()
        .flat_map(|n| n.repositories.iter().map(|r| (r.clone(), n.digest.clone())))
        .collect();
    let answers: HashMap<(String, Digest), bool> = futures_util::stream::iter(questions)
        .map(|(repository, digest)| {
            let registry = registry.clone();
            async move {
                let found = registry.blob_size(&repository, &digest).await;
                ((repository, digest), found)
            }
        })
        .buffer_unordered(CHECKS_AT_ONCE)
        .map(|(key, found)| match found {
            Ok(size) => Ok((key, size.is_some())),
            Err(e) => Err(anyhow::anyhow!(
                "cannot check {}/{}@{}: {e}",
                registry_name,
                key.0,
                key.1
            )),
        })
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut checked = Checked::default();
    for (job, image_needs) in jobs.iter().zip(&needs) {
        let mut missing: BTreeMap<String, Vec<&Need>> = BTreeMap::new();
        for need in image_needs {
            let found = need
                .repositories
                .iter()
                .find(|r| answers[&((*r).clone(), need.digest.clone())]);
            match found {
                Some(repository) => {
                    if *repository != job.destination.repository() {
                        checked.elsewhere.push((
                            registry.name().to_string(),
                            need.digest.clone(),
                            repository.clone(),
                        ));
                    }
                }
                None => {
                    let provider = need
                        .relied
                        .and_then(|r| delta.bases.get(r.base))
                        .map(|b| b.describe())
                        .unwrap_or_else(|| "no base: the archive is damaged".to_string());
                    missing.entry(provider).or_default().push(need);
                }
            }
        }
        if missing.is_empty() {
            continue;
        }
        let parts: Vec<String> = missing
            .iter()
            .map(|(provider, needs)| {
                let bytes: u64 = needs.iter().filter_map(|n| n.relied).map(|r| r.size).sum();
                let digests: Vec<&str> = needs.iter().map(|n| short(n.digest.as_str())).collect();
                format!(
                    "{} blobs ({}: {}) that {provider} provides",
                    needs.len(),
                    human_size(bytes),
                    digests.join(", ")
                )
            })
            .collect();
        checked.refusals.push(format!(
            "{}:{} → {}: the destination lacks {}",
            job.image.source,
            job.image.tag,
            job.destination,
            parts.join("; ")
        ));
    }
    Ok(checked)
}

/// The destination repository where a base put a blob: an archive base's image is mapped as
/// this load maps images; an inventory names the repository itself.
fn base_repository(
    delta: &Delta,
    relied: &Relied,
    registry: &str,
    project: Option<&str>,
) -> Option<String> {
    match delta.bases.get(relied.base)?.kind {
        BaseKind::Inventory => Some(relied.repository.clone()),
        BaseKind::Archive => {
            let image = Image {
                source: relied.repository.clone(),
                tag: "base".into(),
                ..Default::default()
            };
            destination_of(&image, registry, project)
                .ok()
                .map(|r| r.repository().to_string())
        }
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}
