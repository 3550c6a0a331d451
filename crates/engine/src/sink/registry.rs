//! A registry repository as the destination. What the run shares across images lives in
//! [`RegistryTarget`]: the blob ledger (a blob crosses the wire once, then is mounted), the
//! per-tag locks, which tags this run pushed, and the referrers-API answers. Answers read
//! while planning are kept for the copy, unless another line of the run changed the tag.

use super::{Sink, TagWrite};
use crate::attachments::{Attached, attachment_subject, publish_referrers};
use crate::blob::{BlobCopy, Copied};
use crate::events::Events;
use crate::ledger::BlobLedger;
use crate::outcome::CopyError;
use crate::source::{Fut, Source};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use hangar_image::digest::Digest;
use hangar_image::manifest::Descriptor;
use hangar_image::reference::Reference;
use hangar_registry::{Manifest, Registries, Registry};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// What every image of a run into registries shares.
pub struct RegistryTarget<'a> {
    pub registries: &'a Registries,
    pub events: Events,
    pub ledger: BlobLedger,
    pub attached: Attached,
    tag_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pushed_tags: Mutex<HashSet<String>>,
}

impl<'a> RegistryTarget<'a> {
    pub fn new(registries: &'a Registries, events: Events) -> Self {
        RegistryTarget {
            registries,
            events,
            ledger: BlobLedger::default(),
            attached: Attached::default(),
            tag_locks: Mutex::default(),
            pushed_tags: Mutex::default(),
        }
    }

    pub fn sink(&'a self, destination: Reference) -> RegistrySink<'a> {
        RegistrySink {
            target: self,
            destination,
            registry: OnceCell::new(),
            heads: Mutex::default(),
            at: Mutex::default(),
        }
    }
}

pub struct RegistrySink<'a> {
    target: &'a RegistryTarget<'a>,
    destination: Reference,
    registry: OnceCell<Arc<Registry>>,
    heads: Mutex<HashMap<String, Option<Digest>>>,
    at: Mutex<HashMap<String, Option<Manifest>>>,
}

impl RegistrySink<'_> {
    fn repo(&self) -> &str {
        self.destination.repository()
    }

    /// The destination registry, connected once; a destination registries.conf blocks is
    /// refused before anything is asked of it.
    async fn client(&self) -> Result<&Arc<Registry>, CopyError> {
        self.registry
            .get_or_try_init(|| async {
                let named = format!("{}/{}", self.destination.registry(), self.repo());
                if let Some(entry) = hangar_registry::registries_conf().blocked(&named) {
                    return Err(hangar_registry::RegistryError::Blocked {
                        reference: named,
                        prefix: entry.prefix.clone(),
                    }
                    .into());
                }
                Ok(self
                    .target
                    .registries
                    .get(self.destination.registry())
                    .await?)
            })
            .await
    }

    fn tag_key(&self, reference: &str) -> String {
        format!(
            "{}/{}:{reference}",
            self.destination.registry(),
            self.repo()
        )
    }

    fn pushed(&self, reference: &str) -> bool {
        self.target
            .pushed_tags
            .lock()
            .expect("tag lock")
            .contains(&self.tag_key(reference))
    }
}

impl Sink for RegistrySink<'_> {
    fn name(&self) -> String {
        format!("{}/{}", self.destination.registry(), self.repo())
    }

    fn head<'b>(&'b self, reference: &'b str) -> Fut<'b, Option<Digest>> {
        Box::pin(async move {
            if !self.pushed(reference)
                && let Some(head) = self.heads.lock().expect("head lock").get(reference)
            {
                return Ok(head.clone());
            }
            let registry = self.client().await?;
            let head = registry
                .head_manifest(self.repo(), reference)
                .await?
                .map(|h| h.digest);
            self.heads
                .lock()
                .expect("head lock")
                .insert(reference.to_string(), head.clone());
            Ok(head)
        })
    }

    fn has_manifest<'b>(&'b self, digest: &'b Digest) -> Fut<'b, bool> {
        Box::pin(async move {
            let registry = self.client().await?;
            Ok(registry
                .head_manifest(self.repo(), digest.as_str())
                .await?
                .is_some())
        })
    }

    fn manifest_at<'b>(&'b self, tag: &'b str) -> Fut<'b, Option<Manifest>> {
        Box::pin(async move {
            if !self.pushed(tag)
                && let Some(m) = self.at.lock().expect("manifest lock").get(tag)
            {
                return Ok(m.clone());
            }
            let registry = self.client().await?;
            let found = match registry.get_manifest(self.repo(), tag).await {
                Ok(m) => Some(m),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            self.at
                .lock()
                .expect("manifest lock")
                .insert(tag.to_string(), found.clone());
            Ok(found)
        })
    }

    fn put_blob<'b>(
        &'b self,
        id: usize,
        source: &'b dyn Source,
        digest: &'b Digest,
        size: Option<u64>,
        want_diff_id: bool,
    ) -> Fut<'b, Copied> {
        Box::pin(async move {
            let copy = BlobCopy {
                source,
                destination: self.client().await?,
                destination_repo: self.repo(),
                events: &self.target.events,
                image_id: id,
                ledger: &self.target.ledger,
            };
            Ok(copy.copy(digest, size, want_diff_id).await?)
        })
    }

    fn put_blob_bytes<'b>(&'b self, digest: &'b Digest, bytes: Bytes) -> Fut<'b, ()> {
        Box::pin(async move {
            let registry = self.client().await?;
            registry.push_blob_bytes(self.repo(), digest, bytes).await?;
            Ok(())
        })
    }

    fn put_manifest<'b>(
        &'b self,
        manifest: &'b Manifest,
        _: Option<&'b Descriptor>,
    ) -> Fut<'b, ()> {
        Box::pin(async move {
            let registry = self.client().await?;
            registry
                .put_manifest(
                    self.repo(),
                    manifest.digest.as_str(),
                    &manifest.bytes,
                    &manifest.media_type,
                )
                .await?;
            Ok(())
        })
    }

    fn put_tag<'b>(&'b self, tag: Option<&'b str>, write: TagWrite<'b>) -> Fut<'b, ()> {
        Box::pin(async move {
            let registry = self.client().await?;
            let manifest = write.manifest;
            let digest = manifest.digest.to_string();
            let reference = tag.unwrap_or(&digest);
            // cosign signatures and attestations already at the destination are kept: the
            // new layers are added to them.
            let merges = attachment_subject(reference).is_some()
                && (reference.ends_with(".sig") || reference.ends_with(".att"));
            let existing = if merges {
                self.manifest_at(reference)
                    .await?
                    .filter(|m| m.digest != manifest.digest)
            } else {
                None
            };
            match existing {
                Some(existing) => {
                    hangar_sign::cosign::merge_layers(
                        registry,
                        self.repo(),
                        reference,
                        &existing.bytes,
                        &manifest.bytes,
                    )
                    .await?;
                }
                None => {
                    registry
                        .put_manifest(
                            self.repo(),
                            reference,
                            &manifest.bytes,
                            &manifest.media_type,
                        )
                        .await?;
                }
            }
            self.target
                .pushed_tags
                .lock()
                .expect("tag lock")
                .insert(self.tag_key(reference));
            Ok(())
        })
    }

    fn publish_referrers<'b>(
        &'b self,
        subject: &'b Digest,
        referrers: Vec<Descriptor>,
    ) -> Fut<'b, usize> {
        Box::pin(async move {
            let registry = self.client().await?;
            publish_referrers(
                &self.target.attached,
                registry,
                self.repo(),
                subject,
                referrers,
            )
            .await
        })
    }

    fn lock_tag<'b>(
        &'b self,
        reference: &'b str,
    ) -> BoxFuture<'b, Option<tokio::sync::OwnedMutexGuard<()>>> {
        Box::pin(async move {
            let lock = self
                .target
                .tag_locks
                .lock()
                .expect("tag lock")
                .entry(self.tag_key(reference))
                .or_default()
                .clone();
            Some(lock.lock_owned().await)
        })
    }
}
