//! An SBOM generator for the host's tests of swapping SBOM plugins: a minimal SPDX 2.3
//! document whose creator names this plugin, and no other format.

use hangar_plugin_sdk::sbom::{Guest, Info, Report, Subject};

struct Tally;

impl Guest for Tally {
    fn describe() -> Info {
        Info {
            name: "tally".into(),
            version: "0.2.0".into(),
            hosts: Vec::new(),
        }
    }

    fn formats() -> Vec<String> {
        vec!["spdx-json".into()]
    }

    fn generate(
        format: String,
        subject: Subject,
        report: Report,
        created: String,
    ) -> Result<String, String> {
        if format != "spdx-json" {
            return Err(format!("tally writes spdx-json only, not {format}"));
        }
        let packages: Vec<String> = report
            .packages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    r#"{{"SPDXID":"SPDXRef-T{i}","name":{:?},"versionInfo":{:?},"downloadLocation":"NOASSERTION"}}"#,
                    p.name, p.version
                )
            })
            .collect();
        Ok(format!(
            r#"{{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":{:?},"documentNamespace":"https://tally.example/{}","creationInfo":{{"created":{:?},"creators":["Organization: Tally test"]}},"packages":[{}]}}"#,
            subject.image,
            subject.digest,
            created,
            packages.join(",")
        ))
    }
}

hangar_plugin_sdk::export_sbom!(Tally);
