//! Reading an archive: the entry table is checked once on open (no `..` or absolute names, no
//! duplicates), then entries are found by name through a map (Hangar scans linearly) and
//! Hangar's `index.json` is parsed with its version rule.

use super::index::{ArchiveIndex, IndexError};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;
use std::path::Path;

pub const INDEX_NAME: &str = "index.json";

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
    zip: zip::ZipArchive<File>,
    by_name: HashMap<String, usize>,
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

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}
fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The entry names exactly as the central directory lists them. The zip crate folds entries
/// with the same name into one, which would hide a duplicate (e.g. a second `index.json`
/// that one reader sees and another does not), so the directory is walked here.
fn central_directory_names(file: &mut File) -> Option<Vec<String>> {
    use std::io::{Seek, SeekFrom};
    let len = file.seek(SeekFrom::End(0)).ok()?;
    let tail_len = len.min(22 + 65_535 + 20);
    file.seek(SeekFrom::Start(len - tail_len)).ok()?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).ok()?;
    let eocd = (0..=tail.len().checked_sub(22)?)
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])?;
    let (mut count, mut size, mut offset) = (
        u16_at(&tail, eocd + 10)?,
        u32_at(&tail, eocd + 12)?,
        u32_at(&tail, eocd + 16)?,
    );
    if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        // Zip64: the locator just before the EOCD points at the zip64 EOCD record.
        let locator = eocd.checked_sub(20)?;
        if tail[locator..locator + 4] != [0x50, 0x4b, 0x06, 0x07] {
            return None;
        }
        let record_at = u64_at(&tail, locator + 8)?;
        file.seek(SeekFrom::Start(record_at)).ok()?;
        let mut record = [0u8; 56];
        file.read_exact(&mut record).ok()?;
        if record[..4] != [0x50, 0x4b, 0x06, 0x06] {
            return None;
        }
        count = u64_at(&record, 32)?;
        size = u64_at(&record, 40)?;
        offset = u64_at(&record, 48)?;
    }
    if size > 512 << 20 {
        return None;
    }
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut directory = vec![0u8; size as usize];
    file.read_exact(&mut directory).ok()?;
    let mut names = Vec::new();
    let mut at = 0usize;
    for _ in 0..count {
        if directory.get(at..at + 4)? != [0x50, 0x4b, 0x01, 0x02] {
            return None;
        }
        let name_len = u16_at(&directory, at + 28)? as usize;
        let extra_len = u16_at(&directory, at + 30)? as usize;
        let comment_len = u16_at(&directory, at + 32)? as usize;
        let name = directory.get(at + 46..at + 46 + name_len)?;
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(names)
}

impl ArchiveReader {
    pub fn open(path: &Path) -> Result<ArchiveReader, ReadError> {
        let open_err = |message: String| ReadError::Open {
            path: path.display().to_string(),
            message,
        };
        let mut file = File::open(path).map_err(|e| open_err(e.to_string()))?;
        let listed = central_directory_names(&mut file);
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| open_err(format!("not a readable zip archive: {e}")))?;
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
        Ok(ArchiveReader { zip, by_name })
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

    /// Hangar's `index.json`.
    pub fn index(&mut self) -> Result<ArchiveIndex, ReadError> {
        let bytes = self.read(INDEX_NAME, 256 << 20)?;
        Ok(ArchiveIndex::parse(&bytes)?)
    }
}
