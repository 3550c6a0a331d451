//! `mirror validate`: does the destination hold what a mirror of the source would produce?
//! Every source platform that passes the filter (attestations included with provenance)
//! must be in the destination index, or the destination must be the very same manifest.

use super::index;
use crate::attachments::{Attached, referrers_subject};
use crate::outcome::{CopyError, CopyOptions, kind_of};
use crate::source::Source as _;
use crate::walk::{config_platform, fill_platform};
use hangar_image::digest::Digest;
use hangar_image::manifest::{ConfigPlatform, ImageManifest, Index};
use hangar_image::media::{self, ManifestKind};
use hangar_image::platform::Platform;
use hangar_image::platform::PlatformFilter;
use hangar_image::reference::Reference;
use hangar_registry::{Registries, RegistryError};

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Nothing passed the filter, so nothing was expected (a warning, as when copying).
    NothingToCheck,
    Fail(String),
}

pub async fn validate(
    registries: &Registries,
    filter: &PlatformFilter,
    provenance: bool,
    source: &Reference,
    destination: &Reference,
) -> Result<Verdict, CopyError> {
    let src = registries.get(source.registry()).await?;
    let top = src
        .get_manifest(source.repository(), &source.manifest_reference())
        .await?;
    let kind = ManifestKind::from_media_type(&top.media_type)
        .ok_or_else(|| CopyError::UnsupportedMediaType(top.media_type.clone()))?;
    let dst = registries.get(destination.registry()).await?;
    let dst_ref = destination
        .push_tag()
        .unwrap_or_else(|| top.digest.to_string());
    let found = match dst.get_manifest(destination.repository(), &dst_ref).await {
        Ok(m) => m,
        Err(RegistryError::NotFound { .. }) => {
            return Ok(Verdict::Fail("destination image does not exist".into()));
        }
        Err(e) => return Err(e.into()),
    };
    if found.digest == top.digest {
        return Ok(Verdict::Pass);
    }
    match kind {
        // Converted on copy, so only existence can be checked (as Hangar does).
        ManifestKind::Schema1 => Ok(Verdict::Pass),
        ManifestKind::OciManifest | ManifestKind::DockerV2S2 => Ok(Verdict::Fail(format!(
            "destination is {}, source is {}",
            found.digest, top.digest
        ))),
        ManifestKind::OciIndex | ManifestKind::DockerList => {
            let what = source.to_string();
            let parsed: Index =
                serde_json::from_slice(&top.bytes).map_err(|e| CopyError::Malformed {
                    what: what.clone(),
                    message: e.to_string(),
                })?;
            let mut entries = parsed.manifests.clone();
            for entry in entries.iter_mut().filter(|e| !e.is_attestation()) {
                if let Some(p) = entry.platform.as_mut().filter(|p| p.needs_config_details()) {
                    let child = src
                        .get_manifest(source.repository(), entry.digest.as_str())
                        .await?;
                    if let Ok(m) = serde_json::from_slice::<ImageManifest>(&child.bytes)
                        && (m.config.media_type == media::DOCKER_CONFIG
                            || m.config.media_type == media::OCI_CONFIG)
                    {
                        let bytes = src
                            .get_blob_bytes(source.repository(), &m.config.digest, 16 << 20)
                            .await?;
                        if let Ok(c) = serde_json::from_slice::<ConfigPlatform>(&bytes) {
                            c.fill(p);
                        }
                    }
                }
            }
            let selection = index::select(&entries, filter, provenance);
            if selection.kept.is_empty() {
                return Ok(Verdict::NothingToCheck);
            }
            let have: Vec<_> = match ManifestKind::from_media_type(&found.media_type) {
                Some(k) if k.is_index() => serde_json::from_slice::<Index>(&found.bytes)
                    .map(|i| i.manifests.into_iter().map(|d| d.digest).collect())
                    .unwrap_or_default(),
                _ => vec![found.digest.clone()],
            };
            let missing: Vec<String> = selection
                .kept
                .iter()
                .filter(|d| !have.contains(&d.digest))
                .map(|d| match &d.platform {
                    Some(p) if !d.is_attestation() => format!("{p} ({})", d.digest),
                    _ => format!("attestation {}", d.digest),
                })
                .collect();
            if missing.is_empty() {
                Ok(Verdict::Pass)
            } else {
                Ok(Verdict::Fail(format!("missing {}", missing.join(", "))))
            }
        }
    }
}

/// `save validate` / `sync validate`: does the archive hold what a save of `source` would
/// store? Every selected platform manifest must be listed under the image's source and tag in
/// the archive index, and its manifest, config and layer blobs must be archive entries.
pub async fn validate_saved(
    registries: &Registries,
    options: &CopyOptions,
    source: &Reference,
    index: &hangar_archive::index::ArchiveIndex,
    entries: &std::collections::HashSet<String>,
) -> Result<Verdict, CopyError> {
    let attached = Attached::default();
    let src = crate::source::registry::RegistrySource::new(registries, &attached, source.clone());
    let top = src.top().await?.manifest;
    let chosen = match selected(&src, &top, options).await? {
        Selected::Platforms(chosen) => Some(chosen),
        // Converted on save, so only the reference can be checked (as Hangar does).
        Selected::Converted => None,
        Selected::Nothing => return Ok(Verdict::NothingToCheck),
    };
    let tag = source
        .tag()
        .map(str::to_string)
        .unwrap_or_else(|| top.digest.to_string());
    let Some(image) = index
        .list
        .iter()
        .find(|i| i.source == source.name() && i.tag == tag)
    else {
        return Ok(Verdict::Fail("not listed in the archive index".into()));
    };
    let Some(chosen) = chosen else {
        return Ok(Verdict::Pass);
    };
    let blob = |digest: &str| format!("share/sha256/{}", digest.trim_start_matches("sha256:"));
    // A delta holds what it relies on by reference: its bases have those blobs.
    let relied: std::collections::HashSet<String> = index
        .delta
        .iter()
        .flat_map(|d| &d.relies)
        .map(|r| blob(&r.digest))
        .collect();
    let mut missing = Vec::new();
    for (digest, platform) in &chosen {
        let Some(spec) = image.images.iter().find(|s| s.digest == digest.as_str()) else {
            missing.push(format!("{platform} ({digest})"));
            continue;
        };
        let needed = std::iter::once(&spec.digest)
            .chain(std::iter::once(&spec.config).filter(|c| !c.is_empty()))
            .chain(&spec.layers)
            .map(|d| blob(d))
            .chain(std::iter::once(format!("{}/index.json", digest.hex())));
        missing.extend(
            needed
                .filter(|name| !entries.contains(name) && !relied.contains(name))
                .map(|n| format!("entry {n}")),
        );
    }
    if missing.is_empty() {
        Ok(Verdict::Pass)
    } else {
        Ok(Verdict::Fail(format!("missing {}", missing.join(", "))))
    }
}

/// `load validate`: every archive platform of `image` that passes the filter must be at the
/// destination (the tag itself, or an entry of the index at the tag). Hangar's wording.
pub async fn validate_loaded(
    registries: &Registries,
    attached: &Attached,
    options: &CopyOptions,
    image: &hangar_archive::index::Image,
    destination: &Reference,
) -> Result<Verdict, CopyError> {
    let dst = registries.get(destination.registry()).await?;
    let artifact = image.arch_list.is_empty() && image.os_list.is_empty();
    if artifact
        && let Some(subject) = destination
            .push_tag()
            .as_deref()
            .and_then(referrers_subject)
    {
        // Saved referrers: load made them findable through the referrers API or the tag
        // schema, whichever the destination has; ask the same way.
        let listed: Vec<String> = attached
            .referrers_of(&dst, destination.repository(), &subject)
            .await?
            .into_iter()
            .map(|d| d.digest.to_string())
            .collect();
        let missing: Vec<String> = image
            .images
            .iter()
            .filter(|spec| !listed.contains(&spec.digest))
            .map(|spec| {
                format!(
                    "Referrer [{}] of [{}@{subject}] is not listed in destination registry",
                    spec.digest,
                    destination.name()
                )
            })
            .collect();
        return Ok(match (image.images.len(), missing.is_empty()) {
            (0, _) => Verdict::NothingToCheck,
            (_, true) => Verdict::Pass,
            (_, false) => Verdict::Fail(missing.join("; ")),
        });
    }
    let reference = destination.manifest_reference();
    let found = match dst.get_manifest(destination.repository(), &reference).await {
        Ok(m) => m,
        Err(RegistryError::NotFound { .. }) => {
            return Ok(Verdict::Fail("destination image does not exist".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let have: Vec<String> = match ManifestKind::from_media_type(&found.media_type) {
        Some(k) if k.is_index() => serde_json::from_slice::<Index>(&found.bytes)
            .map(|i| {
                i.manifests
                    .into_iter()
                    .map(|d| d.digest.to_string())
                    .collect()
            })
            .unwrap_or_default(),
        _ => vec![found.digest.to_string()],
    };
    let mut checked = 0;
    let mut missing = Vec::new();
    for spec in &image.images {
        let platform = spec.platform();
        let attestation = spec.arch == "unknown" || spec.os == "unknown";
        let wanted = artifact
            || (attestation && options.provenance)
            || (!attestation && options.filter.allows(&platform));
        if !wanted {
            continue;
        }
        checked += 1;
        if !have.contains(&spec.digest) {
            missing.push(format!(
                "Image [{destination}] digest [{}] does not exists in destination registry",
                spec.digest
            ));
        }
    }
    match (checked, missing.is_empty()) {
        (0, _) => Ok(Verdict::NothingToCheck),
        (_, true) => Ok(Verdict::Pass),
        (_, false) => Ok(Verdict::Fail(missing.join("; "))),
    }
}

enum Selected {
    Platforms(Vec<(Digest, Platform)>),
    /// A schema1 image: converted on save, so its digest is only known afterwards.
    Converted,
    Nothing,
}

/// The platform manifests a save of `top` keeps under the filter: the same rules as the copy.
async fn selected(
    source: &dyn crate::source::Source,
    top: &hangar_registry::Manifest,
    options: &CopyOptions,
) -> Result<Selected, CopyError> {
    match kind_of(top)? {
        ManifestKind::OciIndex | ManifestKind::DockerList => {
            let parsed: Index = serde_json::from_slice(&top.bytes)
                .map_err(|e| crate::outcome::malformed(source.name(), e))?;
            let mut entries = parsed.manifests;
            for entry in entries.iter_mut() {
                fill_platform(source, &options.filter, entry).await?;
            }
            let selection = index::select(&entries, &options.filter, options.provenance);
            if selection.kept.is_empty() {
                return Ok(Selected::Nothing);
            }
            Ok(Selected::Platforms(
                selection
                    .kept
                    .into_iter()
                    .map(|e| (e.digest, e.platform.unwrap_or_default()))
                    .collect(),
            ))
        }
        ManifestKind::OciManifest | ManifestKind::DockerV2S2 => {
            let platform = config_platform(source, top)
                .await?
                .map(|c| c.platform())
                .unwrap_or_default();
            if !options.filter.allows(&platform) {
                return Ok(Selected::Nothing);
            }
            Ok(Selected::Platforms(vec![(top.digest.clone(), platform)]))
        }
        ManifestKind::Schema1 => {
            let platform = hangar_image::schema1::Schema1::parse(&top.bytes)?.platform();
            if !options.filter.allows(&platform) {
                return Ok(Selected::Nothing);
            }
            Ok(Selected::Converted)
        }
    }
}

/// How a validate run's lines name one list item.
pub struct Named {
    /// The line as written (what the failed list gets back).
    pub text: String,
    /// `PASS: …`, `FAILED: …: why` and `Skip validate image […]` read these.
    pub pass: String,
    pub fail: String,
    pub skip: String,
}

/// Checks every item on `workers` with a per-item timeout, logs a line per item as Hangar
/// does, and returns the failed items' lines in list order.
pub async fn check_all<'t, T, F, Fut>(
    items: &'t [T],
    workers: usize,
    timeout: Option<std::time::Duration>,
    cancel: &tokio_util::sync::CancellationToken,
    name: impl Fn(&T) -> Named,
    check: F,
) -> Vec<String>
where
    F: Fn(&'t T) -> Fut,
    Fut: std::future::Future<Output = Result<Verdict, CopyError>>,
{
    let results = crate::runner::run(
        items.iter().collect(),
        workers,
        timeout,
        cancel,
        |item| name(item).text,
        |_, item| check(item),
    )
    .await;
    let mut failed = Vec::new();
    for (item, result) in items.iter().zip(results) {
        let named = name(item);
        match result {
            Ok(Verdict::Pass) => tracing::info!("PASS: {}", named.pass),
            Ok(Verdict::NothingToCheck) => tracing::warn!(
                "Skip validate image [{}]: no available image for specified arch and os",
                named.skip
            ),
            Ok(Verdict::Fail(why)) => {
                tracing::error!("FAILED: {}: {why}", named.fail);
                failed.push(named.text);
            }
            Err(e) => {
                tracing::error!("FAILED: {}: {e}", named.fail);
                failed.push(named.text);
            }
        }
    }
    failed
}

/// The signature policy's verdict on the image `source` reads, for the validate commands:
/// `Some(why)` when the policy refuses it (what a copy would have refused).
pub async fn refused_by(
    policy: Option<&hangar_sign::policy::Policy>,
    source: &dyn crate::source::Source,
) -> Result<Option<String>, CopyError> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    let top = source.top().await?;
    match crate::walk::admit(policy, source, &top).await {
        Ok(()) => Ok(None),
        Err(CopyError::Refused(why)) => Ok(Some(why)),
        Err(e) => Err(e),
    }
}
