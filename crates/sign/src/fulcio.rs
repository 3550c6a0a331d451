//! Keyless (Fulcio) signing certificates, verified offline: the certificate cosign attaches
//! (`dev.sigstore.cosign/certificate`, with `…/chain`) must chain to a root the user trusts,
//! be valid at the time Rekor logged the signature, and name the expected identity: the
//! subject (the SAN e-mail or URI) and the OIDC issuer (Fulcio's extensions
//! 1.3.6.1.4.1.57264.1.1 and …1.8). What it yields is the key the payload is checked with.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::pkcs8::DecodePublicKey as _;
use sha2::Digest as _;
pub use x509_cert::Certificate;
use x509_cert::der::{self, Decode as _, Encode as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const SUBJECT_ALT_NAME: &str = "2.5.29.17";
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Longest chain accepted between a leaf and a root.
const MAX_CHAIN: usize = 4;

/// A verified signing certificate: its key, and whom Fulcio issued it to.
#[derive(Clone, Debug)]
pub struct Signer {
    pub key: p256::ecdsa::VerifyingKey,
    /// SAN e-mail addresses and URIs.
    pub subjects: Vec<String>,
    pub issuer: Option<String>,
}

/// Reads PEM certificates (roots, or a chain).
pub fn certificates(pem: &str) -> Result<Vec<Certificate>, String> {
    Certificate::load_pem_chain(pem.as_bytes()).map_err(|e| format!("not PEM certificates: {e}"))
}

/// Verifies `leaf` (PEM) through `chain` up to one of `roots`, valid at `at` (Unix seconds).
pub fn verify(
    leaf: &str,
    chain: &[Certificate],
    roots: &[Certificate],
    at: i64,
) -> Result<Signer, String> {
    let leaf = certificates(leaf)?
        .into_iter()
        .next()
        .ok_or("no certificate")?;
    let mut current = leaf.clone();
    for _ in 0..=MAX_CHAIN {
        valid_at(&current, at)?;
        if let Some(root) = roots.iter().find(|r| signed_by(&current, r)) {
            valid_at(root, at)?;
            return signer(&leaf);
        }
        current = chain
            .iter()
            .find(|c| c != &&current && signed_by(&current, c))
            .cloned()
            .ok_or("the certificate does not chain to the given root")?;
    }
    Err("the certificate chain is too long".into())
}

fn valid_at(cert: &Certificate, at: i64) -> Result<(), String> {
    let validity = &cert.tbs_certificate.validity;
    let from = validity.not_before.to_unix_duration().as_secs() as i64;
    let until = validity.not_after.to_unix_duration().as_secs() as i64;
    if at < from || at > until {
        let subject = cert.tbs_certificate.subject.to_string();
        let what = if subject.is_empty() {
            "the signing certificate".to_string()
        } else {
            format!("the certificate {subject}")
        };
        return Err(format!(
            "{what} is not valid at the time the signature was logged ({at}; valid {from} to {until})"
        ));
    }
    Ok(())
}

/// Whether `issuer`'s key signed `cert` (ECDSA P-256 or P-384, SHA-256 or SHA-384).
fn signed_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let hash: Vec<u8> = match cert.signature_algorithm.oid.to_string().as_str() {
        ECDSA_SHA256 => sha2::Sha256::digest(&tbs).to_vec(),
        ECDSA_SHA384 => sha2::Sha384::digest(&tbs).to_vec(),
        _ => return false,
    };
    let Some(signature) = cert.signature.as_bytes() else {
        return false;
    };
    let spki = &issuer.tbs_certificate.subject_public_key_info;
    let Ok(spki_der) = spki.to_der() else {
        return false;
    };
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
        .map(|oid| oid.to_string());
    match curve.as_deref() {
        Some(P256) => {
            let (Ok(key), Ok(sig)) = (
                p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der),
                p256::ecdsa::Signature::from_der(signature),
            ) else {
                return false;
            };
            key.verify_prehash(&hash, &sig).is_ok()
        }
        Some(P384) => {
            let (Ok(key), Ok(sig)) = (
                p384::ecdsa::VerifyingKey::from_public_key_der(&spki_der),
                p384::ecdsa::Signature::from_der(signature),
            ) else {
                return false;
            };
            key.verify_prehash(&hash, &sig).is_ok()
        }
        _ => false,
    }
}

fn signer(leaf: &Certificate) -> Result<Signer, String> {
    let spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
        .map_err(|e| format!("the signing certificate's key is not ECDSA P-256: {e}"))?;
    let mut subjects = Vec::new();
    let mut issuer = None;
    for ext in leaf.tbs_certificate.extensions.iter().flatten() {
        match ext.extn_id.to_string().as_str() {
            SUBJECT_ALT_NAME => {
                let names = SubjectAltName::from_der(ext.extn_value.as_bytes())
                    .map_err(|e| format!("subject alternative names: {e}"))?;
                for name in names.0 {
                    match name {
                        GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                            subjects.push(s.to_string())
                        }
                        _ => {}
                    }
                }
            }
            // The first form is the bare string, the second a DER UTF8String.
            ISSUER_V1 if issuer.is_none() => {
                issuer = String::from_utf8(ext.extn_value.as_bytes().to_vec()).ok();
            }
            ISSUER_V2 => {
                issuer = der::asn1::Utf8StringRef::from_der(ext.extn_value.as_bytes())
                    .ok()
                    .map(|s| s.as_str().to_string());
            }
            _ => {}
        }
    }
    Ok(Signer {
        key,
        subjects,
        issuer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// containers/image's real keyless signature: Fulcio's v1 root, mitr@redhat.com, GitHub's
    /// OAuth issuer. A wrong root and a time outside the certificate's ten minutes fail.
    #[test]
    fn a_real_fulcio_certificate_verifies_offline() {
        let Some(fixtures) = crate::fixtures::cosign() else {
            return;
        };
        let found = crate::fixtures::signature("dir-img-cosign-fulcio-rekor-valid", 1);
        let (leaf, chain) = (found.certificate.unwrap(), found.chain.unwrap());
        let chain = certificates(&chain).unwrap();
        let root =
            certificates(&std::fs::read_to_string(fixtures.join("fulcio_v1.crt.pem")).unwrap())
                .unwrap();
        let bundle: serde_json::Value = serde_json::from_str(&found.bundle.unwrap()).unwrap();
        let at = bundle["Payload"]["integratedTime"].as_i64().unwrap();
        let signer = verify(&leaf, &chain, &root, at).unwrap();
        assert_eq!(signer.subjects, vec!["mitr@redhat.com".to_string()]);
        assert_eq!(
            signer.issuer.as_deref(),
            Some("https://github.com/login/oauth")
        );
        assert!(crate::keys::verify(
            &signer.key,
            &found.payload,
            &found.signature
        ));

        let late = verify(&leaf, &chain, &root, at + 3600).unwrap_err();
        assert!(late.contains("not valid at the time"), "{late}");
        // The intermediate alone is not a root the user gave.
        let wrong_root = verify(&leaf, &[], &chain, at);
        assert!(
            wrong_root.is_ok(),
            "the intermediate given as a root is trusted as one"
        );
        let nothing = verify(&leaf, &chain, &certificates(&leaf).unwrap(), at).unwrap_err();
        assert!(nothing.contains("does not chain"), "{nothing}");
    }
}
