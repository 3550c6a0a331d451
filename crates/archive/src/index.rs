//! Hangar's archive `index.json`: the list of images an archive holds. Field names, order and
//! Go's `omitempty` rules are kept exactly so archives move between Hangar and hangar in both
//! directions; unknown fields are ignored, and index versions below v1.2.0 are refused with
//! Hangar's own message.

use hangar_image::digest::Digest;
use hangar_image::manifest::Descriptor;
use hangar_image::platform::Platform;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const INDEX_VERSION: &str = "v1.2.0";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveIndex {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub list: Vec<Image>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// RFC 3339 with nanoseconds; when the archive was created (kept by appends).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time: String,
    /// When a sync last added images (not in Hangar's format; its reader ignores it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated: String,
    /// Set on a delta archive: its bases and the blobs it relies on them for (not in Hangar's
    /// format; its reader ignores it, and loads such an archive only into a registry that
    /// already has those blobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<super::delta::Delta>,
}

/// One list line's image: every platform copied from `source:tag`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub os_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageSpec>,
    /// The manifest `source:tag` held when it was saved (an index, a manifest list or a
    /// single manifest), stored whole as `share/sha256/<hex>`, so that load and serve give
    /// the tag its own digest back. Not in Hangar's format: its reader ignores the field, and
    /// an archive without it (Hangar's, or ours before it) loads as before, with an index
    /// built from `images`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_manifest: Option<SourceManifest>,
}

/// A manifest kept as its source served it: where it is and how to present it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceManifest {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// One platform manifest stored in the archive (`<digest hex>/` holds its OCI layout).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageSpec {
    /// The platform the archive recorded for this manifest.
    pub fn platform(&self) -> Platform {
        let some = |s: &String| Some(s.clone()).filter(|s| !s.is_empty());
        Platform {
            architecture: self.arch.clone(),
            os: self.os.clone(),
            os_version: some(&self.os_version),
            os_features: self.os_features.clone(),
            variant: some(&self.variant),
            ..Default::default()
        }
    }

    /// This manifest as an image-index entry (what load pushes and serve shows for a tag).
    pub fn descriptor(&self, digest: Digest, size: u64, media_type: String) -> Descriptor {
        Descriptor {
            media_type,
            digest,
            size,
            urls: Vec::new(),
            annotations: Some(self.annotations.clone()).filter(|a| !a.is_empty()),
            platform: Some(self.platform()),
            artifact_type: None,
            extra: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    #[error("index.json: {0}")]
    Malformed(String),
    /// Hangar's wording, so scripts that match it keep working.
    #[error("this tool does not support index version {0}")]
    UnsupportedVersion(String),
}

/// `vMAJOR.MINOR.PATCH` as numbers; anything else is not a version Hangar wrote.
fn version_triple(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.strip_prefix('v').unwrap_or(v).splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.split(['-', '+']).next()?.parse().ok()?;
    Some((major, minor, patch))
}

impl ArchiveIndex {
    /// A new, empty index stamped with the current time.
    pub fn new() -> ArchiveIndex {
        ArchiveIndex {
            list: Vec::new(),
            version: INDEX_VERSION.to_string(),
            time: rfc3339_now(),
            updated: String::new(),
            delta: None,
        }
    }

    /// Adds an image, replacing the one with the same source and tag (a sync of an image the
    /// archive already holds must not list it twice, which Hangar does).
    pub fn upsert(&mut self, image: Image) {
        match self
            .list
            .iter_mut()
            .find(|i| i.source == image.source && i.tag == image.tag)
        {
            Some(existing) => *existing = image,
            None => self.list.push(image),
        }
    }

    /// Parses an archive's `index.json`, refusing versions older than v1.2.0 (higher ones are
    /// accepted, as Hangar does).
    pub fn parse(bytes: &[u8]) -> Result<ArchiveIndex, IndexError> {
        let index: ArchiveIndex =
            serde_json::from_slice(bytes).map_err(|e| IndexError::Malformed(e.to_string()))?;
        let supported = version_triple(&index.version).is_some_and(|v| v >= (1, 2, 0));
        if !supported {
            return Err(IndexError::UnsupportedVersion(index.version));
        }
        Ok(index)
    }

    /// Compact JSON, as Go's `json.Marshal` writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an index always serialises")
    }
}

/// Now as RFC 3339 with nanoseconds in UTC (`2025-02-13T10:56:27.123456789Z`).
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// An RFC 3339 UTC time without its fraction of a second (SPDX's `created` allows none).
pub fn rfc3339_seconds(time: &str) -> String {
    format!("{}Z", time.split(['.', 'Z']).next().unwrap_or_default())
}

/// Formats a Unix time as RFC 3339 UTC, with nanoseconds trimmed the way Go's RFC3339Nano does.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by hand from Hangar's spec (archive/index.go field order, omitempty), not by our
    /// serialiser, so the reader is checked against the format itself.
    const FROM_SPEC: &str = r#"{"list":[{"source":"docker.io/library/nginx","tag":"1.25","archList":["amd64","unknown"],"osList":["linux","unknown"],"images":[{"arch":"amd64","os":"linux","mediaType":"application/vnd.oci.image.manifest.v1+json","layers":["sha256:1111111111111111111111111111111111111111111111111111111111111111"],"config":"sha256:2222222222222222222222222222222222222222222222222222222222222222","digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333"},{"arch":"unknown","os":"unknown","mediaType":"application/vnd.oci.image.manifest.v1+json","layers":["sha256:4444444444444444444444444444444444444444444444444444444444444444"],"config":"sha256:5555555555555555555555555555555555555555555555555555555555555555","digest":"sha256:6666666666666666666666666666666666666666666666666666666666666666","annotations":{"vnd.docker.reference.digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","vnd.docker.reference.type":"attestation-manifest"}}]}],"version":"v1.2.0","time":"2025-02-13T18:56:27.123456789+08:00"}"#;

    #[test]
    fn reads_the_spec_and_writes_it_back_byte_for_byte() {
        let index = ArchiveIndex::parse(FROM_SPEC.as_bytes()).unwrap();
        assert_eq!(index.list.len(), 1);
        let image = &index.list[0];
        assert_eq!(
            (image.source.as_str(), image.tag.as_str()),
            ("docker.io/library/nginx", "1.25")
        );
        assert_eq!(image.images.len(), 2);
        assert_eq!(
            image.images[1].annotations["vnd.docker.reference.type"],
            "attestation-manifest"
        );
        assert!(image.images[0].os_version.is_empty() && image.images[0].annotations.is_empty());
        // Field order and omitted empties match Go's encoding exactly.
        assert_eq!(String::from_utf8(index.to_bytes()).unwrap(), FROM_SPEC);
    }

    #[test]
    fn versions_and_unknown_fields() {
        let with = |v: &str| format!(r#"{{"version":"{v}","time":"x","future":{{"a":1}}}}"#);
        for ok in ["v1.2.0", "v1.2.1", "v1.10.0", "v2.0.0", "v1.3.0-rc1"] {
            assert!(ArchiveIndex::parse(with(ok).as_bytes()).is_ok(), "{ok}");
        }
        for old in ["v1.1.0", "v1.0.0", "v0.9.9", "", "latest"] {
            let err = ArchiveIndex::parse(with(old).as_bytes()).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("this tool does not support index version {old}")
            );
        }
        assert!(matches!(
            ArchiveIndex::parse(b"{not json"),
            Err(IndexError::Malformed(_))
        ));
        // An empty list is omitted, as Go's omitempty does.
        let empty = ArchiveIndex {
            list: vec![],
            version: INDEX_VERSION.into(),
            time: "t".into(),
            updated: String::new(),
            delta: None,
        };
        assert_eq!(
            String::from_utf8(empty.to_bytes()).unwrap(),
            r#"{"version":"v1.2.0","time":"t"}"#
        );
    }

    #[test]
    fn upsert_replaces_the_same_source_and_tag() {
        let image = |tag: &str, arch: &str| Image {
            source: "docker.io/library/app".into(),
            tag: tag.into(),
            arch_list: vec![arch.into()],
            ..Default::default()
        };
        let mut index = ArchiveIndex::new();
        index.upsert(image("1", "amd64"));
        index.upsert(image("2", "amd64"));
        index.upsert(image("1", "arm64"));
        assert_eq!(index.list, vec![image("1", "arm64"), image("2", "amd64")]);
    }

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_739_444_187, 123_456_789),
            "2025-02-13T10:56:27.123456789Z"
        );
        assert_eq!(rfc3339(951_782_400, 500_000_000), "2000-02-29T00:00:00.5Z");
        assert_eq!(rfc3339(4_102_444_799, 0), "2099-12-31T23:59:59Z");
        let now = ArchiveIndex::new();
        assert_eq!(now.version, "v1.2.0");
        assert!(
            now.time.ends_with('Z') && now.time.len() >= 20,
            "{}",
            now.time
        );
    }
}
