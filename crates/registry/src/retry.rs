//! Retries with exponential backoff and jitter for transient failures (connection errors,
//! 408, 429 with `Retry-After`, 5xx, corrupted transfers). 401/403/404 are never retried, and
//! a host that gave no answer in time is asked again at most once: each wait costs a full
//! timeout.

use super::error::RegistryError;
use rand::Rng as _;
use std::future::Future;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Total attempts, the first one included.
    pub attempts: u32,
    /// Attempts that may end in "no answer" (a timeout) before the operation fails.
    pub no_answer_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            no_answer_attempts: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` (attempt counts from 1).
    pub fn delay(&self, attempt: u32, error: &RegistryError) -> Duration {
        if let Some(after) = error.retry_after() {
            return after.min(Duration::from_secs(60));
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        // "Equal jitter": at least half the backoff, so retries of many workers spread out
        // without collapsing to zero.
        let half = capped / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// Runs `op` until it succeeds, fails for good, or attempts run out.
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let mut attempt = 1;
        let mut no_answers = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_no_answer() && no_answers + 1 >= self.no_answer_attempts => {
                    return Err(e);
                }
                Err(e) if e.is_retryable() && attempt < self.attempts => {
                    no_answers += u32::from(e.is_no_answer());
                    let wait = self.delay(attempt, &e);
                    tracing::warn!(
                        "{what}: {e}; retrying in {wait:.1?} ({attempt}/{})",
                        self.attempts - 1
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Parses `Retry-After` (seconds or an HTTP date).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(code: u16, retry_after: Option<Duration>) -> RegistryError {
        RegistryError::Status {
            what: "x".into(),
            status: code,
            detail: String::new(),
            body: String::new(),
            retry_after,
        }
    }

    #[test]
    fn delays_grow_capped_and_honour_retry_after() {
        let p = RetryPolicy {
            attempts: 5,
            no_answer_attempts: 2,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
        };
        let e = status(503, None);
        for attempt in 1..6 {
            let d = p.delay(attempt, &e);
            let cap =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_millis(400));
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            p.delay(1, &status(429, Some(Duration::from_secs(2)))),
            Duration::from_secs(2)
        );
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[tokio::test]
    async fn retries_transient_but_not_permanent_errors() {
        let p = RetryPolicy {
            attempts: 3,
            no_answer_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let calls = AtomicU32::new(0);
        let r: Result<u32, _> = p
            .run("t", || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 { Err(status(500, None)) } else { Ok(n) }
            })
            .await;
        assert_eq!(r.unwrap(), 2);
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = p
            .run("t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(RegistryError::NotFound {
                    what: "x".into(),
                    detail: String::new(),
                    body: String::new(),
                })
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A silent host is asked twice, not five times.
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = p
            .run("t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(RegistryError::NoAnswer {
                    what: "x".into(),
                    host: "h".into(),
                    detail: String::new(),
                })
            })
            .await;
        assert!(r.unwrap_err().is_no_answer());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
