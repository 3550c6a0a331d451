//! `hangar archive …`: look into archives (ls, verify), make them (init, merge, export), and
//! store or extract charts and files (`archive_store.rs`).

mod args;

use super::Status;
use crate::archive::blobs::ArchiveBlobs;
use crate::archive::index::ArchiveIndex;
use crate::archive::reader::{ArchiveReader, INDEX_NAME};
use crate::archive::writer::ArchiveWriter;
use crate::copy::events::Silent;
use crate::copy::sink::archive::ArchiveTarget;
use crate::copy::source::archive::pick;
use anyhow::{Context as _, bail};
pub use args::*;
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;

pub async fn run(cmd: ArchiveCommand, global: &super::Global) -> anyhow::Result<Status> {
    let Some(action) = cmd.action else {
        super::print_help(&["archive"])?;
        return Ok(Status::Success);
    };
    match action {
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

pub use crate::outfile::human_size;

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
    if let Some(delta) = &index.delta {
        tracing::info!("{}", delta_summary(delta));
    }
    tracing::info!("Images:");
    for line in crate::archive::listing::lines(&index, &blobs) {
        outln!("{line}")?;
    }
    Ok(Status::Success)
}

/// One line on what a delta archive relies on.
fn delta_summary(delta: &crate::archive::delta::Delta) -> String {
    let bases: Vec<String> = delta.bases.iter().map(|b| b.describe()).collect();
    format!(
        "Delta archive: relies on {} blobs ({}) it does not hold, from {}; load it only into a \
         registry that has them",
        delta.relies.len(),
        human_size(delta.relied_bytes()),
        bases.join(", ")
    )
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
    if let Some(delta) = &index.delta {
        tracing::info!("{}", delta_summary(delta));
        for relied in &delta.relies {
            let base = delta.bases.get(relied.base).map(|b| b.describe());
            tracing::info!(
                "Relies on {} ({}): in {} of {}",
                relied.digest,
                human_size(relied.size),
                relied.repository,
                base.as_deref().unwrap_or("an unnamed base")
            );
        }
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
    let files: Vec<std::path::PathBuf> =
        args.files.iter().chain(&args.positional).cloned().collect();
    if files.len() < 2 {
        bail!("use '--file' option to specify at least 2 archive files");
    }
    let output = args
        .output
        .context("output file not provided, use '--output' to specify the output file")?;
    // Every input is read before the output exists.
    let mut inputs = Vec::with_capacity(files.len());
    for path in &files {
        let (mut reader, index) = open(path)?;
        let blobs = ArchiveBlobs::new(path, &mut reader)?;
        inputs.push((path, index, blobs));
    }
    // A delta's relied-on blobs come from the other inputs; one none of them holds is named
    // with the base that has it.
    for (path, index, _) in &inputs {
        let Some(delta) = &index.delta else { continue };
        let unheld: Vec<_> = delta
            .relies
            .iter()
            .filter(|r| {
                let name = format!("share/sha256/{}", r.digest.trim_start_matches("sha256:"));
                !inputs.iter().any(|(_, _, b)| b.size(&name).is_some())
            })
            .collect();
        if let Some(first) = unheld.first() {
            let base = delta.bases.get(first.base).map(|b| b.describe());
            bail!(
                "{} is a delta: {} of the blobs it relies on are in none of the archives merged \
                 (e.g. {}, from {}); add its base to the merge",
                path.display(),
                unheld.len(),
                first.digest,
                base.as_deref().unwrap_or("an unnamed base")
            );
        }
    }
    super::may_overwrite(&crate::archive::volume::first_file(&output), args.yes)?;
    let writer = ArchiveWriter::create_split(&output, args.split.split_size)?;
    let mut index = ArchiveIndex::new();
    {
        let carrier = ArchiveTarget::new(&writer, Arc::new(Silent));
        let mut id = 0;
        for (n, (_, input, own)) in inputs.iter().enumerate() {
            // This archive's entries first, then whatever another input holds.
            let others = inputs
                .iter()
                .enumerate()
                .filter(|(m, _)| *m != n)
                .map(|(_, (_, _, blobs))| blobs);
            let blobs = own.with_fallbacks(others);
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
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
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
    super::may_overwrite(&crate::archive::volume::first_file(&destination), args.yes)?;
    let writer = ArchiveWriter::create_split(&destination, args.split.split_size)?;
    let mut index = ArchiveIndex::new();
    let mut carrier = ArchiveTarget::new(&writer, Arc::new(Silent));
    // Exported from a delta, the images are a delta of the same bases.
    if let Some(delta) = &input.delta {
        let mut bases = crate::archive::delta::BaseBlobs::default();
        bases.add_delta(delta);
        carrier.leave_out(Arc::new(bases));
    }
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
    index.delta = carrier.delta(None);
    drop(carrier);
    write_index(writer, &index, &destination).await?;
    let lines: Vec<&str> = failed.iter().map(String::as_str).collect();
    super::bulk::finish_run(&args.failed, &lines, "Export", "export", false)
}
