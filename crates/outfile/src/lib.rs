//! Writing the files hangar produces (failed lists, reports, lists, auth files): whatever the
//! user named, that is what changes.
//!
//! - A symbolic link is followed to its target (dotfile managers and mounted Kubernetes
//!   secrets are links): the target is rewritten and the link stays a link.
//! - A target that is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO, a process
//!   substitution) is opened and written. It is never renamed over or removed: as root, a
//!   rename onto `/dev/null` would replace the device with a file for the whole machine.
//! - A regular file is replaced atomically: a temporary file beside the target, synced, then
//!   renamed onto it, with the target's permission bits (and owner, where allowed), so a crash
//!   leaves the old content or the new, never half a file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Links followed before giving up (Linux's own limit for path resolution).
const MAX_LINKS: usize = 40;

/// The path a write to `path` really lands on: symbolic links followed (relative targets
/// from the link's directory), also when the final target does not exist yet.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{}: more than {MAX_LINKS} symbolic links",
        path.display()
    )))
}

/// What is at a resolved path (`given` is the path as named, which callers' errors name
/// already).
enum Target {
    Missing,
    Regular(std::fs::Metadata),
    /// A device, FIFO or socket: written in place.
    Special,
}

fn target_at(given: &Path, path: &Path) -> io::Result<Target> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::Error::other(if given == path {
            "it is a directory".to_string()
        } else {
            format!("it leads to {}, a directory", path.display())
        })),
        Ok(meta) if meta.is_file() => Ok(Target::Regular(meta)),
        Ok(_) => Ok(Target::Special),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Target::Missing),
        Err(e) => Err(e),
    }
}

/// Whether `path` names an existing regular file (through links): the only kind of output
/// an "already exists, overwrite?" question is about.
pub fn is_regular_file(path: &Path) -> bool {
    resolve(path)
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
        .is_some_and(|m| m.is_file())
}

/// Writes `bytes` to `path` (see the module documentation); a new file gets mode 0644
/// (less the umask).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut out = Replacement::begin(path)?;
    out.write_all(bytes)?;
    out.commit()
}

/// Like [`write`], but a new file is readable by its owner only (credentials).
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut out = Replacement::begin_with_mode(path, 0o600)?;
    out.write_all(bytes)?;
    out.commit()
}

/// An output being written, for content that streams (an exported file): bytes go to a
/// temporary file beside a regular target, which [`Replacement::commit`] renames onto it (a
/// replacement dropped without a commit leaves the target as it was), or straight into a
/// device or FIFO.
pub struct Replacement {
    file: File,
    /// `(temporary, target)` when the target is (or will be) a regular file.
    rename: Option<(PathBuf, PathBuf)>,
}

impl Replacement {
    pub fn begin(path: &Path) -> io::Result<Replacement> {
        Self::begin_with_mode(path, 0o644)
    }

    fn begin_with_mode(path: &Path, new_mode: u32) -> io::Result<Replacement> {
        let target = resolve(path)?;
        let existing = match target_at(path, &target)? {
            Target::Special => {
                // O_TRUNC is harmless on devices and FIFOs and empties nothing there.
                let file = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&target)?;
                return Ok(Replacement { file, rename: None });
            }
            Target::Regular(meta) => Some(meta),
            Target::Missing => None,
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let (temporary, file) = temporary_beside(&target, &dir)?;
        let replacement = Replacement {
            file,
            rename: Some((temporary, target)),
        };
        let mode = existing
            .as_ref()
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(new_mode);
        replacement
            .file
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(meta) = &existing {
            // Keeps a file root rewrites owned by its user; an unprivileged caller cannot
            // give files away, and its own files keep their owner anyway.
            let _ =
                std::os::unix::fs::fchown(&replacement.file, Some(meta.uid()), Some(meta.gid()));
        }
        Ok(replacement)
    }

    /// Makes the written content the target's.
    pub fn commit(mut self) -> io::Result<()> {
        match self.rename.take() {
            Some((temporary, target)) => {
                let done = self
                    .file
                    .sync_all()
                    .and_then(|_| std::fs::rename(&temporary, &target));
                if done.is_err() {
                    let _ = std::fs::remove_file(&temporary);
                }
                done
            }
            None => self.file.flush(),
        }
    }
}

impl io::Write for Replacement {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if let Some((temporary, _)) = self.rename.take() {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

/// A new file of our own beside `target` (created exclusively: never an existing file or a
/// link someone planted).
fn temporary_beside(target: &Path, dir: &Path) -> io::Result<(PathBuf, File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let mut attempt = 0u32;
    loop {
        let candidate = dir.join(format!(
            ".{name}.{}-{}.tmp",
            std::process::id(),
            rand::random::<u32>()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&candidate)
        {
            Ok(file) => return Ok((candidate, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Removes an output left by an earlier run (a stale failed list), only when it is a regular
/// file; a device, FIFO or directory is left alone. A link is followed and its target
/// removed, the link itself kept. True when something was removed.
pub fn remove_stale(path: &Path) -> io::Result<bool> {
    let target = resolve(path)?;
    match target_at(path, &target) {
        Ok(Target::Regular(_)) => match std::fs::remove_file(&target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        },
        Ok(Target::Missing | Target::Special) | Err(_) => Ok(false),
    }
}

/// Hangar's size column: `%.2fK` below 1e6 bytes, `%.2fM` below 1e9, else `%.2fG`, with
/// 1024-based divisors.
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1e6 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1e9 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// A CSV field, quoted when it holds a comma, quote or newline (RFC 4180).
pub fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt as _, symlink};

    #[test]
    fn regular_files_are_replaced_keeping_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // Nothing left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_private(&dir.path().join("auth.json"), b"{}").unwrap();
        let mode = std::fs::metadata(dir.path().join("auth.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_uncommitted_replacement_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exported.bin");
        write(&path, b"old").unwrap();
        {
            let mut out = Replacement::begin(&path).unwrap();
            out.write_all(b"half of the new").unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn links_are_written_through_and_stay_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/auth.json");
        std::fs::write(&target, b"old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A relative link to a relative link, as dotfile managers make them.
        symlink("real/auth.json", dir.path().join("first")).unwrap();
        symlink("first", dir.path().join("second")).unwrap();
        write(&dir.path().join("second"), b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        for link in ["first", "second"] {
            let meta = std::fs::symlink_metadata(dir.path().join(link)).unwrap();
            assert!(meta.file_type().is_symlink(), "{link} is still a link");
        }
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A dangling link gets its target created.
        symlink("real/new.txt", dir.path().join("dangling")).unwrap();
        write(&dir.path().join("dangling"), b"x").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("real/new.txt")).unwrap(),
            b"x"
        );
        // Removing through a link removes the file and keeps the link.
        assert!(remove_stale(&dir.path().join("dangling")).unwrap());
        assert!(!dir.path().join("real/new.txt").exists());
        assert!(
            std::fs::symlink_metadata(dir.path().join("dangling"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A loop is an error, not a hang.
        symlink("loop-b", dir.path().join("loop-a")).unwrap();
        symlink("loop-a", dir.path().join("loop-b")).unwrap();
        assert!(write(&dir.path().join("loop-a"), b"x").is_err());
    }

    #[test]
    fn fifos_are_written_in_place_and_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        write(&fifo, b"through the pipe\n").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe\n");
        assert!(!remove_stale(&fifo).unwrap());
        let meta = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(meta.file_type().is_fifo(), "still a FIFO");
        assert!(!is_regular_file(&fifo));
    }

    #[test]
    fn directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = write(dir.path(), b"x").unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(!remove_stale(dir.path()).unwrap());
    }
}
