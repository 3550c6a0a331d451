//! Cosign's signature layout in a registry (sigstore/cosign `specs/SIGNATURE_SPEC.md`): the
//! signatures of digest `sha256:HEX` live in one OCI manifest tagged `sha256-HEX.sig` in the
//! image's repository (or `COSIGN_REPOSITORY`), one layer per signature. Each layer is the
//! simple-signing payload (`application/vnd.dev.cosign.simplesigning.v1+json`), and its
//! `dev.cosignproject.cosign/signature` annotation holds the base64 ECDSA signature.
//!
//! Unlike the sigstore crate, appending keeps every existing layer (with its annotations,
//! certificates and bundles) and skips a signature this key already made.

use super::keys;
use super::signer::Signer;
use bytes::Bytes;
use hangar_image::digest::Digest;
use hangar_image::media;
use hangar_registry::{Registry, RegistryError};
use p256::ecdsa::VerifyingKey;
use serde_json::{Value, json};

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// A payload is a few hundred bytes; anything larger is not one.
const PAYLOAD_LIMIT: usize = 1 << 20;

/// The tag holding the signatures of `digest`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm(), digest.hex())
}

/// The simple-signing payload cosign signs, byte for byte as cosign marshals it.
pub fn payload(docker_reference: &str, digest: &Digest) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":"cosign container image signature"}},"optional":null}}"#,
        Value::String(docker_reference.to_string()),
        Value::String(digest.to_string()),
    )
    .into_bytes()
}

/// One signature found in a registry.
#[derive(Clone, Debug)]
pub struct Found {
    pub payload: Bytes,
    pub signature: String,
    /// The Rekor bundle cosign attached (`dev.sigstore.cosign/bundle`), when it did.
    pub bundle: Option<String>,
    /// A keyless signature's Fulcio certificate and chain (PEM), when it is one.
    pub certificate: Option<String>,
    pub chain: Option<String>,
}

/// cosign's annotation holding the Rekor bundle of a signature.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// cosign's annotations holding a keyless signature's certificate and its chain.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";

/// One simple-signing layer of a `.sig` manifest.
pub struct SignatureLayer {
    pub payload: Digest,
    pub signature: String,
    pub bundle: Option<String>,
    pub certificate: Option<String>,
    pub chain: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{what}: {message}")]
    Malformed { what: String, message: String },
}

/// The signatures a cosign `.sig` manifest holds: each simple-signing layer's payload blob
/// and its signature annotation.
pub fn signature_layers(manifest: &Value) -> Vec<SignatureLayer> {
    manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|layer| layer["mediaType"] == SIMPLE_SIGNING)
        .filter_map(|layer| {
            let signature = layer["annotations"][SIGNATURE_ANNOTATION].as_str()?;
            let payload = layer["digest"].as_str()?.parse::<Digest>().ok()?;
            Some(SignatureLayer {
                payload,
                signature: signature.to_string(),
                bundle: layer["annotations"][BUNDLE_ANNOTATION]
                    .as_str()
                    .map(str::to_string),
                certificate: layer["annotations"][CERTIFICATE_ANNOTATION]
                    .as_str()
                    .map(str::to_string),
                chain: layer["annotations"][CHAIN_ANNOTATION]
                    .as_str()
                    .map(str::to_string),
            })
        })
        .collect()
}

/// The most a signature payload may weigh (cosign's are a few hundred bytes).
pub const SIGNATURE_PAYLOAD_LIMIT: usize = PAYLOAD_LIMIT;

/// Where a digest's signatures are kept.
pub struct SignatureStore<'a> {
    pub registry: &'a Registry,
    pub repository: &'a str,
}

impl SignatureStore<'_> {
    /// The signatures of `digest` (none when the tag does not exist).
    pub async fn read(&self, digest: &Digest) -> Result<Vec<Found>, SignError> {
        let Some(manifest) = self.manifest(digest).await? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for layer in signature_layers(&manifest) {
            let payload = self
                .registry
                .get_blob_bytes(self.repository, &layer.payload, PAYLOAD_LIMIT)
                .await?;
            found.push(Found {
                payload,
                signature: layer.signature,
                bundle: layer.bundle,
                certificate: layer.certificate,
                chain: layer.chain,
            });
        }
        Ok(found)
    }

    async fn manifest(&self, digest: &Digest) -> Result<Option<Value>, SignError> {
        let tag = signature_tag(digest);
        match self.registry.get_manifest(self.repository, &tag).await {
            Ok(m) => serde_json::from_slice(&m.bytes)
                .map(Some)
                .map_err(|e| SignError::Malformed {
                    what: format!("{}/{}:{tag}", self.registry.name(), self.repository),
                    message: e.to_string(),
                }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Signs `digest` for `docker_reference` and adds the signature to the ones already there.
    /// Returns false when this key had already signed this payload (nothing is written).
    pub async fn sign(
        &self,
        key: &dyn Signer,
        docker_reference: &str,
        digest: &Digest,
    ) -> Result<bool, SignError> {
        let payload = payload(docker_reference, digest);
        let verifying = key.public_key();
        // Read, add, write back: one at a time per signature tag in this process (two list
        // lines may sign the same digest into one COSIGN_REPOSITORY).
        let lock = tag_lock(&format!(
            "{}/{}:{}",
            self.registry.name(),
            self.repository,
            signature_tag(digest)
        ));
        let _one_at_a_time = lock.lock().await;
        let existing = self.manifest(digest).await?;
        if existing.is_some() {
            for found in self.read(digest).await? {
                if found.payload.as_ref() == payload.as_slice()
                    && keys::verify(verifying, &found.payload, &found.signature)
                {
                    return Ok(false);
                }
            }
        }
        let signature = key.sign(&payload).map_err(|message| SignError::Malformed {
            what: format!("signing {digest}"),
            message,
        })?;
        let payload_digest = Digest::sha256_of(&payload);
        self.registry
            .push_blob_bytes(
                self.repository,
                &payload_digest,
                Bytes::from(payload.clone()),
            )
            .await?;
        let mut layers: Vec<Value> = existing
            .as_ref()
            .and_then(|m| m["layers"].as_array().cloned())
            .unwrap_or_default();
        layers.push(json!({
            "mediaType": SIMPLE_SIGNING,
            "size": payload.len(),
            "digest": payload_digest,
            "annotations": { SIGNATURE_ANNOTATION: keys::encode_signature(&signature) },
        }));
        let annotations = existing
            .as_ref()
            .and_then(|m| m.get("annotations"))
            .cloned();
        push_layered(
            self.registry,
            self.repository,
            &signature_tag(digest),
            layers,
            annotations,
        )
        .await?;
        Ok(true)
    }
}

/// The lock of one signature tag (see [`SignatureStore::sign`]).
fn tag_lock(key: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::LazyLock::new(Default::default);
    LOCKS
        .lock()
        .expect("signature locks")
        .entry(key.to_string())
        .or_default()
        .clone()
}

/// Adds the layers of `ours` that `theirs` lacks (two signature-style manifests for the same
/// tag, e.g. the source's and the destination's `.sig`) and pushes the union under `tag`,
/// keeping `theirs`' annotations. The added layers' blobs must already be in `repository`.
/// Returns false when `theirs` had them all (nothing written).
pub async fn merge_layers(
    registry: &Registry,
    repository: &str,
    tag: &str,
    theirs: &[u8],
    ours: &[u8],
) -> Result<bool, RegistryError> {
    let parse = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes).map_err(|e| RegistryError::Protocol {
            what: format!("{}/{repository}:{tag}", registry.name()),
            message: format!("not a manifest: {e}"),
        })
    };
    let (theirs, ours) = (parse(theirs)?, parse(ours)?);
    let mut layers = theirs["layers"].as_array().cloned().unwrap_or_default();
    let before = layers.len();
    for layer in ours["layers"].as_array().into_iter().flatten() {
        if !layers.contains(layer) {
            layers.push(layer.clone());
        }
    }
    if layers.len() == before {
        return Ok(false);
    }
    push_layered(
        registry,
        repository,
        tag,
        layers,
        theirs.get("annotations").cloned(),
    )
    .await?;
    Ok(true)
}

/// Pushes a signature-style manifest of `layers` (whose blobs are already there) under
/// `tag`, with the config go-containerregistry writes for cosign's images.
pub async fn push_layered(
    registry: &Registry,
    repository: &str,
    tag: &str,
    layers: Vec<Value>,
    annotations: Option<Value>,
) -> Result<Digest, RegistryError> {
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let history: Vec<Value> = layers
        .iter()
        .map(|_| json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
    .expect("config serializes");
    let config_digest = Digest::sha256_of(&config);
    registry
        .push_blob_bytes(repository, &config_digest, Bytes::from(config.clone()))
        .await?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "size": config.len(), "digest": config_digest},
        "layers": layers,
    });
    if let Some(annotations) = annotations {
        manifest["annotations"] = annotations;
    }
    let bytes = Bytes::from(serde_json::to_vec(&manifest).expect("manifest serializes"));
    registry
        .put_manifest(repository, tag, &bytes, media::OCI_MANIFEST)
        .await
}

/// What checking a digest's signatures against a key found.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// A signature by the key over a payload naming this digest.
    Valid { payload: Value },
    /// No signature at all.
    Unsigned,
    /// Signatures, none valid for this key and digest; why the closest one failed.
    Invalid(String),
}

/// Checks `signatures` of `digest` against `key`, the way `cosign verify --key` does: the
/// signature must verify over the payload bytes, and the payload must name this digest.
pub fn check(signatures: &[Found], digest: &Digest, key: &VerifyingKey) -> Verdict {
    if signatures.is_empty() {
        return Verdict::Unsigned;
    }
    let mut why = String::from("no signature verifies with this key");
    for found in signatures {
        if !keys::verify(key, &found.payload, &found.signature) {
            continue;
        }
        let payload: Value = match serde_json::from_slice(&found.payload) {
            Ok(v) => v,
            Err(e) => {
                why = format!("a signed payload is not JSON: {e}");
                continue;
            }
        };
        let named = payload["critical"]["image"]["docker-manifest-digest"].as_str();
        if named == Some(digest.as_str()) {
            return Verdict::Valid { payload };
        }
        why = format!(
            "the signature is for {}, not {digest}",
            named.unwrap_or("no digest")
        );
    }
    Verdict::Invalid(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_cosigns_bytes() {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(
            String::from_utf8(payload("reg.example:5000/team/app", &digest)).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"reg.example:5000/team/app"}},"image":{{"docker-manifest-digest":"sha256:{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
                "a".repeat(64)
            )
        );
        assert_eq!(
            signature_tag(&digest),
            format!("sha256-{}.sig", "a".repeat(64))
        );
    }

    /// Real signatures made by cosign (containers/image fixtures): they verify with cosign's
    /// public key over the manifest they name; a modified manifest or another key fails.
    #[test]
    fn signatures_made_by_real_cosign_verify() {
        let Some(fixtures) = crate::fixtures::cosign() else {
            return;
        };
        let read_signature = crate::fixtures::signature;
        let key = keys::public(
            &std::fs::read_to_string(fixtures.join("cosign.pub")).unwrap(),
            "cosign.pub",
        )
        .unwrap();
        let manifest = std::fs::read(fixtures.join("dir-img-cosign-valid/manifest.json")).unwrap();
        let digest = Digest::sha256_of(&manifest);
        let valid = read_signature("dir-img-cosign-valid", 1);
        assert!(matches!(
            check(std::slice::from_ref(&valid), &digest, &key),
            Verdict::Valid { .. }
        ));
        let two = [
            read_signature("dir-img-cosign-valid-2", 1),
            read_signature("dir-img-cosign-valid-2", 2),
        ];
        assert!(matches!(check(&two, &digest, &key), Verdict::Valid { .. }));
        let modified =
            std::fs::read(fixtures.join("dir-img-cosign-modified-manifest/manifest.json")).unwrap();
        let modified_signature = read_signature("dir-img-cosign-modified-manifest", 1);
        assert!(matches!(
            check(&[modified_signature], &Digest::sha256_of(&modified), &key),
            Verdict::Invalid(why) if why.starts_with("the signature is for sha256:")
        ));
        let other = keys::public(
            &std::fs::read_to_string(fixtures.join("cosign2.pub")).unwrap(),
            "cosign2.pub",
        )
        .unwrap();
        assert_eq!(
            check(&[valid], &digest, &other),
            Verdict::Invalid("no signature verifies with this key".into())
        );
        assert_eq!(check(&[], &digest, &key), Verdict::Unsigned);
    }
}
