//! `hangar load`'s flags.

use crate::cli::args::*;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoadCommand {
    #[command(subcommand)]
    pub action: Option<LoadAction>,
    #[command(flatten)]
    pub args: LoadArgs,
}

#[derive(Subcommand, Debug)]
pub enum LoadAction {
    /// Check that the registry holds every selected platform of each archive image
    Validate(LoadArgs),
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The archive to load
    #[arg(short = 's', long = "source", value_name = "FILE")]
    pub source: Option<PathBuf>,
    /// Destination registry
    #[arg(short = 'd', long = "destination", value_name = "REGISTRY")]
    pub destination: Option<String>,
    /// Image list selecting archive images (default format; all images when absent)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Replace the registry of the list lines before looking them up in the archive
    #[arg(long = "source-registry", value_name = "REGISTRY")]
    pub source_registry: Option<String>,
    /// Override the project (first path segment) of every destination image
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// File that receives the images that failed (source:tag, feedable with -f)
    #[arg(
        short = 'o',
        long = "failed",
        default_value = "load-failed.txt",
        value_name = "FILE"
    )]
    pub failed: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Replace the destination index instead of merging into it
    #[arg(long)]
    pub overwrite: bool,
    /// Accepted for compatibility (credentials are read when a registry asks for them)
    #[arg(long, hide = true)]
    pub skip_login: bool,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub adapter: AdapterArgs,
    #[command(flatten)]
    pub signatures: crate::cli::args::AttachmentArgs,
    #[command(flatten)]
    pub sigstore: crate::cli::removed::SigstoreV1Args,
}
