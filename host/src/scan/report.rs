//! Scan reports in the formats operators and dashboards read: Hangar's json/yaml/csv and
//! spdx-csv, Trivy's JSON report schema and SARIF 2.1.0. SPDX and CycloneDX documents come
//! from the SBOM plugin (`plugins/sbom` unless the user chose another); this module places
//! them (one per image platform, inside Hangar's JSON report for spdx-json).

use crate::image::platform::Platform;
use serde_json::{Value, json};

/// One scanned image platform.
#[derive(Clone, Debug)]
pub struct Scanned {
    /// The list line's reference (`registry/repo:tag`).
    pub reference: String,
    pub digest: String,
    pub platform: Platform,
    pub report: crate::plugin::scanner::Report,
    pub scanner: String,
    /// The SBOM plugin's document, for the formats that carry one.
    pub document: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Yaml,
    Csv,
    SpdxJson,
    SpdxCsv,
    Cyclonedx,
    Sarif,
    TrivyJson,
}

impl Format {
    /// The SBOM format an SBOM plugin writes for this report format.
    pub fn sbom(self) -> Option<&'static str> {
        match self {
            Format::SpdxJson | Format::SpdxCsv => Some("spdx-json"),
            Format::Cyclonedx => Some("cyclonedx"),
            _ => None,
        }
    }

    /// What replaces `[FORMAT]` in the report file name.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Csv => "csv",
            Format::SpdxJson => "spdx.json",
            Format::SpdxCsv => "spdx.csv",
            Format::Cyclonedx => "cdx.json",
            Format::Sarif => "sarif",
            Format::TrivyJson => "trivy.json",
        }
    }
}

/// CSV field quoting (RFC 4180).
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn platform_json(p: &Platform) -> Value {
    json!({
        "arch": p.architecture,
        "os": p.os,
        "osVersion": p.os_version.clone().unwrap_or_default(),
        "osFeatures": p.os_features,
        "variant": p.variant.clone().unwrap_or_default(),
    })
}

fn vulnerabilities(s: &Scanned) -> Vec<Value> {
    s.report
        .findings
        .iter()
        .map(|f| {
            json!({
                "title": f.summary,
                "id": f.id,
                "severity": f.severity,
                "package": f.package_name,
                "installed": f.installed_version,
                "fixed": f.fixed_version.clone().unwrap_or_default(),
                "url": f.url.clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// Hangar's report: `{time, results: [{reference, images: [...]}]}` (YAML: `result`).
fn hangar(scanned: &[Scanned], time: &str, key: &str, with_spdx: bool) -> Value {
    let mut results: Vec<Value> = Vec::new();
    for s in scanned {
        let mut image = json!({
            "digest": s.digest,
            "platform": platform_json(&s.platform),
            "os": s.report.os,
            "packages": s.report.packages.len(),
            "vulnerabilities": vulnerabilities(s),
        });
        if with_spdx {
            image["spdx"] = s.document.clone().unwrap_or_default();
        }
        match results
            .iter_mut()
            .find(|r| r["reference"] == s.reference.as_str())
        {
            Some(r) => r["images"].as_array_mut().expect("images").push(image),
            None => results.push(json!({"reference": s.reference, "images": [image]})),
        }
    }
    json!({"time": time, key: results})
}

pub fn render(format: Format, scanned: &[Scanned], time: &str) -> Vec<u8> {
    match format {
        Format::Json => pretty(&hangar(scanned, time, "results", false)),
        Format::SpdxJson => pretty(&hangar(scanned, time, "results", true)),
        Format::Yaml => serde_yaml::to_string(&hangar(scanned, time, "result", false))
            .expect("yaml")
            .into_bytes(),
        Format::Csv => {
            let mut out =
                String::from("image,arch,os,package,title,id,severity,installed,fixed,url\n");
            for s in scanned {
                for f in &s.report.findings {
                    let row = [
                        s.reference.as_str(),
                        &s.platform.architecture,
                        &s.platform.os,
                        &f.package_name,
                        &f.summary,
                        &f.id,
                        &f.severity,
                        &f.installed_version,
                        f.fixed_version.as_deref().unwrap_or_default(),
                        f.url.as_deref().unwrap_or_default(),
                    ];
                    out.push_str(&row.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","));
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
        Format::SpdxCsv => {
            // The rows of the SPDX document the SBOM plugin wrote, so the CSV and the
            // document agree on ids and licenses.
            let mut out = String::from(
                "image,arch,os,package,license,versionInfo,supplier,originator,SPDXID\n",
            );
            for s in scanned {
                let Some(document) = &s.document else {
                    continue;
                };
                // The image itself (what the document describes) is not one of its packages.
                let mut described: Vec<&Value> = document["documentDescribes"]
                    .as_array()
                    .map(|d| d.iter().collect())
                    .unwrap_or_default();
                described.extend(
                    document["relationships"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["relationshipType"] == "DESCRIBES")
                        .map(|r| &r["relatedSpdxElement"]),
                );
                let packages = document["packages"].as_array().cloned().unwrap_or_default();
                for p in packages
                    .iter()
                    .filter(|p| !described.contains(&&p["SPDXID"]))
                {
                    let field = |key: &str| p[key].as_str().unwrap_or("NOASSERTION").to_string();
                    let row = [
                        s.reference.clone(),
                        s.platform.architecture.clone(),
                        s.platform.os.clone(),
                        field("name"),
                        field("licenseDeclared"),
                        p["versionInfo"].as_str().unwrap_or_default().to_string(),
                        field("supplier"),
                        field("originator"),
                        field("SPDXID"),
                    ];
                    out.push_str(&row.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","));
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
        Format::Cyclonedx => {
            let boms: Vec<Value> = scanned
                .iter()
                .map(|s| s.document.clone().unwrap_or_default())
                .collect();
            pretty(&one_or_many(boms))
        }
        Format::TrivyJson => {
            let reports: Vec<Value> = scanned.iter().map(|s| trivy(s, time)).collect();
            pretty(&one_or_many(reports))
        }
        Format::Sarif => pretty(&sarif(scanned)),
    }
}

/// One document for one image platform (what single-image tools expect), an array for more.
fn one_or_many(mut documents: Vec<Value>) -> Value {
    if documents.len() == 1 {
        documents.remove(0)
    } else {
        Value::Array(documents)
    }
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("json");
    out.push(b'\n');
    out
}

/// Trivy's JSON report (`SchemaVersion` 2), so dashboards that read Trivy read this.
fn trivy(s: &Scanned, time: &str) -> Value {
    let os = s.report.os.clone().unwrap_or_default();
    let (family, name) = os.split_once(' ').unwrap_or((os.as_str(), ""));
    let vulnerabilities: Vec<Value> = s
        .report
        .findings
        .iter()
        .map(|f| {
            let purl = s
                .report
                .packages
                .iter()
                .find(|p| p.name == f.package_name)
                .and_then(|p| p.purl.clone());
            let mut v = json!({
                "VulnerabilityID": f.aliases.iter().find(|a| a.starts_with("CVE-")).cloned().unwrap_or_else(|| f.id.clone()),
                "VendorIDs": [f.id],
                "PkgID": format!("{}@{}", f.package_name, f.installed_version),
                "PkgName": f.package_name,
                "InstalledVersion": f.installed_version,
                "Status": if f.fixed_version.is_some() { "fixed" } else { "affected" },
                "SeveritySource": s.scanner,
                "Title": f.summary,
                "Severity": f.severity,
            });
            if let Some(purl) = purl {
                v["PkgIdentifier"] = json!({"PURL": purl});
            }
            if let Some(fixed) = &f.fixed_version {
                v["FixedVersion"] = json!(fixed);
            }
            if let Some(url) = &f.url {
                v["PrimaryURL"] = json!(url);
                v["References"] = json!([url]);
            }
            v
        })
        .collect();
    let mut result = json!({
        "Target": format!("{} ({os})", s.reference),
        "Class": "os-pkgs",
        "Type": family,
    });
    if !vulnerabilities.is_empty() {
        result["Vulnerabilities"] = json!(vulnerabilities);
    }
    json!({
        "SchemaVersion": 2,
        "CreatedAt": time,
        "ArtifactName": s.reference,
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": family, "Name": name},
            "RepoDigests": [format!("{}@{}", s.reference.rsplit_once(':').map(|(r, _)| r).unwrap_or(&s.reference), s.digest)],
            "ImageConfig": {"architecture": s.platform.architecture, "os": s.platform.os},
        },
        "Results": [result],
    })
}

/// SARIF 2.1.0: one run, a rule per advisory, a result per affected package and image.
fn sarif(scanned: &[Scanned]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    for s in scanned {
        for f in &s.report.findings {
            if !rules.iter().any(|r| r["id"] == f.id.as_str()) {
                let mut rule = json!({
                    "id": f.id,
                    "shortDescription": {"text": f.summary},
                    "properties": {"security-severity": severity_score(&f.severity), "tags": ["vulnerability", f.severity.to_ascii_lowercase()]},
                });
                if let Some(url) = &f.url {
                    rule["helpUri"] = json!(url);
                }
                rules.push(rule);
            }
            let level = match f.severity.as_str() {
                "CRITICAL" | "HIGH" => "error",
                "MEDIUM" => "warning",
                _ => "note",
            };
            results.push(json!({
                "ruleId": f.id,
                "level": level,
                "message": {"text": format!(
                    "{} {} in {} ({}): {}{}",
                    f.package_name,
                    f.installed_version,
                    s.reference,
                    s.platform,
                    f.id,
                    f.fixed_version.as_ref().map(|v| format!(", fixed in {v}")).unwrap_or_default()
                )},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": format!("{}@{}", s.reference, s.digest)}}}],
            }));
        }
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "hangar", "version": env!("CARGO_PKG_VERSION"), "informationUri": "https://github.com/cnrancher/hangar", "rules": rules}},
            "results": results,
        }],
    })
}

/// GitHub code scanning's numeric severity for a rating.
fn severity_score(severity: &str) -> &'static str {
    match severity {
        "CRITICAL" => "9.5",
        "HIGH" => "8.0",
        "MEDIUM" => "5.5",
        "LOW" => "2.0",
        _ => "0.0",
    }
}
