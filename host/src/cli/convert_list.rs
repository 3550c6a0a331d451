//! `hangar convert-list`: default-format lines → mirror-format `SOURCE DEST TAG` lines.

use super::Status;
use crate::image::list::to_mirror_line;
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
        match to_mirror_line(line, args.source.as_deref(), args.destination.as_deref()) {
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
