//! `hangar save`: images from registries into a Hangar archive (zip, index v1.2.0).

use super::args::{PlatformArgs, RunArgs, TlsArgs};
use super::bulk::{BulkRun, finish_run, workers};
use super::{Global, Status, confirm};
use crate::archive::index::ArchiveIndex;
use crate::archive::reader::INDEX_NAME;
use crate::archive::writer::ArchiveWriter;
use crate::copy::events::Event;
use crate::copy::runner::{self, JobError};
use crate::copy::save::ImageSaver;
use crate::copy::{CopyOptions, Outcome};
use crate::image::list::{self, Formats, Line};
use crate::image::reference::Reference;
use crate::registry::Registries;
use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Image list (default format)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Override the registry of every source image (recorded in the archive)
    #[arg(short = 's', long = "source", value_name = "REGISTRY")]
    source: Option<String>,
    /// The archive to write
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
}

pub async fn run(args: SaveArgs, global: &Global) -> anyhow::Result<Status> {
    let path = args
        .file
        .as_ref()
        .context("image list not provided, use '--file' to specify the image list file")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read image list {}", path.display()))?;
    let parsed = list::parse(&text, Formats::DefaultOnly);
    for w in &parsed.warnings {
        tracing::warn!("Ignore {w}");
    }
    let jobs: Vec<(String, Reference)> = parsed
        .entries
        .into_iter()
        .filter_map(|e| match e.line {
            Line::Default(r) => {
                let r = match args.source.as_deref().filter(|s| !s.is_empty()) {
                    Some(reg) => r.with_registry(reg),
                    None => r,
                };
                Some((e.text, r))
            }
            Line::Mirror { .. } => None,
        })
        .collect();
    if args.destination.exists()
        && !args.yes
        && !confirm(&format!(
            "File {:?} already exists! Overwrite?",
            args.destination.display().to_string()
        ))?
    {
        bail!(
            "file {:?} already exists",
            args.destination.display().to_string()
        );
    }
    let filter = args.platform.filter();
    tracing::info!("Arch List: [{}]", filter.arch.join(","));
    tracing::info!("OS List: [{}]", filter.os.join(","));
    let options = CopyOptions {
        filter,
        provenance: args.run.provenance,
        overwrite: false,
        dry_run: false,
    };
    let registries = Registries::new(args.tls.registry_options());
    let writer = ArchiveWriter::create(&args.destination)?;
    let run = BulkRun::start(global, jobs.len(), Duration::from_secs(5));
    let (events, cancel) = (&run.events, &run.cancel);
    let started = Instant::now();
    let saver = ImageSaver::new(&registries, &options, events, &writer);
    let timeout = args.run.time_limit();
    let results = runner::run(
        jobs.iter().collect(),
        workers(args.run.jobs),
        timeout,
        cancel,
        |i, (_, source): &(String, Reference)| {
            let (saver, events) = (&saver, &events);
            async move {
                let result = saver.save(i + 1, source).await;
                let (summary, ok) = match &result {
                    Ok(outcome) => (format!("{source}: saved: {outcome}"), true),
                    Err(e) => (format!("error occurred when save [{source}]: {e}"), false),
                };
                events.emit(Event::ImageFinished {
                    id: i + 1,
                    summary,
                    ok,
                });
                result
            }
        },
    )
    .await;
    run.end();

    // The index goes last, also after Ctrl-C, so what was saved is usable.
    let mut index = ArchiveIndex::new();
    index.list = saver.images();
    let index_bytes = index.to_bytes();
    writer
        .write_bytes(INDEX_NAME, Bytes::from(index_bytes.clone()))
        .await?;
    writer.finish().await?;
    tracing::info!(
        "Write index file \"index.json\" to [{}], size {:.2}K",
        args.destination.display(),
        index_bytes.len() as f64 / 1024.0
    );
    let mut failed_lines = Vec::new();
    let mut saved = 0;
    for ((text, source), result) in jobs.iter().zip(&results) {
        match result {
            Ok(Outcome::NoMatchingPlatform { .. }) => {
                tracing::warn!(
                    "Skip save image [{source}]: no available image for specified arch and os"
                )
            }
            Ok(_) => saved += 1,
            Err(e) => {
                if !matches!(e, JobError::Failed(_)) {
                    tracing::error!("error occurred when save [{source}]: {e}");
                }
                failed_lines.push(text.as_str());
            }
        }
    }
    tracing::info!(
        "{} images: saved {saved}, failed {} in {:.1?}",
        jobs.len(),
        failed_lines.len(),
        started.elapsed()
    );
    finish_run(
        &args.failed,
        &failed_lines,
        "Save",
        "save",
        cancel.is_cancelled(),
    )
}
