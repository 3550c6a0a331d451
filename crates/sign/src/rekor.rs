//! Rekor bundles, verified offline: what cosign attaches to a signature it recorded in the
//! Rekor transparency log (`dev.sigstore.cosign/bundle`). The bundle's signed entry timestamp
//! (SET) is Rekor's signature over the log entry it describes (RFC 8785 canonical JSON of
//! `body`, `integratedTime`, `logID`, `logIndex`); the entry (`hashedrekord` 0.0.1) must record
//! this very signature, over this payload's SHA-256, by this public key. Checking all of it
//! with Rekor's public key needs no network, which is how an air gap can require the log.

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn b64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))
}

/// What a verified bundle says: when the entry was put in the log (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Logged {
    pub integrated_time: i64,
}

/// Who the log entry must record as the signer: a public key, or a keyless signature's
/// certificate (PEM).
#[derive(Clone, Copy)]
pub enum Recorded<'a> {
    Key(&'a VerifyingKey),
    Certificate(&'a str),
}

/// Verifies `bundle` (cosign's annotation) for a signature `signature_b64` over `payload`
/// made by `signer`, with Rekor's public keys.
pub fn verify_bundle(
    bundle: &str,
    rekor_keys: &[VerifyingKey],
    signature_b64: &str,
    payload: &[u8],
    signer: Recorded<'_>,
) -> Result<Logged, String> {
    let bundle: Value =
        serde_json::from_str(bundle).map_err(|e| format!("the Rekor bundle is not JSON: {e}"))?;
    let entry = &bundle["Payload"];
    let body = entry["body"]
        .as_str()
        .ok_or("the Rekor bundle has no body")?;
    let integrated_time = entry["integratedTime"]
        .as_i64()
        .ok_or("the Rekor bundle has no integratedTime")?;
    let log_index = entry["logIndex"]
        .as_i64()
        .ok_or("the Rekor bundle has no logIndex")?;
    let log_id = entry["logID"]
        .as_str()
        .ok_or("the Rekor bundle has no logID")?;
    // RFC 8785 for these four members: sorted keys, no blanks, integers as integers, and
    // strings escaped as serde_json escapes them (base64 and hex need no escapes).
    let canonical = format!(
        "{{\"body\":{},\"integratedTime\":{integrated_time},\"logID\":{},\"logIndex\":{log_index}}}",
        serde_json::to_string(body).expect("a string serializes"),
        serde_json::to_string(log_id).expect("a string serializes"),
    );
    let set = bundle["SignedEntryTimestamp"]
        .as_str()
        .ok_or("the Rekor bundle has no SignedEntryTimestamp")?;
    let set = Signature::from_der(&b64(set)?)
        .map_err(|e| format!("the signed entry timestamp is not an ECDSA signature: {e}"))?;
    if !rekor_keys
        .iter()
        .any(|key| key.verify(canonical.as_bytes(), &set).is_ok())
    {
        return Err("the Rekor bundle is not signed by the given Rekor key".into());
    }

    let body: Value = serde_json::from_slice(&b64(body)?)
        .map_err(|e| format!("the Rekor entry is not JSON: {e}"))?;
    if body["kind"] != "hashedrekord" || body["apiVersion"] != "0.0.1" {
        return Err(format!(
            "the Rekor entry is a {} {}, not a hashedrekord 0.0.1",
            body["kind"], body["apiVersion"]
        ));
    }
    let spec = &body["spec"];
    let recorded = b64(spec["signature"]["content"].as_str().unwrap_or_default())?;
    if recorded != b64(signature_b64)? {
        return Err("the Rekor entry records another signature".into());
    }
    let hash = &spec["data"]["hash"];
    let wanted = hex(&Sha256::digest(payload));
    if hash["algorithm"] != "sha256" || hash["value"].as_str() != Some(wanted.as_str()) {
        return Err("the Rekor entry records another payload".into());
    }
    let recorded = b64(spec["signature"]["publicKey"]["content"]
        .as_str()
        .unwrap_or_default())?;
    let recorded = String::from_utf8(recorded).map_err(|_| "the Rekor entry's key is not PEM")?;
    let same = match signer {
        Recorded::Key(key) => crate::keys::public(&recorded, "the Rekor entry's key")
            .is_ok_and(|recorded| &recorded == key),
        Recorded::Certificate(pem) => {
            let first = |pem: &str| crate::fulcio::certificates(pem).ok()?.into_iter().next();
            first(&recorded).is_some_and(|r| Some(r) == first(pem))
        }
    };
    if !same {
        return Err("the Rekor entry records another public key".into());
    }
    Ok(Logged { integrated_time })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real key-signed, Rekor-logged signature from containers/image's fixtures, and
    /// copies with one thing changed each: every change is refused with its reason.
    #[test]
    fn a_real_rekor_bundle_verifies_and_tampered_ones_do_not() {
        if crate::fixtures::cosign().is_none() {
            return;
        }
        let key = crate::fixtures::key;
        let (rekor, signer, other) = (key("rekor.pub"), key("cosign2.pub"), key("cosign.pub"));
        let found = crate::fixtures::signature("dir-img-cosign-key-rekor-valid", 1);
        let (payload, signature) = (found.payload.to_vec(), found.signature.clone());
        let bundle = found.bundle.clone().unwrap();
        let logged = verify_bundle(
            &bundle,
            &[rekor],
            &signature,
            &payload,
            Recorded::Key(&signer),
        )
        .unwrap();
        assert!(logged.integrated_time > 1_600_000_000);

        let refused = |bundle: &str,
                       signature: &str,
                       payload: &[u8],
                       signer: &VerifyingKey,
                       rekor: &VerifyingKey| {
            verify_bundle(bundle, &[*rekor], signature, payload, Recorded::Key(signer)).unwrap_err()
        };
        assert!(
            refused(&bundle, &signature, &payload, &signer, &signer)
                .contains("not signed by the given Rekor key")
        );
        assert!(refused(&bundle, &signature, b"{}", &signer, &rekor).contains("another payload"));
        assert!(
            refused(&bundle, &signature, &payload, &other, &rekor).contains("another public key")
        );
        let other_signature = {
            let mut der = b64(&signature).unwrap();
            let at = der.len() - 1;
            der[at] ^= 1;
            base64::engine::general_purpose::STANDARD.encode(der)
        };
        assert!(
            refused(&bundle, &other_signature, &payload, &signer, &rekor)
                .contains("another signature")
        );
        let mut moved: Value = serde_json::from_str(&bundle).unwrap();
        moved["Payload"]["integratedTime"] = (logged.integrated_time + 1).into();
        assert!(
            refused(&moved.to_string(), &signature, &payload, &signer, &rekor)
                .contains("not signed by")
        );
    }
}
