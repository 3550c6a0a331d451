//! `hangar completion SHELL`: completion scripts generated from the same clap definitions.

use super::{Cli, Status};
use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct CompletionArgs {
    shell: Shell,
    /// Accepted for compatibility (descriptions are always included where the shell supports them)
    #[arg(long)]
    no_descriptions: bool,
}

/// `hangar man --dir DIR` (hidden; package/build runs it): a man page for every command and
/// subcommand (`hangar.1`, `hangar-mirror.1`, `hangar-mirror-validate.1`, ...).
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Where the pages are written
    #[arg(long, value_name = "DIR")]
    dir: std::path::PathBuf,
}

pub fn man(args: ManArgs) -> anyhow::Result<Status> {
    use anyhow::Context as _;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let cmd = Cli::command().name("hangar");
    clap_mangen::generate_to(cmd, &args.dir)
        .with_context(|| format!("cannot write man pages into {}", args.dir.display()))?;
    Ok(Status::Success)
}

pub fn run(args: CompletionArgs) -> anyhow::Result<Status> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "hangar", &mut std::io::stdout());
    Ok(Status::Success)
}
