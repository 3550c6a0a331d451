//! The `sign validate` report, in Hangar's shapes: JSON (`time`, `results`), YAML (`time`,
//! `result`, as Hangar spells it) and CSV with Hangar's columns. Keyless fields (transparency
//! log, certificate, GitHub workflow) are always empty: hangar verifies offline with a key.

use crate::cosign::Verdict;
use crate::targets::{Checked, Target};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Yaml,
    Csv,
}

impl ReportFormat {
    /// What replaces `[FORMAT]` in the report's file name.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Json => "json",
            ReportFormat::Yaml => "yaml",
            ReportFormat::Csv => "csv",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
}

const CSV_HEADER: &str = "image,arch,os,payload,digest,tlogVerify,mediaType,certificateIssuer,certificateSubject,githubWorkflowName,githubWorkflowRef,githubWorkflowRepository,githubWorkflowSha,githubWorkflowTrigger\n";

/// The report of `checked`, made at `time` (RFC 3339).
pub fn render(
    format: ReportFormat,
    checked: &[&Checked],
    time: &str,
) -> Result<Vec<u8>, ReportError> {
    let results: Vec<Value> = checked
        .iter()
        .map(|c| {
            json!({
                "reference": c.reference,
                "images": c.targets.iter().map(|(t, v)| entry(t, v)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(match format {
        ReportFormat::Json => {
            serde_json::to_vec_pretty(&json!({"time": time, "results": results}))?
        }
        ReportFormat::Yaml => {
            serde_yaml::to_string(&json!({"time": time, "result": results}))?.into_bytes()
        }
        ReportFormat::Csv => csv(checked).into_bytes(),
    })
}

fn entry(target: &Target, verdict: &Verdict) -> Value {
    let platform = target.platform.as_ref();
    let mut value = json!({
        "digest": target.digest,
        "mediaType": target.media_type,
        "platform": {
            "arch": platform.map(|p| p.architecture.clone()).unwrap_or_default(),
            "os": platform.map(|p| p.os.clone()).unwrap_or_default(),
            "variant": platform.and_then(|p| p.variant.clone()).unwrap_or_default(),
        },
        "verified": matches!(verdict, Verdict::Valid { .. }),
        "tlogVerified": false,
        "certificateSubject": "",
        "certificateIssuer": "",
    });
    match verdict {
        Verdict::Valid { payload } => value["payload"] = payload.clone(),
        Verdict::Unsigned => value["error"] = json!("no signature"),
        Verdict::Invalid(why) => value["error"] = json!(why),
    }
    value
}

fn csv(checked: &[&Checked]) -> String {
    let mut out = String::from(CSV_HEADER);
    for c in checked {
        for (t, v) in &c.targets {
            let platform = t.platform.as_ref();
            let payload = match v {
                Verdict::Valid { payload } => payload.to_string(),
                _ => String::new(),
            };
            let mut fields = vec![
                c.reference.clone(),
                platform.map(|p| p.architecture.clone()).unwrap_or_default(),
                platform.map(|p| p.os.clone()).unwrap_or_default(),
                payload,
                t.digest.to_string(),
                "false".into(),
                t.media_type.clone(),
            ];
            fields.resize(14, String::new());
            let row: Vec<String> = fields
                .iter()
                .map(|f| hangar_outfile::csv_field(f))
                .collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_image::platform::Platform;

    fn checked() -> Checked {
        let digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        Checked {
            reference: "example.com/library/app:1".into(),
            targets: vec![
                (
                    Target {
                        digest,
                        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                        platform: Some(Platform::new("linux", "arm64", Some("v8"))),
                    },
                    Verdict::Valid {
                        payload: json!({"critical": {"a": "b,c"}}),
                    },
                ),
                (
                    Target {
                        digest: format!("sha256:{}", "cd".repeat(32)).parse().unwrap(),
                        media_type: "m".into(),
                        platform: None,
                    },
                    Verdict::Invalid("bad".into()),
                ),
            ],
        }
    }

    #[test]
    fn csv_rows_quote_payloads() {
        let c = checked();
        let text = String::from_utf8(render(ReportFormat::Csv, &[&c], "t").unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            format!(
                "example.com/library/app:1,arm64,linux,\"{{\"\"critical\"\":{{\"\"a\"\":\"\"b,c\"\"}}}}\",sha256:{},false,application/vnd.oci.image.manifest.v1+json,,,,,,,",
                "ab".repeat(32)
            )
        );
        assert!(lines[2].starts_with("example.com/library/app:1,,,,sha256:cd"));
        assert_eq!(lines[2].matches(',').count(), 13);
    }

    #[test]
    fn json_and_yaml_shapes() {
        let c = checked();
        let json: Value =
            serde_json::from_slice(&render(ReportFormat::Json, &[&c], "T").unwrap()).unwrap();
        assert_eq!(json["time"], "T");
        let first = &json["results"][0]["images"][0];
        assert_eq!(first["verified"], true);
        assert_eq!(first["platform"]["variant"], "v8");
        assert_eq!(json["results"][0]["images"][1]["error"], "bad");
        let yaml = String::from_utf8(render(ReportFormat::Yaml, &[&c], "T").unwrap()).unwrap();
        assert!(yaml.contains("result:"));
        assert!(!yaml.contains("results:"));
    }
}
