//! Installed packages from the package databases in an image: dpkg (`/var/lib/dpkg/status`,
//! and the `status.d/` files distroless images use) and apk (`/lib/apk/db/installed`), with
//! the distribution from `/etc/os-release` (rpm databases: `rpm.rs`).

/// One installed package as the database records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The source package (Debian) or origin (Alpine) advisories name.
    pub source: String,
    /// The source package's version when it differs from the binary's (`Source: x (v)`).
    pub source_version: Option<String>,
    pub architecture: Option<String>,
    pub licenses: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
}

pub fn os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches('"')
            .trim_matches('\'')
            .to_string();
        match key.trim() {
            "ID" => os.id = value,
            "VERSION_ID" => os.version_id = value,
            "PRETTY_NAME" => os.pretty_name = value,
            _ => {}
        }
    }
    os
}

impl OsRelease {
    /// The OSV ecosystem of the distribution's packages: `Debian:12`, `Alpine:v3.19`,
    /// `Ubuntu:22.04`; `None` for a distribution the scanner does not know.
    pub fn ecosystem(&self) -> Option<String> {
        match self.id.as_str() {
            "debian" => Some(match self.version_id.split('.').next() {
                Some(major) if !major.is_empty() => format!("Debian:{major}"),
                _ => "Debian".to_string(),
            }),
            "alpine" => {
                let mut parts = self.version_id.split('.');
                match (parts.next(), parts.next()) {
                    (Some(major), Some(minor)) => Some(format!("Alpine:v{major}.{minor}")),
                    _ => Some("Alpine".to_string()),
                }
            }
            "ubuntu" => Some(format!("Ubuntu:{}", self.version_id)),
            // osv.dev's names; Red Hat qualifies further (`...:9::appstream`), which matches
            // as a sub-release.
            "rhel" => Some(format!("Red Hat:enterprise_linux:{}", self.major())),
            "rocky" => Some(format!("Rocky Linux:{}", self.major())),
            "almalinux" => Some(format!("AlmaLinux:{}", self.major())),
            _ => None,
        }
    }

    fn major(&self) -> &str {
        self.version_id.split('.').next().unwrap_or_default()
    }

    /// `debian 12`, as reports name the OS.
    pub fn label(&self) -> String {
        format!("{} {}", self.id, self.version_id)
            .trim()
            .to_string()
    }
}

/// The installed packages of a dpkg status file (or one `status.d/` file).
pub fn dpkg(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(&str, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                // A continuation line belongs to the field before it.
                if let Some((_, value)) = fields.last_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                fields.push((key.trim(), value.trim().to_string()));
            }
        }
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let (Some(name), Some(version)) = (get("Package"), get("Version")) else {
            continue;
        };
        if name.is_empty() || version.is_empty() {
            continue;
        }
        // A status file lists removed packages too; status.d files have no Status at all.
        if let Some(status) = get("Status")
            && !status.split_whitespace().any(|w| w == "installed")
        {
            continue;
        }
        // `Source: name (version)` when the source version differs.
        let source_field = get("Source").unwrap_or_default();
        let source = source_field
            .split_whitespace()
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(name);
        let source_version = source_field
            .split_once('(')
            .and_then(|(_, v)| v.split(')').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            source: source.to_string(),
            source_version,
            architecture: get("Architecture").map(str::to_string),
            licenses: Vec::new(),
        });
    }
    packages
}

/// The installed packages of an apk database (`P:` name, `V:` version, `o:` origin, `A:`
/// architecture, `L:` license).
pub fn apk(text: &str) -> Vec<Package> {
    let mut packages = Vec::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut origin = None;
        let mut arch = None;
        let mut license = None;
        for line in stanza.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "P" => name = Some(value.trim()),
                "V" => version = Some(value.trim()),
                "o" => origin = Some(value.trim()),
                "A" => arch = Some(value.trim()),
                "L" => license = Some(value.trim()),
                _ => {}
            }
        }
        let (Some(name), Some(version)) = (name, version) else {
            continue;
        };
        packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            source: origin.filter(|o| !o.is_empty()).unwrap_or(name).to_string(),
            source_version: None,
            architecture: arch.map(str::to_string),
            licenses: license
                .filter(|l| !l.is_empty())
                .map(|l| vec![l.to_string()])
                .unwrap_or_default(),
        });
    }
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Option<String> {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/osv")
            .join(path);
        match std::fs::read_to_string(&full) {
            Ok(t) => Some(t),
            Err(_) => {
                eprintln!(
                    "skipped: {} is absent (the shared fixtures are not on this machine)",
                    full.display()
                );
                None
            }
        }
    }

    #[test]
    fn dpkg_status_files() {
        let text = "Package: libexpat1\nStatus: install ok installed\nArchitecture: amd64\nSource: expat\nVersion: 2.5.0-1\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\nSource: bash (5.2.15-2)\nDescription: x\n more\n";
        let packages = dpkg(text);
        assert_eq!(packages.len(), 2);
        assert_eq!(
            (packages[0].name.as_str(), packages[0].source.as_str()),
            ("libexpat1", "expat")
        );
        assert_eq!(
            (packages[1].version.as_str(), packages[1].source.as_str()),
            ("5.2.15-2+b2", "bash")
        );
        // Real status files from osv-scalibr's test data.
        if let Some(valid) = fixture("dpkg-status/dpkg/valid") {
            let found = dpkg(&valid);
            assert_eq!(
                found.len(),
                7,
                "every package of the fixture, all installed"
            );
            assert!(
                found
                    .iter()
                    .any(|p| p.name == "acl" && p.version == "2.3.1-3")
            );
        }
        if let Some(status) = fixture("dpkg-status/dpkg/statusfield") {
            assert!(dpkg(&status).iter().all(|p| !p.name.is_empty()));
        }
        if let Some(noversion) = fixture("dpkg-status/dpkg/noversion") {
            assert!(dpkg(&noversion).iter().all(|p| !p.version.is_empty()));
        }
    }

    #[test]
    fn apk_databases() {
        let Some(installed) = fixture("apk-installed/installed") else {
            return;
        };
        let packages = apk(&installed);
        assert!(packages.len() > 10, "{}", packages.len());
        let base = packages
            .iter()
            .find(|p| p.name == "alpine-baselayout")
            .unwrap();
        assert_eq!(base.version, "3.4.3-r1");
        assert_eq!(base.source, "alpine-baselayout");
        assert_eq!(base.licenses, ["GPL-2.0-only"]);
        if let Some(no_origin) = fixture("apk-installed/no-origin") {
            assert!(apk(&no_origin).iter().all(|p| p.source == p.name));
        }
    }

    #[test]
    fn os_release_gives_the_ecosystem() {
        let debian = os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        );
        assert_eq!(debian.ecosystem().as_deref(), Some("Debian:12"));
        assert_eq!(debian.label(), "debian 12");
        let alpine = os_release("ID=alpine\nVERSION_ID=3.19.1\n");
        assert_eq!(alpine.ecosystem().as_deref(), Some("Alpine:v3.19"));
        assert_eq!(os_release("ID=plan9\n").ecosystem(), None);
    }
}
