//! hangar's OSV scanner: installed OS packages (dpkg, apk, rpm) read from the image's own package
//! databases through the image filesystem, matched against an OSV database on disk that the
//! user passes (`--db DIR`: osv-scanner's offline layout `<DIR>/<Ecosystem>/all.zip`, or OSV
//! JSON files). Without a database it only lists packages (for SBOMs). Nothing goes to the
//! network.

pub mod cvss;
pub mod osv;
pub mod packages;
pub mod rpm;
pub mod sqlite;
pub mod version;

use hangar_plugin_sdk::scanner::{
    Filesystem, Finding, Guest, Info, InstalledPackage, Platform, Report, read_file,
};
use hangar_plugin_sdk::{files, log};
use packages::{OsRelease, Package};
use std::cmp::Ordering;

struct OsvScanner;

/// A version order (dpkg's or apk's).
type Order = fn(&str, &str) -> Ordering;

/// The packages of whichever package database the image has: the packages, their version
/// order, and their purl type.
fn installed(fs: &Filesystem) -> (Vec<Package>, Option<Order>, &'static str) {
    if let Some(status) = read_file(fs, "/var/lib/dpkg/status") {
        let mut found = packages::dpkg(&String::from_utf8_lossy(&status));
        // Distroless images keep one file per package in status.d.
        if let Ok(entries) = fs.list("/var/lib/dpkg/status.d") {
            for entry in entries {
                if let Some(text) = read_file(fs, &entry.path) {
                    found.extend(packages::dpkg(&String::from_utf8_lossy(&text)));
                }
            }
        }
        return (found, Some(version::dpkg), "deb");
    }
    if let Ok(entries) = fs.list("/var/lib/dpkg/status.d") {
        let mut found = Vec::new();
        for entry in entries {
            if let Some(text) = read_file(fs, &entry.path) {
                found.extend(packages::dpkg(&String::from_utf8_lossy(&text)));
            }
        }
        return (found, Some(version::dpkg), "deb");
    }
    if let Some(db) = read_file(fs, "/lib/apk/db/installed") {
        return (
            packages::apk(&String::from_utf8_lossy(&db)),
            Some(version::apk),
            "apk",
        );
    }
    for path in [
        "/var/lib/rpm/rpmdb.sqlite",
        "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    ] {
        let Some(db) = read_file(fs, path) else {
            continue;
        };
        if read_file(fs, &format!("{path}-wal")).is_some_and(|wal| !wal.is_empty()) {
            log::warn(&format!(
                "{path}-wal is not empty: packages still in the write-ahead log are not listed"
            ));
        }
        return match rpm::sqlite(&db) {
            Ok((found, unreadable)) => {
                if unreadable > 0 {
                    log::warn(&format!("{path}: {unreadable} package headers unreadable"));
                }
                (found, Some(version::rpm), "rpm")
            }
            Err(e) => {
                log::warn(&format!("{path}: {e}"));
                (Vec::new(), None, "")
            }
        };
    }
    for (path, what) in [
        (
            "/var/lib/rpm/Packages",
            "rpm's BerkeleyDB database (RHEL/CentOS 7 and 8)",
        ),
        (
            "/usr/lib/sysimage/rpm/Packages.db",
            "rpm's ndb database (SUSE)",
        ),
        ("/var/lib/rpm/Packages.db", "rpm's ndb database (SUSE)"),
    ] {
        if read_file(fs, path).is_some() {
            log::warn(&format!(
                "{path}: {what} is not read; its packages are not listed"
            ));
            break;
        }
    }
    (Vec::new(), None, "")
}

/// The name advisories use for a package: Debian and Alpine advisories name the source
/// package (origin), rpm distributions' advisories the binary package.
fn advisory_name<'p>(kind: &str, package: &'p Package) -> &'p str {
    if kind == "rpm" {
        &package.name
    } else {
        &package.source
    }
}

/// `pkg:deb/debian/bash@5.2.15-2?arch=amd64&distro=debian-12` (the purl spec's encoding of
/// the version: `+` and `:` escaped).
fn purl(kind: &str, os: &OsRelease, package: &Package) -> Option<String> {
    if kind.is_empty() || os.id.is_empty() {
        return None;
    }
    let escape = |s: &str| {
        s.replace('%', "%25")
            .replace('+', "%2B")
            .replace(':', "%3A")
    };
    // The purl spec keeps an rpm epoch in a qualifier, out of the version.
    let (epoch, version) = match package.version.split_once(':') {
        Some((epoch, version)) if kind == "rpm" => (Some(epoch), version),
        _ => (None, package.version.as_str()),
    };
    // The purl namespace is the vendor: Red Hat's os-release id (`rhel`) is not its name.
    let namespace = match (kind, os.id.as_str()) {
        ("rpm", "rhel") => "redhat",
        (_, id) => id,
    };
    let mut purl = format!(
        "pkg:{kind}/{namespace}/{}@{}",
        escape(&package.name),
        escape(version)
    );
    let mut qualifiers = Vec::new();
    if let Some(arch) = &package.architecture {
        qualifiers.push(format!("arch={arch}"));
    }
    if let Some(epoch) = epoch {
        qualifiers.push(format!("epoch={epoch}"));
    }
    if !os.version_id.is_empty() {
        qualifiers.push(format!("distro={}-{}", os.id, os.version_id));
    }
    if !qualifiers.is_empty() {
        // The spec's canonical form sorts qualifiers by key.
        qualifiers.sort();
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    Some(purl)
}

/// Reads the OSV database under `dir` for `ecosystem`: `all.zip` files first, then JSON files.
fn load(db: &mut osv::Database, dir: &str, ecosystem: &str) -> Result<(), String> {
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    let mut places = vec![dir.to_string()];
    for candidate in [format!("{dir}/{base}"), format!("{dir}/osv-scanner/{base}")] {
        if files::list(&candidate).is_ok() {
            places.push(candidate);
        }
    }
    for place in places {
        for name in files::list(&place)? {
            let path = format!("{place}/{name}");
            if name == "all.zip" {
                db.add_zip(&files::read(&path)?)
                    .map_err(|e| format!("{path}: {e}"))?;
            } else if name.ends_with(".json") {
                db.add_json(&files::read(&path)?)
                    .map_err(|e| format!("{path}: {e}"))?;
            }
        }
    }
    Ok(())
}

impl Guest for OsvScanner {
    fn describe() -> Info {
        Info {
            name: "osv-scanner".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            hosts: Vec::new(),
        }
    }

    fn scan(
        image: String,
        _platform: Platform,
        fs: &Filesystem,
        options: Vec<(String, String)>,
    ) -> Result<Report, String> {
        let os = read_file(fs, "/etc/os-release")
            .or_else(|| read_file(fs, "/usr/lib/os-release"))
            .map(|b| packages::os_release(&String::from_utf8_lossy(&b)))
            .unwrap_or_default();
        let ecosystem = os.ecosystem();
        let (found, order, kind) = installed(fs);
        let ecosystem_name = ecosystem.clone().unwrap_or_default();
        let mut findings = Vec::new();
        if let (Some(dir), Some(ecosystem), Some(order)) = (
            options
                .iter()
                .find(|(k, _)| k == "db")
                .map(|(_, v)| v.as_str()),
            &ecosystem,
            order,
        ) {
            let mut db = osv::Database::for_packages(
                found
                    .iter()
                    .map(|p| (ecosystem.as_str(), advisory_name(kind, p))),
            );
            load(&mut db, dir, ecosystem)?;
            log::debug(&format!(
                "{image}: {} advisories read, {} about its packages",
                db.read,
                db.len()
            ));
            for package in &found {
                for m in db.matches(ecosystem, advisory_name(kind, package), package, order) {
                    findings.push(Finding {
                        id: m.id,
                        aliases: m.aliases,
                        package_name: m.package,
                        installed_version: m.installed,
                        fixed_version: m.fixed,
                        severity: m.severity,
                        summary: m.summary,
                        url: m.url,
                    });
                }
            }
        } else if ecosystem.is_none() && !found.is_empty() {
            log::warn(&format!(
                "{image}: unknown distribution {:?}; packages listed, not matched",
                os.id
            ));
        }
        let packages = found
            .iter()
            .map(|p| InstalledPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                ecosystem: ecosystem_name.clone(),
                source: Some(p.source.clone()).filter(|s| *s != p.name),
                architecture: p.architecture.clone(),
                purl: purl(kind, &os, p),
                licenses: p.licenses.clone(),
            })
            .collect();
        Ok(Report {
            os: Some(os.label()).filter(|l| !l.is_empty()),
            packages,
            findings,
        })
    }
}

hangar_plugin_sdk::export_scanner!(OsvScanner);

#[cfg(test)]
mod purl_tests {
    use super::*;

    #[test]
    fn purls_name_the_vendor_and_sort_qualifiers() {
        let os = OsRelease {
            id: "rhel".into(),
            version_id: "9.4".into(),
            pretty_name: String::new(),
        };
        let package = Package {
            name: "openssl-libs".into(),
            version: "1:3.0.7-27.el9".into(),
            source: "openssl".into(),
            source_version: None,
            architecture: Some("x86_64".into()),
            licenses: Vec::new(),
        };
        assert_eq!(
            purl("rpm", &os, &package).as_deref(),
            Some("pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1")
        );
        let debian = OsRelease {
            id: "debian".into(),
            version_id: "12".into(),
            pretty_name: String::new(),
        };
        let bash = Package {
            name: "bash".into(),
            version: "5.2.15-2+b2".into(),
            architecture: Some("amd64".into()),
            ..package
        };
        assert_eq!(
            purl("deb", &debian, &bash).as_deref(),
            Some("pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12")
        );
    }
}
