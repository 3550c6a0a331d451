//! `hangar view provenance|sbom IMAGE`: the build provenance or SBOM attached to an image, as
//! indented JSON (`inspect::attached` finds it).

use super::Status;
use super::args::{TlsArgs, connect_image};
use crate::image::platform::Platform;
use crate::inspect::attached::{Kind, attached, host_arch};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ViewCommand {
    #[command(subcommand)]
    what: ViewWhat,
}

#[derive(Subcommand, Debug)]
enum ViewWhat {
    /// The build provenance (SLSA) of an image
    Provenance(ViewArgs),
    /// The SBOM (SPDX or CycloneDX) of an image
    Sbom(ViewArgs),
}

#[derive(Args, Debug)]
struct ViewArgs {
    #[arg(value_name = "IMAGE")]
    image: Option<String>,
    /// Write to this file instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Architecture of the platform to look at [default: this machine's]
    #[arg(long, value_name = "ARCH")]
    override_arch: Option<String>,
    /// OS of the platform to look at [default: this machine's]
    #[arg(long, value_name = "OS")]
    override_os: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Overwrite the output file without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

pub async fn run(cmd: ViewCommand) -> anyhow::Result<Status> {
    let (kind, args) = match cmd.what {
        ViewWhat::Provenance(a) => (Kind::Provenance, a),
        ViewWhat::Sbom(a) => (Kind::Sbom, a),
    };
    if let Some(path) = &args.output {
        super::may_overwrite(path, args.yes)?;
    }
    let (reference, registry) = connect_image(args.image.as_deref(), &args.tls).await?;
    let arch = args
        .override_arch
        .clone()
        .unwrap_or_else(|| host_arch().to_string());
    let os = args
        .override_os
        .clone()
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let wanted = Platform::new(&os, &arch, None);
    let document = attached(&registry, &reference, &wanted, kind).await?;
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    match &args.output {
        Some(path) => crate::outfile::write(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{text}")?,
    }
    Ok(Status::Success)
}
