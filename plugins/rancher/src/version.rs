//! Versions the way Rancher's tools compare them: `v` prefixes optional, `v1.28` meaning
//! `v1.28.0` (Go's x/mod/semver shorthand, used in KDM and `--min-kube-version`).

use semver::Version;
use std::cmp::Ordering;

/// `v2.9.3`, `2.9`, `v1.28`, `v1.28.9+k3s1`, `v1.27.16-rancher1-1`; missing minor or patch
/// parts are zero.
pub fn parse(text: &str) -> Option<Version> {
    let text = text.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    parts.resize(3, "0");
    Version::parse(&format!("{}{rest}", parts.join("."))).ok()
}

/// Precedence order (build metadata ignored), `None` when either is not a version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.cmp_precedence(&parse(b)?))
}

/// The Rancher version a list is made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rancher {
    /// As the user wrote it, with a `v` prefix: names the default output files.
    pub name: String,
    pub version: Version,
    /// `-ent`: Rancher Prime Manager GC (China), which takes some images from `cnrancher/`.
    pub ent: bool,
}

impl Rancher {
    pub fn parse(text: &str) -> Result<Rancher, String> {
        let name = if text.starts_with('v') {
            text.to_string()
        } else {
            format!("v{text}")
        };
        let (plain, ent) = match name.strip_suffix("-ent") {
            Some(plain) => (plain, true),
            None => (name.as_str(), false),
        };
        let version = Version::parse(&plain[1..])
            .map_err(|e| format!("rancher version {text:?} is not vX.Y.Z: {e}"))?;
        Ok(Rancher { name, version, ent })
    }

    /// The version chart constraints are checked against: no pre-release (constraints like
    /// `>= 2.9.0-0 < 2.10.0-0` are meant to admit release candidates), and patch 99 (dev builds)
    /// read as 98 so `< 2.9.99-0` still admits them; as Rancher's own image exporter does.
    pub fn for_charts(&self) -> Version {
        let patch = if self.version.patch == 99 {
            98
        } else {
            self.version.patch
        };
        Version::new(self.version.major, self.version.minor, patch)
    }

    /// The oldest Kubernetes minor a Rancher line still supports (Hangar's defaults).
    pub fn default_min_kube(&self) -> &'static str {
        match (self.version.major, self.version.minor) {
            (2, ..=7) => "v1.23.0",
            (2, 8) => "v1.25.0",
            (2, 9) => "v1.27.0",
            (2, 10) => "v1.28.0",
            _ => "v1.30.0",
        }
    }

    /// RKE1 was removed in Rancher 2.12.
    pub fn has_rke1(&self) -> bool {
        self.version < Version::new(2, 12, 0)
    }
}
