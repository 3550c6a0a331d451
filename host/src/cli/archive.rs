//! `hangar archive …`: look into archives (ls, verify), make them (init, merge, export), and
//! store or extract charts and files (`archive_store.rs`).

use super::Status;
use crate::archive::blobs::ArchiveBlobs;
use crate::archive::index::ArchiveIndex;
use crate::archive::reader::{ArchiveReader, INDEX_NAME};
use crate::archive::writer::ArchiveWriter;
use crate::copy::events::Silent;
use crate::copy::sink::archive::ArchiveTarget;
use crate::copy::source::archive::pick;
use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ArchiveCommand {
    #[command(subcommand)]
    action: ArchiveAction,
}

#[derive(Subcommand, Debug)]
enum ArchiveAction {
    /// List the images of an archive
    Ls(LsArgs),
    /// Re-hash every blob and check every reference of an archive
    Verify(VerifyArgs),
    /// Create empty archives (for sync or store to add to)
    Init(InitArgs),
    /// Merge archives into a new one
    Merge(MergeArgs),
    /// Copy the listed images of an archive into a new archive
    Export(ExportCommand),
    /// Store Helm charts, files or plugins in an archive
    Store(super::archive_store::StoreCommand),
}

#[derive(Args, Debug)]
struct LsArgs {
    /// The archive (or give it as the argument)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    #[arg(value_name = "FILE", conflicts_with = "file")]
    positional: Option<PathBuf>,
    /// Print the whole index as JSON
    #[arg(long)]
    json: bool,
    /// Print one source:tag per line
    #[arg(long)]
    image_only: bool,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Args, Debug)]
struct InitArgs {
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// An archive to merge (at least two)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The new archive
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite the output without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct ExportCommand {
    #[command(subcommand)]
    action: Option<ExportAction>,
    #[command(flatten)]
    args: ExportArgs,
}

#[derive(Subcommand, Debug)]
enum ExportAction {
    /// Extract a file stored with `archive store file` to ./<name>
    File(super::archive_store::ExportFileArgs),
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// Image list (default format) of the images to export
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The archive to export from
    #[arg(short = 's', long = "source", value_name = "FILE")]
    source: Option<PathBuf>,
    /// The new archive
    #[arg(short = 'd', long = "destination", value_name = "FILE")]
    destination: Option<PathBuf>,
    /// Replace the registry of the list lines before looking them up
    #[arg(long = "source-registry", value_name = "REGISTRY")]
    source_registry: Option<String>,
    /// File that receives the lines not found
    #[arg(
        long = "failed",
        default_value = "export-failed.txt",
        value_name = "FILE"
    )]
    failed: PathBuf,
    /// Overwrite the destination without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

pub async fn run(cmd: ArchiveCommand, global: &super::Global) -> anyhow::Result<Status> {
    match cmd.action {
        ArchiveAction::Ls(a) => ls(a),
        ArchiveAction::Verify(a) => verify(a).await,
        ArchiveAction::Init(a) => init(a).await,
        ArchiveAction::Merge(a) => merge(a).await,
        ArchiveAction::Export(ExportCommand {
            action: Some(ExportAction::File(a)),
            ..
        }) => super::archive_store::export_file(a),
        ArchiveAction::Export(ExportCommand { args, .. }) => export(args).await,
        ArchiveAction::Store(a) => super::archive_store::run(a, global).await,
    }
}

/// Opens an archive and reads its index.
pub(super) fn open(path: &Path) -> anyhow::Result<(ArchiveReader, ArchiveIndex)> {
    let mut reader = ArchiveReader::open(path)?;
    let index = reader
        .index()
        .with_context(|| format!("archive {}", path.display()))?;
    Ok((reader, index))
}

pub use crate::archive::listing::human_size;

fn ls(args: LsArgs) -> anyhow::Result<Status> {
    let path = args
        .file
        .or(args.positional)
        .context("archive file not provided, use '--file' to specify the archive")?;
    let (mut reader, index) = open(&path)?;
    if args.json {
        let mut out = serde_json::to_string_pretty(&index)?;
        out.truncate(out.trim_end().len());
        out!("{out}")?;
        return Ok(Status::Success);
    }
    if args.image_only {
        for image in &index.list {
            outln!("{}:{}", image.source, image.tag)?;
        }
        return Ok(Status::Success);
    }
    let blobs = ArchiveBlobs::new(&path, &mut reader)?;
    tracing::info!(
        "Created time: {}",
        index.time.get(..10).unwrap_or(&index.time)
    );
    tracing::info!("Index version: {}", index.version);
    tracing::info!("Images:");
    for line in crate::archive::listing::lines(&index, &blobs) {
        outln!("{line}")?;
    }
    Ok(Status::Success)
}

async fn verify(args: VerifyArgs) -> anyhow::Result<Status> {
    let (mut reader, index) = open(&args.file)?;
    let mut names: Vec<String> = reader.names().map(str::to_string).collect();
    names.sort();
    let blobs = ArchiveBlobs::new(&args.file, &mut reader)?;
    drop(reader);
    let report = crate::archive::verify::verify(&blobs, &names, &index).await;
    for problem in &report.problems {
        tracing::error!("{problem}");
    }
    tracing::info!(
        "Checked {} blobs ({}) and {} images: {} problems",
        report.blobs_checked,
        human_size(report.bytes_hashed),
        index.list.len(),
        report.problems.len()
    );
    if report.problems.is_empty() {
        tracing::info!("Done");
        Ok(Status::Success)
    } else {
        bail!("archive {} failed verification", args.file.display())
    }
}

async fn write_index(
    writer: ArchiveWriter,
    index: &ArchiveIndex,
    path: &Path,
) -> anyhow::Result<()> {
    let bytes = index.to_bytes();
    writer
        .write_bytes(INDEX_NAME, Bytes::from(bytes.clone()))
        .await?;
    writer.finish().await?;
    tracing::info!(
        "Write index file \"index.json\" to [{}], size {:.2}K",
        path.display(),
        bytes.len() as f64 / 1024.0
    );
    Ok(())
}

async fn init(args: InitArgs) -> anyhow::Result<Status> {
    for path in &args.files {
        if path.exists() {
            bail!("file {:?} already exists", path.display().to_string());
        }
        write_index(ArchiveWriter::create(path)?, &ArchiveIndex::new(), path).await?;
    }
    Ok(Status::Success)
}

async fn merge(args: MergeArgs) -> anyhow::Result<Status> {
    if args.files.len() < 2 {
        bail!("use '--file' option to specify at least 2 archive files");
    }
    let output = args
        .output
        .context("output file not provided, use '--output' to specify the output file")?;
    super::may_overwrite(&output, args.yes)?;
    let writer = ArchiveWriter::create(&output)?;
    let mut index = ArchiveIndex::new();
    {
        let carrier = ArchiveTarget::new(&writer, Arc::new(Silent));
        let mut id = 0;
        for path in &args.files {
            let (mut reader, input) = open(path)?;
            let blobs = ArchiveBlobs::new(path, &mut reader)?;
            for image in &input.list {
                id += 1;
                carrier.carry(id, &blobs, image).await?;
            }
        }
        for image in carrier.images() {
            index.upsert(image);
        }
    }
    write_index(writer, &index, &output).await?;
    let names: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
    tracing::info!(
        "Merged archive files [{}] to {:?}",
        names.join(","),
        output.display().to_string()
    );
    Ok(Status::Success)
}

async fn export(args: ExportArgs) -> anyhow::Result<Status> {
    let list_path = args
        .file
        .context("image list not provided, use '--file' to specify the image list file")?;
    let source = args
        .source
        .context("source archive not provided, use '--source' to specify the archive")?;
    let destination = args
        .destination
        .context("destination not provided, use '--destination' to specify the new archive")?;
    let text = std::fs::read_to_string(&list_path)
        .with_context(|| format!("cannot read image list {}", list_path.display()))?;
    let (mut reader, input) = open(&source)?;
    let blobs = ArchiveBlobs::new(&source, &mut reader)?;
    super::may_overwrite(&destination, args.yes)?;
    let writer = ArchiveWriter::create(&destination)?;
    let mut index = ArchiveIndex::new();
    let carrier = ArchiveTarget::new(&writer, Arc::new(Silent));
    let picked = pick(&input, Some(&text), args.source_registry.as_deref(), true);
    let mut failed = picked.not_found;
    for (id, (text, image)) in picked.images.into_iter().enumerate() {
        if let Err(e) = carrier.carry(id + 1, &blobs, image).await {
            tracing::error!("{text}: {e}");
            failed.push(text);
        }
    }
    for image in carrier.images() {
        index.upsert(image);
    }
    drop(carrier);
    write_index(writer, &index, &destination).await?;
    let lines: Vec<&str> = failed.iter().map(String::as_str).collect();
    super::bulk::finish_run(&args.failed, &lines, "Export", "export", false)
}
