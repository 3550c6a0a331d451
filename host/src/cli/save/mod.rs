//! `hangar save` (registry → new archive) and `hangar sync` (registry → existing archive): the
//! same job written into a fresh or an appended archive. An interrupted archive (its journal
//! is beside it) is recovered first and the run resumes: finished blobs are kept and skipped.

mod args;

use super::bulk::{BulkRun, finish_run};
use super::{Global, Status};
use crate::archive::delta::{BaseBlobs, Inventory};
use crate::archive::index::{ArchiveIndex, rfc3339_now};
use crate::archive::reader::ArchiveReader;
use crate::archive::volume::first_file;
use crate::archive::writer::ArchiveWriter;
use crate::copy::CopyOptions;
use crate::copy::attachments::Attached;
use crate::copy::plan::Overrides;
use crate::copy::run::{self as copy_run, Tally};
use crate::copy::runner::JobError;
use crate::copy::sink::archive::ArchiveTarget;
use crate::copy::sink::resume::resume;
use crate::copy::source::registry::RegistrySource;
use crate::image::list::Formats;
use crate::image::reference::Reference;
use crate::registry::Registries;
use anyhow::{Context as _, bail};
pub use args::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A save or sync once its flags are read: the list, the archive, the failed list.
pub(super) struct Job<'a> {
    pub list: &'a SaveList,
    pub archive: &'a Path,
    pub failed: &'a Path,
}

impl SaveArgs {
    fn job(&self) -> Job<'_> {
        Job {
            list: &self.list,
            archive: &self.destination,
            failed: &self.failed,
        }
    }
}

pub async fn run(cmd: SaveCommand, global: &Global) -> anyhow::Result<Status> {
    if let Some(SaveAction::Validate(args)) = &cmd.action {
        return super::archive_validate::run(args.job()).await;
    }
    let args = &cmd.args;
    let job = args.job();
    let jobs = read_jobs(&job)?;
    // Before the archive exists: an unreadable base leaves nothing behind.
    let bases = read_bases(&args.list.delta)?;
    let split = args.list.split.split_size;
    let registries = Registries::new(args.list.tls.registry_options());
    let (writer, index, continued) =
        if let Some(resumed) = resume(&args.destination, &registries, split).await? {
            // The interrupted run may already have written an index (killed at the very end):
            // its creation time is kept, its list is rebuilt by this run.
            let mut index = ArchiveIndex::new();
            if let Some(time) = read_index(&args.destination).ok().map(|i| i.time)
                && !time.is_empty()
            {
                index.time = time;
            }
            (resumed.writer, index, resumed.continued)
        } else {
            super::may_overwrite(&first_file(&args.destination), args.yes)?;
            let writer = ArchiveWriter::create_split(&args.destination, split)?;
            (writer, ArchiveIndex::new(), None)
        };
    let target = Target {
        writer,
        index,
        continued,
        registries,
        bases,
    };
    save_into(&job, jobs, target, global, ("Save", "save", "saved")).await
}

pub async fn run_sync(cmd: SyncCommand, global: &Global) -> anyhow::Result<Status> {
    if let Some(SyncAction::Validate(args)) = &cmd.action {
        let archive = args.destination.clone().unwrap_or_default();
        let job = Job {
            list: &args.list,
            archive: &archive,
            failed: &args.failed,
        };
        return super::archive_validate::run(job).await;
    }
    let args = &cmd.args;
    let archive = args
        .destination
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
        .context("destination archive not provided, use '--destination' to specify the archive")?;
    std::fs::metadata(first_file(archive))
        .with_context(|| format!("failed to stat {:?}", archive.display().to_string()))?;
    let split = args.list.split.split_size;
    let job = Job {
        list: &args.list,
        archive,
        failed: &args.failed,
    };
    let jobs = read_jobs(&job)?;
    let bases = read_bases(&args.list.delta)?;
    let registries = Registries::new(args.list.tls.registry_options());
    let resumed = resume(archive, &registries, split).await?;
    let mut index = read_index(archive)?;
    index.updated = rfc3339_now();
    let (writer, continued) = match resumed {
        Some(r) => (r.writer, r.continued),
        None => (ArchiveWriter::append(archive, split)?, None),
    };
    let target = Target {
        writer,
        index,
        continued,
        registries,
        bases,
    };
    save_into(&job, jobs, target, global, ("Sync", "sync", "synced")).await
}

fn read_index(archive: &Path) -> anyhow::Result<ArchiveIndex> {
    let mut reader = ArchiveReader::open(archive)?;
    reader
        .index()
        .with_context(|| format!("archive {}", archive.display()))
}

/// The layers of `--base` archives and `--base-inventory` inventories, checked before any
/// image is read: an unreadable base is an error, not a full archive by surprise.
fn read_bases(args: &DeltaArgs) -> anyhow::Result<BaseBlobs> {
    let mut bases = BaseBlobs::default();
    for path in &args.base {
        // Its errors name the file already.
        let mut reader = ArchiveReader::open(path)?;
        let bytes = reader
            .read(crate::archive::reader::INDEX_NAME, 256 << 20)
            .with_context(|| format!("base archive {}", path.display()))?;
        let index = ArchiveIndex::parse(&bytes)
            .with_context(|| format!("base archive {}", path.display()))?;
        bases.add_archive(&file_name(path), &bytes, &index);
    }
    for path in &args.base_inventory {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read inventory {}", path.display()))?;
        let inventory = Inventory::parse(&path.display().to_string(), &bytes)?;
        bases.add_inventory(&file_name(path), &inventory);
    }
    if !bases.is_empty() {
        tracing::info!(
            "Delta of {}: the {} layers known there are left out",
            bases
                .bases
                .iter()
                .map(|b| b.describe())
                .collect::<Vec<_>>()
                .join(", "),
            bases.len()
        );
    }
    Ok(bases)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The list's default-format lines, with the source registry override applied.
pub(super) fn read_jobs(job: &Job) -> anyhow::Result<Vec<(String, Reference)>> {
    let path = job
        .list
        .file
        .as_deref()
        .context("image list not provided, use '--file' to specify the image list file")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read image list {}", path.display()))?;
    let overrides = Overrides {
        source_registry: job.list.source.clone(),
        ..Default::default()
    };
    let jobs = overrides
        .pairs(&text, Formats::DefaultOnly)
        .into_iter()
        .map(|p| (p.text, p.source))
        .collect();
    Ok(job
        .list
        .run
        .shard_of(jobs, |(_, reference): &(String, Reference)| {
            reference.name()
        }))
}

/// The archive a save or sync writes into.
struct Target {
    writer: ArchiveWriter,
    index: ArchiveIndex,
    /// An entry completed while reopening (the one a kill interrupted).
    continued: Option<String>,
    registries: Registries,
    /// A delta's bases (empty for a full archive).
    bases: BaseBlobs,
}

async fn save_into(
    job: &Job<'_>,
    jobs: Vec<(String, Reference)>,
    target: Target,
    global: &Global,
    (title, verb, past): (&str, &str, &str),
) -> anyhow::Result<Status> {
    let list = job.list;
    let filter = list.platform.filter();
    tracing::info!("Arch List: [{}]", filter.arch.join(","));
    tracing::info!("OS List: [{}]", filter.os.join(","));
    let options = CopyOptions {
        filter,
        provenance: list.run.provenance,
        overwrite: false,
        dry_run: false,
        attachments: !list.signatures.remove_signatures,
        policy: global.signature_policy()?,
    };
    let Target {
        writer,
        index,
        continued,
        registries,
        bases,
    } = target;
    let run = BulkRun::start(global, jobs.len(), Duration::from_secs(5));
    let started = Instant::now();
    let attached = Attached::default();
    let mut target = ArchiveTarget::new(&writer, run.events.clone());
    target.skip_existing(continued.iter());
    if !bases.is_empty() {
        target.leave_out(std::sync::Arc::new(bases));
    }
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
    let finished = run.copy(&options, work, verb, &list.run, &|_, _| {}).await;
    let cancel = &run.cancel;

    // The index goes last, also after Ctrl-C, so what was saved is usable.
    let stopped = writer.failure().is_some()
        || finished
            .iter()
            .any(|f| matches!(f.result, Err(JobError::Interrupted)));
    let archive = job.archive.display().to_string();
    let (left_out, left_out_bytes) = target.left_out();
    if left_out > 0 {
        tracing::info!(
            "Delta: {left_out} layers ({}) left out, the bases have them",
            crate::outfile::human_size(left_out_bytes)
        );
    }
    let completed = target.close(index, stopped, &archive).await;
    let mut tally = Tally::of(&finished, verb);
    if completed.is_err() {
        // Nothing of this run is in a usable archive.
        tally.failed = finished.iter().map(|f| f.text.as_str()).collect();
    }
    tally.log(jobs.len(), past, started);
    let failed_lines = tally.failed;
    if completed.is_err() && failed_lines.is_empty() {
        bail!("archive {archive:?} is incomplete");
    }
    // Stopped by a full disk: a failure (exit 1), not an interruption (130).
    let interrupted = cancel.is_cancelled() && writer.failure().is_none();
    finish_run(job.failed, &failed_lines, title, verb, interrupted)
}
