//! Platforms (`os/arch[/variant]`) and the `--arch/--os/--variant` filter.
//!
//! Matching rules follow Hangar: an empty filter set allows everything, an empty field on the
//! image passes, and `arm64` equals `arm64/v8` (the variant is optional for arm64).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
            ..Platform::default()
        }
    }

    fn normalized_variant(&self) -> &str {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", None | Some("v8")) => "",
            (_, v) => v.unwrap_or(""),
        }
    }

    /// Whether two entries describe the same platform, so one replaces the other in an index.
    pub fn same_as(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && self.normalized_variant() == other.normalized_variant()
            && self.os_version.as_deref().unwrap_or("") == other.os_version.as_deref().unwrap_or("")
    }

    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    /// arm images without a variant and Windows images without an OS version are the cases
    /// Hangar #83 fills from the image config.
    pub fn needs_config_details(&self) -> bool {
        (self.architecture == "arm" && self.variant.as_deref().unwrap_or("").is_empty())
            || (self.os == "windows" && self.os_version.as_deref().unwrap_or("").is_empty())
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformFilter {
    pub arch: Vec<String>,
    pub os: Vec<String>,
    pub variant: Vec<String>,
}

impl PlatformFilter {
    pub fn allows(&self, p: &Platform) -> bool {
        fn pass(set: &[String], value: &str) -> bool {
            value.is_empty() || set.is_empty() || set.iter().any(|s| s == value)
        }
        pass(&self.arch, &p.architecture)
            && pass(&self.os, &p.os)
            && pass(&self.variant, p.variant.as_deref().unwrap_or(""))
    }

    pub fn describe(&self) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                "*".into()
            } else {
                v.join(",")
            }
        };
        let mut s = format!("arch [{}], os [{}]", list(&self.arch), list(&self.os));
        if !self.variant.is_empty() {
            s.push_str(&format!(", variant [{}]", list(&self.variant)));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(arch: &[&str], os: &[&str], variant: &[&str]) -> PlatformFilter {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        PlatformFilter {
            arch: v(arch),
            os: v(os),
            variant: v(variant),
        }
    }

    #[test]
    fn filter_table() {
        let default = filter(&["amd64", "arm64"], &["linux"], &[]);
        let cases = [
            (Platform::new("linux", "amd64", None), &default, true),
            (Platform::new("linux", "arm64", Some("v8")), &default, true),
            (Platform::new("linux", "arm", Some("v7")), &default, false),
            (Platform::new("windows", "amd64", None), &default, false),
            (Platform::new("", "amd64", None), &default, true),
            (
                Platform::new("linux", "arm", Some("v7")),
                &filter(&["arm"], &[], &["v7"]),
                true,
            ),
            (
                Platform::new("linux", "arm", Some("v6")),
                &filter(&["arm"], &[], &["v7"]),
                false,
            ),
            (
                Platform::new("linux", "arm", None),
                &filter(&["arm"], &[], &["v7"]),
                true,
            ),
            (
                Platform::new("linux", "s390x", None),
                &filter(&[], &[], &[]),
                true,
            ),
        ];
        for (p, f, want) in cases {
            assert_eq!(f.allows(&p), want, "{p} with {f:?}");
        }
    }

    #[test]
    fn same_platform_rules() {
        let arm64 = Platform::new("linux", "arm64", None);
        assert!(arm64.same_as(&Platform::new("linux", "arm64", Some("v8"))));
        assert!(
            !Platform::new("linux", "arm", Some("v7")).same_as(&Platform::new(
                "linux",
                "arm",
                Some("v6")
            ))
        );
        let mut win = Platform::new("windows", "amd64", None);
        assert!(win.needs_config_details());
        win.os_version = Some("10.0.17763.1234".into());
        assert!(!win.needs_config_details());
        assert!(Platform::new("linux", "arm", None).needs_config_details());
        assert_eq!(
            Platform::new("linux", "arm", Some("v7")).to_string(),
            "linux/arm/v7"
        );
    }
}
