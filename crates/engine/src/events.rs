//! What the engine reports while it works. The engine never prints: renderers in
//! `progress/` turn these into bars, plain lines or JSON.

use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobHow {
    AlreadyThere,
    Mounted,
    Copied,
}

#[derive(Clone, Debug)]
pub enum Event {
    ImageStarted {
        id: usize,
        source: String,
        destination: String,
        /// Only deciding what would be copied (`--dry-run`): nothing is written.
        dry_run: bool,
    },
    BlobStarted {
        id: usize,
        digest: String,
        size: Option<u64>,
    },
    Bytes {
        id: usize,
        n: u64,
    },
    /// Bytes reported by an attempt that failed (the blob starts again from its source).
    Discarded {
        id: usize,
        n: u64,
    },
    BlobFinished {
        id: usize,
        digest: String,
        how: BlobHow,
        size: u64,
    },
    Warning {
        id: usize,
        message: String,
    },
    ImageFinished {
        id: usize,
        summary: String,
        ok: bool,
    },
}

pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// For callers that do not watch (tests, validate).
pub struct Silent;

impl EventSink for Silent {
    fn emit(&self, _: Event) {}
}

pub type Events = Arc<dyn EventSink>;
