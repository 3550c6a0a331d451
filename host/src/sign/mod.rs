//! Cosign-compatible signing, offline: keys in cosign's formats (`keys`), and signatures stored
//! and checked the way cosign does in registries (`cosign`).

pub mod cosign;
pub mod keys;
