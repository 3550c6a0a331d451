//! Copying one blob between repositories: skip it when the destination has it, mount it when
//! both repositories live on one registry, otherwise stream it from the source response into
//! the destination upload (one monolithic PUT with a known length; a streamed PATCH when the
//! registry refuses that), verifying size and digest on the way. A failed attempt restarts
//! from the source.

use super::events::{BlobHow, Event, Events};
use super::ledger::{BlobLedger, Claim};
use super::verify::VerifyingStream;
use crate::source::{BlobBody, OpenBlob, Source};
use hangar_image::digest::Digest;
use hangar_registry::{BlobUpload, Registry, RegistryError};
use std::sync::Arc;

/// The same registry as `dst` (a mount within it needs no bytes).
fn same_registry_repo<'s>(source: &'s dyn Source, dst: &Arc<Registry>) -> Option<&'s str> {
    match source.registry() {
        Some((registry, repo)) if Arc::ptr_eq(registry, dst) => Some(repo),
        _ => None,
    }
}

/// One blob into a registry repository.
pub struct BlobCopy<'a> {
    pub source: &'a dyn Source,
    pub destination: &'a Arc<Registry>,
    pub destination_repo: &'a str,
    pub events: &'a Events,
    pub image_id: usize,
    pub ledger: &'a BlobLedger,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub how: BlobHow,
    pub size: u64,
    /// Uncompressed digest, when asked for (schema1 conversion).
    pub diff_id: Option<Digest>,
}

impl BlobCopy<'_> {
    pub async fn copy(
        &self,
        digest: &Digest,
        size: Option<u64>,
        want_diff_id: bool,
    ) -> Result<Copied, RegistryError> {
        let dst = self.destination;
        if !want_diff_id
            && let Some(existing) = dst.blob_size(self.destination_repo, digest).await?
        {
            self.ledger
                .remember(dst.name(), digest, self.destination_repo);
            let size = size.unwrap_or(existing);
            self.finished(digest, BlobHow::AlreadyThere, size);
            return Ok(Copied {
                how: BlobHow::AlreadyThere,
                size,
                diff_id: None,
            });
        }
        // Schema1 conversion must read every layer for its diff_id, so it never mounts.
        let mut owner = None;
        let mut mount_from: Option<String> = None;
        if !want_diff_id {
            if let Some(source_repo) = same_registry_repo(self.source, dst) {
                if source_repo != self.destination_repo {
                    mount_from = Some(source_repo.to_string());
                }
            } else {
                loop {
                    match self.ledger.claim(dst.name(), digest) {
                        Claim::Mine(guard) => {
                            owner = Some(guard);
                            break;
                        }
                        // Another image is sending these bytes right now: wait, then mount.
                        Claim::Wait(gate) => {
                            let _ = gate.acquire().await;
                        }
                        // A sibling manifest of this image just placed it here.
                        Claim::At(repo) if repo == self.destination_repo => {
                            let size = size.unwrap_or(0);
                            self.finished(digest, BlobHow::AlreadyThere, size);
                            return Ok(Copied {
                                how: BlobHow::AlreadyThere,
                                size,
                                diff_id: None,
                            });
                        }
                        Claim::At(repo) => {
                            mount_from = Some(repo);
                            break;
                        }
                    }
                }
            }
        }
        // A failed attempt restarts the blob from the source (fresh GET, fresh upload).
        let what = format!("restarting the blob from the source ({digest})");
        let copied = dst
            .retry()
            .run(&what, || {
                // A mount is asked for once; a declined mount already fell back to an upload.
                let mount = mount_from.take();
                async move {
                    self.attempt(digest, size, want_diff_id, mount.as_deref())
                        .await
                }
            })
            .await?;
        match owner.take() {
            Some(guard) => guard.done(self.destination_repo),
            None => self
                .ledger
                .remember(dst.name(), digest, self.destination_repo),
        }
        self.finished(digest, copied.how.clone(), copied.size);
        Ok(copied)
    }

    fn finished(&self, digest: &Digest, how: BlobHow, size: u64) {
        self.events.emit(Event::BlobFinished {
            id: self.image_id,
            digest: digest.to_string(),
            how,
            size,
        });
    }

    async fn attempt(
        &self,
        digest: &Digest,
        size: Option<u64>,
        want_diff_id: bool,
        mount_from: Option<&str>,
    ) -> Result<Copied, RegistryError> {
        let dst = self.destination;
        // Slots on both hosts, always taken in name order: lines copying A→B and B→A at
        // once must not each hold one side and wait for the other.
        let _slots = match self.source.registry() {
            Some((src, _)) if !Arc::ptr_eq(src, dst) => {
                let (first, second) = if src.name() <= dst.name() {
                    (src, dst)
                } else {
                    (dst, src)
                };
                (
                    first.transfer_permit().await,
                    Some(second.transfer_permit().await),
                )
            }
            _ => (dst.transfer_permit().await, None),
        };
        let session = match dst
            .start_upload(self.destination_repo, digest, mount_from)
            .await?
        {
            BlobUpload::Mounted => {
                let size = match size {
                    Some(s) => s,
                    None => dst
                        .blob_size(self.destination_repo, digest)
                        .await?
                        .unwrap_or(0),
                };
                return Ok(Copied {
                    how: BlobHow::Mounted,
                    size,
                    diff_id: None,
                });
            }
            BlobUpload::Session(url) => url,
        };
        let OpenBlob {
            body,
            size: length,
            what,
        } = self
            .source
            .open_blob(digest)
            .await
            .map_err(|e| e.into_registry(&format!("blob {digest}")))?;
        let size = size.or(length);
        let body: BlobBody = body;
        self.events.emit(Event::BlobStarted {
            id: self.image_id,
            digest: digest.to_string(),
            size,
        });
        let events = self.events.clone();
        let id = self.image_id;
        // What this attempt reported as moved, taken back if it fails (progress never counts
        // a retried blob twice).
        let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = counted.clone();
        let (stream, verdict) = VerifyingStream::new(
            body,
            what,
            digest.clone(),
            size,
            want_diff_id,
            Box::new(move |n| {
                count.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                events.emit(crate::events::Event::Bytes { id, n })
            }),
        );
        let outcome = self.send(digest, session, size, stream, &verdict).await;
        let sent = counted.load(std::sync::atomic::Ordering::Relaxed);
        if outcome.is_err() && sent > 0 {
            self.events.emit(Event::Discarded { id, n: sent });
        }
        outcome
    }

    /// Sends a verified stream into an upload session; the stream's own finding explains a
    /// failure best.
    async fn send(
        &self,
        digest: &Digest,
        session: url::Url,
        size: Option<u64>,
        stream: VerifyingStream<BlobBody>,
        verdict: &std::sync::Mutex<crate::verify::Verdict>,
    ) -> Result<Copied, RegistryError> {
        let dst = self.destination;
        let sent = match size {
            Some(n) if dst.prefers_monolithic() => {
                let accepted = dst
                    .upload_monolithic(self.destination_repo, session, digest, n, stream)
                    .await;
                match accepted {
                    Ok(true) => Ok(()),
                    // Refused before reading the body: start again, chunked this time.
                    Ok(false) => {
                        return Err(RegistryError::Transfer {
                            what: format!("blob {digest}"),
                            message: "registry refused a monolithic upload; retrying chunked"
                                .into(),
                        });
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                dst.upload_chunked(self.destination_repo, session, digest, stream)
                    .await
            }
        };
        // The stream's own finding (wrong digest, truncated source) explains an upload failure
        // better than the aborted request does.
        let mut verdict = verdict.lock().expect("verdict lock");
        if let Some(error) = verdict.error.take() {
            // An archive does not change between attempts: a bad entry fails at once.
            return Err(if self.source.refetch_helps() {
                error
            } else {
                RegistryError::Protocol {
                    what: format!("archive entry share/sha256/{}", digest.hex()),
                    message: format!("{error} (corrupted archive)"),
                }
            });
        }
        sent?;
        let size = verdict
            .verified_size
            .ok_or_else(|| RegistryError::Transfer {
                what: format!("blob {digest}"),
                message: "upload finished before the source stream ended".into(),
            })?;
        Ok(Copied {
            how: BlobHow::Copied,
            size,
            diff_id: verdict.diff_id.take(),
        })
    }
}
