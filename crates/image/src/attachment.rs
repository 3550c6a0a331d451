//! The tags images' attachments live under: cosign's `sha256-HEX.sig|.att|.sbom` next to
//! the image, and the OCI referrers tag schema's `sha256-HEX` (an index of a subject's
//! referrers, for registries without the referrers API).

use crate::digest::Digest;

/// The referrers tag schema's tag for `subject` (`sha256-HEX`), which cosign's tags extend.
pub fn subject_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm(), subject.hex())
}

/// The subject digest's hex of an attachment tag: cosign's `sha256-HEX.sig|.att|.sbom`, or the
/// referrers tag schema's `sha256-HEX`.
pub fn attachment_subject(tag: &str) -> Option<&str> {
    let (base, suffix) = match tag.rsplit_once('.') {
        Some((base, suffix)) => (base, Some(suffix)),
        None => (tag, None),
    };
    let hex = base.strip_prefix("sha256-")?;
    (matches!(suffix, None | Some("sig" | "att" | "sbom"))
        && hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    .then_some(hex)
}

/// The subject of a referrers tag schema tag (`sha256-HEX`, no suffix).
pub fn referrers_subject(tag: &str) -> Option<Digest> {
    attachment_subject(tag)
        .filter(|hex| tag.len() == "sha256-".len() + hex.len())
        .and_then(|hex| format!("sha256:{hex}").parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_tags() {
        let hex = "ab".repeat(32);
        for tag in [format!("sha256-{hex}.sig"), format!("sha256-{hex}")] {
            assert_eq!(attachment_subject(&tag), Some(hex.as_str()), "{tag}");
        }
        assert_eq!(
            referrers_subject(&format!("sha256-{hex}")).map(|d| d.to_string()),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(referrers_subject(&format!("sha256-{hex}.att")), None);
        for tag in ["sha256-abc.sig", "v1.0", &format!("sha256-{hex}.tar")] {
            assert_eq!(attachment_subject(tag), None, "{tag}");
        }
    }
}
