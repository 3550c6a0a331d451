//! The resume journal: `<archive>.journal` lives beside an archive while it is being written.
//! Its first line says where writing started and which directory records were already there
//! (an append keeps the old ones); then one line per finished entry, written only after the
//! entry's bytes (header, data, descriptor) were handed to the kernel. A process killed at any
//! moment therefore leaves a journal that names exactly the complete entries, and `recover`
//! turns the file back into a valid archive holding all of them. Power loss is not covered
//! (the journal is not fsynced per entry; that would cost a disk flush per blob).
//!
//! A run that is stopped (Ctrl-C, SIGTERM, a full disk) rather than killed closes the archive
//! itself: a central directory makes it a valid zip, usable as a partial archive, and the
//! journal becomes a checkpoint (one line, `readable`) that marks it as not finished, so the
//! same command resumes it instead of asking to overwrite it.

use super::zipfmt::{self, CentralRecord};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error(
        "{path}: the resume journal is unreadable ({message}); remove it and the archive, then save again"
    )]
    Unreadable { path: String, message: String },
}

#[derive(Serialize, Deserialize)]
struct Base {
    base: u64,
    records: Vec<String>,
    /// A checkpoint: the archive is a valid zip with its central directory at `base`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    readable: bool,
}

/// What the journal beside an archive says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No journal: the archive is complete.
    Complete,
    /// Being written, or killed while it was: not a valid zip until recovered.
    Writing,
    /// Stopped before its work was done, and closed: a valid zip, to be resumed.
    Partial,
}

/// Whether `archive` is complete, being written, or a partial (resumable) one.
pub fn state(archive: &Path) -> State {
    let path = path_for(archive);
    let Ok(file) = File::open(&path) else {
        return if path.exists() {
            State::Writing
        } else {
            State::Complete
        };
    };
    let mut first = String::new();
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(file), &mut first);
    match serde_json::from_str::<Base>(&first) {
        Ok(base) if base.readable => State::Partial,
        _ => State::Writing,
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    entry: String,
    end: u64,
}

/// An entry being written: enough to continue it after a kill instead of fetching it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    #[serde(rename = "start")]
    pub name: String,
    pub at: u64,
    /// Where its data begins.
    pub data: u64,
    pub size: u64,
    pub large: bool,
    /// Where the bytes come from (`registry/repository`), for a ranged fetch of the rest.
    pub origin: String,
}

/// The unfinished entry an interrupted archive ends with, its bytes kept in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partial {
    pub started: Started,
    /// Bytes of data already in the file.
    pub len: u64,
}

pub struct Journal {
    file: File,
    path: PathBuf,
}

/// `<archive>.journal`.
pub fn path_for(archive: &Path) -> PathBuf {
    // A split archive's journal sits beside its parts, named after the whole (`NAME.zip`).
    let archive = super::volume::archive_path(archive);
    let mut name = archive.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Journal {
    /// Starts a journal for writing from `base` on, with `records` already in the archive. The
    /// first line is written to a temporary file and renamed, so a journal always has it whole.
    pub fn begin(
        archive: &Path,
        base: u64,
        records: &[CentralRecord],
    ) -> Result<Journal, JournalError> {
        let path = write_first_line(archive, base, records, false)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        Ok(Journal { file, path })
    }

    /// Marks `archive`, whose central directory (listing `records`) was just written at
    /// `directory`, as a partial archive to be resumed; replaces the journal it was written
    /// with.
    pub fn checkpoint(
        archive: &Path,
        directory: u64,
        records: &[CentralRecord],
    ) -> Result<(), JournalError> {
        write_first_line(archive, directory, records, true).map(|_| ())
    }

    /// Records a finished entry that ends at `end` (one `write`, so a kill never splits a line
    /// that `recover` would then trust).
    pub fn record(&mut self, record: &CentralRecord, end: u64) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(&Entry {
            entry: hex::encode(&record.raw),
            end,
        })
        .map_err(|e| io_error(&self.path, e))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| io_error(&self.path, e))
    }

    /// Records that an entry starts (before its header reaches the file; `recover` checks).
    pub fn started(&mut self, started: &Started) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(started).map_err(|e| io_error(&self.path, e))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| io_error(&self.path, e))
    }

    /// The archive is complete: the journal goes.
    pub fn remove(self) -> Result<(), JournalError> {
        std::fs::remove_file(&self.path).map_err(|e| io_error(&self.path, e))
    }
}

/// Writes a journal's first line to a temporary file and renames it into place, so a journal
/// always has it whole.
fn write_first_line(
    archive: &Path,
    base: u64,
    records: &[CentralRecord],
    readable: bool,
) -> Result<PathBuf, JournalError> {
    let path = path_for(archive);
    let mut temporary = path.clone().into_os_string();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut line = serde_json::to_vec(&Base {
        base,
        records: records.iter().map(|r| hex::encode(&r.raw)).collect(),
        readable,
    })
    .map_err(|e| io_error(&path, e))?;
    line.push(b'\n');
    let mut file = File::create(&temporary).map_err(|e| io_error(&temporary, e))?;
    file.write_all(&line)
        .and_then(|_| file.sync_all())
        .map_err(|e| io_error(&temporary, e))?;
    std::fs::rename(&temporary, &path).map_err(|e| io_error(&path, e))?;
    Ok(path)
}

/// The records a central directory lists: the last one of each name wins, so an entry written
/// again (the index on every sync) replaces the earlier one without moving any bytes.
pub fn effective(records: &[CentralRecord]) -> Vec<&CentralRecord> {
    let mut last = std::collections::HashMap::new();
    for (i, record) in records.iter().enumerate() {
        last.insert(record.name.as_str(), i);
    }
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| last[r.name.as_str()] == *i)
        .map(|(_, r)| r)
        .collect()
}

/// What `recover` kept of an interrupted archive.
#[derive(Debug)]
pub struct Recovered {
    /// Entries finished by the interrupted run and kept.
    pub entries: usize,
    /// Bytes of unfinished work cut from the end of the file.
    pub dropped_bytes: u64,
    /// The entry that was being written, kept to be continued (its bytes sit between the
    /// last complete entry and the central directory, which does not list them).
    pub partial: Option<Partial>,
}

/// Turns an interrupted archive back into a valid one when its journal exists: every entry the
/// journal vouches for (and the file really holds) is kept, the unfinished tail is cut, a
/// central directory is written, and the journal removed. `None` when there is no journal.
pub fn recover(archive: &Path) -> Result<Option<Recovered>, JournalError> {
    let path = path_for(archive);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&path, e)),
    };
    let unreadable = |message: String| JournalError::Unreadable {
        path: path.display().to_string(),
        message,
    };
    let mut lines = text.split(|b| *b == b'\n');
    let base: Base = serde_json::from_slice(lines.next().unwrap_or_default())
        .map_err(|e| unreadable(format!("first line: {e}")))?;
    let parse_record = |hex_text: &str| {
        hex::decode(hex_text)
            .ok()
            .and_then(|raw| CentralRecord::parse(&raw).map(|(r, _)| r))
    };
    let mut records = Vec::with_capacity(base.records.len());
    for hex_text in &base.records {
        records.push(parse_record(hex_text).ok_or_else(|| unreadable("a base record".into()))?);
    }
    let mut file = match super::volume::ArchiveFile::open_rw(archive, None) {
        Ok(file) => file,
        // Killed between writing the journal and creating the archive: nothing to keep.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            return Ok(None);
        }
        Err(e) => return Err(io_error(archive, e)),
    };
    let len = file.len();
    let mut end = base.base;
    let mut entries = 0;
    // A line cut short by the kill, or an entry the file does not really hold, ends the run of
    // trusted entries: everything after it is redone.
    let mut started: Option<Started> = None;
    for line in lines {
        if let Ok(start) = serde_json::from_slice::<Started>(line) {
            started = Some(start);
            continue;
        }
        let Ok(entry) = serde_json::from_slice::<Entry>(line) else {
            break;
        };
        started = None;
        let Some(record) = parse_record(&entry.entry) else {
            break;
        };
        if record.header_offset != end
            || entry.end > len
            || !zipfmt::entry_is_intact(&file, &record, entry.end)
        {
            break;
        }
        end = entry.end;
        records.push(record);
        entries += 1;
    }
    if end > len {
        return Err(unreadable(format!(
            "it starts at byte {end}, but the archive has only {len}"
        )));
    }
    // The entry being written when the kill came: its bytes are kept when its header is
    // really there (it may not have reached the file), and the directory goes after them.
    let partial = started
        .filter(|s| s.at == end && s.data <= len && s.data > s.at)
        .filter(|s| zipfmt::local_header_names(&file, s.at, &s.name))
        .map(|s| Partial {
            len: (len - s.data).min(s.size),
            started: s,
        });
    let directory_at = match &partial {
        Some(p) => p.started.data + p.len,
        None => end,
    };
    use std::io::{Seek as _, SeekFrom};
    let tail = zipfmt::directory_and_end(&effective(&records), directory_at);
    file.set_len(directory_at)
        .and_then(|_| file.seek(SeekFrom::Start(directory_at)))
        .and_then(|_| file.write_all(&tail))
        .and_then(|_| file.sync_all())
        .map_err(|e| io_error(archive, e))?;
    std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
    Ok(Some(Recovered {
        // A checkpoint's archive was closed cleanly: every entry it lists is kept, and its
        // directory was rewritten as it was.
        entries: if base.readable {
            records.len()
        } else {
            entries
        },
        dropped_bytes: if base.readable { 0 } else { len - directory_at },
        partial,
    }))
}
