//! hangar's SBOM generator: one SPDX 2.3 or CycloneDX 1.5 JSON document per scanned image
//! platform, from the packages (and findings) a scanner reported. Documents are
//! deterministic for the same report and time: ids and namespaces are derived from the
//! image digest and the scan time, never random.

mod licenses;

use hangar_plugin_sdk::sbom::{Guest, InstalledPackage, Report, Subject};
use licenses::Spdx;
use serde_json::{Value, json};

struct Sbom;

const SPDX: &str = "spdx-json";
const CYCLONEDX: &str = "cyclonedx";

// `describe`: this crate's name and version (the SDK's default).
impl Guest for Sbom {
    fn formats() -> Vec<String> {
        vec![SPDX.into(), CYCLONEDX.into()]
    }

    fn generate(
        format: String,
        subject: Subject,
        report: Report,
        created: String,
    ) -> Result<String, String> {
        let document = match format.as_str() {
            SPDX => spdx(&subject, &report, &created),
            CYCLONEDX => cyclonedx(&subject, &report, &created),
            other => return Err(format!("no format {other:?} (spdx-json, cyclonedx)")),
        };
        serde_json::to_string_pretty(&document).map_err(|e| e.to_string())
    }
}

hangar_plugin_sdk::export_sbom!(Sbom);

/// A deterministic UUID-shaped id (version 4 layout) from text.
fn uuid_of(text: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let h: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A package's declared licenses as one SPDX expression (NOASSERTION when there are none),
/// adding the LicenseRefs it needs to `references` (id → original words).
fn license_expression(
    package: &InstalledPackage,
    references: &mut std::collections::BTreeMap<String, String>,
) -> String {
    let declared: Vec<&String> = package
        .licenses
        .iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let several = declared.len() > 1;
    let parts: Vec<String> = declared
        .iter()
        .map(|license| match licenses::classify(license) {
            Spdx::Expression(e) if several && e.contains(' ') => {
                format!("({e})")
            }
            Spdx::Expression(e) => e,
            Spdx::Reference { id, text } => reference_id(references, id, text),
        })
        .collect();
    if parts.is_empty() {
        "NOASSERTION".to_string()
    } else {
        parts.join(" AND ")
    }
}

/// The LicenseRef for `text`: `id`, or `id-2`, `id-3`... when different words already took
/// `id` ("ASL 2.0" and "ASL-2.0" spell the same id).
fn reference_id(
    references: &mut std::collections::BTreeMap<String, String>,
    id: String,
    text: String,
) -> String {
    let mut candidate = id.clone();
    let mut n = 1;
    while let Some(taken) = references.get(&candidate) {
        if *taken == text {
            return candidate;
        }
        n += 1;
        candidate = format!("{id}-{n}");
    }
    references.insert(candidate.clone(), text);
    candidate
}

/// SPDX element ids allow letters, digits, `.` and `-` only.
fn spdx_id(index: usize, package: &InstalledPackage) -> String {
    let name: String = package
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-Package-{index}-{name}")
}

/// SPDX 2.3: the image as the described package, each installed package contained in it.
pub fn spdx(subject: &Subject, report: &Report, created: &str) -> Value {
    let name = format!("{}@{}", subject.image, subject.digest);
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": subject.image,
        "versionInfo": subject.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    let mut references = std::collections::BTreeMap::new();
    for (i, p) in report.packages.iter().enumerate() {
        let id = spdx_id(i, p);
        let mut package = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license_expression(p, &mut references),
            "supplier": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
        });
        if let Some(purl) = &p.purl {
            package["externalRefs"] = json!([{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }]);
        }
        if let Some(source) = &p.source {
            package["sourceInfo"] = json!(format!("built package from: {source}"));
        }
        packages.push(package);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let mut creators = vec!["Organization: NOASSERTION".to_string()];
    creators.extend(subject.tools.iter().map(|t| format!("Tool: {t}")));
    let extracted: Vec<Value> = references
        .into_iter()
        .map(|(id, text)| json!({"licenseId": id, "extractedText": text, "name": text}))
        .collect();
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://hangar.dev/spdx/{}", uuid_of(&format!("{name}{created}"))),
        "creationInfo": {"created": created, "creators": creators},
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        document["hasExtractedLicensingInfos"] = json!(extracted);
    }
    document
}

/// CycloneDX 1.5: the image as the metadata component, packages as library components,
/// findings as vulnerabilities affecting them.
pub fn cyclonedx(subject: &Subject, report: &Report, created: &str) -> Value {
    let bom_ref = |i: usize| format!("pkg-{i}");
    let components: Vec<Value> = report
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = json!({"type": "library", "bom-ref": bom_ref(i), "name": p.name, "version": p.version});
            if let Some(purl) = &p.purl {
                c["purl"] = json!(purl);
            }
            // CycloneDX takes one SPDX expression, or a list of licenses (by name here: ids
            // must come from its enumeration), never both.
            let declared: Vec<&String> =
                p.licenses.iter().filter(|l| !l.trim().is_empty()).collect();
            let licenses: Vec<Value> = match declared.as_slice() {
                [one] => match licenses::classify(one) {
                    Spdx::Expression(e) => vec![json!({"expression": e})],
                    Spdx::Reference { text, .. } => vec![json!({"license": {"name": text}})],
                },
                many => many
                    .iter()
                    .map(|l| json!({"license": {"name": l}}))
                    .collect(),
            };
            if !licenses.is_empty() {
                c["licenses"] = json!(licenses);
            }
            c
        })
        .collect();
    let vulnerabilities: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let affects: Vec<Value> = report
                .packages
                .iter()
                .enumerate()
                .filter(|(_, p)| p.name == f.package_name)
                .map(|(i, _)| json!({"ref": bom_ref(i)}))
                .collect();
            let mut v = json!({
                "id": f.id,
                "description": f.summary,
                "ratings": [{"severity": cyclonedx_severity(&f.severity)}],
                "affects": affects,
            });
            if !f.aliases.is_empty() {
                v["references"] = json!(
                    f.aliases
                        .iter()
                        .map(|a| json!({"id": a, "source": {"name": source_of(a)}}))
                        .collect::<Vec<_>>()
                );
            }
            if let Some(url) = &f.url {
                v["source"] = json!({"url": url});
            }
            if let Some(fixed) = &f.fixed_version {
                v["recommendation"] = json!(format!("Upgrade {} to {fixed}", f.package_name));
            }
            v
        })
        .collect();
    let tools: Vec<Value> = subject
        .tools
        .iter()
        .map(|t| {
            let (name, version) = t.rsplit_once('-').unwrap_or((t, ""));
            json!({"type": "application", "name": name, "version": version})
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_of(&format!("{}{}{created}", subject.image, subject.digest))),
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {"components": tools},
            "component": {"type": "container", "bom-ref": "image", "name": subject.image, "version": subject.digest},
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

/// CycloneDX ratings use lowercase severities and `unknown`.
fn cyclonedx_severity(severity: &str) -> String {
    match severity.to_ascii_lowercase().as_str() {
        s @ ("critical" | "high" | "medium" | "low" | "info" | "none") => s.to_string(),
        _ => "unknown".to_string(),
    }
}

/// The database an advisory id comes from, by its prefix.
fn source_of(id: &str) -> &'static str {
    match id.split('-').next().unwrap_or_default() {
        "CVE" => "NVD",
        "GHSA" => "GitHub",
        "DSA" | "DLA" | "DEBIAN" => "Debian",
        "ALPINE" => "Alpine",
        "USN" | "UBUNTU" => "Ubuntu",
        _ => "OSV",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_plugin_sdk::sbom::{Finding, Platform};

    fn sample() -> (Subject, Report) {
        let subject = Subject {
            image: "127.0.0.1:5000/library/app:1".into(),
            digest: "sha256:0123".into(),
            platform: Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            },
            tools: vec!["hangar-1.0.0".into(), "osv-scanner-0.1.0".into()],
        };
        let package = |name: &str, version: &str| InstalledPackage {
            name: name.into(),
            version: version.into(),
            ecosystem: "Debian:12".into(),
            source: Some(format!("{name}-src")),
            architecture: Some("amd64".into()),
            purl: Some(format!("pkg:deb/debian/{name}@{version}")),
            licenses: vec!["GPL-2.0-only".into()],
        };
        let report = Report {
            os: Some("debian 12".into()),
            packages: vec![package("libc6", "2.36-9"), package("g++", "4:12.2.0-3")],
            findings: vec![Finding {
                id: "DSA-5514-1".into(),
                aliases: vec!["CVE-2023-4911".into()],
                package_name: "libc6".into(),
                installed_version: "2.36-9".into(),
                fixed_version: Some("2.36-9+deb12u3".into()),
                severity: "HIGH".into(),
                summary: "glibc security update".into(),
                url: None,
            }],
        };
        (subject, report)
    }

    #[test]
    fn spdx_names_every_package_with_a_valid_id() {
        let (subject, report) = sample();
        let doc = spdx(&subject, &report, "2026-11-23T19:18:56Z");
        let packages = doc["packages"].as_array().unwrap();
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[2]["SPDXID"], "SPDXRef-Package-1-g--");
        assert_eq!(packages[2]["versionInfo"], "4:12.2.0-3");
        assert_eq!(
            doc["creationInfo"]["creators"][1], "Tool: hangar-1.0.0",
            "{doc}"
        );
        assert_eq!(doc["relationships"].as_array().unwrap().len(), 3);
        // Same report and time: the same document.
        assert_eq!(doc, spdx(&subject, &report, "2026-11-23T19:18:56Z"));
    }

    #[test]
    fn cyclonedx_links_findings_to_their_components() {
        let (subject, report) = sample();
        let doc = cyclonedx(&subject, &report, "2026-11-23T19:18:56Z");
        let v = &doc["vulnerabilities"][0];
        assert_eq!(v["affects"], json!([{"ref": "pkg-0"}]));
        assert_eq!(v["ratings"][0]["severity"], "high");
        assert_eq!(v["references"][0]["source"]["name"], "NVD");
        assert_eq!(
            doc["metadata"]["tools"]["components"][1]["name"],
            "osv-scanner"
        );
        assert_eq!(
            doc["components"][1]["purl"],
            "pkg:deb/debian/g++@4:12.2.0-3"
        );
    }

    #[test]
    fn license_words_keep_distinct_references_and_empty_ones_are_dropped() {
        let (subject, mut report) = sample();
        let words = [
            vec!["GPLv2".to_string()],
            vec!["GPLv2+".to_string()],
            vec!["ASL 2.0".to_string()],
            vec!["ASL-2.0".to_string()],
            vec!["".to_string(), "MIT".to_string()],
            vec![" ".to_string()],
        ];
        report.packages.truncate(1);
        let template = report.packages[0].clone();
        report.packages = words
            .iter()
            .enumerate()
            .map(|(i, licenses)| InstalledPackage {
                name: format!("p{i}"),
                licenses: licenses.clone(),
                ..template.clone()
            })
            .collect();
        let doc = spdx(&subject, &report, "2026-01-01T00:00:00Z");
        let declared: Vec<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .map(|p| p["licenseDeclared"].as_str().unwrap())
            .collect();
        assert_eq!(
            declared,
            [
                "LicenseRef-GPLv2",
                "LicenseRef-GPLv2-plus",
                "LicenseRef-ASL-2.0",
                "LicenseRef-ASL-2.0-2",
                "MIT",
                "NOASSERTION"
            ]
        );
        let extracted: Vec<(&str, &str)> = doc["hasExtractedLicensingInfos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["licenseId"].as_str().unwrap(),
                    e["extractedText"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            extracted,
            [
                ("LicenseRef-ASL-2.0", "ASL 2.0"),
                ("LicenseRef-ASL-2.0-2", "ASL-2.0"),
                ("LicenseRef-GPLv2", "GPLv2"),
                ("LicenseRef-GPLv2-plus", "GPLv2+"),
            ]
        );
        let bom = cyclonedx(&subject, &report, "2026-01-01T00:00:00Z");
        assert_eq!(
            bom["components"][4]["licenses"],
            serde_json::json!([{"expression": "MIT"}])
        );
        assert!(bom["components"][5].get("licenses").is_none());
    }

    #[test]
    fn unknown_formats_are_refused() {
        let (subject, report) = sample();
        let err = Sbom::generate("xml".into(), subject, report, String::new()).unwrap_err();
        assert!(err.contains("spdx-json, cyclonedx"), "{err}");
    }
}
