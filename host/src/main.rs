//! parse → run → exit code: 0 done, 1 some images failed (or the command failed), 2 usage,
//! 130 interrupted, or the code `scan --exit-code` asks for.

use clap::Parser as _;
use hangar::cli::{Cli, Status};
use hangar::progress;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    hangar::registry::set_network_timeout(cli.network_timeout);
    progress::init_logging(
        cli.debug,
        cli.log_format,
        cli.hide_log_time,
        progress::Stderr,
    );
    // As podman and skopeo do, a malformed registries.conf stops the run: it may block
    // registries or name the mirrors an air gap must use.
    match hangar::registry::RegistriesConf::load(cli.registries_conf.as_deref()) {
        Ok(conf) => {
            for file in &conf.sources {
                tracing::debug!("registries configuration from {}", file.display());
            }
            hangar::registry::set_registries_conf(conf);
        }
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hangar: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(hangar::cli::run(cli)) {
        Ok(Status::Success) => ExitCode::SUCCESS,
        Ok(Status::SomeFailed) => ExitCode::from(1),
        Ok(Status::Interrupted) => ExitCode::from(130),
        Ok(Status::Exit(code)) => ExitCode::from(code),
        // The reader went away (`| head`): what it wanted was written.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined, never a Debug dump.
            tracing::error!("{}", format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
