//! `archive store chart|file|plugin` (add Helm charts, files and plugins to an archive as OCI
//! artifacts) and `archive export file` (get a stored file back).

use super::Status;
use super::archive::human_size;
use crate::archive::append::{self, Appender};
use crate::archive::blobs::ArchiveBlobs;
use crate::registry::Web;
use crate::store::{self, ChartChoice};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct StoreCommand {
    /// Without one, the help is printed (exit 0, as Hangar does).
    #[command(subcommand)]
    action: Option<StoreAction>,
}

#[derive(Subcommand, Debug)]
enum StoreAction {
    /// Store Helm charts: local .tgz, chart directory, https://…/x.tgz, a Helm repository
    /// (with --name), or oci://registry/path
    #[command(visible_aliases = ["charts", "c"])]
    Chart(StoreChartArgs),
    /// Store files (local paths or http(s) URLs)
    #[command(visible_aliases = ["files", "f"])]
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
    let Some(action) = cmd.action else {
        super::print_help(&["archive", "store"])?;
        return Ok(Status::Success);
    };
    let (archive, total) = match &action {
        StoreAction::Plugin(a) => (&a.file, a.plugins.len()),
        StoreAction::Chart(a) => (&a.file, a.sources.len()),
        StoreAction::File(a) => (&a.file, a.sources.len()),
    };
    let appender = Appender::open(archive.as_deref().context(NO_ARCHIVE)?)?;
    let mut failed = 0;
    let mut report = |source: &str, result: Result<(), store::StoreError>| {
        if let Err(e) = result {
            tracing::error!("{source}: {:#}", anyhow::Error::from(e));
            failed += 1;
        }
    };
    match &action {
        StoreAction::Plugin(a) => {
            let settings = global.plugin_settings(Default::default())?;
            let runtime = crate::plugin::Runtime::new(
                settings.limits,
                crate::plugin::Runtime::default_cache(),
            )?;
            for plugin in &a.plugins {
                report(
                    plugin,
                    store::plugin(&appender, &settings.catalog, &runtime, plugin).await,
                );
            }
        }
        StoreAction::Chart(a) => {
            let web = Web::new(a.tls_verify);
            let choice = ChartChoice {
                name: a.name.as_deref(),
                version: a.version.as_deref(),
            };
            for source in &a.sources {
                let result = store::chart(&appender, &web, source, &choice, a.tls_verify).await;
                report(source, result);
            }
        }
        StoreAction::File(a) => {
            let web = Web::new(a.tls_verify);
            for source in &a.sources {
                report(source, store::file(&appender, &web, source).await);
            }
        }
    }
    let path = appender.path().display().to_string();
    let size = appender.finish().await?;
    tracing::info!(
        "Updated index file \"index.json\" of {path:?}, size {:.2}K",
        size as f64 / 1024.0
    );
    if failed > 0 {
        bail!("{failed} of {total} sources failed to store");
    }
    Ok(Status::Success)
}

const NO_ARCHIVE: &str = "archive file not provided, use '--file' to specify the archive";

pub fn export_file(args: ExportFileArgs) -> anyhow::Result<Status> {
    let archive = args.file.context(NO_ARCHIVE)?;
    let name = args
        .name
        .filter(|n| !n.is_empty() && !n.contains('/') && n != "..")
        .context("file name not provided (or not a plain name), use '--name'")?;
    let (mut reader, index) = append::open(&archive)?;
    let image = append::stored_file(&index, &archive, &name)?;
    let blobs = ArchiveBlobs::new(&archive, &mut reader)?;
    let (digest, size) = append::stored_layer(&blobs, image)?;
    let out = PathBuf::from(&name);
    if crate::outfile::is_regular_file(&out)
        && !args.yes
        && !super::confirm(&format!("File {name:?} already exists! Overwrite?"))?
    {
        bail!("file {name:?} already exists");
    }
    // Written beside the target and renamed once its digest checked out (a device or FIFO is
    // written in place).
    let mut file =
        crate::outfile::Replacement::begin(&out).with_context(|| format!("cannot write {name}"))?;
    append::copy_checked(&blobs, &digest, &mut file)?;
    file.commit()?;
    tracing::info!("Exported file {name:?} ({})", human_size(size));
    Ok(Status::Success)
}
