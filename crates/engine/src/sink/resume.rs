//! Reopening an archive whose writing was interrupted (its journal is beside it): finished
//! entries are kept, and the entry the kill cut short is continued in place with a ranged
//! fetch from the registry its bytes came from, verified over the whole blob. When that is
//! not possible (no origin, the source is gone, the bytes do not add up) the partial bytes
//! are dropped and the run fetches the blob afresh.

use crate::verify::VerifyingStream;
use bytes::Bytes;
use futures_util::StreamExt as _;
use hangar_archive::journal::{self, JournalError, Partial, Recovered};
use hangar_archive::writer::{ArchiveWriter, WriteError};
use hangar_image::digest::Digest;
use hangar_registry::Registries;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A reopened archive: the writer (appending after the kept entries) and the entry completed
/// while reopening, if any (the run skips it).
pub struct Resumed {
    pub writer: ArchiveWriter,
    pub continued: Option<String>,
}

/// Reopens `archive` if its writing was interrupted; `None` when there is nothing to resume.
/// A split archive goes on in parts of `part_size` bytes (by default the size of its first
/// part).
pub async fn resume(
    archive: &Path,
    registries: &Registries,
    part_size: Option<u64>,
) -> Result<Option<Resumed>, ResumeError> {
    let Some(recovered) = journal::recover(archive)? else {
        return Ok(None);
    };
    log_recovery(archive, &recovered);
    let Some(partial) = &recovered.partial else {
        return Ok(Some(Resumed {
            writer: ArchiveWriter::append(archive, part_size)?,
            continued: None,
        }));
    };
    let (writer, prefix) = ArchiveWriter::resume(archive, partial, part_size)?;
    let name = partial.started.name.clone();
    match continue_entry(&writer, partial, prefix, registries).await {
        Ok(fetched) => {
            tracing::info!("Continued {name} in place: fetched the remaining {fetched} bytes");
            Ok(Some(Resumed {
                writer,
                continued: Some(name),
            }))
        }
        Err(why) => {
            tracing::warn!("Cannot continue {name} in place ({why}); it will be fetched again");
            // A continuation that never started still holds the entry: drop it.
            let _ = writer
                .continue_entry(
                    &name,
                    futures_util::stream::iter([Err::<Bytes, _>("abandoned")]),
                )
                .await;
            Ok(Some(Resumed {
                writer,
                continued: None,
            }))
        }
    }
}

fn log_recovery(archive: &Path, recovered: &Recovered) {
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
}

/// Fetches the rest of the interrupted blob into its entry; returns the bytes fetched.
async fn continue_entry(
    writer: &ArchiveWriter,
    partial: &Partial,
    prefix: sha2::Sha256,
    registries: &Registries,
) -> Result<u64, String> {
    let started = &partial.started;
    let (registry, repo) = started.origin.split_once('/').ok_or("no origin recorded")?;
    let digest: Digest = started
        .name
        .strip_prefix("share/sha256/")
        .ok_or("not a blob")
        .and_then(|hex| format!("sha256:{hex}").parse().map_err(|_| "not a blob"))?;
    let src = registries.get(registry).await.map_err(|e| e.to_string())?;
    // Killed after the last byte but before the journal line: nothing is left to fetch.
    let rest = if partial.len < started.size {
        src.get_blob_from(repo, &digest, partial.len)
            .await
            .map_err(|e| e.to_string())?
            .boxed()
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
        return Err(e.to_string());
    }
    Ok(written.map_err(|e| e.to_string())? - partial.len)
}
