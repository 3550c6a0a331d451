//! Turns engine events into what a person or a machine reads: live bars on a TTY
//! (indicatif), one line per image plus a periodic progress line elsewhere, or one JSON
//! object per line with `--log-format json`. Everything goes to stderr; command results
//! (inspect JSON, tag lists) own stdout.

mod log;
mod render;

pub use log::{LogFormat, Stderr, enable_debug, init_logging, set_active_bars};
pub use render::{Mode, Progress};
