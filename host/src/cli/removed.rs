//! Hangar spellings hangar does not implement, answered with one line saying what to use
//! instead (exit 2, a usage error) rather than clap's "unrecognized subcommand": `signv1` and
//! `signv1 validate` (hidden and deprecated in Hangar), and the hidden `--sigstore-private-key`
//! / `--sigstore-passphrase-file` of `mirror` and `load` (signv1 signing during the copy).

use super::Status;
use clap::Args;
use std::path::PathBuf;

/// Whatever `signv1` was given: its flags are Hangar's, none is read.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Signv1Args {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..,
        hide = true
    )]
    rest: Vec<String>,
}

pub fn signv1(args: &Signv1Args) -> Status {
    if args.rest.first().is_some_and(|a| a == "validate") {
        tracing::error!(
            "signv1 validate was removed: use `hangar sign validate -f LIST -k KEY.pub` \
             (cosign signatures)"
        );
    } else {
        tracing::error!(
            "signv1 was removed: use `hangar sign -f LIST -p KEY` (cosign signatures; keys \
             made by generate-sigstore-key work as they are)"
        );
    }
    Status::Exit(2)
}

/// Hangar's hidden signv1 flags of `mirror` and `load` (and their `validate`).
#[derive(Args, Debug, Clone, Default)]
pub struct SigstoreV1Args {
    /// Removed (signv1 signing during the copy): sign with `hangar sign` afterwards
    #[arg(long, hide = true, value_name = "FILE")]
    sigstore_private_key: Option<PathBuf>,
    /// Removed (the passphrase of --sigstore-private-key)
    #[arg(long, hide = true, value_name = "FILE")]
    sigstore_passphrase_file: Option<PathBuf>,
}

impl SigstoreV1Args {
    fn given(&self) -> Option<&'static str> {
        if self.sigstore_private_key.is_some() {
            Some("--sigstore-private-key")
        } else if self.sigstore_passphrase_file.is_some() {
            Some("--sigstore-passphrase-file")
        } else {
            None
        }
    }

    /// A copy asked to sign on the way: refused with what to do instead (the images would
    /// otherwise arrive unsigned while the script believes they are signed).
    pub fn refuse(&self) -> Option<Status> {
        let flag = self.given()?;
        tracing::error!(
            "{flag} was removed (signv1 signing during the copy): copy without it, then sign \
             the copies with `hangar sign -f LIST -p KEY` (cosign signatures)"
        );
        Some(Status::Exit(2))
    }

    /// A validate given the flags (Hangar warns that it does not check signatures).
    pub fn warn_ignored(&self, command: &str) {
        if let Some(flag) = self.given() {
            tracing::warn!(
                "{flag} is ignored: {command} does not check signatures; use `hangar sign \
                 validate -f LIST -k KEY.pub`"
            );
        }
    }
}
