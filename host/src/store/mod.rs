//! What `archive store` adds to an archive, and from where: Helm charts (a packaged chart, a
//! chart directory, a directory of packaged charts, a Helm repository's `index.yaml`, an
//! `https://…/x.tgz`, or `oci://` in a registry), files (local or downloaded) and plugins.
//! Downloads go through the registries' transport (`registry::Web`: certs.d, retries,
//! network time, stored credentials); the archive side is `archive::append`.

use crate::archive::append::{AppendError, Appender};
use crate::archive::artifact::{self, ArtifactError};
use crate::archive::index::{Image, ImageSpec};
use crate::image::digest::Digest;
use crate::image::manifest::ImageManifest;
use crate::image::reference::{Reference, ReferenceError};
use crate::plugin::catalog::{Catalog, CatalogError};
use crate::registry::{Registries, RegistryError, RegistryOptions, Web, WebError};
use bytes::Bytes;
use futures_util::Stream;
use std::path::{Path, PathBuf};

/// Charts are small; a larger download is refused rather than held in memory.
const CHART_LIMIT: usize = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Web(#[from] WebError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// What was asked for cannot be stored (or found) as given.
    #[error("{0}")]
    Refused(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("index.yaml")]
    RepositoryIndex(#[source] serde_yaml::Error),
    #[error("chart URL {url}")]
    ChartUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{reference} is not an image manifest")]
    NotManifest {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

fn refused(message: String) -> StoreError {
    StoreError::Refused(message)
}

/// Which chart of a repository or directory: `--name`, and `--version` or the first one.
pub struct ChartChoice<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
}

impl ChartChoice<'_> {
    fn version(&self) -> Option<&str> {
        self.version.filter(|v| !v.is_empty())
    }
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

fn one_chunk(bytes: Bytes) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    futures_util::stream::iter([Ok(bytes)])
}

/// Stores the chart `source` names.
pub async fn chart(
    archive: &Appender,
    web: &Web,
    source: &str,
    choice: &ChartChoice<'_>,
    tls_verify: bool,
) -> Result<(), StoreError> {
    if let Some(path) = source.strip_prefix("oci://") {
        return oci_chart(archive, path, choice, tls_verify).await;
    }
    let tgz = if is_url(source) {
        if source.ends_with(".tgz") || source.ends_with(".tar.gz") {
            web.get_bytes(source, CHART_LIMIT as u64).await?
        } else {
            chart_from_repository(web, source, choice).await?
        }
    } else {
        let path = Path::new(source);
        if path.is_dir() {
            if path.join("Chart.yaml").is_file() {
                Bytes::from(artifact::package_chart_dir(path)?)
            } else {
                chart_from_directory(path, choice)?
            }
        } else {
            Bytes::from(std::fs::read(path).map_err(io(format!("cannot read {source}")))?)
        }
    };
    let artifact = artifact::chart(&tgz, source)?;
    tracing::info!(
        "Add OCI Helm Chart [{}:{}]",
        artifact.image.source,
        artifact.image.tag
    );
    Ok(archive.artifact(artifact, one_chunk(tgz)).await?)
}

/// A chart from a Helm repository's `index.yaml`.
async fn chart_from_repository(
    web: &Web,
    repo: &str,
    choice: &ChartChoice<'_>,
) -> Result<Bytes, StoreError> {
    let name = choice
        .name
        .ok_or_else(|| refused("a Helm repository needs the chart name (--name)".into()))?;
    let base = format!("{}/", repo.trim_end_matches('/'));
    let text = web
        .get_bytes(&format!("{base}index.yaml"), 64 << 20)
        .await?;
    let index: serde_yaml::Value =
        serde_yaml::from_slice(&text).map_err(StoreError::RepositoryIndex)?;
    let versions = index["entries"][name]
        .as_sequence()
        .ok_or_else(|| refused(format!("chart {name:?} not found in {base}index.yaml")))?;
    let chosen = match choice.version() {
        Some(v) => versions
            .iter()
            .find(|e| e["version"].as_str() == Some(v))
            .ok_or_else(|| {
                refused(format!(
                    "chart {name} version {v} not found in {base}index.yaml"
                ))
            })?,
        None => versions
            .first()
            .ok_or_else(|| refused(format!("chart {name:?} has no versions")))?,
    };
    let url = chosen["urls"][0]
        .as_str()
        .ok_or_else(|| refused(format!("chart {name} has no download URL")))?;
    let url = url::Url::parse(&base)
        .and_then(|b| b.join(url))
        .map_err(|source| StoreError::ChartUrl {
            url: url.to_string(),
            source,
        })?;
    Ok(web.get_bytes(url.as_str(), CHART_LIMIT as u64).await?)
}

/// A chart out of a directory of packaged charts.
fn chart_from_directory(dir: &Path, choice: &ChartChoice<'_>) -> Result<Bytes, StoreError> {
    let name = choice
        .name
        .ok_or_else(|| refused("a directory of charts needs the chart name (--name)".into()))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(format!("cannot read {}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).map_err(io(format!("cannot read {}", path.display())))?;
        let Ok(metadata) = artifact::chart_metadata(&bytes, &path.display().to_string()) else {
            continue;
        };
        let version_ok = choice
            .version()
            .is_none_or(|v| metadata["version"].as_str() == Some(v));
        if metadata["name"].as_str() == Some(name) && version_ok {
            return Ok(Bytes::from(bytes));
        }
    }
    Err(refused(format!("no chart {name:?} in {}", dir.display())))
}

/// A chart pushed to a registry: stored as it is, under its own name.
async fn oci_chart(
    archive: &Appender,
    path: &str,
    choice: &ChartChoice<'_>,
    tls_verify: bool,
) -> Result<(), StoreError> {
    let mut name = path.trim_end_matches('/').to_string();
    if let Some(n) = choice.name.filter(|n| !n.is_empty()) {
        name = format!("{name}/{n}");
    }
    let tag = choice.version().unwrap_or("latest");
    let reference = Reference::parse(&format!("{name}:{tag}"))?;
    let registries = Registries::new(RegistryOptions {
        tls_verify: Some(tls_verify),
        ..RegistryOptions::default()
    });
    let registry = registries.get(reference.registry()).await?;
    let repo = reference.repository();
    let manifest = registry.get_manifest(repo, tag).await?;
    let parsed: ImageManifest =
        serde_json::from_slice(&manifest.bytes).map_err(|source| StoreError::NotManifest {
            reference: reference.to_string(),
            source,
        })?;
    for blob in parsed.blobs() {
        let bytes = registry
            .get_blob_bytes(repo, &blob.digest, CHART_LIMIT)
            .await?;
        archive
            .small(&format!("share/sha256/{}", blob.digest.hex()), bytes)
            .await?;
    }
    let hex = manifest.digest.hex().to_string();
    archive
        .small(&format!("share/sha256/{hex}"), manifest.bytes.clone())
        .await?;
    let layout = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.bytes.len()}],
    });
    archive
        .small(
            &format!("{hex}/index.json"),
            Bytes::from(layout.to_string()),
        )
        .await?;
    archive
        .small(
            &format!("{hex}/oci-layout"),
            Bytes::from_static(br#"{"imageLayoutVersion":"1.0.0"}"#),
        )
        .await?;
    tracing::info!("Add OCI Helm Chart [{}:{tag}]", reference.name());
    archive.list(Image {
        source: reference.name(),
        tag: tag.to_string(),
        images: vec![ImageSpec {
            media_type: manifest.media_type.clone(),
            layers: parsed.layers.iter().map(|l| l.digest.to_string()).collect(),
            config: parsed.config.digest.to_string(),
            digest: manifest.digest.to_string(),
            ..Default::default()
        }],
        ..Default::default()
    });
    Ok(())
}

/// A file's bytes as a stream (read on the blocking pool).
fn file_stream(
    path: &Path,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin, StoreError> {
    let file = std::fs::File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
    Ok(tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(file),
        256 << 10,
    ))
}

fn hash_file(path: &Path) -> Result<(Digest, u64), StoreError> {
    use sha2::Digest as _;
    let mut file =
        std::fs::File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
    let mut hasher = sha2::Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)
        .map_err(io(format!("cannot read {}", path.display())))?;
    Ok((Digest::from_sha256(&hasher.finalize()), size))
}

/// Stores the file `source` names (a path or an http(s) URL).
pub async fn file(archive: &Appender, web: &Web, source: &str) -> Result<(), StoreError> {
    if source.starts_with("oci://") {
        return Err(refused(
            "oci:// sources are not files; use 'archive store chart'".into(),
        ));
    }
    let url = is_url(source);
    // A download is kept in a temporary file: its digest names the entry, so it must be
    // known before the entry starts.
    let downloaded;
    let path = if url {
        downloaded = tempfile::NamedTempFile::new().map_err(io("temporary file"))?;
        let mut out = tokio::fs::File::from_std(downloaded.reopen().map_err(io("temporary file"))?);
        web.get_into(source, &mut out).await?;
        downloaded.path().to_path_buf()
    } else {
        let path = PathBuf::from(source);
        if path.is_dir() {
            return Err(refused(format!(
                "{source} is a directory; only files can be stored"
            )));
        }
        path
    };
    let basename = if url {
        source
            .rsplit('/')
            .next()
            .filter(|b| !b.is_empty())
            .unwrap_or("file")
    } else {
        path.file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| refused("file name".into()))?
    }
    .to_string();
    let (digest, size) = hash_file(&path)?;
    let artifact = artifact::file(&basename, source, digest, size);
    tracing::info!("Add OCI File [{source}]");
    Ok(archive.artifact(artifact, file_stream(&path)?).await?)
}

/// Stores the plugin `plugin` names (a name or a file) as an OCI artifact.
pub async fn plugin(
    archive: &Appender,
    catalog: &Catalog,
    runtime: &std::sync::Arc<crate::plugin::Runtime>,
    plugin: &str,
) -> Result<(), StoreError> {
    let found = catalog.find(runtime, plugin).await?;
    let bytes = Bytes::from(catalog.bytes(&found)?);
    let artifact = crate::plugin::oci::artifact(&found.manifest);
    tracing::info!(
        "Add OCI Plugin [{}:{}]",
        artifact.image.source,
        artifact.image.tag
    );
    Ok(archive.artifact(artifact, one_chunk(bytes)).await?)
}
