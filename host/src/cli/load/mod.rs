//! `hangar load` (archive → registry) and `load validate`.

mod args;
mod delta;

use super::args::select_shard;
use super::bulk::{
    BulkRun, finish_run, note_failure, prepare_destinations, watch_interrupts, workers,
};
use super::{Global, Status};
use crate::archive::blobs::ArchiveBlobs;
use crate::archive::index::{ArchiveIndex, Image};
use crate::archive::reader::ArchiveReader;
use crate::copy::CopyOptions;
use crate::copy::run::{self as copy_run, Tally};
use crate::copy::sink::registry::RegistryTarget;
use crate::copy::source::archive::{ArchiveSource, destination_of, pick};
use crate::copy::validate::{Named, Verdict, check_all, refused_by, validate_loaded};
use crate::image::reference::Reference;
use crate::registry::Registries;
use anyhow::Context as _;
pub use args::*;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One image to load: the failed-list line, the archive image, where it goes.
struct Job {
    text: String,
    image: Image,
    destination: Reference,
}

pub async fn run(cmd: LoadCommand, global: &Global) -> anyhow::Result<Status> {
    match cmd.action {
        Some(LoadAction::Validate(args)) => run_validate(args, global).await,
        None => run_load(cmd.args, global).await,
    }
}

/// The archive, its index and the jobs the flags select. List lines not in the archive are
/// failures from the start (their original text goes to the failed list).
fn plan(args: &LoadArgs) -> anyhow::Result<(ArchiveBlobs, ArchiveIndex, Vec<Job>, Vec<String>)> {
    let archive = args
        .source
        .as_ref()
        .context("source file not provided, use '--source' to specify the archive file")?;
    let registry = args
        .destination
        .as_deref()
        .filter(|d| !d.is_empty())
        .context(
            "destination registry URL not provided, use '--destination' to specify the registry",
        )?;
    let mut reader = ArchiveReader::open(archive)?;
    let index = reader
        .index()
        .with_context(|| format!("archive {}", archive.display()))?;
    let blobs = ArchiveBlobs::new(archive, &mut reader)?;
    let list = match &args.file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read image list {}", path.display()))?,
        ),
        None => None,
    };
    let picked = pick(
        &index,
        list.as_deref(),
        args.source_registry.as_deref(),
        !args.signatures.remove_signatures,
    );
    let jobs = picked
        .images
        .into_iter()
        .map(|(text, image)| {
            Ok(Job {
                text,
                image: image.clone(),
                destination: destination_of(image, registry, args.project.as_deref())
                    .with_context(|| format!("archive image {}:{}", image.source, image.tag))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let jobs = args.run.shard_of(jobs, |job| job.image.source.clone());
    // Lines the archive lacks are reported by the part their repository falls in.
    let not_found = select_shard(args.run.shard, picked.not_found, |line| {
        Reference::parse(line)
            .map(|r| r.name())
            .unwrap_or_else(|_| line.clone())
    });
    Ok((blobs, index, jobs, not_found))
}

fn options(args: &LoadArgs) -> CopyOptions {
    CopyOptions {
        filter: args.platform.filter(),
        provenance: args.run.provenance,
        overwrite: args.overwrite,
        dry_run: false,
        attachments: false,
        policy: None,
    }
}

async fn run_load(args: LoadArgs, global: &Global) -> anyhow::Result<Status> {
    if let Some(refused) = args.sigstore.refuse() {
        return Ok(refused);
    }
    let (archive, index, jobs, not_found) = plan(&args)?;
    let options = CopyOptions {
        policy: global.signature_policy()?,
        ..options(&args)
    };
    tracing::info!("Arch List: [{}]", options.filter.arch.join(","));
    tracing::info!("OS List: [{}]", options.filter.os.join(","));
    let registries = Registries::new(args.tls.registry_options());
    let registry_name = jobs
        .first()
        .map(|j| j.destination.registry().to_string())
        .unwrap_or_default();
    let checked = delta::check(
        &index,
        &archive,
        &jobs,
        &options.filter,
        &registries,
        &registry_name,
        args.project.as_deref(),
    )
    .await?;
    if !checked.refusals.is_empty() {
        for refusal in &checked.refusals {
            tracing::error!("{refusal}");
        }
        anyhow::bail!(
            "not loading the delta archive: {} of {} images need blobs {registry_name} does not \
             have; load their base first (nothing was pushed)",
            checked.refusals.len(),
            jobs.len()
        );
    }
    // The registry adapter (Harbor...) prepares the destination first, as Hangar's load does.
    let adapters = prepare_destinations(
        &args.adapter,
        &args.tls,
        global,
        jobs.iter().map(|j| &j.destination),
        true,
    )
    .await?;
    let run = BulkRun::start(global, jobs.len(), Duration::from_secs(5));
    let started = Instant::now();
    let target = RegistryTarget::new(&registries, run.events.clone());
    for (registry, digest, repository) in &checked.elsewhere {
        target.ledger.remember(registry, digest, repository);
    }
    let work = jobs
        .iter()
        .map(|job| copy_run::Job {
            text: job.text.clone(),
            from: job.text.clone(),
            to: job.destination.to_string(),
            tag: job.destination.push_tag(),
            source: Box::new(ArchiveSource::new(&archive, &job.image).with_index(&index)),
            sink: Box::new(target.sink(job.destination.clone())),
        })
        .collect();
    let finished = run
        .copy(&options, work, "load", &args.run, &note_failure(&adapters))
        .await;
    let tally = Tally::of(&finished, "load");
    let failed_lines: Vec<&str> = not_found
        .iter()
        .map(String::as_str)
        .chain(tally.failed.iter().copied())
        .collect();
    if let Some(adapters) = &adapters {
        adapters.explain_failures().await;
    }
    Tally {
        failed: failed_lines.clone(),
        ..tally
    }
    .log(jobs.len() + not_found.len(), "loaded", started);
    finish_run(
        &args.failed,
        &failed_lines,
        "Load",
        "load",
        run.cancel.is_cancelled(),
    )
}

/// Every archive platform that passes the filter must be in the destination: the tag is that
/// manifest, or an index listing it.
async fn run_validate(args: LoadArgs, global: &Global) -> anyhow::Result<Status> {
    args.sigstore.warn_ignored("load validate");
    let (archive, index, jobs, not_found) = plan(&args)?;
    let policy = global.signature_policy()?;
    let options = options(&args);
    let registries = Registries::new(args.tls.registry_options());
    // Which destinations lack the referrers API is learnt once for the whole run.
    let attached = crate::copy::attachments::Attached::default();
    let cancel = CancellationToken::new();
    watch_interrupts(cancel.clone());
    let failed = check_all(
        &jobs,
        workers(args.run.jobs),
        args.run.time_limit(),
        &cancel,
        |job: &Job| Named {
            text: job.text.clone(),
            pass: format!("[{}]", job.destination),
            fail: format!("[{}]", job.destination),
            skip: job.text.clone(),
        },
        |job| async {
            // What the policy refuses is not a valid load, whatever the destination holds.
            let source = ArchiveSource::new(&archive, &job.image).with_index(&index);
            if let Some(why) = refused_by(policy.as_deref(), &source).await? {
                return Ok(Verdict::Fail(why));
            }
            validate_loaded(
                &registries,
                &attached,
                &options,
                &job.image,
                &job.destination,
            )
            .await
        },
    )
    .await;
    let failed: Vec<&str> = not_found
        .iter()
        .chain(&failed)
        .map(String::as_str)
        .collect();
    finish_run(
        &args.failed,
        &failed,
        "Validate",
        "validate",
        cancel.is_cancelled(),
    )
}
