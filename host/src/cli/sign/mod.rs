//! `hangar sign` and `hangar sign validate`: cosign-compatible signatures, made with a key and
//! checked (key-made or keyless, with their Rekor bundles) offline. Each listed image's index digest and every platform digest the filter
//! keeps are signed; signatures go to the `sha256-HEX.sig` tag of the image's repository (or
//! `COSIGN_REPOSITORY`), added to the ones already there.

mod args;
pub mod blob;
mod trust;

use super::bulk::finish_run;
use super::list_run::{Job, ListRun, report_failures};
use super::{Global, Status};
use crate::sign::cosign::Verdict;
use crate::sign::keys;
use crate::sign::report::{self, ReportFormat};
use crate::sign::signer::{self, PassphraseError, Signer};
use crate::sign::targets::Walk;
use anyhow::{Context as _, bail};
pub use args::{GenerateKeyArgs, SignCommand};
use args::{ReportFormatArg, SignAction, SignArgs, ValidateArgs};
use std::path::{Path, PathBuf};

pub async fn run(cmd: SignCommand, _global: &Global) -> anyhow::Result<Status> {
    match cmd.action {
        Some(SignAction::Validate(a)) => validate(a).await,
        None => sign(cmd.args).await,
    }
}

/// The passphrase of a key: the file's first line, `COSIGN_PASSWORD`, or the terminal.
fn passphrase(file: Option<&Path>, prompt: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read passphrase file {}", file.display()))?;
        return Ok(text.trim().as_bytes().to_vec());
    }
    if let Some(p) = std::env::var_os("COSIGN_PASSWORD") {
        return Ok(p.into_encoded_bytes());
    }
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        bail!(
            "the key needs a passphrase: use --passphrase-file or COSIGN_PASSWORD (stdin is not a terminal)"
        );
    }
    Ok(rpassword::prompt_password(prompt)?.into_bytes())
}

fn signing_key(args: &SignArgs) -> anyhow::Result<Box<dyn Signer>> {
    if args.tlog_upload {
        bail!(
            "--tlog-upload needs network access to the transparency log ({}); hangar signs offline, use --tlog-upload=false (the default)",
            args.rekor_url
        );
    }
    let Some(key) = args.key.as_deref().filter(|k| !k.is_empty()) else {
        if let Some(provider) = &args.oidc_provider {
            bail!(
                "keyless signing (--oidc-provider {provider}) needs network access to {} and {}; hangar signs offline with a key (--key)",
                args.fulcio_url,
                args.oidc_issuer
            );
        }
        bail!("private key file not provided, use '--key' option to specify the private key");
    };
    if !key.starts_with("pkcs11:") && key.contains("://") {
        bail!(
            "--key {key}: KMS and other remote keys need network access; give a cosign key file or a pkcs11: URI"
        );
    }
    signing_key_file(key, args.passphrase_file.as_deref())
}

/// A cosign key file or a `pkcs11:` URI, opened with its passphrase or PIN.
fn signing_key_file(key: &str, passphrase_file: Option<&Path>) -> anyhow::Result<Box<dyn Signer>> {
    Ok(signer::open(key, |prompt| {
        passphrase(passphrase_file, prompt).map_err(PassphraseError::from)
    })?)
}

fn cosign_repository() -> Option<String> {
    std::env::var("COSIGN_REPOSITORY").ok()
}

async fn sign(args: SignArgs) -> anyhow::Result<Status> {
    let key = signing_key(&args)?;
    let list = &args.list;
    let run = ListRun::start(list)?;
    let home = cosign_repository();
    let walk = Walk {
        registries: &run.registries,
        filter: &run.filter,
        with_index: args.sign_manifest_index,
        cosign_repository: home.as_deref(),
    };
    let results = run
        .each(list, |i, job: &Job| {
            let (walk, key) = (&walk, key.as_ref());
            async move {
                tracing::info!("[IMG:{}] Signing [{}]", i + 1, job.reference);
                walk.sign(&job.reference, key, |identity, digest, added| {
                    if added {
                        tracing::info!("Signed [{identity}@{digest}]");
                    } else {
                        tracing::info!("[{identity}@{digest}] is already signed by this key");
                    }
                })
                .await
            }
        })
        .await;
    let failed_lines = report_failures(&run.jobs, &results, "sign");
    finish_run(
        &list.failed_or("sign-failed.txt"),
        &failed_lines,
        "Sign",
        "sign",
        run.cancel.is_cancelled(),
    )
}

async fn validate(args: ValidateArgs) -> anyhow::Result<Status> {
    let format = match args.format {
        ReportFormatArg::Json => ReportFormat::Json,
        ReportFormatArg::Yaml => ReportFormat::Yaml,
        ReportFormatArg::Csv => ReportFormat::Csv,
    };
    // Hangar's overwrite question, asked before the images are checked rather than after.
    let path = PathBuf::from(args.report.replace("[FORMAT]", format.extension()));
    super::may_overwrite(&path, args.list.yes)?;
    let verifier = trust::verifier(&args)?;
    let list = &args.list;
    let run = ListRun::start(list)?;
    let home = cosign_repository();
    let walk = Walk {
        registries: &run.registries,
        filter: &run.filter,
        with_index: args.validate_manifest_index,
        cosign_repository: home.as_deref(),
    };
    let results = run
        .each(list, |_, job: &Job| walk.check(&job.reference, &verifier))
        .await;
    let mut failed_lines = Vec::new();
    let mut checked = Vec::new();
    for (job, result) in run.jobs.iter().zip(&results) {
        let image = match result {
            Ok(image) => image,
            Err(e) => {
                tracing::error!("failed to validate [{}]: {e}", job.reference);
                failed_lines.push(job.text.as_str());
                continue;
            }
        };
        let mut ok = true;
        for (target, verdict) in &image.targets {
            let at = format!("{}@{}", job.reference.name(), target.digest);
            match verdict {
                Verdict::Valid { .. } => tracing::info!("PASS: [{at}] is signed"),
                Verdict::Unsigned => tracing::error!("FAILED: [{at}]: no signature"),
                Verdict::Invalid(why) => tracing::error!("FAILED: [{at}]: {why}"),
            }
            ok &= matches!(verdict, Verdict::Valid { .. });
        }
        if !ok {
            failed_lines.push(job.text.as_str());
        }
        checked.push(image);
    }
    let bytes = report::render(format, &checked, &crate::archive::index::rfc3339_now())?;
    crate::outfile::write(&path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("Report exported to {:?}", path.display().to_string());
    finish_run(
        &list.failed_or("sign-failed.txt"),
        &failed_lines,
        "Signature validate",
        "validate",
        run.cancel.is_cancelled(),
    )
}

/// `hangar generate-sigstore-key`: a cosign key pair (PREFIX.key 0600, PREFIX.pub 0644).
pub fn generate_key(args: GenerateKeyArgs) -> anyhow::Result<Status> {
    let private = PathBuf::from(format!("{}.key", args.prefix));
    let public = PathBuf::from(format!("{}.pub", args.prefix));
    for path in [&private, &public] {
        if path.exists()
            && !args.yes
            && !super::confirm(&format!("{} already exists, overwrite?", path.display()))?
        {
            bail!("{} already exists", path.display());
        }
    }
    let pass = match (&args.passphrase_file, std::env::var_os("COSIGN_PASSWORD")) {
        (Some(file), _) => passphrase(Some(file), "")?,
        (None, Some(p)) => p.into_encoded_bytes(),
        (None, None) => {
            let first = passphrase(
                None,
                &format!(
                    "Enter the passphrase for key {:?}: ",
                    private.display().to_string()
                ),
            )?;
            let again = passphrase(None, "Enter the passphrase again: ")?;
            if first != again {
                bail!("password does not match");
            }
            first
        }
    };
    if pass.len() < 5 {
        tracing::warn!("The passphrase is too weak (shorter than 5 characters)");
    }
    let (private_pem, public_pem) = keys::generate(&pass)?;
    for (path, pem, mode) in [(&private, private_pem, 0o600), (&public, public_pem, 0o644)] {
        keys::write_key_file(path, pem.as_bytes(), mode)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tracing::info!(
        "Private key written to {:?}, public key written to {:?}",
        private.display().to_string(),
        public.display().to_string()
    );
    Ok(Status::Success)
}
