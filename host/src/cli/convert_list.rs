//! `hangar convert-list`: default-format lines → mirror-format `SOURCE DEST TAG` lines.

use super::Status;
use crate::image::reference::{DOCKER_HUB, Reference};
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ConvertListArgs {
    /// Input image list (default format)
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output file (default: <input>.converted)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Source registry to write into column 1
    #[arg(short = 's', long = "source", value_name = "REGISTRY")]
    source: Option<String>,
    /// Destination registry to write into column 2 (Docker Hub when empty)
    #[arg(short = 'd', long = "destination", value_name = "REGISTRY")]
    destination: Option<String>,
    /// Overwrite the output without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

/// Converts one line; `None` for comments/blank lines, `Err` for lines it cannot use.
pub fn convert_line(
    line: &str,
    source: Option<&str>,
    destination: Option<&str>,
) -> Option<Result<String, String>> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') || l.starts_with("//") {
        return None;
    }
    if l.split(' ').filter(|f| !f.is_empty()).count() == 3 {
        return Some(Err("already in mirror format".into()));
    }
    let r = match Reference::parse(l) {
        Ok(r) => r,
        Err(e) => return Some(Err(e.to_string())),
    };
    let src = match source.filter(|s| !s.is_empty()) {
        Some(reg) => r.with_registry(reg),
        None => r.clone(),
    };
    let dst = r.with_registry(destination.filter(|s| !s.is_empty()).unwrap_or(DOCKER_HUB));
    let tag = match (r.tag(), r.digest()) {
        (Some(t), _) => t.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".into(),
    };
    Some(Ok(format!("{} {} {tag}", src.name(), dst.name())))
}

pub fn run(args: ConvertListArgs) -> anyhow::Result<Status> {
    let input = args
        .input
        .as_ref()
        .context("input file not provided (use -i FILE)")?;
    let output = args.output.clone().unwrap_or_else(|| {
        let mut s = input.as_os_str().to_owned();
        s.push(".converted");
        PathBuf::from(s)
    });
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    super::may_overwrite(&output, args.yes)?;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match convert_line(line, args.source.as_deref(), args.destination.as_deref()) {
            None => {}
            Some(Ok(converted)) => lines.push(converted),
            Some(Err(why)) => tracing::warn!("Skip line {}: {:?}: {why}", i + 1, line.trim()),
        }
    }
    let mut body = lines.join("\n");
    body.push('\n');
    crate::outfile::write(&output, body.as_bytes())
        .with_context(|| format!("cannot write {}", output.display()))?;
    tracing::info!(
        "Converted {} lines to {:?}",
        lines.len(),
        output.display().to_string()
    );
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    use super::convert_line;

    #[test]
    fn conversion_table() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let with_digest = format!("quay.io/a/b@{d}");
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<Result<String, ()>>,
        );
        let cases: Vec<Case> = vec![
            (
                "nginx:1.25",
                None,
                Some("reg:5000"),
                Some(Ok(
                    "docker.io/library/nginx reg:5000/library/nginx 1.25".into()
                )),
            ),
            (
                "127.0.0.1:5000/a/b",
                None,
                None,
                Some(Ok("127.0.0.1:5000/a/b docker.io/a/b latest".into())),
            ),
            (
                "rancher/x:v1",
                Some("mirror.io"),
                Some("reg"),
                Some(Ok("mirror.io/rancher/x reg/rancher/x v1".into())),
            ),
            (
                &with_digest,
                None,
                Some("r.io"),
                Some(Ok(format!("quay.io/a/b r.io/a/b {d}"))),
            ),
            ("# comment", None, None, None),
            ("   ", None, None, None),
            ("a b c", None, None, Some(Err(()))),
            ("BAD", None, None, Some(Err(()))),
        ];
        for (line, s, dst, want) in cases {
            let got = convert_line(line, s, dst).map(|r| r.map_err(|_| ()));
            assert_eq!(got, want, "{line}");
        }
    }
}
