//! What of an image gets signed or checked: the index digest (when asked) and each platform
//! image the filter keeps, attestations left out; a single manifest is its own target. Where
//! the signatures live (`COSIGN_REPOSITORY` or the image's repository) is decided here too, so
//! `sign`, `sign validate` and `scan` walk an image the same way.

use crate::cosign::{SignError, SignatureStore, Verdict};
use crate::signer::Signer;
use crate::verifier::Verifier;
use hangar_image::digest::Digest;
use hangar_image::manifest::Index;
use hangar_image::media;
use hangar_image::platform::{Platform, PlatformFilter};
use hangar_image::reference::Reference;
use hangar_registry::{Registries, Registry, RegistryError};
use std::sync::Arc;

/// A digest to sign or check: the index itself or one platform image.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub digest: Digest,
    pub media_type: String,
    pub platform: Option<Platform>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("unsupported to sign for deprecated image MIME type {0:?}")]
    Deprecated(String),
    #[error("{reference}: malformed index")]
    MalformedIndex {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}: no image for the specified arch and os")]
    NoPlatform(String),
    #[error("COSIGN_REPOSITORY={0:?} is not a repository")]
    SignatureRepository(String, #[source] hangar_image::reference::ReferenceError),
}

/// The digests of an image to sign or check: the index (when `with_index`) and each
/// platform image the filter keeps (attestations left out), or the single manifest.
pub async fn targets(
    registry: &Registry,
    reference: &Reference,
    filter: &PlatformFilter,
    with_index: bool,
) -> Result<Vec<Target>, TargetError> {
    let manifest = registry
        .get_manifest(reference.repository(), &reference.manifest_reference())
        .await?;
    if manifest.media_type == media::DOCKER_V2S1 || manifest.media_type == media::DOCKER_V2S1_SIGNED
    {
        return Err(TargetError::Deprecated(manifest.media_type));
    }
    let whole = Target {
        digest: manifest.digest.clone(),
        media_type: manifest.media_type.clone(),
        platform: None,
    };
    if manifest.media_type != media::OCI_INDEX && manifest.media_type != media::DOCKER_LIST {
        return Ok(vec![whole]);
    }
    let index: Index =
        serde_json::from_slice(&manifest.bytes).map_err(|source| TargetError::MalformedIndex {
            reference: reference.to_string(),
            source,
        })?;
    let targets = select(whole, &index, filter, with_index);
    if targets.is_empty() {
        return Err(TargetError::NoPlatform(reference.to_string()));
    }
    Ok(targets)
}

/// The targets of an index: itself when `with_index`, then every platform image `filter`
/// keeps, in the index's order.
pub fn select(
    whole: Target,
    index: &Index,
    filter: &PlatformFilter,
    with_index: bool,
) -> Vec<Target> {
    let mut targets = Vec::new();
    if with_index {
        targets.push(whole);
    }
    for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
        let Some(platform) = &entry.platform else {
            continue;
        };
        if filter.allows(platform) {
            targets.push(Target {
                digest: entry.digest.clone(),
                media_type: entry.media_type.clone(),
                platform: Some(platform.clone()),
            });
        }
    }
    targets
}

/// Where signatures of `reference` are kept: `cosign_repository` (another repository, maybe on
/// another registry; cosign's `COSIGN_REPOSITORY`), else the image's own repository.
pub async fn signature_home(
    registries: &Registries,
    reference: &Reference,
    cosign_repository: Option<&str>,
) -> Result<(Arc<Registry>, String), TargetError> {
    match cosign_repository.filter(|v| !v.is_empty()) {
        Some(repo) => {
            let other = Reference::parse(repo)
                .map_err(|e| TargetError::SignatureRepository(repo.to_string(), e))?;
            Ok((
                registries.get(other.registry()).await?,
                other.repository().to_string(),
            ))
        }
        None => Ok((
            registries.get(reference.registry()).await?,
            reference.repository().to_string(),
        )),
    }
}

/// One image's validation: every target with its verdict.
#[derive(Clone, Debug)]
pub struct Checked {
    pub reference: String,
    pub targets: Vec<(Target, Verdict)>,
}

/// How an image is walked and where its signatures are.
pub struct Walk<'a> {
    pub registries: &'a Registries,
    pub filter: &'a PlatformFilter,
    /// Sign or check the index digest too, not only the platform digests.
    pub with_index: bool,
    pub cosign_repository: Option<&'a str>,
}

impl Walk<'_> {
    /// Signs every target of `reference` with `key`; `signed` hears of each digest, and
    /// whether its signature was new (false: this key had signed it already). Returns how
    /// many targets there were.
    pub async fn sign(
        &self,
        reference: &Reference,
        key: &dyn Signer,
        signed: impl Fn(&str, &Digest, bool),
    ) -> Result<usize, TargetError> {
        let registry = self.registries.get(reference.registry()).await?;
        let targets = targets(&registry, reference, self.filter, self.with_index).await?;
        let (home, repo) =
            signature_home(self.registries, reference, self.cosign_repository).await?;
        let store = SignatureStore {
            registry: &home,
            repository: &repo,
        };
        let identity = format!("{}/{}", reference.registry(), reference.repository());
        for target in &targets {
            let added = store.sign(key, &identity, &target.digest).await?;
            signed(&identity, &target.digest, added);
        }
        Ok(targets.len())
    }

    /// Checks the signatures of every target of `reference` with `verifier` (as `cosign
    /// verify`, the payload's digest is checked, not its docker-reference).
    pub async fn check(
        &self,
        reference: &Reference,
        verifier: &Verifier,
    ) -> Result<Checked, TargetError> {
        let registry = self.registries.get(reference.registry()).await?;
        let targets = targets(&registry, reference, self.filter, self.with_index).await?;
        let (home, repo) =
            signature_home(self.registries, reference, self.cosign_repository).await?;
        let store = SignatureStore {
            registry: &home,
            repository: &repo,
        };
        let mut checked = Vec::new();
        for target in targets {
            let found = store.read(&target.digest).await?;
            let verdict = verifier.check(&found, &target.digest, |_| Ok(()));
            checked.push((target, verdict));
        }
        Ok(Checked {
            reference: reference.to_string(),
            targets: checked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", hex_of(n)).parse().unwrap()
    }

    fn hex_of(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    fn index() -> Index {
        serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": [
                {"mediaType": media::OCI_MANIFEST, "digest": digest(1).to_string(), "size": 1,
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": media::OCI_MANIFEST, "digest": digest(2).to_string(), "size": 1,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": media::OCI_MANIFEST, "digest": digest(3).to_string(), "size": 1,
                 "platform": {"architecture": "unknown", "os": "unknown"},
                 "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                 "vnd.docker.reference.digest": digest(1).to_string()}},
                {"mediaType": media::OCI_MANIFEST, "digest": digest(4).to_string(), "size": 1},
            ]
        }))
        .unwrap()
    }

    fn filter(arch: &[&str]) -> PlatformFilter {
        PlatformFilter {
            arch: arch.iter().map(|a| a.to_string()).collect(),
            os: Vec::new(),
            variant: Vec::new(),
        }
    }

    fn whole() -> Target {
        Target {
            digest: digest(9),
            media_type: media::OCI_INDEX.to_string(),
            platform: None,
        }
    }

    #[test]
    fn index_first_then_platforms_without_attestations() {
        let all = filter(&[]);
        let got = select(whole(), &index(), &all, true);
        let digests: Vec<_> = got.iter().map(|t| t.digest.clone()).collect();
        assert_eq!(digests, vec![digest(9), digest(1), digest(2)]);
        assert_eq!(got[2].platform.as_ref().unwrap().architecture, "arm64");
    }

    #[test]
    fn without_index_and_filtered() {
        let got = select(whole(), &index(), &filter(&["arm64"]), false);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digest, digest(2));
    }

    #[test]
    fn nothing_kept() {
        assert!(select(whole(), &index(), &filter(&["s390x"]), false).is_empty());
    }
}
