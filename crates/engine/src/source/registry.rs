//! An image in a registry repository. Manifests read while the run plans are kept for the
//! copy (planning costs no extra requests) and freed with the job.

use super::{Attachments, Fut, OpenBlob, Source, Top};
use crate::attachments::Attached;
use crate::outcome::CopyError;
use bytes::Bytes;
use futures_util::StreamExt as _;
use hangar_image::digest::Digest;
use hangar_image::reference::Reference;
use hangar_registry::{Manifest, Registries, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

pub struct RegistrySource<'a> {
    registries: &'a Registries,
    reference: Reference,
    registry: OnceCell<Arc<Registry>>,
    attached: &'a Attached,
    read: Mutex<HashMap<String, Manifest>>,
}

impl<'a> RegistrySource<'a> {
    pub fn new(registries: &'a Registries, attached: &'a Attached, reference: Reference) -> Self {
        RegistrySource {
            registries,
            reference,
            registry: OnceCell::new(),
            attached,
            read: Mutex::default(),
        }
    }

    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    fn repo(&self) -> &str {
        self.reference.repository()
    }

    pub async fn client(&self) -> Result<&Arc<Registry>, CopyError> {
        Ok(self
            .registry
            .get_or_try_init(|| self.registries.get(self.reference.registry()))
            .await?)
    }

    async fn cached_manifest(&self, reference: &str) -> Result<Manifest, CopyError> {
        if let Some(m) = self.read.lock().expect("read lock").get(reference) {
            return Ok(m.clone());
        }
        let m = self
            .client()
            .await?
            .get_manifest(self.repo(), reference)
            .await?;
        self.read
            .lock()
            .expect("read lock")
            .insert(reference.to_string(), m.clone());
        Ok(m)
    }
}

impl Source for RegistrySource<'_> {
    fn name(&self) -> String {
        format!("{}/{}", self.reference.registry(), self.repo())
    }

    fn top(&self) -> Fut<'_, Top> {
        Box::pin(async move {
            let manifest = self
                .cached_manifest(&self.reference.manifest_reference())
                .await?;
            Ok(Top {
                manifest,
                original: true,
                referrers_of: None,
            })
        })
    }

    fn manifest<'b>(&'b self, reference: &'b str) -> Fut<'b, Manifest> {
        Box::pin(self.cached_manifest(reference))
    }

    fn blob_bytes<'b>(&'b self, digest: &'b Digest, limit: usize) -> Fut<'b, Bytes> {
        Box::pin(async move {
            Ok(self
                .client()
                .await?
                .get_blob_bytes(self.repo(), digest, limit)
                .await?)
        })
    }

    fn open_blob<'b>(&'b self, digest: &'b Digest) -> Fut<'b, OpenBlob> {
        Box::pin(async move {
            let registry = self.client().await?;
            let response = registry.get_blob(self.repo(), digest).await?;
            Ok(OpenBlob {
                size: response.content_length(),
                what: format!("blob {}/{}@{digest}", registry.name(), self.repo()),
                body: Box::pin(
                    response
                        .bytes_stream()
                        .map(|r| r.map_err(std::io::Error::other)),
                ),
            })
        })
    }

    fn blob_size<'b>(&'b self, digest: &'b Digest) -> Fut<'b, Option<u64>> {
        Box::pin(async move { Ok(self.client().await?.blob_size(self.repo(), digest).await?) })
    }

    fn attachments<'b>(&'b self, subjects: &'b [Digest]) -> Fut<'b, Attachments> {
        Box::pin(async move {
            let registry = self.client().await?;
            let tags = self.attached.tags(registry, self.repo()).await?;
            let mut found = Attachments::default();
            for subject in subjects {
                found.tags.extend(Attached::cosign_tags(subject, &tags));
                let referrers = self
                    .attached
                    .referrers(registry, self.repo(), subject, &tags)
                    .await?;
                if !referrers.is_empty() {
                    found.referrers.push((subject.clone(), referrers));
                }
            }
            Ok(found)
        })
    }

    fn registry(&self) -> Option<(&Arc<Registry>, &str)> {
        self.registry.get().map(|r| (r, self.repo()))
    }
}
