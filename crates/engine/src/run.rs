//! Many images, one run, the same for every route: plan each image (what it will move, read
//! once and kept by its source and sink), start the largest first so a big image overlaps the
//! small ones, copy on N workers with a per-image timeout and cancellation, report each image
//! as it ends, and give every result back in list order (the failed list follows the list).

use crate::events::Event;
use crate::outcome::{CopyError, Outcome};
use crate::runner::{self, JobError};
use crate::sink::Sink;
use crate::source::Source;
use crate::walk::{Ends, Engine};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Manifests fetched at once while planning (small requests; the copy reuses them).
const PLANNING_CONCURRENCY: usize = 16;

/// One list line: where its image comes from and goes.
pub struct Job<'a> {
    /// The list line as written (what the failed list gets back).
    pub text: String,
    /// How messages name both ends.
    pub from: String,
    pub to: String,
    /// The tag the image lands on (`None`: by digest).
    pub tag: Option<String>,
    pub source: Box<dyn Source + 'a>,
    pub sink: Box<dyn Sink + 'a>,
}

pub struct Settings<'a> {
    pub workers: usize,
    pub timeout: Option<Duration>,
    pub cancel: &'a CancellationToken,
    /// The command's verb as messages say it: copy, save, sync, load.
    pub verb: &'a str,
    /// Told the bytes the run may move, once planned (the progress total).
    pub planned: &'a (dyn Fn(u64) + Sync),
    /// Told of each failed image and its destination (registry adapters explain failures).
    pub failed: &'a (dyn Fn(&str, &CopyError) + Sync),
}

/// One line's end.
pub struct Finished {
    pub text: String,
    pub from: String,
    pub to: String,
    pub result: Result<Outcome, JobError>,
}

pub async fn run(
    engine: &Engine<'_>,
    jobs: Vec<Job<'_>>,
    settings: &Settings<'_>,
) -> Vec<Finished> {
    let (sizes, mut planned) = match plan(engine, &jobs, settings).await {
        Some(planned) => {
            (settings.planned)(planned.0.iter().sum());
            planned
        }
        None => (vec![0; jobs.len()], jobs.iter().map(|_| None).collect()),
    };
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    // Stable: equal sizes keep list order.
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let names: Vec<(String, String, String)> = jobs
        .iter()
        .map(|j| (j.text.clone(), j.from.clone(), j.to.clone()))
        .collect();
    let mut slots: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    let items: Vec<(usize, Job, Option<CopyError>)> = order
        .iter()
        .map(|&i| {
            let job = slots[i].take().expect("each job runs once");
            (i, job, planned[i].take())
        })
        .collect();
    let in_run_order = runner::run(
        items,
        settings.workers,
        settings.timeout,
        settings.cancel,
        |(_, job, _)| job.text.clone(),
        |_, (i, job, planning_error)| async move {
            let id = i + 1;
            engine.events.emit(Event::ImageStarted {
                id,
                source: job.from.clone(),
                destination: job.to.clone(),
                dry_run: engine.options.dry_run,
            });
            let result = match planning_error {
                // Planning already asked (after the registry's retries): not asked again.
                Some(e) => Err(e),
                None => {
                    let ends = Ends {
                        id,
                        source: job.source.as_ref(),
                        sink: job.sink.as_ref(),
                        tag: job.tag.as_deref(),
                    };
                    engine.copy(&ends).await
                }
            };
            if let Err(e) = &result {
                (settings.failed)(&job.to, e);
                // A full disk fails every image after it: stop, and keep what was written.
                if let Some(fatal) = job.sink.fatal()
                    && !settings.cancel.is_cancelled()
                {
                    tracing::error!(
                        "cannot write {}: {fatal}; stopping (free space and run the same command again: it resumes)",
                        job.to
                    );
                    settings.cancel.cancel();
                }
            }
            let (summary, ok) = match &result {
                Ok(outcome) => (format!("{} => {}: {outcome}", job.from, job.to), true),
                Err(e) => (failure(settings.verb, &job.from, &job.to, e), false),
            };
            engine.events.emit(Event::ImageFinished { id, summary, ok });
            result
        },
    )
    .await;
    let results = runner::in_list_order(&order, in_run_order);
    names
        .into_iter()
        .zip(results)
        .enumerate()
        .map(|(i, ((text, from, to), result))| {
            // Failures inside a job were reported as they happened; timeouts and
            // interruptions are only known here.
            if let Err(e) = &result
                && !matches!(e, JobError::Failed(_))
            {
                engine.events.emit(Event::ImageFinished {
                    id: i + 1,
                    summary: failure(settings.verb, &from, &to, e),
                    ok: false,
                });
            }
            Finished {
                text,
                from,
                to,
                result,
            }
        })
        .collect()
}

fn failure(verb: &str, from: &str, to: &str, e: &dyn std::fmt::Display) -> String {
    format!("error occurred when {verb} [{from}] to [{to}]: {e}")
}

/// Sizes (for the order and the progress total) and planning failures, per job. One worker
/// gains nothing from an order: nothing is read ahead.
async fn plan(
    engine: &Engine<'_>,
    jobs: &[Job<'_>],
    settings: &Settings<'_>,
) -> Option<(Vec<u64>, Vec<Option<CopyError>>)> {
    if settings.workers < 2 || jobs.len() < 2 {
        return None;
    }
    let planned = runner::run(
        jobs.iter().enumerate().collect(),
        PLANNING_CONCURRENCY,
        settings.timeout,
        settings.cancel,
        |(_, job)| job.text.clone(),
        |_, (i, job): (usize, &Job)| async move {
            let ends = Ends {
                id: i + 1,
                source: job.source.as_ref(),
                sink: job.sink.as_ref(),
                tag: job.tag.as_deref(),
            };
            Ok::<_, std::convert::Infallible>(engine.plan(&ends).await)
        },
    )
    .await;
    planned
        .into_iter()
        .map(|r| match r {
            Ok(Ok(bytes)) => (bytes, None),
            Ok(Err(e)) => (0, Some(e)),
            // Timed out or interrupted while planning: the copy decides.
            Err(_) => (0, None),
        })
        .unzip::<_, _, Vec<u64>, Vec<Option<CopyError>>>()
        .into()
}

/// What a run's summary says, and the lines that failed (in list order).
pub struct Tally<'a> {
    pub copied: usize,
    pub up_to_date: usize,
    pub skipped: usize,
    pub failed: Vec<&'a str>,
}

impl<'a> Tally<'a> {
    pub fn of(finished: &'a [Finished], verb: &str) -> Tally<'a> {
        let mut tally = Tally {
            copied: 0,
            up_to_date: 0,
            skipped: 0,
            failed: Vec::new(),
        };
        for line in finished {
            match &line.result {
                Ok(Outcome::Copied { .. } | Outcome::WouldCopy { .. }) => tally.copied += 1,
                Ok(Outcome::UpToDate { .. }) => tally.up_to_date += 1,
                Ok(Outcome::NoMatchingPlatform { .. }) => {
                    tracing::warn!(
                        "Skip {verb} image [{}]: no available image for specified arch and os",
                        line.from
                    );
                    tally.skipped += 1;
                }
                Err(_) => tally.failed.push(&line.text),
            }
        }
        tally
    }

    /// The summary line: `past` is how the verb reads done ("copied", "saved").
    pub fn log(&self, total: usize, past: &str, started: Instant) {
        tracing::info!(
            "{total} images: {past} {}, up to date {}, skipped (no matching platform) {}, failed {} in {:.1?}",
            self.copied,
            self.up_to_date,
            self.skipped,
            self.failed.len(),
            started.elapsed()
        );
    }
}
