//! Index rules: which entries of a source index survive the platform filter, and how kept
//! entries merge into an index that already exists at the destination (Hangar's rules: the
//! same platform is replaced, `arm64` == `arm64/v8`, attestations follow their subject).

use hangar_image::manifest::{Descriptor, Index};
use hangar_image::media;
use hangar_image::platform::{Platform, PlatformFilter};

/// The entries of a source index that pass the filter.
#[derive(Debug, PartialEq)]
pub struct Selection {
    pub kept: Vec<Descriptor>,
    /// Every entry survived: the source index can be pushed byte-for-byte.
    pub everything: bool,
}

/// `entries` are the index's descriptors with any missing platform details already filled.
pub fn select(entries: &[Descriptor], filter: &PlatformFilter, provenance: bool) -> Selection {
    let allowed =
        |d: &Descriptor| filter.allows(d.platform.as_ref().unwrap_or(&Platform::default()));
    let images: Vec<&Descriptor> = entries
        .iter()
        .filter(|d| !d.is_attestation() && allowed(d))
        .collect();
    let kept: Vec<Descriptor> = entries
        .iter()
        .filter(|d| {
            if d.is_attestation() {
                provenance
                    && d.attestation_subject()
                        .is_some_and(|s| images.iter().any(|i| i.digest == s))
            } else {
                allowed(d)
            }
        })
        .cloned()
        .collect();
    let everything = kept.len() == entries.len();
    Selection { kept, everything }
}

/// Merges `new` entries into `existing` ones. A replaced entry keeps its position (so merging
/// the same entries again changes nothing); entries for new platforms go at the end.
pub fn merge(mut existing: Vec<Descriptor>, new: Vec<Descriptor>) -> Vec<Descriptor> {
    for n in new {
        let replaces = |e: &Descriptor| {
            let same_platform = !e.is_attestation()
                && !n.is_attestation()
                && match (&e.platform, &n.platform) {
                    (Some(a), Some(b)) => a.same_as(b),
                    _ => false,
                };
            let same_attestation =
                e.is_attestation() && n.is_attestation() && e.annotations == n.annotations;
            same_platform || same_attestation || e.digest == n.digest
        };
        match existing.iter().position(&replaces) {
            Some(at) => {
                existing.retain(|e| !replaces(e));
                existing.insert(at.min(existing.len()), n);
            }
            None => existing.push(n),
        }
    }
    let images: Vec<_> = existing
        .iter()
        .filter(|d| !d.is_attestation())
        .map(|d| d.digest.clone())
        .collect();
    existing.retain(|d| {
        !d.is_attestation() || d.attestation_subject().is_some_and(|s| images.contains(&s))
    });
    existing
}

/// Whether two entry lists say the same thing, in any order.
pub fn same_entries(a: &[Descriptor], b: &[Descriptor]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// Serialises a new OCI index (2-space indented, as Hangar pushes it).
pub fn build(entries: Vec<Descriptor>) -> Vec<u8> {
    let index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_string()),
        manifests: entries,
        annotations: None,
        extra: Default::default(),
    };
    serde_json::to_vec_pretty(&index).expect("an index always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(c: char, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", c.to_string().repeat(64))
                .parse()
                .unwrap(),
            size: 100,
            urls: vec![],
            annotations: None,
            platform: Some(Platform::new(os, arch, variant)),
            artifact_type: None,
            extra: Default::default(),
        }
    }

    fn attestation(c: char, subject: &Descriptor) -> Descriptor {
        let mut a = entry(c, "unknown", "unknown", None);
        a.annotations = Some(BTreeMap::from([
            (
                "vnd.docker.reference.digest".to_string(),
                subject.digest.to_string(),
            ),
            (
                "vnd.docker.reference.type".to_string(),
                "attestation-manifest".to_string(),
            ),
        ]));
        a
    }

    fn digests(v: &[Descriptor]) -> String {
        v.iter().map(|d| d.digest.hex()[..1].to_string()).collect()
    }

    fn filter(arch: &[&str]) -> PlatformFilter {
        PlatformFilter {
            arch: arch.iter().map(|s| s.to_string()).collect(),
            os: vec!["linux".into()],
            variant: vec![],
        }
    }

    #[test]
    fn selection_table() {
        let amd = entry('a', "linux", "amd64", None);
        let arm64 = entry('b', "linux", "arm64", Some("v8"));
        let armv7 = entry('c', "linux", "arm", Some("v7"));
        let att_amd = attestation('d', &amd);
        let att_arm = attestation('e', &armv7);
        let all = vec![
            amd.clone(),
            arm64.clone(),
            armv7.clone(),
            att_amd.clone(),
            att_arm.clone(),
        ];

        let s = select(&all, &filter(&["amd64", "arm64"]), true);
        assert_eq!(digests(&s.kept), "abd");
        assert!(!s.everything);

        let s = select(&all, &filter(&[]), true);
        assert_eq!(digests(&s.kept), "abcde");
        assert!(s.everything);

        let s = select(&all, &filter(&[]), false);
        assert_eq!(digests(&s.kept), "abc");
        assert!(!s.everything);

        let s = select(&all, &filter(&["s390x"]), true);
        assert!(s.kept.is_empty());
    }

    #[test]
    fn merge_table() {
        let amd = entry('a', "linux", "amd64", None);
        let arm64_old = entry('b', "linux", "arm64", None);
        let arm64_new = entry('f', "linux", "arm64", Some("v8"));
        let armv7 = entry('c', "linux", "arm", Some("v7"));
        let att_old = attestation('d', &arm64_old);
        let att_new = attestation('e', &arm64_new);

        // Same platform replaced (arm64 == arm64/v8); the stale attestation goes with it.
        let merged = merge(
            vec![amd.clone(), arm64_old.clone(), att_old.clone()],
            vec![arm64_new.clone(), att_new.clone()],
        );
        assert_eq!(digests(&merged), "afe");

        // Adding a platform keeps the others.
        let merged = merge(vec![amd.clone()], vec![armv7.clone()]);
        assert_eq!(digests(&merged), "ac");

        // Re-adding an identical entry changes nothing, order included.
        let merged = merge(vec![amd.clone(), armv7.clone()], vec![amd.clone()]);
        assert_eq!(digests(&merged), "ac");
        assert_eq!(merge(merged.clone(), merged.clone()), merged);
        assert!(same_entries(&merged, &[armv7.clone(), amd.clone()]));
        assert!(!same_entries(&merged, std::slice::from_ref(&amd)));

        let bytes = build(merged);
        let parsed: Index = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed.media_type.as_deref(), Some(media::OCI_INDEX));
        assert_eq!(parsed.manifests.len(), 2);
        assert!(
            String::from_utf8(bytes)
                .unwrap()
                .contains("\n  \"manifests\"")
        );
    }
}
