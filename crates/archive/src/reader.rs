//! Reading an archive: the entry table is checked once on open (no `..` or absolute names, no
//! duplicates), then entries are found by name through a map (Hangar scans linearly) and
//! Hangar's `index.json` is parsed with its version rule.

use super::index::{ArchiveIndex, IndexError};
use super::volume::ArchiveFile;
use super::zipfmt;
use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

pub const INDEX_NAME: &str = "index.json";

/// What a gzip file given as an archive is: Hangar wrote `tar.gz` archives (optionally split
/// in `.partN` volumes) up to v1.6, and zip since v1.7.
pub const PRE_ZIP: &str = "this is a Hangar archive from before v1.7 (tar.gz), which hangar \
                           does not read: load it into a registry with Hangar v1.6, then save \
                           the images again";

/// Whether the file starts with gzip's magic bytes (1f 8b).
fn gzip_file(file: &ArchiveFile) -> bool {
    let mut magic = [0u8; 2];
    file.read_exact_at(&mut magic, 0)
        .is_ok_and(|()| magic == [0x1f, 0x8b])
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {message}")]
    Open { path: String, message: String },
    #[error("entry {name:?}: {message}")]
    Entry { name: String, message: String },
    #[error("file {0:?} not found in archive")]
    Missing(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}

pub struct ArchiveReader {
    zip: zip::ZipArchive<ArchiveFile>,
    by_name: HashMap<String, usize>,
    file_len: u64,
    /// Entries that are not Stored (seen by `stored_ranges`).
    compressed: std::collections::HashSet<String>,
}

/// A name an archive may hold: relative, `/`-separated, no `..`, nothing absolute.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains(':')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

impl ArchiveReader {
    pub fn open(path: &Path) -> Result<ArchiveReader, ReadError> {
        let open_err = |message: String| ReadError::Open {
            path: path.display().to_string(),
            message,
        };
        match super::journal::state(path) {
            super::journal::State::Complete => {}
            super::journal::State::Partial => tracing::warn!(
                "{} is a partial archive (its save or sync was stopped); it holds what was \
                 finished, and the same command completes it",
                path.display()
            ),
            super::journal::State::Writing => {
                return Err(open_err(
                    "the archive was interrupted while being written; re-run the same save or \
                     sync to resume it"
                        .into(),
                ));
            }
        }
        let mut file = ArchiveFile::open(path).map_err(|e| open_err(e.to_string()))?;
        let file_len = file.len();
        let (split, parts) = (file.is_split(), file.parts());
        let magic_gzip = gzip_file(&file);
        // The zip crate folds entries with the same name into one, which would hide a
        // duplicate (e.g. a second `index.json` one reader sees and another does not), so the
        // directory is also walked here.
        let listed: Option<Vec<String>> = zipfmt::read_central_directory(&mut file)
            .map(|d| d.records.into_iter().map(|r| r.name).collect());
        let last_part =
            super::volume::part_path(&super::volume::archive_path(path), parts.max(1) - 1);
        let unreadable = |e: zip::result::ZipError| {
            if magic_gzip {
                PRE_ZIP.to_string()
            } else if split && listed.is_none() {
                format!(
                    "split in parts, but the zip directory is not at the end of the last one \
                     found ({}, {parts} parts): a later part is missing or that one was cut short",
                    last_part.display()
                )
            } else {
                format!("not a readable zip archive: {e}")
            }
        };
        let mut zip = zip::ZipArchive::new(file).map_err(|e| open_err(unreadable(e)))?;
        if let Some(listed) = listed {
            let mut seen = std::collections::HashSet::new();
            if let Some(twice) = listed.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(ReadError::Entry {
                    name: twice.clone(),
                    message: "appears twice in the archive".into(),
                });
            }
        }
        let mut by_name = HashMap::new();
        for i in 0..zip.len() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| open_err(format!("entry {i}: {e}")))?;
            let name = entry
                .name()
                .map_err(|e| open_err(format!("entry {i}: name is not valid text: {e}")))?
                .to_string();
            if entry.is_dir() {
                continue;
            }
            if !safe_name(&name) {
                return Err(ReadError::Entry {
                    name,
                    message: "unsafe name (absolute or with ..); refusing the archive".into(),
                });
            }
            if by_name.insert(name.clone(), i).is_some() {
                return Err(ReadError::Entry {
                    name,
                    message: "appears twice in the archive".into(),
                });
            }
        }
        Ok(ArchiveReader {
            zip,
            by_name,
            file_len,
            compressed: Default::default(),
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Reads a small entry whole (layouts, the index), up to `limit` bytes.
    pub fn read(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, ReadError> {
        let index = *self
            .by_name
            .get(name)
            .ok_or_else(|| ReadError::Missing(name.to_string()))?;
        let entry_err = |message: String| ReadError::Entry {
            name: name.to_string(),
            message,
        };
        let mut entry = self
            .zip
            .by_index(index)
            .map_err(|e| entry_err(e.to_string()))?;
        if entry.size() > limit {
            return Err(entry_err(format!(
                "{} bytes, more than the {limit} expected",
                entry.size()
            )));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| entry_err(e.to_string()))?;
        Ok(bytes)
    }

    /// `(name, data offset, size)` of every Stored entry.
    pub fn stored_ranges(&mut self) -> Result<Vec<(String, u64, u64)>, ReadError> {
        let mut ranges = Vec::with_capacity(self.by_name.len());
        let file_len = self.file_len;
        for (name, &index) in &self.by_name {
            let entry = self.zip.by_index_raw(index).map_err(|e| ReadError::Entry {
                name: name.clone(),
                message: e.to_string(),
            })?;
            if entry.compression() != zip::CompressionMethod::Stored {
                // Hangar never compresses; such an entry is named when it is asked for.
                self.compressed.insert(name.clone());
                continue;
            }
            if let Some(start) = entry.data_start() {
                let size = entry.compressed_size();
                if start.checked_add(size).is_none_or(|end| end > file_len) {
                    return Err(ReadError::Entry {
                        name: name.clone(),
                        message: format!(
                            "its {size} bytes at offset {start} go past the end of the archive \
                             ({file_len} bytes): truncated or corrupted"
                        ),
                    });
                }
                ranges.push((name.clone(), start, size));
            }
        }
        Ok(ranges)
    }

    /// Entries found compressed by `stored_ranges`.
    pub fn compressed(&self) -> &std::collections::HashSet<String> {
        &self.compressed
    }

    /// Hangar's `index.json`.
    pub fn index(&mut self) -> Result<ArchiveIndex, ReadError> {
        let bytes = self.read(INDEX_NAME, 256 << 20)?;
        Ok(ArchiveIndex::parse(&bytes)?)
    }
}
