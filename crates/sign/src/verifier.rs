//! Whom a signature must come from, and the one place that decides whether it does: used by
//! `sign validate` (from its flags) and by the signature policy (from `sigstoreSigned`).
//! Signers are public keys, or keyless: a Fulcio certificate chaining to trusted roots and
//! naming the wanted subject and OIDC issuer. With Rekor keys, a signature counts only with
//! a Rekor bundle they verify; for keyless signatures that bundle is also the clock the
//! certificate is checked at. Nothing here uses the network.

use crate::cosign::{self, Found, Verdict};
use crate::rekor::{self, Recorded};
use hangar_image::digest::Digest;
use p256::ecdsa::VerifyingKey;
use serde_json::Value;
use x509_cert::Certificate;

/// When a trusted key or root may vouch for a signature (Unix seconds; `None`: open).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<i64>,
    pub until: Option<i64>,
}

impl Window {
    pub fn contains(&self, at: i64) -> bool {
        self.from.is_none_or(|from| at >= from) && self.until.is_none_or(|until| at <= until)
    }
}

/// A Rekor public key, and when it signed the log.
#[derive(Clone, Debug)]
pub struct RekorKey {
    pub key: VerifyingKey,
    pub valid: Window,
}

impl RekorKey {
    pub fn always(key: VerifyingKey) -> RekorKey {
        RekorKey {
            key,
            valid: Window::default(),
        }
    }
}

/// A certificate authority: the certificates between it and leaves (intermediates), its
/// root, and when it issued.
#[derive(Clone, Debug)]
pub struct Authority {
    pub root: Certificate,
    pub intermediates: Vec<Certificate>,
    pub valid: Window,
}

impl Authority {
    /// A root trusted by itself, at any time (a PEM file the user names).
    pub fn root(root: Certificate) -> Authority {
        Authority {
            root,
            intermediates: Vec::new(),
            valid: Window::default(),
        }
    }
}

/// How a certificate's subject or issuer must read: exactly, or matching a regular
/// expression (unanchored, as cosign's `--certificate-identity-regexp`).
#[derive(Clone, Debug)]
pub enum Matcher {
    Exact(String),
    Pattern(regex::Regex),
}

impl Matcher {
    pub fn pattern(text: &str, flag: &str) -> Result<Matcher, String> {
        regex::Regex::new(text)
            .map(Matcher::Pattern)
            .map_err(|e| format!("{flag} {text:?} is not a regular expression: {e}"))
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(wanted) => value == wanted,
            Matcher::Pattern(pattern) => pattern.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(wanted) => write!(f, "{wanted:?}"),
            Matcher::Pattern(pattern) => write!(f, "one matching /{pattern}/"),
        }
    }
}

/// Keyless signers: certificates from these authorities, issued to this subject (a SAN
/// e-mail address or URI) through this OIDC issuer.
#[derive(Clone, Debug)]
pub struct Keyless {
    pub authorities: Vec<Authority>,
    pub subject: Matcher,
    pub issuer: Matcher,
}

#[derive(Clone, Debug)]
pub enum Signers {
    Keys(Vec<VerifyingKey>),
    Keyless(Keyless),
}

#[derive(Clone, Debug)]
pub struct Verifier {
    pub signers: Signers,
    /// Rekor's keys. Empty: key-made signatures need no bundle (keyless ones always do).
    pub rekor: Vec<RekorKey>,
}

impl Verifier {
    /// The verdict on the signatures of `digest`: valid when one is made by a trusted signer
    /// over a payload naming `digest` that `accept` takes (the caller's identity rules);
    /// otherwise why the last candidate failed.
    pub fn check(
        &self,
        signatures: &[Found],
        digest: &Digest,
        accept: impl Fn(&Value) -> Result<(), String>,
    ) -> Verdict {
        if signatures.is_empty() {
            return Verdict::Unsigned;
        }
        let mut why = match &self.signers {
            Signers::Keys(keys) if keys.len() == 1 => {
                String::from("no signature verifies with this key")
            }
            Signers::Keys(_) => String::from("no signature verifies with the given keys"),
            Signers::Keyless(_) => String::from("no keyless signature"),
        };
        for found in signatures {
            let keys = match &self.signers {
                Signers::Keys(keys) => keys.clone(),
                Signers::Keyless(keyless) => match self.keyless_key(keyless, found) {
                    Ok(key) => vec![key],
                    Err(e) => {
                        why = e;
                        continue;
                    }
                },
            };
            for key in &keys {
                let payload = match cosign::check(std::slice::from_ref(found), digest, key) {
                    Verdict::Valid { payload } => payload,
                    Verdict::Invalid(e) if e.starts_with("the signature is for") => {
                        why = e;
                        continue;
                    }
                    _ => continue,
                };
                if let Err(e) = accept(&payload) {
                    why = e;
                    continue;
                }
                if matches!(self.signers, Signers::Keys(_))
                    && !self.rekor.is_empty()
                    && let Err(e) = self.logged(found, Recorded::Key(key))
                {
                    why = e;
                    continue;
                }
                return Verdict::Valid { payload };
            }
        }
        Verdict::Invalid(why)
    }

    /// When the Rekor bundle of `found` says it was logged, once a Rekor key valid at that
    /// time verifies it.
    fn logged(&self, found: &Found, signer: Recorded<'_>) -> Result<i64, String> {
        let bundle = found
            .bundle
            .as_deref()
            .ok_or("the signature has no Rekor bundle, and one is required")?;
        let verify = |keys: &[VerifyingKey]| {
            rekor::verify_bundle(bundle, keys, &found.signature, &found.payload, signer)
        };
        let all: Vec<VerifyingKey> = self.rekor.iter().map(|r| r.key).collect();
        let at = verify(&all)?.integrated_time;
        let current: Vec<VerifyingKey> = self
            .rekor
            .iter()
            .filter(|r| r.valid.contains(at))
            .map(|r| r.key)
            .collect();
        if current.len() != all.len() {
            verify(&current).map_err(|_| {
                format!("the Rekor key that signed the bundle was not valid at {at}")
            })?;
        }
        Ok(at)
    }

    /// The key of a keyless signature, once its Rekor bundle, its certificate chain, the
    /// certificate's validity when logged, its subject and its issuer are all as wanted.
    fn keyless_key(&self, keyless: &Keyless, found: &Found) -> Result<VerifyingKey, String> {
        let certificate = found
            .certificate
            .as_deref()
            .ok_or("the signature has no Fulcio certificate (it is not keyless)")?;
        if found.bundle.is_none() {
            return Err("the keyless signature has no Rekor bundle".into());
        }
        if self.rekor.is_empty() {
            return Err("keyless signatures need a Rekor key to be checked".into());
        }
        let at = self.logged(found, Recorded::Certificate(certificate))?;
        let mut chain = match &found.chain {
            Some(chain) => crate::fulcio::certificates(chain)?,
            None => Vec::new(),
        };
        let current: Vec<&Authority> = keyless
            .authorities
            .iter()
            .filter(|a| a.valid.contains(at))
            .collect();
        chain.extend(current.iter().flat_map(|a| a.intermediates.iter().cloned()));
        let roots: Vec<Certificate> = current.iter().map(|a| a.root.clone()).collect();
        let signer = crate::fulcio::verify(certificate, &chain, &roots, at)?;
        let issuer = signer.issuer.as_deref().unwrap_or_default();
        if !keyless.issuer.matches(issuer) {
            return Err(format!(
                "the certificate was issued through {:?}, not {}",
                signer.issuer.as_deref().unwrap_or("no OIDC issuer"),
                keyless.issuer
            ));
        }
        if !signer.subjects.iter().any(|s| keyless.subject.matches(s)) {
            return Err(format!(
                "the certificate names {:?}, not {}",
                signer.subjects, keyless.subject
            ));
        }
        Ok(signer.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn keyless(subject: Matcher, issuer: Matcher) -> Verifier {
        let fixtures = crate::fixtures::cosign().expect("checked by the caller");
        let roots = crate::fulcio::certificates(
            &std::fs::read_to_string(fixtures.join("fulcio_v1.crt.pem")).unwrap(),
        )
        .unwrap();
        Verifier {
            signers: Signers::Keyless(Keyless {
                authorities: roots.into_iter().map(Authority::root).collect(),
                subject,
                issuer,
            }),
            rekor: vec![RekorKey::always(crate::fixtures::key("rekor.pub"))],
        }
    }

    fn fixture_digest(dir: &str) -> Digest {
        let fixtures = crate::fixtures::cosign().expect("checked by the caller");
        Digest::sha256_of(&std::fs::read(fixtures.join(dir).join("manifest.json")).unwrap())
    }

    fn invalid(verdict: Verdict) -> String {
        match verdict {
            Verdict::Invalid(why) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    const DIR: &str = "dir-img-cosign-fulcio-rekor-valid";
    const ISSUER: &str = "https://github.com/login/oauth";
    const SUBJECT: &str = "mitr@redhat.com";

    /// The real keyless fixture with exact and regular-expression identities, and tampered
    /// copies of its payload, certificate and bundle, each refused with the reason.
    #[test]
    fn a_real_keyless_signature_and_its_tampered_copies() {
        if crate::fixtures::cosign().is_none() {
            return;
        }
        let digest = fixture_digest(DIR);
        let found = crate::fixtures::signature(DIR, 1);
        let exact = keyless(
            Matcher::Exact(SUBJECT.into()),
            Matcher::Exact(ISSUER.into()),
        );
        let ok = |_: &Value| Ok(());
        assert!(matches!(
            exact.check(std::slice::from_ref(&found), &digest, ok),
            Verdict::Valid { .. }
        ));
        let pattern = keyless(
            Matcher::pattern(r"^[a-z]+@redhat\.com$", "").unwrap(),
            Matcher::pattern(r"^https://github\.com/", "").unwrap(),
        );
        assert!(matches!(
            pattern.check(std::slice::from_ref(&found), &digest, ok),
            Verdict::Valid { .. }
        ));
        let other_domain = keyless(
            Matcher::pattern(r"@example\.com$", "").unwrap(),
            Matcher::Exact(ISSUER.into()),
        );
        let why = invalid(other_domain.check(std::slice::from_ref(&found), &digest, ok));
        assert!(why.contains("not one matching /@example\\.com$/"), "{why}");

        let mut payload = found.payload.to_vec();
        payload[10] ^= 1;
        let tampered = Found {
            payload: payload.into(),
            ..found.clone()
        };
        let why = invalid(exact.check(&[tampered], &digest, ok));
        assert!(why.contains("another payload"), "{why}");

        // Another certificate in the annotation than the one Rekor logged.
        let other_cert = Found {
            certificate: found.chain.clone(),
            ..found.clone()
        };
        let why = invalid(exact.check(&[other_cert], &digest, ok));
        assert!(why.contains("another public key"), "{why}");

        let mut bundle: Value = serde_json::from_str(found.bundle.as_deref().unwrap()).unwrap();
        let body = bundle["Payload"]["body"].as_str().unwrap().to_string();
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .unwrap();
        raw[20] ^= 1;
        bundle["Payload"]["body"] = base64::engine::general_purpose::STANDARD.encode(raw).into();
        let tampered = Found {
            bundle: Some(bundle.to_string()),
            ..found.clone()
        };
        let why = invalid(exact.check(&[tampered], &digest, ok));
        assert!(why.contains("not signed by the given Rekor key"), "{why}");

        let why = invalid(exact.check(
            std::slice::from_ref(&found),
            &fixture_digest("dir-img-cosign-valid"),
            ok,
        ));
        assert!(why.contains("the signature is for"), "{why}");
    }

    /// A Rekor key or an authority whose window does not cover the entry's time vouches for
    /// nothing.
    #[test]
    fn keys_and_roots_only_count_inside_their_windows() {
        if crate::fixtures::cosign().is_none() {
            return;
        }
        let digest = fixture_digest(DIR);
        let found = crate::fixtures::signature(DIR, 1);
        let mut retired = keyless(
            Matcher::Exact(SUBJECT.into()),
            Matcher::Exact(ISSUER.into()),
        );
        retired.rekor[0].valid.until = Some(1_000_000_000);
        let why = invalid(retired.check(std::slice::from_ref(&found), &digest, |_| Ok(())));
        assert!(why.contains("was not valid at"), "{why}");

        let mut future = keyless(
            Matcher::Exact(SUBJECT.into()),
            Matcher::Exact(ISSUER.into()),
        );
        if let Signers::Keyless(k) = &mut future.signers {
            k.authorities[0].valid.from = Some(4_000_000_000);
        }
        let why = invalid(future.check(std::slice::from_ref(&found), &digest, |_| Ok(())));
        assert!(why.contains("does not chain"), "{why}");
    }

    /// With a key and Rekor keys, the bundle is required and checked (cosign's default
    /// `--insecure-ignore-tlog=false`).
    #[test]
    fn key_signatures_with_rekor_need_the_bundle() {
        if crate::fixtures::cosign().is_none() {
            return;
        }
        let dir = "dir-img-cosign-key-rekor-valid";
        let digest = fixture_digest(dir);
        let found = crate::fixtures::signature(dir, 1);
        let verifier = Verifier {
            signers: Signers::Keys(vec![crate::fixtures::key("cosign2.pub")]),
            rekor: vec![RekorKey::always(crate::fixtures::key("rekor.pub"))],
        };
        assert!(matches!(
            verifier.check(std::slice::from_ref(&found), &digest, |_| Ok(())),
            Verdict::Valid { .. }
        ));
        let without = Found {
            bundle: None,
            ..found
        };
        let why = invalid(verifier.check(&[without], &digest, |_| Ok(())));
        assert!(why.contains("no Rekor bundle"), "{why}");
    }
}
