//! An image in a registry repository. Manifests read while the run plans are kept for the
//! copy (planning costs no extra requests) and freed with the job. registries.conf decides
//! where it is really read from: a blocked reference is refused, and the image is pulled from
//! the first of its mirrors that has it, else from the registry (at its `location`).

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
    /// The image as the list names it (what messages and archives record).
    reference: Reference,
    /// Where it is read from: the registry and the reference there.
    endpoint: OnceCell<(Arc<Registry>, Reference)>,
    attached: &'a Attached,
    read: Mutex<HashMap<String, Manifest>>,
}

impl<'a> RegistrySource<'a> {
    pub fn new(registries: &'a Registries, attached: &'a Attached, reference: Reference) -> Self {
        RegistrySource {
            registries,
            reference,
            endpoint: OnceCell::new(),
            attached,
            read: Mutex::default(),
        }
    }

    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The repository the image is read from.
    fn repo(&self) -> &str {
        self.endpoint
            .get()
            .map(|(_, r)| r.repository())
            .unwrap_or_else(|| self.reference.repository())
    }

    pub async fn client(&self) -> Result<&Arc<Registry>, CopyError> {
        Ok(&self.endpoint().await?.0)
    }

    async fn endpoint(&self) -> Result<&(Arc<Registry>, Reference), CopyError> {
        self.endpoint
            .get_or_try_init(|| self.choose_endpoint())
            .await
    }

    /// The first pull source that has the image: each mirror registries.conf gives (asked
    /// for the top manifest, which is kept), then the registry itself.
    async fn choose_endpoint(&self) -> Result<(Arc<Registry>, Reference), CopyError> {
        let conf = hangar_registry::registries_conf();
        let listed = format!(
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        );
        if let Some(entry) = conf.blocked(&listed) {
            return Err(hangar_registry::RegistryError::Blocked {
                reference: listed,
                prefix: entry.prefix.clone(),
            }
            .into());
        }
        let candidates = conf.pull_sources(&listed, self.reference.digest().is_some());
        let last = candidates.len() - 1;
        for (i, candidate) in candidates.iter().enumerate() {
            let at = match (self.reference.digest(), self.reference.tag()) {
                (Some(digest), _) => format!("{candidate}@{digest}"),
                (None, tag) => format!("{candidate}:{}", tag.unwrap_or("latest")),
            };
            let reference = Reference::parse(&at)
                .map_err(|e| crate::outcome::malformed(format!("registries.conf: {at}"), e))?;
            if i == last {
                let registry = self.registries.get(reference.registry()).await?;
                return Ok((registry, reference));
            }
            let answer = async {
                let registry = self.registries.get(reference.registry()).await?;
                let top = registry
                    .get_manifest(reference.repository(), &reference.manifest_reference())
                    .await?;
                Ok::<_, hangar_registry::RegistryError>((registry, top))
            }
            .await;
            match answer {
                Ok((registry, top)) => {
                    tracing::info!("Pulling [{}] from mirror [{reference}]", self.reference);
                    self.read
                        .lock()
                        .expect("read lock")
                        .insert(self.reference.manifest_reference(), top);
                    return Ok((registry, reference));
                }
                Err(e) => {
                    tracing::warn!("mirror [{reference}] of [{}] not used: {e}", self.reference)
                }
            }
        }
        unreachable!("the registry itself is always the last pull source")
    }

    async fn cached_manifest(&self, reference: &str) -> Result<Manifest, CopyError> {
        if let Some(m) = self.read.lock().expect("read lock").get(reference) {
            return Ok(m.clone());
        }
        let registry = self.client().await?;
        // Choosing a mirror reads the top manifest: it is there now.
        if let Some(m) = self.read.lock().expect("read lock").get(reference) {
            return Ok(m.clone());
        }
        let m = registry.get_manifest(self.repo(), reference).await?;
        self.read
            .lock()
            .expect("read lock")
            .insert(reference.to_string(), m.clone());
        Ok(m)
    }
}

impl Source for RegistrySource<'_> {
    fn name(&self) -> String {
        format!(
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        )
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

    fn reference(&self) -> Option<Reference> {
        Some(self.reference.clone())
    }

    fn signatures<'b>(&'b self, digest: &'b Digest) -> Fut<'b, Vec<hangar_sign::cosign::Found>> {
        Box::pin(async move {
            let registry = self.client().await?;
            let store = hangar_sign::cosign::SignatureStore {
                registry,
                repository: self.repo(),
            };
            store.read(digest).await.map_err(|e| match e {
                hangar_sign::cosign::SignError::Registry(e) => e.into(),
                other => crate::outcome::malformed(self.name(), other),
            })
        })
    }

    fn registry(&self) -> Option<(&Arc<Registry>, &str)> {
        self.endpoint
            .get()
            .map(|(r, reference)| (r, reference.repository()))
    }
}
