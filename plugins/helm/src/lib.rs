//! hangar's Helm list generator: the images in the values files of the charts the user
//! passes (`chart=PATH|URL`, repeatable): packaged charts, chart directories, chart
//! repositories (`index.yaml` with its archives, in a directory or over HTTP) and folders of
//! these. `newest=true` keeps the newest version of each chart. Each image's source is the
//! chart's `name:version`; its OS is the `os:` written next to it.
//!
//! A chart that cannot be read is an error line in the log (hangar fails the run after
//! writing the rest); a values file that is not YAML is a warning.

use chart_images::{Host, Versions};
use hangar_plugin_sdk::list_generator::{Guest, ImageEntry};
use hangar_plugin_sdk::log;

struct Helm;

impl Guest for Helm {
    // `describe`: this crate's name and version, and only the hosts of chart URLs the user
    // passes.
    const HOSTS: &'static [&'static str] = &["$options"];

    fn generate(options: Vec<(String, String)>) -> Result<Vec<ImageEntry>, String> {
        let mut inputs = Vec::new();
        let mut versions = Versions::All;
        for (key, value) in options {
            match key.as_str() {
                "chart" => inputs.push(value),
                "newest" => {
                    versions = match value.as_str() {
                        "true" => Versions::Newest,
                        "false" => Versions::All,
                        other => return Err(format!("newest={other}: true or false")),
                    }
                }
                other => {
                    return Err(format!(
                        "unknown option {other:?} (chart=PATH|URL, newest=true|false)"
                    ));
                }
            }
        }
        if inputs.is_empty() {
            return Err("no charts given (chart=PATH|URL)".into());
        }
        let mut entries = Vec::new();
        for input in &inputs {
            let reads = match chart_images::charts(&Host, input, versions) {
                Ok(reads) => reads,
                Err(e) => {
                    log::error(&format!("{input}: {e}"));
                    continue;
                }
            };
            for read in reads {
                let chart = match read.chart {
                    Ok(chart) => chart,
                    Err(e) => {
                        log::error(&format!("{}: {e}", read.origin));
                        continue;
                    }
                };
                let label = chart.label();
                let place = if read.origin == label {
                    label.clone()
                } else {
                    format!("{label} ({})", read.origin)
                };
                for warning in &chart.warnings {
                    log::warn(&format!("{place}: {warning}"));
                }
                entries.extend(chart.images.into_iter().map(|image| ImageEntry {
                    reference: image.reference,
                    os: image.os,
                    source: label.clone(),
                }));
            }
        }
        Ok(entries)
    }
}

hangar_plugin_sdk::export_list_generator!(Helm);
