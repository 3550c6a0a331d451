//! An archive's bytes: one file, or parts `NAME.zip.000`, `NAME.zip.001`, … of a fixed size
//! (the last shorter) whose concatenation is exactly the zip, so `cat NAME.zip.* > NAME.zip`
//! gives an archive any zip reader (Hangar's included) opens. Readers and the writer see one
//! run of bytes either way: offsets in the zip records are offsets in the concatenation.
//!
//! Every read and write is positioned (`pread`/`pwrite` on the part holding the offset), so a
//! blob that straddles two parts streams across the boundary like any other.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// Parts of a split archive are numbered with at least this many digits.
const DIGITS: usize = 3;

#[derive(Debug)]
struct Part {
    path: PathBuf,
    file: File,
    len: u64,
}

/// An archive file, whole or split, with a cursor for `Read`/`Write`/`Seek`.
#[derive(Debug)]
pub struct ArchiveFile {
    /// The archive's name (`NAME.zip`), whole or split.
    path: PathBuf,
    parts: Vec<Part>,
    /// The size of every part but the last, when split.
    part_size: Option<u64>,
    writable: bool,
    pos: u64,
}

/// The name of part `n` of the split archive `path`.
pub fn part_path(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n:0DIGITS$}"));
    PathBuf::from(name)
}

/// The archive a path names: `NAME.zip.000` (or any part) stands for `NAME.zip`.
pub fn archive_path(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    if let Some((base, number)) = text.rsplit_once('.')
        && number.len() >= DIGITS
        && number.bytes().all(|b| b.is_ascii_digit())
        && !Path::new(base).is_file()
        && part_path(Path::new(base), 0).exists()
    {
        return PathBuf::from(base);
    }
    path.to_path_buf()
}

/// The parts of the split archive `path`, in order, if it is one (`path` itself is absent
/// and `path.000` exists). A gap in the numbering is an error naming the missing part.
pub fn split_parts(path: &Path) -> io::Result<Option<Vec<PathBuf>>> {
    if path.exists() || !part_path(path, 0).exists() {
        return Ok(None);
    }
    let mut parts = Vec::new();
    while part_path(path, parts.len()).exists() {
        parts.push(part_path(path, parts.len()));
    }
    // A later part beyond a gap means one in between is missing.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = path
        .file_name()
        .map(|n| format!("{}.", n.to_string_lossy()))
        .unwrap_or_default();
    let highest = std::fs::read_dir(&dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let number = name.strip_prefix(&stem)?;
            (number.len() >= DIGITS && number.bytes().all(|b| b.is_ascii_digit()))
                .then(|| number.parse::<usize>().ok())
                .flatten()
        })
        .max();
    if let Some(highest) = highest
        && highest >= parts.len()
    {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "part {} of the split archive is missing ({} parts found before it, {} after)",
                part_path(path, parts.len()).display(),
                parts.len(),
                part_path(path, highest).display()
            ),
        ));
    }
    Ok(Some(parts))
}

/// The file holding an archive's first bytes: `path` itself, or its first part when it is
/// split (what an overwrite question or a `stat` is about).
pub fn first_file(path: &Path) -> PathBuf {
    let archive = archive_path(path);
    if !archive.exists() && part_path(&archive, 0).exists() {
        part_path(&archive, 0)
    } else {
        archive
    }
}

/// Whether an archive exists at `path`, whole or split.
pub fn exists(path: &Path) -> bool {
    path.exists() || part_path(path, 0).exists()
}

impl ArchiveFile {
    /// Opens an archive to read: `path` names it (`NAME.zip`) or any of its parts.
    pub fn open(path: &Path) -> io::Result<ArchiveFile> {
        Self::open_with(&archive_path(path), false, None)
    }

    /// Opens an archive to read and write (append, resume, recovery). A split archive keeps
    /// its part size: `part_size` when given, else the size of its first part when it has
    /// more than one.
    pub fn open_rw(path: &Path, part_size: Option<u64>) -> io::Result<ArchiveFile> {
        Self::open_with(&archive_path(path), true, part_size)
    }

    fn open_with(path: &Path, writable: bool, part_size: Option<u64>) -> io::Result<ArchiveFile> {
        let open = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(writable)
                .open(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
        };
        let (paths, split) = match split_parts(path)? {
            Some(parts) => (parts, true),
            None => (vec![path.to_path_buf()], false),
        };
        let mut parts = Vec::with_capacity(paths.len());
        for p in paths {
            let file = open(&p)?;
            let len = file.metadata()?.len();
            parts.push(Part { path: p, file, len });
        }
        let part_size = match (split, part_size) {
            (false, _) => None,
            (true, Some(size)) => Some(size),
            (true, None) if parts.len() > 1 => Some(parts[0].len),
            // One part: it may grow without bound, as a single file would.
            (true, None) => Some(u64::MAX),
        };
        Ok(ArchiveFile {
            path: path.to_path_buf(),
            parts,
            part_size,
            writable,
            pos: 0,
        })
    }

    /// Creates (truncates) an archive, whole or split in parts of `part_size` bytes. Parts
    /// and files an earlier archive of that name left are removed.
    pub fn create(path: &Path, part_size: Option<u64>) -> io::Result<ArchiveFile> {
        let path = archive_path(path);
        let create = |p: &Path| {
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))
        };
        remove_parts(&path)?;
        let first = match part_size {
            Some(_) => {
                if path.is_file() {
                    std::fs::remove_file(&path)?;
                }
                part_path(&path, 0)
            }
            None => path.clone(),
        };
        let file = create(&first)?;
        Ok(ArchiveFile {
            path,
            parts: vec![Part {
                path: first,
                file,
                len: 0,
            }],
            part_size: part_size.map(|s| s.max(1)),
            writable: true,
            pos: 0,
        })
    }

    pub fn is_split(&self) -> bool {
        self.part_size.is_some()
    }

    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    pub fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The part holding byte `at`: (index, offset of the part's first byte).
    fn locate(&self, at: u64) -> Option<(usize, u64)> {
        let mut start = 0;
        for (i, part) in self.parts.iter().enumerate() {
            if at < start + part.len {
                return Some((i, start));
            }
            start += part.len;
        }
        None
    }

    /// The files `len` bytes from `at` live in, for messages about a damaged entry.
    pub fn files_holding(&self, at: u64, len: u64) -> Vec<&Path> {
        let first = self.locate(at).map_or(0, |(i, _)| i);
        let last = self
            .locate(at + len.max(1) - 1)
            .map_or(self.parts.len() - 1, |(i, _)| i);
        self.parts[first..=last.max(first)]
            .iter()
            .map(|p| p.path.as_path())
            .collect()
    }

    /// Reads exactly `buf.len()` bytes at `at`, across parts.
    pub fn read_exact_at(&self, mut buf: &mut [u8], mut at: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let Some((i, start)) = self.locate(at) else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: {} bytes at offset {at} go past the end ({} bytes)",
                        self.path.display(),
                        buf.len(),
                        self.len()
                    ),
                ));
            };
            let part = &self.parts[i];
            let offset = at - start;
            let n = (buf.len() as u64).min(part.len - offset) as usize;
            part.file
                .read_exact_at(&mut buf[..n], offset)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", part.path.display())))?;
            buf = &mut buf[n..];
            at += n as u64;
        }
        Ok(())
    }

    /// Writes `buf` at `at` (at most the end), starting new parts as each fills.
    fn write_at(&mut self, mut buf: &[u8], mut at: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::other("archive opened read-only"));
        }
        while !buf.is_empty() {
            let limit = self.part_size.unwrap_or(u64::MAX);
            let mut start: u64 = self.parts[..self.parts.len() - 1]
                .iter()
                .map(|p| p.len)
                .sum();
            // The part to write in: the one holding `at`, else the last (appending), else a
            // new one when the last is full.
            let (i, part_start) = match self.locate(at) {
                Some(found) => found,
                None => {
                    let last = self.parts.len() - 1;
                    if self.parts[last].len >= limit {
                        start += self.parts[last].len;
                        let path = part_path(&self.path, self.parts.len());
                        let file = File::options()
                            .read(true)
                            .write(true)
                            .create(true)
                            .truncate(true)
                            .open(&path)
                            .map_err(|e| {
                                io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                            })?;
                        self.parts.push(Part { path, file, len: 0 });
                        (self.parts.len() - 1, start)
                    } else {
                        (last, start)
                    }
                }
            };
            let part = &mut self.parts[i];
            let offset = at - part_start;
            let room = limit.saturating_sub(offset);
            let n = (buf.len() as u64).min(room) as usize;
            part.file
                .write_all_at(&buf[..n], offset)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", part.path.display())))?;
            part.len = part.len.max(offset + n as u64);
            buf = &buf[n..];
            at += n as u64;
        }
        Ok(())
    }

    /// Cuts the archive to `len` bytes: later parts are removed, the one holding the end is
    /// truncated.
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut start = 0;
        let mut keep = None;
        for (i, part) in self.parts.iter_mut().enumerate() {
            if len <= start + part.len {
                part.file.set_len(len - start)?;
                part.len = len - start;
                keep = Some(i + 1);
                break;
            }
            start += part.len;
        }
        let Some(keep) = keep else {
            // Growing (with zeros): the last part takes it.
            let last = self.parts.len() - 1;
            let part = &mut self.parts[last];
            let new_len = len - (start - part.len);
            part.file.set_len(new_len)?;
            part.len = new_len;
            return Ok(());
        };
        for part in self.parts.drain(keep..) {
            std::fs::remove_file(&part.path)?;
        }
        // A cut exactly at a part's end leaves it full; the next write starts a new part.
        Ok(())
    }

    pub fn sync_all(&self) -> io::Result<()> {
        for part in &self.parts {
            part.file.sync_all()?;
        }
        Ok(())
    }

    /// Another handle on the same parts (and the same cursor).
    pub fn try_clone(&self) -> io::Result<ArchiveFile> {
        let mut parts = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            parts.push(Part {
                path: part.path.clone(),
                file: part.file.try_clone()?,
                len: part.len,
            });
        }
        Ok(ArchiveFile {
            path: self.path.clone(),
            parts,
            part_size: self.part_size,
            writable: self.writable,
            pos: self.pos,
        })
    }
}

/// Removes the parts of an earlier split archive named `path` (a new archive of that name).
fn remove_parts(path: &Path) -> io::Result<()> {
    let mut n = 0;
    while part_path(path, n).exists() {
        std::fs::remove_file(part_path(path, n))?;
        n += 1;
    }
    Ok(())
}

impl Read for ArchiveFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some((i, start)) = self.locate(self.pos) else {
            return Ok(0);
        };
        let part = &self.parts[i];
        let offset = self.pos - start;
        let n = (buf.len() as u64).min(part.len - offset) as usize;
        let read = part.file.read_at(&mut buf[..n], offset)?;
        self.pos += read as u64;
        Ok(read)
    }
}

impl Write for ArchiveFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for ArchiveFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_concatenate_to_the_bytes_written_and_cuts_cross_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        let bytes: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        let mut file = ArchiveFile::create(&path, Some(1000)).unwrap();
        file.write_all(&bytes[..700]).unwrap();
        file.write_all(&bytes[700..]).unwrap();
        assert_eq!(file.parts(), 3);
        assert!(!path.exists());
        let cat: Vec<u8> = (0..3)
            .flat_map(|n| std::fs::read(part_path(&path, n)).unwrap())
            .collect();
        assert_eq!(cat, bytes);
        // Reads across a boundary, through any part's name.
        let reader = ArchiveFile::open(&part_path(&path, 1)).unwrap();
        let mut buf = vec![0u8; 300];
        reader.read_exact_at(&mut buf, 850).unwrap();
        assert_eq!(buf, bytes[850..1150]);
        // A cut inside part 1 removes part 2; writing again continues in the right place.
        let mut rw = ArchiveFile::open_rw(&path, None).unwrap();
        rw.set_len(1200).unwrap();
        assert_eq!((rw.parts(), rw.len()), (2, 1200));
        assert!(!part_path(&path, 2).exists());
        rw.seek(SeekFrom::Start(1200)).unwrap();
        rw.write_all(&bytes[1200..]).unwrap();
        let cat: Vec<u8> = (0..3)
            .flat_map(|n| std::fs::read(part_path(&path, n)).unwrap())
            .collect();
        assert_eq!(cat, bytes);
        // A cut on a boundary leaves the full part; the next byte starts a new one.
        rw.set_len(2000).unwrap();
        assert_eq!(rw.parts(), 2);
        rw.seek(SeekFrom::Start(2000)).unwrap();
        rw.write_all(b"x").unwrap();
        assert_eq!(std::fs::read(part_path(&path, 2)).unwrap(), b"x");
        // A missing part in the middle is named.
        std::fs::remove_file(part_path(&path, 1)).unwrap();
        let err = ArchiveFile::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("a.zip.001 of the split archive is missing"),
            "{err}"
        );
        // A new archive of the same name removes the old parts.
        let again = ArchiveFile::create(&path, None).unwrap();
        assert!(path.exists() && !part_path(&path, 0).exists() && again.is_empty());
    }
}
