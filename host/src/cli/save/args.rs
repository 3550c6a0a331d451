//! `hangar save`'s flags.

use crate::cli::args::*;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SaveCommand {
    #[command(subcommand)]
    pub action: Option<SaveAction>,
    #[command(flatten)]
    pub args: SaveArgs,
}

#[derive(Subcommand, Debug)]
pub enum SaveAction {
    /// Check that the archive holds every selected platform of each listed image
    Validate(SaveArgs),
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// The archive to write (an interrupted one is resumed)
    #[arg(
        short = 'd',
        long = "destination",
        default_value = "saved-images.zip",
        value_name = "FILE"
    )]
    pub destination: PathBuf,
    /// File that receives the lines that failed
    #[arg(
        short = 'o',
        long = "failed",
        default_value = "save-failed.txt",
        value_name = "FILE"
    )]
    pub failed: PathBuf,
    /// Overwrite an existing archive without asking
    #[arg(short = 'y', long = "auto-yes")]
    pub yes: bool,
    #[command(flatten)]
    pub list: SaveList,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncCommand {
    #[command(subcommand)]
    pub action: Option<SyncAction>,
    #[command(flatten)]
    pub args: SyncArgs,
}

#[derive(Subcommand, Debug)]
pub enum SyncAction {
    /// Check that the archive holds every selected platform of each listed image
    Validate(SyncArgs),
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The existing archive to add the images to
    #[arg(short = 'd', long = "destination", value_name = "FILE")]
    pub destination: Option<PathBuf>,
    /// File that receives the lines that failed
    #[arg(
        short = 'o',
        long = "failed",
        default_value = "sync-failed.txt",
        value_name = "FILE"
    )]
    pub failed: PathBuf,
    #[command(flatten)]
    pub list: SaveList,
}

/// What save and sync (and their validate) read the same way.
#[derive(Args, Debug)]
pub struct SaveList {
    /// Image list (default format)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Override the registry of every source image (recorded in the archive)
    #[arg(short = 's', long = "source", value_name = "REGISTRY")]
    pub source: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub signatures: AttachmentArgs,
    #[command(flatten)]
    pub delta: DeltaArgs,
    #[command(flatten)]
    pub split: SplitArgs,
}

/// What makes a save a delta: the layers the other side already has are left out.
#[derive(Args, Debug, Default)]
pub struct DeltaArgs {
    /// Leave out the layers this older archive holds (it, or what it was loaded into, must be
    /// at the destination); repeatable
    #[arg(long = "base", value_name = "ARCHIVE")]
    pub base: Vec<PathBuf>,
    /// Leave out the layers this inventory (`hangar inventory` of the destination) lists;
    /// repeatable
    #[arg(long = "base-inventory", value_name = "FILE")]
    pub base_inventory: Vec<PathBuf>,
}
