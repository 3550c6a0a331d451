//! `hangar generate-list`: image lists made by list-generator plugins, written in Hangar's
//! default list format, ready for `mirror`/`save`. `generate-list helm CHART...` lists the
//! images in Helm charts (the built-in `helm` plugin); `generate-list rancher` (or Hangar's
//! `generate-list --rancher vX.Y.Z`) the images of a Rancher release (the built-in `rancher`
//! plugin); `generate-list plugin NAME` runs any list generator with `--option`/`--path`.

mod rancher;

use super::{Global, Status, may_overwrite};
use crate::image::reference::Reference;
use crate::plugin::list_generator::{Generated, ListGenerator};
use crate::plugin::manifest::{Kind, World};
use crate::plugin::runtime::Runtime;
use crate::plugin::settings::Overrides;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::collections::{BTreeMap, BTreeSet};
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
            "say which images to list: generate-list helm CHART..., generate-list rancher \
             --rancher vX.Y.Z (or generate-list --rancher vX.Y.Z), generate-list plugin NAME"
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
    let found = settings
        .catalog
        .find(&runtime, &plugin)
        .await
        .with_context(|| format!("list generator {plugin}"))?;
    if found.manifest.world != World::ListGenerator {
        bail!(
            "list generator {plugin}: {} implements {}, not list-generator",
            found.manifest.name,
            found.manifest.world
        );
    }
    let bytes = settings.catalog.bytes(&found)?;
    let generator = if found.manifest.kind == Kind::Native {
        settings
            .catalog
            .check_native(&format!("plugin {}", found.manifest.name))?;
        ListGenerator::load_native(runtime, &found.manifest.name, &bytes).await?
    } else {
        ListGenerator::load(runtime, &found.manifest.name, &bytes).await?
    };
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
        lists
            .sources
            .values()
            .flatten()
            .collect::<BTreeSet<_>>()
            .len(),
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
        let lines = lists.sources.iter().map(|(image, sources)| {
            format!(
                "{image} {}",
                sources.iter().cloned().collect::<Vec<_>>().join(",")
            )
        });
        write(path, lines)?;
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

/// An image a generator found: (reference, os, source).
type Entry = (String, Option<String>, String);

fn is_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// Sorted, de-duplicated image lists and where each image came from.
#[derive(Debug, Default)]
pub struct Lists {
    pub linux: BTreeSet<String>,
    pub windows: BTreeSet<String>,
    pub sources: BTreeMap<String, BTreeSet<String>>,
}

impl Lists {
    /// From (reference, os, source) entries: `os` containing `windows` puts an image in the
    /// Windows list, containing `linux` (or no `os`) in the Linux list. A reference that does
    /// not parse is left out with a warning; `registry` moves every image there.
    pub fn of(
        entries: impl IntoIterator<Item = (String, Option<String>, String)>,
        registry: Option<&str>,
    ) -> Lists {
        let mut lists = Lists::default();
        for (reference, os, source) in entries {
            let image = match registry.filter(|r| !r.is_empty()) {
                None => match Reference::parse(&reference) {
                    Ok(_) => reference.trim().to_string(),
                    Err(e) => {
                        tracing::warn!("Ignore {reference:?} from {source}: {e}");
                        continue;
                    }
                },
                Some(registry) => match Reference::parse(&reference) {
                    Ok(r) => r.with_registry(registry).to_string(),
                    Err(e) => {
                        tracing::warn!("Ignore {reference:?} from {source}: {e}");
                        continue;
                    }
                },
            };
            let os = os.unwrap_or_default().to_ascii_lowercase();
            if os.contains("windows") {
                lists.windows.insert(image.clone());
            }
            // No `os`, or one that names Linux (or neither system): the Linux list.
            if os.contains("linux") || !os.contains("windows") {
                lists.linux.insert(image.clone());
            }
            lists.sources.entry(image).or_default().insert(source);
        }
        lists
    }
}

/// One line per item, with a final newline.
fn write(
    path: &std::path::Path,
    lines: impl Iterator<Item = impl AsRef<str>>,
) -> anyhow::Result<()> {
    let mut body = String::new();
    for line in lines {
        body.push_str(line.as_ref());
        body.push('\n');
    }
    crate::outfile::write(path, body.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("Wrote {:?}", path.display().to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_route_by_os_dedupe_and_move_registries() {
        let entries = [
            ("rancher/app:v1", None, "app:1.0.0"),
            ("rancher/app:v1", None, "other:2.0.0"),
            ("rancher/win:v1", Some("windows"), "app:1.0.0"),
            ("rancher/both:v1", Some("linux,windows"), "app:1.0.0"),
            ("quay.io/org/x@sha256:0123456789012345678901234567890123456789012345678901234567890123", None, "x:1"),
            ("Not An Image", None, "bad:1"),
        ]
        .map(|(r, os, s)| (r.to_string(), os.map(str::to_string), s.to_string()));
        let lists = Lists::of(entries.clone(), None);
        assert_eq!(
            lists.linux.iter().collect::<Vec<_>>(),
            [
                "quay.io/org/x@sha256:0123456789012345678901234567890123456789012345678901234567890123",
                "rancher/app:v1",
                "rancher/both:v1",
            ]
        );
        assert_eq!(
            lists.windows.iter().collect::<Vec<_>>(),
            ["rancher/both:v1", "rancher/win:v1"]
        );
        assert_eq!(
            lists.sources["rancher/app:v1"].iter().collect::<Vec<_>>(),
            ["app:1.0.0", "other:2.0.0"]
        );
        let moved = Lists::of(entries, Some("registry.local:5000"));
        assert!(
            moved.linux.contains("registry.local:5000/rancher/app:v1"),
            "{:?}",
            moved.linux
        );
        assert!(moved.linux.contains("registry.local:5000/org/x@sha256:0123456789012345678901234567890123456789012345678901234567890123"));
    }
}
