//! Writing an archive: one thread owns the file and writes entries one at a time, while async
//! producers (image workers streaming blobs from registries) hand it chunks through a bounded
//! channel. A producer holds the entry slot from its first chunk to its last, so entries never
//! interleave; memory stays at the channel's few chunks. Every entry is Stored (layers are
//! already compressed), written strictly forwards (header, data, descriptor) and journaled
//! once complete, so a killed save resumes with everything it finished (see `journal.rs`).
//!
//! A producer that goes away mid-entry (its image was interrupted) leaves no bytes behind: the
//! next entry, or the end, drops them. A write that fails (a full disk) fails its entry and is
//! remembered as [`ArchiveWriter::failure`], so the run can stop and close the archive as a
//! resumable one ([`ArchiveWriter::finish_interrupted`]).

use super::journal::{self, Journal, Partial, Started};
use super::volume::ArchiveFile;
use super::zipfmt::{self, CentralRecord, DosTime, NewEntry};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use std::collections::HashSet;
use std::io::{BufWriter, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Chunks in flight between a producer and the writer thread.
const CHANNEL_DEPTH: usize = 8;
const U32_MAX: u64 = 0xFFFF_FFFF;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("entry {name}: {message}")]
    Entry { name: String, message: String },
    #[error("entry {name}: the source stream failed: {message}")]
    Source { name: String, message: String },
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error("the archive writer stopped")]
    Stopped,
}

enum Command {
    Start {
        name: String,
        size: u64,
        origin: String,
        done: oneshot::Sender<Result<(), WriteError>>,
    },
    /// Makes an entry already partly in the file the current one (see `resume`).
    Continue(Box<Current>),
    Data(Bytes),
    /// Ends the current entry; `failed` when the producer's stream failed (the entry is dropped).
    End {
        failed: Option<String>,
        done: oneshot::Sender<Result<u64, WriteError>>,
    },
    /// Writes the central directory; `complete: false` keeps the archive resumable.
    Finish {
        complete: bool,
        done: oneshot::Sender<Result<(), WriteError>>,
    },
}

pub struct ArchiveWriter {
    commands: mpsc::Sender<Command>,
    entry_slot: Mutex<()>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    existing: HashSet<String>,
    /// The first failed write to the archive or its journal.
    failure: Arc<OnceLock<String>>,
}

impl ArchiveWriter {
    /// Creates (truncates) `path` and starts the writer thread.
    pub fn create(path: &Path) -> Result<ArchiveWriter, WriteError> {
        Self::create_split(path, None)
    }

    /// Creates `path`, split in parts of `part_size` bytes (`NAME.zip.000`, …) when given.
    pub fn create_split(path: &Path, part_size: Option<u64>) -> Result<ArchiveWriter, WriteError> {
        let io = |e: std::io::Error| io_error(path, e);
        // The journal comes first: from the first byte on, a kill leaves a resumable archive.
        let journal = Journal::begin(path, 0, &[])?;
        let file = ArchiveFile::create(path, part_size).map_err(io)?;
        Self::start(path, file, journal, 0, Vec::new())
    }

    /// Opens a complete archive to add entries after the existing ones (nothing is moved or
    /// rewritten; an entry written again under an existing name replaces it in the directory).
    /// An interrupted archive must go through `journal::recover` first.
    pub fn append(path: &Path, part_size: Option<u64>) -> Result<ArchiveWriter, WriteError> {
        let io = |e: std::io::Error| io_error(path, e);
        let (mut file, directory) = open_complete(path, part_size)?;
        let journal = Journal::begin(path, directory.offset, &directory.records)?;
        // The old directory is overwritten by new entries; the journal now holds its records.
        file.set_len(directory.offset).map_err(io)?;
        file.seek(SeekFrom::Start(directory.offset)).map_err(io)?;
        Self::start(path, file, journal, directory.offset, directory.records)
    }

    /// Reopens a recovered archive to continue its unfinished entry (`partial`) in place:
    /// writing resumes right after the bytes already there, and the first thing written must
    /// be the rest of that entry (`continue_entry`). Returns the SHA-256 state of the bytes
    /// kept, for the verifying stream of the rest.
    pub fn resume(
        path: &Path,
        partial: &Partial,
        part_size: Option<u64>,
    ) -> Result<(ArchiveWriter, sha2::Sha256), WriteError> {
        use sha2::Digest as _;
        let io = |e: std::io::Error| io_error(path, e);
        let (mut file, directory) = open_complete(path, part_size)?;
        let started = &partial.started;
        let end = started.data + partial.len;
        if directory.offset != end {
            return Err(WriteError::Entry {
                name: started.name.clone(),
                message: "the kept bytes are not where the recovery left them".into(),
            });
        }
        let (mut crc, mut sha) = (crc32fast::Hasher::new(), sha2::Sha256::new());
        let mut buffer = vec![0u8; 1 << 20];
        let mut at = started.data;
        while at < end {
            let n = ((end - at) as usize).min(buffer.len());
            file.read_exact_at(&mut buffer[..n], at).map_err(io)?;
            crc.update(&buffer[..n]);
            sha.update(&buffer[..n]);
            at += n as u64;
        }
        let mut journal = Journal::begin(path, started.at, &directory.records)?;
        journal.started(started)?;
        file.set_len(end).map_err(io)?;
        file.seek(SeekFrom::Start(end)).map_err(io)?;
        let writer = Self::start(path, file, journal, end, directory.records)?;
        let current = Current {
            entry: NewEntry {
                name: started.name.clone(),
                header_offset: started.at,
                large: started.large,
                time: DosTime::now(),
            },
            crc,
            written: partial.len,
            broken: None,
        };
        writer
            .commands
            .try_send(Command::Continue(Box::new(current)))
            .map_err(|_| WriteError::Stopped)?;
        Ok((writer, sha))
    }

    fn start(
        path: &Path,
        file: ArchiveFile,
        journal: Journal,
        position: u64,
        records: Vec<CentralRecord>,
    ) -> Result<ArchiveWriter, WriteError> {
        let existing = records.iter().map(|r| r.name.clone()).collect();
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let failure = Arc::new(OnceLock::new());
        let state = State {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            position,
            records,
            journal: Some(journal),
            current: None,
            failure: failure.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("archive-writer".into())
            .spawn(move || state.run(rx))
            .map_err(|e| io_error(Path::new("archive writer thread"), e))?;
        Ok(ArchiveWriter {
            commands: tx,
            entry_slot: Mutex::new(()),
            thread: std::sync::Mutex::new(Some(thread)),
            existing,
            failure,
        })
    }

    /// Why writing to the archive failed (`No space left on device`...), once it has: every
    /// later entry is likely to fail the same way.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// The names the archive held when it was opened (an append or a resume skips them).
    pub fn existing(&self) -> &HashSet<String> {
        &self.existing
    }

    async fn send(&self, command: Command) -> Result<(), WriteError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| WriteError::Stopped)
    }

    /// Streams one entry into the archive; returns the bytes written. `size_hint` decides the
    /// zip64 marking (an OCI descriptor always knows the size).
    pub async fn write_entry<S, E>(
        &self,
        name: &str,
        size_hint: u64,
        stream: S,
    ) -> Result<u64, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.write_blob(name, size_hint, "", stream).await
    }

    /// Like `write_entry`, naming where the bytes come from (`registry/repository`) so that a
    /// kill mid-entry leaves the fetched bytes to be continued by a ranged request.
    pub async fn write_blob<S, E>(
        &self,
        name: &str,
        size_hint: u64,
        origin: &str,
        stream: S,
    ) -> Result<u64, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let _slot = self.entry_slot.lock().await;
        let (done, started) = oneshot::channel();
        self.send(Command::Start {
            name: name.to_string(),
            size: size_hint,
            origin: origin.to_string(),
            done,
        })
        .await?;
        started.await.map_err(|_| WriteError::Stopped)??;
        self.stream_into_current(name, stream).await
    }

    /// Streams the rest of the entry `resume` opened with (see `resume`); a failed or wrong
    /// continuation drops the entry's bytes, so it is fetched afresh later.
    pub async fn continue_entry<S, E>(&self, name: &str, stream: S) -> Result<u64, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let _slot = self.entry_slot.lock().await;
        self.stream_into_current(name, stream).await
    }

    async fn stream_into_current<S, E>(&self, name: &str, mut stream: S) -> Result<u64, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut failed = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => self.send(Command::Data(bytes)).await?,
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        let (done, ended) = oneshot::channel();
        self.send(Command::End {
            failed: failed.clone(),
            done,
        })
        .await?;
        let written = ended.await.map_err(|_| WriteError::Stopped)??;
        match failed {
            Some(message) => Err(WriteError::Source {
                name: name.to_string(),
                message,
            }),
            None => Ok(written),
        }
    }

    pub async fn write_bytes(&self, name: &str, bytes: Bytes) -> Result<u64, WriteError> {
        let size = bytes.len() as u64;
        let stream = futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(bytes)]);
        self.write_entry(name, size, stream).await
    }

    /// Writes the central directory, syncs the file and removes the journal.
    pub async fn finish(&self) -> Result<(), WriteError> {
        self.close(true).await
    }

    /// Closes an archive whose work was cut short (Ctrl-C, SIGTERM, a full disk): the entries
    /// written so far get a central directory, so the file is a valid zip that readers can
    /// use as a partial archive, and the journal is replaced by a checkpoint saying so, so
    /// the same save or sync resumes it. When even that cannot be written, the journal stays
    /// as it is, and resuming works as after a kill.
    pub async fn finish_interrupted(&self) -> Result<(), WriteError> {
        self.close(false).await
    }

    async fn close(&self, complete: bool) -> Result<(), WriteError> {
        let _slot = self.entry_slot.lock().await;
        let (done, finished) = oneshot::channel();
        self.send(Command::Finish { complete, done }).await?;
        finished.await.map_err(|_| WriteError::Stopped)??;
        if let Some(t) = self.thread.lock().expect("writer thread lock").take() {
            let _ = t.join();
        }
        Ok(())
    }
}

/// Opens a complete archive for writing, with its central directory.
fn open_complete(
    path: &Path,
    part_size: Option<u64>,
) -> Result<(ArchiveFile, zipfmt::CentralDirectory), WriteError> {
    let mut file = ArchiveFile::open_rw(path, part_size).map_err(|e| io_error(path, e))?;
    let directory = zipfmt::read_central_directory(&mut file).ok_or_else(|| WriteError::Io {
        path: path.display().to_string(),
        message: "not a complete zip archive (no readable central directory)".into(),
    })?;
    Ok((file, directory))
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> WriteError {
    WriteError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

struct Current {
    entry: NewEntry,
    crc: crc32fast::Hasher,
    written: u64,
    /// The first write error (disk full...): the entry is dropped at its end.
    broken: Option<String>,
}

struct State {
    path: PathBuf,
    out: BufWriter<ArchiveFile>,
    /// Where the next byte goes (the file's logical end).
    position: u64,
    records: Vec<CentralRecord>,
    journal: Option<Journal>,
    current: Option<Current>,
    failure: Arc<OnceLock<String>>,
}

impl State {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(command) = rx.blocking_recv() {
            match command {
                Command::Start {
                    name,
                    size,
                    origin,
                    done,
                } => {
                    let result = self.start_entry(name, size, origin);
                    self.reply(done, result);
                }
                Command::Continue(current) => self.current = Some(*current),
                Command::Data(bytes) => self.data(&bytes),
                Command::End { failed, done } => {
                    let result = self.end_entry(failed);
                    self.reply(done, result);
                }
                Command::Finish { complete, done } => {
                    let result = self.finish(complete);
                    self.reply(done, result);
                    return;
                }
            }
        }
        // The producers went away without finishing: the journal stays, the archive resumes.
        let _ = self.out.flush();
    }

    /// Answers a producer, remembering a failed write (not a failed source: the registry's
    /// problem, not the disk's).
    fn reply<T>(
        &self,
        done: oneshot::Sender<Result<T, WriteError>>,
        result: Result<T, WriteError>,
    ) {
        if let Err(error) = &result
            && !matches!(error, WriteError::Source { .. } | WriteError::Stopped)
        {
            let _ = self.failure.set(error.to_string());
        }
        let _ = done.send(result);
    }

    /// Drops the bytes of an entry whose producer went away without ending it (its image was
    /// interrupted): the entry slot is free again only once that producer is gone.
    fn drop_abandoned(&mut self) {
        if let Some(current) = self.current.take() {
            self.rewind(current.entry.header_offset);
        }
    }

    fn start_entry(&mut self, name: String, size: u64, origin: String) -> Result<(), WriteError> {
        self.drop_abandoned();
        let entry = NewEntry {
            name,
            header_offset: self.position,
            large: size >= U32_MAX,
            time: DosTime::now(),
        };
        if let Some(journal) = self.journal.as_mut() {
            journal.started(&Started {
                name: entry.name.clone(),
                at: entry.header_offset,
                data: entry.data_offset(),
                size,
                large: entry.large,
                origin,
            })?;
        }
        let header = entry.local_header();
        if let Err(e) = self.out.write_all(&header) {
            self.rewind(entry.header_offset);
            return Err(WriteError::Entry {
                name: entry.name,
                message: format!("write failed: {e}"),
            });
        }
        self.position += header.len() as u64;
        self.current = Some(Current {
            entry,
            crc: crc32fast::Hasher::new(),
            written: 0,
            broken: None,
        });
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) {
        let Some(current) = self.current.as_mut().filter(|c| c.broken.is_none()) else {
            return;
        };
        match self.out.write_all(bytes) {
            Ok(()) => {
                current.crc.update(bytes);
                current.written += bytes.len() as u64;
                self.position += bytes.len() as u64;
            }
            Err(e) => current.broken = Some(format!("write failed: {e}")),
        }
    }

    fn end_entry(&mut self, failed: Option<String>) -> Result<u64, WriteError> {
        let current = self.current.take().ok_or(WriteError::Stopped)?;
        let Current {
            entry,
            crc,
            written,
            broken,
        } = current;
        let problem = match (failed, broken) {
            (Some(message), _) => Some(WriteError::Source {
                name: entry.name.clone(),
                message,
            }),
            (None, Some(message)) => Some(WriteError::Entry {
                name: entry.name.clone(),
                message,
            }),
            (None, None) if written >= U32_MAX && !entry.large => Some(WriteError::Entry {
                name: entry.name.clone(),
                message: format!("{written} bytes, more than announced"),
            }),
            (None, None) => None,
        };
        if let Some(problem) = problem {
            // A source that failed mid-way leaves no partial entry behind.
            self.rewind(entry.header_offset);
            return Err(problem);
        }
        let crc = crc.finalize();
        let descriptor = entry.descriptor(crc, written);
        let flushed = self
            .out
            .write_all(&descriptor)
            .and_then(|_| self.out.flush());
        if let Err(e) = flushed {
            self.rewind(entry.header_offset);
            return Err(WriteError::Entry {
                name: entry.name,
                message: format!("write failed: {e}"),
            });
        }
        self.position += descriptor.len() as u64;
        let record = entry.central_record(crc, written);
        if let Some(journal) = self.journal.as_mut() {
            journal.record(&record, self.position)?;
        }
        self.records.push(record);
        Ok(written)
    }

    /// Drops everything from `offset` on (an entry that failed), so no partial bytes remain.
    fn rewind(&mut self, offset: u64) {
        // Bytes still buffered after a failed flush (disk full) must not land later, so the
        // buffer is discarded rather than flushed.
        if self.out.flush().is_err()
            && let Ok(clone) = self.out.get_ref().try_clone()
        {
            let stale = std::mem::replace(&mut self.out, BufWriter::with_capacity(1 << 20, clone));
            drop(stale.into_parts());
        }
        let file = self.out.get_mut();
        if file
            .set_len(offset)
            .and_then(|_| file.seek(SeekFrom::Start(offset)))
            .is_ok()
        {
            self.position = offset;
        }
    }

    fn finish(&mut self, complete: bool) -> Result<(), WriteError> {
        self.drop_abandoned();
        let io = |e: std::io::Error| io_error(&self.path, e);
        let tail = zipfmt::directory_and_end(&journal::effective(&self.records), self.position);
        self.out.write_all(&tail).map_err(io)?;
        self.out.flush().map_err(io)?;
        let end = self.position + tail.len() as u64;
        let file = self.out.get_mut();
        file.set_len(end)
            .and_then(|_| file.sync_all())
            .map_err(io)?;
        if let Some(journal) = self.journal.take() {
            if complete {
                journal.remove()?;
            } else {
                Journal::checkpoint(&self.path, self.position, &self.records)?;
            }
        }
        Ok(())
    }
}
