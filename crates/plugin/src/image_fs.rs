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
        let parts = resolve_links(path, follow_last, |parts| {
            let host = self.host_path(parts);
            match std::fs::symlink_metadata(&host) {
                Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&host)
                    .map(|t| Some(t.to_string_lossy().into_owned()))
                    .map_err(|e| format!("{path}: {e}")),
                _ => Ok(None),
            }
        })?;
        Ok(self.host_path(&parts))
    }

    fn host_path(&self, parts: &[String]) -> PathBuf {
        parts.iter().fold(self.root.clone(), |p, c| p.join(c))
    }
}

/// The components of `path` inside a tree, symlinks resolved the way the kernel would inside
/// a chroot: `..` never climbs above the root, an absolute target starts again from the root,
/// and the last component is followed only if `follow_last`. `link_of` says whether the path
/// made of `parts` is a symlink, and to what.
fn resolve_links(
    path: &str,
    follow_last: bool,
    link_of: impl Fn(&[String]) -> Result<Option<String>, String>,
) -> Result<Vec<String>, String> {
    let mut pending: Vec<String> = components(path);
    pending.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(part);
        if (!pending.is_empty() || follow_last)
            && let Some(target) = link_of(&resolved)?
        {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(format!("{path}: too many levels of symbolic links"));
            }
            resolved.pop();
            if target.starts_with('/') {
                resolved.clear();
            }
            let mut more = components(&target);
            more.reverse();
            pending.extend(more);
        }
    }
    Ok(resolved)
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

/// An image platform's merged filesystem built from its layers (OCI/Docker layer tars, plain or
/// gzip), whiteouts applied: `.wh.NAME` hides NAME from the layers below, `.wh..wh..opq`
/// hides everything the layers below had in its directory.
///
/// Each layer is read once, in order: its compressed bytes are hashed (a layer whose digest
/// does not match is refused), its tar is indexed, and the decompressed bytes are kept in an
/// unnamed temporary file so reads are positioned reads instead of decompressing again.
/// Memory holds only the index.
pub struct LayerTree {
    nodes: std::collections::BTreeMap<String, Node>,
    layers: Vec<std::fs::File>,
}

#[derive(Clone, Debug)]
struct Node {
    kind: Kind,
    size: u64,
    layer: usize,
    /// Where the file's bytes start in the layer's decompressed tar.
    offset: u64,
    /// A symlink's target.
    target: Option<String>,
}

/// Reads a layer, hashing what was read and keeping a copy of what the tar reader consumed.
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: std::io::Read, W: std::io::Write> std::io::Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
    /// Off when the caller hashes the same bytes elsewhere.
    enabled: bool,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        if self.enabled {
            self.hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// One layer to apply: its digest (`sha256:...`), media type and bytes.
pub struct Layer<R> {
    pub digest: String,
    pub media_type: String,
    pub reader: R,
    /// A hasher the caller feeds with the same bytes as they arrive (on another thread, so
    /// hashing overlaps decompression); `None`: hashed here while read.
    pub hashed_elsewhere: Option<std::sync::Arc<std::sync::Mutex<sha2::Sha256>>>,
}

/// Writes a layer's decompressed bytes to its temporary file on a thread of its own, so the
/// tar walk does not wait for the disk. At most a few chunks are in flight.
struct Spill {
    buffer: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

const SPILL_CHUNK: usize = 256 << 10;

impl Spill {
    fn new(file: std::fs::File) -> Spill {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let writer = std::thread::spawn(move || {
            use std::io::Write as _;
            let mut file = file;
            for chunk in rx {
                file.write_all(&chunk)?;
            }
            Ok(())
        });
        Spill {
            buffer: Vec::with_capacity(SPILL_CHUNK),
            tx: Some(tx),
            writer: Some(writer),
        }
    }

    /// Everything written to the file (or the writer's error).
    fn finish(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(self)?;
        drop(self.tx.take());
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the spill writer panicked")),
            None => Ok(()),
        }
    }
}

impl std::io::Write for Spill {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= SPILL_CHUNK {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(SPILL_CHUNK));
        self.tx
            .as_ref()
            .ok_or_else(|| std::io::Error::other("spill finished"))?
            .send(chunk)
            .map_err(|_| std::io::Error::other("the spill writer stopped"))
    }
}

/// `/a/b` from a tar path (`./a/b`, `a/b/`, `/a/b`).
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl LayerTree {
    /// Applies the layers in order, lowest first. Each layer is opened only when its turn
    /// comes (the iterator may start a download), so one layer streams at a time.
    pub fn build<R, I>(layers: I) -> Result<LayerTree, String>
    where
        R: std::io::Read,
        I: IntoIterator<Item = Result<Layer<R>, String>>,
    {
        let mut tree = LayerTree {
            nodes: Default::default(),
            layers: Vec::new(),
        };
        tree.nodes.insert("/".into(), Node::dir(0));
        for (index, layer) in layers.into_iter().enumerate() {
            tree.apply(index, layer?)?;
        }
        Ok(tree)
    }

    fn apply<R: std::io::Read>(&mut self, index: usize, layer: Layer<R>) -> Result<(), String> {
        use sha2::Digest as _;
        let what = format!("layer {}", layer.digest);
        let spill = tempfile::tempfile().map_err(|e| format!("{what}: temporary file: {e}"))?;
        let copy = Spill::new(spill.try_clone().map_err(|e| format!("{what}: {e}"))?);
        let shared = layer.hashed_elsewhere.clone();
        let mut hashing = Hashing {
            inner: layer.reader,
            hasher: sha2::Sha256::new(),
            enabled: shared.is_none(),
        };
        let media = layer.media_type.as_str();
        let decompressed: Box<dyn std::io::Read + '_> = if media.contains("zstd") {
            return Err(format!("{what}: zstd layers are not supported yet"));
        } else if media.ends_with("gzip")
            || media.contains("tar.gzip")
            || media.ends_with("tar+gzip")
        {
            hangar_image::gzip::decoder(&mut hashing)
        } else {
            Box::new(&mut hashing)
        };
        let mut archive = tar::Archive::new(Tee {
            inner: decompressed,
            copy,
        });
        let entries = archive.entries().map_err(|e| format!("{what}: {e}"))?;
        let mut added: Vec<(String, Node)> = Vec::new();
        let mut hidden: Vec<(String, bool)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("{what}: {e}"))?;
            let raw = entry.path().map_err(|e| format!("{what}: {e}"))?;
            let path = normalize(&raw.to_string_lossy());
            let name = path.rsplit('/').next().unwrap_or_default();
            if name == ".wh..wh..opq" {
                hidden.push((parent_of(&path).to_string(), true));
                continue;
            }
            if let Some(real) = name.strip_prefix(".wh.") {
                let dir = parent_of(&path);
                let target = if dir == "/" {
                    format!("/{real}")
                } else {
                    format!("{dir}/{real}")
                };
                hidden.push((target, false));
                continue;
            }
            let header = entry.header();
            let kind = header.entry_type();
            let node = if kind.is_dir() {
                Node::dir(index)
            } else if kind.is_symlink() {
                Node {
                    kind: Kind::Symlink,
                    size: 0,
                    layer: index,
                    offset: 0,
                    target: entry
                        .link_name()
                        .ok()
                        .flatten()
                        .map(|t| t.to_string_lossy().into_owned()),
                }
            } else if kind.is_hard_link() {
                let Some(target) = entry.link_name().ok().flatten() else {
                    continue;
                };
                let target = normalize(&target.to_string_lossy());
                // A hard link shares its target's bytes: the target came earlier in this
                // layer or lives in a lower one.
                let found = added
                    .iter()
                    .rev()
                    .find(|(p, _)| *p == target)
                    .map(|(_, n)| n.clone())
                    .or_else(|| self.nodes.get(&target).cloned());
                match found {
                    Some(node) => node,
                    None => continue,
                }
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                Node {
                    kind: Kind::File,
                    size: entry.size(),
                    layer: index,
                    offset: entry.raw_file_position(),
                    target: None,
                }
            } else {
                // Devices, fifos: nothing a scanner reads.
                continue;
            };
            added.push((path, node));
        }
        // The rest of the stream (tar padding, gzip trailer) still counts for the digest.
        let mut rest = archive.into_inner();
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| format!("{what}: {e}"))?;
        rest.copy.finish().map_err(|e| format!("{what}: {e}"))?;
        drop(rest);
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| format!("{what}: {e}"))?;
        let hasher = match shared {
            Some(shared) => shared.lock().expect("hasher lock").clone(),
            None => hashing.hasher,
        };
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != layer.digest {
            return Err(format!(
                "{what}: digest mismatch: the bytes hash to {actual}"
            ));
        }
        // Whiteouts hide what the layers below had; this layer's own entries stay.
        for (path, opaque) in hidden {
            let prefix = format!("{}/", path.trim_end_matches('/'));
            self.nodes.retain(|p, n| {
                p == "/" || n.layer == index || !(p.starts_with(&prefix) || (!opaque && *p == path))
            });
        }
        for (path, node) in added {
            self.ensure_parents(&path, index);
            // A file or link replacing a lower directory takes its contents away with it.
            if node.kind != Kind::Directory
                && self
                    .nodes
                    .get(&path)
                    .is_some_and(|n| n.kind == Kind::Directory && n.layer < index)
            {
                let prefix = format!("{path}/");
                self.nodes
                    .retain(|p, n| n.layer == index || !p.starts_with(&prefix));
            }
            if node.kind != Kind::Directory
                || !self
                    .nodes
                    .get(&path)
                    .is_some_and(|n| n.kind == Kind::Directory)
            {
                self.nodes.insert(path, node);
            }
        }
        self.layers.push(spill);
        Ok(())
    }

    fn ensure_parents(&mut self, path: &str, layer: usize) {
        let mut dir = parent_of(path);
        while dir != "/" && !self.nodes.contains_key(dir) {
            self.nodes.insert(dir.to_string(), Node::dir(layer));
            dir = parent_of(dir);
        }
    }

    /// `path` with symlinks resolved inside the tree (the last one only if `follow_last`).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, String> {
        let parts = resolve_links(path, follow_last, |parts| {
            Ok(match self.nodes.get(&format!("/{}", parts.join("/"))) {
                Some(Node {
                    kind: Kind::Symlink,
                    target,
                    ..
                }) => target.clone(),
                _ => None,
            })
        })?;
        Ok(format!("/{}", parts.join("/")))
    }
}

impl Node {
    fn dir(layer: usize) -> Node {
        Node {
            kind: Kind::Directory,
            size: 0,
            layer,
            offset: 0,
            target: None,
        }
    }
}

impl Tree for LayerTree {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, String> {
        let resolved = self.resolve(dir, true)?;
        match self.nodes.get(&resolved) {
            Some(n) if n.kind == Kind::Directory => {}
            Some(_) => return Err(format!("{dir}: not a directory")),
            None => return Err(format!("{dir}: no such file or directory")),
        }
        let prefix = if resolved == "/" {
            "/".to_string()
        } else {
            format!("{resolved}/")
        };
        let shown = if dir.ends_with('/') {
            dir.to_string()
        } else {
            format!("{dir}/")
        };
        Ok(self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, n)| Entry {
                path: format!("{shown}{}", &p[prefix.len()..]),
                kind: n.kind,
                size: n.size,
            })
            .collect())
    }

    fn read(&self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        use std::os::unix::fs::FileExt as _;
        let resolved = self.resolve(path, true)?;
        let node = match self.nodes.get(&resolved) {
            Some(n) if n.kind == Kind::File => n,
            Some(_) => return Err(format!("{path}: not a regular file")),
            None => return Err(format!("{path}: no such file or directory")),
        };
        let available = node.size.saturating_sub(offset);
        let mut buf = vec![0; available.min(len as u64) as usize];
        self.layers[node.layer]
            .read_exact_at(&mut buf, node.offset + offset)
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

#[cfg(test)]
pub(crate) mod layer_tests {
    use super::*;

    /// A layer tar: (path, content) for files, (path, "->target") for symlinks, "=>target" for
    /// hard links, a trailing `/` for directories.
    pub(crate) fn layer(entries: &[(&str, &str)], gzip: bool) -> (String, String, Vec<u8>) {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            if let Some(target) = content.strip_prefix("->") {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            } else if let Some(target) = content.strip_prefix("=>") {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            } else if path.ends_with('/') {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            } else {
                header.set_size(content.len() as u64);
                builder
                    .append_data(&mut header, path, content.as_bytes())
                    .unwrap();
            }
        }
        let tar = builder.into_inner().unwrap();
        let (media, bytes) = if gzip {
            use std::io::Write as _;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).unwrap();
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                gz.finish().unwrap(),
            )
        } else {
            ("application/vnd.oci.image.layer.v1.tar", tar)
        };
        let digest = format!("sha256:{}", crate::manifest::sha256_hex(&bytes));
        (digest, media.to_string(), bytes)
    }

    pub(crate) fn build(layers: Vec<(String, String, Vec<u8>)>) -> Result<LayerTree, String> {
        LayerTree::build(layers.into_iter().map(|(digest, media_type, bytes)| {
            Ok(Layer {
                digest,
                media_type,
                reader: std::io::Cursor::new(bytes),
                hashed_elsewhere: None,
            })
        }))
    }

    fn names(tree: &LayerTree, dir: &str) -> Vec<String> {
        tree.list(dir)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    #[test]
    fn layers_merge_with_whiteouts_links_and_opaque_directories() {
        let base = layer(
            &[
                ("usr/", ""),
                ("usr/lib/os-release", "ID=debian\n"),
                ("etc/os-release", "->../usr/lib/os-release"),
                ("usr/bin/a", "tool a 1.0"),
                ("usr/bin/b", "tool b"),
                ("opt/x/old", "old"),
                ("opt/x/keep/deep", "deep"),
                ("var/lib/dpkg/status", "Package: base\n"),
            ],
            true,
        );
        let top = layer(
            &[
                ("usr/bin/.wh.b", ""),
                ("opt/x/.wh..wh..opq", ""),
                ("opt/x/new", "new"),
                ("usr/bin/c", "=>usr/bin/a"),
                ("var/lib/dpkg/status", "Package: top\n"),
                ("lib", "->usr/lib"),
            ],
            false,
        );
        let tree = build(vec![base, top]).unwrap();
        assert_eq!(names(&tree, "/usr/bin"), ["/usr/bin/a", "/usr/bin/c"]);
        assert_eq!(
            names(&tree, "/opt/x"),
            ["/opt/x/new"],
            "opaque: the lower entries are gone"
        );
        assert_eq!(
            tree.read("/etc/os-release", 0, 100).unwrap(),
            b"ID=debian\n"
        );
        assert_eq!(tree.read("/lib/os-release", 3, 3).unwrap(), b"deb");
        assert_eq!(tree.read("/usr/bin/c", 0, 100).unwrap(), b"tool a 1.0");
        assert_eq!(
            tree.read("/var/lib/dpkg/status", 0, 100).unwrap(),
            b"Package: top\n"
        );
        assert!(
            tree.read("/usr/bin/b", 0, 1)
                .unwrap_err()
                .contains("no such file")
        );
        assert!(tree.read("/opt/x/keep/deep", 0, 1).is_err());
        let root: Vec<_> = tree
            .list("/")
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.kind))
            .collect();
        assert_eq!(
            root,
            [
                ("/etc".to_string(), Kind::Directory),
                ("/lib".to_string(), Kind::Symlink),
                ("/opt".to_string(), Kind::Directory),
                ("/usr".to_string(), Kind::Directory),
                ("/var".to_string(), Kind::Directory)
            ]
        );
        let a = tree.list("/usr/bin").unwrap();
        assert_eq!(a[0].size, 10);
        // A file over a lower directory hides the directory's contents.
        let lower = layer(&[("data/a", "1"), ("data/b/c", "2")], false);
        let upper = layer(&[("data", "now a file")], true);
        let tree = build(vec![lower, upper]).unwrap();
        assert_eq!(tree.read("/data", 0, 100).unwrap(), b"now a file");
        assert!(tree.list("/data").unwrap_err().contains("not a directory"));
        assert_eq!(names(&tree, "/"), ["/data"]);
    }

    #[test]
    fn a_layer_with_the_wrong_digest_is_refused() {
        let (_, media, bytes) = layer(&[("a", "x")], true);
        let wrong = format!("sha256:{}", "0".repeat(64));
        let refused = build(vec![(wrong.clone(), media, bytes)]).err().unwrap();
        assert!(
            refused.starts_with(&format!("layer {wrong}: digest mismatch")),
            "{refused}"
        );
        let zstd = build(vec![(
            wrong,
            "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            vec![],
        )])
        .err()
        .unwrap();
        assert!(zstd.contains("zstd layers are not supported"), "{zstd}");
    }
}

#[cfg(test)]
mod scanner_over_layers {
    use super::layer_tests::{build, layer};
    use crate::runtime::{Limits, Runtime};
    use crate::scanner::{Platform, Scanner};

    #[tokio::test(flavor = "multi_thread")]
    async fn a_scanner_reads_a_layered_image() {
        let wasm = crate::tests::plugin("census");
        let tree = build(vec![
            layer(
                &[
                    ("usr/lib/os-release", "ID=alpine\n"),
                    ("etc/os-release", "->../usr/lib/os-release"),
                    ("usr/bin/busybox", "1.36.1"),
                    ("usr/bin/gone", "0.1"),
                    ("etc/shadow", "root:*:"),
                ],
                true,
            ),
            layer(
                &[
                    ("usr/bin/.wh.gone", ""),
                    ("usr/bin/app", "2.0"),
                    ("etc/.wh.shadow", ""),
                ],
                true,
            ),
        ])
        .unwrap();
        let scanner = Scanner::load(
            Runtime::new(Limits::default(), None).unwrap(),
            "census",
            &wasm,
        )
        .await
        .unwrap();
        let platform = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        let report = scanner
            .scan("app:1", &platform, std::sync::Arc::new(tree), &[], vec![])
            .await
            .unwrap();
        let packages: Vec<_> = report
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.ecosystem.as_str()))
            .collect();
        assert_eq!(
            packages,
            [("app", "2.0", "alpine"), ("busybox", "1.36.1", "alpine")]
        );
        assert!(report.findings.is_empty(), "the whiteout hid /etc/shadow");
    }
}
