//! `hangar scan`: every listed image platform's merged filesystem, read from the registry
//! layer by layer, handed to a scanner plugin (the built-in `osv-scanner` unless the config or
//! `--scanner-plugin` chooses another), with a report in the chosen format. Unlike Hangar, a
//! failed image fails the run, `--format json` has the vulnerabilities, and `--exit-code` with
//! `--severity` makes CI gates.

use super::list_run::{Job, ListArgs, ListRun};
use super::{Global, Status};
use crate::plugin::runtime::Runtime;
use crate::plugin::settings::Overrides;
use crate::scan::pipeline::{self, Pipeline};
use crate::scan::report::{self, Format};
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;

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
    /// Hangar's scanner kinds (vuln, misconfig, secret, license, none); hangar scans for
    /// vulnerabilities only, and says which kinds it ignores
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
    // Hangar's overwrite question, asked before the scan rather than after it.
    let path = PathBuf::from(args.report.replace("[FORMAT]", args.format.extension()));
    super::may_overwrite(&path, args.list.yes)?;
    let ignored: Vec<&str> = args
        .scanner
        .iter()
        .map(String::as_str)
        .filter(|kind| *kind != "vuln")
        .collect();
    if !ignored.is_empty() {
        tracing::warn!(
            "--scanner {}: ignored, hangar scans for vulnerabilities only (vuln)",
            ignored.join(",")
        );
    }
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
    let (scanner, found) = pipeline::scanner(&settings, &runtime).await?;
    let sbom = match args.format.sbom() {
        Some(format) => {
            let (generator, found) = pipeline::sbom_generator(&settings, &runtime, format).await?;
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
    let (options, paths) = pipeline::database(args.db.as_deref())?;
    if args.db.is_none() {
        tracing::warn!("No --db given: packages are listed, not matched against advisories");
    }
    let list = &args.list;
    let run = ListRun::start(list)?;
    // What runs, whatever --scanner asked for (the warning above names what it ignored).
    tracing::info!("Scanners: [vuln]");
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
    let tool = format!("hangar-{}", super::VERSION);
    let pipeline = Pipeline {
        registries: &run.registries,
        filter: &run.filter,
        scanner: &scanner,
        sbom: sbom.as_ref().map(|(g, f)| (g, *f)),
        options: &options,
        paths: &paths,
        created: &created,
        tool: &tool,
    };
    let results = run
        .each(list, |i, job: &Job| {
            tracing::info!("[IMG:{}] Scanning [{}]", i + 1, job.reference);
            pipeline.image(&job.reference)
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
    crate::outfile::write(&path, report::render(args.format, &all, &time).as_ref())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("Report exported to {:?}", path.display().to_string());
    let (gate, gated) = pipeline::gated(&all, &args.severity);
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
