//! `archive store chart|file` (add Helm charts and files to an archive as OCI artifacts) and
//! `archive export file` (get a stored file back).

use super::Status;
use super::archive::{human_size, open};
use crate::archive::artifact::{self, Artifact};
use crate::archive::blobs::ArchiveBlobs;
use crate::archive::index::{ArchiveIndex, Image, ImageSpec};
use crate::archive::journal;
use crate::archive::reader::INDEX_NAME;
use crate::archive::writer::ArchiveWriter;
use crate::image::digest::Digest;
use crate::image::manifest::ImageManifest;
use crate::image::reference::Reference;
use crate::registry::{Registries, RegistryOptions};
use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Charts are small; a larger download is refused rather than held in memory.
const CHART_LIMIT: usize = 512 << 20;

#[derive(Args, Debug)]
pub struct StoreCommand {
    #[command(subcommand)]
    action: StoreAction,
}

#[derive(Subcommand, Debug)]
enum StoreAction {
    /// Store Helm charts: local .tgz, chart directory, https://…/x.tgz, a Helm repository
    /// (with --name), or oci://registry/path
    Chart(StoreChartArgs),
    /// Store files (local paths or http(s) URLs)
    File(StoreFileArgs),
    /// Store plugins (names or .wasm files) as OCI artifacts, to install or load in the air gap
    Plugin(StorePluginArgs),
}

#[derive(Args, Debug)]
struct StorePluginArgs {
    /// The archive to add to (create one with `archive init`)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    #[arg(value_name = "NAME|FILE", required = true)]
    plugins: Vec<String>,
}

#[derive(Args, Debug)]
struct StoreChartArgs {
    /// The archive to add to (create one with `archive init`)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Chart name (a Helm repository, a directory of charts, or appended to an oci:// path)
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// Chart version (the first listed when empty; the tag for oci://, `latest` when empty)
    #[arg(short = 'v', long = "version")]
    version: Option<String>,
    /// Verify TLS certificates of HTTPS sources and registries
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: bool,
    #[arg(value_name = "SOURCE", required = true)]
    sources: Vec<String>,
}

#[derive(Args, Debug)]
struct StoreFileArgs {
    /// The archive to add to (create one with `archive init`)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Verify TLS certificates of HTTPS sources
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: bool,
    #[arg(value_name = "PATH|URL", required = true)]
    sources: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExportFileArgs {
    /// The archive
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Name of the stored file
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// Overwrite ./<name> without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

pub async fn run(cmd: StoreCommand, global: &super::Global) -> anyhow::Result<Status> {
    match cmd.action {
        StoreAction::Plugin(a) => {
            let archive = a.file.clone().context(NO_ARCHIVE)?;
            let store = Store::open(&archive, true)?;
            let settings = global.plugin_settings(Default::default())?;
            let runtime = crate::plugin::Runtime::new(
                settings.limits,
                crate::plugin::Runtime::default_cache(),
            )?;
            let mut failed = 0;
            for plugin in &a.plugins {
                if let Err(e) = store_plugin(&store, &settings.catalog, &runtime, plugin).await {
                    tracing::error!("{plugin}: {e:#}");
                    failed += 1;
                }
            }
            store.finish(failed, a.plugins.len()).await
        }
        StoreAction::Chart(a) => {
            let archive = a.file.clone().context(NO_ARCHIVE)?;
            let store = Store::open(&archive, a.tls_verify)?;
            let mut failed = 0;
            for source in &a.sources {
                if let Err(e) = store_chart(&store, source, &a).await {
                    tracing::error!("{source}: {e:#}");
                    failed += 1;
                }
            }
            store.finish(failed, a.sources.len()).await
        }
        StoreAction::File(a) => {
            let archive = a.file.clone().context(NO_ARCHIVE)?;
            let store = Store::open(&archive, a.tls_verify)?;
            let mut failed = 0;
            for source in &a.sources {
                if let Err(e) = store_file(&store, source).await {
                    tracing::error!("{source}: {e:#}");
                    failed += 1;
                }
            }
            store.finish(failed, a.sources.len()).await
        }
    }
}

const NO_ARCHIVE: &str = "archive file not provided, use '--file' to specify the archive";

/// An archive opened for adding artifacts.
struct Store {
    path: PathBuf,
    writer: ArchiveWriter,
    written: tokio::sync::Mutex<HashSet<String>>,
    index: std::sync::Mutex<ArchiveIndex>,
    http: reqwest::Client,
    tls_verify: bool,
}

impl Store {
    fn open(path: &Path, tls_verify: bool) -> anyhow::Result<Store> {
        if let Some(recovered) = journal::recover(path)? {
            tracing::info!(
                "Recovered interrupted archive {:?}: kept {} entries",
                path.display().to_string(),
                recovered.entries
            );
        }
        let (_, index) = open(path)?;
        let writer = ArchiveWriter::append(path)?;
        let written = writer.existing().clone();
        let timeouts = crate::registry::Timeouts::default();
        let mut http = reqwest::Client::builder().tls_danger_accept_invalid_certs(!tls_verify);
        if !timeouts.silence.is_zero() {
            http = http
                .connect_timeout(timeouts.connect)
                .read_timeout(timeouts.silence);
        }
        let http = http.build().context("HTTP client")?;
        Ok(Store {
            path: path.to_path_buf(),
            writer,
            written: tokio::sync::Mutex::new(written),
            index: std::sync::Mutex::new(index),
            http,
            tls_verify,
        })
    }

    /// Writes the new index (also when some sources failed: what was stored stays usable).
    async fn finish(self, failed: usize, total: usize) -> anyhow::Result<Status> {
        let index = self.index.lock().expect("index lock").clone();
        let bytes = index.to_bytes();
        self.writer
            .write_bytes(INDEX_NAME, Bytes::from(bytes.clone()))
            .await?;
        self.writer.finish().await?;
        tracing::info!(
            "Updated index file \"index.json\" of {:?}, size {:.2}K",
            self.path.display().to_string(),
            bytes.len() as f64 / 1024.0
        );
        if failed > 0 {
            bail!("{failed} of {total} sources failed to store");
        }
        Ok(Status::Success)
    }

    /// Writes an entry unless the archive already holds it.
    async fn entry<S>(&self, name: &str, size: u64, stream: S) -> anyhow::Result<()>
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let mut written = self.written.lock().await;
        if written.contains(name) {
            return Ok(());
        }
        self.writer.write_entry(name, size, stream).await?;
        written.insert(name.to_string());
        Ok(())
    }

    async fn small(&self, name: &str, bytes: Bytes) -> anyhow::Result<()> {
        let size = bytes.len() as u64;
        self.entry(name, size, futures_util::stream::iter([Ok(bytes)]))
            .await
    }

    /// Writes an artifact whose layer bytes come from `layer`, then lists it in the index.
    async fn artifact<S>(&self, artifact: Artifact, layer: S) -> anyhow::Result<()>
    where
        S: futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
    {
        let name = format!("share/sha256/{}", artifact.layer.hex());
        self.entry(&name, artifact.layer_size, layer).await?;
        for (name, bytes) in artifact.small_entries {
            self.small(&name, bytes).await?;
        }
        self.index
            .lock()
            .expect("index lock")
            .upsert(artifact.image);
        Ok(())
    }

    async fn download(&self, url: &str, limit: usize) -> anyhow::Result<Bytes> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("GET {url}"))?;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            bail!("GET {url}: larger than {}", human_size(limit as u64));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.with_context(|| format!("GET {url}"))?);
            if body.len() > limit {
                bail!("GET {url}: larger than {}", human_size(limit as u64));
            }
        }
        Ok(Bytes::from(body))
    }
}

fn one_chunk(
    bytes: Bytes,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    futures_util::stream::iter([Ok(bytes)])
}

async fn store_chart(store: &Store, source: &str, args: &StoreChartArgs) -> anyhow::Result<()> {
    if let Some(path) = source.strip_prefix("oci://") {
        return store_oci_chart(store, path, args).await;
    }
    let tgz = if source.starts_with("http://") || source.starts_with("https://") {
        if source.ends_with(".tgz") || source.ends_with(".tar.gz") {
            store.download(source, CHART_LIMIT).await?
        } else {
            chart_from_repository(store, source, args).await?
        }
    } else {
        let path = Path::new(source);
        if path.is_dir() {
            if path.join("Chart.yaml").is_file() {
                Bytes::from(artifact::package_chart_dir(path)?)
            } else {
                chart_from_directory(path, args)?
            }
        } else {
            Bytes::from(std::fs::read(path).with_context(|| format!("cannot read {source}"))?)
        }
    };
    let artifact = artifact::chart(&tgz, source)?;
    tracing::info!(
        "Add OCI Helm Chart [{}:{}]",
        artifact.image.source,
        artifact.image.tag
    );
    store.artifact(artifact, one_chunk(tgz)).await
}

/// A chart from a Helm repository's `index.yaml`: `--name`, and `--version` or the first entry.
async fn chart_from_repository(
    store: &Store,
    repo: &str,
    args: &StoreChartArgs,
) -> anyhow::Result<Bytes> {
    let name = args
        .name
        .as_deref()
        .context("a Helm repository needs the chart name (--name)")?;
    let base = format!("{}/", repo.trim_end_matches('/'));
    let text = store
        .download(&format!("{base}index.yaml"), 64 << 20)
        .await?;
    let index: serde_yaml::Value = serde_yaml::from_slice(&text).context("index.yaml")?;
    let versions = index["entries"][name]
        .as_sequence()
        .with_context(|| format!("chart {name:?} not found in {base}index.yaml"))?;
    let chosen = match args.version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => versions
            .iter()
            .find(|e| e["version"].as_str() == Some(v))
            .with_context(|| format!("chart {name} version {v} not found in {base}index.yaml"))?,
        None => versions
            .first()
            .with_context(|| format!("chart {name:?} has no versions"))?,
    };
    let url = chosen["urls"][0]
        .as_str()
        .with_context(|| format!("chart {name} has no download URL"))?;
    let url = url::Url::parse(&base)
        .and_then(|b| b.join(url))
        .with_context(|| format!("chart URL {url}"))?;
    store.download(url.as_str(), CHART_LIMIT).await
}

/// A chart out of a directory of packaged charts: the one named `--name` (and `--version`).
fn chart_from_directory(dir: &Path, args: &StoreChartArgs) -> anyhow::Result<Bytes> {
    let name = args
        .name
        .as_deref()
        .context("a directory of charts needs the chart name (--name)")?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    entries.sort();
    for path in entries {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let Ok(metadata) = artifact::chart_metadata(&bytes, &path.display().to_string()) else {
            continue;
        };
        let version_ok = match args.version.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => metadata["version"].as_str() == Some(v),
            None => true,
        };
        if metadata["name"].as_str() == Some(name) && version_ok {
            return Ok(Bytes::from(bytes));
        }
    }
    bail!("no chart {name:?} in {}", dir.display())
}

/// A chart pushed to a registry: stored as it is, under its own name.
async fn store_oci_chart(store: &Store, path: &str, args: &StoreChartArgs) -> anyhow::Result<()> {
    let mut name = path.trim_end_matches('/').to_string();
    if let Some(n) = args.name.as_deref().filter(|n| !n.is_empty()) {
        name = format!("{name}/{n}");
    }
    let tag = args
        .version
        .as_deref()
        .filter(|v| !v.is_empty())
        .unwrap_or("latest");
    let reference = Reference::parse(&format!("{name}:{tag}"))?;
    let registries = Registries::new(RegistryOptions {
        tls_verify: Some(store.tls_verify),
        ..RegistryOptions::default()
    });
    let registry = registries.get(reference.registry()).await?;
    let repo = reference.repository();
    let manifest = registry.get_manifest(repo, tag).await?;
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("{reference} is not an image manifest"))?;
    for blob in parsed.blobs() {
        let bytes = registry
            .get_blob_bytes(repo, &blob.digest, CHART_LIMIT)
            .await?;
        store
            .small(&format!("share/sha256/{}", blob.digest.hex()), bytes)
            .await?;
    }
    let hex = manifest.digest.hex().to_string();
    store
        .small(&format!("share/sha256/{hex}"), manifest.bytes.clone())
        .await?;
    let layout = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.bytes.len()}],
    });
    store
        .small(
            &format!("{hex}/index.json"),
            Bytes::from(layout.to_string()),
        )
        .await?;
    store
        .small(
            &format!("{hex}/oci-layout"),
            Bytes::from_static(br#"{"imageLayoutVersion":"1.0.0"}"#),
        )
        .await?;
    tracing::info!("Add OCI Helm Chart [{}:{tag}]", reference.name());
    store.index.lock().expect("index lock").upsert(Image {
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
) -> anyhow::Result<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(file),
        256 << 10,
    ))
}

fn hash_file(path: &Path) -> anyhow::Result<(Digest, u64)> {
    use sha2::Digest as _;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok((Digest::from_sha256(&hasher.finalize()), size))
}

async fn store_file(store: &Store, source: &str) -> anyhow::Result<()> {
    if source.starts_with("oci://") {
        bail!("oci:// sources are not files; use 'archive store chart'");
    }
    let url = source.starts_with("http://") || source.starts_with("https://");
    // A download is kept in a temporary file: its digest names the entry, so it must be
    // known before the entry starts.
    let downloaded;
    let path = if url {
        downloaded = tempfile::NamedTempFile::new().context("temporary file")?;
        let response = store
            .http
            .get(source)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("GET {source}"))?;
        let mut out = tokio::fs::File::from_std(downloaded.reopen()?);
        let mut body = response.bytes_stream();
        use tokio::io::AsyncWriteExt as _;
        while let Some(chunk) = body.next().await {
            out.write_all(&chunk.with_context(|| format!("GET {source}"))?)
                .await?;
        }
        out.flush().await?;
        downloaded.path().to_path_buf()
    } else {
        let path = PathBuf::from(source);
        if path.is_dir() {
            bail!("{source} is a directory; only files can be stored");
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
            .context("file name")?
    }
    .to_string();
    let (digest, size) = hash_file(&path)?;
    let artifact = artifact::file(&basename, source, digest, size);
    tracing::info!("Add OCI File [{source}]");
    store.artifact(artifact, file_stream(&path)?).await
}

async fn store_plugin(
    store: &Store,
    catalog: &crate::plugin::catalog::Catalog,
    runtime: &std::sync::Arc<crate::plugin::Runtime>,
    plugin: &str,
) -> anyhow::Result<()> {
    let found = catalog.find(runtime, plugin).await?;
    let bytes = Bytes::from(catalog.bytes(&found)?);
    let artifact = crate::plugin::oci::artifact(&found.manifest);
    tracing::info!(
        "Add OCI Plugin [{}:{}]",
        artifact.image.source,
        artifact.image.tag
    );
    store
        .artifact(artifact, futures_util::stream::iter([Ok(bytes)]))
        .await
}

pub fn export_file(args: ExportFileArgs) -> anyhow::Result<Status> {
    let archive = args.file.context(NO_ARCHIVE)?;
    let name = args
        .name
        .filter(|n| !n.is_empty() && !n.contains('/') && n != "..")
        .context("file name not provided (or not a plain name), use '--name'")?;
    let (mut reader, index) = open(&archive)?;
    let source = format!("docker.io/hangar-file/{name}");
    let image = index
        .list
        .iter()
        .find(|i| {
            i.source == source
                && i.tag == "latest"
                && i.arch_list.is_empty()
                && i.os_list.is_empty()
        })
        .with_context(|| {
            format!(
                "file {name:?} not found in archive {:?}",
                archive.display().to_string()
            )
        })?;
    let spec = image
        .images
        .first()
        .context("the stored file has no manifest")?;
    let blobs = ArchiveBlobs::new(&archive, &mut reader)?;
    let manifest_name = format!("share/sha256/{}", spec.digest.trim_start_matches("sha256:"));
    let manifest: ImageManifest =
        serde_json::from_slice(&blobs.read_small(&manifest_name, 16 << 20)?)
            .with_context(|| format!("entry {manifest_name}"))?;
    let layer = manifest
        .layers
        .first()
        .context("the stored file has no layer")?;
    let out = PathBuf::from(&name);
    if crate::outfile::is_regular_file(&out)
        && !args.yes
        && !super::confirm(&format!("File {name:?} already exists! Overwrite?"))?
    {
        bail!("file {name:?} already exists");
    }
    // Written beside the target and renamed once its digest checked out (a device or FIFO is
    // written in place).
    let result = (|| -> anyhow::Result<()> {
        use sha2::Digest as _;
        use std::io::Write as _;
        let entry = format!("share/sha256/{}", layer.digest.hex());
        let mut file = crate::outfile::Replacement::begin(&out)
            .with_context(|| format!("cannot write {name}"))?;
        let mut hasher = sha2::Sha256::new();
        let runtime = tokio::runtime::Handle::current();
        let mut stream = blobs.stream(&entry)?;
        while let Some(chunk) = tokio::task::block_in_place(|| runtime.block_on(stream.next())) {
            let chunk = chunk.with_context(|| format!("entry {entry}"))?;
            hasher.update(&chunk);
            file.write_all(&chunk)?;
        }
        if Digest::from_sha256(&hasher.finalize()) != layer.digest {
            bail!("entry {entry} does not match its digest (corrupted archive)");
        }
        file.commit()?;
        Ok(())
    })();
    result?;
    tracing::info!("Exported file {name:?} ({})", human_size(layer.size));
    Ok(Status::Success)
}
