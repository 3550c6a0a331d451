//! `hangar save` (registry → new archive) and `hangar sync` (registry → existing archive): the
//! same job written into a fresh or an appended archive. An interrupted archive (its journal
//! is beside it) is recovered first and the run resumes: finished blobs are kept and skipped.

use super::args::{PlatformArgs, RunArgs, TlsArgs};
use super::bulk::{BulkRun, finish_run, workers};
use super::{Global, Status};
use crate::archive::index::{ArchiveIndex, rfc3339_now};
use crate::archive::journal;
use crate::archive::reader::{ArchiveReader, INDEX_NAME};
use crate::archive::writer::ArchiveWriter;
use crate::copy::attachments::Attached;
use crate::copy::run::{self as copy_run, Tally};
use crate::copy::runner::JobError;
use crate::copy::sink::archive::ArchiveTarget;
use crate::copy::source::registry::RegistrySource;
use crate::copy::verify::VerifyingStream;
use crate::copy::{CopyOptions, Engine};
use crate::image::digest::Digest;
use crate::image::list::{self, Formats, Line};
use crate::image::reference::Reference;
use crate::registry::Registries;
use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SaveCommand {
    #[command(subcommand)]
    action: Option<SaveAction>,
    #[command(flatten)]
    args: SaveArgs,
}

#[derive(Subcommand, Debug)]
enum SaveAction {
    /// Check that the archive holds every selected platform of each listed image
    Validate(SaveArgs),
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Image list (default format)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Override the registry of every source image (recorded in the archive)
    #[arg(short = 's', long = "source", value_name = "REGISTRY")]
    source: Option<String>,
    /// The archive to write (an interrupted one is resumed)
    #[arg(
        short = 'd',
        long = "destination",
        default_value = "saved-images.zip",
        value_name = "FILE"
    )]
    destination: PathBuf,
    /// File that receives the lines that failed
    #[arg(
        short = 'o',
        long = "failed",
        default_value = "save-failed.txt",
        value_name = "FILE"
    )]
    failed: PathBuf,
    #[command(flatten)]
    run: RunArgs,
    /// Overwrite an existing archive without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
    #[command(flatten)]
    platform: PlatformArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    signatures: super::args::AttachmentArgs,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncCommand {
    #[command(subcommand)]
    action: Option<SyncAction>,
    #[command(flatten)]
    args: SyncArgs,
}

#[derive(Subcommand, Debug)]
enum SyncAction {
    /// Check that the archive holds every selected platform of each listed image
    Validate(SyncArgs),
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Image list (default format)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Override the registry of every source image (recorded in the archive)
    #[arg(short = 's', long = "source", value_name = "REGISTRY")]
    source: Option<String>,
    /// The existing archive to add the images to
    #[arg(short = 'd', long = "destination", value_name = "FILE")]
    destination: Option<PathBuf>,
    /// File that receives the lines that failed
    #[arg(
        short = 'o',
        long = "failed",
        default_value = "sync-failed.txt",
        value_name = "FILE"
    )]
    failed: PathBuf,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    platform: PlatformArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    signatures: super::args::AttachmentArgs,
}

/// What save and sync have in common once their flags are read.
pub(super) struct Job<'a> {
    pub list: Option<&'a Path>,
    pub source: Option<&'a str>,
    pub archive: &'a Path,
    pub failed: &'a Path,
    pub run: &'a RunArgs,
    pub platform: &'a PlatformArgs,
    pub tls: &'a TlsArgs,
    /// Save the signatures, attestations and SBOMs of the saved digests too.
    pub attachments: bool,
}

impl<'a> From<&'a SaveArgs> for Job<'a> {
    fn from(a: &'a SaveArgs) -> Self {
        Job {
            list: a.file.as_deref(),
            source: a.source.as_deref(),
            archive: &a.destination,
            failed: &a.failed,
            run: &a.run,
            platform: &a.platform,
            tls: &a.tls,
            attachments: !a.signatures.remove_signatures,
        }
    }
}

pub async fn run(cmd: SaveCommand, global: &Global) -> anyhow::Result<Status> {
    match cmd.action {
        Some(SaveAction::Validate(args)) => super::archive_validate::run(Job::from(&args)).await,
        None => run_save(cmd.args, global).await,
    }
}

pub async fn run_sync(cmd: SyncCommand, global: &Global) -> anyhow::Result<Status> {
    let args = match cmd.action {
        Some(SyncAction::Validate(args)) => {
            let archive = args.destination.clone().unwrap_or_default();
            let job = Job {
                list: args.file.as_deref(),
                source: args.source.as_deref(),
                archive: &archive,
                failed: &args.failed,
                run: &args.run,
                platform: &args.platform,
                tls: &args.tls,
                attachments: !args.signatures.remove_signatures,
            };
            return super::archive_validate::run(job).await;
        }
        None => cmd.args,
    };
    let archive = args
        .destination
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
        .context("destination archive not provided, use '--destination' to specify the archive")?;
    std::fs::metadata(archive)
        .with_context(|| format!("failed to stat {:?}", archive.display().to_string()))?;
    let job = Job {
        list: args.file.as_deref(),
        source: args.source.as_deref(),
        archive,
        failed: &args.failed,
        run: &args.run,
        platform: &args.platform,
        tls: &args.tls,
        attachments: !args.signatures.remove_signatures,
    };
    let jobs = read_jobs(&job)?;
    let registries = Registries::new(job.tls.registry_options());
    let recovered = resume_if_interrupted(archive)?;
    let mut index = read_index(archive)?;
    index.updated = rfc3339_now();
    let (writer, continued) = match &recovered {
        Some(r) => reopen(archive, r, &registries).await?,
        None => (ArchiveWriter::append(archive)?, None),
    };
    let target = Target {
        writer,
        index,
        continued,
        registries,
    };
    save_into(&job, jobs, target, global, ("Sync", "sync", "synced")).await
}

async fn run_save(args: SaveArgs, global: &Global) -> anyhow::Result<Status> {
    let job = Job::from(&args);
    let jobs = read_jobs(&job)?;
    let registries = Registries::new(job.tls.registry_options());
    let (writer, index, continued) =
        if let Some(recovered) = resume_if_interrupted(&args.destination)? {
            // The interrupted run may already have written an index (killed at the very end):
            // its creation time is kept, its list is rebuilt by this run.
            let time = read_index(&args.destination)
                .map(|i| i.time)
                .unwrap_or_default();
            let mut index = ArchiveIndex::new();
            if !time.is_empty() {
                index.time = time;
            }
            let (writer, continued) = reopen(&args.destination, &recovered, &registries).await?;
            (writer, index, continued)
        } else {
            super::may_overwrite(&args.destination, args.yes)?;
            (
                ArchiveWriter::create(&args.destination)?,
                ArchiveIndex::new(),
                None,
            )
        };
    let target = Target {
        writer,
        index,
        continued,
        registries,
    };
    save_into(&job, jobs, target, global, ("Save", "save", "saved")).await
}

/// Recovers an archive whose writing was interrupted; `None` when there was nothing to resume.
fn resume_if_interrupted(archive: &Path) -> anyhow::Result<Option<journal::Recovered>> {
    let Some(recovered) = journal::recover(archive)? else {
        return Ok(None);
    };
    tracing::info!(
        "Resuming interrupted archive {:?}: kept {} finished entries{}, dropped {} bytes of unfinished work",
        archive.display().to_string(),
        recovered.entries,
        match &recovered.partial {
            Some(p) => format!(
                " and {} of {} bytes of {}",
                p.len, p.started.size, p.started.name
            ),
            None => String::new(),
        },
        recovered.dropped_bytes
    );
    Ok(Some(recovered))
}

/// Opens a recovered archive for appending. The entry the kill interrupted is continued in
/// place with a ranged fetch from where its bytes came from; when that is not possible (no
/// origin, the source is gone, the bytes do not add up) its bytes are dropped and the entry
/// is fetched afresh by the run. Returns the writer and the entry completed here, if any.
async fn reopen(
    archive: &Path,
    recovered: &journal::Recovered,
    registries: &Registries,
) -> anyhow::Result<(ArchiveWriter, Option<String>)> {
    let Some(partial) = &recovered.partial else {
        return Ok((ArchiveWriter::append(archive)?, None));
    };
    let started = &partial.started;
    let (writer, prefix) = ArchiveWriter::resume(archive, partial)?;
    let continued = async {
        let (registry, repo) = started
            .origin
            .split_once('/')
            .context("no origin recorded")?;
        let digest: Digest = format!(
            "sha256:{}",
            started
                .name
                .strip_prefix("share/sha256/")
                .context("not a blob")?
        )
        .parse()?;
        let src = registries.get(registry).await?;
        // Killed after the last byte but before the journal line: nothing is left to fetch.
        let rest = if partial.len < started.size {
            src.get_blob_from(repo, &digest, partial.len).await?.boxed()
        } else {
            futures_util::stream::empty().boxed()
        };
        let (stream, verdict) = VerifyingStream::new(
            rest,
            format!("blob {registry}/{repo}@{digest}"),
            digest.clone(),
            Some(started.size),
            false,
            Box::new(|_| {}),
        );
        let stream = stream.resuming(prefix, partial.len);
        let written = writer.continue_entry(&started.name, stream).await;
        if let Some(e) = verdict.lock().expect("verdict lock").error.take() {
            return Err(anyhow::Error::from(e));
        }
        Ok::<u64, anyhow::Error>(written? - partial.len)
    }
    .await;
    match continued {
        Ok(fetched) => {
            tracing::info!(
                "Continued {} in place: fetched the remaining {fetched} bytes",
                started.name
            );
            Ok((writer, Some(started.name.clone())))
        }
        Err(e) => {
            tracing::warn!(
                "Cannot continue {} in place ({e:#}); it will be fetched again",
                started.name
            );
            // A continuation that never started still holds the entry: drop it.
            let _ = writer
                .continue_entry(
                    &started.name,
                    futures_util::stream::iter([Err::<Bytes, _>("abandoned")]),
                )
                .await;
            Ok((writer, None))
        }
    }
}

fn read_index(archive: &Path) -> anyhow::Result<ArchiveIndex> {
    let mut reader = ArchiveReader::open(archive)?;
    reader
        .index()
        .with_context(|| format!("archive {}", archive.display()))
}

/// The list's default-format lines, with the source registry override applied.
pub(super) fn read_jobs(job: &Job) -> anyhow::Result<Vec<(String, Reference)>> {
    let path = job
        .list
        .context("image list not provided, use '--file' to specify the image list file")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read image list {}", path.display()))?;
    let parsed = list::parse(&text, Formats::DefaultOnly);
    for w in &parsed.warnings {
        tracing::warn!("Ignore {w}");
    }
    Ok(parsed
        .entries
        .into_iter()
        .filter_map(|e| match e.line {
            Line::Default(r) => {
                let r = match job.source.filter(|s| !s.is_empty()) {
                    Some(reg) => r.with_registry(reg),
                    None => r,
                };
                Some((e.text, r))
            }
            Line::Mirror { .. } => None,
        })
        .collect())
}

/// The archive a save or sync writes into.
struct Target {
    writer: ArchiveWriter,
    index: ArchiveIndex,
    /// An entry completed while reopening (the one a kill interrupted).
    continued: Option<String>,
    registries: Registries,
}

async fn save_into(
    job: &Job<'_>,
    jobs: Vec<(String, Reference)>,
    target: Target,
    global: &Global,
    (title, verb, past): (&str, &str, &str),
) -> anyhow::Result<Status> {
    let filter = job.platform.filter();
    tracing::info!("Arch List: [{}]", filter.arch.join(","));
    tracing::info!("OS List: [{}]", filter.os.join(","));
    let options = CopyOptions {
        filter,
        provenance: job.run.provenance,
        overwrite: false,
        dry_run: false,
        attachments: job.attachments,
    };
    let Target {
        writer,
        mut index,
        continued,
        registries,
    } = target;
    let run = BulkRun::start(global, jobs.len(), Duration::from_secs(5));
    let started = Instant::now();
    let attached = Attached::default();
    let target = ArchiveTarget::new(&writer, run.events.clone());
    target.skip_existing(continued.iter());
    let work = jobs
        .iter()
        .enumerate()
        .map(|(i, (text, source))| copy_run::Job {
            text: text.clone(),
            from: source.to_string(),
            to: job.archive.display().to_string(),
            tag: source.tag().map(str::to_string),
            source: Box::new(RegistrySource::new(&registries, &attached, source.clone())),
            sink: Box::new(target.sink(i + 1, source)),
        })
        .collect();
    let engine = Engine {
        options: &options,
        events: run.events.clone(),
    };
    let settings = copy_run::Settings {
        workers: workers(job.run.jobs),
        timeout: job.run.time_limit(),
        cancel: &run.cancel,
        verb,
        planned: &|bytes| run.progress.set_total_bytes(bytes),
        failed: &|_, _| {},
    };
    let finished = copy_run::run(&engine, work, &settings).await;
    run.end();
    let cancel = &run.cancel;

    // The index goes last, also after Ctrl-C, so what was saved is usable. A run that was
    // stopped (Ctrl-C, SIGTERM, a full disk) closes the archive as a partial one, which the
    // same command resumes.
    let stopped = writer.failure().is_some()
        || finished
            .iter()
            .any(|f| matches!(f.result, Err(JobError::Interrupted)));
    for image in target.images() {
        index.upsert(image);
    }
    let index_bytes = index.to_bytes();
    let completed = async {
        writer
            .write_bytes(INDEX_NAME, Bytes::from(index_bytes.clone()))
            .await?;
        if stopped {
            writer.finish_interrupted().await
        } else {
            writer.finish().await
        }
    }
    .await;
    match &completed {
        Ok(()) => tracing::info!(
            "Write index file \"index.json\" to [{}], size {:.2}K",
            job.archive.display(),
            index_bytes.len() as f64 / 1024.0
        ),
        // The journal stays: a re-run keeps every finished entry.
        Err(e) => tracing::error!(
            "cannot complete archive {:?}: {e}; its finished entries are kept, re-run to resume",
            job.archive.display().to_string()
        ),
    }
    if stopped && completed.is_ok() {
        tracing::warn!(
            "{:?} is a partial archive: it holds the images finished so far; run the same command again to complete it",
            job.archive.display().to_string()
        );
    }
    let mut tally = Tally::of(&finished, verb);
    if completed.is_err() {
        // Nothing of this run is in a usable archive.
        tally.failed = finished.iter().map(|f| f.text.as_str()).collect();
    }
    tally.log(jobs.len(), past, started);
    let failed_lines = tally.failed;
    if completed.is_err() && failed_lines.is_empty() {
        bail!(
            "archive {:?} is incomplete",
            job.archive.display().to_string()
        );
    }
    // Stopped by a full disk: a failure (exit 1), not an interruption (130).
    let interrupted = cancel.is_cancelled() && writer.failure().is_none();
    finish_run(job.failed, &failed_lines, title, verb, interrupted)
}
