//! An image of an OCI image layout directory (image-spec's `oci-layout`, `index.json` and
//! `blobs/<algorithm>/<hex>`), as buildah, skopeo's `oci:` transport, umoci, oras and
//! hangar's own `package/build` write them. The image is the `index.json` entry whose
//! `org.opencontainers.image.ref.name` annotation is the tag asked for (the only entry when no
//! tag is asked). Every manifest read is checked against its digest; blobs stream from their
//! files and are checked by the copy as any other source's.

use super::{Attachments, Fut, OpenBlob, Source, Top};
use crate::outcome::{CopyError, malformed};
use bytes::Bytes;
use futures_util::StreamExt as _;
use hangar_image::digest::Digest;
use hangar_image::media;
use hangar_registry::Manifest;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Largest manifest or index.json read from a layout.
const MANIFEST_LIMIT: u64 = 16 << 20;
/// The annotation naming an index.json entry (a tag, or a whole reference).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Read size for blob files.
const CHUNK: usize = 256 << 10;

pub struct LayoutSource {
    dir: PathBuf,
    tag: Option<String>,
    top: OnceLock<Top>,
}

impl LayoutSource {
    pub fn new(dir: impl Into<PathBuf>, tag: Option<String>) -> Self {
        LayoutSource {
            dir: dir.into(),
            tag,
            top: OnceLock::new(),
        }
    }

    /// `oci:DIR:TAG`, as skopeo writes the transport.
    fn what(&self) -> String {
        match &self.tag {
            Some(tag) => format!("oci:{}:{tag}", self.dir.display()),
            None => format!("oci:{}", self.dir.display()),
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let (algorithm, hex) = digest
            .as_str()
            .split_once(':')
            .unwrap_or(("sha256", digest.as_str()));
        self.dir.join("blobs").join(algorithm).join(hex)
    }

    /// A manifest of the layout, checked against its digest.
    fn read(&self, digest: &Digest, listed_type: Option<&str>) -> Result<Manifest, CopyError> {
        let path = self.blob_path(digest);
        let bytes = read_small(&path).map_err(|e| malformed(self.what(), e))?;
        if Digest::sha256_of(&bytes) != *digest {
            return Err(malformed(
                self.what(),
                format!("{} does not match its digest", path.display()),
            ));
        }
        let media_type = listed_type
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .or_else(|| {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            })
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        Ok(Manifest {
            bytes: Bytes::from(bytes),
            media_type,
            digest: digest.clone(),
        })
    }

    /// The `index.json` entries, after checking the directory is a layout at all.
    fn entries(&self) -> Result<Vec<serde_json::Value>, CopyError> {
        let marker = self.dir.join("oci-layout");
        if !marker.is_file() {
            return Err(malformed(
                self.what(),
                format!("not an OCI image layout ({} is missing)", marker.display()),
            ));
        }
        let path = self.dir.join("index.json");
        let bytes = read_small(&path).map_err(|e| malformed(self.what(), e))?;
        let index: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(self.what(), format!("{}: {e}", path.display())))?;
        Ok(index["manifests"].as_array().cloned().unwrap_or_default())
    }

    /// The entry named `name` (a tag, or a reference ending in `:tag`, as skopeo records
    /// either); with no name, the layout's only entry.
    fn find(&self, name: Option<&str>) -> Result<(Digest, Option<String>), CopyError> {
        let entries = self.entries()?;
        let named = |entry: &&serde_json::Value| {
            let Some(ref_name) = entry["annotations"][REF_NAME].as_str() else {
                return false;
            };
            match name {
                Some(name) => ref_name == name || ref_name.ends_with(&format!(":{name}")),
                None => true,
            }
        };
        let found: Vec<&serde_json::Value> = match name {
            Some(_) => entries.iter().filter(named).collect(),
            None => entries.iter().collect(),
        };
        let entry = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(malformed(
                    self.what(),
                    match name {
                        Some(name) => format!("no image named {name:?} in index.json"),
                        None => "index.json lists no image".to_string(),
                    },
                ));
            }
            many => {
                return Err(malformed(
                    self.what(),
                    format!(
                        "index.json lists {} images; name one (oci:DIR:TAG)",
                        many.len()
                    ),
                ));
            }
        };
        let digest: Digest = entry["digest"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e| malformed(self.what(), format!("index.json: {e}")))?;
        Ok((digest, entry["mediaType"].as_str().map(str::to_string)))
    }
}

fn read_small(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MANIFEST_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MANIFEST_LIMIT {
        return Err(format!(
            "{}: larger than {MANIFEST_LIMIT} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

impl Source for LayoutSource {
    fn name(&self) -> String {
        self.what()
    }

    fn top(&self) -> Fut<'_, Top> {
        Box::pin(async move {
            if let Some(top) = self.top.get() {
                return Ok(top.clone());
            }
            let (digest, media_type) = self.find(self.tag.as_deref())?;
            let top = Top {
                manifest: self.read(&digest, media_type.as_deref())?,
                original: true,
                referrers_of: None,
            };
            Ok(self.top.get_or_init(|| top).clone())
        })
    }

    fn manifest<'a>(&'a self, reference: &'a str) -> Fut<'a, Manifest> {
        Box::pin(async move {
            match reference.parse::<Digest>() {
                Ok(digest) => self.read(&digest, None),
                Err(_) => {
                    let (digest, media_type) = self.find(Some(reference))?;
                    self.read(&digest, media_type.as_deref())
                }
            }
        })
    }

    fn blob_bytes<'a>(&'a self, digest: &'a Digest, limit: usize) -> Fut<'a, Bytes> {
        Box::pin(async move {
            let path = self.blob_path(digest);
            let file = std::fs::File::open(&path)
                .map_err(|e| malformed(self.what(), format!("{}: {e}", path.display())))?;
            let mut bytes = Vec::new();
            file.take(limit as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| malformed(self.what(), format!("{}: {e}", path.display())))?;
            if bytes.len() > limit {
                return Err(malformed(
                    self.what(),
                    format!("{}: larger than {limit} bytes", path.display()),
                ));
            }
            Ok(Bytes::from(bytes))
        })
    }

    fn open_blob<'a>(&'a self, digest: &'a Digest) -> Fut<'a, OpenBlob> {
        Box::pin(async move {
            let path = self.blob_path(digest);
            let what = format!("{} ({})", self.what(), path.display());
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| malformed(&what, e))?;
            let size = file.metadata().await.ok().map(|m| m.len());
            let body = tokio_util::io::ReaderStream::with_capacity(file, CHUNK).boxed();
            Ok(OpenBlob { body, size, what })
        })
    }

    fn blob_size<'a>(&'a self, digest: &'a Digest) -> Fut<'a, Option<u64>> {
        Box::pin(async move {
            Ok(std::fs::metadata(self.blob_path(digest))
                .ok()
                .map(|m| m.len()))
        })
    }

    /// Attachments in a layout are entries of their own (`sha256-HEX.sig`): they are copied
    /// when the list names them.
    fn attachments<'a>(&'a self, _: &'a [Digest]) -> Fut<'a, Attachments> {
        Box::pin(async { Ok(Attachments::default()) })
    }

    fn refetch_helps(&self) -> bool {
        false
    }

    fn layout(&self) -> Option<(&Path, &str)> {
        Some((&self.dir, self.tag.as_deref().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_blob(dir: &Path, bytes: &[u8]) -> Digest {
        let digest = Digest::sha256_of(bytes);
        let hex = digest.as_str().trim_start_matches("sha256:");
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("blobs/sha256").join(hex), bytes).unwrap();
        digest
    }

    fn layout(names: &[&str]) -> (tempfile::TempDir, Digest, Digest) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let layer = write_blob(dir.path(), b"layer bytes");
        let config = write_blob(dir.path(), b"{}");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":11}}]}}"#,
            media::OCI_MANIFEST
        );
        let top = write_blob(dir.path(), manifest.as_bytes());
        let entries: Vec<String> = names
            .iter()
            .map(|name| {
                format!(
                    r#"{{"mediaType":"{}","digest":"{top}","size":{},"annotations":{{"{REF_NAME}":"{name}"}}}}"#,
                    media::OCI_MANIFEST,
                    manifest.len()
                )
            })
            .collect();
        std::fs::write(
            dir.path().join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
                entries.join(",")
            ),
        )
        .unwrap();
        (dir, top, layer)
    }

    #[tokio::test]
    async fn the_named_entry_is_the_top_and_blobs_stream_from_their_files() {
        let (dir, top, layer) = layout(&["0.1.0", "docker.io/cnrancher/hangar:latest"]);
        let source = LayoutSource::new(dir.path(), Some("0.1.0".into()));
        let got = source.top().await.unwrap();
        assert_eq!(got.manifest.digest, top);
        assert_eq!(got.manifest.media_type, media::OCI_MANIFEST);
        // A whole reference recorded as the name answers to its tag.
        let latest = LayoutSource::new(dir.path(), Some("latest".into()));
        assert_eq!(latest.top().await.unwrap().manifest.digest, top);
        let mut blob = source.open_blob(&layer).await.unwrap();
        assert_eq!(blob.size, Some(11));
        let mut read = Vec::new();
        while let Some(chunk) = blob.body.next().await {
            read.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(read, b"layer bytes");
        assert_eq!(source.blob_size(&layer).await.unwrap(), Some(11));
    }

    #[tokio::test]
    async fn missing_ambiguous_and_corrupt_layouts_say_why() {
        let (dir, top, _) = layout(&["a", "b"]);
        let either = LayoutSource::new(dir.path(), None);
        let err = either.top().await.unwrap_err().to_string();
        assert!(err.contains("lists 2 images; name one"), "{err}");
        let absent = LayoutSource::new(dir.path(), Some("c".into()));
        let err = absent.top().await.unwrap_err().to_string();
        assert!(err.contains("no image named \"c\""), "{err}");
        // A manifest whose bytes changed is refused, naming its file.
        let hex = top.as_str().trim_start_matches("sha256:");
        std::fs::write(dir.path().join("blobs/sha256").join(hex), b"{}").unwrap();
        let named = LayoutSource::new(dir.path(), Some("a".into()));
        let err = named.top().await.unwrap_err().to_string();
        assert!(err.contains("does not match its digest"), "{err}");
        let nowhere = LayoutSource::new(dir.path().join("nothing"), None);
        let err = nowhere.top().await.unwrap_err().to_string();
        assert!(err.contains("not an OCI image layout"), "{err}");
    }
}
