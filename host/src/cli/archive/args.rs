//! `hangar archive`'s flags.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ArchiveCommand {
    /// Without one, the help is printed (exit 0, as Hangar does).
    #[command(subcommand)]
    pub action: Option<ArchiveAction>,
}

#[derive(Subcommand, Debug)]
pub enum ArchiveAction {
    /// List the images of an archive
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Re-hash every blob and check every reference of an archive
    Verify(VerifyArgs),
    /// Create empty archives (for sync or store to add to)
    #[command(visible_alias = "i")]
    Init(InitArgs),
    /// Merge archives into a new one
    #[command(visible_alias = "m")]
    Merge(MergeArgs),
    /// Copy the listed images of an archive into a new archive
    #[command(visible_alias = "e")]
    Export(ExportCommand),
    /// Store Helm charts, files or plugins in an archive
    #[command(visible_alias = "s")]
    Store(crate::cli::archive_store::StoreCommand),
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// The archive (or give it as the argument)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[arg(value_name = "FILE", conflicts_with = "file")]
    pub positional: Option<PathBuf>,
    /// Print the whole index as JSON
    #[arg(long)]
    pub json: bool,
    /// Print one source:tag per line
    #[arg(long)]
    pub image_only: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// An archive to merge (at least two); a delta takes the blobs it relies on from the
    /// others (its base), so OLD.zip DELTA.zip gives a full archive
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// More archives to merge, after the -f ones
    #[arg(value_name = "ARCHIVE")]
    pub positional: Vec<PathBuf>,
    /// The new archive
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite the output without asking
    #[arg(short = 'y', long = "auto-yes")]
    pub yes: bool,
    #[command(flatten)]
    pub split: crate::cli::args::SplitArgs,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExportCommand {
    #[command(subcommand)]
    pub action: Option<ExportAction>,
    #[command(flatten)]
    pub args: ExportArgs,
}

#[derive(Subcommand, Debug)]
pub enum ExportAction {
    /// Extract a file stored with `archive store file` to ./<name>
    #[command(visible_alias = "f")]
    File(crate::cli::archive_store::ExportFileArgs),
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Image list (default format) of the images to export
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The archive to export from
    #[arg(short = 's', long = "source", value_name = "FILE")]
    pub source: Option<PathBuf>,
    /// The new archive
    #[arg(short = 'd', long = "destination", value_name = "FILE")]
    pub destination: Option<PathBuf>,
    /// Replace the registry of the list lines before looking them up
    #[arg(long = "source-registry", value_name = "REGISTRY")]
    pub source_registry: Option<String>,
    /// File that receives the lines not found
    #[arg(
        long = "failed",
        default_value = "export-failed.txt",
        value_name = "FILE"
    )]
    pub failed: PathBuf,
    /// Overwrite the destination without asking
    #[arg(short = 'y', long = "auto-yes")]
    pub yes: bool,
    #[command(flatten)]
    pub split: crate::cli::args::SplitArgs,
}
