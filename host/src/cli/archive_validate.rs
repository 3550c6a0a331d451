//! `save validate` and `sync validate`: each listed image is looked up in the archive the way
//! a save would store it (see `copy::validate::validate_saved`).

use super::Status;
use super::bulk::{finish_run, watch_interrupts, workers};
use super::save::{Job, read_jobs};
use crate::archive::reader::ArchiveReader;
use crate::copy::CopyOptions;
use crate::copy::validate::{Named, check_all, validate_saved};
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
        filter: job.list.platform.filter(),
        provenance: job.list.run.provenance,
        overwrite: false,
        dry_run: false,
        attachments: false,
        policy: None,
    };
    let registries = Registries::new(job.list.tls.registry_options());
    let cancel = CancellationToken::new();
    watch_interrupts(cancel.clone());
    let failed = check_all(
        &jobs,
        workers(job.list.run.jobs),
        job.list.run.time_limit(),
        &cancel,
        |(text, source)| Named {
            text: text.clone(),
            pass: format!("[{source}]"),
            fail: format!("[{source}]"),
            skip: source.to_string(),
        },
        |(_, source)| validate_saved(&registries, &options, source, &index, &entries),
    )
    .await;
    let failed: Vec<&str> = failed.iter().map(String::as_str).collect();
    finish_run(
        job.failed,
        &failed,
        "Validate",
        "validate",
        cancel.is_cancelled(),
    )
}
