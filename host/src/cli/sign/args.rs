//! The flags of `sign`, `sign validate` and `generate-sigstore-key`.

use super::super::list_run::ListArgs;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SignCommand {
    #[command(subcommand)]
    pub(super) action: Option<SignAction>,
    #[command(flatten)]
    pub(super) args: SignArgs,
}

#[derive(Subcommand, Debug)]
pub(super) enum SignAction {
    /// Verify the signatures of every listed image (a public key, or keyless signers) and write a report
    Validate(ValidateArgs),
}

#[derive(Args, Debug)]
pub(super) struct SignArgs {
    #[command(flatten)]
    pub(super) list: ListArgs,
    /// Private key: a cosign key file (encrypted or not), or a key in a PKCS#11 token
    /// (pkcs11:token=T;object=LABEL?module-path=/path/to/module.so[&pin-value=PIN])
    #[arg(short = 'p', long = "key", value_name = "KEY")]
    pub(super) key: Option<String>,
    /// File holding the key's passphrase (else COSIGN_PASSWORD, else a prompt)
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub(super) passphrase_file: Option<PathBuf>,
    /// Sign the index digest too, not only the platform digests
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL", hide = true)]
    pub(super) sign_manifest_index: bool,
    /// Upload to a transparency log (needs Rekor; hangar signs offline)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true", value_name = "BOOL")]
    pub(super) tlog_upload: bool,
    /// Keyless signing: OIDC issuer (needs network)
    #[arg(
        long,
        default_value = "https://oauth2.sigstore.dev/auth",
        hide_short_help = true
    )]
    pub(super) oidc_issuer: String,
    /// Keyless signing: OIDC client id (needs network)
    #[arg(long, default_value = "sigstore", hide_short_help = true)]
    pub(super) oidc_client_id: String,
    /// Keyless signing: OIDC provider (needs network)
    #[arg(long, hide_short_help = true)]
    pub(super) oidc_provider: Option<String>,
    /// Transparency log (needs network)
    #[arg(
        long,
        default_value = "https://rekor.sigstore.dev",
        hide_short_help = true
    )]
    pub(super) rekor_url: String,
    /// Certificate authority for keyless signing (needs network)
    #[arg(
        long,
        default_value = "https://fulcio.sigstore.dev",
        hide_short_help = true
    )]
    pub(super) fulcio_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum ReportFormatArg {
    Json,
    Yaml,
    Csv,
}

#[derive(Args, Debug)]
pub(super) struct ValidateArgs {
    #[command(flatten)]
    pub(super) list: ListArgs,
    /// Public key (PEM) the signatures must verify with; without it, signatures are keyless
    #[arg(short = 'k', long = "key", value_name = "FILE")]
    pub(super) key: Option<PathBuf>,
    /// Report file ([FORMAT] is replaced by the format)
    #[arg(
        short = 'r',
        long = "report",
        default_value = "sign-validate-report.[FORMAT]",
        value_name = "FILE"
    )]
    pub(super) report: String,
    #[arg(long, value_enum, default_value = "json")]
    pub(super) format: ReportFormatArg,
    /// Check the index digest's signature too
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL", hide = true)]
    pub(super) validate_manifest_index: bool,
    /// Rekor server (accepted for Hangar's scripts; bundles are checked offline)
    #[arg(long, hide_short_help = true)]
    pub(super) rekor_url: Option<String>,
    /// Do not check Rekor bundles of key-made signatures (keyless ones always need them)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true", value_name = "BOOL", hide_short_help = true)]
    pub(super) insecure_ignore_tlog: bool,
    #[arg(long, hide = true)]
    pub(super) offline: bool,
    /// Keyless: the identity (SAN e-mail or URI) the signing certificate must name
    #[arg(
        long,
        value_name = "IDENTITY",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub(super) certificate_identity: Option<String>,
    /// Keyless: a regular expression the certificate's identity must match (unanchored)
    #[arg(long, value_name = "REGEXP")]
    pub(super) certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer the certificate must name
    #[arg(
        long,
        value_name = "ISSUER",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub(super) certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression the certificate's OIDC issuer must match (unanchored)
    #[arg(long, value_name = "REGEXP")]
    pub(super) certificate_oidc_issuer_regexp: Option<String>,
    /// Keyless: PEM certificates from the signer's issuing CA up to the root, trusted as given
    #[arg(long, value_name = "FILE")]
    pub(super) certificate_chain: Option<PathBuf>,
    /// Keyless: trusted root certificates, PEM (else SIGSTORE_ROOT_FILE)
    #[arg(long, value_name = "FILE")]
    pub(super) ca_roots: Option<PathBuf>,
    /// Keyless: intermediate certificates, PEM, to build chains with
    #[arg(long, value_name = "FILE")]
    pub(super) ca_intermediates: Option<PathBuf>,
    /// A Sigstore trusted_root.json: certificate authorities and Rekor keys, with their validity
    #[arg(long, value_name = "FILE")]
    pub(super) trusted_root: Option<PathBuf>,
    /// Rekor public key, PEM, bundles must be signed with (else SIGSTORE_REKOR_PUBLIC_KEY)
    #[arg(long, value_name = "FILE")]
    pub(super) rekor_key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GenerateKeyArgs {
    /// File name prefix: writes PREFIX.key and PREFIX.pub
    #[arg(short = 'p', long = "prefix", default_value = "sigstore")]
    pub(super) prefix: String,
    /// File holding the passphrase (else COSIGN_PASSWORD, else a prompt, asked twice)
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub(super) passphrase_file: Option<PathBuf>,
    /// Overwrite existing key files without asking
    #[arg(short = 'y', long = "auto-yes")]
    pub(super) yes: bool,
}
