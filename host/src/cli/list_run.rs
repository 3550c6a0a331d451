//! What `sign`, `sign validate` and `scan` share: the flags that name a list and how its
//! images are reached, and a run over the listed images with the list's workers, time limit
//! and Ctrl-C handling.

use super::args::{PlatformArgs, RunArgs, TlsArgs};
use super::bulk::{watch_interrupts, workers};
use crate::copy::runner::{self, JobError};
use crate::image::platform::PlatformFilter;
use crate::registry::Registries;
use clap::Args;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// What sign, sign validate and scan share: the list and how its images are found.
#[derive(Args, Debug)]
pub(super) struct ListArgs {
    /// Image list (default format)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub(super) file: Option<PathBuf>,
    /// Override the registry of every image
    #[arg(long = "registry", value_name = "REGISTRY")]
    pub(super) registry: Option<String>,
    /// Override the project (first path segment) of every image
    #[arg(long = "project", value_name = "PROJECT")]
    pub(super) project: Option<String>,
    /// File that receives the lines that failed [default: sign-failed.txt, scan-failed.txt]
    #[arg(short = 'o', long = "failed", value_name = "FILE")]
    pub(super) failed: Option<PathBuf>,
    #[command(flatten)]
    pub(super) run: RunArgs,
    #[command(flatten)]
    pub(super) platform: PlatformArgs,
    #[command(flatten)]
    pub(super) tls: TlsArgs,
    /// Accepted for compatibility; credentials come from the auth files
    #[arg(long, hide = true)]
    pub(super) skip_login: bool,
    /// Do not ask questions
    #[arg(short = 'y', long = "auto-yes")]
    pub(super) yes: bool,
}

impl ListArgs {
    /// The failed list's path: `-o`, else `default` (each command has its own name).
    pub(super) fn failed_or(&self, default: &str) -> PathBuf {
        self.failed
            .clone()
            .unwrap_or_else(|| PathBuf::from(default))
    }
}

/// One listed image, resolved.
pub(super) use crate::lists::Listed as Job;

fn jobs(args: &ListArgs) -> anyhow::Result<Vec<Job>> {
    list_jobs(
        args.file.as_deref(),
        args.registry.as_deref(),
        args.project.as_deref(),
    )
}

/// The images of a default-format list, with `--registry`/`--project` applied.
pub(super) fn list_jobs(
    file: Option<&Path>,
    registry: Option<&str>,
    project: Option<&str>,
) -> anyhow::Result<Vec<Job>> {
    Ok(crate::lists::read_default(file, registry, project)?)
}

/// A run over the listed images: the jobs, the platform filter (logged as Hangar does), the
/// registries and Ctrl-C handling, shared by sign, sign validate and scan.
pub(super) struct ListRun {
    pub(super) jobs: Vec<Job>,
    pub(super) filter: PlatformFilter,
    pub(super) registries: Registries,
    pub(super) cancel: CancellationToken,
}

impl ListRun {
    pub(super) fn start(list: &ListArgs) -> anyhow::Result<ListRun> {
        let jobs = list.run.shard_of(jobs(list)?, |job| job.reference.name());
        let filter = list.platform.filter();
        tracing::info!("Arch List: [{}]", filter.arch.join(","));
        tracing::info!("OS List: [{}]", filter.os.join(","));
        let cancel = CancellationToken::new();
        watch_interrupts(cancel.clone());
        Ok(ListRun {
            jobs,
            filter,
            registries: Registries::new(list.tls.registry_options()),
            cancel,
        })
    }

    /// Runs `job` for every listed image with the list's workers and time limit; results in
    /// list order.
    pub(super) async fn each<'a, O, E, F, Fut>(
        &'a self,
        list: &ListArgs,
        job: F,
    ) -> Vec<Result<O, JobError>>
    where
        F: Fn(usize, &'a Job) -> Fut,
        Fut: std::future::Future<Output = Result<O, E>>,
        E: std::fmt::Display,
    {
        runner::run(
            self.jobs.iter().collect(),
            workers(list.run.jobs),
            list.run.time_limit(),
            &self.cancel,
            |job| job.text.clone(),
            job,
        )
        .await
    }
}

/// Logs each failed job and returns the list lines that failed.
pub(super) fn report_failures<'a, T>(
    jobs: &'a [Job],
    results: &[Result<T, JobError>],
    verb: &str,
) -> Vec<&'a str> {
    let mut failed = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        if let Err(e) = result {
            tracing::error!("failed to {verb} [{}]: {e}", job.reference);
            failed.push(job.text.as_str());
        }
    }
    failed
}
