//! Writing an archive: one thread owns the zip file and writes entries one at a time, while
//! async producers (image workers streaming blobs from registries) hand it chunks through a
//! bounded channel. A producer holds the entry slot from its first chunk to its last, so
//! entries never interleave; memory stays at the channel's few chunks. Every entry is
//! Stored (layers are already compressed) and marked zip64 when it reaches 4 GiB.

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use tokio::sync::{Mutex, mpsc, oneshot};
use zip::write::SimpleFileOptions;

/// Chunks in flight between a producer and the writer thread.
const CHANNEL_DEPTH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("entry {name}: {message}")]
    Entry { name: String, message: String },
    #[error("entry {name}: the source stream failed: {message}")]
    Source { name: String, message: String },
    #[error("the archive writer stopped")]
    Stopped,
}

enum Command {
    Start {
        name: String,
        large: bool,
        done: oneshot::Sender<Result<(), WriteError>>,
    },
    Data(Bytes),
    /// Ends the current entry; `Err` when the producer's stream failed (the entry is dropped).
    End {
        failed: Option<String>,
        done: oneshot::Sender<Result<u64, WriteError>>,
    },
    Finish {
        done: oneshot::Sender<Result<(), WriteError>>,
    },
}

pub struct ArchiveWriter {
    commands: mpsc::Sender<Command>,
    entry_slot: Mutex<()>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ArchiveWriter {
    /// Creates (truncates) `path` and starts the writer thread.
    pub fn create(path: &Path) -> Result<ArchiveWriter, WriteError> {
        let file = File::create(path).map_err(|e| WriteError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("archive-writer".into())
            .spawn(move || write_loop(path, file, rx))
            .map_err(|e| WriteError::Io {
                path: "archive writer thread".into(),
                message: e.to_string(),
            })?;
        Ok(ArchiveWriter {
            commands: tx,
            entry_slot: Mutex::new(()),
            thread: std::sync::Mutex::new(Some(thread)),
        })
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
        mut stream: S,
    ) -> Result<u64, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let _slot = self.entry_slot.lock().await;
        let (done, started) = oneshot::channel();
        self.send(Command::Start {
            name: name.to_string(),
            large: size_hint >= 0xFFFF_FFFF,
            done,
        })
        .await?;
        started.await.map_err(|_| WriteError::Stopped)??;
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

    /// Writes the central directory, flushes and syncs the file.
    pub async fn finish(&self) -> Result<(), WriteError> {
        let _slot = self.entry_slot.lock().await;
        let (done, finished) = oneshot::channel();
        self.send(Command::Finish { done }).await?;
        finished.await.map_err(|_| WriteError::Stopped)??;
        if let Some(t) = self.thread.lock().expect("writer thread lock").take() {
            let _ = t.join();
        }
        Ok(())
    }
}

fn write_loop(path: PathBuf, file: File, mut rx: mpsc::Receiver<Command>) {
    let io = |e: &dyn std::fmt::Display| WriteError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let mut current: Option<(String, u64, bool)> = None; // name, bytes, write failed
    while let Some(command) = rx.blocking_recv() {
        match command {
            Command::Start { name, large, done } => {
                let options = SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored)
                    .large_file(large);
                let result =
                    zip.start_file(name.as_str(), options)
                        .map_err(|e| WriteError::Entry {
                            name: name.clone(),
                            message: e.to_string(),
                        });
                if result.is_ok() {
                    current = Some((name, 0, false));
                }
                let _ = done.send(result);
            }
            Command::Data(bytes) => {
                if let Some((_, written, broken)) = current.as_mut()
                    && !*broken
                {
                    match zip.write_all(&bytes) {
                        Ok(()) => *written += bytes.len() as u64,
                        Err(_) => *broken = true,
                    }
                }
            }
            Command::End { failed, done } => {
                let result = match current.take() {
                    Some((name, _, true)) => {
                        let _ = zip.abort_file();
                        Err(WriteError::Entry {
                            name,
                            message: "write failed (disk full?)".into(),
                        })
                    }
                    Some((_, written, false)) if failed.is_none() => Ok(written),
                    Some((name, _, false)) => {
                        // A source that failed mid-way leaves no partial entry behind.
                        let _ = zip.abort_file();
                        Err(WriteError::Source {
                            name,
                            message: failed.unwrap_or_default(),
                        })
                    }
                    None => Err(WriteError::Stopped),
                };
                let _ = done.send(result);
            }
            Command::Finish { done } => {
                let result = zip
                    .finish()
                    .map_err(|e| io(&e))
                    .and_then(|mut w| w.flush().map_err(|e| io(&e)).map(|_| w))
                    .and_then(|w| w.into_inner().map_err(|e| io(&e)))
                    .and_then(|f| f.sync_all().map_err(|e| io(&e)));
                let _ = done.send(result);
                return;
            }
        }
    }
}
