//! The chart images of a Rancher release: for each chart in a chart repository (Rancher's
//! `charts`, `system-charts` or a fork), the newest version whose Rancher constraint admits the
//! release. Rancher's exporter looks at the newest version only and drops the chart when that
//! one does not fit; taking the newest that fits keeps charts whose newest version targets the
//! next Rancher line.

use crate::constraint;
use crate::{Out, Sink};
use chart_images::repo::{self, Entry};
use chart_images::{Chart, Files, Versions};
use semver::Version;

const RANCHER_VERSION: &str = "catalog.cattle.io/rancher-version";

/// Charts whose every fitting version counts (monitoring keeps one line per Rancher minor in
/// system-charts).
const EVERY_FITTING_VERSION: [&str; 1] = ["rancher-monitoring"];

/// The images of the charts in `input` (a repository directory or URL with `index.yaml`, or
/// a directory of chart directories such as a `system-charts` clone).
pub fn images(files: &dyn Files, input: &str, system: bool, rancher: &Version, out: &mut dyn Out) {
    let input = input.trim_end_matches('/');
    let remote = input.starts_with("http://") || input.starts_with("https://");
    let index = if input.ends_with(".yaml") {
        Some(input.to_string())
    } else if remote
        || files
            .list(input)
            .is_ok_and(|n| n.iter().any(|n| n == "index.yaml"))
    {
        Some(format!("{input}/index.yaml"))
    } else {
        None
    };
    match index {
        Some(index) => from_index(files, input, &index, system, rancher, out),
        None => from_dirs(files, input, system, rancher, out),
    }
}

fn every_version(system: bool, name: &str) -> bool {
    system && EVERY_FITTING_VERSION.contains(&name)
}

/// A repository with an index: constraints are read from the index where it has them, so
/// only the archives of chosen versions (or of versions whose constraint is in
/// questions.yaml) are opened.
fn from_index(
    files: &dyn Files,
    input: &str,
    index: &str,
    system: bool,
    rancher: &Version,
    out: &mut dyn Out,
) {
    let bytes = if index.starts_with("http://") || index.starts_with("https://") {
        files.get(index)
    } else {
        files.read(index)
    };
    let entries = match bytes.and_then(|b| repo::entries(index, &b)) {
        Ok(entries) => entries,
        Err(e) => return out.error(&format!("{input}: {e}")),
    };
    let mut done: Option<String> = None;
    for entry in entries {
        if done.as_ref() == Some(&entry.name) {
            continue;
        }
        let chart = match chosen(files, &entry, rancher, out) {
            Ok(Some(chart)) => chart,
            Ok(None) => continue,
            // An unreadable chosen version is reported, not replaced by an older one.
            Err(()) => {
                done = Some(entry.name.clone());
                continue;
            }
        };
        if !every_version(system, &entry.name) {
            done = Some(entry.name.clone());
        }
        emit(input, &chart, out);
    }
}

/// The chart of an index entry when its constraint admits `rancher`; `Err` when it should
/// have been read and could not (reported to `out`).
fn chosen(
    files: &dyn Files,
    entry: &Entry,
    rancher: &Version,
    out: &mut dyn Out,
) -> Result<Option<Chart>, ()> {
    let annotated = entry
        .annotations
        .iter()
        .find(|(k, _)| k == RANCHER_VERSION)
        .map(|(_, v)| v.clone());
    if let Some(constraint) = &annotated
        && !fits(constraint, rancher, &entry.label(), out)
    {
        return Ok(None);
    }
    let location = &entry.location;
    let bytes = if location.starts_with("http://") || location.starts_with("https://") {
        files.get(location)
    } else {
        files.read(location)
    };
    let chart = match bytes.and_then(|b| Chart::from_tgz(&b)) {
        Ok(chart) => chart,
        Err(e) => {
            out.error(&format!("{} ({location}): {e}", entry.label()));
            return Err(());
        }
    };
    Ok((annotated.is_some() || admits(&chart, rancher, out)).then_some(chart))
}

/// Chart directories (`charts/<name>/<version>/Chart.yaml`, as system-charts has them).
fn from_dirs(files: &dyn Files, input: &str, system: bool, rancher: &Version, out: &mut dyn Out) {
    let reads = match chart_images::charts(files, input, Versions::All) {
        Ok(reads) => reads,
        Err(e) => return out.error(&format!("{input}: {e}")),
    };
    let mut charts: Vec<Chart> = Vec::new();
    for read in reads {
        match read.chart {
            Ok(chart) => charts.push(chart),
            Err(e) => out.error(&format!("{}: {e}", read.origin)),
        }
    }
    // Newest first within each chart.
    charts.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| repo::version_cmp(&b.version, &a.version))
    });
    let mut done: Option<String> = None;
    for chart in charts {
        if done.as_ref() == Some(&chart.name) || !admits(&chart, rancher, out) {
            continue;
        }
        if !every_version(system, &chart.name) {
            done = Some(chart.name.clone());
        }
        emit(input, &chart, out);
    }
}

/// Whether the chart's own constraint (Chart.yaml annotation, else questions.yaml's min and
/// max) admits `rancher`; no constraint admits every release.
fn admits(chart: &Chart, rancher: &Version, out: &mut dyn Out) -> bool {
    let constraint = chart
        .annotations
        .iter()
        .find(|(k, _)| k == RANCHER_VERSION)
        .map(|(_, v)| v.clone())
        .or_else(|| {
            constraint::from_min_max(
                chart.rancher_min_version.as_deref(),
                chart.rancher_max_version.as_deref(),
            )
        });
    match constraint {
        Some(constraint) => fits(&constraint, rancher, &chart.label(), out),
        None => true,
    }
}

fn fits(constraint: &str, rancher: &Version, label: &str, out: &mut dyn Out) -> bool {
    match constraint::satisfies(constraint, rancher) {
        Ok(fits) => fits,
        Err(e) => {
            out.warn(&format!(
                "{label}: Rancher version constraint {constraint:?}: {e}; version skipped"
            ));
            false
        }
    }
}

fn emit(input: &str, chart: &Chart, out: &mut dyn Out) {
    let source = format!("[{input};{}]", chart.label());
    for warning in &chart.warnings {
        out.warn(&format!("{}: {warning}", chart.label()));
    }
    for image in &chart.images {
        out.image(Sink {
            reference: image.reference.clone(),
            os: image.os.clone(),
            source: source.clone(),
        });
    }
}
