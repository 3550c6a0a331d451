//! A scanner for the host's tests of the image-fs resource: it reads `/etc/os-release`
//! (usually a symlink) and reports one "package" per file in `/usr/bin`, with the file's first
//! bytes as its version, and a finding when `/etc/shadow` is readable.

use hangar_plugin_sdk::scanner::{
    Filesystem, Finding, Guest, Info, InstalledPackage, Kind, Platform, Report, read_file,
};

struct Census;

impl Guest for Census {
    fn describe() -> Info {
        Info {
            name: "census".into(),
            version: "0.1.0".into(),
            hosts: Vec::new(),
        }
    }

    fn scan(
        _image: String,
        _platform: Platform,
        fs: &Filesystem,
        _options: Vec<(String, String)>,
    ) -> Result<Report, String> {
        let os_release = read_file(fs, "/etc/os-release").ok_or("no /etc/os-release")?;
        let os_release = String::from_utf8_lossy(&os_release);
        let id = os_release
            .lines()
            .find_map(|l| l.strip_prefix("ID="))
            .unwrap_or("unknown")
            .trim_matches('"')
            .to_string();
        let mut packages = Vec::new();
        for entry in fs.list("/usr/bin")? {
            if entry.kind != Kind::File {
                continue;
            }
            let head = fs.read(&entry.path, 0, 8)?;
            packages.push(InstalledPackage {
                name: entry
                    .path
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                version: String::from_utf8_lossy(&head).trim().to_string(),
                ecosystem: id.clone(),
                source: None,
                architecture: None,
                purl: None,
                licenses: Vec::new(),
            });
        }
        let mut findings = Vec::new();
        if read_file(fs, "/etc/shadow").is_some() {
            findings.push(Finding {
                id: "CENSUS-1".into(),
                aliases: Vec::new(),
                package_name: "shadow".into(),
                installed_version: String::new(),
                fixed_version: None,
                severity: "LOW".into(),
                summary: "/etc/shadow is in the image".into(),
                url: None,
            });
        }
        Ok(Report {
            os: Some(id),
            packages,
            findings,
        })
    }
}

hangar_plugin_sdk::export_scanner!(Census);
