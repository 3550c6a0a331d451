//! Whom `sign validate` trusts, from its flags (cosign's names): a public key (`--key`), or
//! keyless signers: roots from `--trusted-root`, `--certificate-chain`, `--ca-roots` (or
//! `SIGSTORE_ROOT_FILE`), the identity and issuer exactly or by regular expression. Rekor keys
//! come from `--rekor-key` (or `SIGSTORE_REKOR_PUBLIC_KEY`) and the trusted root. Everything is
//! read from files: nothing is fetched.

use super::args::ValidateArgs;
use crate::sign::keys;
use crate::sign::trusted_root;
use crate::sign::verifier::{Authority, Keyless, Matcher, RekorKey, Signers, Verifier};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

pub(super) fn verifier(args: &ValidateArgs) -> anyhow::Result<Verifier> {
    let keyless_flags = args.certificate_identity.is_some()
        || args.certificate_identity_regexp.is_some()
        || args.certificate_oidc_issuer.is_some()
        || args.certificate_oidc_issuer_regexp.is_some();
    let trusted = args
        .trusted_root
        .as_deref()
        .map(|path| {
            let text = read(path, "trusted root")?;
            trusted_root::parse(&text)
                .map_err(|e| anyhow::anyhow!("trusted root {}: {e}", path.display()))
        })
        .transpose()?;
    let mut rekor: Vec<RekorKey> = trusted
        .as_ref()
        .map(|t| t.rekor.clone())
        .unwrap_or_default();
    let rekor_file = args
        .rekor_key
        .clone()
        .or_else(|| env_path("SIGSTORE_REKOR_PUBLIC_KEY"));
    if let Some(path) = &rekor_file {
        rekor.push(RekorKey::always(public_key(path, "Rekor public key")?));
    }

    if let Some(key_path) = &args.key {
        if keyless_flags {
            bail!(
                "--key and --certificate-identity/--certificate-oidc-issuer exclude each other: signatures are checked with a key, or keyless"
            );
        }
        let key = public_key(key_path, "public key")?;
        if args.insecure_ignore_tlog {
            rekor.clear();
        } else if rekor.is_empty() {
            tracing::warn!(
                "No Rekor key (--rekor-key, SIGSTORE_REKOR_PUBLIC_KEY or --trusted-root): signatures are checked with the key only, not against the transparency log; --insecure-ignore-tlog says so explicitly"
            );
        }
        return Ok(Verifier {
            signers: Signers::Keys(vec![key]),
            rekor,
        });
    }
    if !keyless_flags {
        bail!(
            "public key not provided, use '--key' option to specify the public key (or --certificate-identity and --certificate-oidc-issuer for keyless signatures)"
        );
    }
    let subject = matcher(
        args.certificate_identity.as_deref(),
        args.certificate_identity_regexp.as_deref(),
        "--certificate-identity",
    )?;
    let issuer = matcher(
        args.certificate_oidc_issuer.as_deref(),
        args.certificate_oidc_issuer_regexp.as_deref(),
        "--certificate-oidc-issuer",
    )?;
    let mut authorities = trusted.map(|t| t.authorities).unwrap_or_default();
    if let Some(path) = &args.certificate_chain {
        let mut chain = certificates(path, "certificate chain")?;
        let root = chain.pop().expect("certificates() returns at least one");
        authorities.push(Authority {
            root,
            intermediates: chain,
            valid: Default::default(),
        });
    }
    let intermediates = match &args.ca_intermediates {
        Some(path) => certificates(path, "intermediate certificates")?,
        None => Vec::new(),
    };
    if let Some(path) = args
        .ca_roots
        .clone()
        .or_else(|| env_path("SIGSTORE_ROOT_FILE"))
    {
        for root in certificates(&path, "root certificates")? {
            authorities.push(Authority {
                intermediates: intermediates.clone(),
                ..Authority::root(root)
            });
        }
    }
    if authorities.is_empty() {
        bail!(
            "keyless verification needs the certificate authority's root: --trusted-root, --certificate-chain or --ca-roots (hangar does not fetch Sigstore's public roots)"
        );
    }
    if args.insecure_ignore_tlog {
        bail!(
            "--insecure-ignore-tlog: a keyless certificate lives minutes and is checked at the time Rekor logged the signature, so keyless signatures need their Rekor bundle"
        );
    }
    if rekor.is_empty() {
        bail!(
            "keyless verification needs a Rekor public key: --rekor-key, SIGSTORE_REKOR_PUBLIC_KEY or --trusted-root"
        );
    }
    Ok(Verifier {
        signers: Signers::Keyless(Keyless {
            authorities,
            subject,
            issuer,
        }),
        rekor,
    })
}

fn matcher(exact: Option<&str>, pattern: Option<&str>, flag: &str) -> anyhow::Result<Matcher> {
    match (exact, pattern) {
        (Some(exact), _) => Ok(Matcher::Exact(exact.to_string())),
        (None, Some(pattern)) => {
            Matcher::pattern(pattern, &format!("{flag}-regexp")).map_err(anyhow::Error::msg)
        }
        (None, None) => bail!("keyless verification needs {flag} or {flag}-regexp"),
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn public_key(path: &Path, what: &str) -> anyhow::Result<p256::ecdsa::VerifyingKey> {
    let text = read(path, what)?;
    Ok(keys::public(&text, &path.display().to_string())?)
}

fn certificates(path: &Path, what: &str) -> anyhow::Result<Vec<crate::sign::fulcio::Certificate>> {
    let text = read(path, what)?;
    let certificates = crate::sign::fulcio::certificates(&text)
        .map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))?;
    if certificates.is_empty() {
        bail!("{what} {}: no certificate in it", path.display());
    }
    Ok(certificates)
}
