//! What every bulk command (mirror, save, sync, load) does around the engine: registry
//! adapters, worker count, Ctrl-C handling, the progress display, and the end of the run
//! (failed list, exit status), so each command only builds its sources and sinks.

use super::Status;
use super::args::{AdapterArgs, RunArgs, TlsArgs};
use crate::copy::events::Events;
use crate::copy::failed;
use crate::copy::run as copy_run;
use crate::copy::{CopyError, CopyOptions, Engine};
use crate::image::reference::Reference;
use crate::plugin::adapters::Adapters;
use crate::progress::{Progress, set_active_bars};
use anyhow::Context as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Progress, cancellation and the periodic progress line of one bulk run.
pub struct BulkRun {
    pub progress: Arc<Progress>,
    pub events: Events,
    pub cancel: CancellationToken,
    ticker: tokio::task::JoinHandle<()>,
}

impl BulkRun {
    /// Shows progress for `total` images (a progress line every `interval` off a terminal) and
    /// starts watching for Ctrl-C.
    pub fn start(global: &super::Global, total: usize, interval: Duration) -> BulkRun {
        let progress = Arc::new(Progress::new(global.progress_mode(), total));
        set_active_bars(progress.multi());
        let ticker = progress.spawn_ticker(interval.max(Duration::from_millis(100)));
        let events: Events = progress.clone();
        let cancel = CancellationToken::new();
        watch_interrupts(cancel.clone());
        BulkRun {
            progress,
            events,
            cancel,
            ticker,
        }
    }

    /// Takes the live display down so the summary prints below it.
    pub fn end(&self) {
        self.ticker.abort();
        self.progress.finish();
        set_active_bars(None);
    }
}

impl BulkRun {
    /// Runs `work` through the copy engine (planning, largest first, `--jobs` workers,
    /// `--timeout` per image, Ctrl-C), then takes the live display down.
    pub async fn copy(
        &self,
        options: &CopyOptions,
        work: Vec<copy_run::Job<'_>>,
        verb: &str,
        run: &RunArgs,
        failed: &(dyn Fn(&str, &CopyError) + Sync),
    ) -> Vec<copy_run::Finished> {
        let engine = Engine {
            options,
            events: self.events.clone(),
        };
        let settings = copy_run::Settings {
            workers: workers(run.jobs),
            timeout: run.time_limit(),
            cancel: &self.cancel,
            verb,
            planned: &|bytes| self.progress.set_total_bytes(bytes),
            failed,
        };
        let finished = copy_run::run(&engine, work, &settings).await;
        self.end();
        finished
    }
}

/// Loads the registry adapters and lets them prepare each destination registry for the
/// repositories the run writes (Harbor creates missing projects), before anything is copied.
/// `None` when nothing will be written (a dry run, no images).
pub async fn prepare_destinations<'r>(
    adapter: &AdapterArgs,
    tls: &TlsArgs,
    global: &super::Global,
    destinations: impl Iterator<Item = &'r Reference>,
    writes: bool,
) -> anyhow::Result<Option<Adapters>> {
    let mut by_registry: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for destination in destinations {
        by_registry
            .entry(destination.registry())
            .or_default()
            .insert(destination.repository().to_string());
    }
    if !writes || by_registry.is_empty() {
        return Ok(None);
    }
    let adapters = Adapters::load(&adapter.settings(tls, global)?).await?;
    for (registry, repositories) in by_registry {
        let repositories: Vec<String> = repositories.into_iter().collect();
        adapters.prepare_destination(registry, &repositories).await;
    }
    Ok(Some(adapters))
}

/// Tells the registry adapters (Harbor...) of a failed image, so they can explain the
/// failures at the end (a missing project, a quota).
pub fn note_failure(adapters: &Option<Adapters>) -> impl Fn(&str, &CopyError) + Sync + '_ {
    move |to, e| {
        if let Some(adapters) = adapters {
            adapters.note_failure(to.split('/').next().unwrap_or(to), e.response());
        }
    }
}

pub fn workers(jobs: usize) -> usize {
    if jobs == 0 {
        tracing::warn!("Invalid worker num: 0, set to 1");
        1
    } else {
        jobs
    }
}

/// The first Ctrl-C (SIGINT) or SIGTERM (what Kubernetes and CI runners send) cancels
/// cleanly; a second one exits at once with 130.
pub fn watch_interrupts(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot watch for Ctrl-C: an interruption will stop hangar at once");
        return;
    };
    tokio::spawn(async move {
        let name = tokio::select! {
            Some(()) = interrupt.recv() => "interrupt",
            Some(()) = terminate.recv() => "terminated",
            else => return,
        };
        tracing::warn!("Abort: [{name}] received, stopping (the failed list will be written)");
        tracing::warn!("Use 'Ctrl-C' again to force exit (not recommended)");
        cancel.cancel();
        tokio::select! {
            Some(()) = interrupt.recv() => {}
            Some(()) = terminate.recv() => {}
            else => return,
        }
        eprintln!("hangar was forced to stop.");
        std::process::exit(130);
    });
}

/// Writes or clears the failed list and decides the exit status, as Hangar reports it.
pub fn finish_run(
    path: &std::path::Path,
    failed_lines: &[&str],
    title: &str,
    verb: &str,
    interrupted: bool,
) -> anyhow::Result<Status> {
    if failed_lines.is_empty() {
        if failed::clear(path).with_context(|| format!("cannot remove stale {}", path.display()))? {
            tracing::info!(
                "Removed stale failed image list {:?}",
                path.display().to_string()
            );
        }
        tracing::info!("Done");
        return Ok(Status::Success);
    }
    tracing::error!("{title} failed image list:\n{}", failed_lines.join("\n"));
    failed::write(path, failed_lines)
        .with_context(|| format!("cannot write failed image list {}", path.display()))?;
    tracing::info!(
        "Failed image list exported to {:?}",
        path.display().to_string()
    );
    if interrupted {
        return Ok(Status::Interrupted);
    }
    tracing::error!("some images failed to {verb}");
    Ok(Status::SomeFailed)
}
