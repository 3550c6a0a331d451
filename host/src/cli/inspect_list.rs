//! `hangar inspect list -f LIST`: what each listed image is (its platforms, their digests and
//! media types) in one report: Hangar's txt table, its archive-index structure as JSON or
//! YAML (without layers), or CSV with a row per platform manifest. Images that cannot be read
//! go to the failed list and make the run exit 1; the report holds the rest.

use super::args::{TlsArgs, parse_duration};
use super::bulk::{finish_run, watch_interrupts, workers};
use super::list_run::{Job, list_jobs};
use super::{Status, may_overwrite};
use crate::archive::index::{ArchiveIndex, INDEX_VERSION, Image, ImageSpec, rfc3339_now};
use crate::copy::runner;
use crate::image::manifest::{ImageManifest, Index};
use crate::image::media::ManifestKind;
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::outfile::csv_field;
use crate::registry::Registries;
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
pub struct InspectListArgs {
    /// Image list (default format)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Report file [default: inspect-report.<FORMAT>]
    #[arg(short = 'r', long = "report", value_name = "FILE")]
    report: Option<PathBuf>,
    /// Report format: txt, json, yaml or csv (anything else is txt, as Hangar)
    #[arg(long, default_value = "txt", value_name = "FORMAT")]
    format: String,
    /// Override the registry of every image
    #[arg(long = "registry", value_name = "REGISTRY")]
    registry: Option<String>,
    /// Override the project (first path segment) of every image
    #[arg(long = "project", value_name = "PROJECT")]
    project: Option<String>,
    /// File that receives the lines that failed
    #[arg(
        short = 'o',
        long = "failed",
        default_value = "inspect-failed.txt",
        value_name = "FILE"
    )]
    failed: PathBuf,
    /// Images inspected at once
    #[arg(short = 'j', long = "jobs", default_value_t = 1, value_name = "N")]
    jobs: usize,
    /// Time limit for each image
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    timeout: Duration,
    #[command(flatten)]
    tls: TlsArgs,
    /// Overwrite the report without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Txt,
    Json,
    Yaml,
    Csv,
}

impl Format {
    fn parse(text: &str) -> Format {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "yaml" | "yml" => Format::Yaml,
            "csv" => Format::Csv,
            "txt" | "" => Format::Txt,
            other => {
                tracing::warn!("Unknown report format {other:?}, writing txt");
                Format::Txt
            }
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Csv => "csv",
        }
    }
}

/// One listed image as inspected: how it was listed and what it is.
struct Inspected {
    shown: String,
    image: Image,
}

pub async fn run(args: InspectListArgs) -> anyhow::Result<Status> {
    let format = Format::parse(&args.format);
    let report = args
        .report
        .clone()
        .unwrap_or_else(|| format!("inspect-report.{}", format.extension()).into());
    let jobs = list_jobs(
        args.file.as_deref(),
        args.registry.as_deref(),
        args.project.as_deref(),
    )?;
    may_overwrite(&report, args.yes)?;
    let registries = Registries::new(args.tls.registry_options());
    let cancel = CancellationToken::new();
    watch_interrupts(cancel.clone());
    let limit = (!args.timeout.is_zero()).then_some(args.timeout);
    let results = runner::run(
        jobs.iter().collect(),
        workers(args.jobs),
        limit,
        &cancel,
        |job| job.text.clone(),
        |_, job: &Job| inspect(&registries, &job.reference),
    )
    .await;
    let mut inspected = Vec::new();
    let mut failed = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Ok(image) => {
                let platforms: Vec<String> = image.images.iter().map(platform_text).collect();
                tracing::info!("Image [{}]: {:?}", job.reference, platforms.join(","));
                inspected.push(Inspected {
                    shown: job.reference.to_string(),
                    image,
                });
            }
            Err(e) => {
                tracing::error!("failed to inspect [{}]: {e}", job.reference);
                failed.push(job.text.as_str());
            }
        }
    }
    let body = render(format, &inspected)?;
    crate::outfile::write(&report, body.as_ref())
        .with_context(|| format!("cannot write {}", report.display()))?;
    tracing::info!("Report exported to {:?}", report.display().to_string());
    finish_run(
        &args.failed,
        &failed,
        "Inspect",
        "inspect",
        cancel.is_cancelled(),
    )
}

/// The image's platforms: an index's entries as listed (attestations left out), or a single
/// manifest's platform from its config.
async fn inspect(registries: &Registries, reference: &Reference) -> anyhow::Result<Image> {
    let registry = registries.get(reference.registry()).await?;
    let repo = reference.repository();
    let top = registry
        .get_manifest(repo, &reference.manifest_reference())
        .await?;
    let kind = ManifestKind::from_media_type(&top.media_type)
        .with_context(|| format!("unsupported MIME type {:?}", top.media_type))?;
    let mut images = Vec::new();
    if kind.is_index() {
        let index: Index = serde_json::from_slice(&top.bytes).context("malformed index")?;
        for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
            let platform = entry.platform.clone().unwrap_or_default();
            images.push(spec(
                &platform,
                &entry.media_type,
                &entry.digest.to_string(),
                "",
            ));
        }
    } else if kind == ManifestKind::Schema1 {
        let manifest: serde_json::Value =
            serde_json::from_slice(&top.bytes).context("malformed manifest")?;
        let arch = manifest["architecture"].as_str().unwrap_or_default();
        let platform = Platform::new("linux", arch, None);
        images.push(spec(
            &platform,
            &top.media_type,
            &top.digest.to_string(),
            "",
        ));
    } else {
        let manifest: ImageManifest =
            serde_json::from_slice(&top.bytes).context("malformed manifest")?;
        let config = registry
            .get_blob_bytes(repo, &manifest.config.digest, 16 << 20)
            .await?;
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
        let text = |key: &str| config[key].as_str().map(str::to_string);
        let platform = Platform {
            os: text("os").unwrap_or_default(),
            architecture: text("architecture").unwrap_or_default(),
            variant: text("variant"),
            os_version: text("os.version"),
            os_features: config["os.features"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        images.push(spec(
            &platform,
            &top.media_type,
            &top.digest.to_string(),
            &manifest.config.digest.to_string(),
        ));
    }
    let mut image = Image {
        source: reference.name(),
        tag: reference
            .tag()
            .map(str::to_string)
            .unwrap_or_else(|| reference.manifest_reference()),
        images,
        ..Image::default()
    };
    for spec in &image.images {
        for (list, value) in [
            (&mut image.arch_list, &spec.arch),
            (&mut image.os_list, &spec.os),
        ] {
            if !value.is_empty() && !list.contains(value) {
                list.push(value.clone());
            }
        }
    }
    Ok(image)
}

fn spec(platform: &Platform, media_type: &str, digest: &str, config: &str) -> ImageSpec {
    ImageSpec {
        arch: platform.architecture.clone(),
        os: platform.os.clone(),
        os_version: platform.os_version.clone().unwrap_or_default(),
        os_features: platform.os_features.clone(),
        variant: platform.variant.clone().unwrap_or_default(),
        media_type: media_type.to_string(),
        config: config.to_string(),
        digest: digest.to_string(),
        ..ImageSpec::default()
    }
}

fn platform_text(spec: &ImageSpec) -> String {
    spec.platform().to_string()
}

fn render(format: Format, inspected: &[Inspected]) -> anyhow::Result<Vec<u8>> {
    let index = || ArchiveIndex {
        list: inspected.iter().map(|i| i.image.clone()).collect(),
        version: INDEX_VERSION.to_string(),
        time: rfc3339_now(),
        updated: String::new(),
    };
    Ok(match format {
        Format::Txt => {
            let mut out = String::new();
            for (n, item) in inspected.iter().enumerate() {
                let platforms: Vec<String> = item.image.images.iter().map(platform_text).collect();
                out.push_str(&format!(
                    "{:4} | {} | {}\n",
                    n + 1,
                    item.shown,
                    platforms.join(",")
                ));
            }
            out.into_bytes()
        }
        Format::Json => {
            let mut bytes = serde_json::to_vec_pretty(&index())?;
            bytes.push(b'\n');
            bytes
        }
        Format::Yaml => serde_yaml::to_string(&index())?.into_bytes(),
        Format::Csv => {
            let mut out = String::from("image,digest,platform,osVersion,osFeature,mediaType\n");
            for item in inspected {
                for spec in &item.image.images {
                    let fields = [
                        item.shown.clone(),
                        spec.digest.clone(),
                        platform_text(spec),
                        spec.os_version.clone(),
                        spec.os_features.join(","),
                        spec.media_type.clone(),
                    ];
                    let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                    out.push_str(&row.join(","));
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
    })
}
