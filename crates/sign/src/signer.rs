//! Whatever makes a signature: a key in memory (cosign key file) or a key in a token
//! (PKCS#11). Both give ECDSA P-256 signatures as ASN.1 DER, the form cosign stores.

use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

pub trait Signer: Send + Sync {
    /// An ECDSA P-256 signature over SHA-256 of `payload`, ASN.1 DER.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, String>;
    fn public_key(&self) -> &VerifyingKey;
}

impl Signer for SigningKey {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let signature: Signature = p256::ecdsa::signature::Signer::sign(self, payload);
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn public_key(&self) -> &VerifyingKey {
        self.verifying_key()
    }
}

/// Whatever a passphrase prompt may fail with, its causes kept for the one-line report.
pub type PassphraseError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Pkcs11(String),
    #[error("cannot read private key {key}")]
    Read {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Passphrase(PassphraseError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

/// The signer `key` names: a `pkcs11:` URI (a key in a token) or a cosign key file.
/// `passphrase(prompt)` is asked only when needed: for the token's PIN when the URI has
/// none, for the file's passphrase when it is encrypted.
pub fn open(
    key: &str,
    passphrase: impl Fn(&str) -> Result<Vec<u8>, PassphraseError>,
) -> Result<Box<dyn Signer>, OpenError> {
    if key.starts_with("pkcs11:") {
        let token = crate::pkcs11::Pkcs11Key::open(key, || {
            passphrase("Enter the PIN of the token: ")
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .map_err(|e| e.to_string())
        })
        .map_err(OpenError::Pkcs11)?;
        return Ok(Box::new(token));
    }
    let text = std::fs::read_to_string(key).map_err(|source| OpenError::Read {
        key: key.to_string(),
        source,
    })?;
    let pass = if crate::keys::is_encrypted(&text) {
        passphrase("Enter the password of private key: ").map_err(OpenError::Passphrase)?
    } else {
        Vec::new()
    };
    Ok(Box::new(crate::keys::open(&text, &pass, key)?))
}
