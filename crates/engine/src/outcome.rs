//! What one image's copy ends in: its outcome, or the error that failed it, and the options
//! every route shares.

use hangar_image::digest::Digest;
use hangar_image::media::ManifestKind;
use hangar_image::platform::PlatformFilter;
use hangar_image::schema1::Schema1Error;
use hangar_registry::{Manifest, RegistryError};
use std::fmt;

#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    pub filter: PlatformFilter,
    /// Copy BuildKit attestation manifests along with their subjects.
    pub provenance: bool,
    /// Replace the destination index instead of merging into it.
    pub overwrite: bool,
    /// Decide and report, write nothing.
    pub dry_run: bool,
    /// Copy the signatures, attestations, SBOMs and referrers of the copied digests.
    pub attachments: bool,
    /// The signature policy every image must pass before any of its bytes are written
    /// (`None`: `--insecure-policy`, or no policy file).
    pub policy: Option<std::sync::Arc<hangar_sign::policy::Policy>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("unsupported MIME type {0:?}")]
    UnsupportedMediaType(String),
    #[error("{what}: malformed manifest: {message}")]
    Malformed { what: String, message: String },
    #[error("{0}")]
    Schema1(#[from] Schema1Error),
    /// The signature policy refused the image.
    #[error("{0}")]
    Refused(String),
}

impl CopyError {
    /// As the registry layer's error, for retry policies (which retry what is retryable).
    pub fn into_registry(self, what: &str) -> RegistryError {
        match self {
            CopyError::Registry(e) => e,
            other => RegistryError::Protocol {
                what: what.to_string(),
                message: other.to_string(),
            },
        }
    }

    /// The registry's answer behind this failure (status, raw body), if it was one.
    pub fn response(&self) -> Option<(u16, &str)> {
        match self {
            CopyError::Registry(e) => e.response(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Copied {
        digest: Digest,
        platforms: Vec<String>,
    },
    UpToDate {
        digest: Digest,
    },
    /// Nothing matched the platform filter: a warning, not a failure (as in Hangar).
    NoMatchingPlatform {
        available: Vec<String>,
    },
    WouldCopy {
        digest: Option<Digest>,
        platforms: Vec<String>,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |p: &[String]| {
            if p.is_empty() {
                String::new()
            } else {
                format!(" [{}]", p.join(","))
            }
        };
        match self {
            Outcome::Copied { digest, platforms } => {
                write!(f, "copied {digest}{}", list(platforms))
            }
            Outcome::UpToDate { digest } => write!(f, "up to date {digest}"),
            Outcome::NoMatchingPlatform { available } => {
                write!(
                    f,
                    "skipped: no available image for specified arch and os (has{})",
                    list(available)
                )
            }
            Outcome::WouldCopy { digest, platforms } => match digest {
                Some(d) => write!(f, "would copy {d}{}", list(platforms)),
                None => write!(f, "would copy a new index{}", list(platforms)),
            },
        }
    }
}

pub fn malformed(what: impl Into<String>, e: impl fmt::Display) -> CopyError {
    CopyError::Malformed {
        what: what.into(),
        message: e.to_string(),
    }
}

pub fn kind_of(m: &Manifest) -> Result<ManifestKind, CopyError> {
    ManifestKind::from_media_type(&m.media_type)
        .ok_or_else(|| CopyError::UnsupportedMediaType(m.media_type.clone()))
}
