//! `save validate` and `sync validate`: each listed image is looked up in the archive the way
//! a save would store it (see `copy::validate::validate_saved`).

use super::Status;
use super::bulk::{finish_run, watch_interrupts, workers};
use super::save::{Job, read_jobs};
use crate::archive::reader::ArchiveReader;
use crate::copy::CopyOptions;
use crate::copy::runner;
use crate::copy::validate::{Verdict, validate_saved};
use crate::registry::Registries;
use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

pub async fn run(job: Job<'_>) -> anyhow::Result<Status> {
    let jobs = read_jobs(&job)?;
    let mut reader = ArchiveReader::open(job.archive)?;
    let index = reader
        .index()
        .with_context(|| format!("archive {}", job.archive.display()))?;
    let entries = reader.names().map(str::to_string).collect();
    drop(reader);
    let options = CopyOptions {
        filter: job.platform.filter(),
        provenance: job.run.provenance,
        overwrite: false,
        dry_run: false,
        attachments: false,
    };
    let registries = Registries::new(job.tls.registry_options());
    let cancel = CancellationToken::new();
    watch_interrupts(cancel.clone());
    let results = runner::run(
        jobs.iter().collect(),
        workers(job.run.jobs),
        job.run.time_limit(),
        &cancel,
        |(text, _)| text.clone(),
        |_, (_, source)| {
            let (registries, options, index, entries) = (&registries, &options, &index, &entries);
            async move { validate_saved(registries, options, source, index, entries).await }
        },
    )
    .await;
    let mut failed_lines = Vec::new();
    for ((text, source), result) in jobs.iter().zip(results) {
        match result {
            Ok(Verdict::Pass) => tracing::info!("PASS: [{source}]"),
            Ok(Verdict::NothingToCheck) => tracing::warn!(
                "Skip validate image [{source}]: no available image for specified arch and os"
            ),
            Ok(Verdict::Fail(why)) => {
                tracing::error!("FAILED: [{source}]: {why}");
                failed_lines.push(text.as_str());
            }
            Err(e) => {
                tracing::error!("FAILED: [{source}]: {e}");
                failed_lines.push(text.as_str());
            }
        }
    }
    finish_run(
        job.failed,
        &failed_lines,
        "Validate",
        "validate",
        cancel.is_cancelled(),
    )
}
