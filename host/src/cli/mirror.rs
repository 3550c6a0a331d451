//! `hangar mirror` and `hangar mirror validate`.

use super::args::{AdapterArgs, PlatformArgs, RunArgs, TlsArgs, parse_duration};
use super::bulk::{
    BulkRun, finish_run, note_failure, prepare_destinations, watch_interrupts, workers,
};
use super::{Global, Status};
use crate::copy::CopyOptions;
use crate::copy::attachments::Attached;
use crate::copy::plan::{Overrides, Pair};
use crate::copy::run::{self as copy_run, Tally};
use crate::copy::sink::registry::RegistryTarget;
use crate::copy::source::layout::LayoutSource;
use crate::copy::source::registry::RegistrySource;
use crate::copy::validate::{Named, Verdict, check_all, refused_by, validate};
use crate::image::list::Formats;
use crate::image::reference::{Reference, looks_like_host};
use crate::registry::Registries;
use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
#[command(
    args_conflicts_with_subcommands = false,
    subcommand_precedence_over_arg = true
)]
pub struct MirrorCommand {
    #[command(subcommand)]
    action: Option<MirrorAction>,
    #[command(flatten)]
    args: MirrorArgs,
}

#[derive(Subcommand, Debug)]
enum MirrorAction {
    /// Check that the destination holds every selected platform of each source image
    Validate(MirrorArgs),
}

#[derive(Args, Debug, Clone)]
pub struct MirrorArgs {
    /// Image list (default format, or mirror format: SOURCE DEST TAG; a SOURCE written
    /// oci:DIR reads image TAG of that OCI image layout directory)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Override the registry of every source image
    #[arg(short = 's', long = "source", value_name = "REGISTRY")]
    source: Option<String>,
    /// Destination registry (Docker Hub when empty, as in Hangar)
    #[arg(short = 'd', long = "destination", value_name = "REGISTRY")]
    destination: Option<String>,
    /// Override the project (first path segment) of every source image
    #[arg(long, value_name = "PROJECT")]
    source_project: Option<String>,
    /// Override the project (first path segment) of every destination image
    #[arg(long, value_name = "PROJECT")]
    destination_project: Option<String>,
    /// File that receives the lines that failed
    #[arg(
        short = 'o',
        long = "failed",
        default_value = "mirror-failed.txt",
        value_name = "FILE"
    )]
    failed: PathBuf,
    #[command(flatten)]
    run: RunArgs,
    /// Replace an existing destination index instead of merging platforms into it
    #[arg(long)]
    overwrite: bool,
    /// Show what would be copied; write nothing
    #[arg(long)]
    dry_run: bool,
    /// How often a progress line is printed when stderr is not a terminal
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION", hide = true)]
    progress_interval: Duration,
    /// Accepted for compatibility: hangar never prompts for credentials (use `hangar login`)
    #[arg(long)]
    skip_login: bool,
    #[command(flatten)]
    signatures: super::args::AttachmentArgs,
    #[command(flatten)]
    platform: PlatformArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    adapter: AdapterArgs,
    #[command(flatten)]
    sigstore: super::removed::SigstoreV1Args,
}

pub async fn run(cmd: MirrorCommand, global: &Global) -> anyhow::Result<Status> {
    match cmd.action {
        Some(MirrorAction::Validate(args)) => run_validate(args, global).await,
        None => run_mirror(cmd.args, global).await,
    }
}

/// The list's lines: images in registries, and images of OCI layouts.
struct Jobs {
    registry: Vec<Pair>,
    layout: Vec<LayoutPair>,
}

/// A mirror-format line whose source is an OCI image layout directory: `oci:DIR DEST TAG`
/// (the image of the layout named TAG, copied to DEST:TAG).
struct LayoutPair {
    text: String,
    dir: PathBuf,
    name: String,
    destination: Reference,
}

fn load_jobs(args: &MirrorArgs) -> anyhow::Result<Jobs> {
    let path = args
        .file
        .as_ref()
        .context("file not provided (use -f IMAGE_LIST.txt)")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read image list {}", path.display()))?;
    let (text, layout) = layout_lines(&text, args.destination.as_deref());
    let overrides = Overrides {
        source_registry: args.source.clone(),
        source_project: args.source_project.clone(),
        destination_registry: args.destination.clone(),
        destination_project: args.destination_project.clone(),
    };
    let registry = overrides.pairs(&text, Formats::DefaultAndMirror);
    let registry = args.run.shard_of(registry, |pair| pair.source.name());
    let layout = args
        .run
        .shard_of(layout, |pair| pair.dir.display().to_string());
    if registry.is_empty() && layout.is_empty() {
        tracing::warn!("no images to mirror in {}", path.display());
    }
    Ok(Jobs { registry, layout })
}

/// Takes the `oci:` lines out of `text` (left blank, so the other lines keep their numbers in
/// messages). A malformed one is logged and left out, as any bad list line.
fn layout_lines(text: &str, destination_registry: Option<&str>) -> (String, Vec<LayoutPair>) {
    let mut rest = String::with_capacity(text.len());
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(dir) = fields.first().and_then(|f| f.strip_prefix("oci:")) else {
            rest.push_str(line);
            rest.push('\n');
            continue;
        };
        rest.push('\n');
        let parsed = match fields.as_slice() {
            [_, destination, name] if !dir.is_empty() => Reference::parse(destination)
                .map_err(|e| format!("destination: {e}"))
                .map(|d| {
                    let explicit = destination
                        .split_once('/')
                        .is_some_and(|(first, _)| looks_like_host(first));
                    let d = d.with_tag(Some(name.to_string()));
                    match destination_registry.filter(|r| !r.is_empty() && !explicit) {
                        Some(registry) => d.with_registry(registry),
                        None => d,
                    }
                }),
            _ => Err("an OCI layout source is written oci:DIR DESTINATION TAG".to_string()),
        };
        match parsed {
            Ok(destination) => pairs.push(LayoutPair {
                text: line.trim().to_string(),
                dir: PathBuf::from(dir),
                name: fields[2].to_string(),
                destination,
            }),
            Err(e) => tracing::warn!("Ignore image list line {}: {:?}: {e}", i + 1, line.trim()),
        }
    }
    (rest, pairs)
}

async fn run_mirror(args: MirrorArgs, global: &Global) -> anyhow::Result<Status> {
    if let Some(refused) = args.sigstore.refuse() {
        return Ok(refused);
    }
    let Jobs {
        registry: jobs,
        layout,
    } = load_jobs(&args)?;
    let filter = args.platform.filter();
    tracing::info!("Arch List: [{}]", filter.arch.join(","));
    tracing::info!("OS List: [{}]", filter.os.join(","));
    if !filter.variant.is_empty() {
        tracing::info!("Variant List: [{}]", filter.variant.join(","));
    }
    let options = CopyOptions {
        filter,
        provenance: args.run.provenance,
        overwrite: args.overwrite,
        dry_run: args.dry_run,
        attachments: !args.signatures.remove_signatures,
        policy: global.signature_policy()?,
    };
    let registries = Registries::new(args.tls.registry_options());
    let total = jobs.len() + layout.len();
    let run = BulkRun::start(global, total, args.progress_interval);
    let started = Instant::now();

    // Registry adapters (Harbor...) prepare each destination registry first.
    let adapters = prepare_destinations(
        &args.adapter,
        &args.tls,
        global,
        jobs.iter()
            .map(|j| &j.destination)
            .chain(layout.iter().map(|j| &j.destination)),
        !args.dry_run,
    )
    .await?;
    let attached = Attached::default();
    let target = RegistryTarget::new(&registries, run.events.clone());
    let work = jobs
        .iter()
        .map(|job| copy_run::Job {
            text: job.text.clone(),
            from: job.source.to_string(),
            to: job.destination.to_string(),
            tag: job.destination.push_tag(),
            source: Box::new(RegistrySource::new(
                &registries,
                &attached,
                job.source.clone(),
            )),
            sink: Box::new(target.sink(job.destination.clone())),
        })
        .chain(layout.iter().map(|job| copy_run::Job {
            text: job.text.clone(),
            from: format!("oci:{}:{}", job.dir.display(), job.name),
            to: job.destination.to_string(),
            tag: job.destination.push_tag(),
            source: Box::new(LayoutSource::new(&job.dir, Some(job.name.clone()))),
            sink: Box::new(target.sink(job.destination.clone())),
        }))
        .collect();
    let finished = run
        .copy(&options, work, "copy", &args.run, &note_failure(&adapters))
        .await;
    let tally = Tally::of(&finished, "copy");
    if let Some(adapters) = &adapters {
        adapters.explain_failures().await;
    }
    let past = if args.dry_run { "would copy" } else { "copied" };
    tally.log(total, past, started);
    if args.dry_run {
        // A dry run writes nothing: no failed list is written, and no stale one removed.
        if tally.failed.is_empty() {
            return Ok(Status::Success);
        }
        tracing::error!("Copy would fail for:\n{}", tally.failed.join("\n"));
        return Ok(Status::SomeFailed);
    }
    finish_run(
        &args.failed,
        &tally.failed,
        "Copy",
        "copy",
        run.cancel.is_cancelled(),
    )
}

async fn run_validate(args: MirrorArgs, global: &Global) -> anyhow::Result<Status> {
    args.sigstore.warn_ignored("mirror validate");
    let Jobs {
        registry: jobs,
        layout,
    } = load_jobs(&args)?;
    for job in &layout {
        // What a layout held is checked where it went: validate the destination's copy with
        // `inspect` or `sign validate`; this command compares two registries.
        tracing::warn!(
            "Ignore {:?}: mirror validate compares registries, not OCI layouts",
            job.text
        );
    }
    let policy = global.signature_policy()?;
    let attached = Attached::default();
    let filter = args.platform.filter();
    let registries = Registries::new(args.tls.registry_options());
    let cancel = CancellationToken::new();
    watch_interrupts(cancel.clone());
    let failed = check_all(
        &jobs,
        workers(args.run.jobs),
        args.run.time_limit(),
        &cancel,
        |job: &Pair| Named {
            text: job.text.clone(),
            pass: format!("[{}] == [{}]", job.source, job.destination),
            fail: format!("[{}] != [{}]", job.source, job.destination),
            skip: job.source.to_string(),
        },
        |job| async {
            // What the policy refuses is not a valid copy, whatever the destination holds.
            let source = RegistrySource::new(&registries, &attached, job.source.clone());
            if let Some(why) = refused_by(policy.as_deref(), &source).await? {
                return Ok(Verdict::Fail(why));
            }
            validate(
                &registries,
                &filter,
                args.run.provenance,
                &job.source,
                &job.destination,
            )
            .await
        },
    )
    .await;
    let failed: Vec<&str> = failed.iter().map(String::as_str).collect();
    finish_run(
        &args.failed,
        &failed,
        "Validate",
        "validate",
        cancel.is_cancelled(),
    )
}
