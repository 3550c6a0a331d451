//! The merged filesystem of an image in a registry, for scanners: the platform's manifest is
//! resolved (an index picks the matching entry), then its layers stream one after another into
//! a [`LayerTree`], digest-checked on the way.

use super::image_fs::{Layer, LayerTree};
use futures_util::StreamExt as _;
use hangar_image::manifest::{ImageManifest, Index};
use hangar_image::media;
use hangar_image::platform::Platform;
use hangar_image::reference::Reference;
use hangar_registry::Registries;
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex};

pub async fn layer_tree(
    registries: &Registries,
    reference: &Reference,
    platform: &Platform,
) -> anyhow::Result<LayerTree> {
    let registry = registries.get(reference.registry()).await?;
    let repo = reference.repository().to_string();
    let wanted = reference.manifest_reference();
    let mut manifest = registry.get_manifest(&repo, &wanted).await?;
    if manifest.media_type == media::OCI_INDEX || manifest.media_type == media::DOCKER_LIST {
        let index: Index = serde_json::from_slice(&manifest.bytes)?;
        let entry = index
            .manifests
            .iter()
            .filter(|d| !d.is_attestation())
            .find(|d| d.platform.as_ref().is_some_and(|p| p.same_as(platform)))
            .ok_or_else(|| {
                let available: Vec<String> = index
                    .manifests
                    .iter()
                    .filter(|d| !d.is_attestation())
                    .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                    .collect();
                anyhow::anyhow!(
                    "{reference}: no {platform} image (available: {})",
                    available.join(", ")
                )
            })?;
        manifest = registry.get_manifest(&repo, entry.digest.as_str()).await?;
    }
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| anyhow::anyhow!("{reference}: not an image manifest: {e}"))?;
    let handle = tokio::runtime::Handle::current();
    let layers = parsed.layers.clone();
    let tree = tokio::task::spawn_blocking(move || {
        LayerTree::build(layers.into_iter().map(|layer| {
            let response = handle
                .block_on(registry.get_blob(&repo, &layer.digest))
                .map_err(|e| e.to_string())?;
            // Downloaded and hashed by a task on the runtime while this thread inflates and
            // indexes: the two overlap. A few chunks at most are in flight.
            let hasher = Arc::new(Mutex::new(Sha256::new()));
            let feeding = hasher.clone();
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            handle.spawn(async move {
                let mut stream = response.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(std::io::Error::other);
                    if let Ok(bytes) = &chunk {
                        feeding.lock().expect("hasher lock").update(bytes);
                    }
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
            });
            let reader = ChannelReader {
                rx,
                current: bytes::Bytes::new(),
            };
            Ok(Layer {
                digest: layer.digest.to_string(),
                media_type: layer.media_type.clone(),
                reader,
                hashed_elsewhere: Some(hasher),
            })
        }))
    })
    .await?
    .map_err(|e| anyhow::anyhow!("{reference}: {e}"))?;
    Ok(tree)
}

/// The bytes a download task sends, read from a blocking thread.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
