//! Blobs read straight out of an archive: a Stored entry is a plain byte range of the file, so
//! it streams from disk with positioned reads (no extraction, no temp files), many at once.
//! The bytes are checked by whoever consumes them (the verifying stream of a load hashes every
//! blob against its name), so a corrupted entry is never pushed.

use super::reader::{ArchiveReader, ReadError};
use super::volume::ArchiveFile;
use bytes::Bytes;
use futures_util::Stream;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CHUNK: usize = 256 << 10;

#[derive(Clone, Debug)]
struct Range {
    file: Arc<ArchiveFile>,
    start: u64,
    size: u64,
}

pub struct ArchiveBlobs {
    path: PathBuf,
    ranges: HashMap<String, Range>,
    compressed: std::collections::HashSet<String>,
}

impl ArchiveBlobs {
    /// The byte ranges of every Stored entry. Compressed entries (which Hangar never writes)
    /// are refused when asked for, with the entry named.
    pub fn new(path: &Path, reader: &mut ArchiveReader) -> Result<ArchiveBlobs, ReadError> {
        let file = Arc::new(ArchiveFile::open(path).map_err(|e| ReadError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?);
        let mut ranges = HashMap::new();
        for (name, start, size) in reader.stored_ranges()? {
            let file = file.clone();
            ranges.insert(name, Range { file, start, size });
        }
        Ok(ArchiveBlobs {
            path: path.to_path_buf(),
            ranges,
            compressed: reader.compressed().clone(),
        })
    }

    /// This archive's entries, and those it lacks read from `others` (a delta over its base:
    /// `archive merge`).
    pub fn with_fallbacks<'a>(
        &self,
        others: impl IntoIterator<Item = &'a ArchiveBlobs>,
    ) -> ArchiveBlobs {
        let mut ranges = self.ranges.clone();
        let mut compressed = self.compressed.clone();
        for other in others {
            for (name, range) in &other.ranges {
                ranges.entry(name.clone()).or_insert_with(|| range.clone());
            }
            compressed.extend(other.compressed.iter().cloned());
        }
        ArchiveBlobs {
            path: self.path.clone(),
            ranges,
            compressed,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size(&self, name: &str) -> Option<u64> {
        self.ranges.get(name).map(|r| r.size)
    }

    /// The parts of a split archive an entry lies in (none for a whole archive), for
    /// messages about a damaged entry.
    pub fn parts_of(&self, name: &str) -> Vec<PathBuf> {
        let Some(range) = self.ranges.get(name) else {
            return Vec::new();
        };
        if !range.file.is_split() {
            return Vec::new();
        }
        range
            .file
            .files_holding(range.start, range.size)
            .into_iter()
            .map(Path::to_path_buf)
            .collect()
    }

    /// The entry's bytes as a stream of chunks read on the blocking pool.
    pub fn stream(
        &self,
        name: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send + 'static, ReadError>
    {
        self.stream_range(name, 0, u64::MAX)
    }

    /// `len` bytes of the entry from `offset` on (clamped to the entry).
    pub fn stream_range(
        &self,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send + 'static, ReadError>
    {
        let entry = self.ranges.get(name).ok_or_else(|| self.absent(name))?;
        let offset = offset.min(entry.size);
        let start = entry.start + offset;
        let end = start + len.min(entry.size - offset);
        let state = (entry.file.clone(), start, end);
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            |(file, at, end)| async move {
                if at >= end {
                    return None;
                }
                let len = (end - at).min(CHUNK as u64) as usize;
                let reader = file.clone();
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; len];
                    reader.read_exact_at(&mut buf, at).map(|_| Bytes::from(buf))
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                match read {
                    Ok(bytes) => Some((Ok(bytes), (file, at + len as u64, end))),
                    // One error, then the stream ends.
                    Err(e) => Some((Err(e), (file, end, end))),
                }
            },
        )))
    }

    /// Why an entry cannot be streamed: missing, or compressed.
    pub fn absent(&self, name: &str) -> ReadError {
        let message = if self.compressed.contains(name) {
            "is compressed; only Stored entries (all Hangar writes) can be streamed"
        } else {
            "is not in the archive"
        };
        ReadError::Entry {
            name: name.to_string(),
            message: message.into(),
        }
    }

    /// A small entry whole (a manifest), up to `limit` bytes.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Bytes, ReadError> {
        let range = self.ranges.get(name).ok_or_else(|| self.absent(name))?;
        if range.size > limit {
            return Err(ReadError::Entry {
                name: name.into(),
                message: format!("{} bytes, more than the {limit} expected", range.size),
            });
        }
        let mut buf = vec![0u8; range.size as usize];
        range
            .file
            .read_exact_at(&mut buf, range.start)
            .map_err(|e| ReadError::Entry {
                name: name.into(),
                message: e.to_string(),
            })?;
        Ok(Bytes::from(buf))
    }
}
