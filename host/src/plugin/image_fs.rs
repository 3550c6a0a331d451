//! The `image-fs` resource a scanner reads: one image platform's merged filesystem, behind
//! [`Tree`] so the host can back it with whatever holds the files (an unpacked root
//! filesystem here; image layers read on demand by the scan command).

use std::path::{Component, Path, PathBuf};

pub use super::scanner::hangar::plugin::image_fs::{Entry, Kind};

/// A merged, read-only file tree with container semantics: absolute paths from its root,
/// symlinks resolved inside it.
pub trait Tree: Send + Sync {
    /// Entries directly under `dir`, sorted by name; symlinks are reported, not followed.
    fn list(&self, dir: &str) -> Result<Vec<Entry>, String>;
    /// Up to `len` bytes of the file at `path` from `offset` (symlinks followed).
    fn read(&self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, String>;
}

/// The host value behind a `filesystem` handle.
pub struct Filesystem(pub std::sync::Arc<dyn Tree>);

/// A root filesystem unpacked in a directory (a chroot's view: `/` is `root`, and symlinks,
/// absolute or relative, never leave it).
pub struct DirTree {
    root: PathBuf,
}

/// Symlink hops before a path is declared a loop (Linux's limit).
const MAX_HOPS: usize = 40;

impl DirTree {
    pub fn new(root: impl Into<PathBuf>) -> DirTree {
        DirTree { root: root.into() }
    }

    /// The host path of `path` inside the tree; the last component is followed when it is a
    /// symlink only if `follow_last`.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf, String> {
        let mut pending: Vec<String> = components(path);
        pending.reverse();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                resolved.pop();
                continue;
            }
            let candidate = self.host_path(&resolved).join(&part);
            let is_last = pending.is_empty();
            match std::fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() && (!is_last || follow_last) => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(format!("{path}: too many levels of symbolic links"));
                    }
                    let target =
                        std::fs::read_link(&candidate).map_err(|e| format!("{path}: {e}"))?;
                    let target = target.to_string_lossy();
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    let mut more = components(&target);
                    more.reverse();
                    pending.extend(more);
                }
                _ => resolved.push(part),
            }
        }
        Ok(self.host_path(&resolved))
    }

    fn host_path(&self, parts: &[String]) -> PathBuf {
        parts.iter().fold(self.root.clone(), |p, c| p.join(c))
    }
}

/// The normal components of a path in the tree (`.` and empty ones dropped).
fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

impl Tree for DirTree {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, String> {
        let host = self.resolve(dir, true)?;
        let base = if dir.ends_with('/') {
            dir.to_string()
        } else {
            format!("{dir}/")
        };
        let mut entries: Vec<Entry> = std::fs::read_dir(&host)
            .map_err(|e| format!("{dir}: {e}"))?
            .flatten()
            .filter_map(|e| {
                let meta = e.path().symlink_metadata().ok()?;
                let kind = if meta.file_type().is_symlink() {
                    Kind::Symlink
                } else if meta.is_dir() {
                    Kind::Directory
                } else {
                    Kind::File
                };
                Some(Entry {
                    path: format!("{base}{}", e.file_name().to_string_lossy()),
                    kind,
                    size: if matches!(kind, Kind::File) {
                        meta.len()
                    } else {
                        0
                    },
                })
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    fn read(&self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        use std::io::{Read as _, Seek as _};
        let host = self.resolve(path, true)?;
        let mut file = std::fs::File::open(&host).map_err(|e| format!("{path}: {e}"))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(format!("{path}: is a directory"));
        }
        file.seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| format!("{path}: {e}"))?;
        let mut buf = Vec::new();
        file.take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|e| format!("{path}: {e}"))?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("usr/lib/os-release"), "ID=debian\n").unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/escape")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("etc/loop")).unwrap();
        let tree = DirTree::new(root);
        assert_eq!(
            tree.read("/etc/os-release", 0, 100).unwrap(),
            b"ID=debian\n"
        );
        assert_eq!(tree.read("/etc/os-release", 3, 3).unwrap(), b"deb");
        // An absolute link resolves inside the tree, where there is no passwd.
        assert!(tree.read("/etc/escape", 0, 10).is_err());
        assert!(tree.read("/../../etc/os-release", 0, 2).is_ok());
        assert!(
            tree.read("/etc/loop", 0, 1)
                .unwrap_err()
                .contains("too many levels")
        );
        let listed = tree.list("/etc").unwrap();
        let names: Vec<_> = listed.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(
            names,
            [
                ("/etc/escape", Kind::Symlink),
                ("/etc/loop", Kind::Symlink),
                ("/etc/os-release", Kind::Symlink)
            ]
        );
        assert_eq!(tree.list("/").unwrap().len(), 2);
    }
}
