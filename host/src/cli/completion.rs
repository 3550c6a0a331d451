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

pub fn run(args: CompletionArgs) -> anyhow::Result<Status> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "hangar", &mut std::io::stdout());
    Ok(Status::Success)
}
