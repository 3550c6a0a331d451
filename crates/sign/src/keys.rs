//! Signing keys in cosign's formats. The private key is an ECDSA P-256 key in PKCS#8, sealed
//! with NaCl secretbox under a key derived from the passphrase with scrypt (N=32768, r=8,
//! p=1), and written as PEM `ENCRYPTED SIGSTORE PRIVATE KEY` whose body is JSON:
//! `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":B64},
//!   "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}`.
//! Older cosign wrote the same under `ENCRYPTED COSIGN PRIVATE KEY`; both are read. The public
//! key is a PEM `PUBLIC KEY` (SPKI).

use base64::Engine as _;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey, signature::Verifier as _};
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};

pub const PRIVATE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const OLD_PRIVATE_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{what}: wrong passphrase (the key did not decrypt)")]
    WrongPassphrase { what: String },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

fn invalid(what: &str, message: impl std::fmt::Display) -> KeyError {
    KeyError::Invalid {
        what: what.to_string(),
        message: message.to_string(),
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[allow(non_snake_case)]
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn b64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

fn derive(
    passphrase: &[u8],
    salt: &[u8],
    params: &ScryptParams,
    what: &str,
) -> Result<[u8; 32], KeyError> {
    if !params.N.is_power_of_two() || params.N < 2 {
        return Err(invalid(
            what,
            format!("scrypt N={} is not a power of two", params.N),
        ));
    }
    let log_n = params.N.trailing_zeros() as u8;
    let scrypt = scrypt::Params::new(log_n, params.r, params.p, 32)
        .map_err(|e| invalid(what, format!("scrypt parameters: {e}")))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase, salt, &scrypt, &mut key)
        .map_err(|e| invalid(what, format!("scrypt: {e}")))?;
    Ok(key)
}

/// A new key pair: (encrypted private PEM, public PEM).
pub fn generate(passphrase: &[u8]) -> Result<(String, String), KeyError> {
    let key = SigningKey::random(&mut OsRng);
    Ok((seal(&key, passphrase)?, public_pem(key.verifying_key())))
}

/// The private key in cosign's encrypted PEM.
pub fn seal(key: &SigningKey, passphrase: &[u8]) -> Result<String, KeyError> {
    let der = key.to_pkcs8_der().map_err(|e| invalid("private key", e))?;
    let mut salt = [0u8; 32];
    OsRng.fill_bytes(&mut salt);
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let params = ScryptParams {
        N: 32768,
        r: 8,
        p: 1,
    };
    let secret = derive(passphrase, &salt, &params, "private key")?;
    let ciphertext = XSalsa20Poly1305::new(&secret.into())
        .encrypt(Nonce::from_slice(&nonce), der.as_bytes())
        .map_err(|e| invalid("private key", e))?;
    let sealed = Sealed {
        kdf: Kdf {
            name: "scrypt".into(),
            params,
            salt: b64().encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: b64().encode(nonce),
        },
        ciphertext: b64().encode(ciphertext),
    };
    let json = serde_json::to_vec(&sealed).expect("the sealed key serializes");
    Ok(pem(PRIVATE_LABEL, &json))
}

fn pem(label: &str, body: &[u8]) -> String {
    let encoded = b64().encode(body);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The label and body of the first PEM block.
fn unpem(text: &str, what: &str) -> Result<(String, Vec<u8>), KeyError> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| invalid(what, "not a PEM file"))?;
    let rest = &text[begin + 11..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| invalid(what, "broken PEM header"))?;
    let label = rest[..label_end].to_string();
    let end_marker = format!("-----END {label}-----");
    let body_start = label_end + 5;
    let body_end = rest
        .get(body_start..)
        .and_then(|r| r.find(&end_marker))
        .map(|i| body_start + i)
        .ok_or_else(|| invalid(what, format!("no {end_marker}")))?;
    let body: String = rest[body_start..body_end]
        .lines()
        .filter(|l| !l.contains(':'))
        .collect::<Vec<_>>()
        .concat();
    let bytes = b64()
        .decode(body.trim())
        .map_err(|e| invalid(what, format!("PEM body: {e}")))?;
    Ok((label, bytes))
}

/// Reads a private key: cosign's encrypted formats (both labels) or an unencrypted PKCS#8
/// `PRIVATE KEY` / SEC1 `EC PRIVATE KEY`.
pub fn open(text: &str, passphrase: &[u8], what: &str) -> Result<SigningKey, KeyError> {
    let (label, body) = unpem(text, what)?;
    match label.as_str() {
        PRIVATE_LABEL | OLD_PRIVATE_LABEL => {
            let sealed: Sealed = serde_json::from_slice(&body)
                .map_err(|e| invalid(what, format!("encrypted key: {e}")))?;
            if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
                return Err(invalid(
                    what,
                    format!(
                        "unsupported key encryption {}/{}",
                        sealed.kdf.name, sealed.cipher.name
                    ),
                ));
            }
            let salt = b64()
                .decode(&sealed.kdf.salt)
                .map_err(|e| invalid(what, e))?;
            let nonce = b64()
                .decode(&sealed.cipher.nonce)
                .map_err(|e| invalid(what, e))?;
            let ciphertext = b64()
                .decode(&sealed.ciphertext)
                .map_err(|e| invalid(what, e))?;
            if nonce.len() != 24 {
                return Err(invalid(what, "the nonce is not 24 bytes"));
            }
            let secret = derive(passphrase, &salt, &sealed.kdf.params, what)?;
            let der = XSalsa20Poly1305::new(&secret.into())
                .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
                .map_err(|_| KeyError::WrongPassphrase {
                    what: what.to_string(),
                })?;
            SigningKey::from_pkcs8_der(&der)
                .map_err(|e| invalid(what, format!("not an ECDSA P-256 key: {e}")))
        }
        "PRIVATE KEY" => SigningKey::from_pkcs8_der(&body)
            .map_err(|e| invalid(what, format!("not an ECDSA P-256 key: {e}"))),
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&body)
            .map(SigningKey::from)
            .map_err(|e| invalid(what, format!("not an ECDSA P-256 key: {e}"))),
        other => Err(invalid(
            what,
            format!("a {other:?} PEM block is not a private key"),
        )),
    }
}

/// Whether a private key file needs a passphrase.
pub fn is_encrypted(text: &str) -> bool {
    text.contains(PRIVATE_LABEL) || text.contains(OLD_PRIVATE_LABEL)
}

pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("a P-256 public key encodes")
}

/// Reads a public key (PEM SPKI).
pub fn public(text: &str, what: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(text.trim())
        .map_err(|e| invalid(what, format!("not an ECDSA P-256 public key: {e}")))
}

/// A signature as cosign puts it in `dev.cosignproject.cosign/signature`: DER, base64.
pub fn encode_signature(der: &[u8]) -> String {
    b64().encode(der)
}

/// Whether `signature_b64` (DER, as cosign writes it) signs `payload` with `key`.
pub fn verify(key: &VerifyingKey, payload: &[u8], signature_b64: &str) -> bool {
    let Ok(der) = b64().decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::from_der(&der) else {
        return false;
    };
    key.verify(payload, &signature).is_ok()
}

/// Writes a key file with `mode` (0600 for a private key), also when it exists: an existing
/// file keeps its old mode through open(), so the mode is set again.
pub fn write_key_file(path: &std::path::Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_a_wrong_passphrase_says_so() {
        let (private, public_text) = generate(b"correct horse").unwrap();
        assert!(private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert!(public_text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let key = open(&private, b"correct horse", "k.key").unwrap();
        let public_key = public(&public_text, "k.pub").unwrap();
        assert_eq!(key.verifying_key(), &public_key);
        let wrong = open(&private, b"battery", "k.key").unwrap_err().to_string();
        assert_eq!(wrong, "k.key: wrong passphrase (the key did not decrypt)");
        let der = super::super::signer::Signer::sign(&key, b"payload").unwrap();
        let signature = encode_signature(&der);
        assert!(verify(&public_key, b"payload", &signature));
        assert!(!verify(&public_key, b"payload!", &signature));
        // The older label reads the same.
        let old = private.replace("SIGSTORE", "COSIGN");
        assert_eq!(open(&old, b"correct horse", "old").unwrap(), key);
        let not_a_key = open("hello", b"", "x").unwrap_err().to_string();
        assert_eq!(not_a_key, "x: not a PEM file");
        let squashed = open("-----BEGIN X-----END X-----", b"", "x")
            .unwrap_err()
            .to_string();
        assert_eq!(squashed, "x: no -----END X-----");
    }
}
