//! `hangar generate-list`: image lists made by list-generator plugins, written in Hangar's
//! default list format, ready for `mirror`/`save`. `generate-list helm CHART...` lists the
//! images in Helm charts (the built-in `helm` plugin); `generate-list rancher` (or Hangar's
//! `generate-list --rancher vX.Y.Z`) the images of a Rancher release (the built-in `rancher`
//! plugin); `generate-list plugin NAME` runs any list generator with `--option`/`--path`.

mod rancher;

use super::{Global, Status, may_overwrite};
use crate::lists::{self, Entry, Lists, is_url};
use crate::plugin::list_generator::Generated;
use crate::plugin::runtime::Runtime;
use crate::plugin::settings::Overrides;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GenerateListCommand {
    #[command(subcommand)]
    generator: Option<Generator>,
    /// Hangar's form, `generate-list --rancher vX.Y.Z ...`: the same as `generate-list rancher`
    #[command(flatten)]
    rancher: rancher::RancherArgs,
}

#[derive(Subcommand, Debug)]
enum Generator {
    /// The images in Helm charts: packaged (.tgz), chart directories, repositories (a
    /// directory or URL with index.yaml) and folders of these
    Helm(HelmArgs),
    /// The images of a Rancher release: its charts, system charts and KDM (K3s, RKE2, RKE),
    /// from clones and files you give
    Rancher(Box<rancher::RancherArgs>),
    /// The images of rendered Kubernetes manifests: YAML or JSON files, folders of them,
    /// multi-document streams (`helm template`, `kustomize build` output; `-` reads stdin)
    K8s(K8sArgs),
    /// Run any list-generator plugin (installed, built in, or a .wasm file)
    Plugin(PluginArgs),
}

#[derive(Args, Debug)]
struct HelmArgs {
    /// Charts: .tgz files, chart directories, repository directories or URLs, folders
    #[arg(value_name = "CHART", required = true)]
    charts: Vec<String>,
    /// Only the newest version of each chart
    #[arg(long)]
    newest: bool,
    /// The list generator to use instead of the built-in helm plugin
    #[arg(long = "helm-plugin", value_name = "PLUGIN", default_value = "helm")]
    plugin: String,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
struct K8sArgs {
    /// Manifest files or folders; `-` reads a stream from stdin
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<String>,
    /// The list generator to use: the k8s plugin (a Python component shipped beside hangar
    /// as k8s.wasm; install it with `hangar plugin install k8s.wasm`), another plugin's name,
    /// or a .wasm file
    #[arg(long = "k8s-plugin", value_name = "PLUGIN", default_value = "k8s")]
    plugin: String,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
struct PluginArgs {
    /// A plugin name or a .wasm file
    #[arg(value_name = "PLUGIN")]
    plugin: String,
    /// An option for the generator (repeatable)
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = super::args::parse_key_value)]
    options: Vec<(String, String)>,
    /// A file or directory the generator may read (repeatable)
    #[arg(long = "path", value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// Linux image list [default: images.txt; for Rancher <RANCHER>-images.txt]
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Windows image list (images marked `os: windows`); without it they are left out
    #[arg(long = "output-windows", value_name = "FILE")]
    output_windows: Option<PathBuf>,
    /// `image source1,source2` lines: which chart each image comes from
    #[arg(long = "output-source", value_name = "FILE")]
    output_source: Option<PathBuf>,
    /// Put every image in this registry (prefixes or replaces the registry)
    #[arg(long, value_name = "REGISTRY")]
    registry: Option<String>,
    /// A host the plugin may reach besides the URLs given (repeatable), e.g. where a
    /// repository keeps its chart archives
    #[arg(long = "plugin-allow-host", value_name = "HOST")]
    allow_host: Vec<String>,
    /// Overwrite output files without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

/// What one run does: which generator with which options and granted paths, and where the
/// lists go.
struct Job {
    plugin: String,
    options: Vec<(String, String)>,
    paths: Vec<PathBuf>,
    common: CommonArgs,
    output: PathBuf,
    /// The versions file and per-distribution lists of `generate-list rancher`.
    rancher: Option<rancher::Outputs>,
}

pub async fn run(cmd: GenerateListCommand, global: &Global) -> anyhow::Result<Status> {
    // A stream read from stdin, kept in a temporary file the generator may read.
    let mut _stdin: Option<tempfile::TempDir> = None;
    let job = match cmd.generator {
        Some(Generator::Helm(args)) => {
            let mut options: Vec<(String, String)> = args
                .charts
                .iter()
                .map(|c| ("chart".to_string(), c.clone()))
                .collect();
            if args.newest {
                options.push(("newest".into(), "true".into()));
            }
            let paths = args
                .charts
                .iter()
                .filter(|c| !is_url(c))
                .map(PathBuf::from)
                .collect();
            Job {
                plugin: args.plugin,
                options,
                paths,
                output: args.common.output.clone().unwrap_or("images.txt".into()),
                common: args.common,
                rancher: None,
            }
        }
        Some(Generator::Rancher(args)) => rancher::job(*args)?,
        Some(Generator::K8s(args)) => {
            let (paths, stdin) = k8s_paths(&args.paths)?;
            _stdin = stdin;
            Job {
                plugin: args.plugin,
                options: paths
                    .iter()
                    .map(|p| ("path".to_string(), p.display().to_string()))
                    .collect(),
                paths,
                output: args.common.output.clone().unwrap_or("images.txt".into()),
                common: args.common,
                rancher: None,
            }
        }
        Some(Generator::Plugin(args)) => Job {
            plugin: args.plugin,
            options: args.options,
            paths: args.paths,
            output: args.common.output.clone().unwrap_or("images.txt".into()),
            common: args.common,
            rancher: None,
        },
        None if cmd.rancher.rancher.is_some() => rancher::job(cmd.rancher)?,
        None => bail!(
            "say which images to list: generate-list helm CHART..., generate-list k8s \
             MANIFEST..., generate-list rancher --rancher vX.Y.Z (or generate-list --rancher \
             vX.Y.Z), generate-list plugin NAME"
        ),
    };
    let Job {
        plugin,
        options,
        paths,
        common,
        output,
        rancher,
    } = job;
    for path in &paths {
        if !path.exists() {
            bail!("{}: no such file or directory", path.display());
        }
    }
    let outputs: Vec<&PathBuf> = std::iter::once(&output)
        .chain(common.output_windows.as_ref())
        .chain(common.output_source.as_ref())
        .chain(rancher.iter().flat_map(rancher::Outputs::files))
        .collect();
    for output in &outputs {
        may_overwrite(output, common.yes)?;
    }
    let settings = global.plugin_settings(Overrides {
        allow_hosts: common.allow_host.clone(),
        ..Overrides::default()
    })?;
    let runtime = Runtime::new(settings.limits, Runtime::default_cache())?;
    let (generator, found) = lists::generator(&settings, runtime, &plugin)
        .await
        .map_err(|e| {
            if plugin == "k8s"
                && matches!(
                    &e,
                    lists::ListsError::NoGenerator {
                        source: crate::plugin::catalog::CatalogError::NotFound(_),
                        ..
                    }
                )
            {
                anyhow::anyhow!(
                    "no plugin named \"k8s\": the k8s generator is a Python component shipped \
                     beside hangar (k8s.wasm among the release artifacts); install it with \
                     `hangar plugin install k8s.wasm`, or pass --k8s-plugin FILE.wasm"
                )
            } else {
                anyhow::Error::from(e)
            }
        })?;
    tracing::info!(
        "List generator: {} {} ({})",
        generator.name(),
        generator.version(),
        found.origin
    );
    let started = std::time::Instant::now();
    let Generated { entries, errors } = generator
        .generate(&options, paths, &settings.allow_hosts)
        .await?;
    let entries: Vec<Entry> = entries
        .into_iter()
        .map(|e| (e.reference, e.os, e.source))
        .collect();
    let lists = Lists::of(entries.iter().cloned(), common.registry.as_deref());
    tracing::info!(
        "{} Linux and {} Windows images from {} sources in {:.2?}",
        lists.linux.len(),
        lists.windows.len(),
        lists.source_count(),
        started.elapsed()
    );
    write(&output, lists.linux.iter())?;
    match &common.output_windows {
        Some(path) => write(path, lists.windows.iter())?,
        None if !lists.windows.is_empty() => tracing::warn!(
            "{} Windows images left out (write them with --output-windows FILE)",
            lists.windows.len()
        ),
        None => {}
    }
    if let Some(path) = &common.output_source {
        write(path, lists.source_lines())?;
    }
    if let Some(rancher) = &rancher {
        rancher.write(&entries, common.registry.as_deref())?;
    }
    if errors > 0 {
        tracing::error!("{errors} inputs could not be read (see above); the lists hold the rest");
        return Ok(Status::SomeFailed);
    }
    Ok(Status::Success)
}

/// Writes one line per item, with a final newline.
fn write(
    path: &std::path::Path,
    lines: impl Iterator<Item = impl AsRef<str>>,
) -> anyhow::Result<()> {
    crate::outfile::write(path, lists::text(lines).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("Wrote {:?}", path.display().to_string());
    Ok(())
}

/// The manifests `generate-list k8s` reads: the paths as given, and `-` as a file holding
/// what stdin gave (in a temporary directory that lives as long as the returned guard).
fn k8s_paths(given: &[String]) -> anyhow::Result<(Vec<PathBuf>, Option<tempfile::TempDir>)> {
    let mut paths = Vec::with_capacity(given.len());
    let mut stdin = None;
    for path in given {
        if path != "-" {
            paths.push(PathBuf::from(path));
            continue;
        }
        if stdin.is_some() {
            bail!("`-` (stdin) given twice");
        }
        let dir = tempfile::Builder::new()
            .prefix("hangar-k8s-")
            .tempdir()
            .context("cannot make a temporary directory for stdin")?;
        let file = dir.path().join("stdin.yaml");
        let mut out = std::fs::File::create(&file)
            .with_context(|| format!("cannot write {}", file.display()))?;
        std::io::copy(&mut std::io::stdin().lock(), &mut out).context("cannot read stdin")?;
        paths.push(file);
        stdin = Some(dir);
    }
    Ok((paths, stdin))
}
