//! Runs one job per list line on N workers with a per-job timeout. Cancellation (first
//! Ctrl-C) stops jobs in flight and never starts the rest; every job still gets a result,
//! in list order, so the failed list can be written completely. Each job runs on behalf of
//! its image (its `label`), which a registry host given up during it names.

use futures_util::StreamExt as _;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    Failed(String),
    TimedOut(Duration),
    Interrupted,
}

impl Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Failed(m) => f.write_str(m),
            JobError::TimedOut(d) => write!(f, "timed out after {}", humantime(*d)),
            JobError::Interrupted => f.write_str("interrupted"),
        }
    }
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else if s > 0 {
        format!("{s}s")
    } else {
        format!("{d:?}")
    }
}

pub async fn run<T, O, E, L, F, Fut>(
    items: Vec<T>,
    workers: usize,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
    label: L,
    job: F,
) -> Vec<Result<O, JobError>>
where
    L: Fn(&T) -> String,
    F: Fn(usize, T) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Display,
{
    let total = items.len();
    let (job, label) = (&job, &label);
    let mut results: Vec<Option<Result<O, JobError>>> = (0..total).map(|_| None).collect();
    let mut stream = futures_util::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| async move {
            if cancel.is_cancelled() {
                return (i, Err(JobError::Interrupted));
            }
            let image = label(&item);
            let work = hangar_registry::on_behalf_of(image, async {
                match timeout {
                    Some(t) => match tokio::time::timeout(t, job(i, item)).await {
                        Ok(r) => r.map_err(|e| JobError::Failed(e.to_string())),
                        Err(_) => Err(JobError::TimedOut(t)),
                    },
                    None => job(i, item)
                        .await
                        .map_err(|e| JobError::Failed(e.to_string())),
                }
            });
            let result = tokio::select! {
                _ = cancel.cancelled() => Err(JobError::Interrupted),
                r = work => r,
            };
            (i, result)
        })
        .buffer_unordered(workers.max(1));
    while let Some((i, r)) = stream.next().await {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(JobError::Interrupted)))
        .collect()
}

/// The results of a run whose items were started in `order` (their list positions, a
/// permutation), put back in list order: failed lists and summaries follow the list.
pub fn in_list_order<T>(order: &[usize], in_run_order: Vec<T>) -> Vec<T> {
    let mut paired: Vec<(usize, T)> = order.iter().copied().zip(in_run_order).collect();
    paired.sort_by_key(|(position, _)| *position);
    paired.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn keeps_order_limits_workers_and_times_out() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let cancel = CancellationToken::new();
        let results = run(
            vec![30u64, 10, 500, 5],
            2,
            Some(Duration::from_millis(200)),
            &cancel,
            |ms| format!("{ms}ms"),
            |i, ms| {
                let (running, peak) = (&running, &peak);
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    if i == 3 { Err("boom") } else { Ok(i) }
                }
            },
        )
        .await;
        assert_eq!(results[0], Ok(0));
        assert_eq!(results[1], Ok(1));
        assert_eq!(
            results[2],
            Err(JobError::TimedOut(Duration::from_millis(200)))
        );
        assert_eq!(results[3], Err(JobError::Failed("boom".into())));
        assert!(peak.load(Ordering::SeqCst) <= 2);
    }

    #[tokio::test]
    async fn cancellation_interrupts_the_rest() {
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let results = run(
            vec![0u32, 1, 2, 3],
            1,
            None,
            &cancel,
            u32::to_string,
            |i, _| {
                let c2 = c2.clone();
                async move {
                    if i == 1 {
                        c2.cancel();
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                    Ok::<_, String>(i)
                }
            },
        )
        .await;
        assert_eq!(results[0], Ok(0));
        assert!(
            results[1..]
                .iter()
                .all(|r| *r == Err(JobError::Interrupted))
        );
    }

    #[test]
    fn results_go_back_to_list_order() {
        assert_eq!(
            super::in_list_order(&[2, 0, 3, 1], vec!["c", "a", "d", "b"]),
            vec!["a", "b", "c", "d"]
        );
    }
}
