//! Renderers for copy events.

use crate::copy::events::{BlobHow, Event, EventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Json,
}

impl Mode {
    /// JSON lines for `--log-format json`; bars on a terminal unless `--debug` (its lines
    /// would tear them); plain lines otherwise.
    pub fn pick(format: super::LogFormat, debug: bool) -> Mode {
        use std::io::IsTerminal as _;
        match format {
            super::LogFormat::Json => Mode::Json,
            super::LogFormat::Text if std::io::stderr().is_terminal() && !debug => Mode::Tty,
            super::LogFormat::Text => Mode::Plain,
        }
    }
}

pub struct Progress {
    mode: Mode,
    total: usize,
    started: Instant,
    bytes: AtomicU64,
    /// Bytes the run expects to move (known after planning; 0 when unknown).
    total_bytes: AtomicU64,
    finished: AtomicUsize,
    tty: Option<Tty>,
}

struct Tty {
    multi: MultiProgress,
    overall: ProgressBar,
    images: Mutex<HashMap<usize, ProgressBar>>,
}

pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

impl Progress {
    pub fn new(mode: Mode, total: usize) -> Progress {
        let tty = (mode == Mode::Tty).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} images  {msg}  [{elapsed_precise}]",
                )
                .expect("static template"),
            );
            overall.enable_steady_tick(Duration::from_millis(250));
            Tty {
                multi,
                overall,
                images: Mutex::new(HashMap::new()),
            }
        });
        Progress {
            mode,
            total,
            started: Instant::now(),
            bytes: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            tty,
        }
    }

    pub fn set_total_bytes(&self, total: u64) {
        self.total_bytes.store(total, Ordering::Relaxed);
    }

    /// Text for the overall line: bytes moved (of the planned total) and the mean rate.
    fn totals(&self) -> String {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let total = self.total_bytes.load(Ordering::Relaxed);
        if total > 0 {
            let rate = bytes as f64 / secs;
            let eta = if rate > 0.0 && total > bytes {
                format!(", eta {:.0}s", (total - bytes) as f64 / rate)
            } else {
                String::new()
            };
            return format!(
                "{} of ~{} copied, {}/s{eta}",
                human_bytes(bytes),
                human_bytes(total),
                human_bytes(rate as u64)
            );
        }
        format!(
            "{} copied, {}/s",
            human_bytes(bytes),
            human_bytes((bytes as f64 / secs) as u64)
        )
    }

    /// One periodic status line (plain and JSON modes).
    pub fn tick(&self) {
        let done = self.finished.load(Ordering::Relaxed);
        match self.mode {
            Mode::Plain => {
                tracing::info!("progress: {done}/{} images, {}", self.total, self.totals())
            }
            Mode::Json => json_line(serde_json::json!({
                "event": "progress",
                "images_done": done,
                "images_total": self.total,
                "bytes": self.bytes.load(Ordering::Relaxed),
                "elapsed_ms": self.started.elapsed().as_millis() as u64,
            })),
            Mode::Tty => {}
        }
    }

    /// Starts the periodic progress line; stop it by aborting the returned task.
    pub fn spawn_ticker(
        self: &std::sync::Arc<Self>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            loop {
                interval.tick().await;
                me.tick();
            }
        })
    }

    pub fn finish(&self) {
        if let Some(t) = &self.tty {
            t.overall.finish_and_clear();
        }
    }

    /// Prints a line without tearing the bars.
    pub fn println(&self, line: &str) {
        match &self.tty {
            Some(t) => t.multi.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    pub fn multi(&self) -> Option<MultiProgress> {
        self.tty.as_ref().map(|t| t.multi.clone())
    }
}

fn json_line(value: serde_json::Value) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{value}");
}

impl EventSink for Progress {
    fn emit(&self, event: Event) {
        match &event {
            Event::Bytes { n, .. } => {
                self.bytes.fetch_add(*n, Ordering::Relaxed);
            }
            Event::Discarded { n, .. } => {
                let _ = self
                    .bytes
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                        Some(b.saturating_sub(*n))
                    });
            }
            _ => {}
        }
        if let Event::ImageFinished { .. } = &event {
            self.finished.fetch_add(1, Ordering::Relaxed);
        }
        match self.mode {
            Mode::Tty => self.emit_tty(event),
            Mode::Plain => match event {
                Event::ImageStarted {
                    id,
                    source,
                    destination,
                    dry_run,
                } => {
                    let doing = if dry_run {
                        "Checking what would copy"
                    } else {
                        "Copying"
                    };
                    tracing::info!("[IMG:{id}] {doing} [{source}] => [{destination}]")
                }
                Event::ImageFinished { id, summary, ok } => {
                    if ok {
                        tracing::info!("[IMG:{id}] {summary}")
                    } else {
                        tracing::error!("[IMG:{id}] {summary}")
                    }
                }
                Event::Warning { id, message } => tracing::warn!("[IMG:{id}] {message}"),
                Event::BlobFinished {
                    id,
                    digest,
                    how: BlobHow::Copied,
                    size,
                } => {
                    tracing::debug!("[IMG:{id}] blob {digest} copied ({})", human_bytes(size))
                }
                _ => {}
            },
            Mode::Json => match event {
                Event::ImageStarted {
                    id,
                    source,
                    destination,
                    dry_run,
                } => json_line(serde_json::json!({
                    "event": "image_started", "image": id, "source": source, "destination": destination,
                    "dry_run": dry_run,
                })),
                Event::BlobFinished {
                    id,
                    digest,
                    how,
                    size,
                } => json_line(serde_json::json!({
                    "event": "blob_finished", "image": id, "digest": digest, "size": size,
                    "how": match how { BlobHow::AlreadyThere => "exists", BlobHow::Mounted => "mounted", BlobHow::Copied => "copied" },
                })),
                Event::Warning { id, message } => json_line(serde_json::json!({
                    "event": "warning", "image": id, "message": message,
                })),
                Event::ImageFinished { id, summary, ok } => json_line(serde_json::json!({
                    "event": "image_finished", "image": id, "ok": ok, "summary": summary,
                })),
                _ => {}
            },
        }
    }
}

impl Progress {
    fn emit_tty(&self, event: Event) {
        let Some(t) = &self.tty else { return };
        match event {
            Event::ImageStarted {
                id,
                source,
                destination,
                ..
            } => {
                let bar = t
                    .multi
                    .insert_before(&t.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "  {spinner} [{prefix}] {wide_msg} {bytes} {bytes_per_sec}",
                    )
                    .expect("static template"),
                );
                bar.set_prefix(id.to_string());
                bar.set_message(format!("{source} => {destination}"));
                bar.enable_steady_tick(Duration::from_millis(200));
                t.images.lock().expect("bars lock").insert(id, bar);
            }
            Event::Bytes { id, n } => {
                if let Some(bar) = t.images.lock().expect("bars lock").get(&id) {
                    bar.inc(n);
                }
                t.overall.set_message(self.totals());
            }
            Event::Discarded { id, n } => {
                if let Some(bar) = t.images.lock().expect("bars lock").get(&id) {
                    bar.set_position(bar.position().saturating_sub(n));
                }
                t.overall.set_message(self.totals());
            }
            Event::Warning { message, .. } => t.multi.suspend(|| eprintln!("WARN {message}")),
            Event::ImageFinished { id, summary, ok } => {
                t.overall.inc(1);
                t.overall.set_message(self.totals());
                if let Some(bar) = t.images.lock().expect("bars lock").remove(&id) {
                    bar.finish_and_clear();
                    t.multi.remove(&bar);
                }
                let mark = if ok { "ok  " } else { "FAIL" };
                t.multi.suspend(|| eprintln!("{mark} [{id}] {summary}"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob whose first attempt failed half-way is counted once: the bytes of the failed
    /// attempt are taken back (it showed "9.30 MiB of ~6.07 MiB" before).
    #[test]
    fn a_retried_blob_is_counted_once() {
        let progress = Progress::new(Mode::Plain, 1);
        progress.set_total_bytes(1000);
        progress.emit(Event::Bytes { id: 1, n: 600 });
        progress.emit(Event::Discarded { id: 1, n: 600 });
        progress.emit(Event::Bytes { id: 1, n: 1000 });
        assert!(
            progress.totals().starts_with("1000 B of ~1000 B copied"),
            "{}",
            progress.totals()
        );
        progress.emit(Event::Discarded { id: 1, n: 5000 });
        assert!(
            progress.totals().starts_with("0 B of"),
            "{}",
            progress.totals()
        );
    }
}
