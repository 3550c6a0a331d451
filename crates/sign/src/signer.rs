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
