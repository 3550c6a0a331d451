//! Sigstore's `trusted_root.json` (protobuf-specs `TrustedRoot`, what `cosign verify
//! --trusted-root` and the TUF repository hand out): the Fulcio certificate authorities
//! (`certificateAuthorities[].certChain`, leaf-most first, root last) and the Rekor logs'
//! keys (`tlogs[].publicKey`, DER), each with its `validFor` window. CT logs and timestamp
//! authorities are not needed to check a cosign bundle offline and are ignored.

use crate::verifier::{Authority, RekorKey, Window};
use base64::Engine as _;
use p256::pkcs8::DecodePublicKey as _;
use serde_json::Value;
use x509_cert::Certificate;
use x509_cert::der::Decode as _;

/// What a trusted root trusts.
#[derive(Clone, Debug)]
pub struct TrustedRoot {
    pub authorities: Vec<Authority>,
    pub rekor: Vec<RekorKey>,
}

pub fn parse(text: &str) -> Result<TrustedRoot, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let media = doc["mediaType"].as_str().unwrap_or_default();
    if !media.starts_with("application/vnd.dev.sigstore.trustedroot") {
        return Err(format!(
            "mediaType {media:?} is not a Sigstore trusted root (application/vnd.dev.sigstore.trustedroot+json)"
        ));
    }
    let mut authorities = Vec::new();
    for (n, ca) in items(&doc, "certificateAuthorities").enumerate() {
        let at = format!("certificateAuthorities[{n}]");
        let mut chain = items(&ca["certChain"], "certificates")
            .enumerate()
            .map(|(i, c)| {
                let der = raw_bytes(c, &format!("{at}.certChain.certificates[{i}]"))?;
                Certificate::from_der(&der).map_err(|e| {
                    format!("{at}.certChain.certificates[{i}]: not a certificate: {e}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let root = chain
            .pop()
            .ok_or_else(|| format!("{at}: certChain has no certificates"))?;
        authorities.push(Authority {
            root,
            intermediates: chain,
            valid: window(&ca["validFor"], &at)?,
        });
    }
    let mut rekor = Vec::new();
    for (n, log) in items(&doc, "tlogs").enumerate() {
        let at = format!("tlogs[{n}]");
        let key = &log["publicKey"];
        let der = raw_bytes(key, &format!("{at}.publicKey"))?;
        let key_details = key["keyDetails"].as_str().unwrap_or_default();
        let parsed = match p256::ecdsa::VerifyingKey::from_public_key_der(&der) {
            Ok(parsed) => parsed,
            // Rekor's production log signs with P-256; an Ed25519 or RSA log (some private
            // deployments) cannot have signed a bundle this build checks.
            Err(_) => {
                tracing::warn!(
                    "trusted root {at}: the {key_details} key is not ECDSA P-256, skipped"
                );
                continue;
            }
        };
        rekor.push(RekorKey {
            key: parsed,
            valid: window(&key["validFor"], &at)?,
        });
    }
    if authorities.is_empty() && rekor.is_empty() {
        return Err("it names no certificate authority and no transparency log".into());
    }
    Ok(TrustedRoot { authorities, rekor })
}

fn items<'a>(value: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    value[name].as_array().into_iter().flatten()
}

fn raw_bytes(value: &Value, at: &str) -> Result<Vec<u8>, String> {
    let text = value["rawBytes"]
        .as_str()
        .ok_or_else(|| format!("{at}: rawBytes is missing"))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("{at}: rawBytes is not base64: {e}"))
}

/// A `validFor` {start, end} of protobuf timestamps (RFC 3339, UTC, optional fraction).
fn window(value: &Value, at: &str) -> Result<Window, String> {
    let time = |name: &str| -> Result<Option<i64>, String> {
        let Some(text) = value[name].as_str() else {
            return Ok(None);
        };
        seconds(text)
            .map(Some)
            .ok_or_else(|| format!("{at}.validFor.{name}: {text:?} is not an RFC 3339 UTC time"))
    };
    Ok(Window {
        from: time("start")?,
        until: time("end")?,
    })
}

fn seconds(text: &str) -> Option<i64> {
    let whole = text.strip_suffix('Z')?.get(..19)?;
    let time: x509_cert::der::DateTime = format!("{whole}Z").parse().ok()?;
    Some(time.unix_duration().as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trusted root laid out as Sigstore's TUF repository serves it, built from the real
    /// Fulcio v1 root and Rekor key of the fixtures.
    #[test]
    fn reads_authorities_and_logs_with_their_windows() {
        let Some(fixtures) = crate::fixtures::cosign() else {
            return;
        };
        let pem_body = |text: &str| -> String {
            text.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>()
        };
        let root = pem_body(&std::fs::read_to_string(fixtures.join("fulcio_v1.crt.pem")).unwrap());
        let rekor = pem_body(&std::fs::read_to_string(fixtures.join("rekor.pub")).unwrap());
        let doc = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.sigstore.dev",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": rekor, "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": "2021-01-12T11:53:27.000Z"}},
                "logId": {"keyId": "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="}
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "sigstore.dev", "commonName": "sigstore"},
                "uri": "https://fulcio.sigstore.dev",
                "certChain": {"certificates": [{"rawBytes": root}]},
                "validFor": {"start": "2021-03-07T03:20:29.000Z", "end": "2022-12-31T23:59:59.999Z"}
            }],
            "ctlogs": [], "timestampAuthorities": []
        });
        let trusted = parse(&doc.to_string()).unwrap();
        assert_eq!(trusted.rekor.len(), 1);
        assert_eq!(trusted.rekor[0].key, crate::fixtures::key("rekor.pub"));
        assert_eq!(trusted.rekor[0].valid.from, Some(1_610_452_407));
        assert_eq!(trusted.rekor[0].valid.until, None);
        assert_eq!(trusted.authorities.len(), 1);
        assert!(trusted.authorities[0].intermediates.is_empty());
        assert_eq!(trusted.authorities[0].valid.until, Some(1_672_531_199));

        for (text, wanted) in [
            ("{}", "not a Sigstore trusted root"),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
                "names no certificate authority",
            ),
            (
                r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"publicKey":{"rawBytes":"!!"}}]}"#,
                "tlogs[0].publicKey: rawBytes is not base64",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(wanted), "{text}: {e}");
        }
    }
}
