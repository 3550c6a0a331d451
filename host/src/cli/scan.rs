//! `hangar scan`: every listed image platform's merged filesystem, read from the registry
//! layer by layer, handed to a scanner plugin (the built-in `osv-scanner` unless the config or
//! `--scanner-plugin` chooses another), with a report in the chosen format. Unlike Hangar, a
//! failed image fails the run, `--format json` has the vulnerabilities, and `--exit-code` with
//! `--severity` makes CI gates.

use super::list_run::{ListArgs, ListRun};
use super::{Global, Status};
use crate::plugin::catalog::Found;
use crate::plugin::manifest::World;
use crate::plugin::runtime::Runtime;
use crate::plugin::sbom::{SbomGenerator, Subject};
use crate::plugin::scanner::{Platform as WitPlatform, Scanner};
use crate::plugin::settings::Overrides;
use crate::scan::report::{self, Format, Scanned};
use crate::sign::targets::{Target, targets};
use anyhow::{Context as _, bail};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ScanArgs {
    #[command(flatten)]
    list: ListArgs,
    /// Report file ([FORMAT] is replaced by the format's extension)
    #[arg(
        short = 'r',
        long = "report",
        default_value = "scan-report.[FORMAT]",
        value_name = "FILE"
    )]
    report: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Vulnerability database: osv-scanner's offline layout (<DIR>/<Ecosystem>/all.zip) or OSV
    /// JSON files; without it, packages are listed but not matched
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// Scanner plugin: a name (osv-scanner) or a .wasm file [default: config file, else
    /// osv-scanner]
    #[arg(long = "scanner-plugin", value_name = "PLUGIN")]
    scanner_plugin: Option<String>,
    /// SBOM plugin writing the spdx-json and cyclonedx documents: a name (sbom) or a .wasm
    /// file [default: config file, else sbom]
    #[arg(long = "sbom-plugin", value_name = "PLUGIN")]
    sbom_plugin: Option<String>,
    /// Exit with this code when a finding has one of the --severity levels
    #[arg(long, value_name = "N", default_value_t = 0)]
    exit_code: u8,
    /// Severities that trigger --exit-code (comma-separated)
    #[arg(
        long,
        value_name = "LIST",
        default_value = "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",
        value_delimiter = ','
    )]
    severity: Vec<String>,
    /// Hangar's scanner kinds (vuln, misconfig, secret, license, none); hangar scans OS
    /// packages for vulnerabilities
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "vuln",
        hide_short_help = true
    )]
    scanner: Vec<String>,
    /// Trivy options Hangar had; hangar scans offline with --db and ignores them
    #[arg(short = 's', long, hide = true)]
    server: Option<String>,
    #[arg(long, hide = true)]
    cache: Option<String>,
    #[arg(long, hide = true)]
    trivy_db_repo: Option<String>,
    #[arg(long, hide = true)]
    trivy_java_db_repo: Option<String>,
    #[arg(long, hide = true)]
    offline_scan: bool,
    #[arg(long, hide = true)]
    skip_db_update: bool,
    #[arg(long, hide = true)]
    skip_java_db_update: bool,
    #[arg(long, hide = true)]
    trivy_log_output: bool,
}

pub async fn run(args: ScanArgs, global: &Global) -> anyhow::Result<Status> {
    if args.server.is_some() || args.trivy_db_repo.is_some() || args.trivy_java_db_repo.is_some() {
        tracing::warn!(
            "Trivy server and database options are ignored: hangar scans offline with --db"
        );
    }
    let settings = global.plugin_settings(Overrides {
        scanner: args.scanner_plugin.clone(),
        sbom: args.sbom_plugin.clone(),
        tls_verify: args.list.tls.tls_verify,
        ..Overrides::default()
    })?;
    let runtime = Runtime::new(settings.limits, Runtime::default_cache())?;
    let choice = settings.scanner.as_deref().unwrap_or("osv-scanner");
    let (found, bytes) = plugin_of(&settings, &runtime, "scanner", choice, World::Scanner).await?;
    let scanner = Scanner::load(runtime.clone(), &found.manifest.name, &bytes).await?;
    let sbom = match args.format.sbom() {
        Some(format) => {
            let choice = settings.sbom.as_deref().unwrap_or("sbom");
            let (found, bytes) =
                plugin_of(&settings, &runtime, "sbom", choice, World::SbomGenerator).await?;
            let generator = SbomGenerator::load(runtime, &found.manifest.name, &bytes).await?;
            if !generator.formats().iter().any(|f| f == format) {
                bail!(
                    "sbom plugin {choice}: {} {} writes {}, not {format}",
                    generator.name(),
                    generator.version(),
                    generator.formats().join(", ")
                );
            }
            tracing::info!(
                "SBOM plugin: {} {} ({})",
                generator.name(),
                generator.version(),
                found.origin
            );
            Some((generator, format))
        }
        None => None,
    };
    let time = crate::archive::index::rfc3339_now();
    let created = crate::archive::index::rfc3339_seconds(&time);
    let (options, paths) = match &args.db {
        Some(db) => {
            if !db.is_dir() {
                bail!("--db {}: not a directory", db.display());
            }
            (
                vec![("db".to_string(), db.display().to_string())],
                vec![db.clone()],
            )
        }
        None => {
            tracing::warn!("No --db given: packages are listed, not matched against advisories");
            (Vec::new(), Vec::new())
        }
    };
    let list = &args.list;
    let run = ListRun::start(list)?;
    tracing::info!("Scanners: [{}]", args.scanner.join(","));
    tracing::info!(
        "Output Format: [{}]",
        format!("{:?}", args.format).to_lowercase()
    );
    tracing::info!(
        "Scanner plugin: {} {} ({})",
        found.manifest.name,
        found.manifest.version,
        found.origin
    );
    tracing::debug!(
        "gzip layers are inflated by {}",
        crate::image::gzip::inflater()
    );
    let results = run
        .each(list, |i, job: &super::list_run::Job| {
            let (registries, filter, scanner, options, paths, sbom, created) = (
                &run.registries,
                &run.filter,
                &scanner,
                &options,
                &paths,
                &sbom,
                &created,
            );
            async move {
                tracing::info!("[IMG:{}] Scanning [{}]", i + 1, job.reference);
                let registry = registries.get(job.reference.registry()).await?;
                let found = targets(&registry, &job.reference, filter, false).await?;
                let mut scanned = Vec::new();
                for Target {
                    digest, platform, ..
                } in found
                {
                    let at = job.reference.at_digest(&digest);
                    let platform = match platform {
                        Some(p) => p,
                        None => {
                            let manifest = registry
                                .get_manifest(job.reference.repository(), digest.as_str())
                                .await?;
                            crate::copy::image::config_platform(
                                &registry,
                                job.reference.repository(),
                                &manifest,
                            )
                            .await?
                            .map(|c| c.platform())
                            .unwrap_or_default()
                        }
                    };
                    let reading = std::time::Instant::now();
                    let tree =
                        crate::plugin::image_source::layer_tree(registries, &at, &platform).await?;
                    let read_in = reading.elapsed();
                    let wit = WitPlatform {
                        os: platform.os.clone(),
                        architecture: platform.architecture.clone(),
                        variant: platform.variant.clone(),
                    };
                    let report = scanner
                        .scan(
                            &job.reference.to_string(),
                            &wit,
                            Arc::new(tree),
                            options,
                            paths.clone(),
                        )
                        .await?;
                    tracing::info!(
                        "[{}@{digest}] ({platform}): {} packages, {} vulnerabilities (layers read in {:.0?}, scanned in {:.0?})",
                        job.reference.name(),
                        report.packages.len(),
                        report.findings.len(),
                        read_in,
                        reading.elapsed() - read_in
                    );
                    let document = match sbom {
                        Some((generator, format)) => {
                            let subject = Subject {
                                image: job.reference.to_string(),
                                digest: digest.to_string(),
                                platform: wit.clone(),
                                tools: vec![
                                    format!("hangar-{}", super::VERSION),
                                    format!("{}-{}", scanner.name(), scanner.version()),
                                    format!("{}-{}", generator.name(), generator.version()),
                                ],
                            };
                            let text = generator
                                .generate(format, &subject, &report, created)
                                .await?;
                            let document = serde_json::from_str(&text).with_context(|| {
                                format!("sbom plugin {}: its {format} document is not JSON", generator.name())
                            })?;
                            Some(document)
                        }
                        None => None,
                    };
                    scanned.push(Scanned {
                        reference: job.reference.to_string(),
                        digest: digest.to_string(),
                        platform,
                        report,
                        scanner: scanner.name().to_string(),
                        document,
                    });
                }
                anyhow::Ok(scanned)
            }
        })
        .await;
    let mut failed_lines = Vec::new();
    let mut all = Vec::new();
    for (job, result) in run.jobs.iter().zip(results) {
        match result {
            Ok(scanned) => all.extend(scanned),
            Err(e) => {
                tracing::error!("failed to scan [{}]: {e}", job.reference);
                failed_lines.push(job.text.as_str());
            }
        }
    }
    let path = PathBuf::from(args.report.replace("[FORMAT]", args.format.extension()));
    crate::outfile::write(&path, report::render(args.format, &all, &time).as_ref())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("Report exported to {:?}", path.display().to_string());
    let gate: Vec<String> = args
        .severity
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    let gated = all
        .iter()
        .flat_map(|s| s.report.findings.iter())
        .filter(|f| gate.contains(&f.severity))
        .count();
    let status = super::bulk::finish_run(
        &list.failed_or("scan-failed.txt"),
        &failed_lines,
        "Scan",
        "scan",
        run.cancel.is_cancelled(),
    )?;
    if status == Status::Success && args.exit_code != 0 && gated > 0 {
        tracing::warn!(
            "{gated} vulnerabilities of severity {} found; exiting with {}",
            gate.join(","),
            args.exit_code
        );
        return Ok(Status::Exit(args.exit_code));
    }
    Ok(status)
}

/// The plugin `choice` names (a name or a file), which must implement `world`, and its bytes.
async fn plugin_of(
    settings: &crate::plugin::settings::Settings,
    runtime: &Arc<Runtime>,
    role: &str,
    choice: &str,
    world: World,
) -> anyhow::Result<(Found, Vec<u8>)> {
    let found: Found = settings
        .catalog
        .find(runtime, choice)
        .await
        .with_context(|| format!("{role} plugin {choice}"))?;
    if found.manifest.world != world {
        bail!(
            "{role} plugin {choice}: {} implements {}, not {world}",
            found.manifest.name,
            found.manifest.world
        );
    }
    let bytes = settings.catalog.bytes(&found)?;
    Ok((found, bytes))
}
