//! Adding artifacts (charts, files, plugins) to an archive that exists: the archive is
//! recovered first if a run was killed while writing it, new entries are appended after the
//! old ones (an entry already there is not written again), and `finish` writes the new
//! `index.json`, which wins over the old one. Reading a stored file back is here too.

use crate::artifact::Artifact;
use crate::blobs::ArchiveBlobs;
use crate::index::{ArchiveIndex, Image};
use crate::journal::{self, JournalError};
use crate::reader::{ArchiveReader, INDEX_NAME, ReadError};
use crate::writer::{ArchiveWriter, WriteError};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use hangar_image::digest::Digest;
use hangar_image::manifest::ImageManifest;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("archive {path}")]
    Index {
        path: String,
        #[source]
        source: ReadError,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("file {name:?} not found in archive {archive:?}")]
    NoFile { name: String, archive: String },
    #[error("{0}")]
    Malformed(String),
    #[error("entry {entry}")]
    Entry {
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("entry {entry} does not match its digest (corrupted archive)")]
    Corrupted { entry: String },
}

/// Opens an archive checked (names, duplicates) with its index; the index error names the
/// archive.
pub fn open(path: &Path) -> Result<(ArchiveReader, ArchiveIndex), AppendError> {
    let mut reader = ArchiveReader::open(path)?;
    let index = reader.index().map_err(|source| AppendError::Index {
        path: path.display().to_string(),
        source,
    })?;
    Ok((reader, index))
}

/// An archive opened for adding artifacts.
pub struct Appender {
    path: PathBuf,
    writer: ArchiveWriter,
    written: tokio::sync::Mutex<HashSet<String>>,
    index: std::sync::Mutex<ArchiveIndex>,
}

impl Appender {
    pub fn open(path: &Path) -> Result<Appender, AppendError> {
        if let Some(recovered) = journal::recover(path)? {
            tracing::info!(
                "Recovered interrupted archive {:?}: kept {} entries",
                path.display().to_string(),
                recovered.entries
            );
        }
        let (_, index) = open(path)?;
        let writer = ArchiveWriter::append(path, None)?;
        let written = writer.existing().clone();
        Ok(Appender {
            path: path.to_path_buf(),
            writer,
            written: tokio::sync::Mutex::new(written),
            index: std::sync::Mutex::new(index),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the new index (also when some sources failed: what was stored stays usable)
    /// and closes the archive; returns the index's size.
    pub async fn finish(self) -> Result<usize, AppendError> {
        let index = self.index.lock().expect("index lock").clone();
        let bytes = index.to_bytes();
        let size = bytes.len();
        self.writer
            .write_bytes(INDEX_NAME, Bytes::from(bytes))
            .await?;
        self.writer.finish().await?;
        Ok(size)
    }

    /// Writes an entry unless the archive already holds it.
    pub async fn entry<S>(&self, name: &str, size: u64, stream: S) -> Result<(), AppendError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let mut written = self.written.lock().await;
        if written.contains(name) {
            return Ok(());
        }
        self.writer.write_entry(name, size, stream).await?;
        written.insert(name.to_string());
        Ok(())
    }

    /// Writes an entry held in memory unless the archive already holds it.
    pub async fn small(&self, name: &str, bytes: Bytes) -> Result<(), AppendError> {
        let size = bytes.len() as u64;
        self.entry(name, size, futures_util::stream::iter([Ok(bytes)]))
            .await
    }

    /// Writes an artifact whose layer bytes come from `layer`, then lists it in the index.
    pub async fn artifact<S>(&self, artifact: Artifact, layer: S) -> Result<(), AppendError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let name = format!("share/sha256/{}", artifact.layer.hex());
        self.entry(&name, artifact.layer_size, layer).await?;
        for (name, bytes) in artifact.small_entries {
            self.small(&name, bytes).await?;
        }
        self.list(artifact.image);
        Ok(())
    }

    /// Lists `image` in the index (replacing one with the same source and tag).
    pub fn list(&self, image: Image) {
        self.index.lock().expect("index lock").upsert(image);
    }
}

/// What `archive store file` stored under `name`: the image listing it, found by Hangar's
/// naming (`docker.io/hangar-file/NAME:latest`, no platforms).
pub fn stored_file<'a>(
    index: &'a ArchiveIndex,
    archive: &Path,
    name: &str,
) -> Result<&'a Image, AppendError> {
    let source = format!("docker.io/hangar-file/{name}");
    index
        .list
        .iter()
        .find(|i| {
            i.source == source
                && i.tag == "latest"
                && i.arch_list.is_empty()
                && i.os_list.is_empty()
        })
        .ok_or_else(|| AppendError::NoFile {
            name: name.to_string(),
            archive: archive.display().to_string(),
        })
}

/// The layer (the file's bytes) of a stored file: its digest and size.
pub fn stored_layer(blobs: &ArchiveBlobs, image: &Image) -> Result<(Digest, u64), AppendError> {
    let spec = image
        .images
        .first()
        .ok_or_else(|| AppendError::Malformed("the stored file has no manifest".into()))?;
    let manifest_name = format!("share/sha256/{}", spec.digest.trim_start_matches("sha256:"));
    let manifest: ImageManifest =
        serde_json::from_slice(&blobs.read_small(&manifest_name, 16 << 20)?)
            .map_err(|e| AppendError::Malformed(format!("entry {manifest_name}: {e}")))?;
    let layer = manifest
        .layers
        .first()
        .ok_or_else(|| AppendError::Malformed("the stored file has no layer".into()))?;
    Ok((layer.digest.clone(), layer.size))
}

/// Copies the entry of `digest` into `out`, failing when its bytes do not hash to it (the
/// caller then discards what `out` received). Blocks: call it off the async workers.
pub fn copy_checked(
    blobs: &ArchiveBlobs,
    digest: &Digest,
    out: &mut impl std::io::Write,
) -> Result<(), AppendError> {
    use sha2::Digest as _;
    let entry = format!("share/sha256/{}", digest.hex());
    let mut hasher = sha2::Sha256::new();
    let runtime = tokio::runtime::Handle::current();
    let mut stream = blobs.stream(&entry)?;
    while let Some(chunk) = tokio::task::block_in_place(|| runtime.block_on(stream.next())) {
        let chunk = chunk.map_err(|source| AppendError::Entry {
            entry: entry.clone(),
            source,
        })?;
        hasher.update(&chunk);
        out.write_all(&chunk)?;
    }
    if Digest::from_sha256(&hasher.finalize()) != *digest {
        return Err(AppendError::Corrupted { entry });
    }
    Ok(())
}
