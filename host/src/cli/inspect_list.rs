//! `hangar inspect list -f LIST`: what each listed image is (its platforms, their digests and
//! media types) in one report: Hangar's txt table, its archive-index structure as JSON or
//! YAML (without layers), or CSV with a row per platform manifest. Images that cannot be read
//! go to the failed list and make the run exit 1; the report holds the rest.

use super::args::select_shard;
use super::args::{TlsArgs, parse_duration};
use super::bulk::{finish_run, watch_interrupts, workers};
use super::list_run::{Job, list_jobs};
use super::{Status, may_overwrite};
use crate::copy::runner;
use crate::inspect::{Format, Inspected, inspect, platform_text, render};
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
    /// Handle only part I of N of the list (I from 0, as $(JOB_COMPLETION_INDEX))
    #[arg(long, value_name = "I/N")]
    shard: Option<crate::copy::shard::Shard>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Overwrite the report without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
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
    let jobs = select_shard(args.shard, jobs, |job| job.reference.name());
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
