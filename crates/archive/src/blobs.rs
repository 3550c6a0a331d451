//! Blobs read straight out of an archive: a Stored entry is a plain byte range of the file, so
//! it streams from disk with positioned reads (no extraction, no temp files), many at once.
//! The bytes are checked by whoever consumes them (the verifying stream of a load hashes every
//! blob against its name), so a corrupted entry is never pushed.

use super::reader::{ArchiveReader, ReadError};
use bytes::Bytes;
use futures_util::Stream;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const CHUNK: usize = 256 << 10;

#[derive(Clone, Copy, Debug)]
struct Range {
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
        let mut ranges = HashMap::new();
        for (name, start, size) in reader.stored_ranges()? {
            ranges.insert(name, Range { start, size });
        }
        Ok(ArchiveBlobs {
            path: path.to_path_buf(),
            ranges,
            compressed: reader.compressed().clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size(&self, name: &str) -> Option<u64> {
        self.ranges.get(name).map(|r| r.size)
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
        let entry = *self.ranges.get(name).ok_or_else(|| self.absent(name))?;
        let offset = offset.min(entry.size);
        let range = Range {
            start: entry.start + offset,
            size: len.min(entry.size - offset),
        };
        let file = std::fs::File::open(&self.path).map_err(|e| ReadError::Open {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        let file = std::sync::Arc::new(file);
        let state = (file, range.start, range.start + range.size);
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            |(file, at, end)| async move {
                if at >= end {
                    return None;
                }
                let len = (end - at).min(CHUNK as u64) as usize;
                let reader = file.clone();
                let read = tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::FileExt as _;
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
        use std::os::unix::fs::FileExt as _;
        let range = *self.ranges.get(name).ok_or_else(|| self.absent(name))?;
        if range.size > limit {
            return Err(ReadError::Entry {
                name: name.into(),
                message: format!("{} bytes, more than the {limit} expected", range.size),
            });
        }
        let file = std::fs::File::open(&self.path).map_err(|e| ReadError::Open {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut buf = vec![0u8; range.size as usize];
        file.read_exact_at(&mut buf, range.start)
            .map_err(|e| ReadError::Entry {
                name: name.into(),
                message: e.to_string(),
            })?;
        Ok(Bytes::from(buf))
    }
}
