//! `hangar plugin …`: list, inspect, install, remove and push plugins. Installing reads a
//! component file, an archive that stores plugins, or an OCI artifact in a registry, and
//! always describes the plugin first: one built for another contract is refused before it is
//! written.

use super::Status;
use crate::archive::blobs::ArchiveBlobs;
use crate::image::reference::Reference;
use crate::plugin::catalog::{Catalog, Found, Origin};
use crate::plugin::manifest::Manifest;
use crate::plugin::runtime::Runtime;
use crate::plugin::settings::{Overrides, Settings};
use crate::registry::{Registries, RegistryOptions};
use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct PluginCommand {
    #[command(subcommand)]
    action: PluginAction,
}

#[derive(Subcommand, Debug)]
enum PluginAction {
    /// List the plugins hangar knows: built-in, installed, and given with --plugin
    Ls(ListArgs),
    /// Show a plugin's manifest: world, version, capabilities, hosts, sha256
    Inspect(InspectArgs),
    /// Install a plugin from a .wasm file, a native .so, an archive (.zip), or
    /// oci://REGISTRY/REPO:TAG
    Install(InstallArgs),
    /// Remove an installed plugin
    #[command(visible_alias = "rm")]
    Remove(RemoveArgs),
    /// Push a plugin to a registry as an OCI artifact: push NAME|FILE REGISTRY/REPO:TAG
    Push(PushArgs),
    /// Run one plugin function without a registry (recorded HTTP answers, a rootfs dir) and
    /// print the result and the requests it made as JSON
    Test(TestArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Print the manifests as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// A plugin name, or a plugin file
    #[arg(value_name = "NAME|FILE")]
    plugin: String,
}

#[derive(Args, Debug)]
struct InstallArgs {
    /// FILE.wasm, a native LIBRARY.so (with --allow-native-plugins), ARCHIVE.zip (every
    /// plugin it stores, or --name), or oci://REGISTRY/REPO:TAG
    #[arg(value_name = "SOURCE")]
    source: String,
    /// The plugin to install from an archive
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
    /// Replace an installed plugin of the same name
    #[arg(long)]
    force: bool,
    /// Verify TLS certificates of the registry
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: bool,
}

#[derive(Args, Debug)]
struct RemoveArgs {
    #[arg(value_name = "NAME", required = true)]
    names: Vec<String>,
}

#[derive(Args, Debug)]
struct PushArgs {
    /// A plugin name, or a plugin file
    #[arg(value_name = "NAME|FILE")]
    plugin: String,
    /// Where to push it: REGISTRY/REPO:TAG (the tag defaults to the plugin's version)
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// Verify TLS certificates of the registry
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: bool,
}

pub async fn run(cmd: PluginCommand, global: &super::Global) -> anyhow::Result<Status> {
    match cmd.action {
        PluginAction::Test(a) => test(global, a).await,
        action => manage(action, global).await,
    }
}

async fn manage(action: PluginAction, global: &super::Global) -> anyhow::Result<Status> {
    let settings = global.plugin_settings(Overrides::default())?;
    let runtime = Runtime::new(settings.limits, Runtime::default_cache())?;
    match action {
        PluginAction::Ls(a) => list(&settings.catalog, &runtime, a.json).await,
        PluginAction::Inspect(a) => {
            let found = settings.catalog.find(&runtime, &a.plugin).await?;
            outln!("{}", serde_json::to_string_pretty(&inspect_json(&found))?)?;
            Ok(Status::Success)
        }
        PluginAction::Install(a) => install(&settings, &runtime, a).await,
        PluginAction::Remove(a) => {
            let mut failed = 0;
            for name in &a.names {
                match settings.catalog.remove(name) {
                    Ok(m) => tracing::info!("Removed plugin {} {}", m.name, m.version),
                    Err(e) => {
                        tracing::error!("{e}");
                        failed += 1;
                    }
                }
            }
            Ok(if failed > 0 {
                Status::SomeFailed
            } else {
                Status::Success
            })
        }
        PluginAction::Push(a) => push(&settings, &runtime, a).await,
        PluginAction::Test(a) => test(global, a).await,
    }
}

async fn list(catalog: &Catalog, runtime: &Arc<Runtime>, json: bool) -> anyhow::Result<Status> {
    let entries = catalog.list(runtime).await;
    let mut failed = false;
    if json {
        let found: Vec<_> = entries
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .map(inspect_json)
            .collect();
        outln!("{}", serde_json::to_string_pretty(&found)?)?;
    } else {
        outln!(
            "{:<16} {:<10} {:<17} {:<7} SOURCE",
            "NAME",
            "VERSION",
            "WORLD",
            "KIND"
        )?;
    }
    for entry in &entries {
        match entry {
            Ok(found) if !json => {
                let m = &found.manifest;
                outln!(
                    "{:<16} {:<10} {:<17} {:<7} {}",
                    m.name,
                    m.version,
                    m.world.to_string(),
                    format!("{:?}", m.kind).to_lowercase(),
                    found.origin
                )?;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        Status::SomeFailed
    } else {
        Status::Success
    })
}

fn inspect_json(found: &Found) -> serde_json::Value {
    let mut value = serde_json::to_value(&found.manifest).expect("a manifest serializes");
    value["source"] = serde_json::Value::String(found.origin.to_string());
    value
}

async fn install(
    settings: &Settings,
    runtime: &Arc<Runtime>,
    args: InstallArgs,
) -> anyhow::Result<Status> {
    let catalog = &settings.catalog;
    let installed: Vec<Manifest> = if let Some(reference) = args.source.strip_prefix("oci://") {
        let reference = Reference::parse(reference)?;
        let registries = Registries::new(RegistryOptions {
            tls_verify: Some(args.tls_verify),
            ..RegistryOptions::default()
        });
        let registry = registries.get(reference.registry()).await?;
        let wanted = reference.manifest_reference();
        let (recorded, bytes) =
            crate::plugin::oci::pull(&registry, reference.repository(), &wanted).await?;
        vec![
            install_checked(
                settings,
                runtime,
                &recorded,
                &bytes,
                &args.source,
                args.force,
            )
            .await?,
        ]
    } else if args.source.ends_with(".zip") {
        let mut installed = Vec::new();
        let stored = plugins_in_archive(Path::new(&args.source), args.name.as_deref())?;
        for (recorded, bytes) in stored {
            installed.push(
                install_checked(
                    settings,
                    runtime,
                    &recorded,
                    &bytes,
                    &args.source,
                    args.force,
                )
                .await?,
            );
        }
        installed
    } else {
        let path = PathBuf::from(&args.source);
        let bytes = std::fs::read(&path).with_context(|| args.source.clone())?;
        vec![
            catalog
                .install(runtime, &bytes, &args.source, args.force)
                .await?,
        ]
    };
    for m in installed {
        tracing::info!(
            "Installed plugin {} {} ({}, sha256 {})",
            m.name,
            m.version,
            m.world,
            &m.sha256[..12]
        );
    }
    Ok(Status::Success)
}

/// Installs bytes that arrived with a recorded manifest (registry, archive): the plugin must
/// describe itself as the record says, so a relabelled artifact is refused.
async fn install_checked(
    settings: &Settings,
    runtime: &Arc<Runtime>,
    recorded: &Manifest,
    bytes: &[u8],
    origin: &str,
    force: bool,
) -> anyhow::Result<Manifest> {
    crate::plugin::oci::check(origin, recorded, bytes)?;
    let described = settings
        .catalog
        .describe(runtime, &recorded.name, bytes)
        .await?;
    if described.name != recorded.name || described.world != recorded.world {
        bail!(
            "{origin}: the artifact says it is {} ({}), but the plugin describes itself as {} ({})",
            recorded.name,
            recorded.world,
            described.name,
            described.world
        );
    }
    settings.catalog.write(&described, bytes, force)?;
    Ok(described)
}

/// The plugins an archive stores (`hangar-plugin/<name>` entries), with their bytes.
fn plugins_in_archive(path: &Path, name: Option<&str>) -> anyhow::Result<Vec<(Manifest, Vec<u8>)>> {
    let (mut reader, index) = super::archive::open(path)?;
    let blobs = ArchiveBlobs::new(path, &mut reader)?;
    let mut found = Vec::new();
    for image in &index.list {
        let Some(plugin) = image.source.strip_prefix("docker.io/hangar-plugin/") else {
            continue;
        };
        if name.is_some_and(|n| n != plugin) {
            continue;
        }
        let spec = image
            .images
            .first()
            .context("an artifact with no manifest")?;
        let blob = |digest: &str| format!("share/sha256/{}", digest.trim_start_matches("sha256:"));
        let config = blobs.read_small(&blob(&spec.config), 1 << 20)?;
        let recorded: Manifest = serde_json::from_slice(&config)
            .with_context(|| format!("{}: the manifest of plugin {plugin}", path.display()))?;
        let layer = spec
            .layers
            .first()
            .context("a plugin artifact with no layer")?;
        let bytes = blobs.read_small(&blob(layer), crate::plugin::oci::SIZE_LIMIT as u64)?;
        found.push((recorded, bytes.to_vec()));
    }
    if found.is_empty() {
        match name {
            Some(n) => bail!("{}: stores no plugin named {n}", path.display()),
            None => bail!("{}: stores no plugins", path.display()),
        }
    }
    Ok(found)
}

async fn push(
    settings: &Settings,
    runtime: &Arc<Runtime>,
    args: PushArgs,
) -> anyhow::Result<Status> {
    let found = settings.catalog.find(runtime, &args.plugin).await?;
    let bytes = settings.catalog.bytes(&found)?;
    let reference = Reference::parse(&args.reference)?;
    let tag = reference
        .tag()
        .map(str::to_string)
        .unwrap_or_else(|| found.manifest.version.replace('+', "-"));
    let registries = Registries::new(RegistryOptions {
        tls_verify: Some(args.tls_verify),
        ..RegistryOptions::default()
    });
    let registry = registries.get(reference.registry()).await?;
    let digest = crate::plugin::oci::push(
        &registry,
        reference.repository(),
        &tag,
        &found.manifest,
        Bytes::from(bytes),
    )
    .await?;
    tracing::info!(
        "Pushed plugin {} {} to {}/{}:{tag} ({digest})",
        found.manifest.name,
        found.manifest.version,
        reference.registry(),
        reference.repository()
    );
    if matches!(found.origin, Origin::Given(_)) {
        tracing::debug!("from {}", found.origin);
    }
    Ok(Status::Success)
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// A plugin name, or a plugin file
    #[arg(value_name = "NAME|FILE")]
    plugin: String,
    /// The function: describe | detect REGISTRY | prepare-push REGISTRY REPO... |
    /// classify-error STATUS BODY | generate | scan | formats | generate FORMAT REPORT.json
    #[arg(value_name = "FUNCTION")]
    function: String,
    #[arg(value_name = "ARG")]
    args: Vec<String>,
    /// Answer the plugin's HTTP requests from this YAML file instead of the network
    #[arg(long = "http-fixtures", value_name = "FILE")]
    http_fixtures: Option<PathBuf>,
    /// An option for prepare-push or generate (repeatable)
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = super::args::parse_key_value)]
    options: Vec<(String, String)>,
    /// A file or directory a list generator may read (repeatable)
    #[arg(long = "path", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The unpacked root filesystem a scanner reads
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    rootfs: Option<PathBuf>,
    /// An image in a registry whose layers a scanner reads (the platform from --platform)
    #[arg(long, value_name = "REGISTRY/REPO:TAG")]
    image: Option<String>,
    /// Verify TLS certificates (the registry of --image, and a plugin's own requests; false
    /// also lets credentials go over plain HTTP)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    tls_verify: bool,
    /// The platform handed to a scanner
    #[arg(long, default_value = "linux/amd64", value_name = "OS/ARCH[/VARIANT]")]
    platform: String,
    /// A declared host the plugin may reach besides `$registry` (repeatable)
    #[arg(long = "plugin-allow-host", value_name = "HOST")]
    allow_host: Vec<String>,
}

/// `plugin test`: one call, its result and every HTTP request the plugin made, as JSON.
pub async fn test(global: &super::Global, args: TestArgs) -> anyhow::Result<Status> {
    use crate::plugin::fixtures::Fixtures;
    use crate::plugin::manifest::{Kind, World};
    use crate::plugin::sandbox::Transport;
    use serde_json::json;

    let settings = global.plugin_settings(Overrides::default())?;
    let runtime = Runtime::new(settings.limits, Runtime::default_cache())?;
    let found = settings.catalog.find(&runtime, &args.plugin).await?;
    if found.manifest.kind == Kind::Native {
        settings
            .catalog
            .check_native(&format!("plugin {}", found.manifest.name))?;
    }
    let bytes = settings.catalog.bytes(&found)?;
    let fixtures = match &args.http_fixtures {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
            Some(Arc::new(
                Fixtures::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            ))
        }
        None => None,
    };
    let name = found.manifest.name.clone();
    let native = found.manifest.kind == Kind::Native;
    let arg = |i: usize, what: &str| {
        args.args
            .get(i)
            .cloned()
            .with_context(|| format!("{} needs {what}", args.function))
    };
    // Every request the plugin makes, answered from fixtures or from the network.
    let mut recorded = None;
    let result: Result<serde_json::Value, crate::plugin::PluginError> = match found.manifest.world {
        World::RegistryAdapter => {
            use crate::plugin::registry_adapter::RegistryAdapter;
            let mut adapter = if native {
                RegistryAdapter::load_native(
                    runtime.clone(),
                    &name,
                    &bytes,
                    args.allow_host.clone(),
                    args.tls_verify,
                )
                .await?
            } else {
                RegistryAdapter::load(
                    runtime.clone(),
                    &name,
                    &bytes,
                    args.allow_host.clone(),
                    args.tls_verify,
                )
                .await?
            };
            if let Some(f) = &fixtures {
                adapter.set_transport(Transport::Fixtures(f.clone()));
            }
            recorded = Some(adapter.record_requests());
            match args.function.as_str() {
                "describe" => Ok(
                    json!({"name": adapter.name(), "version": adapter.version(), "hosts": adapter.declared_hosts()}),
                ),
                "detect" => adapter.detect(&arg(0, "REGISTRY")?).await.map(|b| json!(b)),
                "prepare-push" => {
                    let registry = arg(0, "REGISTRY")?;
                    adapter
                        .prepare_push(&registry, &args.args[1..], &args.options)
                        .await
                        .map(|notes| json!(notes))
                }
                "classify-error" => {
                    let status: u16 = arg(0, "STATUS")?.parse().context("STATUS is a number")?;
                    adapter
                        .classify_error(status, &arg(1, "BODY")?)
                        .await
                        .map(|m| json!(m))
                }
                other => bail!(
                    "a registry adapter has describe, detect, prepare-push and classify-error, not {other}"
                ),
            }
        }
        World::ListGenerator => {
            use crate::plugin::list_generator::ListGenerator;
            let mut generator = if native {
                ListGenerator::load_native(runtime.clone(), &name, &bytes).await?
            } else {
                ListGenerator::load(runtime.clone(), &name, &bytes).await?
            };
            if let Some(f) = &fixtures {
                generator.set_transport(Transport::Fixtures(f.clone()));
            }
            recorded = Some(generator.record_requests());
            match args.function.as_str() {
                "describe" => Ok(json!({"name": generator.name(), "version": generator.version(), "hosts": generator.declared_hosts()})),
                "generate" => generator
                    .generate(&args.options, args.paths.clone(), &args.allow_host)
                    .await
                    .map(|generated| {
                        json!(generated.entries
                            .iter()
                            .map(|e| json!({"reference": e.reference, "os": e.os, "source": e.source}))
                            .collect::<Vec<_>>())
                    }),
                other => bail!("a list generator has describe and generate, not {other}"),
            }
        }
        World::Scanner => {
            use crate::plugin::image_fs::DirTree;
            use crate::plugin::scanner::{Platform, Scanner};
            let scanner = Scanner::load(runtime.clone(), &name, &bytes).await?;
            match args.function.as_str() {
                "describe" => Ok(json!({"name": scanner.name(), "version": scanner.version()})),
                "scan" => {
                    let mut parts = args.platform.split('/');
                    let platform = Platform {
                        os: parts.next().unwrap_or("linux").to_string(),
                        architecture: parts.next().unwrap_or("amd64").to_string(),
                        variant: parts.next().map(str::to_string),
                    };
                    let (label, tree): (String, Arc<dyn crate::plugin::image_fs::Tree>) =
                        match (&args.image, &args.rootfs) {
                            (Some(image), _) => {
                                let reference = Reference::parse(image)?;
                                let registries = Registries::new(RegistryOptions {
                                    tls_verify: Some(args.tls_verify),
                                    ..RegistryOptions::default()
                                });
                                let wanted = crate::image::platform::Platform::new(
                                    &platform.os,
                                    &platform.architecture,
                                    platform.variant.as_deref(),
                                );
                                let tree = crate::plugin::image_source::layer_tree(
                                    &registries,
                                    &reference,
                                    &wanted,
                                )
                                .await?;
                                (image.clone(), Arc::new(tree))
                            }
                            (None, Some(rootfs)) => (
                                rootfs.display().to_string(),
                                Arc::new(DirTree::new(rootfs.clone())),
                            ),
                            (None, None) => bail!("scan needs --image REF or --rootfs DIR"),
                        };
                    scanner
                        .scan(&label, &platform, tree, &args.options, args.paths.clone())
                        .await
                        .map(|r| crate::plugin::scanner::report_json(&r))
                }
                other => bail!("a scanner has describe and scan, not {other}"),
            }
        }
        World::SbomGenerator => {
            use crate::plugin::sbom::{SbomGenerator, Subject};
            use crate::plugin::scanner::{Platform, report_from_json};
            let generator = SbomGenerator::load(runtime.clone(), &name, &bytes).await?;
            match args.function.as_str() {
                "describe" => Ok(json!({"name": generator.name(), "version": generator.version()})),
                "formats" => Ok(json!(generator.formats())),
                "generate" => {
                    let format = arg(0, "FORMAT")?;
                    let path = PathBuf::from(arg(1, "REPORT.json (a scanner report)")?);
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| path.display().to_string())?;
                    let value: serde_json::Value = serde_json::from_str(&text)
                        .with_context(|| format!("{}: not JSON", path.display()))?;
                    // `plugin test SCANNER scan` output, or the bare report.
                    let report = report_from_json(value.get("result").unwrap_or(&value))
                        .with_context(|| {
                            format!(
                                "{}: not a scanner report (no \"packages\" array)",
                                path.display()
                            )
                        })?;
                    let mut parts = args.platform.split('/');
                    let subject = Subject {
                        image: args
                            .image
                            .clone()
                            .unwrap_or_else(|| path.display().to_string()),
                        digest: String::new(),
                        platform: Platform {
                            os: parts.next().unwrap_or("linux").to_string(),
                            architecture: parts.next().unwrap_or("amd64").to_string(),
                            variant: parts.next().map(str::to_string),
                        },
                        tools: vec![format!("hangar-{}", super::VERSION)],
                    };
                    let created = crate::archive::index::rfc3339_seconds(
                        &crate::archive::index::rfc3339_now(),
                    );
                    match generator
                        .generate(&format, &subject, &report, &created)
                        .await
                    {
                        // JSON documents are shown as JSON, anything else as text.
                        Ok(document) => Ok(serde_json::from_str(&document)
                            .unwrap_or(serde_json::Value::String(document))),
                        Err(e) => Err(e),
                    }
                }
                other => bail!("an sbom generator has describe, formats and generate, not {other}"),
            }
        }
    };
    let requests = recorded.map(|log| log.exchanges()).unwrap_or_default();
    let failed = result.is_err();
    let report = match result {
        Ok(value) => {
            json!({"plugin": name, "function": args.function, "result": value, "requests": requests})
        }
        Err(e) => {
            json!({"plugin": name, "function": args.function, "error": e.to_string(), "requests": requests})
        }
    };
    outln!("{}", serde_json::to_string_pretty(&report)?)?;
    Ok(if failed {
        Status::SomeFailed
    } else {
        Status::Success
    })
}
