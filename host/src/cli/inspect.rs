//! `hangar inspect IMAGE`: the image's details as JSON (like skopeo/containers `inspect`),
//! or the raw manifest (`--raw`) or config (`--config`) bytes.

use super::Status;
use super::args::{TlsArgs, connect_image};
use crate::image::manifest::{ImageManifest, Index};
use crate::image::media::{self, ManifestKind};
use crate::image::platform::Platform;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::io::Write as _;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InspectArgs {
    #[command(subcommand)]
    action: Option<InspectAction>,
    /// Image reference (docker:// prefix optional)
    image: Option<String>,
    /// Print the raw manifest bytes
    #[arg(long)]
    raw: bool,
    /// Print the raw image config
    #[arg(long)]
    config: bool,
    /// Architecture to pick from a multi-platform image
    #[arg(long, value_name = "ARCH")]
    override_arch: Option<String>,
    /// OS to pick from a multi-platform image
    #[arg(long, value_name = "OS")]
    override_os: Option<String>,
    /// Variant to pick from a multi-platform image
    #[arg(long, value_name = "VARIANT")]
    override_variant: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Subcommand, Debug)]
enum InspectAction {
    /// Inspect every image of a list and write a report (txt, json, yaml, csv)
    List(super::inspect_list::InspectListArgs),
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn run(args: InspectArgs) -> anyhow::Result<Status> {
    if let Some(InspectAction::List(list)) = args.action {
        return super::inspect_list::run(list).await;
    }
    if let Some((transport, _)) = args.image.as_deref().and_then(|t| t.split_once(':'))
        && [
            "docker-daemon",
            "docker-archive",
            "oci",
            "dir",
            "oci-archive",
        ]
        .contains(&transport)
    {
        bail!("transport {transport:?} is not supported; only registry references (docker://) are");
    }
    let (reference, registry) = connect_image(args.image.as_deref(), &args.tls).await?;
    let repo = reference.repository();
    let top = registry
        .get_manifest(repo, &reference.manifest_reference())
        .await?;
    let mut out = std::io::stdout().lock();
    if args.raw && !args.config {
        out.write_all(&top.bytes)?;
        return Ok(Status::Success);
    }
    let kind = ManifestKind::from_media_type(&top.media_type)
        .with_context(|| format!("{reference}: unsupported MIME type {:?}", top.media_type))?;
    if kind == ManifestKind::Schema1 {
        if args.config {
            bail!("{reference}: schema1 manifests have no config; use --raw");
        }
        let mut tags = registry.list_tags(repo).await.unwrap_or_default();
        tags.sort();
        let info = schema1_info(&reference.name(), &top, tags)
            .with_context(|| format!("{reference}: malformed schema1 manifest"))?;
        serde_json::to_writer_pretty(&mut out, &info)?;
        writeln!(out)?;
        return Ok(Status::Success);
    }
    let want = Platform::new(
        args.override_os.as_deref().unwrap_or("linux"),
        args.override_arch.as_deref().unwrap_or(host_arch()),
        args.override_variant.as_deref(),
    );
    let image = if kind.is_index() {
        let index: Index = serde_json::from_slice(&top.bytes)
            .with_context(|| format!("{reference}: malformed index"))?;
        let chosen = index
            .manifests
            .iter()
            .find(|d| {
                d.platform.as_ref().is_some_and(|p| {
                    p.os == want.os
                        && p.architecture == want.architecture
                        && (want.variant.is_none() || p.same_as(&want) || p.variant == want.variant)
                })
            })
            .with_context(|| format!("{reference}: no image for platform {want}"))?;
        registry.get_manifest(repo, chosen.digest.as_str()).await?
    } else {
        top.clone()
    };
    let manifest: ImageManifest = serde_json::from_slice(&image.bytes)
        .with_context(|| format!("{reference}: malformed manifest"))?;
    let config_bytes = registry
        .get_blob_bytes(repo, &manifest.config.digest, 16 << 20)
        .await?;
    if args.config {
        out.write_all(&config_bytes)?;
        return Ok(Status::Success);
    }
    let config: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap_or_default();
    let mut tags = registry.list_tags(repo).await.unwrap_or_default();
    tags.sort();
    let info = serde_json::json!({
        "Name": reference.name(),
        "Digest": top.digest,
        "RepoTags": tags,
        "Created": config.get("created"),
        "DockerVersion": config.get("docker_version").and_then(|v| v.as_str()).unwrap_or(""),
        "Labels": config.pointer("/config/Labels"),
        "Architecture": config.get("architecture").and_then(|v| v.as_str()).unwrap_or(""),
        "Variant": config.get("variant").and_then(|v| v.as_str()).unwrap_or(""),
        "Os": config.get("os").and_then(|v| v.as_str()).unwrap_or(""),
        "Layers": manifest.layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
        "LayersData": manifest.layers.iter().map(|l| serde_json::json!({
            "MIMEType": l.media_type, "Digest": l.digest, "Size": l.size, "Annotations": l.annotations,
        })).collect::<Vec<_>>(),
        "Env": config.pointer("/config/Env"),
        "MediaType": top.media_type,
        "ConfigMediaType": if manifest.config.media_type.is_empty() { media::OCI_CONFIG.to_string() } else { manifest.config.media_type.clone() },
    });
    serde_json::to_writer_pretty(&mut out, &info)?;
    writeln!(out)?;
    Ok(Status::Success)
}

/// What containers/image's inspect (Hangar's) reports of a schema1 image: the image's details
/// from the newest history entry's v1Compatibility, the layers oldest first (empty ones
/// included) with the size and media type schema1 does not record (-1, ""), and the tag the
/// manifest names.
fn schema1_info(
    name: &str,
    top: &crate::registry::Manifest,
    tags: Vec<String>,
) -> anyhow::Result<serde_json::Value> {
    use serde_json::{Value, json};
    let manifest: Value = serde_json::from_slice(&top.bytes)?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let newest: Value = manifest
        .pointer("/history/0/v1Compatibility")
        .and_then(Value::as_str)
        .map(serde_json::from_str)
        .transpose()?
        .context("no history")?;
    let layers: Vec<String> = manifest
        .get("fsLayers")
        .and_then(Value::as_array)
        .context("no fsLayers")?
        .iter()
        .rev()
        .map(|l| text(l, "blobSum"))
        .collect();
    let architecture = match text(&newest, "architecture") {
        a if a.is_empty() => text(&manifest, "architecture"),
        a => a,
    };
    let config = newest.get("config").cloned().unwrap_or(Value::Null);
    Ok(json!({
        "Name": name,
        "Tag": text(&manifest, "tag"),
        "Digest": top.digest,
        "RepoTags": tags,
        "Created": newest.get("created"),
        "DockerVersion": text(&newest, "docker_version"),
        "Labels": config.get("Labels"),
        "Architecture": architecture,
        "Variant": text(&newest, "variant"),
        "Os": text(&newest, "os"),
        "Layers": layers,
        "LayersData": layers.iter().map(|digest| json!({
            "MIMEType": "", "Digest": digest, "Size": -1, "Annotations": null,
        })).collect::<Vec<_>>(),
        "Env": config.get("Env"),
        "Author": text(&newest, "author"),
        "MediaType": top.media_type,
    }))
}
