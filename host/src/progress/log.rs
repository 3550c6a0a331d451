//! Logging setup: `[HH:MM:SS] [LEVL] message` like Hangar, or JSON lines, always on stderr.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

struct HangarFormat {
    hide_time: bool,
}

impl<S, N> FormatEvent<S, N> for HangarFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.hide_time {
            write!(w, "- ")?;
        } else {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            write!(
                w,
                "[{:02}:{:02}:{:02}] ",
                (secs / 3600) % 24,
                (secs / 60) % 60,
                secs % 60
            )?;
        }
        let level = match *event.metadata().level() {
            Level::ERROR => "ERRO",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBU",
            Level::TRACE => "TRAC",
        };
        write!(w, "[{level}] ")?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Installs the global subscriber. `writer` lets the TTY renderer keep bars intact.
pub fn init_logging<W>(debug: bool, format: LogFormat, hide_time: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let (filter, chosen) = match tracing_subscriber::EnvFilter::try_from_env("HANGAR_LOG") {
        Ok(filter) => (filter, true),
        // Our own debug output only: dependency internals stay at warn.
        Err(_) => (
            tracing_subscriber::EnvFilter::new(if debug { DEBUG } else { "warn,hangar=info" }),
            false,
        ),
    };
    // Colour (field names in italics) only on a terminal: a log written to a file or a
    // pipeline's output stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_writer(writer);
    // A filter HANGAR_LOG chose is the user's; only the default one is raised by `-v`.
    let keep = |raise: Box<dyn Fn() + Send + Sync>| {
        if !chosen {
            let _ = RAISE_TO_DEBUG.set(raise);
        }
    };
    match format {
        LogFormat::Json => {
            let builder = builder
                .json()
                .with_current_span(false)
                .with_target(false)
                .with_env_filter(filter)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            keep(Box::new(move || {
                let _ = handle.reload(tracing_subscriber::EnvFilter::new(DEBUG));
            }));
            let _ = builder.try_init();
        }
        LogFormat::Text => {
            let builder = builder
                .event_format(HangarFormat { hide_time })
                .with_env_filter(filter)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            keep(Box::new(move || {
                let _ = handle.reload(tracing_subscriber::EnvFilter::new(DEBUG));
            }));
            let _ = builder.try_init();
        }
    }
}

/// The filter of `--debug`.
const DEBUG: &str = "warn,hangar=debug";

static RAISE_TO_DEBUG: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>> =
    std::sync::OnceLock::new();

/// Turns debug logs on after start-up, for a command's own verbose flag (`login -v`); a
/// filter set with HANGAR_LOG is left as the user chose it.
pub fn enable_debug() {
    if let Some(raise) = RAISE_TO_DEBUG.get() {
        raise();
    }
}

static ACTIVE_BARS: std::sync::Mutex<Option<indicatif::MultiProgress>> =
    std::sync::Mutex::new(None);

/// While bars are on screen, log lines are printed "above" them instead of through them.
pub fn set_active_bars(bars: Option<indicatif::MultiProgress>) {
    *ACTIVE_BARS.lock().expect("bars lock") = bars;
}

/// stderr, but polite to live progress bars.
pub struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bars = ACTIVE_BARS.lock().expect("bars lock").clone();
        match bars {
            Some(m) => m
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|_| buf.len()),
            None => std::io::stderr().write_all(buf).map(|_| buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}
