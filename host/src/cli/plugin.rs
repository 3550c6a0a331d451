//! `hangar plugin …`: list, inspect, install, remove and push plugins. Installing reads a
//! component file, an archive that stores plugins, or an OCI artifact in a registry, and
//! always describes the plugin first: one built for another contract is refused before it is
//! written.

use super::Status;
use crate::plugin::catalog::{Catalog, Origin};
use crate::plugin::manage::{self, Install, inspect_json};
use crate::plugin::runtime::Runtime;
use crate::plugin::trial::{self, Call};
use clap::{Args, Subcommand};
use std::path::PathBuf;
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
    /// Write a new plugin project (Rust, Python or JavaScript) that builds and passes
    /// `plugin test` as written
    New(super::plugin_new::NewArgs),
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
    let settings = global.plugin_settings(Default::default())?;
    let runtime = Runtime::new(settings.limits, Runtime::default_cache())?;
    let catalog = &settings.catalog;
    match cmd.action {
        PluginAction::New(a) => super::plugin_new::run(a),
        PluginAction::Ls(a) => list(catalog, &runtime, a.json).await,
        PluginAction::Inspect(a) => {
            let found = catalog.find(&runtime, &a.plugin).await?;
            outln!("{}", serde_json::to_string_pretty(&inspect_json(&found))?)?;
            Ok(Status::Success)
        }
        PluginAction::Install(a) => {
            let from = Install {
                source: &a.source,
                name: a.name.as_deref(),
                force: a.force,
                tls_verify: a.tls_verify,
            };
            for m in manage::install(catalog, &runtime, &from).await? {
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
        PluginAction::Remove(a) => {
            let mut failed = false;
            for name in &a.names {
                match catalog.remove(name) {
                    Ok(m) => tracing::info!("Removed plugin {} {}", m.name, m.version),
                    Err(e) => {
                        tracing::error!("{e}");
                        failed = true;
                    }
                }
            }
            Ok(status(failed))
        }
        PluginAction::Push(a) => {
            let pushed =
                manage::push(catalog, &runtime, &a.plugin, &a.reference, a.tls_verify).await?;
            let (m, r) = (&pushed.found.manifest, &pushed.reference);
            tracing::info!(
                "Pushed plugin {} {} to {}/{}:{} ({})",
                m.name,
                m.version,
                r.registry(),
                r.repository(),
                pushed.tag,
                pushed.digest
            );
            if matches!(pushed.found.origin, Origin::Given(_)) {
                tracing::debug!("from {}", pushed.found.origin);
            }
            Ok(Status::Success)
        }
        PluginAction::Test(a) => {
            let call = Call {
                function: a.function,
                args: a.args,
                http_fixtures: a.http_fixtures,
                options: a.options,
                paths: a.paths,
                rootfs: a.rootfs,
                image: a.image,
                tls_verify: a.tls_verify,
                platform: a.platform,
                allow_host: a.allow_host,
                tool: format!("hangar-{}", super::VERSION),
            };
            let outcome = trial::run(catalog, &runtime, &a.plugin, &call).await?;
            let report = outcome.to_json(&call.function);
            outln!("{}", serde_json::to_string_pretty(&report)?)?;
            let unmatched: Vec<String> = outcome
                .requests
                .iter()
                .filter(|e| e.matched == Some(false))
                .map(|e| format!("{} {}", e.method, e.url))
                .collect();
            if a.strict && !unmatched.is_empty() {
                tracing::error!("--strict: no recorded answer for {}", unmatched.join(", "));
                return Ok(Status::SomeFailed);
            }
            Ok(status(outcome.result.is_err()))
        }
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
        outln!("{}", manage::TABLE_HEADER)?;
    }
    for entry in &entries {
        match entry {
            Ok(found) if !json => outln!("{}", manage::table_row(found))?,
            Ok(_) => {}
            Err(e) => {
                tracing::error!("{e}");
                failed = true;
            }
        }
    }
    Ok(status(failed))
}

fn status(failed: bool) -> Status {
    if failed {
        Status::SomeFailed
    } else {
        Status::Success
    }
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
    /// Exit 1 when the plugin made a request no recorded answer matched (for vendors' CI)
    #[arg(long, requires = "http_fixtures")]
    strict: bool,
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
