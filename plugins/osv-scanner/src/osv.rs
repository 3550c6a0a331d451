//! Matching installed packages against OSV advisories (https://ossf.github.io/osv-schema/),
//! read from the offline layout osv-scanner uses (`<dir>/<Ecosystem>/all.zip`, one advisory
//! per JSON file) or from JSON files in a directory. Only the advisories about the packages
//! of the image are kept.

use crate::packages::Package;
use serde::Deserialize;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub details: String,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub severity: Vec<Severity>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Affected {
    pub package: AffectedPackage,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct AffectedPackage {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
pub struct Event {
    pub introduced: Option<String>,
    pub fixed: Option<String>,
    pub last_affected: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Severity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Deserialize)]
pub struct Reference {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub url: String,
}

/// What matched: the advisory, the package, and the version that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub id: String,
    pub aliases: Vec<String>,
    pub package: String,
    pub installed: String,
    pub fixed: Option<String>,
    pub severity: String,
    pub summary: String,
    pub url: Option<String>,
}

/// `Debian:12` → `Debian`.
fn base(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem)
}

/// Advisories about the packages being scanned, by (ecosystem base, package name).
#[derive(Default)]
pub struct Database {
    advisories: Vec<Advisory>,
    by_package: HashMap<(String, String), Vec<usize>>,
    /// (ecosystem base, name) pairs worth keeping.
    wanted: HashSet<(String, String)>,
    pub read: usize,
}

impl Database {
    /// A database that keeps advisories about these `(ecosystem, source name)` pairs only.
    pub fn for_packages<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Database {
        Database {
            wanted: pairs
                .into_iter()
                .map(|(e, n)| (base(e).to_string(), n.to_string()))
                .collect(),
            ..Database::default()
        }
    }

    /// Adds one advisory (OSV JSON); ignores it when it is about none of the packages.
    pub fn add_json(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.read += 1;
        let advisory: Advisory = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let keys: Vec<(String, String)> = advisory
            .affected
            .iter()
            .map(|a| {
                (
                    base(&a.package.ecosystem).to_string(),
                    a.package.name.clone(),
                )
            })
            .filter(|k| self.wanted.contains(k))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let index = self.advisories.len();
        self.advisories.push(advisory);
        for key in keys {
            let list = self.by_package.entry(key).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
        Ok(())
    }

    /// Adds every advisory of an osv-scanner `all.zip`.
    pub fn add_zip(&mut self, bytes: &[u8]) -> Result<usize, String> {
        let mut archive =
            zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
        let mut added = 0;
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
            let name = file.name().map_err(|e| e.to_string())?.into_owned();
            if !name.ends_with(".json") {
                continue;
            }
            let mut json = Vec::with_capacity(file.size() as usize);
            std::io::Read::read_to_end(&mut file, &mut json).map_err(|e| e.to_string())?;
            self.add_json(&json).map_err(|e| format!("{name}: {e}"))?;
            added += 1;
        }
        Ok(added)
    }

    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// The advisories that affect `package` (of `ecosystem`, e.g. `Debian:12`), which
    /// advisories call `name` (its source package on Debian and Alpine), with `cmp` the
    /// ecosystem's version order.
    pub fn matches(
        &self,
        ecosystem: &str,
        name: &str,
        package: &Package,
        cmp: fn(&str, &str) -> Ordering,
    ) -> Vec<Match> {
        let key = (base(ecosystem).to_string(), name.to_string());
        let mut found = Vec::new();
        for &index in self.by_package.get(&key).into_iter().flatten() {
            let advisory = &self.advisories[index];
            for affected in &advisory.affected {
                // `Debian:12` advisories apply to Debian 12 and a bare `Debian` to every
                // release; Ubuntu qualifies its releases (`Ubuntu:22.04:LTS`).
                let scoped = affected.package.ecosystem.as_str();
                let same_release = scoped == ecosystem
                    || scoped == base(ecosystem)
                    || scoped
                        .strip_prefix(ecosystem)
                        .is_some_and(|rest| rest.starts_with(':'));
                if affected.package.name != name || !same_release {
                    continue;
                }
                // Advisories give source versions; a binary package can be versioned apart.
                let compared = package
                    .source_version
                    .as_deref()
                    .unwrap_or(&package.version);
                if let Some(fixed) = affects(affected, compared, cmp) {
                    found.push(Match {
                        id: advisory.id.clone(),
                        aliases: advisory.aliases.clone(),
                        package: package.name.clone(),
                        installed: package.version.clone(),
                        fixed,
                        severity: severity(advisory, affected),
                        summary: if advisory.summary.is_empty() {
                            advisory
                                .details
                                .lines()
                                .find(|l| !l.trim().is_empty())
                                .unwrap_or_default()
                                .trim()
                                .to_string()
                        } else {
                            advisory.summary.clone()
                        },
                        url: advisory
                            .references
                            .iter()
                            .find(|r| r.kind == "ADVISORY")
                            .or_else(|| advisory.references.first())
                            .map(|r| r.url.clone()),
                    });
                    break;
                }
            }
        }
        found
    }
}

/// Whether `version` is affected; `Some(fixed version, if any)` when it is.
fn affects(
    affected: &Affected,
    version: &str,
    cmp: fn(&str, &str) -> Ordering,
) -> Option<Option<String>> {
    if affected
        .versions
        .iter()
        .any(|v| cmp(v, version) == Ordering::Equal)
    {
        return Some(first_fix(affected));
    }
    for range in affected.ranges.iter().filter(|r| r.kind == "ECOSYSTEM") {
        let mut hit = false;
        let mut fix = None;
        for event in &range.events {
            if let Some(introduced) = &event.introduced
                && (introduced == "0" || cmp(version, introduced) != Ordering::Less)
            {
                hit = true;
                fix = None;
            }
            if let Some(fixed) = &event.fixed {
                if hit && cmp(version, fixed) != Ordering::Less {
                    hit = false;
                } else if hit && fix.is_none() {
                    fix = Some(fixed.clone());
                }
            }
            if let Some(last) = &event.last_affected
                && hit
                && cmp(version, last) == Ordering::Greater
            {
                hit = false;
            }
        }
        if hit {
            return Some(fix);
        }
    }
    None
}

fn first_fix(affected: &Affected) -> Option<String> {
    affected
        .ranges
        .iter()
        .flat_map(|r| r.events.iter())
        .find_map(|e| e.fixed.clone())
}

/// The advisory's severity: the distribution's own rating when it gives one (Debian
/// urgency, `database_specific.severity`), else the CVSS v3 base score's rating.
fn severity(advisory: &Advisory, affected: &Affected) -> String {
    let named = |v: &Option<Value>, key: &str| {
        v.as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
    };
    let rated = named(&affected.ecosystem_specific, "severity")
        .or_else(|| named(&affected.database_specific, "severity"))
        .or_else(|| named(&advisory.database_specific, "severity"))
        .or_else(|| {
            named(&affected.ecosystem_specific, "urgency").map(|u| match u.trim_end_matches('*') {
                "HIGH" => "HIGH".to_string(),
                "MEDIUM" => "MEDIUM".to_string(),
                "LOW" | "UNIMPORTANT" => "LOW".to_string(),
                _ => "UNKNOWN".to_string(),
            })
        });
    if let Some(rated) = rated
        && ["CRITICAL", "HIGH", "MEDIUM", "MODERATE", "LOW"].contains(&rated.as_str())
    {
        return if rated == "MODERATE" {
            "MEDIUM".into()
        } else {
            rated
        };
    }
    advisory
        .severity
        .iter()
        .filter(|s| s.kind.starts_with("CVSS_V3"))
        .find_map(|s| crate::cvss::base_score(&s.score))
        .map(crate::cvss::rating)
        .unwrap_or("UNKNOWN")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version;

    fn pkg(name: &str, source: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            source: source.into(),
            source_version: None,
            architecture: None,
            licenses: Vec::new(),
        }
    }

    #[test]
    fn ranges_decide_what_is_affected() {
        let advisory = br#"{"id":"DSA-9999-1","aliases":["CVE-2024-1"],"summary":"expat - security update",
            "affected":[{"package":{"ecosystem":"Debian:12","name":"expat"},
              "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.5.0-1+deb12u1"}]}]}],
            "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
            "references":[{"type":"ADVISORY","url":"https://www.debian.org/security/dsa-9999"}]}"#;
        let mut db = Database::for_packages([("Debian:12", "expat"), ("Debian:12", "bash")]);
        db.add_json(advisory).unwrap();
        db.add_json(
            br#"{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"}}]}"#,
        )
        .unwrap();
        assert_eq!(db.len(), 1, "advisories about other packages are not kept");
        let old = db.matches(
            "Debian:12",
            "expat",
            &pkg("libexpat1", "expat", "2.5.0-1"),
            version::dpkg,
        );
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].fixed.as_deref(), Some("2.5.0-1+deb12u1"));
        assert_eq!(old[0].severity, "CRITICAL");
        assert_eq!(old[0].package, "libexpat1");
        assert!(
            db.matches(
                "Debian:12",
                "expat",
                &pkg("libexpat1", "expat", "2.5.0-1+deb12u1"),
                version::dpkg
            )
            .is_empty()
        );
        assert!(
            db.matches(
                "Debian:11",
                "expat",
                &pkg("libexpat1", "expat", "2.2.10-2"),
                version::dpkg
            )
            .is_empty()
        );
    }

    /// A real Debian advisory from osv.dev (shared fixtures; skipped when absent).
    #[test]
    fn a_real_debian_advisory_matches() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/osv/DSA-3029-1.json");
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipped: {} is absent", path.display());
            return;
        };
        let mut db = Database::for_packages([("Debian:7", "nginx")]);
        db.add_json(&bytes).unwrap();
        let hit = db.matches(
            "Debian:7",
            "nginx",
            &pkg("nginx-light", "nginx", "1.2.1-2.2+wheezy2"),
            version::dpkg,
        );
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].id, "DSA-3029-1");
        assert_eq!(hit[0].aliases, ["CVE-2014-3616"]);
        assert_eq!(
            hit[0].url.as_deref(),
            Some("https://www.debian.org/security/2014/dsa-3029")
        );
        assert!(
            db.matches(
                "Debian:7",
                "nginx",
                &pkg("nginx", "nginx", "1.2.1-2.2+wheezy3"),
                version::dpkg
            )
            .is_empty()
        );
        // An advisory with an empty `affected` list matches nothing and breaks nothing.
        let dla = std::fs::read(path.with_file_name("DLA-3623-1.json")).unwrap();
        db.add_json(&dla).unwrap();
        assert_eq!(db.len(), 1);
    }
}
