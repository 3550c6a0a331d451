//! Cosign-compatible signing, offline: keys in cosign's formats (`keys`) or in PKCS#11 tokens
//! (`pkcs11`), both behind `signer::Signer`, and signatures stored and checked the way cosign
//! does in registries (`cosign`). `targets` decides which digests of an image are signed or
//! checked and where their signatures live; `report` writes what `sign validate` found.
//! `policy` judges images against containers-policy.json, with `rekor` (bundles) and
//! `fulcio` (keyless certificates) verified offline. `verifier` is the one check both
//! `sign validate` and the policy make: keys or keyless signers (roots from PEM files or a
//! Sigstore `trusted_root`), with or without Rekor.

pub mod cosign;
pub mod fulcio;
pub mod keys;
pub mod pkcs11;
pub mod policy;
pub mod rekor;
pub mod report;
pub mod signer;
pub mod targets;
pub mod trusted_root;
pub mod verifier;

#[cfg(test)]
mod fixtures;
