//! The real cosign signatures of containers/image's fixtures (`../shared/fixtures/cosign`),
//! for this crate's tests: the folder, and one signature file read as a registry gives it.

use crate::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, Found, SIGNATURE_ANNOTATION,
};
use base64::Engine as _;
use std::path::PathBuf;

/// The fixtures folder, or `None` with a message on a machine without it; CI always has it,
/// so there its absence fails the test instead of passing it.
pub fn cosign() -> Option<PathBuf> {
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/cosign");
    if fixtures.is_dir() {
        return Some(fixtures);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is absent in CI",
        fixtures.display()
    );
    eprintln!(
        "skipped: {} is absent (the shared fixtures are not on this machine)",
        fixtures.display()
    );
    None
}

/// `signature-N` of a fixture image (containers/image's "dir" layout: a 0x00 byte,
/// `sigstore-json`, then JSON with the payload and the annotations).
pub fn signature(dir: &str, n: usize) -> Found {
    let path = cosign()
        .expect("checked by the caller")
        .join(dir)
        .join(format!("signature-{n}"));
    let mut raw = std::fs::read(&path).unwrap();
    // git symlinks arrive as files holding the target path.
    if !raw.starts_with(b"\0") {
        let target = String::from_utf8(raw).unwrap();
        raw = std::fs::read(path.parent().unwrap().join(target.trim())).unwrap();
    }
    let start = raw.iter().position(|b| *b == b'{').unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&raw[start..]).unwrap();
    Found {
        payload: base64::engine::general_purpose::STANDARD
            .decode(doc["payload"].as_str().unwrap())
            .unwrap()
            .into(),
        signature: doc["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap()
            .to_string(),
        bundle: doc["annotations"][BUNDLE_ANNOTATION]
            .as_str()
            .map(str::to_string),
        certificate: doc["annotations"][CERTIFICATE_ANNOTATION]
            .as_str()
            .map(str::to_string),
        chain: doc["annotations"][CHAIN_ANNOTATION]
            .as_str()
            .map(str::to_string),
    }
}

/// A public key file of the fixtures.
pub fn key(name: &str) -> p256::ecdsa::VerifyingKey {
    let text =
        std::fs::read_to_string(cosign().expect("checked by the caller").join(name)).unwrap();
    crate::keys::public(&text, name).unwrap()
}
