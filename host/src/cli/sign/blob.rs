//! `hangar sign-blob` and `hangar verify-blob`: detached signatures of files (release
//! artifacts, lists, archives' checksums) in cosign's `sign-blob` form: the base64 of an ECDSA
//! P-256 signature (ASN.1 DER) over the file's SHA-256. `cosign verify-blob --key KEY.pub
//! --signature FILE.sig --insecure-ignore-tlog FILE` accepts them, and so does openssl:
//! `openssl dgst -sha256 -verify KEY.pub -signature <(base64 -d FILE.sig) FILE`.

use super::super::Status;
use super::signing_key_file;
use crate::sign::keys;
use anyhow::{Context as _, bail};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct SignBlobArgs {
    /// Files to sign; each signature is written beside it as FILE.sig
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Private key: a cosign key file, or a key in a PKCS#11 token (pkcs11:...)
    #[arg(short = 'p', long = "key", value_name = "KEY")]
    key: String,
    /// File holding the key's passphrase (else COSIGN_PASSWORD, else a prompt)
    #[arg(long = "passphrase-file", value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Where the signature goes (one file only; default FILE.sig)
    #[arg(long = "output-signature", value_name = "FILE")]
    output_signature: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyBlobArgs {
    /// Files to check, each against FILE.sig (or --signature)
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Public key (PEM), as generate-sigstore-key writes it
    #[arg(short = 'k', long = "key", value_name = "KEY.pub")]
    key: PathBuf,
    /// The signature file (one file only; default FILE.sig)
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
}

fn signature_path(file: &Path, given: Option<&PathBuf>) -> PathBuf {
    given.cloned().unwrap_or_else(|| {
        let mut name = file.as_os_str().to_owned();
        name.push(".sig");
        PathBuf::from(name)
    })
}

pub fn sign_blob(args: SignBlobArgs) -> anyhow::Result<Status> {
    if args.output_signature.is_some() && args.files.len() > 1 {
        bail!("--output-signature names one signature file: give one file, or leave it out");
    }
    let key = signing_key_file(&args.key, args.passphrase_file.as_deref())?;
    for file in &args.files {
        // The whole file is the signed payload, as cosign signs it: release artifacts and
        // checksum files are tens of megabytes at most.
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let der = key
            .sign(&bytes)
            .map_err(|e| anyhow::anyhow!("cannot sign {}: {e}", file.display()))?;
        let path = signature_path(file, args.output_signature.as_ref());
        crate::outfile::write(&path, keys::encode_signature(&der).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        tracing::info!("Signed {} -> {}", file.display(), path.display());
    }
    Ok(Status::Success)
}

pub fn verify_blob(args: VerifyBlobArgs) -> anyhow::Result<Status> {
    if args.signature.is_some() && args.files.len() > 1 {
        bail!("--signature names one signature file: give one file, or leave it out");
    }
    let text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read public key {}", args.key.display()))?;
    let key = keys::public(&text, &args.key.display().to_string())?;
    let mut failed = 0;
    for file in &args.files {
        let path = signature_path(file, args.signature.as_ref());
        let checked = std::fs::read(file)
            .with_context(|| format!("cannot read {}", file.display()))
            .and_then(|bytes| {
                let signature = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read signature {}", path.display()))?;
                Ok(keys::verify(&key, &bytes, &signature))
            });
        match checked {
            Ok(true) => tracing::info!("Verified OK: {}", file.display()),
            Ok(false) => {
                failed += 1;
                tracing::error!(
                    "{}: {} is not a signature of this file by {}",
                    file.display(),
                    path.display(),
                    args.key.display()
                );
            }
            Err(e) => {
                failed += 1;
                tracing::error!("{e:#}");
            }
        }
    }
    Ok(if failed == 0 {
        Status::Success
    } else {
        Status::SomeFailed
    })
}
